package dynamodb

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"time"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// Deploy targets, deployments and processed-event records (issue 8).
//
//	record             pk                      sk          kind           index
//	deploy target      M#<m>                   DT#<id>     deploy_target  —
//	deployment         M#<m>                   DP#<id>     deployment     gsi1 DPM#<m> → <started>#<id>
//	processed event    PE#<consumer>#<event>¹  PROCESSED   processed      — (TTL expires_at)
//
// ¹ over 512 bytes as PE#sha256:<hex>; the item keeps both.

const (
	kindDeployTarget = "deploy_target"
	kindDeployment   = "deployment"
	kindProcessed    = "processed"

	prefixDeployTarget = "DT#"
	prefixDeployment   = "DP#"
	skProcessed        = "PROCESSED"
)

func deployTargetSK(id string) string { return prefixDeployTarget + id }
func deploymentSK(id string) string   { return prefixDeployment + id }
func deploymentsPK(model string) string {
	return "DPM#" + model
}

func processedPK(consumer, eventID string) string {
	k := consumer + "#" + eventID
	if len(k) <= 512 {
		return "PE#" + k
	}
	sum := sha256.Sum256([]byte(consumer + "\x00" + eventID))
	return "PE#sha256:" + hex.EncodeToString(sum[:])
}

type deployTargetItem struct {
	itemKeys
	ID                string `dynamodbav:"id"`
	Model             string `dynamodbav:"model"`
	TargetKind        string `dynamodbav:"target_kind"`
	URL               string `dynamodbav:"url,omitempty"`
	SealedSecret      string `dynamodbav:"sealed_secret,omitempty"`
	SecretFingerprint string `dynamodbav:"secret_fingerprint,omitempty"`
	Endpoint          string `dynamodbav:"endpoint,omitempty"`
	ImageURI          string `dynamodbav:"image_uri,omitempty"`
	RoleARN           string `dynamodbav:"role_arn,omitempty"`
	InstanceType      string `dynamodbav:"instance_type,omitempty"`
	ArtifactPath      string `dynamodbav:"artifact_path,omitempty"`
	CreatedBy         string `dynamodbav:"created_by,omitempty"`
	CreatedAt         string `dynamodbav:"created_at"`
	UpdatedAt         string `dynamodbav:"updated_at"`
	Revision          int64  `dynamodbav:"revision"`
}

func toDeployTargetItem(t registry.DeployTarget) deployTargetItem {
	return deployTargetItem{
		itemKeys: itemKeys{PK: modelPK(t.Model), SK: deployTargetSK(t.ID), Kind: kindDeployTarget},
		ID:       t.ID, Model: t.Model, TargetKind: string(t.Kind), URL: t.URL, SealedSecret: t.SealedSecret,
		SecretFingerprint: t.SecretFingerprint, Endpoint: t.Endpoint, ImageURI: t.ImageURI, RoleARN: t.RoleARN,
		InstanceType: t.InstanceType, ArtifactPath: t.ArtifactPath, CreatedBy: t.CreatedBy,
		CreatedAt: timeKey(t.CreatedAt), UpdatedAt: timeKey(t.UpdatedAt), Revision: t.Revision,
	}
}

func (it deployTargetItem) record() (registry.DeployTarget, error) {
	var p timeParser
	t := registry.DeployTarget{
		ID: it.ID, Model: it.Model, Kind: registry.DeployTargetKind(it.TargetKind), URL: it.URL, SealedSecret: it.SealedSecret,
		SecretFingerprint: it.SecretFingerprint, Endpoint: it.Endpoint, ImageURI: it.ImageURI, RoleARN: it.RoleARN,
		InstanceType: it.InstanceType, ArtifactPath: it.ArtifactPath, CreatedBy: it.CreatedBy,
		CreatedAt: p.time(it.CreatedAt), UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision,
	}
	return t, p.err("deploy target " + it.Model + "/" + it.ID)
}

