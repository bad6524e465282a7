package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Deployments: one per (event, target), recorded by the redeploy consumer
// as it goes, each step an audit entry and an event in the model's
// history; and the processed-event records that make every consumer
// idempotent by event id.

// Deployment audit actions.
const (
	ActionDeploymentStarted   Action = "deployment.started"
	ActionDeploymentSucceeded Action = "deployment.succeeded"
	ActionDeploymentFailed    Action = "deployment.failed"
	// ActionDeploymentRequested records a redelivery request.
	ActionDeploymentRequested Action = "deployment.requested"
)

// DefaultProcessedTTL is how long a processed-event record is kept when
// MarkEventProcessed is given no ttl: longer than EventBridge retries an
// event (24 h) and than the outbox keeps one.
const DefaultProcessedTTL = 7 * 24 * time.Hour

// deploymentAction returns the audit action and event type of a status.
func deploymentAction(st DeploymentStatus) (Action, string, bool) {
	switch st {
	case DeploymentStarted:
		return ActionDeploymentStarted, EventDeploymentStarted, true
	case DeploymentSucceeded:
		return ActionDeploymentSucceeded, EventDeploymentSucceeded, true
	case DeploymentFailed:
		return ActionDeploymentFailed, EventDeploymentFailed, true
	}
	return "", "", false
}

// RecordDeployment creates (status STARTED, SUCCEEDED or FAILED) or
// advances the deployment d.ID (DeploymentID(d.EventID, d.TargetID) when
// empty), writing in the same Change an audit entry (action
// deployment.started|succeeded|failed, details target, kind, reason,
// attempts) and the event EventDeploymentStarted|Succeeded|Failed (detail
// model, version, previous_version, target_id, target_kind,
// deployment_id, reason, actor). Recording the status already stored is a
// no-op returning the stored record (a redelivered event); SUCCEEDED and
// FAILED never go back to STARTED (the stored record is returned);
// FAILED -> SUCCEEDED is allowed (a later retry), SUCCEEDED -> FAILED is a
// Conflict. The reason is cut to MaxReasonLen and control characters in
// it replaced. For consumers: no role is checked, d.Actor is recorded as
// the actor. Invalid (missing fields, unknown status), Conflict.
func (s *Service) RecordDeployment(ctx context.Context, d Deployment) (Deployment, error) {
	if d.Model == "" || d.TargetID == "" || d.EventID == "" || d.Version < 1 {
		return Deployment{}, Errorf(Invalid, "a deployment needs model, version, target id and event id")
	}
	action, evType, ok := deploymentAction(d.Status)
	if !ok {
		return Deployment{}, Errorf(Invalid, "unknown deployment status %q: STARTED, SUCCEEDED or FAILED", d.Status)
	}
	if d.ID == "" {
		d.ID = DeploymentID(d.EventID, d.TargetID)
	}
	d.Reason = cleanReason(d.Reason)
	ctx = withoutIdempotency(ctx)
	return update(ctx, s, func() (*Change, Deployment, error) {
		now := s.Now()
		cur, err := s.cfg.Store.GetDeployment(ctx, d.Model, d.ID)
		var next Deployment
		switch {
		case IsCode(err, NotFound):
			next = d
			if next.StartedAt.IsZero() {
				next.StartedAt = now
			}
			next.StartedAt = next.StartedAt.UTC().Truncate(time.Microsecond)
			next.UpdatedAt, next.Revision = now, 1
		case err != nil:
			return nil, Deployment{}, err
		case cur.Status == d.Status, d.Status == DeploymentStarted:
			return &Change{}, cur, nil // a redelivery, or news older than what is stored
		case cur.Status == DeploymentSucceeded && d.Status == DeploymentFailed:
			return nil, Deployment{}, Errorf(Conflict, "deployment %s of %s already SUCCEEDED: it cannot fail now", d.ID, d.Model)
		default:
			next = cur
			next.Status, next.Reason, next.UpdatedAt = d.Status, d.Reason, now
			next.Attempts = max(cur.Attempts, d.Attempts)
			if d.External != "" {
				next.External = d.External
			}
			next.Revision++
		}
		a := AuditEntry{ID: NewID(now), Model: next.Model, Version: next.Version, Action: action, Actor: next.Actor,
			Reason: next.Reason, At: now, Details: map[string]string{
				"deployment": next.ID, "target": next.TargetID, "kind": string(next.TargetKind),
				"attempts": strconv.Itoa(next.Attempts), "event": next.EventID,
			}}
		if next.Reason != "" {
			a.Details["reason"] = next.Reason
		}
		if next.PreviousVersion != 0 {
			a.Details["previous_version"] = strconv.Itoa(next.PreviousVersion)
		}
		if next.External != "" {
			a.Details["external"] = next.External
		}
		ev := s.event(evType, a)
		ev.Detail.PreviousVersion, ev.Detail.TargetID = next.PreviousVersion, next.TargetID
		ev.Detail.TargetKind, ev.Detail.DeploymentID = string(next.TargetKind), next.ID
		return &Change{Deployments: []Deployment{next}, Audit: []AuditEntry{a}, Events: []Event{ev}}, next, nil
	})
}

