package registry

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Rollback returns Production of model to an earlier version, the
// emergency path: no approval, but only for the role the model's policy
// names (RollbackRole: approver by default, or publisher) and admins, and
// with a reason. With to == 0 it returns to the last version that was in
// Production before the current one (from the audit trail, skipping
// versions that were deleted or are not READY); otherwise to must have
// been in Production before. In one transaction the target goes to
// Production, the current version to Archived, the model points at the
// target, and both moves are audited as a rollback with the reason and
// fire "Model Version Stage Changed" (so a redeploy follows). It returns
// the version now in Production. Invalid (reason, to), NotFound,
// Forbidden, Conflict (nothing in Production, nothing to roll back to, a
// target that cannot return).
func (s *Service) Rollback(ctx context.Context, model string, to int, reason string) (Version, error) {
	if strings.TrimSpace(reason) == "" {
		return Version{}, Errorf(Invalid, "reason is required: say why Production of %s is rolled back", model)
	}
	if err := ValidateText("reason", reason, MaxReasonLen); err != nil {
		return Version{}, err
	}
	if to < 0 {
		return Version{}, Errorf(Invalid, "to must be a version number (or 0 for the previous Production version)")
	}
	p := PrincipalFrom(ctx)
	return update(ctx, s, func() (*Change, Version, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, Version{}, err
		}
		if err := mayRollBack(p, m.Policy.RollbackRole, model); err != nil {
			return nil, Version{}, err
		}
		if m.ProductionVersion == 0 {
			return nil, Version{}, Errorf(Conflict, "model %s has no version in Production: nothing to roll back", model)
		}
		if to == m.ProductionVersion {
			return nil, Version{}, Errorf(Conflict, "version %d of %s is the one in Production: roll back to an earlier one", to, model)
		}
		target, err := s.rollbackTarget(ctx, m, to)
		if err != nil {
			return nil, Version{}, err
		}
		cur, err := s.GetVersion(ctx, model, m.ProductionVersion)
		if err != nil {
			return nil, Version{}, err
		}
		now := s.Now()
		ch := &Change{}
		details := map[string]string{"rolled_back_from": strconv.Itoa(cur.Number)}
		a := s.audit(ctx, now, model, target.Number, ActionStageChanged)
		a.Reason, a.From, a.To, a.Rollback, a.Criteria, a.Details = reason, target.Stage, StageProduction, true, metricValues(target.Metrics), details
		target.Stage, target.StageChangedAt, target.UpdatedAt = StageProduction, now, now
		target.Revision++
		ch.Versions = append(ch.Versions, target)
		ch.Audit = append(ch.Audit, a)
		in := s.event(EventStageChanged, a)
		in.Detail.PreviousVersion = cur.Number // what the redeploy replaces
		ch.Events = append(ch.Events, in)
		if cur.Stage == StageProduction {
			ca := s.audit(ctx, now, model, cur.Number, ActionStageChanged)
			ca.Reason, ca.From, ca.To, ca.Rollback, ca.Criteria = reason, StageProduction, StageArchived, true, metricValues(cur.Metrics)
			ca.Details = map[string]string{"rolled_back_to": strconv.Itoa(target.Number)}
			cur.Stage, cur.StageChangedAt, cur.UpdatedAt = StageArchived, now, now
			cur.Revision++
			ch.Versions = append(ch.Versions, cur)
			ch.Audit = append(ch.Audit, ca)
			ch.Events = append(ch.Events, s.event(EventStageChanged, ca))
		}
		m.ProductionVersion = target.Number
		m.Revision++
		ch.Models = []Model{m}
		return ch, target, nil
	})
}

// mayRollBack checks that p may roll back a model whose policy gives
// rollback to role ("" or approver: approvers; publisher: publishers and
// approvers); admins always may. Forbidden.
func mayRollBack(p Principal, role Role, model string) error {
	switch {
	case p.Role == RoleAdmin, p.Role == RoleApprover:
		return nil
	case p.Role == RolePublisher && role == RolePublisher:
		return nil
	}
	who := "approvers and admins"
	if role == RolePublisher {
		who = "publishers, approvers and admins"
	}
	return Errorf(Forbidden, "the policy of %s lets %s roll back; %s is %s", model, who, p.Name, p.Role)
}

// rollbackTarget finds the version Production returns to: to, if it was
// in Production before, or the newest earlier Production version that can
// return (CanRollBackTo). Conflict if there is none.
func (s *Service) rollbackTarget(ctx context.Context, m Model, to int) (Version, error) {
	seen := map[int]bool{m.ProductionVersion: true}
	var skipped []string
	q := AuditQuery{Model: m.Name, Limit: MaxPageSize}
	for {
		p, err := s.cfg.Store.ListAudit(ctx, q)
		if err != nil {
			return Version{}, err
		}
		for _, e := range p.Items {
			if e.Action != ActionStageChanged || e.To != StageProduction || seen[e.Version] || (to != 0 && e.Version != to) {
				continue
			}
			seen[e.Version] = true
			v, err := s.cfg.Store.GetVersion(ctx, m.Name, e.Version)
			if err != nil && !IsCode(err, NotFound) {
				return Version{}, err
			}
			if err == nil {
				err = CanRollBackTo(v)
			}
			if err == nil {
				return v, nil
			}
			if to != 0 {
				return Version{}, Errorf(Conflict, "cannot roll back %s to version %d: %s", m.Name, to, ErrorMessage(err))
			}
			skipped = append(skipped, fmt.Sprintf("%d (%s)", e.Version, ErrorMessage(err)))
		}
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if to != 0 {
		return Version{}, Errorf(Conflict, "version %d of %s was never in Production: a rollback returns to a version that was", to, m.Name)
	}
	msg := fmt.Sprintf("nothing to roll back to: no version of %s was in Production before version %d", m.Name, m.ProductionVersion)
	if len(skipped) > 0 {
		msg += "; skipped " + strings.Join(skipped, ", ")
	}
	return Version{}, Errorf(Conflict, "%s", msg)
}
