// Package trackingtest is the contract suite of tracking.Store. The SQLite
// and DynamoDB stores run it from their tests:
//
//	trackingtest.Run(t, func(t *testing.T) tracking.Store { return open(t) })
package trackingtest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// Run runs the suite; newStore returns a fresh, empty store per call.
func Run(t *testing.T, newStore func(t *testing.T) tracking.Store) {
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		r := tracking.Record{Kind: "run", ID: "r1", Parent: "0", Sort: "a", Revision: 1, Body: []byte(`{"x":1}`)}
		if err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, "run", "r1")
		if err != nil || string(got.Body) != `{"x":1}` || got.Revision != 1 || got.Parent != "0" || got.Sort != "a" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if err := s.Write(ctx, r); !stale(err) {
			t.Fatalf("second create: %v, want Conflict wrapping ErrStale", err)
		}
		r.Revision, r.Body = 3, []byte(`{"x":3}`)
		if err := s.Write(ctx, r); !stale(err) {
			t.Fatalf("update skipping a revision: %v, want stale", err)
		}
		r.Revision, r.Body = 2, []byte(`{"x":2}`)
		if err := s.Write(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, r); !stale(err) {
			t.Fatalf("replayed update: %v, want stale", err)
		}
		if got, _ := s.Get(ctx, "run", "r1"); string(got.Body) != `{"x":2}` || got.Revision != 2 {
			t.Fatalf("after update: %+v", got)
		}
		if _, err := s.Get(ctx, "run", "nope"); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("missing: %v", err)
		}
		if _, err := s.Get(ctx, "experiment", "r1"); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("same id, other kind: %v", err)
		}
		up := tracking.Record{Kind: "run", ID: "new", Revision: 2, Body: []byte(`{}`)}
		if err := s.Write(ctx, up); !stale(err) {
			t.Fatalf("update of a missing record: %v", err)
		}
		moved := tracking.Record{Kind: "run", ID: "r1", Parent: "1", Sort: "a", Revision: 3, Body: []byte(`{}`)}
		if err := s.Write(ctx, moved); !registry.IsCode(err, registry.Invalid) {
			t.Fatalf("changed parent: %v, want Invalid", err)
		}
	})
	t.Run("Unconditional", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for i := range 3 {
			r := tracking.Record{Kind: "artifact", ID: "a/b", Parent: "a", Sort: "b", Body: fmt.Appendf(nil, `{"n":%d}`, i)}
			if err := s.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.Get(ctx, "artifact", "a/b"); string(got.Body) != `{"n":2}` {
			t.Fatalf("got %s", got.Body)
		}
	})
	t.Run("Atomic", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		if err := s.Write(ctx, tracking.Record{Kind: "experiment_name", ID: "taken", Revision: 1, Body: []byte(`"1"`)}); err != nil {
			t.Fatal(err)
		}
		err := s.Write(ctx,
			tracking.Record{Kind: "experiment", ID: "2", Revision: 1, Body: []byte(`{}`)},
			tracking.Record{Kind: "experiment_name", ID: "taken", Revision: 1, Body: []byte(`"2"`)})
		if !stale(err) {
			t.Fatalf("write with one failing condition: %v", err)
		}
		if _, err := s.Get(ctx, "experiment", "2"); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("a record of a failed write was stored: %v", err)
		}
		if got, _ := s.Get(ctx, "experiment_name", "taken"); string(got.Body) != `"1"` {
			t.Fatalf("name record changed: %s", got.Body)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for name, recs := range map[string][]tracking.Record{
			"none":     nil,
			"empty id": {{Kind: "run", Revision: 1}},
			"hash":     {{Kind: "run", ID: "a#b", Revision: 1}},
			"big body": {{Kind: "run", ID: "x", Revision: 1, Body: make([]byte, tracking.MaxBodyBytes+1)}},
			"negative": {{Kind: "run", ID: "x", Revision: -1}},
			"twice":    {{Kind: "run", ID: "x", Revision: 1}, {Kind: "run", ID: "x", Revision: 0}},
			"too many": make([]tracking.Record, tracking.MaxWrite+1),
		} {
			if err := s.Write(ctx, recs...); !registry.IsCode(err, registry.Invalid) {
				t.Errorf("%s: %v, want Invalid", name, err)
			}
		}
		if _, err := s.List(ctx, "run", "", "", 0); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("limit 0: %v", err)
		}
		if _, err := s.List(ctx, "run", "", "garbage!", 10); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("bad cursor: %v", err)
		}
	})
	t.Run("ListPages", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		const n = 23
		for i := range n {
			// Sort keys collide in pairs; ids break the tie.
			r := tracking.Record{Kind: "artifact", ID: fmt.Sprintf("dir/f%02d", i), Parent: "dir", Sort: fmt.Sprintf("s%02d", i/2), Revision: 1, Body: []byte(`{}`)}
			if err := s.Write(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for _, other := range []tracking.Record{
			{Kind: "artifact", ID: "dir2/x", Parent: "dir2", Sort: "a", Revision: 1},
			{Kind: "artifact", ID: "dirx", Parent: "", Sort: "dirx", Revision: 1},
			{Kind: "run", ID: "dir-run", Parent: "dir", Sort: "a", Revision: 1},
		} {
			if err := s.Write(ctx, other); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		cursor := ""
		pages := 0
		for {
			p, err := s.List(ctx, "artifact", "dir", cursor, 5)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if p.Next != "" && len(p.Items) != 5 {
				t.Fatalf("page %d has %d items and a next page", pages, len(p.Items))
			}
			for _, r := range p.Items {
				ids = append(ids, r.ID)
				if r.Kind != "artifact" || r.Parent != "dir" {
					t.Fatalf("listed %+v", r)
				}
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		want := make([]string, n)
		for i := range n {
			want[i] = fmt.Sprintf("dir/f%02d", i)
		}
		if strings.Join(ids, ",") != strings.Join(want, ",") || pages != 5 {
			t.Fatalf("listed %d pages: %v", pages, ids)
		}
		if p, err := s.List(ctx, "artifact", "nothing", "", 10); err != nil || len(p.Items) != 0 || p.Next != "" {
			t.Fatalf("empty parent: %+v %v", p, err)
		}
	})
	t.Run("ConcurrentCreate", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Write(ctx, tracking.Record{Kind: "counter", ID: "c", Revision: 1, Body: fmt.Appendf(nil, "%d", i)})
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !stale(err) && !registry.IsCode(err, registry.Unavailable) {
					t.Errorf("racing create: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d racing creates succeeded, want 1", won)
		}
	})
}

func stale(err error) bool {
	return registry.IsCode(err, registry.Conflict) && errors.Is(err, registry.ErrStale)
}
