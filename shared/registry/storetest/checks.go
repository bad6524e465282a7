package storetest

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// testCheckedModels: a Change's CheckedModels are conditions only. A check
// of a revision other than the stored one (or of a missing model) refuses
// the whole Change with ErrStale and writes nothing; a current one lets it
// commit and leaves the model as it was. Bad checks are Invalid, and a
// stored idempotency key still takes precedence over a failed check.
func testCheckedModels(t *testing.T, s registry.Store) {
	m := model("m")
	commit(t, s, &registry.Change{Models: []registry.Model{m, model("o")}})
	m.Description, m.Revision = "second", 2
	commit(t, s, &registry.Change{Models: []registry.Model{m}})

	n := now()
	// writes returns a Change of records the checks do not touch: an alias
	// of m, its audit entry and an event.
	writes := func(id string, checks ...registry.ModelCheck) *registry.Change {
		return &registry.Change{
			CheckedModels: checks,
			Aliases:       []registry.Alias{alias("m", id, 1)},
			Audit:         []registry.AuditEntry{auditEntry(registry.NewID(n), "m", 1, registry.ActionAliasSet, n)},
			Events:        []registry.Event{event(registry.NewID(n), n)},
		}
	}
	nothingWritten := func(what, id string) {
		t.Helper()
		if _, err := s.GetAlias(ctx(t), "m", id); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("%s: the alias was written: %v", what, err)
		}
		h, err := s.ListAudit(ctx(t), registry.AuditQuery{Model: "m", Limit: 10})
		if err != nil || len(h.Items) != 0 {
			t.Fatalf("%s: audit entries written: %v %v", what, h.Items, err)
		}
		ev, err := s.PendingEvents(ctx(t), n.Add(time.Hour), 10)
		if err != nil || len(ev) != 0 {
			t.Fatalf("%s: events written: %v %v", what, ev, err)
		}
		got, err := s.GetModel(ctx(t), "m")
		if err != nil || got.Revision != 2 {
			t.Fatalf("%s: model m changed: %+v %v", what, got, err)
		}
	}

	for what, checks := range map[string][]registry.ModelCheck{
		"an older revision":            {{Name: "m", Revision: 1}},
		"a newer revision":             {{Name: "m", Revision: 3}},
		"a missing model":              {{Name: "nope", Revision: 1}},
		"one current, one stale check": {{Name: "m", Revision: 2}, {Name: "o", Revision: 2}},
	} {
		err := s.Commit(ctx(t), writes("stale", checks...))
		wantStale(t, "check of "+what, err)
		if failed := checks[len(checks)-1].Name; !strings.Contains(registry.ErrorMessage(err), "model "+failed) {
			t.Fatalf("check of %s: %q does not name model %s", what, registry.ErrorMessage(err), failed)
		}
		nothingWritten("check of "+what, "stale")
	}
	// Check-only Changes answer the same way.
	wantStale(t, "check-only change, stale", s.Commit(ctx(t), &registry.Change{CheckedModels: []registry.ModelCheck{{Name: "m", Revision: 1}}}))
	if err := s.Commit(ctx(t), &registry.Change{CheckedModels: []registry.ModelCheck{{Name: "m", Revision: 2}}}); err != nil {
		t.Fatalf("check-only change, current: %v", err)
	}

	for what, ch := range map[string]*registry.Change{
		"revision 0":           writes("bad", registry.ModelCheck{Name: "m"}),
		"checked twice":        writes("bad", registry.ModelCheck{Name: "m", Revision: 2}, registry.ModelCheck{Name: "m", Revision: 2}),
		"checked and written":  {CheckedModels: []registry.ModelCheck{{Name: "m", Revision: 2}}, Models: []registry.Model{{Name: "m", CreatedAt: at(0), UpdatedAt: at(0), Revision: 3}}},
		"checked and deleted":  {CheckedModels: []registry.ModelCheck{{Name: "m", Revision: 2}}, DeletedModels: []registry.Model{m}},
		"checked, other wrong": writes("bad", registry.ModelCheck{Name: "o", Revision: 0}),
	} {
		wantCode(t, what, s.Commit(ctx(t), ch), registry.Invalid)
		nothingWritten(what, "bad")
	}

	// Current checks: the Change commits, the models stay as they were.
	key := idem("alice:POST:/v1/x:k1", n, "{}")
	ch := writes("champion", registry.ModelCheck{Name: "m", Revision: 2}, registry.ModelCheck{Name: "o", Revision: 1})
	ch.Idempotency = key
	commit(t, s, ch)
	if a, err := s.GetAlias(ctx(t), "m", "champion"); err != nil || a.Version != 1 {
		t.Fatalf("alias after a current check: %+v %v", a, err)
	}
	for name, rev := range map[string]int64{"m": 2, "o": 1} {
		if got, err := s.GetModel(ctx(t), name); err != nil || got.Revision != rev {
			t.Fatalf("model %s after a check: %+v %v, want revision %d", name, got, err, rev)
		}
	}
	// A repeated request with a failing check: the stored key wins.
	again := writes("again", registry.ModelCheck{Name: "m", Revision: 1})
	again.Idempotency = key
	wantDuplicate(t, "stored key and stale check", s.Commit(ctx(t), again))
	if _, err := s.GetAlias(ctx(t), "m", "again"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("a duplicate request wrote its alias: %v", err)
	}
}

// BenchmarkCheckedCommit measures what a model check adds to a Change:
// the same Change (an alias, its audit entry and event) committed
// without one (sub-benchmark plain, the baseline of the same run) and
// with a check of its model's revision (checked), as the service commits
// writes that do not write the model.
func BenchmarkCheckedCommit(b *testing.B, s registry.Store) {
	if err := s.Commit(b.Context(), &registry.Change{Models: []registry.Model{model("m")}}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		checks []registry.ModelCheck
	}{{"plain", nil}, {"checked", []registry.ModelCheck{{Name: "m", Revision: 1}}}} {
		i := 0 // alias names stay unique across runs of a sub-benchmark
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				i++
				n := now()
				ch := &registry.Change{CheckedModels: bc.checks,
					Aliases: []registry.Alias{alias("m", bc.name+strconv.Itoa(i), 1)},
					Audit:   []registry.AuditEntry{auditEntry(registry.NewID(n), "m", 1, registry.ActionAliasSet, n)},
					Events:  []registry.Event{event(registry.NewID(n), n)}}
				if err := s.Commit(b.Context(), ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
