// Package workflowtest holds what the tests of both workflow engines share:
// the table of promotion scenarios, each with the path of states and the
// outcome the document must produce, and Recorder, a workflow.Handlers that
// records its calls (the registry service implements the real handlers).
package workflowtest

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// Action is what happens at the RequestApproval wait of a scenario.
type Action string

// The actions at the wait.
const (
	Approve Action = "approve" // SendTaskSuccess with a Decision
	Reject  Action = "reject"  // SendTaskFailure ErrorRejected
	Expire  Action = "expire"  // nobody decides: States.Timeout
	// TransientThenApprove: the first RequestApproval attempt fails with
	// ErrorTransient (retried with a new token), then the approver approves.
	TransientThenApprove Action = "transient-then-approve"
	// TaskFails: RequestApproval fails with ErrorTaskFailed (not retried).
	TaskFails Action = "task-fails"
)

// Scenario is one promotion and what the document must do with it.
type Scenario struct {
	Name        string
	Validate    workflow.ValidateOutput
	Action      Action // "" when the wait is never reached
	WantPath    []string
	WantStatus  registry.ExecutionStatus
	WantError   string           // the execution's error when it failed
	WantOutcome workflow.Outcome // "" when promoted (no RecordOutcome)
	WantRecord  string           // the Error RecordOutcome receives
	// WantWaits is how many times RequestApproval was invoked.
	WantWaits int
}

var passed = workflow.ValidateOutput{Passed: true}

// Scenarios is the table both engines run.
var Scenarios = []Scenario{
	{
		Name: "approved", Validate: passed, Action: Approve,
		WantPath:   []string{"Validate", "ApprovalRequired", "RequestApproval", "Promote", "Promoted"},
		WantStatus: registry.ExecutionSucceeded, WantWaits: 1,
	},
	{
		Name: "rejected", Validate: passed, Action: Reject,
		WantPath:   []string{"Validate", "ApprovalRequired", "RequestApproval", "RecordRejection", "NotPromoted"},
		WantStatus: registry.ExecutionSucceeded, WantOutcome: workflow.OutcomeRejected, WantRecord: workflow.ErrorRejected, WantWaits: 1,
	},
	{
		Name: "expired", Validate: passed, Action: Expire,
		WantPath:   []string{"Validate", "ApprovalRequired", "RequestApproval", "RecordExpiry", "NotPromoted"},
		WantStatus: registry.ExecutionSucceeded, WantOutcome: workflow.OutcomeExpired, WantRecord: workflow.ErrorTimeout, WantWaits: 1,
	},
	{
		Name: "policy-failure", Validate: workflow.ValidateOutput{Passed: false, Reason: "accuracy 0.81 < 0.9"},
		WantPath:   []string{"Validate", "ApprovalRequired", "RecordPolicyFailure", "NotPromoted"},
		WantStatus: registry.ExecutionSucceeded, WantOutcome: workflow.OutcomePolicyFailed, WantRecord: workflow.ErrorPolicyFailed,
	},
	{
		Name: "transient-failure-retried", Validate: passed, Action: TransientThenApprove,
		WantPath:   []string{"Validate", "ApprovalRequired", "RequestApproval", "Promote", "Promoted"},
		WantStatus: registry.ExecutionSucceeded, WantWaits: 2,
	},
	{
		Name: "task-failure", Validate: passed, Action: TaskFails,
		WantPath:   []string{"Validate", "ApprovalRequired", "RequestApproval", "RecordTaskFailure", "PromotionFailed"},
		WantStatus: registry.ExecutionFailed, WantError: "Modelreg.TaskFailed",
		WantOutcome: workflow.OutcomeFailed, WantRecord: workflow.ErrorTaskFailed, WantWaits: 1,
	},
	{
		Name: "auto-approved", Validate: workflow.ValidateOutput{Passed: true, AutoApprove: true},
		WantPath:   []string{"Validate", "ApprovalRequired", "AutoApprove", "Promote", "Promoted"},
		WantStatus: registry.ExecutionSucceeded,
	},
}

// Recorder is a workflow.Handlers that records every call and answers as
// its fields say. Safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	// Validation is what Validate returns.
	Validation workflow.ValidateOutput
	// RequestErrors are returned by successive RequestApproval calls (nil
	// entries and calls past the end succeed).
	RequestErrors []error
	// PromoteErrors likewise for Promote.
	PromoteErrors []error

	Validates []workflow.ValidateInput
	Requests  []workflow.RequestApprovalInput
	Promotes  []workflow.PromoteInput
	Outcomes  []workflow.OutcomeInput
}

