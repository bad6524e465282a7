package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// kind is one kind of revisioned record, so that every kind goes through
// the same create / update / conflict checks.
type kind struct {
	name string
	// record returns the kind's record under test at revision rev; note
	// changes a field so that versions of it can be told apart.
	record func(rev int64, note string) any
	// change wraps a record in a Change.
	change func(rec any) *registry.Change
	// get reads the record back.
	get func(ctx context.Context, s registry.Store) (any, error)
}

var kinds = []kind{
	{
		name: "model",
		record: func(rev int64, note string) any {
			m := model("m")
			m.Description, m.Revision = note, rev
			return m
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Models: []registry.Model{rec.(registry.Model)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetModel(ctx, "m")
		},
	},
	{
		name: "version",
		record: func(rev int64, note string) any {
			v := version("m", 1)
			v.Description, v.Revision = note, rev
			return v
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Versions: []registry.Version{rec.(registry.Version)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetVersion(ctx, "m", 1)
		},
	},
	{
		name: "alias",
		record: func(rev int64, note string) any {
			a := alias("m", "champion", 1)
			a.UpdatedBy, a.Revision = note, rev
			return a
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Aliases: []registry.Alias{rec.(registry.Alias)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetAlias(ctx, "m", "champion")
		},
	},
	{
		name: "approval",
		record: func(rev int64, note string) any {
			a := approval("ap-1", "m", registry.ApprovalPending, at(0))
			a.Comment, a.Revision = note, rev
			return a
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Approvals: []registry.Approval{rec.(registry.Approval)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetApproval(ctx, "ap-1")
		},
	},
	{
		name: "execution",
		record: func(rev int64, note string) any {
			e := execution("ex-1", registry.ExecutionRunning, at(0))
			e.State, e.Revision = note, rev
			return e
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Executions: []registry.Execution{rec.(registry.Execution)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetExecution(ctx, "ex-1")
		},
	},
	{
		name: "upload",
		record: func(rev int64, note string) any {
			u := upload("up-1", "m", 1)
			u.CreatedBy, u.Revision = note, rev
			return u
		},
		change: func(rec any) *registry.Change {
			return &registry.Change{Uploads: []registry.UploadSession{rec.(registry.UploadSession)}}
		},
		get: func(ctx context.Context, s registry.Store) (any, error) {
			return s.GetUpload(ctx, "up-1")
		},
	},
}

var commitTests = []test{
	{"CreateUpdateConflict", testCreateUpdateConflict},
	{"UpdateAbsent", testUpdateAbsent},
	{"GetMissing", testGetMissing},
	{"DeleteModel", withStore(testDeleteModel)},
	{"DeleteAlias", withStore(testDeleteAlias)},
	{"Audit", withStore(testAuditAppend)},
	{"EventsToOutbox", withStore(testEventsToOutbox)},
	{"CheckedModels", withStore(testCheckedModels)},
}

// testCreateUpdateConflict runs every kind of record through create,
// create again, update, and updates from the wrong revision.
func testCreateUpdateConflict(t *testing.T, newStore func(*testing.T) registry.Store) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := newStore(t)
			read := func(want any, when string) {
				t.Helper()
				got, err := k.get(ctx(t), s)
				if err != nil {
					t.Fatalf("get %s %s: %v", k.name, when, err)
				}
				assertEqual(t, k.name+" "+when, got, want)
			}
			v1 := k.record(1, "first")
			commit(t, s, k.change(v1))
			read(v1, "after create")

			err := s.Commit(ctx(t), k.change(k.record(1, "again")))
			wantStale(t, "create of an existing "+k.name, err)
			read(v1, "after a refused create")

			v2 := k.record(2, "second")
			commit(t, s, k.change(v2))
			read(v2, "after update to revision 2")

			for _, rev := range []int64{2, 4, 1} {
				err := s.Commit(ctx(t), k.change(k.record(rev, "wrong")))
				wantStale(t, "write of revision "+itoa(rev)+" over stored 2", err)
			}
			read(v2, "after refused updates")

			v3 := k.record(3, "third")
			commit(t, s, k.change(v3))
			read(v3, "after update to revision 3")
		})
	}
}

// testUpdateAbsent: an update (revision > 1) of a record that does not
// exist is stale, and creates nothing.
func testUpdateAbsent(t *testing.T, newStore func(*testing.T) registry.Store) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			s := newStore(t)
			err := s.Commit(ctx(t), k.change(k.record(2, "update")))
			wantStale(t, "update of an absent "+k.name, err)
			_, err = k.get(ctx(t), s)
			wantCode(t, "get after refused update", err, registry.NotFound)
		})
	}
}

