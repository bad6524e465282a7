package local_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/local"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

// The scenario table that shared/sfn runs on moto and engine_test.go runs
// with recording handlers, here on the local engine with the REAL task
// handlers: workflow.ServiceHandlers over a registry.Service on SQLite.
// Each scenario is driven the way a user (or a fault) drives the service,
// and must take the same path of states to the same outcome, leaving the
// registry in the state that outcome means.

// faultyStore fails the next commits that store a task token on an
// approval (what AwaitDecision writes) with err: a store fault in the
// middle of the real RequestApproval step.
type faultyStore struct {
	registry.Store
	mu    sync.Mutex
	left  int
	err   error
	fired atomic.Int32
}

func (s *faultyStore) Commit(ctx context.Context, ch *registry.Change) error {
	s.mu.Lock()
	fail := false
	if s.left > 0 && slices.ContainsFunc(ch.Approvals, func(a registry.Approval) bool { return a.TaskToken != "" }) {
		s.left--
		fail = true
	}
	s.mu.Unlock()
	if fail {
		s.fired.Add(1)
		return s.err
	}
	return s.Store.Commit(ctx, ch)
}

// recording calls the real handlers and records each call in rec (whose
// own answers are ignored), so workflowtest.Check can read them.
type recording struct {
	real workflow.Handlers
	rec  *workflowtest.Recorder
}

func (r recording) Validate(ctx context.Context, in workflow.ValidateInput) (workflow.ValidateOutput, error) {
	_, _ = r.rec.Validate(ctx, in)
	return r.real.Validate(ctx, in)
}

func (r recording) RequestApproval(ctx context.Context, in workflow.RequestApprovalInput) error {
	_ = r.rec.RequestApproval(ctx, in)
	return r.real.RequestApproval(ctx, in)
}

func (r recording) Promote(ctx context.Context, in workflow.PromoteInput) (workflow.PromoteOutput, error) {
	_, _ = r.rec.Promote(ctx, in)
	return r.real.Promote(ctx, in)
}

func (r recording) RecordOutcome(ctx context.Context, in workflow.OutcomeInput) error {
	_ = r.rec.RecordOutcome(ctx, in)
	return r.real.RecordOutcome(ctx, in)
}

// lateWorkflow lets the Service be built before the engine that calls it.
type lateWorkflow struct{ e *local.Engine }

func (w *lateWorkflow) StartPromotion(ctx context.Context, a registry.Approval) (string, error) {
	return w.e.StartPromotion(ctx, a)
}
func (w *lateWorkflow) SendTaskSuccess(ctx context.Context, token string, out []byte) error {
	return w.e.SendTaskSuccess(ctx, token, out)
}
func (w *lateWorkflow) SendTaskFailure(ctx context.Context, token, code, cause string) error {
	return w.e.SendTaskFailure(ctx, token, code, cause)
}

func principal(name string, role registry.Role) context.Context {
	return registry.WithPrincipal(context.Background(), registry.Principal{Name: name, Role: role})
}

