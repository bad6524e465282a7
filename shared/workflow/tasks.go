package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// DefaultApprovalTimeout is how long an approval waits for a decision when
// the approval names no expiry: the RequestApproval state's timeout.
const DefaultApprovalTimeout = 72 * time.Hour

// PromotionInput is the input document of a promotion execution. Both
// engines start the execution with it.
type PromotionInput struct {
	ApprovalID  string `json:"approval_id"`
	Model       string `json:"model"`
	Version     int    `json:"version"`
	TargetStage string `json:"target_stage"`
	RequestedBy string `json:"requested_by"`
	// ApprovalTimeoutSeconds is the RequestApproval state's timeout
	// (TimeoutSecondsPath): when the wait ends with States.Timeout.
	ApprovalTimeoutSeconds int64 `json:"approval_timeout_seconds"`
}

// NewPromotionInput returns the input of a's promotion started at now: the
// wait times out at a.ExpiresAt (rounded up to a whole second, at least one
// second from now), or after DefaultApprovalTimeout when a has no expiry.
func NewPromotionInput(a registry.Approval, now time.Time) PromotionInput {
	timeout := DefaultApprovalTimeout
	if !a.ExpiresAt.IsZero() {
		timeout = a.ExpiresAt.Sub(now)
	}
	secs := int64(math.Ceil(timeout.Seconds()))
	if secs < 1 {
		secs = 1
	}
	return PromotionInput{
		ApprovalID: a.ID, Model: a.Model, Version: a.Version, TargetStage: string(a.TargetStage),
		RequestedBy: a.RequestedBy, ApprovalTimeoutSeconds: secs,
	}
}

// ValidateInput is the payload of the Validate task.
type ValidateInput struct {
	ApprovalID  string `json:"approval_id"`
	Model       string `json:"model"`
	Version     int    `json:"version"`
	TargetStage string `json:"target_stage"`
}

// ValidateOutput is the result of the Validate task. A policy refusal is a
// result, not an error: the Validate handler records each check, and the
// document's Choice sends a refusal to RecordOutcome (OutcomePolicyFailed,
// with Reason as the error's Cause).
type ValidateOutput struct {
	// Passed reports that every policy check passed.
	Passed bool `json:"passed"`
	// AutoApprove skips the wait for a person (the model's policy approves
	// automatically); Promote still records the decision.
	AutoApprove bool `json:"auto_approve"`
	// Reason says which checks failed ("" when Passed).
	Reason string `json:"reason"`
}

// RequestApprovalInput is the payload of the RequestApproval task, invoked
// with .waitForTaskToken: the handler stores TaskToken on the approval and
// tells the approvers; the task ends when the approval is decided
// (SendTaskSuccess with a Decision, SendTaskFailure with ErrorRejected or
// ErrorCancelled) or times out (States.Timeout).
type RequestApprovalInput struct {
	ApprovalID  string `json:"approval_id"`
	Model       string `json:"model"`
	Version     int    `json:"version"`
	TargetStage string `json:"target_stage"`
	TaskToken   string `json:"task_token"`
}

// Decision is the output an approval's SendTaskSuccess carries, and the
// result the AutoApprove state gives when the policy approves by itself.
type Decision struct {
	AutoApproved bool   `json:"auto_approved,omitempty"`
	DecidedBy    string `json:"decided_by,omitempty"`
	Comment      string `json:"comment,omitempty"`
}

// PromoteInput is the payload of the Promote task.
type PromoteInput struct {
	ApprovalID  string   `json:"approval_id"`
	Model       string   `json:"model"`
	Version     int      `json:"version"`
	TargetStage string   `json:"target_stage"`
	Decision    Decision `json:"decision"`
}

// PromoteOutput is the result of the Promote task.
type PromoteOutput struct {
	// Version is the version now in the target stage.
	Version int `json:"version"`
	// ArchivedVersion is the version that left the stage for Archived (0: none).
	ArchivedVersion int `json:"archived_version"`
}

// Outcome is how a promotion that did not promote ended.
type Outcome string

// The outcomes RecordOutcome records.
const (
	OutcomeRejected     Outcome = "REJECTED"      // an approver rejected it (ErrorRejected)
	OutcomeCancelled    Outcome = "CANCELLED"     // the requester or an admin cancelled it (ErrorCancelled)
	OutcomeExpired      Outcome = "EXPIRED"       // nobody decided in time (States.Timeout)
	OutcomePolicyFailed Outcome = "POLICY_FAILED" // Validate found failed policy checks (ValidateOutput.Passed false)
	OutcomeFailed       Outcome = "FAILED"        // a task failed (after its retries)
)

// ErrorInfo is the error a Catch passes on, as Step Functions writes it.
type ErrorInfo struct {
	Error string `json:"Error"`
	Cause string `json:"Cause,omitempty"`
}

