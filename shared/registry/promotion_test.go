package registry_test

import (
	"context"
	"errors"
	"fmt"
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

// flakyWorkflow forwards to the engine, failing StartPromotion or the
// delivery of decisions while asked to: what a crash or an unreachable
// Step Functions leaves.
type flakyWorkflow struct {
	mu        sync.Mutex
	e         *local.Engine
	failStart atomic.Bool
	failSend  atomic.Bool
}

func (f *flakyWorkflow) engine() *local.Engine {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e
}

func (f *flakyWorkflow) StartPromotion(ctx context.Context, a registry.Approval) (string, error) {
	if f.failStart.Load() {
		return "", registry.Errorf(registry.Unavailable, "workflow unreachable")
	}
	return f.engine().StartPromotion(ctx, a)
}

func (f *flakyWorkflow) SendTaskSuccess(ctx context.Context, token string, out []byte) error {
	if f.failSend.Load() {
		return errors.New("crashed before sending")
	}
	return f.engine().SendTaskSuccess(ctx, token, out)
}

func (f *flakyWorkflow) SendTaskFailure(ctx context.Context, token, code, cause string) error {
	if f.failSend.Load() {
		return errors.New("crashed before sending")
	}
	return f.engine().SendTaskFailure(ctx, token, code, cause)
}

// promoEnv is a Service on SQLite with the real local engine running the
// embedded document with the service's own task handlers.
type promoEnv struct {
	t     *testing.T
	svc   *registry.Service
	store *sqlite.Store
	wf    *flakyWorkflow
	clock *workflowtest.Clock
}

func newPromoEnv(t *testing.T) *promoEnv {
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
	c := workflowtest.NewClock(time.Now().UTC())
	wf := &flakyWorkflow{}
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: fs, Workflow: wf,
		Secret: []byte(strings.Repeat("k", 32)), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &promoEnv{t: t, svc: svc, store: store, wf: wf, clock: c}
	e.restartEngine()
	return e
}

// restartEngine closes the running engine (if any) and starts a new one on
// the same store, as a restarted server does, recovering what was running.
func (e *promoEnv) restartEngine() {
	e.t.Helper()
	if old := e.wf.engine(); old != nil {
		old.Close()
	}
	eng, err := local.New(local.Config{Store: e.store, Handlers: workflow.ServiceHandlers(e.svc), Now: e.clock.Now,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { eng.Close() })
	e.wf.mu.Lock()
	e.wf.e = eng
	e.wf.mu.Unlock()
	if err := eng.Recover(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func as(name string, role registry.Role, groups ...string) context.Context {
	return registry.WithPrincipal(context.Background(), registry.Principal{Name: name, Role: role, Groups: groups})
}

var (
	paul = as("paul", registry.RolePublisher)
	pia  = as("pia", registry.RolePublisher)
	anna = as("anna", registry.RoleApprover)
	bob  = as("bob", registry.RoleApprover)
	adam = as("adam", registry.RoleAdmin)
)

// staged registers a READY version of model with accuracy acc and moves
// it to Staging.
func (e *promoEnv) staged(model string, acc float64) int {
	e.t.Helper()
	e.model(model)
	v, err := e.svc.RegisterVersion(paul, model, registry.NewVersion{Source: "s3://bucket/" + model,
		Metrics: map[string]registry.Metric{"accuracy": {Value: acc}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.Transition(paul, model, v.Number, registry.StageStaging, "candidate"); err != nil {
		e.t.Fatal(err)
	}
	return v.Number
}

// model creates model unless it exists.
func (e *promoEnv) model(name string) {
	e.t.Helper()
	if _, err := e.svc.CreateModel(paul, registry.NewModel{Name: name}); err != nil && !registry.IsCode(err, registry.Conflict) {
		e.t.Fatal(err)
	}
}

// request asks for Production and waits for the workflow to settle (at
// the wait, or ended).
func (e *promoEnv) request(ctx context.Context, model string, n int) registry.Approval {
	e.t.Helper()
	res, err := e.svc.Transition(ctx, model, n, registry.StageProduction, "better model")
	if err != nil {
		e.t.Fatalf("request Production for %s v%d: %v", model, n, err)
	}
	if res.Approval == nil || res.Approval.Status != registry.ApprovalPending {
		e.t.Fatalf("request answered %+v, want a PENDING approval", res)
	}
	e.settle(res.Approval.ID)
	return e.approval(res.Approval.ID)
}

// settle waits until the execution of approval id waits or ended.
func (e *promoEnv) settle(id string) registry.Execution {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ex, err := e.wf.engine().Wait(ctx, id)
	if err != nil {
		e.t.Fatalf("wait for execution %s: %v", id, err)
	}
	return ex
}

func (e *promoEnv) approval(id string) registry.Approval {
	e.t.Helper()
	a, err := e.svc.GetApproval(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *promoEnv) version(model string, n int) registry.Version {
	e.t.Helper()
	v, err := e.svc.GetVersion(context.Background(), model, n)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *promoEnv) decide(ctx context.Context, id string, approve bool, comment string) (registry.Approval, error) {
	e.t.Helper()
	a, err := e.svc.DecideApproval(ctx, id, approve, comment)
	if err == nil {
		e.settle(id)
	}
	return a, err
}

func (e *promoEnv) wantStages(model string, want map[int]registry.Stage, prod int) {
	e.t.Helper()
	for n, st := range want {
		if got := e.version(model, n).Stage; got != st {
			e.t.Errorf("version %d of %s is in %s, want %s", n, model, got, st)
		}
	}
	m, err := e.svc.GetModel(context.Background(), model)
	if err != nil {
		e.t.Fatal(err)
	}
	if m.ProductionVersion != prod {
		e.t.Errorf("model %s points at Production version %d, want %d", model, m.ProductionVersion, prod)
	}
}

func wantCode(t *testing.T, what string, err error, code registry.Code, msg string) {
	t.Helper()
	if !registry.IsCode(err, code) {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	if msg != "" && !strings.Contains(registry.ErrorMessage(err), msg) {
		t.Fatalf("%s: message %q does not say %q", what, registry.ErrorMessage(err), msg)
	}
}

func TestPromotionStory(t *testing.T) {
	e := newPromoEnv(t)
	v1 := e.staged("fraud", 0.90)
	a1 := e.request(paul, "fraud", v1)
	if a1.TaskToken == "" || a1.ExecutionID != a1.ID || len(a1.Checks) < 2 {
		t.Fatalf("approval after the request: %+v, want the token, execution and checks recorded", a1)
	}
	_, err := e.decide(paul, a1.ID, true, "mine")
	wantCode(t, "publisher approves", err, registry.Forbidden, "approve permission")
	if _, err := e.decide(anna, a1.ID, true, "ok"); err != nil {
		t.Fatal(err)
	}
	if got := e.approval(a1.ID); got.Status != registry.ApprovalApproved || got.DecidedBy != "anna" {
		t.Fatalf("approval after anna approved: %s by %s", got.Status, got.DecidedBy)
	}
	e.wantStages("fraud", map[int]registry.Stage{v1: registry.StageProduction}, v1)

	v2 := e.staged("fraud", 0.95)
	a2 := e.request(pia, "fraud", v2)
	if e.approval(a2.ID).Status != registry.ApprovalPending {
		t.Fatal("v2's request is not pending")
	}
	_, err = e.decide(as("pia", registry.RoleAdmin), a2.ID, true, "")
	wantCode(t, "requester approves", err, registry.Forbidden, "you requested this promotion")
	if _, err := e.decide(bob, a2.ID, true, "beats v1"); err != nil {
		t.Fatal(err)
	}
	e.wantStages("fraud", map[int]registry.Stage{v1: registry.StageArchived, v2: registry.StageProduction}, v2)
	if got := e.approval(a2.ID); got.ArchivedVersion != v1 {
		t.Errorf("approval records archived version %d, want %d", got.ArchivedVersion, v1)
	}

	// A publisher may not roll back under the default policy.
	_, err = e.svc.Rollback(paul, "fraud", 0, "bad release")
	wantCode(t, "publisher rolls back", err, registry.Forbidden, "roll back")
	back, err := e.svc.Rollback(anna, "fraud", 0, "latency regression")
	if err != nil {
		t.Fatal(err)
	}
	if back.Number != v1 || back.Stage != registry.StageProduction {
		t.Fatalf("rollback returned %d in %s, want %d in Production", back.Number, back.Stage, v1)
	}
	e.wantStages("fraud", map[int]registry.Stage{v1: registry.StageProduction, v2: registry.StageArchived}, v1)

	// The history tells all of it: who asked, who approved with which
	// comment, the checks and the numbers, and the rollback with its reason.
	h, err := e.svc.History(context.Background(), "fraud", 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var promoted, rolledBack, validated bool
	for _, a := range h.Items {
		switch {
		case a.Action == registry.ActionStageChanged && a.Version == v2 && a.To == registry.StageProduction:
			promoted = a.ApprovalID == a2.ID && a.Actor == "bob" && a.Details["comment:bob"] == "beats v1" &&
				a.Details["requested_by"] == "pia" && a.Criteria["accuracy"] == 0.95 && strings.HasPrefix(a.Details["check:ready"], "passed")
		case a.Action == registry.ActionStageChanged && a.Version == v1 && a.Rollback && a.To == registry.StageProduction:
			rolledBack = a.Reason == "latency regression" && a.Actor == "anna"
		case a.Action == registry.ActionApprovalValidated && a.ApprovalID == a2.ID:
			validated = a.Details["check:staging"] != ""
		}
	}
	if !promoted || !rolledBack || !validated {
		t.Errorf("history misses the promotion (%v), rollback (%v) or validation (%v): %+v", promoted, rolledBack, validated, h.Items)
	}
	// Each move fired its event, in the same commits.
	var stageEvents, decided int
	var toProduction []string // version<-previous version, in order
	pending, err := e.store.PendingEvents(context.Background(), e.clock.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pending {
		switch r.Event.Type {
		case registry.EventStageChanged:
			stageEvents++
			if d := r.Event.Detail; d.To == registry.StageProduction {
				toProduction = append(toProduction, fmt.Sprintf("%d<-%d", d.Version, d.PreviousVersion))
			} else if d.PreviousVersion != 0 {
				t.Errorf("stage change %s->%s of version %d names previous version %d", d.From, d.To, d.Version, d.PreviousVersion)
			}
		case registry.EventApprovalDecided:
			decided++
		}
	}
	// v1 and v2 to Staging, v1 to Production, v2 to Production + v1 archived, rollback: 2.
	if stageEvents != 7 || decided != 2 {
		t.Errorf("%d stage-changed and %d approval-decided events, want 7 and 2", stageEvents, decided)
	}
	// The redeploy consumer names what each change to Production replaced.
	if want := []string{fmt.Sprintf("%d<-0", v1), fmt.Sprintf("%d<-%d", v2, v1), fmt.Sprintf("%d<-%d", v1, v2)}; !slices.Equal(toProduction, want) {
		t.Errorf("changes to Production (version<-previous): %v, want %v", toProduction, want)
	}
}

func TestRejection(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	a := e.request(paul, "m", n)
	got, err := e.decide(anna, a.ID, false, "not convinced")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != registry.ApprovalRejected || got.DecidedBy != "anna" || got.Comment != "not convinced" {
		t.Fatalf("after reject: %+v", got)
	}
	if ex := e.settle(a.ID); ex.State != "NotPromoted" {
		t.Errorf("execution ended in %s, want NotPromoted", ex.State)
	}
	e.wantStages("m", map[int]registry.Stage{n: registry.StageStaging}, 0)
	_, err = e.decide(bob, a.ID, true, "")
	wantCode(t, "approve a rejected approval", err, registry.Conflict, "REJECTED")
	// The model is free for a new request.
	e.request(paul, "m", n)
}

func TestExpiry(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	a := e.request(paul, "m", n)
	e.clock.Add(registry.DefaultApprovalTTL + time.Second)
	_, err := e.decide(anna, a.ID, true, "")
	wantCode(t, "approve after expiry", err, registry.Conflict, "expired")
	if err := e.wf.engine().Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.settle(a.ID)
	if got := e.approval(a.ID); got.Status != registry.ApprovalExpired {
		t.Fatalf("approval is %s, want EXPIRED", got.Status)
	}
	e.wantStages("m", map[int]registry.Stage{n: registry.StageStaging}, 0)
}

func TestDoubleAndConcurrentApprovals(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	a := e.request(paul, "m", n)
	// Two approvers at once: exactly one decision counts.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, who := range []context.Context{anna, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.svc.DecideApproval(who, a.ID, true, "")
		}()
	}
	wg.Wait()
	e.settle(a.ID)
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !registry.IsCode(err, registry.Conflict) {
			t.Errorf("the losing decision: %v, want Conflict", err)
		}
	}
	got := e.approval(a.ID)
	if ok != 1 || len(got.Decisions) != 1 || got.Status != registry.ApprovalApproved {
		t.Fatalf("%d decisions succeeded, %d recorded, status %s; want exactly one, APPROVED", ok, len(got.Decisions), got.Status)
	}
	// Deciding again after it was decided.
	_, err := e.decide(anna, a.ID, true, "")
	wantCode(t, "approve twice", err, registry.Conflict, "APPROVED")
	e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction}, n)
}

func TestUnknownApproval(t *testing.T) {
	e := newPromoEnv(t)
	_, err := e.svc.DecideApproval(anna, "01NOPE", true, "")
	wantCode(t, "decide unknown", err, registry.NotFound, "01NOPE")
	_, err = e.svc.CancelApproval(paul, "01NOPE", "")
	wantCode(t, "cancel unknown", err, registry.NotFound, "01NOPE")
}

func TestCancel(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	a := e.request(paul, "m", n)
	_, err := e.svc.CancelApproval(pia, a.ID, "")
	wantCode(t, "another publisher cancels", err, registry.Forbidden, "requester")
	got, err := e.svc.CancelApproval(paul, a.ID, "wrong build")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != registry.ApprovalCancelled || got.Comment != "wrong build" {
		t.Fatalf("after cancel: %+v", got)
	}
	if ex := e.settle(a.ID); ex.Status != registry.ExecutionSucceeded || ex.State != "NotPromoted" {
		t.Errorf("execution %s in %s, want it ended NotPromoted", ex.Status, ex.State)
	}
	_, err = e.decide(anna, a.ID, true, "")
	wantCode(t, "approve a cancelled approval", err, registry.Conflict, "CANCELLED")
	_, err = e.svc.CancelApproval(adam, a.ID, "")
	wantCode(t, "cancel twice", err, registry.Conflict, "CANCELLED")
	e.wantStages("m", map[int]registry.Stage{n: registry.StageStaging}, 0)
}

func TestRequestPreconditions(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	_, err := e.svc.Transition(paul, "m", 99, registry.StageProduction, "x")
	wantCode(t, "unknown version", err, registry.NotFound, "")
	pending, err := e.svc.RegisterVersion(paul, "m", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Transition(paul, "m", pending.Number, registry.StageProduction, "x")
	wantCode(t, "PENDING_UPLOAD version", err, registry.Conflict, "PENDING_UPLOAD")
	ready, err := e.svc.RegisterVersion(paul, "m", registry.NewVersion{Source: "s3://b/k"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Transition(paul, "m", ready.Number, registry.StageProduction, "x")
	wantCode(t, "version not in Staging", err, registry.Conflict, "from Staging only")
	_, err = e.svc.Transition(paul, "m", n, registry.StageProduction, "")
	wantCode(t, "no reason", err, registry.Invalid, "reason")
	a := e.request(paul, "m", n)
	other := e.staged("m", 0.91)
	_, err = e.svc.Transition(paul, "m", other, registry.StageProduction, "x")
	wantCode(t, "second pending request", err, registry.Conflict, a.ID)
	list, err := e.svc.ListApprovals(context.Background(), registry.ApprovalPending, "m", "", 10)
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("pending approvals %+v %v, want just the first", list.Items, err)
	}
}

func TestRollbackWithNothingBefore(t *testing.T) {
	e := newPromoEnv(t)
	_, err := e.svc.Rollback(anna, "m", 0, "x")
	wantCode(t, "unknown model", err, registry.NotFound, "")
	n := e.staged("m", 0.9)
	_, err = e.svc.Rollback(anna, "m", 0, "x")
	wantCode(t, "nothing in Production", err, registry.Conflict, "no version in Production")
	a := e.request(paul, "m", n)
	if _, err := e.decide(anna, a.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Rollback(anna, "m", 0, "x")
	wantCode(t, "nothing before", err, registry.Conflict, "nothing to roll back to")
	_, err = e.svc.Rollback(anna, "m", 0, "")
	wantCode(t, "no reason", err, registry.Invalid, "reason")
	other := e.staged("m", 0.8)
	_, err = e.svc.Rollback(anna, "m", other, "x")
	wantCode(t, "to a version never in Production", err, registry.Conflict, "never in Production")
	e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction, other: registry.StageStaging}, n)
}

func TestRollbackSkipsDeletedVersions(t *testing.T) {
	e := newPromoEnv(t)
	for range 3 {
		n := e.staged("m", 0.9)
		a := e.request(paul, "m", n)
		if _, err := e.decide(anna, a.ID, true, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.DeleteVersion(adam, "m", 2, "leaked data"); err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.Rollback(adam, "m", 0, "bad")
	if err != nil {
		t.Fatal(err)
	}
	if v.Number != 1 {
		t.Fatalf("rolled back to %d, want 1 (2 is deleted)", v.Number)
	}
	_, err = e.svc.Rollback(adam, "m", 2, "bad")
	wantCode(t, "to a deleted version", err, registry.Conflict, "deleted")
}

func TestStartFailureIsRecovered(t *testing.T) {
	e := newPromoEnv(t)
	n := e.staged("m", 0.9)
	e.wf.failStart.Store(true)
	res, err := e.svc.Transition(paul, "m", n, registry.StageProduction, "go")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.approval(res.Approval.ID); got.Status != registry.ApprovalPending || got.ExecutionID != "" {
		t.Fatalf("after a failed start: %+v", got)
	}
	e.wf.failStart.Store(false)
	if err := e.svc.RecoverApprovals(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.settle(res.Approval.ID)
	if got := e.approval(res.Approval.ID); got.ExecutionID == "" || got.TaskToken == "" {
		t.Fatalf("RecoverApprovals did not start the workflow: %+v", got)
	}
	if _, err := e.decide(anna, res.Approval.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction}, n)

	// One whose start never succeeded before its expiry ends EXPIRED.
	m := e.staged("m", 0.95)
	e.wf.failStart.Store(true)
	res, err = e.svc.Transition(paul, "m", m, registry.StageProduction, "go")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(registry.DefaultApprovalTTL)
	if err := e.svc.RecoverApprovals(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := e.approval(res.Approval.ID); got.Status != registry.ApprovalExpired {
		t.Fatalf("never-started approval is %s after its expiry, want EXPIRED", got.Status)
	}
}

// A crash between the recorded approval and its delivery to the workflow
// (and another one during Promote's commit) still promotes exactly once.
func TestCrashBetweenDecisionAndPromote(t *testing.T) {
	e := newPromoEnv(t)
	old := e.staged("m", 0.8)
	a := e.request(paul, "m", old)
	if _, err := e.decide(anna, a.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	n := e.staged("m", 0.9)
	a = e.request(paul, "m", n)
	e.wf.failSend.Store(true)
	if _, err := e.svc.DecideApproval(anna, a.ID, true, "ship it"); err != nil {
		t.Fatal(err)
	}
	e.wf.failSend.Store(false)
	if got := e.approval(a.ID); got.Status != registry.ApprovalPending || len(got.Decisions) != 1 {
		t.Fatalf("after the lost delivery: %+v", got)
	}
	e.restartEngine() // re-invokes RequestApproval, which delivers the decision
	e.settle(a.ID)
	e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction, old: registry.StageArchived}, n)
	// Promote again (a redelivered task after a crash): nothing twice.
	before, err := e.svc.History(context.Background(), "m", 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Promote(context.Background(), a.ID, false)
	if err != nil || res.Version != n || res.ArchivedVersion != old {
		t.Fatalf("repeated Promote: %+v %v", res, err)
	}
	after, _ := e.svc.History(context.Background(), "m", 0, "", 100)
	if len(after.Items) != len(before.Items) {
		t.Errorf("a repeated Promote wrote %d audit entries", len(after.Items)-len(before.Items))
	}
	// And a repeated RecordOutcome or Validate changes nothing either.
	if err := e.svc.RecordOutcome(context.Background(), a.ID, registry.ApprovalExpired, false, ""); err != nil {
		t.Fatal(err)
	}
	if got := e.approval(a.ID); got.Status != registry.ApprovalApproved {
		t.Fatalf("RecordOutcome after Promote changed the approval to %s", got.Status)
	}
}

// setPolicy writes p on model straight through the store.
func (e *promoEnv) setPolicy(model string, p registry.Policy) {
	e.t.Helper()
	e.model(model)
	m, err := e.store.GetModel(context.Background(), model)
	if err != nil {
		e.t.Fatal(err)
	}
	m.Policy = p
	m.Revision++
	if err := e.store.Commit(context.Background(), &registry.Change{Models: []registry.Model{m}}); err != nil {
		e.t.Fatal(err)
	}
}

func TestPolicyDrivenApprovals(t *testing.T) {
	t.Run("named approvers", func(t *testing.T) {
		e := newPromoEnv(t)
		e.setPolicy("m", registry.Policy{Approvers: []string{"carol", "group:risk"}})
		a := e.request(paul, "m", e.staged("m", 0.9))
		_, err := e.decide(anna, a.ID, true, "")
		wantCode(t, "an approver not named", err, registry.Forbidden, "not one of them")
		_, err = e.decide(as("dan", registry.RoleReader, "risk"), a.ID, true, "")
		wantCode(t, "a named group member without the role", err, registry.Forbidden, "approve permission")
		if _, err := e.decide(as("dan", registry.RoleApprover, "risk"), a.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if got := e.approval(a.ID); got.Status != registry.ApprovalApproved {
			t.Fatalf("after the group member approved: %s", got.Status)
		}
	})
	t.Run("two required approvals", func(t *testing.T) {
		e := newPromoEnv(t)
		e.setPolicy("m", registry.Policy{ApprovalsRequired: 2})
		n := e.staged("m", 0.9)
		a := e.request(paul, "m", n)
		if _, err := e.decide(anna, a.ID, true, "one"); err != nil {
			t.Fatal(err)
		}
		if got := e.approval(a.ID); got.Status != registry.ApprovalPending {
			t.Fatalf("after one of two approvals: %s", got.Status)
		}
		_, err := e.decide(anna, a.ID, true, "")
		wantCode(t, "the same approver twice", err, registry.Conflict, "already")
		if _, err := e.decide(bob, a.ID, true, "two"); err != nil {
			t.Fatal(err)
		}
		got := e.approval(a.ID)
		if got.Status != registry.ApprovalApproved || got.DecidedBy != "anna,bob" {
			t.Fatalf("after two approvals: %s by %s", got.Status, got.DecidedBy)
		}
		e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction}, n)
	})
	t.Run("auto approval", func(t *testing.T) {
		e := newPromoEnv(t)
		e.setPolicy("m", registry.Policy{Approval: registry.ApprovalAuto})
		n := e.staged("m", 0.9)
		a := e.request(paul, "m", n)
		if a.Status != registry.ApprovalApproved || !a.AutoApproved || a.DecidedBy != registry.ActorPolicy {
			t.Fatalf("auto-approved request: %+v", a)
		}
		e.wantStages("m", map[int]registry.Stage{n: registry.StageProduction}, n)
	})
	t.Run("policy failure", func(t *testing.T) {
		e := newPromoEnv(t)
		e.setPolicy("m", registry.Policy{Metrics: []registry.MetricRule{{Metric: "accuracy", Op: ">=", Value: 0.95}}})
		n := e.staged("m", 0.9)
		a := e.request(paul, "m", n)
		if a.Status != registry.ApprovalRejected || a.DecidedBy != registry.ActorPolicy || !strings.Contains(a.Comment, "accuracy") {
			t.Fatalf("request refused by policy: %+v", a)
		}
		failed := 0
		for _, c := range a.Checks {
			if !c.Passed {
				failed++
			}
		}
		if failed != 1 {
			t.Errorf("checks %+v, want exactly the accuracy one failed", a.Checks)
		}
		e.wantStages("m", map[int]registry.Stage{n: registry.StageStaging}, 0)
	})
}
