package sqlite

import (
	"context"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Deploy targets, deployments and processed-event records (issue 8).

type deployTargetRecord struct {
	ID                string    `json:"id"`
	Model             string    `json:"model"`
	Kind              string    `json:"kind"`
	URL               string    `json:"url,omitempty"`
	SealedSecret      string    `json:"sealed_secret,omitempty"`
	SecretFingerprint string    `json:"secret_fingerprint,omitempty"`
	Endpoint          string    `json:"endpoint,omitempty"`
	ImageURI          string    `json:"image_uri,omitempty"`
	RoleARN           string    `json:"role_arn,omitempty"`
	InstanceType      string    `json:"instance_type,omitempty"`
	ArtifactPath      string    `json:"artifact_path,omitempty"`
	CreatedBy         string    `json:"created_by,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Revision          int64     `json:"revision"`
}

func toDeployTargetRecord(t registry.DeployTarget) deployTargetRecord {
	return deployTargetRecord{
		ID: t.ID, Model: t.Model, Kind: string(t.Kind), URL: t.URL, SealedSecret: t.SealedSecret,
		SecretFingerprint: t.SecretFingerprint, Endpoint: t.Endpoint, ImageURI: t.ImageURI, RoleARN: t.RoleARN,
		InstanceType: t.InstanceType, ArtifactPath: t.ArtifactPath, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(), Revision: t.Revision,
	}
}

func fromDeployTargetRecord(r deployTargetRecord) registry.DeployTarget {
	return registry.DeployTarget{
		ID: r.ID, Model: r.Model, Kind: registry.DeployTargetKind(r.Kind), URL: r.URL, SealedSecret: r.SealedSecret,
		SecretFingerprint: r.SecretFingerprint, Endpoint: r.Endpoint, ImageURI: r.ImageURI, RoleARN: r.RoleARN,
		InstanceType: r.InstanceType, ArtifactPath: r.ArtifactPath, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision,
	}
}

type deploymentRecord struct {
	ID              string    `json:"id"`
	Model           string    `json:"model"`
	Version         int       `json:"version"`
	PreviousVersion int       `json:"previous_version,omitempty"`
	TargetID        string    `json:"target_id"`
	TargetKind      string    `json:"target_kind"`
	EventID         string    `json:"event_id"`
	Status          string    `json:"status"`
	Reason          string    `json:"reason,omitempty"`
	Attempts        int       `json:"attempts,omitempty"`
	External        string    `json:"external,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Revision        int64     `json:"revision"`
}

func toDeploymentRecord(d registry.Deployment) deploymentRecord {
	return deploymentRecord{
		ID: d.ID, Model: d.Model, Version: d.Version, PreviousVersion: d.PreviousVersion, TargetID: d.TargetID,
		TargetKind: string(d.TargetKind), EventID: d.EventID, Status: string(d.Status), Reason: d.Reason,
		Attempts: d.Attempts, External: d.External, Actor: d.Actor,
		StartedAt: d.StartedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC(), Revision: d.Revision,
	}
}

func fromDeploymentRecord(r deploymentRecord) registry.Deployment {
	return registry.Deployment{
		ID: r.ID, Model: r.Model, Version: r.Version, PreviousVersion: r.PreviousVersion, TargetID: r.TargetID,
		TargetKind: registry.DeployTargetKind(r.TargetKind), EventID: r.EventID, Status: registry.DeploymentStatus(r.Status),
		Reason: r.Reason, Attempts: r.Attempts, External: r.External, Actor: r.Actor,
		StartedAt: r.StartedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision,
	}
}

type processedRecord struct {
	Consumer    string    `json:"consumer"`
	EventID     string    `json:"event_id"`
	ProcessedAt time.Time `json:"processed_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// applyDeploy writes the deploy targets, deployments and processed-event
// records of ch.
func (c *committer) applyDeploy(ch *registry.Change) error {
	// Deletions first: IDs are unique across models here, so a record
	// moved to another model (a rename) is deleted, then inserted.
	for _, t := range ch.DeletedDeployTargets {
		if err := c.delete("deploy target "+t.Model+"/"+t.ID, t.Revision,
			`DELETE FROM deploy_targets WHERE id = ? AND model = ? AND revision = ?`, t.ID, t.Model, t.Revision); err != nil {
			return err
		}
	}
	for _, d := range ch.DeletedDeployments {
		if err := c.delete("deployment "+d.Model+"/"+d.ID, d.Revision,
			`DELETE FROM deployments WHERE id = ? AND model = ? AND revision = ?`, d.ID, d.Model, d.Revision); err != nil {
			return err
		}
	}
	for _, t := range ch.DeployTargets {
		body, err := encode(toDeployTargetRecord(t))
		if err != nil {
			return err
		}
		created := timeKey(t.CreatedAt)
		// An update must name the same model: the WHERE clause keeps a
		// target from moving to another model's list.
		if err := c.put("deploy target "+t.Model+"/"+t.ID, t.Revision,
			`INSERT INTO deploy_targets (id, model, revision, created_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{t.ID, t.Model, t.Revision, created, body},
			`UPDATE deploy_targets SET revision = ?, body = ? WHERE id = ? AND model = ? AND revision = ?`,
			[]any{t.Revision, body, t.ID, t.Model, t.Revision - 1}); err != nil {
			return err
		}
	}
	for _, d := range ch.Deployments {
		body, err := encode(toDeploymentRecord(d))
		if err != nil {
			return err
		}
		started := timeKey(d.StartedAt)
		if err := c.put("deployment "+d.Model+"/"+d.ID, d.Revision,
			`INSERT INTO deployments (id, model, revision, started_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{d.ID, d.Model, d.Revision, started, body},
			`UPDATE deployments SET revision = ?, body = ? WHERE id = ? AND model = ? AND revision = ?`,
			[]any{d.Revision, body, d.ID, d.Model, d.Revision - 1}); err != nil {
			return err
		}
	}
	for _, p := range ch.Processed {
		if p.Consumer == "" || p.EventID == "" {
			return registry.Errorf(registry.Invalid, "commit: processed-event record needs a consumer and an event id")
		}
		body, err := encode(processedRecord{Consumer: p.Consumer, EventID: p.EventID,
			ProcessedAt: p.ProcessedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC()})
		if err != nil {
			return err
		}
		// Insert, or replace a record that expired before this one was
		// processed; an unexpired one stays and the Change fails.
		n, err := c.exec(`INSERT INTO processed_events (consumer, event_id, expires_at, body) VALUES (?, ?, ?, ?)
			ON CONFLICT (consumer, event_id) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body
			WHERE processed_events.expires_at < ?`,
			p.Consumer, p.EventID, timeKey(p.ExpiresAt), body, timeKey(p.ProcessedAt))
		if err != nil {
			return dbError(err, "commit: record event %s processed by %s", p.EventID, p.Consumer)
		}
		if n == 0 {
			return stale("event %s was already processed by %s", p.EventID, p.Consumer)
		}
		// Drop a few expired records, so the table does not grow without bound.
		if _, err := c.exec(`DELETE FROM processed_events WHERE (consumer, event_id) IN
			(SELECT consumer, event_id FROM processed_events WHERE expires_at < ? LIMIT 16)`, timeKey(p.ProcessedAt)); err != nil {
			return dbError(err, "commit: drop expired processed-event records")
		}
	}
	return nil
}

// GetDeployTarget returns the deploy target id of model. NotFound.
func (s *Store) GetDeployTarget(ctx context.Context, model, id string) (registry.DeployTarget, error) {
	r, err := getBody[deployTargetRecord](ctx, s.r, func() error {
		return registry.Errorf(registry.NotFound, "model %q has no deploy target %q", model, id)
	}, "deploy target "+model+"/"+id, `SELECT body FROM deploy_targets WHERE id = ? AND model = ?`, id, model)
	return fromDeployTargetRecord(r), err
}

// ListDeployTargets returns every deploy target of model, oldest first.
func (s *Store) ListDeployTargets(ctx context.Context, model string) ([]registry.DeployTarget, error) {
	out, err := scanBodies(ctx, s.r, fromDeployTargetRecord, "deploy targets of "+model,
		`SELECT body FROM deploy_targets WHERE model = ? ORDER BY created_at, id`, model)
	if out == nil && err == nil {
		out = []registry.DeployTarget{}
	}
	return out, err
}

// GetDeployment returns the deployment id of model. NotFound.
func (s *Store) GetDeployment(ctx context.Context, model, id string) (registry.Deployment, error) {
	r, err := getBody[deploymentRecord](ctx, s.r, func() error {
		return registry.Errorf(registry.NotFound, "model %q has no deployment %q", model, id)
	}, "deployment "+model+"/"+id, `SELECT body FROM deployments WHERE id = ? AND model = ?`, id, model)
	return fromDeploymentRecord(r), err
}

// ListDeployments returns deployments of q.Model, newest (StartedAt, then
// ID) first. Invalid for a bad cursor or limit.
func (s *Store) ListDeployments(ctx context.Context, q registry.DeploymentQuery) (registry.Page[registry.Deployment], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Deployment]{}, err
	}
	where, args := []string{"model = ?"}, []any{q.Model}
	if q.Cursor != "" {
		var c timeCursor
		if err := decodeCursor(q.Cursor, &c, c.valid); err != nil {
			return registry.Page[registry.Deployment]{}, err
		}
		where, args = append(where, "(started_at, id) < (?, ?)"), append(args, c.Time, c.ID)
	}
	items, err := scanBodies(ctx, s.r, fromDeploymentRecord, "deployments of "+q.Model,
		`SELECT body FROM deployments WHERE `+strings.Join(where, " AND ")+` ORDER BY started_at DESC, id DESC LIMIT ?`,
		append(args, q.Limit+1)...)
	return page(items, err, q.Limit, func(d registry.Deployment) any { return timeCursor{timeKey(d.StartedAt), d.ID} })
}

// GetProcessed returns the record that consumer processed eventID unless it
// expired before now. NotFound otherwise.
func (s *Store) GetProcessed(ctx context.Context, consumer, eventID string, now time.Time) (registry.ProcessedEvent, error) {
	r, err := getBody[processedRecord](ctx, s.r, func() error {
		return registry.Errorf(registry.NotFound, "event %q was not processed by %q", eventID, consumer)
	}, "processed event "+consumer+"/"+eventID,
		`SELECT body FROM processed_events WHERE consumer = ? AND event_id = ? AND expires_at >= ?`,
		consumer, eventID, timeKey(now))
	if err != nil {
		return registry.ProcessedEvent{}, err
	}
	return registry.ProcessedEvent{Consumer: r.Consumer, EventID: r.EventID,
		ProcessedAt: r.ProcessedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}, nil
}
