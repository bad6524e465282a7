package httpapi

import (
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// DeployTarget is where a model's Production version is deployed when it
// changes. A webhook target shows its signing secret only as
// SecretFingerprint; the secret itself never leaves the server.
type DeployTarget struct {
	ID    string `json:"id"`
	Model string `json:"model"`
	Kind  string `json:"kind"` // webhook or sagemaker

	URL               string `json:"url,omitempty"`
	SecretFingerprint string `json:"secret_fingerprint,omitempty"`

	Endpoint     string `json:"endpoint,omitempty"`
	ImageURI     string `json:"image_uri,omitempty"`
	RoleARN      string `json:"role_arn,omitempty"`
	InstanceType string `json:"instance_type,omitempty"`
	ArtifactPath string `json:"artifact_path,omitempty"`

	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}

func deployTargetOut(t registry.DeployTarget) DeployTarget {
	return DeployTarget{
		ID: t.ID, Model: t.Model, Kind: string(t.Kind), URL: t.URL, SecretFingerprint: t.SecretFingerprint,
		Endpoint: t.Endpoint, ImageURI: t.ImageURI, RoleARN: t.RoleARN, InstanceType: t.InstanceType,
		ArtifactPath: t.ArtifactPath, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Revision: t.Revision,
	}
}

// Deployment is one redeploy of one target for one change of Production.
type Deployment struct {
	ID              string    `json:"id"`
	Model           string    `json:"model"`
	Version         int       `json:"version"`
	PreviousVersion int       `json:"previous_version,omitempty"`
	TargetID        string    `json:"target_id"`
	TargetKind      string    `json:"target_kind"`
	EventID         string    `json:"event_id"`
	Status          string    `json:"status"` // STARTED, SUCCEEDED or FAILED
	Reason          string    `json:"reason,omitempty"`
	Attempts        int       `json:"attempts"`
	External        string    `json:"external,omitempty"`
	Actor           string    `json:"actor,omitempty"`
	StartedAt       time.Time `json:"started_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Revision        int64     `json:"revision"`
}

func deploymentOut(d registry.Deployment) Deployment {
	return Deployment{
		ID: d.ID, Model: d.Model, Version: d.Version, PreviousVersion: d.PreviousVersion, TargetID: d.TargetID,
		TargetKind: string(d.TargetKind), EventID: d.EventID, Status: string(d.Status), Reason: d.Reason,
		Attempts: d.Attempts, External: d.External, Actor: d.Actor, StartedAt: d.StartedAt, UpdatedAt: d.UpdatedAt, Revision: d.Revision,
	}
}

// RedeliveryAccepted is the 202 body of a redelivery request: the id of
// the "Model Deployment Requested" event the redeploy consumer acts on.
type RedeliveryAccepted struct {
	EventID string `json:"event_id"`
}

// DeployTargetRequest is the body of POST …/deploy-targets. A webhook
// target takes url and secret; a sagemaker target endpoint, image_uri,
// role_arn and optionally instance_type and artifact_path.
type DeployTargetRequest struct {
	Kind         string `json:"kind"`
	URL          string `json:"url,omitempty"`
	Secret       string `json:"secret,omitempty"`
	Endpoint     string `json:"endpoint,omitempty"`
	ImageURI     string `json:"image_uri,omitempty"`
	RoleARN      string `json:"role_arn,omitempty"`
	InstanceType string `json:"instance_type,omitempty"`
	ArtifactPath string `json:"artifact_path,omitempty"`
}

func (r DeployTargetRequest) domain() registry.DeployTargetSpec {
	s := registry.DeployTargetSpec{Kind: registry.DeployTargetKind(r.Kind), URL: r.URL, Endpoint: r.Endpoint,
		ImageURI: r.ImageURI, RoleARN: r.RoleARN, InstanceType: r.InstanceType, ArtifactPath: r.ArtifactPath}
	if r.Secret != "" {
		s.Secret = []byte(r.Secret)
	}
	return s
}

// RotateSecretRequest is the body of POST …/deploy-targets/{id}/rotate-secret.
type RotateSecretRequest struct {
	Secret string `json:"secret"`
}
