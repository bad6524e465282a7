package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// storyTokens adds a publisher (pat) and two approvers (anna, ben) to s
// and waits until the server knows them.
func storyTokens(t *testing.T, s *server) (pat, anna, ben string) {
	t.Helper()
	add := func(name, role string) string {
		r := runBinary(t, os.Environ(), "tokens", "add", name, "--role", role, "--data-dir", s.dataDir).must(t)
		tok := strings.TrimSpace(r.stdout)
		waitFor(t, func() bool { return s.cli(tok, "whoami").code == 0 })
		return tok
	}
	return add("pat", "publisher"), add("anna", "approver"), add("ben", "approver")
}

// askProduction asks for version n of model in Production as token and
// returns the approval id.
func askProduction(t *testing.T, s *server, token, model, n, reason string) string {
	t.Helper()
	var res struct {
		ApprovalID string `json:"approval_id"`
	}
	decode(t, s.cli(token, "promote", model, n, "--to", "Production", "--reason", reason, "--output", "json").must(t).stdout, &res)
	if res.ApprovalID == "" {
		t.Fatalf("promote %s %s to Production gave no approval id", model, n)
	}
	return res.ApprovalID
}

// awaitApproval waits until the approval id is no longer PENDING and
// returns it.
func awaitApproval(t *testing.T, s *server, id string) httpapi.Approval {
	t.Helper()
	var a httpapi.Approval
	waitFor(t, func() bool {
		decode(t, s.cli(adminToken, "approvals", "show", id, "--output", "json").must(t).stdout, &a)
		return a.Status != registry.ApprovalPending
	})
	return a
}

// entryBlock returns the history text row that matches row and the
// indented detail lines under it.
func entryBlock(t *testing.T, text string, row *regexp.Regexp) (string, []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, " ") || !row.MatchString(l) {
			continue
		}
		var details []string
		for _, d := range lines[i+1:] {
			if !strings.HasPrefix(d, "    ") {
				break
			}
			details = append(details, strings.TrimPrefix(d, "    "))
		}
		return l, details
	}
	t.Fatalf("no history row matches %s:\n%s", row, text)
	return "", nil
}

func wantLines(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("%s lacks the line %q; it has:\n%s", what, w, strings.Join(got, "\n"))
		}
	}
}

