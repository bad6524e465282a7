package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestDiff checks the suite's comparison: if it let differences through,
// every round-trip check would pass whatever a store returned.
func TestDiff(t *testing.T) {
	_, v, _, ap, ex, _, _, _ := fullRecords()
	paris := time.FixedZone("CEST", 2*3600)
	for _, tc := range []struct {
		name   string
		change func(v *registry.Version, ap *registry.Approval, ex *registry.Execution)
		want   string // a fragment of the reported path; "" for no difference
	}{
		{"same", func(*registry.Version, *registry.Approval, *registry.Execution) {}, ""},
		{"emptied map", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			v.Params, v.Artifacts = map[string]string{}, nil
		}, "Params"},
		{"string", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) { v.Description += "x" }, "Description"},
		{"map value", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) { v.Params["lr"] = "1" }, "Params[lr]"},
		{"extra key", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) { v.Tags["new"] = "" }, "unexpected key new"},
		{"nested metric time", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			m := v.Metrics["auc"]
			m.RecordedAt = m.RecordedAt.Add(time.Microsecond)
			v.Metrics["auc"] = m
		}, "Metrics[auc].RecordedAt"},
		{"same instant, other zone", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			v.CreatedAt = v.CreatedAt.In(paris)
		}, "want UTC"},
		{"pointer time", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			v.Lineage.Run.EndedAt = ptr(v.Lineage.Run.EndedAt.Add(time.Second))
		}, "Lineage.Run.EndedAt"},
		{"nil pointer", func(_ *registry.Version, ap *registry.Approval, _ *registry.Execution) { ap.DecidedAt = nil }, "DecidedAt"},
		{"hidden token", func(_ *registry.Version, ap *registry.Approval, _ *registry.Execution) { ap.TaskToken = "" }, "TaskToken"},
		{"bytes", func(_ *registry.Version, _ *registry.Approval, ex *registry.Execution) {
			ex.Input = []byte(`{"approval_id":""}`)
		}, "Input"},
		{"slice element", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			v.Artifacts = []registry.Artifact{v.Artifacts[1], v.Artifacts[0]}
		}, "Artifacts[0].Path"},
		{"float", func(v *registry.Version, _ *registry.Approval, _ *registry.Execution) {
			m := v.Metrics["auc"]
			m.Value = 0.3
			v.Metrics["auc"] = m
		}, "Metrics[auc].Value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, gv, _, gap, gex, _, _, _ := fullRecords()
			gv.Params, gv.Tags = clone(gv.Params), clone(gv.Tags)
			gv.Metrics = clone(gv.Metrics)
			tc.change(&gv, &gap, &gex)
			d := diff([]any{gv, gap, gex}, []any{v, ap, ex})
			switch {
			case tc.want == "" && len(d) > 0:
				t.Errorf("diff reported %q, want nothing", d)
			case tc.want != "" && !strings.Contains(strings.Join(d, "\n"), tc.want):
				t.Errorf("diff reported %q, want a difference at %q", d, tc.want)
			}
		})
	}
}

// TestDiffNilEmpty: nil and empty maps and slices are the same record.
func TestDiffNilEmpty(t *testing.T) {
	got := registry.Version{Params: map[string]string{}, Artifacts: []registry.Artifact{}}
	if d := diff(got, registry.Version{}); len(d) > 0 {
		t.Errorf("empty vs nil: %q", d)
	}
	if d := diff(registry.Execution{}, registry.Execution{Input: []byte{}}); len(d) > 0 {
		t.Errorf("nil vs empty bytes: %q", d)
	}
}

func clone[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
