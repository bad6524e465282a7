package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// addToken adds a token for name with role to the server's tokens file
// (the CLI edits it locally) and waits until the server accepts it.
func addToken(t *testing.T, s *server, name string, role registry.Role) string {
	t.Helper()
	out := runBinary(t, os.Environ(), "tokens", "add", name, "--role", string(role), "--data-dir", s.dataDir).must(t)
	tok := strings.TrimSpace(out.stdout)
	waitFor(t, func() bool { return s.cli(tok, "whoami").code == 0 })
	return tok
}

// waitStage polls `stage MODEL STAGE` until version number holds it.
func waitStage(t *testing.T, s *server, token, model string, stage registry.Stage, number int) {
	t.Helper()
	var last result
	deadline := time.Now().Add(30 * time.Second)
	for {
		last = s.cli(token, "stage", model, string(stage), "--output", "json")
		if last.code == 0 {
			var v httpapi.Version
			decode(t, last.stdout, &v)
			if v.Number == number {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s is not version %d after 30s: exit %d %s %s", model, stage, number, last.code, last.stdout, last.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requestProduction asks for version number of model to go to Production
// and returns the approval id the 202 names.
func requestProduction(t *testing.T, s *server, token, model string, number int, reason string) string {
	t.Helper()
	out := s.cli(token, "promote", model, strconv.Itoa(number), "--to", "Production", "--reason", reason, "--output", "json").must(t)
	var res struct {
		ApprovalID string `json:"approval_id"`
		Status     string `json:"status"`
	}
	decode(t, out.stdout, &res)
	if res.ApprovalID == "" || res.Status != string(registry.ApprovalPending) {
		t.Fatalf("promote to Production answered %s", out.stdout)
	}
	return res.ApprovalID
}

func versionStage(t *testing.T, s *server, model string, number int) registry.Stage {
	t.Helper()
	out := s.cli(adminToken, "versions", model, strconv.Itoa(number), "--output", "json").must(t)
	var v httpapi.Version
	decode(t, out.stdout, &v)
	return v.Stage
}

// TestPromotionStory is issue 7's story through the binary, on SQLite and
// (under scripts/test) on DynamoDB Local + MinIO: v1 reaches Production
// through a second user's approval; v2 is requested, seen pending, refused
// to its requester, approved by another user, replaces v1 (Archived);
// rollback returns v1; the history tells all of it, in text and JSON; and
// `promote --wait` exits 0 on approval and 4 on rejection.
func TestPromotionStory(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { promotionStory(t, b) })
	}
}

func promotionStory(t *testing.T, b backend) {
	s := startServer(t, t.TempDir(), b.env...)
	alice := addToken(t, s, "alice", registry.RoleApprover)
	bob := addToken(t, s, "bob", registry.RoleApprover)

	s.cli(adminToken, "models", "create", "fraud").must(t)
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/v1", "--metric", "accuracy=0.91", "--metric", "latency_ms=40", "--no-git").must(t)
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/v2", "--metric", "accuracy=0.95", "--metric", "latency_ms=35", "--no-git").must(t)

	// v1: Staging, then Production with bob's approval.
	s.cli(adminToken, "promote", "fraud", "1", "--to", "Staging", "--reason", "candidate").must(t)
	a1 := requestProduction(t, s, adminToken, "fraud", 1, "first release")
	s.cli(bob, "approvals", "approve", a1, "--comment", "baseline ok").must(t)
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 1)

	// v2: Staging, then a request for Production that waits.
	s.cli(adminToken, "promote", "fraud", "2", "--to", "Staging", "--reason", "beats v1").must(t)
	a2 := requestProduction(t, s, adminToken, "fraud", 2, "better accuracy, lower latency")
	list := s.cli(alice, "approvals", "--output", "json").must(t)
	var pending []httpapi.Approval
	decode(t, list.stdout, &pending)
	if len(pending) != 1 || pending[0].ID != a2 || pending[0].Status != registry.ApprovalPending || pending[0].Version != 2 || pending[0].RequestedBy != "admin" {
		t.Fatalf("approvals lists %+v, want only %s PENDING", pending, a2)
	}
	if txt := s.cli(alice, "approvals").must(t).stdout; !strings.Contains(txt, a2) || !strings.Contains(txt, "PENDING") {
		t.Errorf("approvals text:\n%s", txt)
	}
	// A second request while one is pending is refused, naming it.
	if r := s.cli(adminToken, "promote", "fraud", "2", "--to", "Production", "--reason", "again").wantCode(t, exitConflict); !strings.Contains(r.stderr, a2) {
		t.Errorf("second request: %s", r.stderr)
	}

	// The requester may not approve their own request, admin or not.
	self := s.cli(adminToken, "approvals", "approve", a2, "--comment", "mine").wantCode(t, exitAuth)
	if !strings.Contains(self.stderr, "403") || !strings.Contains(self.stderr, "requested") {
		t.Errorf("self-approval refusal: %s", self.stderr)
	}
	if got := versionStage(t, s, "fraud", 2); got != registry.StageStaging {
		t.Fatalf("after the refused self-approval v2 is in %s", got)
	}
	s.cli(alice, "approvals", "approve", a2, "--comment", "ship it").must(t)
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 2)
	if got := versionStage(t, s, "fraud", 1); got != registry.StageArchived {
		t.Fatalf("v1 is in %s after v2 went to Production, want Archived", got)
	}
	shown := s.cli(bob, "approvals", "show", a2, "--output", "json").must(t)
	var ap httpapi.Approval
	decode(t, shown.stdout, &ap)
	if ap.Status != registry.ApprovalApproved || ap.DecidedBy != "alice" || ap.Comment != "ship it" || ap.ArchivedVersion != 1 ||
		len(ap.Decisions) != 1 || len(ap.Checks) == 0 || ap.Criteria["accuracy"] != 0.95 {
		t.Fatalf("approval after the decision: %+v", ap)
	}

	// Rollback returns v1; v2 goes to Archived.
	rb := s.cli(bob, "rollback", "fraud", "--reason", "latency regression in prod").must(t)
	if !strings.Contains(rb.stdout, "back on version 1") {
		t.Errorf("rollback said %q", rb.stdout)
	}
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 1)
	if got := versionStage(t, s, "fraud", 2); got != registry.StageArchived {
		t.Fatalf("v2 is in %s after the rollback, want Archived", got)
	}

	// The history tells it all, newest first.
	hist := s.cli(adminToken, "history", "fraud", "--output", "json").must(t)
	var entries []httpapi.AuditEntry
	decode(t, hist.stdout, &entries)
	find := func(what string, ok func(e httpapi.AuditEntry) bool) httpapi.AuditEntry {
		t.Helper()
		for _, e := range entries {
			if ok(e) {
				return e
			}
		}
		t.Fatalf("history has no %s:\n%s", what, hist.stdout)
		return httpapi.AuditEntry{}
	}
	moved := func(v int, from, to registry.Stage, approval string) func(e httpapi.AuditEntry) bool {
		return func(e httpapi.AuditEntry) bool {
			return e.Action == registry.ActionStageChanged && e.Version == v && e.From == from && e.To == to && e.ApprovalID == approval
		}
	}
	up := find("v2 Staging → Production", moved(2, registry.StageStaging, registry.StageProduction, a2))
	if up.Actor != "alice" || up.Reason != "better accuracy, lower latency" || up.Details["approvers"] != "alice" ||
		up.Details["comment:alice"] != "ship it" || up.Details["requested_by"] != "admin" || up.Criteria["accuracy"] != 0.95 ||
		up.Criteria["latency_ms"] != 35 || up.At.IsZero() {
		t.Errorf("v2's promotion entry: %+v", up)
	}
	checks := 0
	for k, v := range up.Details {
		if strings.HasPrefix(k, "check:") {
			checks++
			if !strings.HasPrefix(v, "passed") {
				t.Errorf("check %s = %s", k, v)
			}
		}
	}
	if checks == 0 {
		t.Errorf("v2's promotion entry records no policy check: %+v", up.Details)
	}
	out := find("v1 Production → Archived by a2", moved(1, registry.StageProduction, registry.StageArchived, a2))
	if out.Actor != "alice" || out.Details["replaced_by"] != "2" {
		t.Errorf("v1's archival entry: %+v", out)
	}
	first := find("v1 Staging → Production", moved(1, registry.StageStaging, registry.StageProduction, a1))
	if first.Actor != "bob" || first.Details["comment:bob"] != "baseline ok" || first.Criteria["accuracy"] != 0.91 {
		t.Errorf("v1's promotion entry: %+v", first)
	}
	back := find("the rollback", func(e httpapi.AuditEntry) bool {
		return e.Action == registry.ActionStageChanged && e.Rollback && e.Version == 1 && e.To == registry.StageProduction
	})
	if back.Actor != "bob" || back.Reason != "latency regression in prod" || back.From != registry.StageArchived {
		t.Errorf("rollback entry: %+v", back)
	}
	find("v2 archived by the rollback", func(e httpapi.AuditEntry) bool {
		return e.Action == registry.ActionStageChanged && e.Rollback && e.Version == 2 && e.From == registry.StageProduction && e.To == registry.StageArchived
	})
	find("the refusal to nobody: the request of a2", func(e httpapi.AuditEntry) bool {
		return e.Action == registry.ActionApprovalRequested && e.ApprovalID == a2 && e.Actor == "admin" && e.Reason == "better accuracy, lower latency"
	})
	find("the validation of a2", func(e httpapi.AuditEntry) bool {
		return e.Action == registry.ActionApprovalValidated && e.ApprovalID == a2 && e.Criteria["accuracy"] == 0.95
	})
	find("the decision of a2", func(e httpapi.AuditEntry) bool {
		return e.Action == registry.ActionApprovalDecided && e.ApprovalID == a2 && e.Actor == "alice" && e.Details["status"] == "APPROVED"
	})
	for _, e := range entries {
		if e.ApprovalID == a2 && e.Action == registry.ActionApprovalVoted && e.Actor == "admin" {
			t.Errorf("the refused self-approval left a vote: %+v", e)
		}
	}

	text := s.cli(adminToken, "history", "fraud", "2").must(t).stdout
	for _, want := range []string{"Staging → Production", "alice", "better accuracy, lower latency", a2,
		"approvers=alice", `comment:alice="ship it"`, "accuracy=0.95", `check:staging="passed`, "rollback", "latency regression in prod"} {
		if !strings.Contains(text, want) {
			t.Errorf("history text lacks %q:\n%s", want, text)
		}
	}

	// promote --wait: 0 once approved (and promoted), 4 once rejected.
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/v3", "--metric", "accuracy=0.96", "--no-git").must(t)
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/v4", "--metric", "accuracy=0.97", "--no-git").must(t)
	for _, c := range []struct {
		version int
		verb    string
		code    int
	}{{3, "approve", exitOK}, {4, "reject", exitConflict}} {
		s.cli(adminToken, "promote", "fraud", strconv.Itoa(c.version), "--to", "Staging", "--reason", "next").must(t)
		done := make(chan result, 1)
		go func() {
			done <- runBinary(t, append(os.Environ(), "MODELREG_URL="+s.url, "MODELREG_TOKEN="+adminToken),
				"promote", "fraud", strconv.Itoa(c.version), "--to", "Production", "--reason", "wait for it", "--wait", "--timeout", "2m")
		}()
		var id string
		waitFor(t, func() bool {
			var ps []httpapi.Approval
			decode(t, s.cli(bob, "approvals", "--model", "fraud", "--output", "json").must(t).stdout, &ps)
			if len(ps) == 1 && ps[0].Version == c.version {
				id = ps[0].ID
			}
			return id != ""
		})
		select {
		case r := <-done:
			t.Fatalf("promote --wait returned before the decision: %+v", r)
		default:
		}
		s.cli(bob, "approvals", c.verb, id, "--comment", c.verb+"d by bob").must(t)
		var r result
		select {
		case r = <-done:
		case <-time.After(90 * time.Second):
			t.Fatal("promote --wait did not return after the decision")
		}
		r.wantCode(t, c.code)
		want := map[string]string{"approve": "APPROVED", "reject": "REJECTED"}[c.verb]
		if !strings.Contains(r.stdout, want) {
			t.Errorf("promote --wait printed %q, want %s", r.stdout, want)
		}
	}
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 3)
	if got := versionStage(t, s, "fraud", 4); got != registry.StageStaging {
		t.Errorf("the rejected v4 is in %s, want Staging", got)
	}
}
