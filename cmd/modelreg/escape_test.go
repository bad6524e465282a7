package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// A reason that, printed as it is, adds a history row that never happened.
const forgedRow = "cleanup\n2026-12-01 21:09:00  1  version.stage_changed  ciso  Staging → Production approved"

// Terminal escapes: clear screen, set the window title (OSC), a
// right-to-left override, a NUL, a C1 control.
const terminalAttack = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x00\u009b"

// seedForged writes records full of control characters straight into
// the SQLite store of dataDir (the API refuses them, the store does not),
// plus a token file with a forged token name. It returns the id of a
// pending approval.
func seedForged(t *testing.T, dataDir string) string {
	t.Helper()
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(dataDir, "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	bad := forgedRow + terminalAttack
	m := registry.Model{Name: "fraud_model", Description: bad, Owner: bad, Tags: map[string]string{"team": bad},
		LatestVersion: 2, CreatedBy: bad, CreatedAt: now, UpdatedAt: now, Revision: 1}
	version := func(n int) registry.Version {
		return registry.Version{Model: m.Name, Number: n, Status: registry.StatusReady, Stage: registry.StageStaging,
			Description: bad, Params: map[string]string{"lr": bad + string(rune('0'+n))}, Tags: map[string]string{"k": bad},
			Metrics:   map[string]registry.Metric{"acc" + terminalAttack: {Value: 0.9 + float64(n)/100, Source: registry.SourceTraining, RecordedAt: now}},
			Lineage:   registry.Lineage{Code: registry.CodeLineage{Repo: bad, Commit: "abcdef1234567"}, SourceURI: "s3://b/" + bad},
			CreatedBy: bad, CreatedAt: now, UpdatedAt: now, StageChangedAt: now, Revision: 1}
	}
	a := registry.Approval{ID: registry.NewID(now), Model: m.Name, Version: 2, TargetStage: registry.StageProduction,
		RequestedBy: bad, Reason: bad, Status: registry.ApprovalPending, ExpiresAt: now.Add(time.Hour),
		// An execution id, so that the server's approval recovery leaves
		// this written-by-hand approval alone (it starts the workflow of a
		// PENDING approval that has none).
		ExecutionID: "forged-execution",
		CreatedAt:   now, UpdatedAt: now, Revision: 1}
	audit := registry.AuditEntry{ID: registry.NewID(now), Model: m.Name, Version: 1, Action: registry.ActionStageChanged,
		Actor: bad, Reason: forgedRow, From: registry.StageNone, To: registry.StageStaging, At: now}
	audit2 := audit
	audit2.ID, audit2.Version, audit2.Reason = registry.NewID(now.Add(time.Second)), 2, terminalAttack
	ch := &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{version(1), version(2)},
		Approvals: []registry.Approval{a}, Audit: []registry.AuditEntry{audit, audit2}}
	if err := st.Commit(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	toks := httpapi.NewTokens()
	if err := toks.Set("admin", registry.RoleAdmin, adminToken); err != nil {
		t.Fatal(err)
	}
	// A token name (the actor of whoami and history) can no longer hold
	// controls at all: the tokens store refuses it.
	if err := toks.Set("ciso"+terminalAttack, registry.RoleReader, "forged-name-token-0001"); err == nil {
		t.Fatal("a token name with control characters was accepted")
	}
	if err := toks.Save(filepath.Join(dataDir, "tokens.json")); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// TestTextOutputEscapesControls proves that no text output lets a stored
// value forge a line or reach the terminal as an escape sequence, and that
// JSON output stays exact.
func TestTextOutputEscapesControls(t *testing.T) {
	dataDir := t.TempDir()
	approval := seedForged(t, dataDir)
	s := startServer(t, dataDir)

	for _, args := range [][]string{
		{"history", "fraud_model"},
		{"history", "fraud_model", "1"},
		{"versions", "fraud_model"},
		{"versions", "fraud_model", "1"},
		{"versions", "fraud_model", "Staging"},
		{"models"},
		{"models", "get", "fraud_model"},
		{"compare", "fraud_model", "1", "2"},
		{"approvals"},
		{"approvals", "show", approval},
		{"stage", "fraud_model", "Staging"},
	} {
		out := s.cli(adminToken, args...).must(t)
		checkClean(t, args, out.stdout+out.stderr)
	}
	hist := s.cli(adminToken, "history", "fraud_model").must(t)
	// Rows start at the first column; detail lines (a reason too long
	// for the row, given whole) are indented.
	rows := 0
	for _, l := range strings.Split(strings.TrimRight(hist.stdout, "\n"), "\n")[1:] {
		if !strings.HasPrefix(l, " ") {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("history prints %d rows for 2 entries, want a header and 2 rows:\n%s", rows, hist.stdout)
	}
	if !strings.Contains(hist.stdout, `cleanup\n2026-12-01 21:09:00  1  version.stage_changed`) {
		t.Errorf("history does not show the reason with an escaped newline:\n%s", hist.stdout)
	}
	if !strings.Contains(hist.stdout, "None → Staging") {
		t.Errorf("history lacks the move:\n%s", hist.stdout)
	}

	// JSON stays exact.
	js := s.cli(adminToken, "history", "fraud_model", "--output", "json").must(t)
	var entries []httpapi.AuditEntry
	if err := json.Unmarshal([]byte(js.stdout), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Reason != terminalAttack || entries[1].Reason != forgedRow {
		t.Errorf("JSON history changed the reasons: %+v", entries)
	}
}

// checkClean fails unless text holds no control character but newline,
// no bidi override and no line that starts like a forged history row.
func checkClean(t *testing.T, args []string, text string) {
	t.Helper()
	for _, r := range text {
		if (r < 0x20 && r != '\n') || (r >= 0x7f && r <= 0x9f) || r == '\u202e' {
			t.Errorf("modelreg %v printed the raw control %U:\n%q", args, r, text)
			return
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "2026-12-01 21:09:00") {
			t.Errorf("modelreg %v printed a forged row: %q", args, line)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é, 日本, 🙂":   "plain text, é, 日本, 🙂",
		"a\nb\tc\rd":             `a\nb\tc\rd`,
		"\x1b[31mred\x1b[0m":     `\x1b[31mred\x1b[0m`,
		"nul\x00del\x7f":         `nul\x00del\x7f`,
		"c1\u0085\u009b":         `c1\u0085\u009b`,
		"bidi\u202e\u2066\u200f": `bidi\u202e\u2066\u200f`,
		"zero\u200bwidth\ufeff":  `zero\u200bwidth\ufeff`,
		"bad\xffutf8":            `bad\xffutf8`,
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanLines("line one\nline\x1b two"); got != "line one\nline\\x1b two" {
		t.Errorf("cleanLines = %q", got)
	}
	// A server message is escaped whole, newline included; the CLI's own
	// hint lines are kept.
	err := hintError{"", nil}
	api := &client.APIError{Status: 409, Code: "conflict", Message: "bad\n2026-12-01 fake row\x1b]0;x\x07"}
	err.err = api
	err.msg = api.Error() + "\nwhat to do"
	got := errorText(err)
	if strings.Count(got, "\n") != 1 || strings.ContainsAny(got, "\x1b\x07") || !strings.HasSuffix(got, "\nwhat to do") {
		t.Errorf("errorText = %q", got)
	}
	if !errors.Is(err, api) {
		t.Error("hintError hides the API error")
	}
}
