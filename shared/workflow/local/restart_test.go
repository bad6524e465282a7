package local

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

var passed = workflow.ValidateOutput{Passed: true}

func TestWaitSurvivesRestart(t *testing.T) {
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	ex := x.start("ap-1")
	token := h.LastToken()
	if ex.TaskToken != token || ex.State != "RequestApproval" {
		t.Fatalf("waiting execution %+v, handler got token %q", ex, token)
	}
	x.restart()
	ctx := context.Background()
	// Recover invokes RequestApproval again with the same token: nothing
	// tells whether it ran before the restart.
	if err := x.e.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	x.wait("ap-1")
	if len(h.Requests) != 2 || h.Requests[1].TaskToken != token {
		t.Fatalf("RequestApproval calls %+v, want a second one with the stored token", h.Requests)
	}
	if err := x.e.SendTaskSuccess(ctx, token, decision(t, "bob")); err != nil {
		t.Fatalf("SendTaskSuccess after restart: %v", err)
	}
	ex = x.wait("ap-1")
	if ex.Status != registry.ExecutionSucceeded || ex.State != "Promoted" || len(h.Promotes) != 1 {
		t.Fatalf("after approval: %s in %s, %d promotions", ex.Status, ex.State, len(h.Promotes))
	}
}

func TestTimeoutAfterRestart(t *testing.T) {
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	x.start("ap-1")
	x.close()
	x.clock.Add(workflow.DefaultApprovalTimeout + time.Minute) // down while it expires
	x.open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- x.e.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ex, err := x.store.GetExecution(context.Background(), "ap-1")
		if err != nil {
			t.Fatal(err)
		}
		if ex.Status != registry.ExecutionRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s in %s after Run", ex.Status, ex.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	ex := x.wait("ap-1")
	if ex.State != "NotPromoted" || len(h.Outcomes) != 1 || h.Outcomes[0].Outcome != workflow.OutcomeExpired {
		t.Fatalf("after restart past the expiry: %s, outcomes %+v", ex.State, h.Outcomes)
	}
	if len(h.Requests) != 1 {
		t.Errorf("an expired wait was invoked again (%d RequestApproval calls)", len(h.Requests))
	}
}

func TestResumeBetweenStates(t *testing.T) {
	// A crash after the decision was committed but before Promote ran
	// leaves the execution in Promote with no token; Recover runs it once.
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	ex := x.start("ap-1")
	if err := x.e.SendTaskSuccess(context.Background(), h.LastToken(), decision(t, "bob")); err != nil {
		t.Fatal(err)
	}
	x.wait("ap-1")
	x.close()
	ex.State, ex.TaskToken, ex.TimeoutAt = "Promote", "", time.Time{}
	ex.Input = []byte(`{"approval_id":"ap-2","model":"fraud","version":2,"target_stage":"Production","decision":{"decided_by":"carol"}}`)
	ex.ID, ex.Revision = "ap-2", 1
	x.open()
	if err := x.store.Commit(context.Background(), &registry.Change{Executions: []registry.Execution{ex}}); err != nil {
		t.Fatal(err)
	}
	if err := x.e.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := x.wait("ap-2")
	if got.Status != registry.ExecutionSucceeded || len(h.Promotes) != 2 || h.Promotes[1].Decision.DecidedBy != "carol" {
		t.Fatalf("resumed: %s in %s, promotes %+v", got.Status, got.State, h.Promotes)
	}
	if want := []string{"Promoted"}; !slices.Equal(x.path("ap-2"), want) {
		t.Errorf("path %v, want %v", x.path("ap-2"), want)
	}
}

func TestStartPromotionIdempotent(t *testing.T) {
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	x.start("ap-1")
	x.start("ap-1")
	if v, r, _, _ := h.Counts(); v != 1 || r != 1 {
		t.Fatalf("a second start ran Validate %d and RequestApproval %d times, want 1 and 1", v, r)
	}
	if _, err := x.e.StartPromotion(context.Background(), registry.Approval{}); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("start without approval id: %v, want Invalid", err)
	}
}

