package httpapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// The /v1 wire format. These types are the JSON documents of the REST API,
// shared by the server and the Go client (shared/client); the domain types
// in shared/registry carry no JSON tags, so the domain and each API (this
// one, MLflow's) change independently. Field names follow the domain's so
// that code moves between the two by type name only. The conversions from
// the domain are here; those of request bodies to the service's inputs are
// in requests.go. testdata/wire pins the JSON byte for byte.

// List is one page of a listing.
type List[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// listOf converts a page of domain values with conv, keeping a nil Items
// nil (it is sent as null, as it always was).
func listOf[D, W any](l registry.List[D], conv func(D) W) List[W] {
	return List[W]{Items: convert(l.Items, conv), NextPageToken: l.NextPageToken}
}

// convert converts every element of in with conv, keeping nil nil (a nil
// slice is sent as null or left out, an empty one as []).
func convert[D, W any](in []D, conv func(D) W) []W {
	if in == nil {
		return nil
	}
	out := make([]W, len(in))
	for i, d := range in {
		out[i] = conv(d)
	}
	return out
}

// Model is a registered model.
type Model struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// LatestVersion is the highest version number ever assigned (0: none).
	LatestVersion int `json:"latest_version"`
	// ProductionVersion is the version in Production (0: none).
	ProductionVersion int       `json:"production_version,omitempty"`
	CreatedBy         string    `json:"created_by,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Revision          int64     `json:"revision"`
}

func modelOut(m registry.Model) Model {
	return Model{
		Name: m.Name, Description: m.Description, Owner: m.Owner, Tags: m.Tags,
		LatestVersion: m.LatestVersion, ProductionVersion: m.ProductionVersion,
		CreatedBy: m.CreatedBy, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Revision: m.Revision,
	}
}

// Alias is a named pointer to a version of a model.
type Alias struct {
	Model     string    `json:"model"`
	Name      string    `json:"alias"`
	Version   int       `json:"version"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}

func aliasOut(a registry.Alias) Alias {
	return Alias{Model: a.Model, Name: a.Name, Version: a.Version, UpdatedBy: a.UpdatedBy, UpdatedAt: a.UpdatedAt, Revision: a.Revision}
}

