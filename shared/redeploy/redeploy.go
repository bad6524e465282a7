// Package redeploy is the consumer that makes serving follow Production:
// on a stage change to Production (a promotion or a rollback), and on a
// redelivery request for one target, it delivers the new version to every
// deploy target of the model — a signed webhook, or a SageMaker endpoint
// update — and records each deployment's outcome in the registry. The same
// Handler runs behind the local bus and in functions/redeploy.
//
// Delivery is at least once and idempotent by event id: each (event,
// target) is marked processed after its outcome is recorded, so a
// redelivered event skips what was done; a crash between the delivery and
// the mark delivers again (webhook receivers dedupe by Modelreg-Event-Id).
package redeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
	"github.com/modelreg/modelreg/shared/webhook"
)

// Consumer is the name the handler marks processed events under.
const Consumer = "redeploy"

// DefaultProcessedTTL is how long a processed (event, target) is
// remembered: longer than EventBridge retries (24 h) and any outbox
// backlog worth replaying.
const DefaultProcessedTTL = 14 * 24 * time.Hour

// DefaultLease is Handler.Lease when unset: longer than a webhook
// delivery with all its retries takes (5 attempts of at most 10 s with
// backoff, under a minute).
const DefaultLease = 2 * time.Minute

// ErrInProgress is returned (wrapped) for a target whose deployment for
// the event was started moments ago by another delivery of the event and
// has no outcome yet: the event is worth delivering again later.
var ErrInProgress = errors.New("deployment in progress")

// Registry is what the handler needs of the registry (*registry.Service).
type Registry interface {
	// DeployTargetsOf returns the deploy targets of model. NotFound.
	DeployTargetsOf(ctx context.Context, model string) ([]registry.DeployTarget, error)
	// OpenTargetSecret returns the plain signing secret of a webhook
	// target. Invalid if its sealed secret does not open.
	OpenTargetSecret(ctx context.Context, t registry.DeployTarget) ([]byte, error)
	// RecordDeployment stores d (STARTED, SUCCEEDED or FAILED) with its
	// history entry and event; the same status again is a no-op. Invalid.
	RecordDeployment(ctx context.Context, d registry.Deployment) (registry.Deployment, error)
	// GetDeployment returns the deployment id of model. NotFound.
	GetDeployment(ctx context.Context, model, id string) (registry.Deployment, error)
	// EventProcessed reports whether consumer marked eventID processed
	// (and the mark has not expired).
	EventProcessed(ctx context.Context, consumer, eventID string) (bool, error)
	// MarkEventProcessed marks eventID processed by consumer for ttl.
	MarkEventProcessed(ctx context.Context, consumer, eventID string, ttl time.Duration) error
	// GetVersion returns a version. NotFound.
	GetVersion(ctx context.Context, model string, number int) (registry.Version, error)
	// Downloads returns short-lived download links of a READY version's
	// files. NotFound, Conflict.
	Downloads(ctx context.Context, model string, number int, path string) (registry.DownloadSet, error)
}

// Webhooks delivers signed webhooks (*webhook.Client). A failure is a
// *webhook.Error saying whether it may be retried.
type Webhooks interface {
	Deliver(ctx context.Context, d webhook.Delivery) (webhook.Result, error)
}

// SageMaker updates endpoints (*sagemaker.Client). Failures are
// *sagemaker.Error saying whether they may be retried.
type SageMaker interface {
	StartUpdate(ctx context.Context, u sagemaker.Update) (sagemaker.Started, error)
	Endpoint(ctx context.Context, name string) (sagemaker.Status, error)
}

// ObjectURIs names where the artifacts are kept as s3:// URIs (shared/s3's
// Artifacts); SageMaker reads ModelDataUrl from there.
type ObjectURIs interface {
	ObjectURI(model string, version int, path string) string
}

// Handler delivers Production changes to deploy targets. Registry and
// Webhooks are required; without SageMaker (or without ObjectURIs, when
// artifacts are not in S3) SageMaker targets fail with the reason.
type Handler struct {
	Registry  Registry
	Webhooks  Webhooks
	SageMaker SageMaker
	Objects   ObjectURIs
	// TTL is how long processed marks last (default DefaultProcessedTTL).
	TTL time.Duration
	// Lease is how long a STARTED deployment is left to the handler that
	// started it (default DefaultLease): a second delivery of the event
	// meanwhile (EventBridge may deliver one event twice at once) is
	// answered with ErrInProgress instead of a second webhook. After it,
	// the deployment is taken to have crashed and is delivered again.
	Lease time.Duration
	// Now is the clock leases are measured with (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger

	mu sync.Mutex
	// pending are the SageMaker updates this process started whose outcome
	// Poll looks for (the local server has no EventBridge to tell it).
	pending map[string]pendingUpdate
}

