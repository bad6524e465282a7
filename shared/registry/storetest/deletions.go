package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var deletionTests = []test{
	{"TombstonesListedOnlyWhenAsked", withStore(testTombstones)},
}

// testTombstones: a deleted version keeps its record (so its number is
// never reused) with who deleted it, when and why, exactly; listings leave
// it out unless IncludeDeleted or Status DELETED asks for it, and pages
// stay full around it.
func testTombstones(t *testing.T, s registry.Store) {
	m := model("graves")
	m.LatestVersion = 6
	ch := &registry.Change{Models: []registry.Model{m}}
	for n := 1; n <= 6; n++ {
		v := version("graves", n)
		v.Stage = registry.StageStaging
		v.Tags = map[string]string{"team": "a"}
		v.Lineage.Run.RunID = "run-1"
		ch.Versions = append(ch.Versions, v)
	}
	commit(t, s, ch)
	tombs := &registry.Change{}
	for _, n := range []int{2, 5, 6} {
		v := version("graves", n)
		v.Stage = registry.StageStaging
		v.Tags = map[string]string{"team": "a"}
		v.Lineage.Run.RunID = "run-1"
		when := at(time.Hour)
		v.Status, v.Deleted, v.DeletedBy, v.DeletedAt, v.DeleteReason = registry.StatusDeleted, true, "ciso", &when, "leaked data: ñ"
		v.UpdatedAt, v.Revision = when, 2
		tombs.Versions = append(tombs.Versions, v)
	}
	commit(t, s, tombs)
	got, err := s.GetVersion(ctx(t), "graves", 5)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "tombstone", got, tombs.Versions[1])

	list := func(q registry.VersionQuery) []int {
		t.Helper()
		q.Model = "graves"
		var out []int
		for {
			q.Limit = 2
			p, err := s.ListVersions(ctx(t), q)
			if err != nil {
				t.Fatalf("ListVersions %+v: %v", q, err)
			}
			if p.Next != "" && len(p.Items) != q.Limit {
				t.Fatalf("ListVersions %+v: a page of %d before the last, want %d", q, len(p.Items), q.Limit)
			}
			for _, v := range p.Items {
				out = append(out, v.Number)
			}
			if p.Next == "" {
				return out
			}
			q.Cursor = p.Next
		}
	}
	for _, c := range []struct {
		q    registry.VersionQuery
		want []int
	}{
		{registry.VersionQuery{}, []int{4, 3, 1}},
		{registry.VersionQuery{IncludeDeleted: true}, []int{6, 5, 4, 3, 2, 1}},
		{registry.VersionQuery{Status: registry.StatusDeleted}, []int{6, 5, 2}},
		{registry.VersionQuery{Stage: registry.StageStaging}, []int{4, 3, 1}},
		{registry.VersionQuery{Stage: registry.StageStaging, IncludeDeleted: true}, []int{6, 5, 4, 3, 2, 1}},
		{registry.VersionQuery{TagKey: "team", TagValue: "a"}, []int{4, 3, 1}},
		{registry.VersionQuery{RunID: "run-1"}, []int{4, 3, 1}},
		{registry.VersionQuery{Status: registry.StatusReady}, []int{4, 3, 1}},
	} {
		if got := list(c.q); !slices.Equal(got, c.want) {
			t.Errorf("ListVersions %s = %v, want %v", fmt.Sprintf("%+v", c.q), got, c.want)
		}
	}
}
