package dynamodb

import (
	"testing"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestModelWithoutStoredPolicy reads a model item as tables written before
// policies existed hold it (no policy attribute): it has the zero policy,
// and a policy can then be set on it. A zero policy is not written at all.
func TestModelWithoutStoredPolicy(t *testing.T) {
	s, c := newStore(t)
	key := wire.Item{"pk": strAV(modelPK("old")), "sk": strAV(skModel)}
	item := wire.Item{
		"pk": strAV(modelPK("old")), "sk": strAV(skModel), "kind": strAV(kindModel),
		"gsi1pk": strAV(modelsPartition), "gsi1sk": strAV("old"), "name": strAV("old"), "owner": strAV("alice"),
		"latest_version": wire.N("2"), "created_at": strAV(timeKey(t0)),
		"updated_at": strAV(timeKey(t0)), "revision": wire.N("4"),
	}
	if _, err := c.PutItem(t.Context(), &wire.PutItemInput{TableName: s.table, Item: item}); err != nil {
		t.Fatal(err)
	}
	m, err := s.GetModel(t.Context(), "old")
	if err != nil {
		t.Fatalf("GetModel: %v", err)
	}
	if !m.Policy.IsDefault() || m.Policy.Approvers != nil || m.Policy.Metrics != nil || m.LatestVersion != 2 {
		t.Fatalf("legacy model = %+v; want the zero policy", m)
	}
	m.Policy = registry.Policy{ApprovalsRequired: 2, Metrics: []registry.MetricRule{{Metric: "acc", Op: registry.OpGE, Value: 0.9}}}
	m.Revision = 5
	commit(t, s, &registry.Change{Models: []registry.Model{m}})
	got, err := s.GetModel(t.Context(), "old")
	if err != nil || got.Policy.ApprovalsRequired != 2 || len(got.Policy.Metrics) != 1 || got.Policy.Metrics[0] != m.Policy.Metrics[0] {
		t.Fatalf("after setting a policy: %+v, %v", got.Policy, err)
	}
	m.Policy, m.Revision = registry.Policy{}, 6
	commit(t, s, &registry.Change{Models: []registry.Model{m}})
	out, err := c.GetItem(t.Context(), &wire.GetItemInput{TableName: s.table, Key: key, ConsistentRead: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item["policy"]; ok {
		t.Fatalf("a zero policy is stored: %v", out.Item["policy"])
	}
}
