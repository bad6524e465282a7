package sqlite

import (
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// The records below are what the body columns hold. They belong to this
// package: the domain types' JSON tags describe the API, not storage, and
// some fields the API hides (task tokens) must still be kept. Times are
// stored in UTC with nanoseconds (time.Time's RFC 3339 JSON form), so they
// come back equal and in UTC.

type modelRecord struct {
	Name              string            `json:"name"`
	Description       string            `json:"description,omitempty"`
	Owner             string            `json:"owner,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	LatestVersion     int               `json:"latest_version"`
	ProductionVersion int               `json:"production_version,omitempty"`
	Policy            *policyRecord     `json:"policy,omitempty"`
	CreatedBy         string            `json:"created_by,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
	Rename            *renameRecord     `json:"rename,omitempty"`
	Revision          int64             `json:"revision"`
}

// renameRecord is a rename in progress (registry.RenameState).
type renameRecord struct {
	Phase  string    `json:"phase"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	By     string    `json:"by,omitempty"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	Cursor string    `json:"cursor,omitempty"`
	Copied int       `json:"copied,omitempty"`
}

func toModelRecord(m registry.Model) modelRecord {
	r := modelRecord{
		Name: m.Name, Description: m.Description, Owner: m.Owner, Tags: m.Tags,
		LatestVersion: m.LatestVersion, ProductionVersion: m.ProductionVersion, CreatedBy: m.CreatedBy,
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(), Revision: m.Revision,
		Policy: toPolicyRecord(m.Policy),
	}
	if rn := m.Rename; rn != nil {
		r.Rename = &renameRecord{Phase: string(rn.Phase), From: rn.From, To: rn.To, By: rn.By, Reason: rn.Reason,
			At: rn.At.UTC(), Cursor: rn.Cursor, Copied: rn.Copied}
	}
	return r
}

func fromModelRecord(r modelRecord) registry.Model {
	m := registry.Model{
		Name: r.Name, Description: r.Description, Owner: r.Owner, Tags: r.Tags,
		LatestVersion: r.LatestVersion, ProductionVersion: r.ProductionVersion, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision,
		Policy: fromPolicyRecord(r.Policy),
	}
	if rn := r.Rename; rn != nil {
		m.Rename = &registry.RenameState{Phase: registry.RenamePhase(rn.Phase), From: rn.From, To: rn.To, By: rn.By,
			Reason: rn.Reason, At: rn.At.UTC(), Cursor: rn.Cursor, Copied: rn.Copied}
	}
	return m
}

// policyRecord is a model's promotion policy. A model written before
// policies existed, or with the zero policy, has none in its body and reads
// back with the zero policy.
type policyRecord struct {
	Approval           string             `json:"approval,omitempty"`
	ApprovalsRequired  int                `json:"approvals_required,omitempty"`
	Approvers          []string           `json:"approvers,omitempty"`
	Metrics            []metricRuleRecord `json:"metrics,omitempty"`
	MustBeatProduction []string           `json:"must_beat_production,omitempty"`
	RequireCommit      bool               `json:"require_commit,omitempty"`
	RequireCleanTree   bool               `json:"require_clean_tree,omitempty"`
	RollbackRole       string             `json:"rollback_role,omitempty"`
}

type metricRuleRecord struct {
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"`
}

func toPolicyRecord(p registry.Policy) *policyRecord {
	r := &policyRecord{
		Approval: string(p.Approval), ApprovalsRequired: p.ApprovalsRequired, Approvers: p.Approvers,
		MustBeatProduction: p.MustBeatProduction, RequireCommit: p.RequireCommit,
		RequireCleanTree: p.RequireCleanTree, RollbackRole: string(p.RollbackRole),
	}
	for _, m := range p.Metrics {
		r.Metrics = append(r.Metrics, metricRuleRecord(m))
	}
	if r.Approval == "" && r.ApprovalsRequired == 0 && len(r.Approvers) == 0 && len(r.Metrics) == 0 &&
		len(r.MustBeatProduction) == 0 && !r.RequireCommit && !r.RequireCleanTree && r.RollbackRole == "" {
		return nil
	}
	return r
}

func fromPolicyRecord(r *policyRecord) registry.Policy {
	if r == nil {
		return registry.Policy{}
	}
	p := registry.Policy{
		Approval: registry.ApprovalMode(r.Approval), ApprovalsRequired: r.ApprovalsRequired, Approvers: r.Approvers,
		MustBeatProduction: r.MustBeatProduction, RequireCommit: r.RequireCommit,
		RequireCleanTree: r.RequireCleanTree, RollbackRole: registry.Role(r.RollbackRole),
	}
	for _, m := range r.Metrics {
		p.Metrics = append(p.Metrics, registry.MetricRule(m))
	}
	return p
}

type aliasRecord struct {
	Model     string    `json:"model"`
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}

func toAliasRecord(a registry.Alias) aliasRecord {
	return aliasRecord{Model: a.Model, Name: a.Name, Version: a.Version, UpdatedBy: a.UpdatedBy, UpdatedAt: a.UpdatedAt.UTC(), Revision: a.Revision}
}

func fromAliasRecord(r aliasRecord) registry.Alias {
	return registry.Alias{Model: r.Model, Name: r.Name, Version: r.Version, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision}
}

type metricRecord struct {
	Value      float64   `json:"value"`
	Source     string    `json:"source"`
	RecordedAt time.Time `json:"recorded_at"`
}

type artifactRecord struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type lineageRecord struct {
	CodeRepo          string     `json:"code_repo,omitempty"`
	CodeCommit        string     `json:"code_commit,omitempty"`
	CodeDirty         bool       `json:"code_dirty,omitempty"`
	CodeEntryPoint    string     `json:"code_entry_point,omitempty"`
	DatasetID         string     `json:"dataset_id,omitempty"`
	DatasetVersion    string     `json:"dataset_version,omitempty"`
	FeatureSetVersion string     `json:"feature_set_version,omitempty"`
	RunID             string     `json:"run_id,omitempty"`
	RunStartedAt      *time.Time `json:"run_started_at,omitempty"`
	RunEndedAt        *time.Time `json:"run_ended_at,omitempty"`
	ImageURI          string     `json:"image_uri,omitempty"`
	RequirementsHash  string     `json:"requirements_hash,omitempty"`
	SourceURI         string     `json:"source_uri,omitempty"`
}

type versionRecord struct {
	Model          string                  `json:"model"`
	Number         int                     `json:"number"`
	Status         string                  `json:"status"`
	Stage          string                  `json:"stage"`
	Description    string                  `json:"description,omitempty"`
	Metrics        map[string]metricRecord `json:"metrics,omitempty"`
	Params         map[string]string       `json:"params,omitempty"`
	Tags           map[string]string       `json:"tags,omitempty"`
	Lineage        lineageRecord           `json:"lineage"`
	Artifacts      []artifactRecord        `json:"artifacts,omitempty"`
	StorageName    string                  `json:"storage_name,omitempty"`
	MovedTo        string                  `json:"moved_to,omitempty"`
	UploadID       string                  `json:"upload_id,omitempty"`
	StatusReason   string                  `json:"status_reason,omitempty"`
	CreatedBy      string                  `json:"created_by,omitempty"`
	CreatedAt      time.Time               `json:"created_at"`
	UpdatedAt      time.Time               `json:"updated_at"`
	StageChangedAt time.Time               `json:"stage_changed_at"`
	Deleted        bool                    `json:"deleted,omitempty"`
	DeletedBy      string                  `json:"deleted_by,omitempty"`
	DeletedAt      *time.Time              `json:"deleted_at,omitempty"`
	DeleteReason   string                  `json:"delete_reason,omitempty"`
	Revision       int64                   `json:"revision"`
}

func toVersionRecord(v registry.Version) versionRecord {
	r := versionRecord{
		Model: v.Model, Number: v.Number, Status: string(v.Status), Stage: string(v.Stage),
		Description: v.Description, Params: v.Params, Tags: v.Tags,
		Lineage: lineageRecord{
			CodeRepo: v.Lineage.Code.Repo, CodeCommit: v.Lineage.Code.Commit, CodeDirty: v.Lineage.Code.Dirty,
			CodeEntryPoint: v.Lineage.Code.EntryPoint, DatasetID: v.Lineage.Data.DatasetID,
			DatasetVersion: v.Lineage.Data.DatasetVersion, FeatureSetVersion: v.Lineage.Data.FeatureSetVersion,
			RunID: v.Lineage.Run.RunID, RunStartedAt: utcPtr(v.Lineage.Run.StartedAt), RunEndedAt: utcPtr(v.Lineage.Run.EndedAt),
			ImageURI: v.Lineage.Environment.ImageURI, RequirementsHash: v.Lineage.Environment.RequirementsHash,
			SourceURI: v.Lineage.SourceURI,
		},
		StorageName: v.StorageName, MovedTo: v.MovedTo,
		UploadID: v.UploadID, StatusReason: v.StatusReason, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt.UTC(), UpdatedAt: v.UpdatedAt.UTC(),
		StageChangedAt: v.StageChangedAt.UTC(), Revision: v.Revision,
		Deleted: v.Deleted, DeletedBy: v.DeletedBy, DeletedAt: utcPtr(v.DeletedAt), DeleteReason: v.DeleteReason,
	}
	if v.Metrics != nil {
		r.Metrics = make(map[string]metricRecord, len(v.Metrics))
		for k, m := range v.Metrics {
			r.Metrics[k] = metricRecord{Value: m.Value, Source: string(m.Source), RecordedAt: m.RecordedAt.UTC()}
		}
	}
	for _, a := range v.Artifacts {
		r.Artifacts = append(r.Artifacts, artifactRecord(a))
	}
	return r
}

func fromVersionRecord(r versionRecord) registry.Version {
	l := r.Lineage
	v := registry.Version{
		Model: r.Model, Number: r.Number, Status: registry.Status(r.Status), Stage: registry.Stage(r.Stage),
		Description: r.Description, Params: r.Params, Tags: r.Tags,
		Lineage: registry.Lineage{
			Code:        registry.CodeLineage{Repo: l.CodeRepo, Commit: l.CodeCommit, Dirty: l.CodeDirty, EntryPoint: l.CodeEntryPoint},
			Data:        registry.DataLineage{DatasetID: l.DatasetID, DatasetVersion: l.DatasetVersion, FeatureSetVersion: l.FeatureSetVersion},
			Run:         registry.RunLineage{RunID: l.RunID, StartedAt: utcPtr(l.RunStartedAt), EndedAt: utcPtr(l.RunEndedAt)},
			Environment: registry.EnvLineage{ImageURI: l.ImageURI, RequirementsHash: l.RequirementsHash},
			SourceURI:   l.SourceURI,
		},
		StorageName: r.StorageName, MovedTo: r.MovedTo,
		UploadID: r.UploadID, StatusReason: r.StatusReason, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		StageChangedAt: r.StageChangedAt.UTC(), Revision: r.Revision,
		Deleted: r.Deleted, DeletedBy: r.DeletedBy, DeletedAt: utcPtr(r.DeletedAt), DeleteReason: r.DeleteReason,
	}
	if r.Metrics != nil {
		v.Metrics = make(map[string]registry.Metric, len(r.Metrics))
		for k, m := range r.Metrics {
			v.Metrics[k] = registry.Metric{Value: m.Value, Source: registry.MetricSource(m.Source), RecordedAt: m.RecordedAt.UTC()}
		}
	}
	for _, a := range r.Artifacts {
		v.Artifacts = append(v.Artifacts, registry.Artifact(a))
	}
	return v
}

type auditRecord struct {
	ID         string             `json:"id"`
	Model      string             `json:"model"`
	Version    int                `json:"version,omitempty"`
	Action     string             `json:"action"`
	Actor      string             `json:"actor"`
	Reason     string             `json:"reason,omitempty"`
	From       string             `json:"from,omitempty"`
	To         string             `json:"to,omitempty"`
	Criteria   map[string]float64 `json:"criteria,omitempty"`
	ApprovalID string             `json:"approval_id,omitempty"`
	Rollback   bool               `json:"rollback,omitempty"`
	Details    map[string]string  `json:"details,omitempty"`
	At         time.Time          `json:"at"`
}

func toAuditRecord(a registry.AuditEntry) auditRecord {
	return auditRecord{
		ID: a.ID, Model: a.Model, Version: a.Version, Action: string(a.Action), Actor: a.Actor, Reason: a.Reason,
		From: string(a.From), To: string(a.To), Criteria: a.Criteria, ApprovalID: a.ApprovalID,
		Rollback: a.Rollback, Details: a.Details, At: a.At.UTC(),
	}
}

func fromAuditRecord(r auditRecord) registry.AuditEntry {
	return registry.AuditEntry{
		ID: r.ID, Model: r.Model, Version: r.Version, Action: registry.Action(r.Action), Actor: r.Actor, Reason: r.Reason,
		From: registry.Stage(r.From), To: registry.Stage(r.To), Criteria: r.Criteria, ApprovalID: r.ApprovalID,
		Rollback: r.Rollback, Details: r.Details, At: r.At.UTC(),
	}
}

type approvalRecord struct {
	ID              string             `json:"id"`
	Model           string             `json:"model"`
	Version         int                `json:"version"`
	TargetStage     string             `json:"target_stage"`
	RequestedBy     string             `json:"requested_by"`
	Reason          string             `json:"reason,omitempty"`
	Status          string             `json:"status"`
	DecidedBy       string             `json:"decided_by,omitempty"`
	Comment         string             `json:"comment,omitempty"`
	DecidedAt       *time.Time         `json:"decided_at,omitempty"`
	ExpiresAt       time.Time          `json:"expires_at"`
	ArchiveExisting bool               `json:"archive_existing,omitempty"`
	Rollback        bool               `json:"rollback,omitempty"`
	Criteria        map[string]float64 `json:"criteria,omitempty"`
	Required        int                `json:"approvals_required,omitempty"`
	Decisions       []decisionRecord   `json:"decisions,omitempty"`
	Checks          []checkRecord      `json:"checks"`
	AutoApproved    bool               `json:"auto_approved,omitempty"`
	ArchivedVersion int                `json:"archived_version,omitempty"`
	ExecutionID     string             `json:"execution_id,omitempty"`
	TaskToken       string             `json:"task_token,omitempty"`
	CreatedAt       time.Time          `json:"created_at"`
	UpdatedAt       time.Time          `json:"updated_at"`
	Revision        int64              `json:"revision"`
}

type decisionRecord struct {
	By      string    `json:"by"`
	Approve bool      `json:"approve"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

type checkRecord struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

func toDecisionRecords(ds []registry.ApprovalDecision) []decisionRecord {
	var out []decisionRecord
	for _, d := range ds {
		out = append(out, decisionRecord{By: d.By, Approve: d.Approve, Comment: d.Comment, At: d.At.UTC()})
	}
	return out
}

func fromDecisionRecords(rs []decisionRecord) []registry.ApprovalDecision {
	var out []registry.ApprovalDecision
	for _, r := range rs {
		out = append(out, registry.ApprovalDecision{By: r.By, Approve: r.Approve, Comment: r.Comment, At: r.At.UTC()})
	}
	return out
}

// Checks keep nil (never validated) apart from empty (validated, no
// checks): a non-nil empty list is stored as [].
func toCheckRecords(cs []registry.PolicyCheck) []checkRecord {
	if cs == nil {
		return nil
	}
	out := []checkRecord{}
	for _, c := range cs {
		out = append(out, checkRecord{Name: c.Name, Passed: c.Passed, Detail: c.Detail})
	}
	return out
}

func fromCheckRecords(rs []checkRecord) []registry.PolicyCheck {
	if rs == nil {
		return nil
	}
	out := []registry.PolicyCheck{}
	for _, r := range rs {
		out = append(out, registry.PolicyCheck{Name: r.Name, Passed: r.Passed, Detail: r.Detail})
	}
	return out
}

func toApprovalRecord(a registry.Approval) approvalRecord {
	return approvalRecord{
		ID: a.ID, Model: a.Model, Version: a.Version, TargetStage: string(a.TargetStage), RequestedBy: a.RequestedBy,
		Reason: a.Reason, Status: string(a.Status), DecidedBy: a.DecidedBy, Comment: a.Comment,
		DecidedAt: utcPtr(a.DecidedAt), ExpiresAt: a.ExpiresAt.UTC(), ArchiveExisting: a.ArchiveExisting,
		Rollback: a.Rollback, Criteria: a.Criteria, ExecutionID: a.ExecutionID, TaskToken: a.TaskToken,
		Required: a.ApprovalsRequired, Decisions: toDecisionRecords(a.Decisions), Checks: toCheckRecords(a.Checks),
		AutoApproved: a.AutoApproved, ArchivedVersion: a.ArchivedVersion,
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(), Revision: a.Revision,
	}
}

func fromApprovalRecord(r approvalRecord) registry.Approval {
	return registry.Approval{
		ID: r.ID, Model: r.Model, Version: r.Version, TargetStage: registry.Stage(r.TargetStage), RequestedBy: r.RequestedBy,
		Reason: r.Reason, Status: registry.ApprovalStatus(r.Status), DecidedBy: r.DecidedBy, Comment: r.Comment,
		DecidedAt: utcPtr(r.DecidedAt), ExpiresAt: r.ExpiresAt.UTC(), ArchiveExisting: r.ArchiveExisting,
		Rollback: r.Rollback, Criteria: r.Criteria, ExecutionID: r.ExecutionID, TaskToken: r.TaskToken,
		ApprovalsRequired: r.Required, Decisions: fromDecisionRecords(r.Decisions), Checks: fromCheckRecords(r.Checks),
		AutoApproved: r.AutoApproved, ArchivedVersion: r.ArchivedVersion,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision,
	}
}

type executionRecord struct {
	ID        string    `json:"id"`
	Workflow  string    `json:"workflow"`
	Status    string    `json:"status"`
	State     string    `json:"state,omitempty"`
	Input     []byte    `json:"input,omitempty"`  // base64: the exact bytes
	Output    []byte    `json:"output,omitempty"` // base64: the exact bytes
	TaskToken string    `json:"task_token,omitempty"`
	TimeoutAt time.Time `json:"timeout_at"`
	Error     string    `json:"error,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}

func toExecutionRecord(e registry.Execution) executionRecord {
	return executionRecord{
		ID: e.ID, Workflow: e.Workflow, Status: string(e.Status), State: e.State, Input: e.Input, Output: e.Output,
		TaskToken: e.TaskToken, TimeoutAt: e.TimeoutAt.UTC(), Error: e.Error, Cause: e.Cause,
		StartedAt: e.StartedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC(), Revision: e.Revision,
	}
}

func fromExecutionRecord(r executionRecord) registry.Execution {
	return registry.Execution{
		ID: r.ID, Workflow: r.Workflow, Status: registry.ExecutionStatus(r.Status), State: r.State, Input: r.Input, Output: r.Output,
		TaskToken: r.TaskToken, TimeoutAt: r.TimeoutAt.UTC(), Error: r.Error, Cause: r.Cause,
		StartedAt: r.StartedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Revision: r.Revision,
	}
}

type uploadFileRecord struct {
	Path       string   `json:"path"`
	Size       int64    `json:"size"`
	SHA256     string   `json:"sha256"`
	PartSize   int64    `json:"part_size"`
	Parts      int      `json:"parts"`
	PartSHA256 []string `json:"part_sha256,omitempty"`
	BackendID  string   `json:"backend_id,omitempty"`
	Completed  bool     `json:"completed,omitempty"`
}

type uploadRecord struct {
	ID        string             `json:"id"`
	Model     string             `json:"model"`
	Version   int                `json:"version"`
	Status    string             `json:"status"`
	Files     []uploadFileRecord `json:"files,omitempty"`
	CreatedBy string             `json:"created_by,omitempty"`
	CreatedAt time.Time          `json:"created_at"`
	UpdatedAt time.Time          `json:"updated_at"`
	ExpiresAt time.Time          `json:"expires_at"`
	Revision  int64              `json:"revision"`
}

func toUploadRecord(u registry.UploadSession) uploadRecord {
	r := uploadRecord{
		ID: u.ID, Model: u.Model, Version: u.Version, Status: string(u.Status), CreatedBy: u.CreatedBy,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), ExpiresAt: u.ExpiresAt.UTC(), Revision: u.Revision,
	}
	for _, f := range u.Files {
		r.Files = append(r.Files, uploadFileRecord(f))
	}
	return r
}

func fromUploadRecord(r uploadRecord) registry.UploadSession {
	u := registry.UploadSession{
		ID: r.ID, Model: r.Model, Version: r.Version, Status: registry.UploadStatus(r.Status), CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(), Revision: r.Revision,
	}
	for _, f := range r.Files {
		u.Files = append(u.Files, registry.UploadFile(f))
	}
	return u
}

type eventRecord struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Source     string    `json:"source"`
	Time       time.Time `json:"time"`
	Model      string    `json:"model"`
	Version    int       `json:"version,omitempty"`
	From       string    `json:"from,omitempty"`
	To         string    `json:"to,omitempty"`
	Actor      string    `json:"actor,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	ApprovalID string    `json:"approval_id,omitempty"`
	Status     string    `json:"status,omitempty"`
	Alias      string    `json:"alias,omitempty"`
	Rollback   bool      `json:"rollback,omitempty"`
	AuditID    string    `json:"audit_id,omitempty"`
	// Issue 8: deployment events and stage changes to Production.
	PreviousVersion int    `json:"previous_version,omitempty"`
	TargetID        string `json:"target_id,omitempty"`
	TargetKind      string `json:"target_kind,omitempty"`
	DeploymentID    string `json:"deployment_id,omitempty"`
	// Model Renamed: the old name.
	FromName string `json:"from_name,omitempty"`
}

func toEventRecord(e registry.Event) eventRecord {
	d := e.Detail
	return eventRecord{
		ID: e.ID, Type: e.Type, Source: e.Source, Time: e.Time.UTC(),
		Model: d.Model, Version: d.Version, From: string(d.From), To: string(d.To), Actor: d.Actor, Reason: d.Reason,
		ApprovalID: d.ApprovalID, Status: d.Status, Alias: d.Alias, Rollback: d.Rollback, AuditID: d.AuditID,
		PreviousVersion: d.PreviousVersion, TargetID: d.TargetID, TargetKind: d.TargetKind, DeploymentID: d.DeploymentID,
		FromName: d.FromName,
	}
}

func fromEventRecord(r eventRecord) registry.Event {
	return registry.Event{
		ID: r.ID, Type: r.Type, Source: r.Source, Time: r.Time.UTC(),
		Detail: registry.EventDetail{
			Model: r.Model, Version: r.Version, From: registry.Stage(r.From), To: registry.Stage(r.To), Actor: r.Actor,
			Reason: r.Reason, ApprovalID: r.ApprovalID, Status: r.Status, Alias: r.Alias, Rollback: r.Rollback, AuditID: r.AuditID,
			PreviousVersion: r.PreviousVersion, TargetID: r.TargetID, TargetKind: r.TargetKind, DeploymentID: r.DeploymentID,
			FromName: r.FromName,
		},
	}
}

type idempotencyRecord struct {
	Key         string    `json:"key"`
	RequestHash string    `json:"request_hash"`
	Response    []byte    `json:"response,omitempty"` // base64: the exact bytes
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// LegacyStatus and LegacyBody are how records written before
	// responses became opaque held the response; read, never written.
	LegacyStatus int    `json:"status_code,omitempty"`
	LegacyBody   []byte `json:"body,omitempty"`
}

func toIdempotencyRecord(i registry.IdempotencyRecord) idempotencyRecord {
	return idempotencyRecord{
		Key: i.Key, RequestHash: i.RequestHash, Response: i.Response,
		CreatedAt: i.CreatedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC(),
	}
}

func fromIdempotencyRecord(r idempotencyRecord) registry.IdempotencyRecord {
	if r.Response == nil && r.LegacyStatus != 0 {
		r.Response = registry.LegacyIdempotencyResponse(r.LegacyStatus, r.LegacyBody)
	}
	return registry.IdempotencyRecord{
		Key: r.Key, RequestHash: r.RequestHash, Response: r.Response,
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
	}
}

// utcPtr returns a copy of *t in UTC, or nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
