package workflow

import (
	"context"
	"errors"

	"github.com/modelreg/modelreg/shared/registry"
)

// ServiceHandlers returns the promotion's task handlers backed by the
// registry service's promotion steps (ValidatePromotion, AwaitDecision,
// Promote, RecordOutcome). Both engines run them: the local engine
// in-process, the AWS task functions in Lambda.
func ServiceHandlers(svc *registry.Service) Handlers { return serviceHandlers{svc} }

type serviceHandlers struct{ svc *registry.Service }

var _ Handlers = serviceHandlers{}

// Validate runs ValidatePromotion; a refusal is a result (Passed false).
func (h serviceHandlers) Validate(ctx context.Context, in ValidateInput) (ValidateOutput, error) {
	r, err := h.svc.ValidatePromotion(ctx, in.ApprovalID)
	if err != nil {
		return ValidateOutput{}, err
	}
	return ValidateOutput{Passed: r.Passed, AutoApprove: r.AutoApprove, Reason: r.Reason}, nil
}

// RequestApproval runs AwaitDecision; an approval that ended meanwhile is
// the ASL error of its outcome, which the document's Catch records.
func (h serviceHandlers) RequestApproval(ctx context.Context, in RequestApprovalInput) error {
	return taskError(h.svc.AwaitDecision(ctx, in.ApprovalID, in.TaskToken))
}

// Promote runs Promote; a Conflict (the approval or the version changed
// since) is a task failure that RecordOutcome records.
func (h serviceHandlers) Promote(ctx context.Context, in PromoteInput) (PromoteOutput, error) {
	r, err := h.svc.Promote(ctx, in.ApprovalID, in.Decision.AutoApproved)
	if err != nil {
		return PromoteOutput{}, taskError(err)
	}
	return PromoteOutput{Version: r.Version, ArchivedVersion: r.ArchivedVersion}, nil
}

// RecordOutcome runs the service's RecordOutcome with the approval status
// of the outcome.
func (h serviceHandlers) RecordOutcome(ctx context.Context, in OutcomeInput) error {
	var status registry.ApprovalStatus
	byPolicy := false
	switch in.Outcome {
	case OutcomeRejected:
		status = registry.ApprovalRejected
	case OutcomePolicyFailed:
		status, byPolicy = registry.ApprovalRejected, true
	case OutcomeExpired:
		status = registry.ApprovalExpired
	case OutcomeCancelled:
		status = registry.ApprovalCancelled
	case OutcomeFailed:
		status = registry.ApprovalFailed
	default:
		return &TaskError{Name: ErrorTaskFailed, Cause: "unknown outcome " + string(in.Outcome)}
	}
	cause := in.Error.Cause
	if cause == "" && in.Outcome == OutcomeFailed {
		cause = in.Error.Error
	}
	return h.svc.RecordOutcome(ctx, in.ApprovalID, status, byPolicy, cause)
}

// taskError names the ASL error of a step's error: an ended approval is
// the error of its outcome; Conflict and NotFound are task failures with
// the message as cause; anything else as ErrorName says.
func taskError(err error) error {
	var ended *registry.PromotionEnded
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ended):
		switch ended.Status {
		case registry.ApprovalRejected:
			return &TaskError{Name: ErrorRejected, Cause: ended.Cause}
		case registry.ApprovalCancelled:
			return &TaskError{Name: ErrorCancelled, Cause: ended.Cause}
		case registry.ApprovalExpired:
			return &TaskError{Name: ErrorTimeout, Cause: ended.Cause}
		}
		return &TaskError{Name: ErrorTaskFailed, Cause: ended.Error()}
	case registry.IsCode(err, registry.Conflict), registry.IsCode(err, registry.NotFound):
		return &TaskError{Name: ErrorTaskFailed, Cause: registry.ErrorMessage(err)}
	}
	return err
}