func TestScenariosWithServiceHandlers(t *testing.T) {
	alice := principal("alice", registry.RolePublisher)
	bob := principal("bob", registry.RoleApprover)
	admin := principal("admin", registry.RoleAdmin)
	for _, sc := range workflowtest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			fs, err := filesystem.New(t.TempDir(), "http://127.0.0.1:1", []byte(strings.Repeat("s", 32)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fs.Close() })
			store := &faultyStore{Store: db}
			switch sc.Action {
			case workflowtest.TransientThenApprove:
				store.left, store.err = 1, registry.Errorf(registry.Unavailable, "store busy")
			case workflowtest.TaskFails:
				store.left, store.err = 1, errors.New("disk I/O error")
			}
			clk := workflowtest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
			wf := &lateWorkflow{}
			svc, err := registry.NewService(registry.Config{Store: store, Artifacts: fs, Workflow: wf,
				Secret: []byte(strings.Repeat("k", 32)), Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			rec := &workflowtest.Recorder{}
			var mu sync.Mutex
			paths := map[string][]string{}
			var sleeps []time.Duration
			eng, err := local.New(local.Config{Store: db, Handlers: recording{workflow.ServiceHandlers(svc), rec}, Now: clk.Now,
				Logger: slog.New(slog.DiscardHandler),
				Sleep: func(ctx context.Context, d time.Duration) error {
					mu.Lock()
					sleeps = append(sleeps, d)
					mu.Unlock()
					return ctx.Err()
				},
				OnState: func(id, state string) {
					mu.Lock()
					paths[id] = append(paths[id], state)
					mu.Unlock()
				}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			wf.e = eng
			wait := func(id string) registry.Execution {
				t.Helper()
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				ex, err := eng.Wait(wctx, id)
				if err != nil {
					t.Fatalf("wait for %s: %v", id, err)
				}
				return ex
			}

			// fraud: v1 and v2 in Staging; the scenario asks Production for v2.
			if _, err := svc.CreateModel(alice, registry.NewModel{Name: "fraud"}); err != nil {
				t.Fatal(err)
			}
			for _, acc := range []float64{0.90, 0.93} {
				v, err := svc.RegisterVersion(alice, "fraud", registry.NewVersion{Source: "s3://b/fraud",
					Metrics: map[string]registry.Metric{"accuracy": {Value: acc}}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Transition(alice, "fraud", v.Number, registry.StageStaging, "candidate"); err != nil {
					t.Fatal(err)
				}
			}
			pol := registry.Policy{}
			switch {
			case sc.Validate.AutoApprove:
				pol.Approval = registry.ApprovalAuto
			case !sc.Validate.Passed:
				rule, err := registry.ParseMetricRule("accuracy>=0.95")
				if err != nil {
					t.Fatal(err)
				}
				pol.Metrics = []registry.MetricRule{rule}
			}
			if _, err := svc.SetPolicy(admin, "fraud", pol); err != nil {
				t.Fatal(err)
			}

			res, err := svc.Transition(alice, "fraud", 2, registry.StageProduction, "better model")
			if err != nil || res.Approval == nil {
				t.Fatalf("request: %+v, %v", res, err)
			}
			id := res.Approval.ID
			ex := wait(id)
			switch sc.Action {
			case workflowtest.Approve, workflowtest.TransientThenApprove:
				if _, err := svc.DecideApproval(bob, id, true, "ok"); err != nil {
					t.Fatal(err)
				}
			case workflowtest.Reject:
				if _, err := svc.DecideApproval(bob, id, false, "not better than v1"); err != nil {
					t.Fatal(err)
				}
			case workflowtest.Expire:
				if ex.TaskToken == "" {
					t.Fatalf("the execution does not wait: %+v", ex)
				}
				clk.Add(registry.DefaultApprovalTTL)
				if err := eng.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ex = wait(id)
			mu.Lock()
			path := slices.Clone(paths[id])
			mu.Unlock()

			// The real Validate's refusal names the failed check; Check
			// compares it with the scenario's reason.
			want := sc
			a, err := svc.GetApproval(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !sc.Validate.Passed {
				want.Validate.Reason = a.Comment
				if !strings.Contains(a.Comment, "accuracy") {
					t.Errorf("policy refusal %q does not name the metric", a.Comment)
				}
			}
			workflowtest.Check(t, want, id, ex.Status, ex.Error, path, rec)

			// The registry shows the outcome.
			wantStatus := map[workflow.Outcome]registry.ApprovalStatus{
				"": registry.ApprovalApproved, workflow.OutcomeRejected: registry.ApprovalRejected,
				workflow.OutcomePolicyFailed: registry.ApprovalRejected, workflow.OutcomeExpired: registry.ApprovalExpired,
				workflow.OutcomeFailed: registry.ApprovalFailed,
			}[sc.WantOutcome]
			if a.Status != wantStatus {
				t.Errorf("approval %s, want %s", a.Status, wantStatus)
			}
			v2, err := svc.GetVersion(ctx, "fraud", 2)
			if err != nil {
				t.Fatal(err)
			}
			wantStage := registry.StageStaging
			if sc.WantOutcome == "" {
				wantStage = registry.StageProduction
			}
			if v2.Stage != wantStage {
				t.Errorf("v2 is in %s, want %s", v2.Stage, wantStage)
			}
			if sc.Validate.AutoApprove != a.AutoApproved {
				t.Errorf("approval auto_approved %v", a.AutoApproved)
			}
			if got, want := int(store.fired.Load()), map[workflowtest.Action]int{workflowtest.TransientThenApprove: 1, workflowtest.TaskFails: 1}[sc.Action]; got != want {
				t.Errorf("the store fault fired %d times, want %d", got, want)
			}
			if sc.Action == workflowtest.TransientThenApprove && !slices.Equal(sleeps, []time.Duration{time.Second}) {
				t.Errorf("retry waits %v, want [1s]", sleeps)
			}
		})
	}
}
