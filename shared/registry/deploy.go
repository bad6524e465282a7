package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// DeployTargetKind says how a deploy target follows Production.
type DeployTargetKind string

// Deploy target kinds.
const (
	// TargetWebhook POSTs a signed JSON body to URL.
	TargetWebhook DeployTargetKind = "webhook"
	// TargetSageMaker points a SageMaker endpoint at the new version
	// (CreateModel, CreateEndpointConfig, UpdateEndpoint).
	TargetSageMaker DeployTargetKind = "sagemaker"
)

// MaxDeployTargets is the most deploy targets one model may have.
const MaxDeployTargets = 20

// DeployTarget is one place a model's Production version is deployed to
// whenever Production changes (a promotion or a rollback).
type DeployTarget struct {
	ID    string // "dt-…", unique across models
	Model string
	Kind  DeployTargetKind

	// URL is where a webhook target POSTs (TargetWebhook).
	URL string
	// SealedSecret is the webhook's signing secret as the SecretBox sealed
	// it (ciphertext locally; a reference on AWS). The API never shows it.
	SealedSecret string
	// SecretFingerprint identifies the secret without revealing it
	// (SecretFingerprint of the plain secret); the API shows it.
	SecretFingerprint string

	// SageMaker targets (TargetSageMaker).
	Endpoint     string // the endpoint to update
	ImageURI     string // the inference image
	RoleARN      string // the execution role SageMaker assumes
	InstanceType string // e.g. ml.m5.large
	// ArtifactPath is the version's file to serve (ModelDataUrl); "" means
	// the version's only file.
	ArtifactPath string

	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	Revision  int64
}

// DeploymentStatus is where one deployment stands.
type DeploymentStatus string

// Deployment statuses.
const (
	DeploymentStarted   DeploymentStatus = "STARTED"
	DeploymentSucceeded DeploymentStatus = "SUCCEEDED"
	DeploymentFailed    DeploymentStatus = "FAILED"
)

// Deployment is one redeploy of one target for one change of Production.
type Deployment struct {
	// ID is DeploymentID(EventID, TargetID): a redelivered event finds the
	// deployment it already made.
	ID              string
	Model           string
	Version         int // the version deployed
	PreviousVersion int // the Production version it replaces (0: none)
	TargetID        string
	TargetKind      DeployTargetKind
	// EventID is the event that caused the deployment (a stage change to
	// Production, or a redelivery request).
	EventID string
	Status  DeploymentStatus
	Reason  string // why it failed
	// Attempts counts the deliveries tried (webhook retries included).
	Attempts int
	// External is the backend's handle for the deployment, e.g. the
	// SageMaker endpoint config it created.
	External  string
	Actor     string // who caused it (the actor of the stage change)
	StartedAt time.Time
	UpdatedAt time.Time
	Revision  int64
}

// DeploymentID is the ID of the deployment of target for event.
func DeploymentID(eventID, targetID string) string {
	h := sha256.Sum256([]byte(eventID + "\x00" + targetID))
	return "dp-" + hex.EncodeToString(h[:10])
}

// SecretFingerprint identifies a secret without revealing it: "sha256:" and
// the first 16 hex digits of its SHA-256.
func SecretFingerprint(secret []byte) string {
	h := sha256.Sum256(secret)
	return "sha256:" + hex.EncodeToString(h[:8])
}

// ProcessedEvent records that Consumer handled the event EventID, so a
// redelivery (EventBridge and the outbox deliver at least once) is skipped
// until ExpiresAt; after that the record may be gone.
type ProcessedEvent struct {
	Consumer    string // e.g. "redeploy", "notify"
	EventID     string
	ProcessedAt time.Time
	ExpiresAt   time.Time
}

// SecretBox seals secrets the registry keeps for others (webhook signing
// secrets): locally AES-GCM under a key in the data directory; on AWS a
// KMS key or Secrets Manager, the record holding only the sealed form.
type SecretBox interface {
	// Seal returns the sealed form of secret, to store on a record.
	Seal(ctx context.Context, secret []byte) (string, error)
	// Open returns the secret sealed as sealed. Invalid if it was not
	// sealed by this box (or was altered).
	Open(ctx context.Context, sealed string) ([]byte, error)
}

type sealContextKey struct{}

// WithSealContext returns ctx naming the deploy target whose secret a
// SecretBox seals or opens. Boxes bind the sealed form to it (AES-GCM
// additional data locally, the KMS encryption context on AWS), so a sealed
// secret copied onto another target does not open.
func WithSealContext(ctx context.Context, model, targetID string) context.Context {
	return context.WithValue(ctx, sealContextKey{}, map[string]string{"modelreg:model": model, "modelreg:target": targetID})
}

// SealContextFrom returns the seal context of ctx (nil if none).
func SealContextFrom(ctx context.Context) map[string]string {
	m, _ := ctx.Value(sealContextKey{}).(map[string]string)
	return m
}