func TestTokens(t *testing.T) {
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	ctx := context.Background()
	x.start("ap-1")
	token := h.LastToken()
	for _, bad := range []string{"", "nodot", "ap-1.0000", "ap-404." + token[len("ap-1."):], token + "x"} {
		if err := x.e.SendTaskSuccess(ctx, bad, []byte(`{}`)); !registry.IsCode(err, registry.NotFound) {
			t.Errorf("SendTaskSuccess(%q) = %v, want NotFound", bad, err)
		}
		if err := x.e.SendTaskFailure(ctx, bad, workflow.ErrorRejected, ""); !registry.IsCode(err, registry.NotFound) {
			t.Errorf("SendTaskFailure(%q) = %v, want NotFound", bad, err)
		}
	}
	if err := x.e.SendTaskSuccess(ctx, token, []byte(`{not json`)); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("non-JSON output: %v, want Invalid", err)
	}
	if err := x.e.SendTaskFailure(ctx, token, "", ""); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("failure without code: %v, want Invalid", err)
	}
	if ex, _ := x.store.GetExecution(ctx, "ap-1"); ex.TaskToken != token {
		t.Fatal("a refused call changed the execution")
	}
	// Two approvers at once: exactly one resumes the execution.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = x.e.SendTaskSuccess(ctx, token, decision(t, "bob"))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !registry.IsCode(err, registry.NotFound):
			t.Errorf("concurrent SendTaskSuccess: %v, want nil or NotFound", err)
		}
	}
	x.wait("ap-1")
	if ok != 1 || len(h.Promotes) != 1 {
		t.Fatalf("%d SendTaskSuccess calls succeeded and Promote ran %d times, want 1 and 1", ok, len(h.Promotes))
	}
	if err := x.e.SendTaskSuccess(ctx, token, []byte(`{}`)); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("reused token: %v, want NotFound", err)
	}
}

func TestDecisionAfterTimeoutIsConflict(t *testing.T) {
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	x.start("ap-1")
	x.clock.Add(workflow.DefaultApprovalTimeout)
	// Nothing swept yet: the late decision must not count.
	err := x.e.SendTaskSuccess(context.Background(), h.LastToken(), decision(t, "bob"))
	if !registry.IsCode(err, registry.Conflict) {
		t.Fatalf("decision after the timeout: %v, want Conflict", err)
	}
	ex := x.wait("ap-1")
	if ex.State != "NotPromoted" || len(h.Promotes) != 0 || h.Outcomes[0].Outcome != workflow.OutcomeExpired {
		t.Fatalf("after a late decision: %s, promotes %d, outcomes %+v", ex.State, len(h.Promotes), h.Outcomes)
	}
}

func TestRetryExhausted(t *testing.T) {
	busy := registry.Errorf(registry.Unavailable, "throttled")
	h := &workflowtest.Recorder{Validation: workflow.ValidateOutput{Passed: true, AutoApprove: true},
		PromoteErrors: []error{busy, busy, busy, busy, busy, nil}}
	x := newHarness(t, h)
	ex := x.start("ap-1")
	if want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}; !slices.Equal(x.sleeps, want) {
		t.Errorf("retry waits %v, want %v", x.sleeps, want)
	}
	if len(h.Promotes) != 5 || ex.State != "PromotionFailed" || ex.Status != registry.ExecutionFailed {
		t.Fatalf("Promote ran %d times, execution %s in %s", len(h.Promotes), ex.Status, ex.State)
	}
	if o := h.Outcomes[0]; o.Outcome != workflow.OutcomeFailed || o.Error.Error != workflow.ErrorTransient || o.Error.Cause != "throttled" {
		t.Errorf("outcome %+v", o)
	}
}

func TestFailureSentIsRetried(t *testing.T) {
	// A transient error sent with SendTaskFailure is retried like one the
	// handler returned: a new attempt, a new token.
	h := &workflowtest.Recorder{Validation: passed}
	x := newHarness(t, h)
	x.start("ap-1")
	first := h.LastToken()
	if err := x.e.SendTaskFailure(context.Background(), first, workflow.ErrorTransient, "try again"); err != nil {
		t.Fatal(err)
	}
	ex := x.wait("ap-1")
	if len(h.Requests) != 2 || ex.TaskToken == first || ex.TaskToken != h.LastToken() {
		t.Fatalf("after a transient failure: %d requests, token reused %v", len(h.Requests), ex.TaskToken == first)
	}
	if !slices.Equal(x.sleeps, []time.Duration{time.Second}) {
		t.Errorf("retry waits %v", x.sleeps)
	}
}

func TestHandlerPanicIsTaskFailure(t *testing.T) {
	x := newHarness(t, &workflowtest.Recorder{Validation: passed})
	x.e.cfg.Handlers = panicky{x.h}
	ex := x.start("ap-1")
	if ex.State != "PromotionFailed" || x.h.Outcomes[0].Error.Error != workflow.ErrorTaskFailed {
		t.Fatalf("after a panicking handler: %s, %+v", ex.State, x.h.Outcomes)
	}
}

type panicky struct{ *workflowtest.Recorder }

func (panicky) Validate(context.Context, workflow.ValidateInput) (workflow.ValidateOutput, error) {
	panic("boom")
}
