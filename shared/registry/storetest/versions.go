package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

var versionListTests = []test{
	{"FiltersAndPages", withStore(testListVersions)},
	{"CommitPrefixIsNotOnlyHex", withStore(testCommitPrefixNames)},
}

// testCommitPrefixNames: lineage.code.commit may hold any revision name
// (a tag, a branch); 7 or more characters match as a prefix whatever they
// are, fewer match exactly.
func testCommitPrefixNames(t *testing.T, s registry.Store) {
	ctx := context.Background()
	m := model("names")
	m.LatestVersion = 3
	commits := []string{"release-2024-11", "release-2024-12", "release"}
	ch := &registry.Change{Models: []registry.Model{m}}
	for i, c := range commits {
		v := version("names", i+1)
		v.Lineage.Code.Commit = c
		ch.Versions = append(ch.Versions, v)
	}
	if err := s.Commit(ctx, ch); err != nil {
		t.Fatal(err)
	}
	for filter, want := range map[string][]int{
		"release":         {3, 2, 1}, // 7 characters: a prefix of all three
		"release-2024-1":  {2, 1},
		"release-2024-11": {1},
		"releas":          {}, // 6 characters: exact only
		"Release":         {}, // case-sensitive
	} {
		p, err := s.ListVersions(ctx, registry.VersionQuery{Model: "names", GitCommit: filter, Limit: 10})
		if err != nil {
			t.Fatalf("filter %q: %v", filter, err)
		}
		var got []int
		for _, v := range p.Items {
			got = append(got, v.Number)
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("GitCommit %q: versions %v, want %v", filter, got, want)
		}
	}
}

// Commits of the filter fixtures: A and B share a 7-digit prefix, C shares
// only 6 digits with them, and one version's whole commit is those 6
// digits.
const (
	commitA     = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
	commitB     = "a1b2c3d9ffffffffffffffffffffffffffffffff"
	commitC     = "a1b2c3e000000000000000000000000000000000"
	commitD     = "0123456789abcdef0123456789abcdef01234567"
	commitShort = "a1b2c3"
)

// filterVersion returns version n of model with stage, status, tags and
// lineage varying with n, so that every filter and combination selects a
// different subset.
func filterVersion(model string, n int) registry.Version {
	v := version(model, n)
	v.Stage = []registry.Stage{registry.StageNone, registry.StageStaging, registry.StageArchived, registry.StageProduction}[n%4]
	v.Status = []registry.Status{registry.StatusReady, registry.StatusPendingUpload, registry.StatusFailed}[n%3]
	v.Tags = map[string]string{"team": "b"}
	if n%2 == 0 {
		v.Tags["team"] = "a"
	}
	switch {
	case n%5 == 0:
		v.Tags["gpu"] = "true"
	case n%7 == 0:
		v.Tags["gpu"] = "false"
	}
	if n%3 == 0 {
		v.Tags["owner"] = "a" // same value as team=a, other key
	}
	v.Lineage.Code.Commit = []string{commitA, commitB, commitC, commitD, ""}[(n/2)%5]
	if n == 13 {
		v.Lineage.Code.Commit = commitShort
	}
	if n%6 != 5 {
		v.Lineage.Data.DatasetID = fmt.Sprintf("ds-%d", n%3)
	}
	v.Lineage.Run.RunID = fmt.Sprintf("run-%d", n/10)
	return v
}

// matches is the reference semantics of VersionQuery's filters.
func matches(v registry.Version, q registry.VersionQuery) bool {
	if q.Stage != "" && v.Stage != q.Stage || q.Status != "" && v.Status != q.Status {
		return false
	}
	if q.TagKey != "" {
		val, ok := v.Tags[q.TagKey]
		if !ok || q.TagValue != "" && val != q.TagValue {
			return false
		}
	}
	if q.GitCommit != "" && !registry.MatchCommit(v.Lineage.Code.Commit, q.GitCommit) {
		return false
	}
	return (q.DatasetID == "" || v.Lineage.Data.DatasetID == q.DatasetID) && (q.RunID == "" || v.Lineage.Run.RunID == q.RunID)
}