// OutcomeInput is the payload of the RecordOutcome task.
type OutcomeInput struct {
	ApprovalID string    `json:"approval_id"`
	Outcome    Outcome   `json:"outcome"`
	Error      ErrorInfo `json:"error"`
}

// The error names of the document: a handler returns a *TaskError with one
// of them, or the approval's decision sends ErrorRejected or ErrorCancelled
// with SendTaskFailure.
const (
	// ErrorPolicyFailed is the error RecordOutcome receives when Validate
	// found that the policy refuses the promotion.
	ErrorPolicyFailed = "Modelreg.PolicyFailed"
	// ErrorRejected: an approver rejected the request (SendTaskFailure).
	ErrorRejected = "Modelreg.Rejected"
	// ErrorCancelled: the request was cancelled (SendTaskFailure).
	ErrorCancelled = "Modelreg.Cancelled"
	// ErrorTransient: a task failed in a way worth retrying (the store
	// asked to retry later); the document retries it.
	ErrorTransient = "Modelreg.Transient"
	// ErrorTaskFailed: a task failed for any other reason.
	ErrorTaskFailed = "Modelreg.TaskFailed"
	// ErrorTimeout is the error of a state that timed out.
	ErrorTimeout = "States.Timeout"
)

// Handlers are the promotion's task handlers, which the registry service
// implements. They run at least once per state (a retry, a crash or a
// redelivery runs them again), so each is idempotent. A handler signals an
// ASL error by returning a *TaskError; ErrorName names any other error.
type Handlers interface {
	// Validate checks the version and the model's policy. A policy refusal is
	// a *TaskError named ErrorPolicyFailed whose Cause lists the failed checks.
	Validate(ctx context.Context, in ValidateInput) (ValidateOutput, error)
	// RequestApproval stores in.TaskToken on the approval and tells the
	// approvers. The task's result is the decision that comes later.
	RequestApproval(ctx context.Context, in RequestApprovalInput) error
	// Promote moves the version to the target stage (archiving the previous
	// one) and records the decision, in one transaction.
	Promote(ctx context.Context, in PromoteInput) (PromoteOutput, error)
	// RecordOutcome records why a promotion did not promote.
	RecordOutcome(ctx context.Context, in OutcomeInput) error
}

// TaskError is an error with an ASL error name: what a Catch or Retry of the
// document matches on.
type TaskError struct {
	Name  string // e.g. ErrorPolicyFailed
	Cause string // shown to people (the approval and history record it)
}

func (e *TaskError) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// ErrorName returns the ASL error name and cause for an error a handler
// returned: a *TaskError's own; ErrorTransient for an Unavailable registry
// error; ErrorTaskFailed with the caller-safe message otherwise.
func ErrorName(err error) (name, cause string) {
	var te *TaskError
	switch {
	case errors.As(err, &te):
		return te.Name, te.Cause
	case registry.IsCode(err, registry.Unavailable):
		return ErrorTransient, registry.ErrorMessage(err)
	default:
		return ErrorTaskFailed, registry.ErrorMessage(err)
	}
}

// Invoke runs the handler that function (one of the *FunctionArn
// placeholders) names on the JSON payload and returns its JSON result ({}
// for handlers without one). A payload that does not decode into the
// handler's input type is an error named ErrorTaskFailed: the document and
// the types disagree. The AWS task functions and the local engine both
// dispatch through it.
func Invoke(ctx context.Context, h Handlers, function string, payload []byte) ([]byte, error) {
	switch function {
	case ValidateFunctionArn:
		return call(ctx, function, payload, h.Validate)
	case RequestApprovalFunctionArn:
		return call(ctx, function, payload, func(ctx context.Context, in RequestApprovalInput) (struct{}, error) {
			return struct{}{}, h.RequestApproval(ctx, in)
		})
	case PromoteFunctionArn:
		return call(ctx, function, payload, h.Promote)
	case RecordOutcomeFunctionArn:
		return call(ctx, function, payload, func(ctx context.Context, in OutcomeInput) (struct{}, error) {
			return struct{}{}, h.RecordOutcome(ctx, in)
		})
	default:
		return nil, &TaskError{Name: ErrorTaskFailed, Cause: fmt.Sprintf("no task handler for function %q", function)}
	}
}

func call[In, Out any](ctx context.Context, function string, payload []byte, f func(context.Context, In) (Out, error)) ([]byte, error) {
	var in In
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, &TaskError{Name: ErrorTaskFailed, Cause: fmt.Sprintf("decode the payload of %s: %v", function, err)}
	}
	out, err := f(ctx, in)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode the result of %s: %w", function, err)
	}
	return b, nil
}
