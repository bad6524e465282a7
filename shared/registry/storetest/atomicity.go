package storetest

import (
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var atomicityTests = []test{
	{"FailedConditionWritesNothing", withStore(testFailedConditionWritesNothing)},
}

var idempotencyTests = []test{
	{"StoreAndGet", withStore(testIdempotencyStoreAndGet)},
	{"Expiry", withStore(testIdempotencyExpiry)},
	{"DuplicateWritesNothing", withStore(testIdempotencyDuplicate)},
	{"DuplicateTakesPrecedence", withStore(testIdempotencyPrecedence)},
	{"ExpiredKeyReused", withStore(testIdempotencyExpiredReuse)},
}

// testFailedConditionWritesNothing commits a Change of every kind of write
// with one failing condition, for each condition in turn, placed first and
// last in its list: nothing of it may be written. Then the same Change
// without the failing part goes through, so the failure was that part's.
func testFailedConditionWritesNothing(t *testing.T, s registry.Store) {
	c := ctx(t)
	m, a := model("m"), alias("m", "a", 1)
	a0 := auditEntry("A0", "m", 0, registry.ActionModelCreated, at(0))
	e0 := event("E0", at(0))
	commit(t, s, &registry.Change{Models: []registry.Model{m}, Aliases: []registry.Alias{a},
		Audit: []registry.AuditEntry{a0}, Events: []registry.Event{e0}})

	key := "principal:POST:/v1/models:atomic"
	fresh := func() *registry.Change {
		n := now()
		return &registry.Change{
			Models:      []registry.Model{model("n")},
			Versions:    []registry.Version{version("n", 1), version("m", 1)},
			Aliases:     []registry.Alias{alias("n", "x", 1)},
			Approvals:   []registry.Approval{approval("ap-n", "n", registry.ApprovalPending, at(0))},
			Executions:  []registry.Execution{execution("ex-n", registry.ExecutionRunning, at(0))},
			Uploads:     []registry.UploadSession{upload("up-n", "n", 1)},
			Audit:       []registry.AuditEntry{auditEntry("A1", "n", 0, registry.ActionModelCreated, at(time.Second)), auditEntry("A2", "m", 1, registry.ActionVersionRegistered, at(time.Second))},
			Events:      []registry.Event{event("E1", at(time.Second))},
			Idempotency: &registry.IdempotencyRecord{Key: key, RequestHash: "h", Response: []byte("201\n{}"), CreatedAt: n, ExpiresAt: n.Add(time.Hour)},
		}
	}
	at2 := func(rec registry.Model, rev int64) registry.Model { rec.Revision = rev; return rec }
	failures := []struct {
		name  string
		audit bool // the failure is a duplicate audit ID: Conflict, cause unspecified
		add   func(ch *registry.Change, first bool)
	}{
		{"stale model update", false, func(ch *registry.Change, first bool) { ch.Models = place(ch.Models, at2(m, 3), first) }},
		{"create of an existing model", false, func(ch *registry.Change, first bool) { ch.Models = place(ch.Models, m, first) }},
		{"model delete naming the wrong revision", false, func(ch *registry.Change, first bool) {
			ch.DeletedModels = place(ch.DeletedModels, at2(m, 2), first)
		}},
		{"delete of an absent model", false, func(ch *registry.Change, first bool) {
			ch.DeletedModels = place(ch.DeletedModels, model("ghost"), first)
		}},
		{"update of an absent version", false, func(ch *registry.Change, first bool) {
			v := version("m", 7)
			v.Revision = 2
			ch.Versions = place(ch.Versions, v, first)
		}},
		{"create of an existing alias", false, func(ch *registry.Change, first bool) { ch.Aliases = place(ch.Aliases, a, first) }},
		{"alias delete naming the wrong revision", false, func(ch *registry.Change, first bool) {
			wrong := a
			wrong.Revision = 2
			ch.DeletedAliases = place(ch.DeletedAliases, wrong, first)
		}},
		{"update of an absent approval", false, func(ch *registry.Change, first bool) {
			ap := approval("ap-ghost", "m", registry.ApprovalApproved, at(0))
			ap.Revision = 2
			ch.Approvals = place(ch.Approvals, ap, first)
		}},
		{"update of an absent execution", false, func(ch *registry.Change, first bool) {
			ex := execution("ex-ghost", registry.ExecutionSucceeded, at(0))
			ex.Revision = 2
			ch.Executions = place(ch.Executions, ex, first)
		}},
		{"update of an absent upload", false, func(ch *registry.Change, first bool) {
			u := upload("up-ghost", "m", 1)
			u.Revision = 2
			ch.Uploads = place(ch.Uploads, u, first)
		}},
		{"duplicate audit ID", true, func(ch *registry.Change, first bool) { ch.Audit = place(ch.Audit, a0, first) }},
	}
	for _, f := range failures {
		for _, first := range []bool{true, false} {
			what := f.name + " (last in its list)"
			if first {
				what = f.name + " (first in its list)"
			}
			ch := fresh()
			f.add(ch, first)
			err := s.Commit(c, ch)
			if f.audit {
				wantCode(t, what, err, registry.Conflict)
			} else {
				wantStale(t, what, err)
			}

			for _, r := range []struct {
				what string
				err  error
			}{
				{"model n", second(s.GetModel(c, "n"))},
				{"version n/1", second(s.GetVersion(c, "n", 1))},
				{"version m/1", second(s.GetVersion(c, "m", 1))},
				{"alias n/x", second(s.GetAlias(c, "n", "x"))},
				{"approval ap-n", second(s.GetApproval(c, "ap-n"))},
				{"execution ex-n", second(s.GetExecution(c, "ex-n"))},
				{"upload up-n", second(s.GetUpload(c, "up-n"))},
				{"idempotency record", second(s.GetIdempotency(c, key, now()))},
			} {
				if !registry.IsCode(r.err, registry.NotFound) {
					t.Errorf("%s: the refused Change wrote %s (get: %v)", what, r.what, r.err)
				}
			}
			if got, err := s.GetModel(c, "m"); err != nil {
				t.Errorf("%s: GetModel(m): %v", what, err)
			} else {
				assertEqual(t, what+": model m", got, m)
			}
			if got, err := s.GetAlias(c, "m", "a"); err != nil {
				t.Errorf("%s: GetAlias(m, a): %v", what, err)
			} else {
				assertEqual(t, what+": alias m/a", got, a)
			}
			for _, name := range []string{"m", "n"} {
				p, err := s.ListAudit(c, registry.AuditQuery{Model: name, Limit: 10})
				if err != nil {
					t.Fatal(err)
				}
				want := []registry.AuditEntry{}
				if name == "m" {
					want = []registry.AuditEntry{a0}
				}
				assertEqual(t, what+": audit of "+name, p.Items, want)
			}
			ev, err := s.PendingEvents(c, at(24*time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, what+": outbox", ev, []registry.OutboxRecord{{Event: e0, NextAttemptAt: e0.Time}})
			if t.Failed() {
				return
			}
		}
	}

	ch := fresh()
	commit(t, s, ch)
	if _, err := s.GetModel(c, "n"); err != nil {
		t.Fatalf("the Change without its failing part: GetModel(n): %v", err)
	}
	if _, err := s.GetIdempotency(c, key, now()); err != nil {
		t.Fatalf("the Change without its failing part: GetIdempotency: %v", err)
	}
}

// place puts x first or last in s.
func place[T any](s []T, x T, first bool) []T {
	if first {
		return append([]T{x}, s...)
	}
	return append(s, x)
}

// second returns the error of a (value, error) pair.
func second[T any](_ T, err error) error { return err }

func idem(key string, created time.Time, body string) *registry.IdempotencyRecord {
	return &registry.IdempotencyRecord{
		Key: key, RequestHash: "sha256:" + body, Response: []byte(body),
		CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour),
	}
}

func testIdempotencyStoreAndGet(t *testing.T, s registry.Store) {
	n := now()
	rec := idem("alice:POST:/v1/models:k1", n, "")
	rec.Response = []byte("202\n{\"name\": \"m\"}\n\x00\xff\xfe binary \u00e9")
	commit(t, s, &registry.Change{Models: []registry.Model{model("m")}, Idempotency: rec})
	got, err := s.GetIdempotency(ctx(t), rec.Key, n)
	if err != nil {
		t.Fatalf("GetIdempotency: %v", err)
	}
	assertEqual(t, "idempotency record", got, *rec)
	if string(got.Response) != string(rec.Response) {
		t.Errorf("response: got %q, want %q byte for byte", got.Response, rec.Response)
	}
	_, err = s.GetIdempotency(ctx(t), "alice:POST:/v1/models:k2", n)
	wantCode(t, "GetIdempotency of another key", err, registry.NotFound)
}

func testIdempotencyExpiry(t *testing.T, s registry.Store) {
	n := now()
	rec := idem("k", n, "{}")
	commit(t, s, &registry.Change{Idempotency: rec})
	if _, err := s.GetIdempotency(ctx(t), "k", rec.ExpiresAt); err != nil {
		t.Errorf("GetIdempotency at ExpiresAt (not yet expired before now): %v", err)
	}
	_, err := s.GetIdempotency(ctx(t), "k", rec.ExpiresAt.Add(time.Microsecond))
	wantCode(t, "GetIdempotency after ExpiresAt", err, registry.NotFound)
}

func testIdempotencyDuplicate(t *testing.T, s registry.Store) {
	n := now()
	first := idem("k", n, `{"first":true}`)
	commit(t, s, &registry.Change{Models: []registry.Model{model("m1")}, Idempotency: first})

	dup := idem("k", n.Add(time.Second), `{"second":true}`)
	e := event("ev-dup", n)
	err := s.Commit(ctx(t), &registry.Change{
		Models: []registry.Model{model("m2")}, Audit: []registry.AuditEntry{auditEntry("A-dup", "m2", 0, registry.ActionModelCreated, n)},
		Events: []registry.Event{e}, Idempotency: dup,
	})
	wantDuplicate(t, "second Change with the same key", err)
	_, err = s.GetModel(ctx(t), "m2")
	wantCode(t, "GetModel of the duplicate's model", err, registry.NotFound)
	p, err := s.ListAudit(ctx(t), registry.AuditQuery{Model: "m2", Limit: 10})
	if err != nil || len(p.Items) != 0 {
		t.Errorf("duplicate wrote audit entries: %v, %v", p.Items, err)
	}
	ev, err := s.PendingEvents(ctx(t), n.Add(time.Hour), 10)
	if err != nil || len(ev) != 0 {
		t.Errorf("duplicate wrote events: %v, %v", ev, err)
	}
	got, err := s.GetIdempotency(ctx(t), "k", n)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "stored response after a duplicate", got, *first)
}

