package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// collect reads every page of a listing with the given limit and checks
// the paging rules: every page but the last is full, the last one has
// Next == "" (and is not an empty page after a full one), and the listing
// ends.
func collect[T any](t *testing.T, what string, limit int, list func(cursor string) (registry.Page[T], error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for pages := 1; ; pages++ {
		p, err := list(cursor)
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, pages, err)
		}
		if len(p.Items) > limit {
			t.Fatalf("%s: page %d has %d items, limit %d", what, pages, len(p.Items), limit)
		}
		if pages > 1 && len(p.Items) == 0 {
			t.Fatalf("%s: page %d is empty: the page before it should have had Next == \"\"", what, pages)
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all
		}
		if len(p.Items) < limit {
			t.Fatalf("%s: page %d has %d items (limit %d) but a Next cursor", what, pages, len(p.Items), limit)
		}
		if pages > 10000 {
			t.Fatalf("%s: does not end", what)
		}
		cursor = p.Next
	}
}

// wantInvalidCursor checks that a listing refuses cursors it did not make.
func wantInvalidCursor[T any](t *testing.T, what string, list func(cursor string) (registry.Page[T], error)) {
	t.Helper()
	for _, c := range []string{"garbage", "%%%", "eyJub3QiOiJhIGN1cnNvciJ9", "\x00"} {
		_, err := list(c)
		wantCode(t, fmt.Sprintf("%s with cursor %q", what, c), err, registry.Invalid)
	}
}

var modelListTests = []test{
	{"OrderPrefixPages", withStore(testListModels)},
}

func testListModels(t *testing.T, s registry.Store) {
	c := ctx(t)
	// Byte order: upper case before lower case; '_' and '.' are not
	// wildcards.
	names := []string{"b", "a", "ab", "abc", "a_b", "axb", "a.b", "Zeta", "b-1", "ba", "c"}
	for i := range 14 {
		names = append(names, fmt.Sprintf("x%02d", i))
	}
	var ch registry.Change
	for _, n := range names {
		ch.Models = append(ch.Models, model(n))
	}
	commit(t, s, &ch)
	sorted := slices.Clone(names)
	slices.Sort(sorted)

	for _, q := range []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"a", []string{"a", "a.b", "a_b", "ab", "abc", "axb"}},
		{"ab", []string{"ab", "abc"}},
		{"a_", []string{"a_b"}},
		{"a.", []string{"a.b"}},
		{"b", []string{"b", "b-1", "ba"}},
		{"abc", []string{"abc"}},
		{"abcd", nil},
		{"Z", []string{"Zeta"}},
		{"z", nil},
		{"x1", []string{"x10", "x11", "x12", "x13"}},
	} {
		for _, limit := range []int{1000, 4, 3, 1} {
			what := fmt.Sprintf("ListModels(prefix %q, limit %d)", q.prefix, limit)
			got := collect(t, what, limit, func(cursor string) (registry.Page[registry.Model], error) {
				return s.ListModels(c, registry.ModelQuery{Prefix: q.prefix, Cursor: cursor, Limit: limit})
			})
			var gotNames []string
			for _, m := range got {
				gotNames = append(gotNames, m.Name)
			}
			if !slices.Equal(gotNames, q.want) {
				t.Errorf("%s: got %q, want %q", what, gotNames, q.want)
			}
		}
	}
	p, err := s.ListModels(c, registry.ModelQuery{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "ListModels first item", p.Items, []registry.Model{model(sorted[0])})
	wantInvalidCursor(t, "ListModels", func(cursor string) (registry.Page[registry.Model], error) {
		return s.ListModels(c, registry.ModelQuery{Cursor: cursor, Limit: 10})
	})
}

var aliasTests = []test{
	{"ListOrdered", withStore(testListAliases)},
}

func testListAliases(t *testing.T, s registry.Store) {
	c := ctx(t)
	want := []registry.Alias{alias("m", "alpha", 3), alias("m", "beta", 1), alias("m", "champion", 2), alias("m", "zulu", 2)}
	commit(t, s, &registry.Change{Aliases: []registry.Alias{want[2], alias("m2", "aaa", 1), want[0], want[3], alias("mm", "b", 1), want[1]}})
	got, err := s.ListAliases(c, "m")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "ListAliases(m)", got, want)
	got, err = s.ListAliases(c, "none")
	if err != nil || len(got) != 0 {
		t.Errorf("ListAliases of a model without aliases: got %v, %v; want none", got, err)
	}
	// A moved alias is listed with its new version, once.
	moved := want[0]
	moved.Version, moved.Revision = 9, 2
	commit(t, s, &registry.Change{Aliases: []registry.Alias{moved}})
	got, err = s.ListAliases(c, "m")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "ListAliases(m) after a move", got, append([]registry.Alias{moved}, want[1:]...))
}
