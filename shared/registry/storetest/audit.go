package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var auditTests = []test{
	{"ListNewestFirst", withStore(testListAudit)},
	{"StageAt", withStore(testStageAt)},
}

func testListAudit(t *testing.T, s registry.Store) {
	c := ctx(t)
	// Entries of m (versions 0, 1, 2) interleaved in time with entries of
	// models whose names share its prefix; IDs from registry.NewID sort by
	// time.
	type spec struct {
		model   string
		version int
	}
	specs := []spec{{"m", 0}, {"m1", 1}, {"m", 1}, {"m", 1}, {"mm", 1}, {"m", 2}, {"m", 0}, {"m", 1}, {"m1", 0}, {"m", 2}, {"m", 1}}
	var entries []registry.AuditEntry
	for i, sp := range specs {
		when := at(time.Duration(i) * time.Second)
		entries = append(entries, auditEntry(registry.NewID(when), sp.model, sp.version, registry.ActionVersionUpdated, when))
	}
	// Committed newest first, so insertion order is not the answer.
	for i := len(entries) - 1; i >= 0; i -= 3 {
		ch := registry.Change{}
		for j := i; j > i-3 && j >= 0; j-- {
			ch.Audit = append(ch.Audit, entries[j])
		}
		commit(t, s, &ch)
	}

	for _, q := range []registry.AuditQuery{
		{Model: "m"}, {Model: "m", Version: 1}, {Model: "m", Version: 2}, {Model: "m1"}, {Model: "m", Version: 7}, {Model: "none"},
	} {
		var want []registry.AuditEntry
		for i := len(entries) - 1; i >= 0; i-- {
			if e := entries[i]; e.Model == q.Model && (q.Version == 0 || e.Version == q.Version) {
				want = append(want, e)
			}
		}
		for _, limit := range []int{1000, 2, 1} {
			what := fmt.Sprintf("ListAudit(%s, version %d, limit %d)", q.Model, q.Version, limit)
			got := collect(t, what, limit, func(cursor string) (registry.Page[registry.AuditEntry], error) {
				q := q
				q.Cursor, q.Limit = cursor, limit
				return s.ListAudit(c, q)
			})
			assertEqual(t, what, got, want)
		}
	}
	wantInvalidCursor(t, "ListAudit", func(cursor string) (registry.Page[registry.AuditEntry], error) {
		return s.ListAudit(c, registry.AuditQuery{Model: "m", Cursor: cursor, Limit: 10})
	})
}

func testStageAt(t *testing.T, s registry.Store) {
	c := ctx(t)
	change := func(model string, v int, from, to registry.Stage, when time.Time) registry.AuditEntry {
		e := auditEntry(registry.NewID(when), model, v, registry.ActionStageChanged, when)
		e.From, e.To = from, to
		return e
	}
	T := func(minutes int) time.Time { return at(time.Duration(minutes) * time.Minute) }
	e1 := change("m", 1, registry.StageNone, registry.StageStaging, T(10))
	e2 := change("m", 1, registry.StageStaging, registry.StageProduction, T(20))
	e3 := change("m", 2, registry.StageStaging, registry.StageProduction, T(30))
	e4 := change("m", 1, registry.StageProduction, registry.StageArchived, T(40))
	// Noise: another model's promotion, and entries of other actions that
	// name stages.
	other := change("m2", 5, registry.StageStaging, registry.StageProduction, T(25))
	otherPrefix := change("mm", 5, registry.StageStaging, registry.StageProduction, T(35))
	wrongAction := change("m", 3, registry.StageStaging, registry.StageProduction, T(36))
	wrongAction.Action = registry.ActionApprovalDecided
	commit(t, s, &registry.Change{Audit: []registry.AuditEntry{e4, other, wrongAction, e2, e1, otherPrefix, e3}})

	for _, q := range []struct {
		stage registry.Stage
		at    time.Time
		want  *registry.AuditEntry
	}{
		{registry.StageProduction, T(5), nil},
		{registry.StageProduction, T(20).Add(-time.Microsecond), nil},
		{registry.StageProduction, T(20), &e2}, // at is inclusive
		{registry.StageProduction, T(29), &e2}, // not m2's change at 25
		{registry.StageProduction, T(30), &e3},
		{registry.StageProduction, T(37), &e3}, // not mm's at 35 nor the approval entry at 36
		{registry.StageProduction, T(40), &e4}, // leaving Production counts (From)
		{registry.StageProduction, T(999), &e4},
		{registry.StageStaging, T(10), &e1},
		{registry.StageStaging, T(25), &e2},
		{registry.StageStaging, T(45), &e3},
		{registry.StageArchived, T(39), nil},
		{registry.StageArchived, T(40), &e4},
		{registry.StageNone, T(15), &e1},
	} {
		what := fmt.Sprintf("StageAt(m, %s, %s)", q.stage, q.at.Format(time.RFC3339Nano))
		got, err := s.StageAt(c, "m", q.stage, q.at)
		if q.want == nil {
			wantCode(t, what, err, registry.NotFound)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", what, err)
			continue
		}
		assertEqual(t, what, got, *q.want)
	}
	_, err := s.StageAt(c, "none", registry.StageProduction, T(999))
	wantCode(t, "StageAt of a model without history", err, registry.NotFound)
}