// Metric is one named measurement of a version.
type Metric struct {
	Value      float64               `json:"value"`
	Source     registry.MetricSource `json:"source"`
	RecordedAt time.Time             `json:"recorded_at"`
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
	RunID     string     `json:"run_id,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
}

// EnvLineage records the environment the run used.
type EnvLineage struct {
	ImageURI         string `json:"image_uri,omitempty"`
	RequirementsHash string `json:"requirements_hash,omitempty"`
}

// Lineage says where a version came from. It is the same document in a
// registration and in a version.
type Lineage struct {
	Code        CodeLineage `json:"code"`
	Data        DataLineage `json:"data"`
	Run         RunLineage  `json:"run"`
	Environment EnvLineage  `json:"environment"`
	// SourceURI is set when the artifacts live elsewhere (s3://…).
	SourceURI string `json:"source_uri,omitempty"`
}

func lineageOut(l registry.Lineage) Lineage {
	return Lineage{
		Code:        CodeLineage(l.Code),
		Data:        DataLineage(l.Data),
		Run:         RunLineage(l.Run),
		Environment: EnvLineage(l.Environment),
		SourceURI:   l.SourceURI,
	}
}

// domain returns l as the service's input.
func (l Lineage) domain() registry.Lineage {
	return registry.Lineage{
		Code:        registry.CodeLineage(l.Code),
		Data:        registry.DataLineage(l.Data),
		Run:         registry.RunLineage(l.Run),
		Environment: registry.EnvLineage(l.Environment),
		SourceURI:   l.SourceURI,
	}
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
	Status      registry.Status   `json:"status"`
	Stage       registry.Stage    `json:"stage"`
	Description string            `json:"description,omitempty"`
	Metrics     map[string]Metric `json:"metrics,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Lineage     Lineage           `json:"lineage"`
	Artifacts   []Artifact        `json:"artifacts,omitempty"`
	UploadID    string            `json:"upload_id,omitempty"`
	// StatusReason says why a FAILED version failed (its files did not
	// pass verification).
	StatusReason   string    `json:"status_reason,omitempty"`
	CreatedBy      string    `json:"created_by,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	StageChangedAt time.Time `json:"stage_changed_at"`
	// Deleted, DeletedBy, DeletedAt and DeleteReason mark a tombstone
	// (status DELETED): who deleted the version, when and why.
	Deleted      bool       `json:"deleted,omitempty"`
	DeletedBy    string     `json:"deleted_by,omitempty"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`
	DeleteReason string     `json:"delete_reason,omitempty"`
	Revision     int64      `json:"revision"`
}

// TotalSize is the sum of the sizes of v's artifacts.
func (v Version) TotalSize() int64 {
	var n int64
	for _, a := range v.Artifacts {
		n += a.Size
	}
	return n
}

func versionOut(v registry.Version) Version {
	out := Version{
		Model: v.Model, Number: v.Number, Status: v.Status, Stage: v.Stage, Description: v.Description,
		Params: v.Params, Tags: v.Tags, Lineage: lineageOut(v.Lineage), UploadID: v.UploadID,
		StatusReason: v.StatusReason, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
		StageChangedAt: v.StageChangedAt, Revision: v.Revision,
		Deleted: v.Deleted, DeletedBy: v.DeletedBy, DeletedAt: v.DeletedAt, DeleteReason: v.DeleteReason,
	}
	if v.Metrics != nil {
		out.Metrics = make(map[string]Metric, len(v.Metrics))
		for k, m := range v.Metrics {
			out.Metrics[k] = Metric(m)
		}
	}
	out.Artifacts = convert(v.Artifacts, func(a registry.Artifact) Artifact { return Artifact(a) })
	return out
}

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID         string             `json:"id"`
	Model      string             `json:"model"`
	Version    int                `json:"version,omitempty"` // 0 for model-level entries
	Action     registry.Action    `json:"action"`
	Actor      string             `json:"actor"`
	Reason     string             `json:"reason,omitempty"`
	From       registry.Stage     `json:"from,omitempty"`
	To         registry.Stage     `json:"to,omitempty"`
	Criteria   map[string]float64 `json:"criteria,omitempty"`
	ApprovalID string             `json:"approval_id,omitempty"`
	Rollback   bool               `json:"rollback,omitempty"`
	Details    map[string]string  `json:"details,omitempty"`
	At         time.Time          `json:"at"`
}

func auditOut(a registry.AuditEntry) AuditEntry {
	return AuditEntry(a)
}

// Approval is a request to move a version to a stage that needs a
// person's decision. The workflow's task token is never sent.
type Approval struct {
	ID              string                  `json:"id"`
	Model           string                  `json:"model"`
	Version         int                     `json:"version"`
	TargetStage     registry.Stage          `json:"target_stage"`
	RequestedBy     string                  `json:"requested_by"`
	Reason          string                  `json:"reason,omitempty"`
	Status          registry.ApprovalStatus `json:"status"`
	DecidedBy       string                  `json:"decided_by,omitempty"`
	Comment         string                  `json:"comment,omitempty"`
	DecidedAt       *time.Time              `json:"decided_at,omitempty"`
	ExpiresAt       time.Time               `json:"expires_at"`
	ArchiveExisting bool                    `json:"archive_existing"`
	Rollback        bool                    `json:"rollback,omitempty"`
	// Criteria is the metric snapshot the request was judged on.
	Criteria map[string]float64 `json:"criteria,omitempty"`
	// ApprovalsRequired is how many distinct approvals it needs.
	ApprovalsRequired int `json:"approvals_required,omitempty"`
	// Decisions are the approvers' decisions so far, oldest first.
	Decisions []ApprovalDecision `json:"decisions,omitempty"`
	// Checks are the policy checks of the Validate step (absent until then).
	Checks []PolicyCheck `json:"checks,omitempty"`
	// AutoApproved: the model's policy approved it without a person.
	AutoApproved bool `json:"auto_approved,omitempty"`
	// ArchivedVersion left Production for Archived when it was promoted.
	ArchivedVersion int       `json:"archived_version,omitempty"`
	ExecutionID     string    `json:"execution_id,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Revision        int64     `json:"revision"`
}