// testGetMissing: every getter answers NotFound for what is not there,
// including neighbours of what is.
func testGetMissing(t *testing.T, newStore func(*testing.T) registry.Store) {
	s := newStore(t)
	c := ctx(t)
	for _, k := range kinds {
		_, err := k.get(c, s)
		wantCode(t, "get "+k.name+" in an empty store", err, registry.NotFound)
	}
	commit(t, s, &registry.Change{
		Models: []registry.Model{model("m")}, Versions: []registry.Version{version("m", 1)},
		Aliases: []registry.Alias{alias("m", "champion", 1)},
	})
	_, err := s.GetModel(c, "m2")
	wantCode(t, "GetModel(m2)", err, registry.NotFound)
	_, err = s.GetModel(c, "M")
	wantCode(t, "GetModel(M) (names are case-sensitive)", err, registry.NotFound)
	_, err = s.GetVersion(c, "m", 2)
	wantCode(t, "GetVersion(m, 2)", err, registry.NotFound)
	_, err = s.GetVersion(c, "m2", 1)
	wantCode(t, "GetVersion(m2, 1)", err, registry.NotFound)
	_, err = s.GetAlias(c, "m", "challenger")
	wantCode(t, "GetAlias(m, challenger)", err, registry.NotFound)
	_, err = s.GetAlias(c, "m2", "champion")
	wantCode(t, "GetAlias(m2, champion)", err, registry.NotFound)
	_, err = s.GetApproval(c, "nope")
	wantCode(t, "GetApproval", err, registry.NotFound)
	_, err = s.GetExecution(c, "nope")
	wantCode(t, "GetExecution", err, registry.NotFound)
	_, err = s.GetUpload(c, "nope")
	wantCode(t, "GetUpload", err, registry.NotFound)
	_, err = s.GetIdempotency(c, "nope", now())
	wantCode(t, "GetIdempotency", err, registry.NotFound)
}

func testDeleteModel(t *testing.T, s registry.Store) {
	c := ctx(t)
	m := model("m")
	commit(t, s, &registry.Change{Models: []registry.Model{m, model("other")}})
	m.Revision = 2
	commit(t, s, &registry.Change{Models: []registry.Model{m}})

	for _, rev := range []int64{1, 3} {
		del := m
		del.Revision = rev
		err := s.Commit(c, &registry.Change{DeletedModels: []registry.Model{del}})
		wantStale(t, "delete of model at revision 2 naming revision "+itoa(rev), err)
		if _, err := s.GetModel(c, "m"); err != nil {
			t.Fatalf("model gone after a refused delete: %v", err)
		}
	}
	commit(t, s, &registry.Change{DeletedModels: []registry.Model{m}})
	_, err := s.GetModel(c, "m")
	wantCode(t, "GetModel after delete", err, registry.NotFound)
	if _, err := s.GetModel(c, "other"); err != nil {
		t.Fatalf("deleting m deleted another model: %v", err)
	}
	err = s.Commit(c, &registry.Change{DeletedModels: []registry.Model{m}})
	wantStale(t, "delete of a deleted model", err)

	// The name is free again: a new model starts at revision 1.
	again := model("m")
	again.Description = "reborn"
	commit(t, s, &registry.Change{Models: []registry.Model{again}})
	got, err := s.GetModel(c, "m")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "re-created model", got, again)
}

func testDeleteAlias(t *testing.T, s registry.Store) {
	c := ctx(t)
	a, b := alias("m", "champion", 1), alias("m", "challenger", 2)
	commit(t, s, &registry.Change{Aliases: []registry.Alias{a, b, alias("m2", "champion", 1)}})

	wrong := a
	wrong.Revision = 2
	err := s.Commit(c, &registry.Change{DeletedAliases: []registry.Alias{wrong}})
	wantStale(t, "delete of alias naming the wrong revision", err)
	if _, err := s.GetAlias(c, "m", "champion"); err != nil {
		t.Fatalf("alias gone after a refused delete: %v", err)
	}

	commit(t, s, &registry.Change{DeletedAliases: []registry.Alias{a}})
	_, err = s.GetAlias(c, "m", "champion")
	wantCode(t, "GetAlias after delete", err, registry.NotFound)
	for _, k := range [][2]string{{"m", "challenger"}, {"m2", "champion"}} {
		if _, err := s.GetAlias(c, k[0], k[1]); err != nil {
			t.Fatalf("deleting m/champion deleted %s/%s: %v", k[0], k[1], err)
		}
	}
	err = s.Commit(c, &registry.Change{DeletedAliases: []registry.Alias{a}})
	wantStale(t, "delete of a deleted alias", err)
}

func testAuditAppend(t *testing.T, s registry.Store) {
	c := ctx(t)
	a1 := auditEntry(registry.NewID(at(1*time.Second)), "m", 0, registry.ActionModelCreated, at(1*time.Second))
	a2 := auditEntry(registry.NewID(at(2*time.Second)), "m", 1, registry.ActionVersionRegistered, at(2*time.Second))
	commit(t, s, &registry.Change{Audit: []registry.AuditEntry{a1, a2}})
	p, err := s.ListAudit(c, registry.AuditQuery{Model: "m", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "audit trail", p.Items, []registry.AuditEntry{a2, a1})

	dup := a1
	dup.Reason = "written twice"
	err = s.Commit(c, &registry.Change{Models: []registry.Model{model("m")}, Audit: []registry.AuditEntry{dup}})
	wantCode(t, "append of an existing audit ID", err, registry.Conflict)
	if _, err := s.GetModel(c, "m"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("a Change refused for its audit entry wrote its model (GetModel: %v)", err)
	}
	p, err = s.ListAudit(c, registry.AuditQuery{Model: "m", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "audit trail after a refused append", p.Items, []registry.AuditEntry{a2, a1})
}

func testEventsToOutbox(t *testing.T, s registry.Store) {
	e1, e2 := event("ev-1", at(time.Second)), event("ev-2", at(2*time.Second))
	e2.Type, e2.Detail.To = registry.EventStageChanged, registry.StageStaging
	commit(t, s, &registry.Change{Models: []registry.Model{model("m")}, Events: []registry.Event{e1, e2}})
	got, err := s.PendingEvents(ctx(t), at(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "outbox", got, []registry.OutboxRecord{
		{Event: e1, NextAttemptAt: e1.Time}, {Event: e2, NextAttemptAt: e2.Time},
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