type deploymentItem struct {
	itemKeys
	ID              string `dynamodbav:"id"`
	Model           string `dynamodbav:"model"`
	Version         int    `dynamodbav:"version"`
	PreviousVersion int    `dynamodbav:"previous_version,omitempty"`
	TargetID        string `dynamodbav:"target_id"`
	TargetKind      string `dynamodbav:"target_kind"`
	EventID         string `dynamodbav:"event_id"`
	Status          string `dynamodbav:"status"`
	Reason          string `dynamodbav:"reason,omitempty"`
	Attempts        int    `dynamodbav:"attempts,omitempty"`
	External        string `dynamodbav:"external,omitempty"`
	Actor           string `dynamodbav:"actor,omitempty"`
	StartedAt       string `dynamodbav:"started_at"`
	UpdatedAt       string `dynamodbav:"updated_at"`
	Revision        int64  `dynamodbav:"revision"`
}

func toDeploymentItem(d registry.Deployment) deploymentItem {
	return deploymentItem{
		itemKeys: itemKeys{PK: modelPK(d.Model), SK: deploymentSK(d.ID), Kind: kindDeployment,
			GSI1PK: deploymentsPK(d.Model), GSI1SK: timeIDKey(d.StartedAt, d.ID)},
		ID: d.ID, Model: d.Model, Version: d.Version, PreviousVersion: d.PreviousVersion, TargetID: d.TargetID,
		TargetKind: string(d.TargetKind), EventID: d.EventID, Status: string(d.Status), Reason: d.Reason,
		Attempts: d.Attempts, External: d.External, Actor: d.Actor,
		StartedAt: timeKey(d.StartedAt), UpdatedAt: timeKey(d.UpdatedAt), Revision: d.Revision,
	}
}

func (it deploymentItem) record() (registry.Deployment, error) {
	var p timeParser
	d := registry.Deployment{
		ID: it.ID, Model: it.Model, Version: it.Version, PreviousVersion: it.PreviousVersion, TargetID: it.TargetID,
		TargetKind: registry.DeployTargetKind(it.TargetKind), EventID: it.EventID, Status: registry.DeploymentStatus(it.Status),
		Reason: it.Reason, Attempts: it.Attempts, External: it.External, Actor: it.Actor,
		StartedAt: p.time(it.StartedAt), UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision,
	}
	return d, p.err("deployment " + it.Model + "/" + it.ID)
}

