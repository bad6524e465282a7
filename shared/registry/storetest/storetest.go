// Package storetest is the contract suite of registry.Store. Every adapter
// (the embedded SQLite store, the DynamoDB store) runs it unchanged from its
// own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) registry.Store {
//			s, err := Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite tests behaviour only: what a caller of the registry.Store
// interface can observe. It expects the times it writes (UTC, whole
// microseconds) to come back equal and in UTC.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Run runs the Store contract suite as subtests of t. newStore returns a
// fresh, empty store each time it is called, and registers its cleanup
// with the t it is given. Run calls it at least once per subtest.
func Run(t *testing.T, newStore func(t *testing.T) registry.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Commit", commitTests},
		{"Atomicity", atomicityTests},
		{"Idempotency", idempotencyTests},
		{"GroupCommit", groupCommitTests},
		{"RoundTrip", roundTripTests},
		{"Models", modelListTests},
		{"Versions", versionListTests},
		{"Deletions", deletionTests},
		{"Aliases", aliasTests},
		{"Audit", auditTests},
		{"Approvals", approvalTests},
		{"Executions", executionTests},
		{"Outbox", outboxTests},
		{"Deploy", deployTests},
		{"UploadSweep", uploadSweepTests},
		{"Concurrency", concurrencyTests},
		{"Rename", renameTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore) })
			}
		})
	}
}

// test is one subtest of the suite. It calls newStore for every store it
// needs.
type test struct {
	name string
	run  func(t *testing.T, newStore func(t *testing.T) registry.Store)
}

// withStore adapts a test that needs one fresh store.
func withStore(f func(t *testing.T, s registry.Store)) func(*testing.T, func(*testing.T) registry.Store) {
	return func(t *testing.T, newStore func(t *testing.T) registry.Store) { f(t, newStore(t)) }
}

// t0 is the suite's reference time; fixtures are placed relative to it.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// now returns the wall clock in UTC truncated to microseconds, for tests
// whose outcome may depend on a store's own notion of the current time.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// ctx returns the context of a test.
func ctx(t *testing.T) context.Context { return t.Context() }

// commit commits ch and fails the test if that fails.
func commit(t *testing.T, s registry.Store, ch *registry.Change) {
	t.Helper()
	if err := s.Commit(ctx(t), ch); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, what string, err error, code registry.Code) {
	t.Helper()
	if !registry.IsCode(err, code) {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, registry.ErrorCode(err), code)
	}
}

// wantStale fails the test unless err is a Conflict wrapping ErrStale (and
// not ErrDuplicateRequest).
func wantStale(t *testing.T, what string, err error) {
	t.Helper()
	wantCode(t, what, err, registry.Conflict)
	if !errors.Is(err, registry.ErrStale) || errors.Is(err, registry.ErrDuplicateRequest) {
		t.Fatalf("%s: got %v, want a Conflict wrapping ErrStale only", what, err)
	}
}

// wantDuplicate fails the test unless err is a Conflict wrapping
// ErrDuplicateRequest and not ErrStale (the service retries on ErrStale;
// it must replay the stored response instead).
func wantDuplicate(t *testing.T, what string, err error) {
	t.Helper()
	wantCode(t, what, err, registry.Conflict)
	if !errors.Is(err, registry.ErrDuplicateRequest) || errors.Is(err, registry.ErrStale) {
		t.Fatalf("%s: got %v, want a Conflict wrapping ErrDuplicateRequest only", what, err)
	}
}

// Fixtures. Each returns a record at revision 1 with the fields the
// listings filter on set from its arguments and the rest plausible.

func model(name string) registry.Model {
	return registry.Model{
		Name: name, Description: "model " + name, Owner: "team-" + name, Tags: map[string]string{"domain": "fraud"},
		CreatedBy: "alice", CreatedAt: at(0), UpdatedAt: at(0), Revision: 1,
	}
}

func version(model string, n int) registry.Version {
	created := at(time.Duration(n) * time.Minute)
	return registry.Version{
		Model: model, Number: n, Status: registry.StatusReady, Stage: registry.StageNone,
		Description: fmt.Sprintf("version %d", n),
		Metrics:     map[string]registry.Metric{"auc": {Value: 0.9, Source: registry.SourceValidation, RecordedAt: created}},
		Params:      map[string]string{"lr": "0.01"},
		CreatedBy:   "alice", CreatedAt: created, UpdatedAt: created, StageChangedAt: created, Revision: 1,
	}
}

func alias(model, name string, v int) registry.Alias {
	return registry.Alias{Model: model, Name: name, Version: v, UpdatedBy: "alice", UpdatedAt: at(time.Hour), Revision: 1}
}

func approval(id, model string, status registry.ApprovalStatus, created time.Time) registry.Approval {
	return registry.Approval{
		ID: id, Model: model, Version: 1, TargetStage: registry.StageProduction, RequestedBy: "alice",
		Status: status, ExpiresAt: created.Add(72 * time.Hour), TaskToken: "token-" + id,
		CreatedAt: created, UpdatedAt: created, Revision: 1,
	}
}

func execution(id string, status registry.ExecutionStatus, started time.Time) registry.Execution {
	return registry.Execution{
		ID: id, Workflow: "promotion", Status: status, State: "WaitForApproval",
		Input: []byte(`{"approval_id":"` + id + `"}`), TaskToken: "tt-" + id,
		StartedAt: started, UpdatedAt: started, Revision: 1,
	}
}

func upload(id, model string, v int) registry.UploadSession {
	return registry.UploadSession{
		ID: id, Model: model, Version: v, Status: registry.UploadOpen,
		Files:     []registry.UploadFile{{Path: "model.bin", Size: 10, SHA256: sha('a'), PartSize: 10, Parts: 1}},
		CreatedBy: "alice", CreatedAt: at(0), UpdatedAt: at(0), ExpiresAt: at(time.Hour), Revision: 1,
	}
}

func auditEntry(id, model string, v int, action registry.Action, when time.Time) registry.AuditEntry {
	return registry.AuditEntry{ID: id, Model: model, Version: v, Action: action, Actor: "alice", At: when}
}

func event(id string, when time.Time) registry.Event {
	return registry.Event{
		ID: id, Type: registry.EventVersionRegistered, Source: registry.EventSource, Time: when,
		Detail: registry.EventDetail{Model: "m", Version: 1, Actor: "alice"},
	}
}

// sha returns a 64-digit hex string of c.
func sha(c byte) string {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
