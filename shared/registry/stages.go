package registry

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// TransitionResult is what a transition did: a direct move returns the
// version; a move that needs approval returns the pending approval.
type TransitionResult struct {
	Version  *Version
	Approval *Approval
}

// directMoves lists the stage changes a publisher may make without an
// approval, by target stage.
var directMoves = map[Stage][]Stage{
	StageStaging:  {StageNone, StageArchived},
	StageNone:     {StageStaging, StageArchived},
	StageArchived: {StageNone, StageStaging},
}

// Transition moves a version to another stage. None, Staging and Archived
// are direct moves among themselves; Staging needs a READY version.
// Production goes through the approval workflow (see requestPromotion:
// the result holds the PENDING approval); a Production version leaves Production only when
// another is promoted or rolled back to. Invalid, NotFound, Conflict.
func (s *Service) Transition(ctx context.Context, model string, number int, to Stage, reason string) (TransitionResult, error) {
	if err := ValidateText("reason", reason, MaxReasonLen); err != nil {
		return TransitionResult{}, err
	}
	if to == StageProduction {
		a, err := s.requestPromotion(ctx, model, number, reason)
		if err != nil {
			return TransitionResult{}, err
		}
		return TransitionResult{Approval: &a}, nil
	}
	allowedFrom, ok := directMoves[to]
	if !ok {
		return TransitionResult{}, Errorf(Invalid, "unknown stage %q: use None, Staging, Production or Archived", to)
	}
	v, err := s.changeVersion(ctx, model, number, func(v *Version, a *AuditEntry) error {
		switch {
		case v.Stage == to:
			return Errorf(Conflict, "version %d of %s is already in %s", number, model, to)
		case v.Stage == StageProduction:
			return Errorf(Conflict, "version %d of %s is in Production: promote another version (or roll back) to replace it", number, model)
		case !slices.Contains(allowedFrom, v.Stage):
			return Errorf(Conflict, "version %d of %s cannot move from %s to %s", number, model, v.Stage, to)
		case to == StageStaging && v.Status != StatusReady:
			return Errorf(Conflict, "version %d of %s is %s: only READY versions move to Staging (finish its upload first)", number, model, v.Status)
		}
		a.Action, a.From, a.To, a.Reason = ActionStageChanged, v.Stage, to, reason
		a.Criteria = metricValues(v.Metrics)
		v.Stage = to
		v.StageChangedAt = a.At
		return nil
	}, EventStageChanged)
	if err != nil {
		return TransitionResult{}, err
	}
	return TransitionResult{Version: &v}, nil
}

// StageVersion returns the version in a stage: the Production version, or
// the newest version in another stage. With at set (Production only), it
// returns the version that was in Production at that time, from the audit
// trail, or its tombstone (Deleted set) if it was deleted since. NotFound
// when there is none.
func (s *Service) StageVersion(ctx context.Context, model string, stage Stage, at *time.Time) (Version, error) {
	m, err := s.GetModel(ctx, model)
	if err != nil {
		return Version{}, err
	}
	if at != nil {
		if stage != StageProduction {
			return Version{}, Errorf(Invalid, "at= is answered for Production only, the one stage that holds a single version")
		}
		e, err := s.cfg.Store.StageAt(ctx, model, stage, *at)
		if IsCode(err, NotFound) || (err == nil && e.To != StageProduction) {
			return Version{}, Errorf(NotFound, "no version of %s was in Production at %s", model, at.UTC().Format(time.RFC3339))
		}
		if err != nil {
			return Version{}, err
		}
		// A version deleted since answers with its tombstone (Deleted set).
		v, err := s.cfg.Store.GetVersion(ctx, model, e.Version)
		if err != nil {
			return Version{}, fmt.Errorf("read version %d of %s: %w", e.Version, model, err)
		}
		return v, nil
	}
	if stage == StageProduction {
		if m.ProductionVersion == 0 {
			return Version{}, Errorf(NotFound, "model %s has no version in Production", model)
		}
		return s.GetVersion(ctx, model, m.ProductionVersion)
	}
	p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: model, Stage: stage, Limit: 1})
	if err != nil {
		return Version{}, err
	}
	if len(p.Items) == 0 {
		return Version{}, Errorf(NotFound, "model %s has no version in %s", model, stage)
	}
	return p.Items[0], nil
}

