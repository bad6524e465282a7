package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestListVersionsReadsAnIndexRange checks the query plans of version
// listings: each reads an index range in number order (no table scan, no
// sort), so a page costs its size however many versions the model has.
// The one exception is a git commit prefix, a range of commits whose few
// versions are sorted.
func TestListVersionsReadsAnIndexRange(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	cursor := encodeCursor(numberCursor{500})
	for _, tc := range []struct {
		q       registry.VersionQuery
		maySort bool
	}{
		{q: registry.VersionQuery{}},
		{q: registry.VersionQuery{Cursor: cursor}},
		{q: registry.VersionQuery{Stage: registry.StageStaging, Cursor: cursor}},
		{q: registry.VersionQuery{Status: registry.StatusReady, Cursor: cursor}},
		{q: registry.VersionQuery{TagKey: "team", Cursor: cursor}},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "a", Cursor: cursor}},
		{q: registry.VersionQuery{TagKey: "team", TagValue: "a", Stage: registry.StageStaging}},
		{q: registry.VersionQuery{GitCommit: "0123456789abcdef0123456789abcdef01234567", Cursor: cursor}},
		{q: registry.VersionQuery{GitCommit: "abc"}},
		{q: registry.VersionQuery{DatasetID: "ds", Cursor: cursor}},
		{q: registry.VersionQuery{RunID: "run", Cursor: cursor}},
		{q: registry.VersionQuery{Stage: registry.StageStaging, Status: registry.StatusReady}},
		{q: registry.VersionQuery{GitCommit: "0123456"}, maySort: true},
	} {
		q := tc.q
		q.Model, q.Limit = "m", 100
		query, args, err := versionsSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if !strings.HasPrefix(step, "SEARCH") && !(tc.maySort && strings.Contains(step, "TEMP B-TREE")) {
				t.Errorf("%+v: plan %q: step %q is not an index search", q, plan, step)
			}
		}
	}
}