var _ workflow.Handlers = (*Recorder)(nil)

// Validate records in and returns r.Validation.
func (r *Recorder) Validate(_ context.Context, in workflow.ValidateInput) (workflow.ValidateOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Validates = append(r.Validates, in)
	return r.Validation, nil
}

// RequestApproval records in and returns the next of r.RequestErrors.
func (r *Recorder) RequestApproval(_ context.Context, in workflow.RequestApprovalInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Requests = append(r.Requests, in)
	if n := len(r.Requests); n <= len(r.RequestErrors) {
		return r.RequestErrors[n-1]
	}
	return nil
}

// Promote records in and returns the next of r.PromoteErrors.
func (r *Recorder) Promote(_ context.Context, in workflow.PromoteInput) (workflow.PromoteOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Promotes = append(r.Promotes, in)
	if n := len(r.Promotes); n <= len(r.PromoteErrors) && r.PromoteErrors[n-1] != nil {
		return workflow.PromoteOutput{}, r.PromoteErrors[n-1]
	}
	return workflow.PromoteOutput{Version: in.Version, ArchivedVersion: in.Version - 1}, nil
}

// RecordOutcome records in.
func (r *Recorder) RecordOutcome(_ context.Context, in workflow.OutcomeInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Outcomes = append(r.Outcomes, in)
	return nil
}

// LastToken returns the task token of the latest RequestApproval call.
func (r *Recorder) LastToken() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.Requests) == 0 {
		return ""
	}
	return r.Requests[len(r.Requests)-1].TaskToken
}

// Counts returns how many times each handler ran: Validate, RequestApproval,
// Promote, RecordOutcome.
func (r *Recorder) Counts() (validates, requests, promotes, outcomes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.Validates), len(r.Requests), len(r.Promotes), len(r.Outcomes)
}

// Check compares what an engine did with scenario sc: the execution's id,
// final status and error, the path of states it entered, and the handler
// calls in rec (on moto, rebuilt from the execution's history).
func Check(t testing.TB, sc Scenario, id string, status registry.ExecutionStatus, errName string, path []string, rec *Recorder) {
	t.Helper()
	if !slices.Equal(path, sc.WantPath) {
		t.Errorf("path %v\nwant %v", path, sc.WantPath)
	}
	if status != sc.WantStatus || errName != sc.WantError {
		t.Errorf("execution %s %q, want %s %q", status, errName, sc.WantStatus, sc.WantError)
	}
	validates, requests, promotes, outcomes := rec.Counts()
	if validates != 1 {
		t.Errorf("Validate ran %d times, want 1", validates)
	}
	if requests != sc.WantWaits {
		t.Errorf("RequestApproval ran %d times, want %d", requests, sc.WantWaits)
	}
	for i, r := range rec.Requests {
		if r.ApprovalID != id || r.TaskToken == "" || (i > 0 && r.TaskToken == rec.Requests[i-1].TaskToken) {
			t.Errorf("RequestApproval call %d: %+v (each attempt needs its own token)", i, r)
		}
	}
	if sc.WantOutcome == "" {
		if promotes != 1 || outcomes != 0 {
			t.Fatalf("Promote ran %d times, RecordOutcome %d; want 1 and 0", promotes, outcomes)
		}
		p := rec.Promotes[0]
		if p.ApprovalID != id || p.Model != "fraud" || p.Version != 2 || p.TargetStage != "Production" {
			t.Errorf("Promote input %+v", p)
		}
		if sc.Validate.AutoApprove != p.Decision.AutoApproved || (!p.Decision.AutoApproved && p.Decision.DecidedBy != "bob") {
			t.Errorf("Promote decision %+v", p.Decision)
		}
		return
	}
	if promotes != 0 || outcomes != 1 {
		t.Fatalf("Promote ran %d times, RecordOutcome %d; want 0 and 1", promotes, outcomes)
	}
	o := rec.Outcomes[0]
	if o.ApprovalID != id || o.Outcome != sc.WantOutcome || o.Error.Error != sc.WantRecord {
		t.Errorf("RecordOutcome %+v, want outcome %s error %s", o, sc.WantOutcome, sc.WantRecord)
	}
	if sc.WantOutcome == workflow.OutcomePolicyFailed && o.Error.Cause != sc.Validate.Reason {
		t.Errorf("policy failure cause %q, want %q", o.Error.Cause, sc.Validate.Reason)
	}
}
