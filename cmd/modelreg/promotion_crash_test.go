package main

import (
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// The promotion crash tests kill the server with SIGKILL while an approval
// waits, and between an approval and the Promote step's commit (the
// failpoints promotion.before-commit and promotion.after-commit), restart
// it on the same data (SQLite, or DynamoDB Local + MinIO under
// scripts/test) and check that the promotion completes exactly once: one
// Production version, one set of audit entries.

// promoFixture is a model "crashy" with v1 in Production (approved by
// bob) and v2 in Staging, on a stopped server's data.
type promoFixture struct {
	dir        string
	env        []string
	bob, alice string
}

func newPromoFixture(t *testing.T, b backend) promoFixture {
	t.Helper()
	f := promoFixture{dir: t.TempDir(), env: b.env}
	s := startServer(t, f.dir, f.env...)
	f.bob = addToken(t, s, "bob", registry.RoleApprover)
	f.alice = addToken(t, s, "alice", registry.RoleApprover)
	s.cli(adminToken, "models", "create", "crashy").must(t)
	for _, src := range []string{"s3://b/v1", "s3://b/v2"} {
		s.cli(adminToken, "register", "crashy", "--source", src, "--metric", "accuracy=0.9", "--no-git").must(t)
	}
	s.cli(adminToken, "promote", "crashy", "1", "--to", "Staging", "--reason", "candidate").must(t)
	a1 := requestProduction(t, s, adminToken, "crashy", 1, "first release")
	s.cli(f.bob, "approvals", "approve", a1).must(t)
	waitStage(t, s, adminToken, "crashy", registry.StageProduction, 1)
	s.cli(adminToken, "promote", "crashy", "2", "--to", "Staging", "--reason", "next").must(t)
	s.stop()
	return f
}

// waitValidated waits until approval id is PENDING with its policy checks
// recorded and its execution started: the workflow waits for a decision.
func waitValidated(t *testing.T, s *server, id string) {
	t.Helper()
	waitFor(t, func() bool {
		var a httpapi.Approval
		decode(t, s.cli(adminToken, "approvals", "show", id, "--output", "json").must(t).stdout, &a)
		return a.Status == registry.ApprovalPending && len(a.Checks) > 0 && a.ExecutionID != ""
	})
}

// kill ends the server with SIGKILL.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	s.waitKilled()
}

// checkPromotedOnce checks that approval id promoted v2 over v1 exactly
// once: v2 is the only Production version, v1 is Archived, the approval
// is APPROVED by bob, and the history has one entry per step.
func checkPromotedOnce(t *testing.T, s *server, id string) {
	t.Helper()
	waitStage(t, s, adminToken, "crashy", registry.StageProduction, 2)
	var prod []httpapi.Version
	decode(t, s.cli(adminToken, "versions", "crashy", "--stage", "Production", "--output", "json").must(t).stdout, &prod)
	if len(prod) != 1 || prod[0].Number != 2 {
		t.Fatalf("Production holds %+v, want only v2", prod)
	}
	if got := versionStage(t, s, "crashy", 1); got != registry.StageArchived {
		t.Fatalf("v1 is in %s, want Archived", got)
	}
	var a httpapi.Approval
	decode(t, s.cli(adminToken, "approvals", "show", id, "--output", "json").must(t).stdout, &a)
	if a.Status != registry.ApprovalApproved || a.DecidedBy != "bob" || len(a.Decisions) != 1 || a.ArchivedVersion != 1 {
		t.Fatalf("approval after the restart: %+v", a)
	}
	// Let a late duplicate show itself before counting.
	time.Sleep(300 * time.Millisecond)
	var entries []httpapi.AuditEntry
	decode(t, s.cli(adminToken, "history", "crashy", "--output", "json").must(t).stdout, &entries)
	counts := map[string]int{}
	for _, e := range entries {
		if e.ApprovalID != id {
			continue
		}
		key := string(e.Action)
		if e.Action == registry.ActionStageChanged {
			key += " " + string(e.From) + "→" + string(e.To)
		}
		counts[key]++
	}
	want := map[string]int{
		"approval.requested": 1, "approval.validated": 1, "approval.voted": 1, "approval.decided": 1,
		"version.stage_changed Staging→Production": 1, "version.stage_changed Production→Archived": 1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("history of %s: %d × %s, want %d (all: %v)", id, counts[k], k, n, counts)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("history of %s has other entries: %v", id, counts)
	}
}

// TestCrashWhileApprovalPending: the server dies while an approval waits;
// after the restart the approval is still PENDING and approving it
// promotes exactly once.
func TestCrashWhileApprovalPending(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newPromoFixture(t, b)
			s := startServer(t, f.dir, f.env...)
			id := requestProduction(t, s, adminToken, "crashy", 2, "better")
			waitValidated(t, s, id)
			s.kill()

			s = startServer(t, f.dir, f.env...)
			var pending []httpapi.Approval
			decode(t, s.cli(adminToken, "approvals", "--output", "json").must(t).stdout, &pending)
			if len(pending) != 1 || pending[0].ID != id {
				t.Fatalf("after the restart PENDING approvals are %+v, want %s", pending, id)
			}
			s.cli(f.bob, "approvals", "approve", id, "--comment", "after the crash").must(t)
			checkPromotedOnce(t, s, id)
		})
	}
}

// TestCrashAroundPromoteCommit: the server dies in the Promote step that
// the approval resumed, before its commit and (second case) right after
// it, before the engine recorded the step; after the restart the resumed
// execution completes the promotion exactly once.
func TestCrashAroundPromoteCommit(t *testing.T) {
	for _, point := range []string{failpoint.PromotionBeforeCommit, failpoint.PromotionAfterCommit} {
		for _, b := range testBackends(t) { // a table and bucket of its own each
			t.Run(b.name+"/"+point, func(t *testing.T) {
				f := newPromoFixture(t, b)
				s := startServer(t, f.dir, append(f.env, failpoint.Env+"="+point)...)
				id := requestProduction(t, s, adminToken, "crashy", 2, "better")
				waitValidated(t, s, id)
				// The decision commits, then the execution resumes into
				// Promote, which kills the server: the CLI may or may not
				// hear back first.
				s.cli(f.bob, "approvals", "approve", id, "--comment", "go")
				s.waitKilled()

				s = startServer(t, f.dir, f.env...)
				checkPromotedOnce(t, s, id)
			})
		}
	}
}
