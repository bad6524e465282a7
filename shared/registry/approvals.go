package registry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DecideApproval records the caller's decision on a PENDING approval.
// Approvers and admins decide; when the model's policy names approvers,
// only those (by name or "group:NAME"); the requester never decides their
// own request, admin or not. A rejection ends the approval at once
// (REJECTED, audit, "Approval Decided") and fails the workflow's wait
// (SendTaskFailure); an approval counts one of the ApprovalsRequired
// distinct approvals, and the last one resumes the workflow
// (SendTaskSuccess), whose Promote step then marks it APPROVED. It returns
// the approval as it stands after the decision. Invalid (comment),
// NotFound, Forbidden (role, not a named approver, the requester),
// Conflict (decided, expired, cancelled, already approved by the caller,
// or a racing decision that completed it first).
func (s *Service) DecideApproval(ctx context.Context, id string, approve bool, comment string) (Approval, error) {
	if err := ValidateText("comment", comment, MaxCommentLen); err != nil {
		return Approval{}, err
	}
	p := PrincipalFrom(ctx)
	if !p.Role.Allows(PermApprove) {
		return Approval{}, Errorf(Forbidden, "deciding an approval needs the approve permission (role approver or admin); %s is %s", p.Name, p.Role)
	}
	var final bool
	ap, err := s.editApproval(ctx, id, func(a *Approval, now time.Time) (*Change, error) {
		if err := s.decidable(ctx, a, p, now); err != nil {
			return nil, err
		}
		for _, d := range a.Decisions {
			if d.By == p.Name {
				return nil, Errorf(Conflict, "you approved approval %s already; it needs %d distinct approvals, %d so far", a.ID, a.ApprovalsRequired, len(a.Decisions))
			}
		}
		a.Decisions = append(a.Decisions, ApprovalDecision{By: p.Name, Approve: approve, Comment: comment, At: now})
		if !approve {
			final = true
			return s.endApproval(a, now, ApprovalRejected, p.Name, comment, map[string]string{"outcome": "REJECTED"}), nil
		}
		final = approvedEnough(*a)
		au := s.audit(ctx, now, a.Model, a.Version, ActionApprovalVoted)
		au.Reason, au.ApprovalID = comment, a.ID
		au.Details = map[string]string{"approvals": fmt.Sprintf("%d/%d", len(a.Decisions), a.ApprovalsRequired)}
		return &Change{Audit: []AuditEntry{au}}, nil
	})
	if err != nil {
		return Approval{}, err
	}
	if final {
		rctx := withoutIdempotency(context.WithoutCancel(ctx))
		var rerr error
		if approve {
			rerr = s.resume(rctx, ap)
		} else {
			rerr = s.fail(rctx, ap, TaskErrorRejected, comment)
		}
		if rerr != nil {
			// The decision is on record: AwaitDecision (the engine's
			// recovery) or RecoverApprovals delivers it later.
			s.log.Error("registry: deliver the decision to the workflow", "approval", ap.ID, "err", rerr)
		}
		if fresh, err := s.GetApproval(ctx, id); err == nil {
			ap = fresh
		}
	}
	return ap, nil
}

// decidable checks that p may decide a now. Forbidden or Conflict.
func (s *Service) decidable(ctx context.Context, a *Approval, p Principal, now time.Time) error {
	if a.Status != ApprovalPending {
		return approvalEnded(*a)
	}
	if !now.Before(a.ExpiresAt) {
		return Errorf(Conflict, "approval %s expired at %s: it can no longer be decided; request the promotion again", a.ID, a.ExpiresAt.Format(time.RFC3339))
	}
	if approvedEnough(*a) {
		return Errorf(Conflict, "approval %s has its %d approval(s) already; the promotion is under way", a.ID, a.ApprovalsRequired)
	}
	if a.RequestedBy == p.Name {
		return Errorf(Forbidden, "you requested this promotion (approval %s): someone else must decide it, admins included", a.ID)
	}
	m, err := s.GetModel(ctx, a.Model)
	if err != nil {
		return err
	}
	if approvers := m.Policy.Approvers; !canDecide(p, approvers) {
		return Errorf(Forbidden, "model %s names who decides its promotions (%v); %s is not one of them", a.Model, approvers, p.Name)
	}
	return nil
}

// CancelApproval cancels a PENDING approval: the requester or an admin
// may. It ends CANCELLED at once (audit, "Approval Decided") and the
// workflow's wait fails with the cancellation. Invalid (comment),
// NotFound, Forbidden, Conflict (no longer PENDING, or its approvals are
// complete and the promotion is under way).
func (s *Service) CancelApproval(ctx context.Context, id, comment string) (Approval, error) {
	if err := ValidateText("comment", comment, MaxCommentLen); err != nil {
		return Approval{}, err
	}
	p := PrincipalFrom(ctx)
	ap, err := s.editApproval(ctx, id, func(a *Approval, now time.Time) (*Change, error) {
		if a.Status != ApprovalPending {
			return nil, approvalEnded(*a)
		}
		if a.RequestedBy != p.Name && p.Role != RoleAdmin {
			return nil, Errorf(Forbidden, "only the requester (%s) or an admin may cancel approval %s", a.RequestedBy, a.ID)
		}
		if approvedEnough(*a) {
			return nil, Errorf(Conflict, "approval %s has its %d approval(s); the promotion is under way and can no longer be cancelled", a.ID, a.ApprovalsRequired)
		}
		if comment == "" {
			comment = "cancelled by " + p.Name
		}
		return s.endApproval(a, now, ApprovalCancelled, p.Name, comment, map[string]string{"outcome": "CANCELLED"}), nil
	})
	if err != nil {
		return Approval{}, err
	}
	if err := s.fail(withoutIdempotency(context.WithoutCancel(ctx)), ap, TaskErrorCancelled, ap.Comment); err != nil {
		s.log.Error("registry: deliver the cancellation to the workflow", "approval", ap.ID, "err", err)
	}
	return ap, nil
}

// RecoverApprovals finishes what a crash or an unavailable workflow left
// undone for PENDING approvals: it starts the workflow of an approval
// whose start failed (or marks it EXPIRED if its time passed), and
// delivers a completed set of approvals that never reached the workflow.
// Run it when the server starts and now and then (it is idempotent).
func (s *Service) RecoverApprovals(ctx context.Context) error {
	if s.cfg.Workflow == nil {
		return nil
	}
	ctx = withoutIdempotency(ctx)
	q := ApprovalQuery{Status: ApprovalPending, Limit: MaxPageSize}
	var errs []error
	for {
		p, err := s.cfg.Store.ListApprovals(ctx, q)
		if err != nil {
			return err
		}
		for _, a := range p.Items {
			if a.Status != ApprovalPending {
				continue
			}
			switch {
			case a.ExecutionID == "" && !s.Now().Before(a.ExpiresAt):
				errs = append(errs, s.RecordOutcome(ctx, a.ID, ApprovalExpired, false, "the promotion workflow never started before the approval expired"))
			case a.ExecutionID == "":
				s.startPromotion(ctx, a)
			case approvedEnough(a):
				errs = append(errs, s.resume(ctx, a))
			}
		}
		if p.Next == "" {
			return errors.Join(errs...)
		}
		q.Cursor = p.Next
	}
}
