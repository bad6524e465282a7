package sqlite

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestModelWithoutStoredPolicy reads a model row as databases written
// before policies existed hold it (no "policy" in the body): it has the
// zero policy, and a policy can then be set on it. A zero policy is not
// written at all.
func TestModelWithoutStoredPolicy(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "p.db"))
	body := `{"name":"old","owner":"alice","latest_version":2,"production_version":1,"created_by":"alice","created_at":"2025-06-01T12:00:00Z","updated_at":"2025-06-01T12:00:00Z","revision":4}`
	if _, err := s.w.Exec(`INSERT INTO models (name, revision, body) VALUES (?, ?, ?)`, "old", 4, body); err != nil {
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
	if err := s.Commit(t.Context(), &registry.Change{Models: []registry.Model{m}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	got, err := s.GetModel(t.Context(), "old")
	if err != nil || got.Policy.ApprovalsRequired != 2 || len(got.Policy.Metrics) != 1 || got.Policy.Metrics[0] != m.Policy.Metrics[0] {
		t.Fatalf("after setting a policy: %+v, %v", got.Policy, err)
	}
	m.Policy, m.Revision = registry.Policy{}, 6
	if err := s.Commit(t.Context(), &registry.Change{Models: []registry.Model{m}}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var stored string
	if err := s.w.QueryRow(`SELECT body FROM models WHERE name = 'old'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored, "policy") {
		t.Fatalf("a zero policy is stored: %s", stored)
	}
}