// ApprovalDecision is one approver's decision.
type ApprovalDecision struct {
	By      string    `json:"by"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// PolicyCheck is the result of one check of a promotion.
type PolicyCheck struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

func approvalOut(a registry.Approval) Approval {
	out := Approval{
		ID: a.ID, Model: a.Model, Version: a.Version, TargetStage: a.TargetStage, RequestedBy: a.RequestedBy,
		Reason: a.Reason, Status: a.Status, DecidedBy: a.DecidedBy, Comment: a.Comment, DecidedAt: a.DecidedAt,
		ExpiresAt: a.ExpiresAt, ArchiveExisting: a.ArchiveExisting, Rollback: a.Rollback, Criteria: a.Criteria,
		ExecutionID: a.ExecutionID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Revision: a.Revision,
		ApprovalsRequired: a.ApprovalsRequired, AutoApproved: a.AutoApproved, ArchivedVersion: a.ArchivedVersion,
	}
	for _, d := range a.Decisions {
		out.Decisions = append(out.Decisions, ApprovalDecision(d))
	}
	for _, c := range a.Checks {
		out.Checks = append(out.Checks, PolicyCheck{Name: c.Name, Passed: c.Passed, Detail: c.Detail})
	}
	return out
}

// Comparison sets versions of one model side by side.
type Comparison struct {
	Model    string      `json:"model"`
	Versions []Version   `json:"versions"`
	Metrics  []MetricRow `json:"metrics"`
	Params   []ParamRow  `json:"params"`
	// By is the metric the versions are ranked on ("" if none was asked).
	By string `json:"by,omitempty"`
	// Ranking lists version numbers best first by the By metric.
	Ranking []int `json:"ranking,omitempty"`
}

// MetricRow is one metric across the compared versions.
type MetricRow struct {
	Name string `json:"name"`
	// Values maps version number to value; a version without the metric is absent.
	Values         map[int]float64 `json:"values"`
	HigherIsBetter bool            `json:"higher_is_better"`
	// Best lists the versions with the best value (several on a tie).
	Best []int `json:"best"`
}

// ParamRow is one parameter across the compared versions.
type ParamRow struct {
	Name    string         `json:"name"`
	Values  map[int]string `json:"values"`
	Differs bool           `json:"differs"`
}

func comparisonOut(c registry.Comparison) Comparison {
	return Comparison{
		Model: c.Model, By: c.By, Ranking: c.Ranking,
		Versions: convert(c.Versions, versionOut),
		Metrics:  convert(c.Metrics, func(m registry.MetricRow) MetricRow { return MetricRow(m) }),
		Params:   convert(c.Params, func(p registry.ParamRow) ParamRow { return ParamRow(p) }),
	}
}

// wireBody returns the /v1 document for a service result: its wire type.
// Values that already are wire documents pass as they are. Any other type
// is an error rather than a guess, so a domain struct (which has no JSON
// tags) is never sent by accident: a new result type needs a case here.
func wireBody(result any) (any, error) {
	switch v := result.(type) {
	case nil:
		return nil, nil
	case registry.Model:
		return modelOut(v), nil
	case registry.List[registry.Model]:
		return listOf(v, modelOut), nil
	case registry.Version:
		return versionOut(v), nil
	case registry.List[registry.Version]:
		return listOf(v, versionOut), nil
	case registry.Alias:
		return aliasOut(v), nil
	case registry.List[registry.Alias]:
		return listOf(v, aliasOut), nil
	case registry.List[registry.AuditEntry]:
		return listOf(v, auditOut), nil
	case registry.Approval:
		return approvalOut(v), nil
	case registry.List[registry.Approval]:
		return listOf(v, approvalOut), nil
	case registry.Comparison:
		return comparisonOut(v), nil
	case registry.Policy:
		return policyOut(v), nil
	case registry.UploadTicket:
		return ticketOut(v), nil
	case registry.DownloadSet:
		return downloadsOut(v), nil
	case registry.TransitionResult:
		return transitionBody(v)
	case registry.DeployTarget:
		return deployTargetOut(v), nil
	case registry.List[registry.DeployTarget]:
		return listOf(v, deployTargetOut), nil
	case registry.Deployment:
		return deploymentOut(v), nil
	case registry.List[registry.Deployment]:
		return listOf(v, deploymentOut), nil
	case Health, WhoAmI, AliasTarget, TransitionAccepted, RedeliveryAccepted, VersionAccepted, ErrorBody, json.RawMessage:
		return v, nil
	}
	return nil, fmt.Errorf("httpapi: no /v1 wire type for %T", result)
}

// transitionBody is the body of the transitions route: the moved version,
// or TransitionAccepted (202) for a move that waits for an approval. The
// service's update result of a move to Production is the approval itself,
// so an Approval here is answered as accepted too.
func transitionBody(result any) (any, error) {
	switch v := result.(type) {
	case registry.TransitionResult:
		switch {
		case v.Approval != nil:
			return transitionBody(*v.Approval)
		case v.Version != nil:
			return versionOut(*v.Version), nil
		}
		return nil, fmt.Errorf("httpapi: transition result holds neither a version nor an approval")
	case registry.Approval:
		return TransitionAccepted{ApprovalID: v.ID, Status: v.Status}, nil
	case *registry.Approval:
		return TransitionAccepted{ApprovalID: v.ID, Status: v.Status}, nil
	}
	return wireBody(result)
}