func testListVersions(t *testing.T, s registry.Store) {
	c := ctx(t)
	const n = 40
	var ch registry.Change
	versions := map[int]registry.Version{}
	// Written out of order, in several Changes, next to other models whose
	// names share a prefix with "m" and whose versions match the same
	// filters.
	for _, other := range []string{"m1", "mm", "a"} {
		for i := 1; i <= 12; i++ {
			ch.Versions = append(ch.Versions, filterVersion(other, i))
		}
	}
	for i := n; i >= 1; i -= 2 {
		versions[i] = filterVersion("m", i)
		ch.Versions = append(ch.Versions, versions[i])
	}
	commit(t, s, &ch)
	ch = registry.Change{}
	for i := 1; i <= n; i += 2 {
		versions[i] = filterVersion("m", i)
		ch.Versions = append(ch.Versions, versions[i])
	}
	commit(t, s, &ch)

	// Updates move versions in and out of every filter: an adapter that
	// keeps stale index entries lists them where they no longer belong.
	v10 := versions[10]
	v10.Stage, v10.Status, v10.Tags = registry.StageStaging, registry.StatusReady, map[string]string{"team": "c"}
	v10.Lineage.Code.Commit, v10.Lineage.Data.DatasetID, v10.Lineage.Run.RunID = commitD, "ds-9", "run-9"
	v11 := versions[11]
	v11.Tags = map[string]string{"team": "b", "late": "x", "gpu": "true"}
	v12 := versions[12]
	v12.Tags = nil
	ch = registry.Change{}
	for _, v := range []registry.Version{v10, v11, v12} {
		v.Revision = 2
		versions[v.Number] = v
		ch.Versions = append(ch.Versions, v)
	}
	commit(t, s, &ch)

	all := make([]registry.Version, 0, n)
	for i := n; i >= 1; i-- {
		all = append(all, versions[i])
	}
	p, err := s.ListVersions(c, registry.VersionQuery{Model: "m", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "ListVersions(m) (highest number first)", p.Items, all)

	queries := []struct {
		q     registry.VersionQuery
		empty bool // the filter must select nothing
	}{
		{q: registry.VersionQuery{}},
		{q: registry.VersionQuery{Stage: registry.StageStaging}},
		{q: registry.VersionQuery{Stage: registry.StageProduction}},
		{q: registry.VersionQuery{Stage: registry.StageNone}},
		{q: registry.VersionQuery{Stage: "Retired"}, empty: true},
		{q: registry.VersionQuery{Status: registry.StatusReady}},
		{q: registry.VersionQuery{Status: registry.StatusFailed}},
		{q: registry.VersionQuery{TagKey: "team"}},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "a"}},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "c"}},
		{q: registry.VersionQuery{TagKey: "gpu"}},
		{q: registry.VersionQuery{TagKey: "gpu", TagValue: "false"}},
		{q: registry.VersionQuery{TagKey: "owner", TagValue: "a"}},
		{q: registry.VersionQuery{TagKey: "late"}},
		{q: registry.VersionQuery{TagKey: "a"}, empty: true},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "z"}, empty: true},
		{q: registry.VersionQuery{GitCommit: commitA}},
		{q: registry.VersionQuery{GitCommit: commitD}},
		{q: registry.VersionQuery{GitCommit: commitA[:7]}},          // A and B
		{q: registry.VersionQuery{GitCommit: commitC[:7]}},          // C only
		{q: registry.VersionQuery{GitCommit: commitD[:12]}},         // D
		{q: registry.VersionQuery{GitCommit: commitShort}},          // exact: only version 13, not A, B or C
		{q: registry.VersionQuery{GitCommit: "a1b2c"}, empty: true}, // 5 digits: no prefix match
		{q: registry.VersionQuery{GitCommit: commitA + "0"}, empty: true},
		{q: registry.VersionQuery{DatasetID: "ds-1"}},
		{q: registry.VersionQuery{DatasetID: "ds-9"}},
		{q: registry.VersionQuery{RunID: "run-2"}},
		{q: registry.VersionQuery{RunID: "run-9"}},
		{q: registry.VersionQuery{Stage: registry.StageStaging, Status: registry.StatusReady}},
		{q: registry.VersionQuery{Stage: registry.StageNone, TagKey: "team", TagValue: "a"}},
		{q: registry.VersionQuery{Status: registry.StatusReady, TagKey: "gpu"}},
		{q: registry.VersionQuery{GitCommit: commitA[:7], DatasetID: "ds-0"}},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "b", RunID: "run-1", Status: registry.StatusPendingUpload}},
		{q: registry.VersionQuery{Stage: registry.StageArchived, Status: registry.StatusFailed, TagKey: "team",
			GitCommit: commitB, DatasetID: "ds-2", RunID: "run-0"}},
	}
	for _, tc := range queries {
		q := tc.q
		q.Model = "m"
		var want []int
		for _, v := range all {
			if matches(v, q) {
				want = append(want, v.Number)
			}
		}
		if (len(want) == 0) != tc.empty {
			t.Fatalf("fixture problem: query %+v selects %v", q, want)
		}
		for _, limit := range []int{1000, 3, 1} {
			what := fmt.Sprintf("ListVersions(%+v, limit %d)", q, limit)
			got := collect(t, what, limit, func(cursor string) (registry.Page[registry.Version], error) {
				q := q
				q.Cursor, q.Limit = cursor, limit
				return s.ListVersions(c, q)
			})
			var gotNumbers []int
			for _, v := range got {
				if v.Model != "m" {
					t.Fatalf("%s: listed version %d of model %q", what, v.Number, v.Model)
				}
				gotNumbers = append(gotNumbers, v.Number)
			}
			if !slices.Equal(gotNumbers, want) {
				t.Errorf("%s:\n got %v\nwant %v", what, gotNumbers, want)
			}
		}
	}

	p, err = s.ListVersions(c, registry.VersionQuery{Model: "nomodel", Limit: 10})
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Errorf("ListVersions of a model without versions: got %v, next %q, %v; want an empty last page", p.Items, p.Next, err)
	}
	wantInvalidCursor(t, "ListVersions", func(cursor string) (registry.Page[registry.Version], error) {
		return s.ListVersions(c, registry.VersionQuery{Model: "m", Cursor: cursor, Limit: 10})
	})
}