type pendingUpdate struct {
	model, id, endpoint, config string
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// Handle consumes one modelreg event: a "Model Version Stage Changed" to
// Production deploys the version to every target of the model; a "Model
// Deployment Requested" deploys it to the one target it names; other
// events are ignored. It returns an error only for what is worth retrying
// (the registry unavailable, a receiver's 5xx after the client's own
// retries): the event is then delivered again and targets already done are
// skipped. Permanent failures are recorded as FAILED deployments.
func (h *Handler) Handle(ctx context.Context, e registry.Event) error {
	d := e.Detail
	var only string
	switch {
	case e.Type == registry.EventStageChanged && d.To == registry.StageProduction:
	case e.Type == registry.EventDeploymentRequested:
		if d.TargetID == "" {
			h.log().Warn("redeploy: deployment request without target_id ignored", "event_id", e.ID, "model", d.Model)
			return nil
		}
		only = d.TargetID
	default:
		return nil
	}
	if d.Model == "" || d.Version < 1 {
		h.log().Warn("redeploy: event without model or version ignored", "event_id", e.ID, "type", e.Type)
		return nil
	}
	targets, err := h.Registry.DeployTargetsOf(ctx, d.Model)
	if registry.ErrorCode(err) == registry.NotFound {
		return nil // the model is gone: nothing to follow
	}
	if err != nil {
		return fmt.Errorf("redeploy %s v%d: deploy targets: %w", d.Model, d.Version, err)
	}
	var errs []error
	for _, t := range targets {
		if only != "" && t.ID != only {
			continue
		}
		if err := h.deployTarget(ctx, e, t); err != nil {
			errs = append(errs, fmt.Errorf("target %s: %w", t.ID, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("redeploy %s v%d (event %s): %w", d.Model, d.Version, e.ID, errors.Join(errs...))
	}
	return nil
}

// processedKey is the processed-event key of one target of an event.
func processedKey(eventID, targetID string) string { return eventID + "/" + targetID }

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) lease() time.Duration {
	if h.Lease > 0 {
		return h.Lease
	}
	return DefaultLease
}

func (h *Handler) ttl() time.Duration {
	if h.TTL > 0 {
		return h.TTL
	}
	return DefaultProcessedTTL
}

// deployTarget deploys e's version to t once.
func (h *Handler) deployTarget(ctx context.Context, e registry.Event, t registry.DeployTarget) error {
	key := processedKey(e.ID, t.ID)
	done, err := h.Registry.EventProcessed(ctx, Consumer, key)
	if err != nil {
		return fmt.Errorf("processed mark: %w", err)
	}
	if done {
		return nil
	}
	mark := func() error {
		if err := h.Registry.MarkEventProcessed(ctx, Consumer, key, h.ttl()); err != nil {
			return fmt.Errorf("mark processed: %w", err)
		}
		return nil
	}
	d := e.Detail
	v, err := h.Registry.GetVersion(ctx, d.Model, d.Version)
	if registry.ErrorCode(err) == registry.NotFound {
		h.log().Warn("redeploy: version gone, nothing deployed", "event_id", e.ID, "model", d.Model, "version", d.Version)
		return mark()
	}
	if err != nil {
		return fmt.Errorf("version: %w", err)
	}
	if v.Stage != registry.StageProduction {
		// A later change moved Production on before this event was
		// delivered (its delivery was retried): deploying it now would
		// put serving on a version that is not Production.
		h.log().Info("redeploy: version no longer in Production, not deployed", "event_id", e.ID,
			"model", d.Model, "version", d.Version, "stage", v.Stage, "target_id", t.ID)
		return mark()
	}

	id := registry.DeploymentID(e.ID, t.ID)
	dep, err := h.Registry.GetDeployment(ctx, d.Model, id)
	switch {
	case registry.ErrorCode(err) == registry.NotFound:
		dep = registry.Deployment{ID: id, Model: d.Model, Version: d.Version, PreviousVersion: d.PreviousVersion,
			TargetID: t.ID, TargetKind: t.Kind, EventID: e.ID, Actor: d.Actor}
	case err != nil:
		return fmt.Errorf("deployment %s: %w", id, err)
	case dep.Status == registry.DeploymentSucceeded:
		return mark() // done before a crash took the mark
	case dep.Status == registry.DeploymentStarted && h.now().Sub(dep.UpdatedAt) < h.lease():
		return fmt.Errorf("%w: %s started at %s", ErrInProgress, dep.ID, dep.UpdatedAt.Format(time.RFC3339))
	}

	switch t.Kind {
	case registry.TargetWebhook:
		return h.webhook(ctx, e, t, v, dep, mark)
	case registry.TargetSageMaker:
		return h.sagemaker(ctx, t, v, dep, mark)
	}
	dep.Status, dep.Reason = registry.DeploymentFailed, fmt.Sprintf("unknown deploy target kind %q", t.Kind)
	if _, err := h.Registry.RecordDeployment(ctx, dep); err != nil {
		return fmt.Errorf("record deployment: %w", err)
	}
	return mark()
}

// start records dep as STARTED and returns it as stored. A deployment
// whose last try failed in a way worth retrying stays FAILED while it is
// tried again, so that a receiver down for hours does not add a started
// and a failed entry to the history at every retry; its success is
// recorded as usual.
func (h *Handler) start(ctx context.Context, dep registry.Deployment) (registry.Deployment, error) {
	if dep.Status == registry.DeploymentFailed && dep.Revision > 0 {
		return dep, nil
	}
	dep.Status, dep.Reason = registry.DeploymentStarted, ""
	stored, err := h.Registry.RecordDeployment(ctx, dep)
	if err != nil {
		return dep, fmt.Errorf("record deployment started: %w", err)
	}
	return stored, nil
}

// finish records dep's outcome. A failure that may pass is returned after
// it is recorded (the event is delivered again, the deployment starts
// again); anything else is marked processed.
func (h *Handler) finish(ctx context.Context, dep registry.Deployment, failure error, retry bool, mark func() error) error {
	dep.Status, dep.Reason = registry.DeploymentSucceeded, ""
	if failure != nil {
		dep.Status, dep.Reason = registry.DeploymentFailed, Reason(failure)
		if retry {
			dep.Reason = Reason(fmt.Errorf("%w (will be retried)", failure))
		}
	}
	if _, err := h.Registry.RecordDeployment(ctx, dep); err != nil {
		return fmt.Errorf("record deployment %s: %w", dep.Status, err)
	}
	if failure != nil && retry {
		return failure
	}
	return mark()
}

func (h *Handler) webhook(ctx context.Context, e registry.Event, t registry.DeployTarget, v registry.Version, dep registry.Deployment, mark func() error) error {
	secret, err := h.Registry.OpenTargetSecret(ctx, t)
	if err != nil {
		if registry.ErrorCode(err) == registry.Invalid {
			dep, serr := h.start(ctx, dep)
			if serr != nil {
				return serr
			}
			return h.finish(ctx, dep, fmt.Errorf("signing secret: %w", err), false, mark)
		}
		return fmt.Errorf("signing secret: %w", err)
	}
	body, err := h.payload(ctx, e, t, v, dep.ID)
	if err != nil {
		return err
	}
	failpoint.Hit(failpoint.RedeployBeforeDeliver)
	dep, err = h.start(ctx, dep)
	if err != nil {
		return err
	}
	res, err := h.Webhooks.Deliver(ctx, webhook.Delivery{URL: t.URL, Secret: secret, EventID: e.ID, Body: body})
	var werr *webhook.Error
	switch {
	case err == nil:
		dep.Attempts += res.Attempts
	case errors.As(err, &werr):
		dep.Attempts += werr.Attempts
	default:
		dep.Attempts++
	}
	if err != nil && ctx.Err() != nil {
		return err // shutting down: the event comes again
	}
	return h.finish(ctx, dep, err, err != nil && (werr == nil || werr.Retryable), mark)
}

func (h *Handler) sagemaker(ctx context.Context, t registry.DeployTarget, v registry.Version, dep registry.Deployment, mark func() error) error {
	fail := func(err error) error {
		dep, serr := h.start(ctx, dep)
		if serr != nil {
			return serr
		}
		return h.finish(ctx, dep, err, false, mark)
	}
	if h.SageMaker == nil {
		return fail(errors.New("this registry has no SageMaker client configured"))
	}
	dataURL, err := h.modelData(t, v)
	if err != nil {
		return fail(err)
	}
	u := sagemaker.Update{Model: v.Model, Version: v.Number, DeploymentID: dep.ID, Endpoint: t.Endpoint,
		ImageURI: t.ImageURI, RoleARN: t.RoleARN, InstanceType: t.InstanceType, ModelDataURL: dataURL}
	dep.External = u.ConfigName()
	dep, err = h.start(ctx, dep)
	if err != nil {
		return err
	}
	dep.Attempts++
	if _, err := h.SageMaker.StartUpdate(ctx, u); err != nil {
		var se *sagemaker.Error
		retry := !errors.As(err, &se) || se.Retryable
		if ctx.Err() != nil {
			return err
		}
		return h.finish(ctx, dep, err, retry, mark)
	}
	// Started: the outcome comes later (HandleEndpointState, or Poll). The
	// event is done with.
	h.mu.Lock()
	if h.pending == nil {
		h.pending = map[string]pendingUpdate{}
	}
	h.pending[dep.ID] = pendingUpdate{model: dep.Model, id: dep.ID, endpoint: t.Endpoint, config: dep.External}
	h.mu.Unlock()
	return mark()
}

// modelData is the s3:// URI of the file the target serves: its
// ArtifactPath, or the version's only file, or the version's s3:// source.
func (h *Handler) modelData(t registry.DeployTarget, v registry.Version) (string, error) {
	if len(v.Artifacts) == 0 {
		if strings.HasPrefix(v.Lineage.SourceURI, "s3://") {
			return v.Lineage.SourceURI, nil
		}
		return "", fmt.Errorf("version %d of %s has no files and no s3:// source for SageMaker to load", v.Number, v.Model)
	}
	path := t.ArtifactPath
	if path == "" {
		if len(v.Artifacts) != 1 {
			return "", fmt.Errorf("version %d of %s has %d files: the target must name one (--artifact PATH)", v.Number, v.Model, len(v.Artifacts))
		}
		path = v.Artifacts[0].Path
	}
	found := false
	for _, a := range v.Artifacts {
		found = found || a.Path == path
	}
	if !found {
		return "", fmt.Errorf("version %d of %s has no file %q", v.Number, v.Model, path)
	}
	if h.Objects == nil {
		return "", errors.New("SageMaker targets need artifacts in S3; this registry keeps them elsewhere")
	}
	return h.Objects.ObjectURI(v.Model, v.Number, path), nil
}

// Reason turns err into a deployment reason: one line of printable text,
// at most 1000 bytes.
func Reason(err error) string {
	s := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, err.Error())
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1000 {
		cut := 997
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// Payload is the JSON body of a webhook delivery.
type Payload struct {
	EventID         string            `json:"event_id"`
	DeploymentID    string            `json:"deployment_id"`
	TargetID        string            `json:"target_id"`
	Model           string            `json:"model"`
	Version         int               `json:"version"`
	PreviousVersion int               `json:"previous_version,omitempty"`
	Stage           registry.Stage    `json:"stage"`
	Rollback        bool              `json:"rollback,omitempty"`
	Redelivery      bool              `json:"redelivery,omitempty"`
	Artifacts       []PayloadArtifact `json:"artifacts"`
	SourceURI       string            `json:"source_uri,omitempty"`
	// URLsExpireAt is when the artifacts' download URLs stop working.
	URLsExpireAt time.Time `json:"urls_expire_at"`
	Actor        string    `json:"actor"`
	Reason       string    `json:"reason,omitempty"`
	Time         time.Time `json:"time"`
}

// PayloadArtifact is one file of the deployed version: a short-lived
// download URL, and the size and SHA-256 to check it against.
type PayloadArtifact struct {
	Path   string `json:"path"`
	URI    string `json:"uri"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

func (h *Handler) payload(ctx context.Context, e registry.Event, t registry.DeployTarget, v registry.Version, depID string) ([]byte, error) {
	set, err := h.Registry.Downloads(ctx, v.Model, v.Number, "")
	if err != nil {
		return nil, fmt.Errorf("download links: %w", err)
	}
	p := Payload{EventID: e.ID, DeploymentID: depID, TargetID: t.ID, Model: v.Model, Version: v.Number,
		PreviousVersion: e.Detail.PreviousVersion, Stage: registry.StageProduction, Rollback: e.Detail.Rollback,
		Redelivery: e.Type == registry.EventDeploymentRequested, Artifacts: []PayloadArtifact{}, SourceURI: set.SourceURI,
		URLsExpireAt: set.ExpiresAt.UTC(), Actor: e.Detail.Actor, Reason: e.Detail.Reason, Time: e.Time.UTC()}
	for _, f := range set.Files {
		p.Artifacts = append(p.Artifacts, PayloadArtifact{Path: f.Path, URI: f.URL, Size: f.Size, SHA256: f.SHA256})
	}
	return json.Marshal(p)
}