// SetAlias points alias at a version of model, creating or moving it.
// Invalid, NotFound, Conflict (too many aliases).
func (s *Service) SetAlias(ctx context.Context, model, alias string, number int) (Alias, error) {
	if err := ValidateAliasName(alias); err != nil {
		return Alias{}, err
	}
	res, err := update(ctx, s, func() (*Change, Alias, error) {
		v, err := s.GetVersion(ctx, model, number)
		if err != nil {
			return nil, Alias{}, err
		}
		if v.Status != StatusReady {
			return nil, Alias{}, Errorf(Conflict, "version %d of %s is %s: an alias points serving code at a version, so only READY versions can have one", number, model, v.Status)
		}
		now := s.Now()
		al, err := s.cfg.Store.GetAlias(ctx, model, alias)
		from := 0
		switch {
		case err == nil:
			if al.Version == number {
				return nil, Alias{}, Errorf(Conflict, "alias %s of %s already points at version %d", alias, model, number)
			}
			from = al.Version
			al.Revision++
		case IsCode(err, NotFound):
			all, err := s.cfg.Store.ListAliases(ctx, model)
			if err != nil {
				return nil, Alias{}, err
			}
			if len(all) >= MaxAliases {
				return nil, Alias{}, Errorf(Conflict, "model %s has %d aliases, the most it may have", model, MaxAliases)
			}
			al = Alias{Model: model, Name: alias, Revision: 1}
		default:
			return nil, Alias{}, err
		}
		al.Version, al.UpdatedBy, al.UpdatedAt = number, PrincipalFrom(ctx).Name, now
		a := s.audit(ctx, now, model, number, ActionAliasSet)
		a.Details = map[string]string{"alias": alias}
		if from != 0 {
			a.Details["previous_version"] = strconv.Itoa(from)
		}
		ev := s.event(EventAliasChanged, a)
		ev.Detail.Alias = alias
		return &Change{Aliases: []Alias{al}, Audit: []AuditEntry{a}, Events: []Event{ev}}, al, nil
	})
	if err != nil {
		return Alias{}, err
	}
	return res, nil
}

// DeleteAlias removes an alias. NotFound.
func (s *Service) DeleteAlias(ctx context.Context, model, alias string) error {
	_, err := update(ctx, s, func() (*Change, any, error) {
		al, err := s.GetAlias(ctx, model, alias)
		if err != nil {
			return nil, nil, err
		}
		a := s.audit(ctx, s.Now(), model, al.Version, ActionAliasDeleted)
		a.Details = map[string]string{"alias": alias}
		ev := s.event(EventAliasChanged, a)
		ev.Detail.Alias = alias
		return &Change{DeletedAliases: []Alias{al}, Audit: []AuditEntry{a}, Events: []Event{ev}}, nil, nil
	})
	return err
}

// GetAlias returns an alias. NotFound.
func (s *Service) GetAlias(ctx context.Context, model, alias string) (Alias, error) {
	al, err := s.cfg.Store.GetAlias(ctx, model, alias)
	if IsCode(err, NotFound) {
		if _, merr := s.GetModel(ctx, model); merr != nil {
			return Alias{}, merr
		}
		return Alias{}, Errorf(NotFound, "model %s has no alias %q", model, alias)
	}
	return al, err
}

// ListAliases returns a model's aliases. NotFound.
func (s *Service) ListAliases(ctx context.Context, model string) ([]Alias, error) {
	if _, err := s.GetModel(ctx, model); err != nil {
		return nil, err
	}
	al, err := s.cfg.Store.ListAliases(ctx, model)
	return nonNil(al), err
}

// History returns the audit trail of a model (or of one of its versions
// when version > 0), newest first. NotFound if the model never existed.
func (s *Service) History(ctx context.Context, model string, version int, pageToken string, pageSize int) (List[AuditEntry], error) {
	limit, err := pageLimit(pageSize)
	if err != nil {
		return List[AuditEntry]{}, err
	}
	scope := fmt.Sprintf("audit\x00%s\x00%d", model, version)
	cursor, err := s.decodeToken(scope, pageToken)
	if err != nil {
		return List[AuditEntry]{}, err
	}
	p, err := s.cfg.Store.ListAudit(ctx, AuditQuery{Model: model, Version: version, Cursor: cursor, Limit: limit})
	if err != nil {
		return List[AuditEntry]{}, err
	}
	if len(p.Items) == 0 && pageToken == "" {
		// A deleted model keeps its trail; a name with no trail never existed.
		if _, err := s.GetModel(ctx, model); err != nil {
			return List[AuditEntry]{}, err
		}
	}
	return List[AuditEntry]{Items: nonNil(p.Items), NextPageToken: s.encodeToken(scope, p.Next)}, nil
}

// GetApproval returns an approval. NotFound.
func (s *Service) GetApproval(ctx context.Context, id string) (Approval, error) {
	a, err := s.cfg.Store.GetApproval(ctx, id)
	if IsCode(err, NotFound) {
		return Approval{}, Errorf(NotFound, "approval %q not found", id)
	}
	return a, err
}

// ListApprovals lists approvals, newest first, optionally by status and model.
func (s *Service) ListApprovals(ctx context.Context, status ApprovalStatus, model, pageToken string, pageSize int) (List[Approval], error) {
	switch status {
	case "", ApprovalPending, ApprovalApproved, ApprovalRejected, ApprovalExpired, ApprovalCancelled, ApprovalFailed:
	default:
		return List[Approval]{}, Errorf(Invalid, "unknown approval status %q", status)
	}
	limit, err := pageLimit(pageSize)
	if err != nil {
		return List[Approval]{}, err
	}
	scope := "approvals\x00" + string(status) + "\x00" + model
	cursor, err := s.decodeToken(scope, pageToken)
	if err != nil {
		return List[Approval]{}, err
	}
	p, err := s.cfg.Store.ListApprovals(ctx, ApprovalQuery{Status: status, Model: model, Cursor: cursor, Limit: limit})
	if err != nil {
		return List[Approval]{}, err
	}
	return List[Approval]{Items: nonNil(p.Items), NextPageToken: s.encodeToken(scope, p.Next)}, nil
}