// processedItem records that a consumer handled an event. Expires is the
// exact expiry (the Commit condition and GetProcessed compare it);
// ExpiresAt, the TTL attribute, is the same time in epoch seconds rounded
// up, so DynamoDB never deletes a record before it expires.
type processedItem struct {
	itemKeys
	Consumer    string `dynamodbav:"consumer"`
	EventID     string `dynamodbav:"event_id"`
	ProcessedAt string `dynamodbav:"processed_at"`
	Expires     string `dynamodbav:"expires"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
}

func toProcessedItem(r registry.ProcessedEvent) processedItem {
	ttl := r.ExpiresAt.Unix()
	if r.ExpiresAt.Nanosecond() > 0 {
		ttl++
	}
	return processedItem{
		itemKeys: itemKeys{PK: processedPK(r.Consumer, r.EventID), SK: skProcessed, Kind: kindProcessed},
		Consumer: r.Consumer, EventID: r.EventID, ProcessedAt: timeKey(r.ProcessedAt),
		Expires: timeKey(r.ExpiresAt), ExpiresAt: ttl,
	}
}

func (it processedItem) record() (registry.ProcessedEvent, error) {
	var p timeParser
	r := registry.ProcessedEvent{Consumer: it.Consumer, EventID: it.EventID,
		ProcessedAt: p.time(it.ProcessedAt), ExpiresAt: p.time(it.Expires)}
	return r, p.err("processed event " + it.Consumer + "/" + it.EventID)
}

// planDeploy adds the deploy targets, deployments and processed-event
// records of ch to p.
func (p *plan) planDeploy(ch *registry.Change) error {
	for _, t := range ch.DeployTargets {
		if err := p.put(toDeployTargetItem(t), nil, t.Revision, "deploy target "+t.Model+"/"+t.ID, nil); err != nil {
			return err
		}
	}
	for _, t := range ch.DeletedDeployTargets {
		p.del(itemKey{modelPK(t.Model), deployTargetSK(t.ID)}, t.Revision, "deploy target "+t.Model+"/"+t.ID)
	}
	for _, d := range ch.DeletedDeployments {
		p.del(itemKey{modelPK(d.Model), deploymentSK(d.ID)}, d.Revision, "deployment "+d.Model+"/"+d.ID)
	}
	for _, d := range ch.Deployments {
		if err := p.put(toDeploymentItem(d), nil, d.Revision, "deployment "+d.Model+"/"+d.ID, nil); err != nil {
			return err
		}
	}
	for _, r := range ch.Processed {
		if r.Consumer == "" || r.EventID == "" {
			return registry.Errorf(registry.Invalid, "commit: processed-event record needs a consumer and an event id")
		}
		m, err := marshal(toProcessedItem(r), nil)
		if err != nil {
			return err
		}
		p.writes = append(p.writes, &write{kind: expiring, what: "processed-event record " + r.Consumer + "/" + r.EventID,
			key: keyOf(m), item: m, cond: "attribute_not_exists(#pk) OR #exp < :now",
			vals: item{":now": wire.S(timeKey(r.ProcessedAt))}})
	}
	return nil
}

// GetDeployTarget returns the deploy target id of model (GetItem,
// consistent). NotFound.
func (s *Store) GetDeployTarget(ctx context.Context, model, id string) (registry.DeployTarget, error) {
	return getRecord[deployTargetItem, registry.DeployTarget](ctx, s, itemKey{modelPK(model), deployTargetSK(id)},
		"deploy target "+model+"/"+id, func() error {
			return registry.Errorf(registry.NotFound, "model %q has no deploy target %q", model, id)
		})
}

// ListDeployTargets returns every deploy target of model, oldest first
// (Query M#<m>, begins_with DT#, consistent).
func (s *Store) ListDeployTargets(ctx context.Context, model string) ([]registry.DeployTarget, error) {
	src := s.partition(modelPK(model), prefixDeployTarget, "", false)
	out := []registry.DeployTarget{}
	for {
		m, ok, err := src.peek(ctx, registry.MaxDeployTargets+1)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		src.pop()
		t, err := decodeRecord[deployTargetItem, registry.DeployTarget](m)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b registry.DeployTarget) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// GetDeployment returns the deployment id of model (GetItem, consistent).
// NotFound.
func (s *Store) GetDeployment(ctx context.Context, model, id string) (registry.Deployment, error) {
	return getRecord[deploymentItem, registry.Deployment](ctx, s, itemKey{modelPK(model), deploymentSK(id)},
		"deployment "+model+"/"+id, func() error {
			return registry.Errorf(registry.NotFound, "model %q has no deployment %q", model, id)
		})
}

// ListDeployments returns deployments of q.Model, newest first (Query gsi1
// DPM#<m>, descending, then BatchGetItem). Invalid for a bad cursor or
// limit.
func (s *Store) ListDeployments(ctx context.Context, q registry.DeploymentQuery) (registry.Page[registry.Deployment], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Deployment]{}, err
	}
	scope := scopeOf("deployments", q.Model)
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.Deployment]{}, err
	}
	l := &listing[registry.Deployment]{
		sources: &merged{srcs: []*source{s.index(1, deploymentsPK(q.Model), after, true)}, desc: true},
		indexed: true, scope: scope, limit: q.Limit,
		decode: decodeRecord[deploymentItem, registry.Deployment],
		keep:   func(d registry.Deployment) bool { return d.Model == q.Model },
	}
	return l.page(ctx, s)
}

// GetProcessed returns the record that consumer processed eventID unless it
// expired before now (GetItem, consistent; TTL deletes lazily, so the
// expiry is checked here). NotFound otherwise.
func (s *Store) GetProcessed(ctx context.Context, consumer, eventID string, now time.Time) (registry.ProcessedEvent, error) {
	missing := func() error {
		return registry.Errorf(registry.NotFound, "event %q was not processed by %q", eventID, consumer)
	}
	r, err := getRecord[processedItem, registry.ProcessedEvent](ctx, s, itemKey{processedPK(consumer, eventID), skProcessed},
		"processed event "+consumer+"/"+eventID, missing)
	if err != nil {
		return registry.ProcessedEvent{}, err
	}
	if r.Consumer != consumer || r.EventID != eventID || r.ExpiresAt.Before(now) {
		return registry.ProcessedEvent{}, missing()
	}
	return r, nil
}
