package registry_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

func newPolicyService(t *testing.T) (*registry.Service, *sqlite.Store, context.Context) {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fs, err := filesystem.New(t.TempDir(), "http://127.0.0.1:1", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: fs, Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "root", Role: registry.RoleAdmin})
	if _, err := svc.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	return svc, store, ctx
}

func policyAudit(t *testing.T, store registry.Store, ctx context.Context) []registry.AuditEntry {
	t.Helper()
	p, err := store.ListAudit(ctx, registry.AuditQuery{Model: "fraud", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []registry.AuditEntry
	for _, a := range p.Items {
		if a.Action == registry.ActionPolicyChanged {
			out = append(out, a)
		}
	}
	// Oldest first, whatever order the store lists them in.
	slices.SortFunc(out, func(a, b registry.AuditEntry) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func TestGetPolicyDefault(t *testing.T) {
	svc, _, ctx := newPolicyService(t)
	p, err := svc.GetPolicy(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if p.Approval != registry.ApprovalManual || p.ApprovalsRequired != 1 || p.RollbackRole != registry.RoleApprover ||
		p.Approvers == nil || p.Metrics == nil || p.MustBeatProduction == nil || p.RequireCommit || p.RequireCleanTree {
		t.Fatalf("default policy = %+v", p)
	}
	if _, err := svc.GetPolicy(ctx, "nope"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("GetPolicy of an unknown model: %v, want NotFound", err)
	}
}

func TestSetPolicy(t *testing.T) {
	svc, store, ctx := newPolicyService(t)
	want := registry.Policy{
		Approval: registry.ApprovalAuto, ApprovalsRequired: 2, Approvers: []string{"alice", "group:leads"},
		Metrics:            []registry.MetricRule{{Metric: "accuracy", Op: registry.OpGE, Value: 0.9}, {Metric: "latency_ms", Op: registry.OpLE, Value: 50}},
		MustBeatProduction: []string{"accuracy"}, RequireCommit: true, RequireCleanTree: true, RollbackRole: registry.RolePublisher,
	}
	got, err := svc.SetPolicy(ctx, "fraud", want)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Fatalf("SetPolicy returned %s; want %s", got, want)
	}
	read, err := svc.GetPolicy(ctx, "fraud")
	if err != nil || read.String() != want.String() {
		t.Fatalf("GetPolicy after set = %s, %v; want %s", read, err, want)
	}
	m, err := svc.GetModel(ctx, "fraud")
	if err != nil || m.Revision != 2 || m.Policy.ApprovalsRequired != 2 {
		t.Fatalf("model after SetPolicy: %+v, %v", m, err)
	}
	audit := policyAudit(t, store, ctx)
	if len(audit) != 1 {
		t.Fatalf("%d policy audit entries; want 1", len(audit))
	}
	a := audit[0]
	if a.Actor != "root" || a.Version != 0 ||
		a.Details["old"] != (registry.Policy{}).String() || a.Details["new"] != want.String() ||
		a.Details["changed"] != "approval,approvals_required,approvers,metrics,must_beat_production,require_commit,require_clean_tree,rollback_role" {
		t.Fatalf("audit entry = %+v", a)
	}

	// Setting the same policy again writes nothing.
	if _, err := svc.SetPolicy(ctx, "fraud", want); err != nil {
		t.Fatal(err)
	}
	if n := len(policyAudit(t, store, ctx)); n != 1 {
		t.Fatalf("an unchanged policy added an audit entry (%d)", n)
	}

	// Set replaces the whole policy: what is left out returns to its default.
	got, err = svc.SetPolicy(ctx, "fraud", registry.Policy{RequireCommit: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Approval != registry.ApprovalManual || got.ApprovalsRequired != 1 || len(got.Metrics) != 0 || !got.RequireCommit || got.RollbackRole != registry.RoleApprover {
		t.Fatalf("replaced policy = %+v", got)
	}
	audit = policyAudit(t, store, ctx)
	if len(audit) != 2 || audit[1].Details["old"] != want.String() ||
		audit[1].Details["changed"] != "approval,approvals_required,approvers,metrics,must_beat_production,require_clean_tree,rollback_role" {
		t.Fatalf("second audit entry = %+v", audit)
	}

	// Back to the default: the stored model holds the zero policy again.
	if _, err := svc.SetPolicy(ctx, "fraud", registry.Policy{}); err != nil {
		t.Fatal(err)
	}
	if m, _ := store.GetModel(ctx, "fraud"); m.Policy.RequireCommit || m.Policy.Approval != "" || m.Policy.ApprovalsRequired != 0 {
		t.Fatalf("a default policy is not stored as the zero policy: %+v", m.Policy)
	}
}

func TestSetPolicyRefusesBadInput(t *testing.T) {
	svc, store, ctx := newPolicyService(t)
	for _, tc := range []struct {
		p   registry.Policy
		err string
	}{
		{registry.Policy{Approval: "sometimes"}, "unknown approval mode"},
		{registry.Policy{ApprovalsRequired: 6}, "between 1 and 5"},
		{registry.Policy{Metrics: []registry.MetricRule{{Metric: "a", Op: "~", Value: 1}}}, "unknown operator"},
		{registry.Policy{Metrics: []registry.MetricRule{{Op: ">=", Value: 1}}}, "names no metric"},
		{registry.Policy{MustBeatProduction: []string{""}}, "empty metric name"},
		{registry.Policy{RollbackRole: registry.RoleReader}, "use approver or publisher"},
	} {
		if _, err := svc.SetPolicy(ctx, "fraud", tc.p); !registry.IsCode(err, registry.Invalid) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("SetPolicy(%+v) = %v; want Invalid containing %q", tc.p, err, tc.err)
		}
	}
	if _, err := svc.SetPolicy(ctx, "nope", registry.Policy{}); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("SetPolicy on an unknown model: %v; want NotFound", err)
	}
	m, err := store.GetModel(ctx, "fraud")
	if err != nil || m.Revision != 1 || len(policyAudit(t, store, ctx)) != 0 {
		t.Fatalf("refused policies changed the model: %+v, %v", m, err)
	}
}

// TestSetPolicyKeepsConcurrentModelChanges races policy changes against
// description updates: every write lands, none is lost.
func TestSetPolicyKeepsConcurrentModelChanges(t *testing.T) {
	svc, store, ctx := newPolicyService(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := svc.SetPolicy(ctx, "fraud", registry.Policy{ApprovalsRequired: 1 + i%5, RequireCommit: true})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			d := "d"
			_, err := svc.UpdateModel(ctx, "fraud", registry.ModelPatch{Description: &d})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, err := svc.GetModel(ctx, "fraud")
	if err != nil {
		t.Fatal(err)
	}
	if m.Description != "d" || !m.Policy.RequireCommit {
		t.Fatalf("a concurrent write was lost: %+v", m)
	}
	// Each policy write that changed something is one audit entry and one revision.
	updates := 10
	if got := int(m.Revision) - 1 - updates; got != len(policyAudit(t, store, ctx)) {
		t.Fatalf("revision %d: %d policy writes, %d policy audit entries", m.Revision, got, len(policyAudit(t, store, ctx)))
	}
}
