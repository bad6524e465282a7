package registry

import (
	"strings"
	"time"
)

// Status is where a version is in its registration.
type Status string

// Version statuses.
const (
	StatusPendingUpload Status = "PENDING_UPLOAD" // registered, artifacts not yet complete
	StatusReady         Status = "READY"          // artifacts verified (or an external source); promotable
	StatusFailed        Status = "FAILED"         // registration abandoned
)

// Stage is the lifecycle stage of a version.
type Stage string

// Stages.
const (
	StageNone       Stage = "None"
	StageStaging    Stage = "Staging"
	StageProduction Stage = "Production"
	StageArchived   Stage = "Archived"
)

// ParseStage returns the Stage named s (case-insensitive), or an Invalid error.
func ParseStage(s string) (Stage, error) {
	for _, st := range []Stage{StageNone, StageStaging, StageProduction, StageArchived} {
		if strings.EqualFold(s, string(st)) {
			return st, nil
		}
	}
	return "", Errorf(Invalid, "unknown stage %q: use None, Staging, Production or Archived", s)
}

// MetricSource says where a metric value came from.
type MetricSource string

// Metric sources.
const (
	SourceTraining   MetricSource = "training"
	SourceValidation MetricSource = "validation"
	SourceProduction MetricSource = "production" // pushed after deployment
)

// Metric is one named measurement of a version.
type Metric struct {
	Value      float64      `json:"value"`
	Source     MetricSource `json:"source"`
	RecordedAt time.Time    `json:"recorded_at"`
}

// CodeLineage records the code that trained a version.
type CodeLineage struct {
	Repo       string `json:"repo,omitempty"`
	Commit     string `json:"commit,omitempty"`
	Dirty      bool   `json:"dirty,omitempty"`
	EntryPoint string `json:"entry_point,omitempty"`
}

// DataLineage records the data a version was trained on.
type DataLineage struct {
	DatasetID         string `json:"dataset_id,omitempty"`
	DatasetVersion    string `json:"dataset_version,omitempty"`
	FeatureSetVersion string `json:"feature_set_version,omitempty"`
}

// RunLineage records the training run.
type RunLineage struct {
	RunID     string     `json:"run_id,omitempty"` // training job name or run id
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// EnvLineage records the environment the run used.
type EnvLineage struct {
	ImageURI         string `json:"image_uri,omitempty"`
	RequirementsHash string `json:"requirements_hash,omitempty"`
}

// Lineage says where a version came from.
type Lineage struct {
	Code        CodeLineage `json:"code"`
	Data        DataLineage `json:"data"`
	Run         RunLineage  `json:"run"`
	Environment EnvLineage  `json:"environment"`
	// SourceURI is set when the version's artifacts live elsewhere
	// (e.g. s3://bucket/prefix written by a SageMaker job).
	SourceURI string `json:"source_uri,omitempty"`
}

// Artifact is one file of a version.
type Artifact struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// Version is one registered version of a model.
type Version struct {
	Model       string            `json:"model"`
	Number      int               `json:"version"`
	Status      Status            `json:"status"`
	Stage       Stage             `json:"stage"`
	Description string            `json:"description,omitempty"`
	Metrics     map[string]Metric `json:"metrics,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Lineage     Lineage           `json:"lineage"`
	Artifacts   []Artifact        `json:"artifacts,omitempty"`
	// UploadID is the open upload session, if any.
	UploadID       string    `json:"upload_id,omitempty"`
	CreatedBy      string    `json:"created_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	StageChangedAt time.Time `json:"stage_changed_at"`
	Revision       int64     `json:"revision"`
}

// TotalSize is the sum of the sizes of v's artifacts.
func (v Version) TotalSize() int64 {
	var n int64
	for _, a := range v.Artifacts {
		n += a.Size
	}
	return n
}