func testIdempotencyPrecedence(t *testing.T, s registry.Store) {
	n := now()
	commit(t, s, &registry.Change{Models: []registry.Model{model("m")}, Idempotency: idem("k", n, "{}")})
	// A retry racing the first request: its model create is stale too, but
	// the caller must learn that the request was already made.
	err := s.Commit(ctx(t), &registry.Change{Models: []registry.Model{model("m")}, Idempotency: idem("k", n, "{}")})
	wantDuplicate(t, "duplicate key with a stale create", err)
	stale := model("m")
	stale.Revision = 5
	err = s.Commit(ctx(t), &registry.Change{Models: []registry.Model{stale}, Idempotency: idem("k", n, "{}")})
	wantDuplicate(t, "duplicate key with a stale update", err)
}

func testIdempotencyExpiredReuse(t *testing.T, s registry.Store) {
	n := now()
	old := idem("k", n.Add(-48*time.Hour), `{"old":true}`) // expired a day ago
	commit(t, s, &registry.Change{Models: []registry.Model{model("m1")}, Idempotency: old})
	_, err := s.GetIdempotency(ctx(t), "k", n)
	wantCode(t, "GetIdempotency of an expired record", err, registry.NotFound)

	fresh := idem("k", n, `{"new":true}`)
	if err := s.Commit(ctx(t), &registry.Change{Models: []registry.Model{model("m2")}, Idempotency: fresh}); err != nil {
		t.Fatalf("Commit reusing an expired key: %v", err)
	}
	got, err := s.GetIdempotency(ctx(t), "k", n)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "record stored over an expired one", got, *fresh)
	if _, err := s.GetModel(ctx(t), "m2"); err != nil {
		t.Errorf("GetModel(m2): %v", err)
	}
}
