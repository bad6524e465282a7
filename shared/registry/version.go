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
	StatusFailed        Status = "FAILED"         // registration abandoned, or its files failed verification (StatusReason says why)
	// StatusVerifying: the upload is complete and its files are being
	// verified in the background (files too large to read back within the
	// API's deadline, see Config.VerifyAsyncBytes); VerifyUpload makes the
	// version READY or FAILED.
	StatusVerifying Status = "VERIFYING"
	// StatusDeleted marks a tombstone: the version was deleted (see
	// Service.DeleteVersion). Its record stays so that its number is never
	// reused and its audit trail still names it; listings leave it out
	// unless asked (VersionQuery.IncludeDeleted).
	StatusDeleted Status = "DELETED"
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
	Value      float64
	Source     MetricSource
	RecordedAt time.Time
}

// CodeLineage records the code that trained a version.
type CodeLineage struct {
	Repo       string
	Commit     string
	Dirty      bool
	EntryPoint string
}

// DataLineage records the data a version was trained on.
type DataLineage struct {
	DatasetID         string
	DatasetVersion    string
	FeatureSetVersion string
}

// RunLineage records the training run.
type RunLineage struct {
	RunID     string // training job name or run id
	StartedAt *time.Time
	EndedAt   *time.Time
}

// EnvLineage records the environment the run used.
type EnvLineage struct {
	ImageURI         string
	RequirementsHash string
}

// Lineage says where a version came from.
type Lineage struct {
	Code        CodeLineage
	Data        DataLineage
	Run         RunLineage
	Environment EnvLineage
	// SourceURI is set when the version's artifacts live elsewhere
	// (e.g. s3://bucket/prefix written by a SageMaker job).
	SourceURI string
}

// Artifact is one file of a version.
type Artifact struct {
	Path   string
	Size   int64
	SHA256 string // lowercase hex
}

// Version is one registered version of a model.
type Version struct {
	Model       string
	Number      int
	Status      Status
	Stage       Stage
	Description string
	Metrics     map[string]Metric
	Params      map[string]string
	Tags        map[string]string
	Lineage     Lineage
	Artifacts   []Artifact
	// StorageName is the model name under which the version's files are
	// stored, when it is not Model: a version keeps its files where they
	// were written when its model is renamed (see Storage).
	StorageName string
	// MovedTo is set on the old name's copy of a version that a rename
	// copied to the model's new name: once the rename flipped, reads of
	// it answer NotFound (the copy is being removed).
	MovedTo string
	// UploadID is the open upload session, if any (on a VERIFYING
	// version the one being verified, on a FAILED one the one that failed).
	UploadID string
	// StatusReason says why a FAILED version failed.
	StatusReason   string
	CreatedBy      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	StageChangedAt time.Time
	// Deleted, DeletedBy, DeletedAt and DeleteReason are set together, on
	// a tombstone only (Status StatusDeleted): who deleted it, when and
	// why. Stage keeps the stage it was in when it was deleted.
	Deleted      bool
	DeletedBy    string
	DeletedAt    *time.Time
	DeleteReason string
	Revision     int64
}

// Storage is the model name the version's files are stored under: the
// one it had when they were written.
func (v Version) Storage() string {
	if v.StorageName != "" {
		return v.StorageName
	}
	return v.Model
}

// TotalSize is the sum of the sizes of v's artifacts.
func (v Version) TotalSize() int64 {
	var n int64
	for _, a := range v.Artifacts {
		n += a.Size
	}
	return n
}