// cleanReason makes a failure reason (often a receiver's error text) fit
// an audit entry: valid UTF-8, no control characters but tab and newline,
// at most MaxReasonLen bytes.
func cleanReason(r string) string {
	r = strings.ToValidUTF8(r, "\uFFFD")
	r = strings.Map(func(c rune) rune {
		if isControl(c) && c != '\t' && c != '\n' {
			return ' '
		}
		return c
	}, r)
	if len(r) <= MaxReasonLen {
		return r
	}
	cut := MaxReasonLen - len("…")
	for cut > 0 && !utf8.RuneStart(r[cut]) {
		cut--
	}
	return r[:cut] + "…"
}

// GetDeployment returns the deployment id of model. NotFound.
func (s *Service) GetDeployment(ctx context.Context, model, id string) (Deployment, error) {
	d, err := s.cfg.Store.GetDeployment(ctx, model, id)
	if IsCode(err, NotFound) {
		return Deployment{}, Errorf(NotFound, "model %s has no deployment %q", model, id)
	}
	return d, err
}

// ListDeployments returns the deployments of a model, newest first. A
// deleted model keeps its deployments, like its history. NotFound if the
// model has none and does not exist; Invalid for a bad page token or size.
func (s *Service) ListDeployments(ctx context.Context, model, pageToken string, pageSize int) (List[Deployment], error) {
	limit, err := pageLimit(pageSize)
	if err != nil {
		return List[Deployment]{}, err
	}
	scope := "deployments\x00" + model
	cursor, err := s.decodeToken(scope, pageToken)
	if err != nil {
		return List[Deployment]{}, err
	}
	p, err := s.cfg.Store.ListDeployments(ctx, DeploymentQuery{Model: model, Cursor: cursor, Limit: limit})
	if err != nil {
		return List[Deployment]{}, err
	}
	if len(p.Items) == 0 && pageToken == "" {
		if _, err := s.GetModel(ctx, model); err != nil {
			return List[Deployment]{}, err
		}
	}
	return List[Deployment]{Items: nonNil(p.Items), NextPageToken: s.encodeToken(scope, p.Next)}, nil
}

// RedeliverDeployment asks the redeploy consumer to deliver deployment id
// again (publisher): it writes, with an audit entry
// (deployment.requested), a new EventDeploymentRequested naming the
// model, version, previous version, target and deployment, and returns
// its id. The consumer makes a new deployment for it. NotFound (the
// deployment, or its target since removed), Conflict (the model's
// Production version changed since: redelivering an older version would
// roll serving back behind the registry's back).
func (s *Service) RedeliverDeployment(ctx context.Context, model, id string) (string, error) {
	return update(ctx, s, func() (*Change, string, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, "", err
		}
		d, err := s.GetDeployment(ctx, model, id)
		if err != nil {
			return nil, "", err
		}
		t, err := s.cfg.Store.GetDeployTarget(ctx, model, d.TargetID)
		if IsCode(err, NotFound) {
			return nil, "", Errorf(NotFound, "deploy target %s of deployment %s was removed: nothing to redeliver to", d.TargetID, id)
		}
		if err != nil {
			return nil, "", err
		}
		if m.ProductionVersion != d.Version {
			return nil, "", Errorf(Conflict, "deployment %s delivered version %d, but version %d of %s is in Production now: only a deployment of the Production version is redelivered", id, d.Version, m.ProductionVersion, model)
		}
		now := s.Now()
		a := s.audit(ctx, now, model, d.Version, ActionDeploymentRequested)
		a.Details = map[string]string{"deployment": d.ID, "target": t.ID, "kind": string(t.Kind)}
		ev := s.event(EventDeploymentRequested, a)
		ev.Detail.PreviousVersion, ev.Detail.TargetID, ev.Detail.TargetKind, ev.Detail.DeploymentID = d.PreviousVersion, t.ID, string(t.Kind), d.ID
		return &Change{Audit: []AuditEntry{a}, Events: []Event{ev}}, ev.ID, nil
	})
}

// EventProcessed reports whether consumer has recorded eventID as processed
// (and the record has not expired). For consumers: no role is checked.
func (s *Service) EventProcessed(ctx context.Context, consumer, eventID string) (bool, error) {
	_, err := s.cfg.Store.GetProcessed(ctx, consumer, eventID, s.Now())
	switch {
	case err == nil:
		return true, nil
	case IsCode(err, NotFound):
		return false, nil
	}
	return false, err
}

// MarkEventProcessed records that consumer processed eventID, for ttl
// (DefaultProcessedTTL when ttl <= 0). Marking an event already marked
// (and unexpired) is not an error. Invalid (empty consumer or event id).
func (s *Service) MarkEventProcessed(ctx context.Context, consumer, eventID string, ttl time.Duration) error {
	if consumer == "" || eventID == "" {
		return Errorf(Invalid, "a processed-event record needs a consumer and an event id")
	}
	if ttl <= 0 {
		ttl = DefaultProcessedTTL
	}
	now := s.Now()
	err := s.cfg.Store.Commit(ctx, &Change{Processed: []ProcessedEvent{{Consumer: consumer, EventID: eventID, ProcessedAt: now, ExpiresAt: now.Add(ttl)}}})
	if errors.Is(err, ErrStale) {
		return nil // already marked
	}
	return err
}