// TestHistoryTellsTheStory: through the binary, `history` shows for a
// promotion to Production who asked, who approved and what they said
// (escaped, so a comment cannot add a line), every policy check and the
// metric values it was judged on, and the rollback; `--output json` has
// the same facts; `approvals show` sets out the request, its decisions,
// its checks and its criteria against Production.
func TestHistoryTellsTheStory(t *testing.T) {
	s := startServer(t, t.TempDir())
	pat, anna, ben := storyTokens(t, s)
	s.cli(adminToken, "models", "create", "fraud").must(t)
	for _, m := range [][]string{{"accuracy=0.91", "latency_ms=40"}, {"accuracy=0.95", "latency_ms=45"}, {"accuracy=0.85", "latency_ms=30"}} {
		s.cli(pat, "register", "fraud", "--source", "s3://bucket/fraud", "--metric", m[0], "--metric", m[1]).must(t)
	}
	s.cli(pat, "promote", "fraud", "1", "--to", "Staging", "--reason", "first cut").must(t)
	first := askProduction(t, s, pat, "fraud", "1", "go live")
	s.cli(anna, "approvals", "approve", first, "--comment", "fine").must(t)
	awaitApproval(t, s, first)

	s.cli(adminToken, "policy", "fraud", "set", "--metric", "accuracy>=0.9", "--must-beat", "accuracy", "--approvals-required", "2").must(t)
	s.cli(pat, "promote", "fraud", "2", "--to", "Staging", "--reason", "better accuracy").must(t)
	second := askProduction(t, s, pat, "fraud", "2", "beats v1")
	vote := s.cli(anna, "approvals", "approve", second, "--comment", "ok\n2026-12-01 21:09:00  9  version.stage_changed  ciso").must(t)
	if want := "approval " + second + ": 1 of 2 approvals; it waits for 1 more\n"; vote.stdout != want {
		t.Errorf("the first of two approvals printed %q, want %q", vote.stdout, want)
	}

	// Pending: set against the version in Production now.
	show := s.cli(ben, "approvals", "show", second).must(t).stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Request: +fraud version 2 → Production$`),
		regexp.MustCompile(`(?m)^Status: +PENDING$`),
		regexp.MustCompile(`(?m)^Requested: +\S+ \S+ by pat$`),
		regexp.MustCompile(`(?m)^Reason: +beats v1$`),
		regexp.MustCompile(`(?m)^Expires: +\S+ \S+$`),
		regexp.MustCompile(`(?m)^Approvals: +1 of 2 required$`),
		regexp.MustCompile(`(?m)^  \S+ \S+ +anna +approve +ok\\n2026-12-01 21:09:00  9  version.stage_changed  ciso$`),
		regexp.MustCompile(`(?m)^  metric:accuracy>=0.9 +passed +accuracy 0.95 >= 0.9$`),
		regexp.MustCompile(`(?m)^  must_beat_production:accuracy +passed +accuracy 0.95 > 0.91 of Production version 1`),
		regexp.MustCompile(`(?m)^  METRIC +v2 \(this request\) +v1 \(Production now\) +DIFF$`),
		regexp.MustCompile(`(?m)^  accuracy +0.95 +0.91 +\+0.04 better$`),
		regexp.MustCompile(`(?m)^  latency_ms +45 +40 +\+5 worse$`),
	} {
		if !want.MatchString(show) {
			t.Errorf("approvals show (pending) does not match %s:\n%s", want, show)
		}
	}
	vote = s.cli(ben, "approvals", "approve", second, "--comment", "ship it").must(t)
	if want := "approval " + second + ": approved (2 of 2); fraud version 2 goes to Production now\n"; vote.stdout != want {
		t.Errorf("the last approval printed %q, want %q", vote.stdout, want)
	}
	if a := awaitApproval(t, s, second); a.Status != registry.ApprovalApproved || a.ArchivedVersion != 1 {
		t.Fatalf("second approval: %+v", a)
	}
	show = s.cli(adminToken, "approvals", "show", second).must(t).stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Status: +APPROVED$`),
		regexp.MustCompile(`(?m)^Decided: +\S+ \S+ by anna,ben: `),
		regexp.MustCompile(`(?m)^Archived: +version 1 left Production for Archived$`),
		regexp.MustCompile(`(?m)^  \S+ \S+ +ben +approve +ship it$`),
		regexp.MustCompile(`(?m)^  METRIC +v2 \(this request\) +v1 \(replaced\) +DIFF$`),
	} {
		if !want.MatchString(show) {
			t.Errorf("approvals show (approved) does not match %s:\n%s", want, show)
		}
	}
	if strings.Contains(show, "Expires:") {
		t.Errorf("a decided approval shows an expiry:\n%s", show)
	}

	// Refused by policy: the failed check is in the approval and the history.
	s.cli(pat, "promote", "fraud", "3", "--to", "Staging", "--reason", "faster").must(t)
	third := askProduction(t, s, pat, "fraud", "3", "faster")
	if a := awaitApproval(t, s, third); a.Status != registry.ApprovalRejected {
		t.Fatalf("third approval: %+v", a)
	}
	show = s.cli(adminToken, "approvals", "show", third).must(t).stdout
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^Status: +REJECTED$`),
		regexp.MustCompile(`(?m)^Decided: +\S+ \S+ by policy: policy check failed: `),
		regexp.MustCompile(`(?m)^  none yet$`),
		regexp.MustCompile(`(?m)^  metric:accuracy>=0.9 +failed +accuracy 0.85 is not >= 0.9$`),
		regexp.MustCompile(`(?m)^  METRIC +v3 \(this request\) +v2 \(Production now\) +DIFF$`),
		regexp.MustCompile(`(?m)^  accuracy +0.85 +0.95 +-0.1 worse$`),
		regexp.MustCompile(`(?m)^  latency_ms +30 +45 +-15 better$`),
	} {
		if !want.MatchString(show) {
			t.Errorf("approvals show (rejected by policy) does not match %s:\n%s", want, show)
		}
	}

	s.cli(anna, "rollback", "fraud", "--reason", "latency regression").must(t)

	text := s.cli(adminToken, "history", "fraud").must(t).stdout
	for _, l := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(l); n > 120 {
			t.Errorf("history line is %d columns wide, want at most 120: %q", n, l)
		}
	}
	row, details := entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +2 +version\.stage_changed +anna,ben +Staging → Production +beats v1$`))
	wantLines(t, "the promotion of v2 ("+row+")", details,
		"approval="+second+" requested_by=pat",
		"approvers=anna,ben",
		`comment:anna="ok\n2026-12-01 21:09:00  9  version.stage_changed  ciso"`,
		`comment:ben="ship it"`,
		`check:ready="passed: version 2 is READY"`,
		`check:staging="passed: version 2 is in Staging"`,
		`check:metric:accuracy>=0.9="passed: accuracy 0.95 >= 0.9"`,
		`check:must_beat_production:accuracy="passed: accuracy 0.95 > 0.91 of Production version 1 (higher is better)"`,
		"criteria: accuracy=0.95 latency_ms=45")
	if regexp.MustCompile(`(?m)^2026-12-01 21:09:00  9`).MatchString(text) {
		t.Errorf("a comment forged a history row:\n%s", text)
	}
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +1 +version\.stage_changed +anna,ben +Production → Archived +replaced in Production by`))
	wantLines(t, "the archiving of v1", details, "approval="+second+" replaced_by=2", "criteria: accuracy=0.91 latency_ms=40")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +1 +version\.stage_changed +anna +Staging → Production +go live$`))
	wantLines(t, "the promotion of v1", details, "approval="+first+" requested_by=pat", "approvers=anna", "comment:anna=fine")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +3 +approval\.decided +policy +- +policy check failed: `))
	wantLines(t, "the policy's rejection of v3", details, "approval="+third, "outcome=POLICY_FAILED status=REJECTED")
	row, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +3 +approval\.validated +policy +- +policy check failed: `))
	// The long reason is cut in the row and given whole, wrapped, below.
	if !strings.HasSuffix(row, "…") || !strings.HasPrefix(details[0], `reason="policy check failed: metric:accuracy>=0.9: accuracy 0.85 is not >= 0.9;`) ||
		!strings.HasPrefix(details[1], "  ") || !strings.HasSuffix(details[len(details)-1], "latency_ms=30") {
		t.Errorf("the validation of v3 with its long reason:\n%s\n%s", row, strings.Join(details, "\n"))
	}
	wantLines(t, "the validation of v3", details, `check:metric:accuracy>=0.9="failed: accuracy 0.85 is not >= 0.9"`, "criteria: accuracy=0.85 latency_ms=30")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +1 +version\.stage_changed +anna +Archived → Production +latency regression$`))
	wantLines(t, "the rollback to v1", details, "rollback rolled_back_from=2")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +2 +version\.stage_changed +anna +Production → Archived +latency regression$`))
	wantLines(t, "the rollback from v2", details, "rollback rolled_back_to=1")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +- +model\.policy_changed +admin`))
	wantLines(t, "the policy change", details, "policy approvals_required: 1 → 2", "policy metrics: (none) → accuracy>=0.9",
		"policy must_beat_production: (none) → accuracy")
	_, details = entryBlock(t, text, regexp.MustCompile(`^\S+ \S+ +2 +approval\.voted +anna`))
	wantLines(t, "anna's vote", details, "approval="+second, "approvals=1/2")

	// One version's history keeps its details.
	v2 := s.cli(adminToken, "history", "fraud", "2").must(t).stdout
	_, details = entryBlock(t, v2, regexp.MustCompile(`Staging → Production +beats v1$`))
	wantLines(t, "history fraud 2", details, "approvers=anna,ben")

	// JSON has all of it.
	var entries []httpapi.AuditEntry
	decode(t, s.cli(adminToken, "history", "fraud", "--output", "json").must(t).stdout, &entries)
	var promo, back *httpapi.AuditEntry
	for i, e := range entries {
		if e.Action == registry.ActionStageChanged && e.Version == 2 && e.To == registry.StageProduction {
			promo = &entries[i]
		}
		if e.Action == registry.ActionStageChanged && e.Version == 1 && e.Rollback && e.To == registry.StageProduction {
			back = &entries[i]
		}
	}
	if promo == nil || back == nil {
		t.Fatalf("JSON history lacks the promotion of v2 or the rollback: %+v", entries)
	}
	if promo.ApprovalID != second || promo.Actor != "anna,ben" || promo.Criteria["accuracy"] != 0.95 ||
		promo.Details["approvers"] != "anna,ben" || promo.Details["comment:ben"] != "ship it" ||
		promo.Details["comment:anna"] != "ok\n2026-12-01 21:09:00  9  version.stage_changed  ciso" ||
		promo.Details["check:metric:accuracy>=0.9"] != "passed: accuracy 0.95 >= 0.9" || promo.Details["requested_by"] != "pat" {
		t.Errorf("JSON promotion entry: %+v", *promo)
	}
	if back.Reason != "latency regression" || back.Actor != "anna" || back.Details["rolled_back_from"] != "2" || back.Criteria["accuracy"] != 0.91 {
		t.Errorf("JSON rollback entry: %+v", *back)
	}
}

// TestServeApprovalTTL: `serve --approval-ttl` (env MODELREG_APPROVAL_TTL,
// default 72h) is how long a Production request waits; a bad value is a
// usage error naming the setting, and the server does not start.
func TestServeApprovalTTL(t *testing.T) {
	for _, tc := range []struct {
		env, flag string
		want      time.Duration
		err       string
	}{
		{want: registry.DefaultApprovalTTL},
		{env: "90m", want: 90 * time.Minute},
		{flag: "2h", want: 2 * time.Hour},
		{env: "90m", flag: "2h", want: 2 * time.Hour},
		{env: "soon", flag: "2h", want: 2 * time.Hour},
		{env: "soon", err: `MODELREG_APPROVAL_TTL="soon"`},
		{env: "-1h", err: `MODELREG_APPROVAL_TTL="-1h"`},
		{flag: "0s", err: "--approval-ttl 0s"},
		{flag: "3 days", err: "approval-ttl"},
	} {
		t.Setenv("MODELREG_APPROVAL_TTL", tc.env)
		var args []string
		if tc.flag != "" {
			args = []string{"--approval-ttl", tc.flag}
		}
		c, err := serveFlags(args)
		switch {
		case tc.err != "" && (err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("env %q flag %q: error %v, want a usage error containing %q", tc.env, tc.flag, err, tc.err)
		case tc.err == "" && (err != nil || c.approvalTTL != tc.want):
			t.Errorf("env %q flag %q: %v, %v; want %v", tc.env, tc.flag, c.approvalTTL, err, tc.want)
		}
	}

	// Through the binary: the request expires after the configured time.
	s := startServer(t, t.TempDir(), "MODELREG_APPROVAL_TTL=90m")
	s.cli(adminToken, "models", "create", "fraud").must(t)
	s.cli(adminToken, "register", "fraud", "--source", "s3://bucket/fraud").must(t)
	s.cli(adminToken, "promote", "fraud", "1", "--to", "Staging").must(t)
	id := askProduction(t, s, adminToken, "fraud", "1", "ttl")
	var a httpapi.Approval
	decode(t, s.cli(adminToken, "approvals", "show", id, "--output", "json").must(t).stdout, &a)
	if got := a.ExpiresAt.Sub(a.CreatedAt); got != 90*time.Minute {
		t.Errorf("approval expires %v after it was requested, want 90m", got)
	}
	r := runBinary(t, append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken, "MODELREG_APPROVAL_TTL=never"),
		"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	if r.code != exitUsage || !strings.Contains(r.stderr, "MODELREG_APPROVAL_TTL") || strings.Contains(r.stdout, "listening") {
		t.Errorf("serve with MODELREG_APPROVAL_TTL=never: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// TestWrap: wrap breaks at spaces within the width, splits a word longer
// than a line, indents continuation lines, and loses no character.
func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in    string
		width int
		want  []string
	}{
		{"", 10, []string{""}},
		{"short", 10, []string{"short"}},
		{"exactly10!", 10, []string{"exactly10!"}},
		{"one two three four", 10, []string{"one two", "  three", "  four"}},
		{"abcdefghijklmnop", 6, []string{"abcdef", "  ghij", "  klmn", "  op"}},
		{"ünï cödé wörds", 8, []string{"ünï cödé", "  wörds"}},
		{"ünï cödé wörds", 7, []string{"ünï", "  cödé", "  wörds"}},
	} {
		got := wrap(tc.in, tc.width)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
		for _, l := range got {
			if utf8.RuneCountInString(l) > tc.width {
				t.Errorf("wrap(%q, %d): line %q is too wide", tc.in, tc.width, l)
			}
		}
	}
}

// TestProductionWithoutWorkflow: a server run with --workflow none answers
// a request for Production with 501 (exit 7), as the README says.
func TestProductionWithoutWorkflow(t *testing.T) {
	s := startServer(t, t.TempDir(), "MODELREG_WORKFLOW=none")
	s.cli(adminToken, "register", "m", "--source", "s3://bucket/m").must(t)
	s.cli(adminToken, "promote", "m", "1", "--to", "Staging").must(t)
	r := s.cli(adminToken, "promote", "m", "1", "--to", "Production", "--reason", "go").wantCode(t, exitNotImplemented)
	if !strings.Contains(r.stderr, "approval workflow") {
		t.Errorf("stderr %q does not say why", r.stderr)
	}
}
