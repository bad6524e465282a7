package dynamodb

import (
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// The item structs below are this package's stored format: the domain
// types carry no storage tags, and fields the API hides (task tokens) are
// kept. Times are fixed-width UTC strings with nanoseconds (timeKey), so
// they come back equal, in UTC, and sort as text; floats are strings in
// Go's shortest exact form, because DynamoDB numbers cannot hold every
// float64 (1e-300, MaxFloat64) and must not round any.

// itemKeys are the key attributes of every item. Index attributes are set
// only on items that belong in that index (sparse indexes).
type itemKeys struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	Kind   string `dynamodbav:"kind"`
	GSI1PK string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK string `dynamodbav:"gsi1sk,omitempty"`
	GSI2PK string `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK string `dynamodbav:"gsi2sk,omitempty"`
	GSI3PK string `dynamodbav:"gsi3pk,omitempty"`
	GSI3SK string `dynamodbav:"gsi3sk,omitempty"`
	GSI4PK string `dynamodbav:"gsi4pk,omitempty"`
	GSI4SK string `dynamodbav:"gsi4sk,omitempty"`
	GSI5PK string `dynamodbav:"gsi5pk,omitempty"`
	GSI5SK string `dynamodbav:"gsi5sk,omitempty"`
}

type modelItem struct {
	itemKeys
	Name              string            `dynamodbav:"name"`
	Description       string            `dynamodbav:"description,omitempty"`
	Owner             string            `dynamodbav:"owner,omitempty"`
	Tags              map[string]string `dynamodbav:"tags,omitempty"`
	LatestVersion     int               `dynamodbav:"latest_version"`
	ProductionVersion int               `dynamodbav:"production_version,omitempty"`
	Policy            *policyAttr       `dynamodbav:"policy,omitempty"`
	CreatedBy         string            `dynamodbav:"created_by,omitempty"`
	CreatedAt         string            `dynamodbav:"created_at"`
	UpdatedAt         string            `dynamodbav:"updated_at"`
	Rename            *renameAttr       `dynamodbav:"rename,omitempty"`
	Revision          int64             `dynamodbav:"revision"`
}

// renameAttr is a rename in progress (registry.RenameState), a map
// attribute of the model item.
type renameAttr struct {
	Phase  string `dynamodbav:"phase"`
	From   string `dynamodbav:"from"`
	To     string `dynamodbav:"to"`
	By     string `dynamodbav:"by,omitempty"`
	Reason string `dynamodbav:"reason,omitempty"`
	At     string `dynamodbav:"at"`
	Cursor string `dynamodbav:"cursor,omitempty"`
	Copied int    `dynamodbav:"copied,omitempty"`
}

func toModelItem(m registry.Model) modelItem {
	it := modelItem{
		itemKeys: itemKeys{PK: modelPK(m.Name), SK: skModel, Kind: kindModel, GSI1PK: modelsPartition, GSI1SK: m.Name},
		Name:     m.Name, Description: m.Description, Owner: m.Owner, Tags: m.Tags,
		LatestVersion: m.LatestVersion, ProductionVersion: m.ProductionVersion, CreatedBy: m.CreatedBy,
		CreatedAt: timeKey(m.CreatedAt), UpdatedAt: timeKey(m.UpdatedAt), Revision: m.Revision,
		Policy: toPolicyAttr(m.Policy),
	}
	if rn := m.Rename; rn != nil {
		it.Rename = &renameAttr{Phase: string(rn.Phase), From: rn.From, To: rn.To, By: rn.By, Reason: rn.Reason,
			At: timeKey(rn.At), Cursor: rn.Cursor, Copied: rn.Copied}
	}
	return it
}

func (it modelItem) record() (registry.Model, error) {
	var p timeParser
	m := registry.Model{
		Name: it.Name, Description: it.Description, Owner: it.Owner, Tags: it.Tags,
		LatestVersion: it.LatestVersion, ProductionVersion: it.ProductionVersion, CreatedBy: it.CreatedBy,
		CreatedAt: p.time(it.CreatedAt), UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision,
		Policy: p.policy(it.Policy),
	}
	if rn := it.Rename; rn != nil {
		m.Rename = &registry.RenameState{Phase: registry.RenamePhase(rn.Phase), From: rn.From, To: rn.To, By: rn.By,
			Reason: rn.Reason, At: p.time(rn.At), Cursor: rn.Cursor, Copied: rn.Copied}
	}
	return m, p.err("model " + it.Name)
}

// policyAttr is a model's promotion policy, a map attribute of the model
// item. An item written before policies existed, or with the zero policy,
// has none and reads back with the zero policy. Thresholds are strings in
// Go's shortest exact form, like metric values.
type policyAttr struct {
	Approval           string           `dynamodbav:"approval,omitempty"`
	ApprovalsRequired  int              `dynamodbav:"approvals_required,omitempty"`
	Approvers          []string         `dynamodbav:"approvers,omitempty"`
	Metrics            []metricRuleAttr `dynamodbav:"metrics,omitempty"`
	MustBeatProduction []string         `dynamodbav:"must_beat_production,omitempty"`
	RequireCommit      bool             `dynamodbav:"require_commit,omitempty"`
	RequireCleanTree   bool             `dynamodbav:"require_clean_tree,omitempty"`
	RollbackRole       string           `dynamodbav:"rollback_role,omitempty"`
}

type metricRuleAttr struct {
	Metric string `dynamodbav:"metric"`
	Op     string `dynamodbav:"op"`
	Value  string `dynamodbav:"value"`
}

func toPolicyAttr(p registry.Policy) *policyAttr {
	a := &policyAttr{
		Approval: string(p.Approval), ApprovalsRequired: p.ApprovalsRequired, Approvers: p.Approvers,
		MustBeatProduction: p.MustBeatProduction, RequireCommit: p.RequireCommit,
		RequireCleanTree: p.RequireCleanTree, RollbackRole: string(p.RollbackRole),
	}
	for _, m := range p.Metrics {
		a.Metrics = append(a.Metrics, metricRuleAttr{Metric: m.Metric, Op: m.Op, Value: formatFloat(m.Value)})
	}
	if a.Approval == "" && a.ApprovalsRequired == 0 && len(a.Approvers) == 0 && len(a.Metrics) == 0 &&
		len(a.MustBeatProduction) == 0 && !a.RequireCommit && !a.RequireCleanTree && a.RollbackRole == "" {
		return nil
	}
	return a
}

func (p *timeParser) policy(a *policyAttr) registry.Policy {
	if a == nil {
		return registry.Policy{}
	}
	pol := registry.Policy{
		Approval: registry.ApprovalMode(a.Approval), ApprovalsRequired: a.ApprovalsRequired, Approvers: a.Approvers,
		MustBeatProduction: a.MustBeatProduction, RequireCommit: a.RequireCommit,
		RequireCleanTree: a.RequireCleanTree, RollbackRole: registry.Role(a.RollbackRole),
	}
	for _, m := range a.Metrics {
		pol.Metrics = append(pol.Metrics, registry.MetricRule{Metric: m.Metric, Op: m.Op, Value: p.float(m.Value)})
	}
	return pol
}

type metricAttr struct {
	Value      string `dynamodbav:"value"`
	Source     string `dynamodbav:"source"`
	RecordedAt string `dynamodbav:"recorded_at"`
}

type artifactAttr struct {
	Path   string `dynamodbav:"path"`
	Size   int64  `dynamodbav:"size"`
	SHA256 string `dynamodbav:"sha256"`
}

type lineageAttr struct {
	CodeRepo          string  `dynamodbav:"code_repo,omitempty"`
	CodeCommit        string  `dynamodbav:"code_commit,omitempty"`
	CodeDirty         bool    `dynamodbav:"code_dirty,omitempty"`
	CodeEntryPoint    string  `dynamodbav:"code_entry_point,omitempty"`
	DatasetID         string  `dynamodbav:"dataset_id,omitempty"`
	DatasetVersion    string  `dynamodbav:"dataset_version,omitempty"`
	FeatureSetVersion string  `dynamodbav:"feature_set_version,omitempty"`
	RunID             string  `dynamodbav:"run_id,omitempty"`
	RunStartedAt      *string `dynamodbav:"run_started_at,omitempty"`
	RunEndedAt        *string `dynamodbav:"run_ended_at,omitempty"`
	ImageURI          string  `dynamodbav:"image_uri,omitempty"`
	RequirementsHash  string  `dynamodbav:"requirements_hash,omitempty"`
	SourceURI         string  `dynamodbav:"source_uri,omitempty"`
}

type versionItem struct {
	itemKeys
	Model          string                `dynamodbav:"model"`
	Number         int                   `dynamodbav:"number"`
	Status         string                `dynamodbav:"status"`
	Stage          string                `dynamodbav:"stage"`
	Description    string                `dynamodbav:"description,omitempty"`
	Metrics        map[string]metricAttr `dynamodbav:"metrics,omitempty"`
	Params         map[string]string     `dynamodbav:"params,omitempty"`
	Tags           map[string]string     `dynamodbav:"tags,omitempty"`
	Lineage        lineageAttr           `dynamodbav:"lineage"`
	Artifacts      []artifactAttr        `dynamodbav:"artifacts,omitempty"`
	StorageName    string                `dynamodbav:"storage_name,omitempty"`
	MovedTo        string                `dynamodbav:"moved_to,omitempty"`
	UploadID       string                `dynamodbav:"upload_id,omitempty"`
	StatusReason   string                `dynamodbav:"status_reason,omitempty"`
	CreatedBy      string                `dynamodbav:"created_by,omitempty"`
	CreatedAt      string                `dynamodbav:"created_at"`
	UpdatedAt      string                `dynamodbav:"updated_at"`
	StageChangedAt string                `dynamodbav:"stage_changed_at"`
	Deleted        bool                  `dynamodbav:"deleted,omitempty"`
	DeletedBy      string                `dynamodbav:"deleted_by,omitempty"`
	DeletedAt      *string               `dynamodbav:"deleted_at,omitempty"`
	DeleteReason   string                `dynamodbav:"delete_reason,omitempty"`
	Revision       int64                 `dynamodbav:"revision"`
	// TagItems is how many tag items hold the tags beyond the first
	// TagSlots, and TagItemsSum a digest of what they hold (see commit.go).
	TagItems    int    `dynamodbav:"tag_items,omitempty"`
	TagItemsSum string `dynamodbav:"tag_items_sum,omitempty"`
}

// toVersionItem returns the version's item; index attributes for its tags
// are added by the caller (see tagSlots).
func toVersionItem(v registry.Version) versionItem {
	l := v.Lineage
	it := versionItem{
		itemKeys: itemKeys{PK: modelPK(v.Model), SK: versionSK(v.Number), Kind: kindVersion},
		Model:    v.Model, Number: v.Number, Status: string(v.Status), Stage: string(v.Stage),
		Description: v.Description, Params: v.Params, Tags: v.Tags,
		Lineage: lineageAttr{
			CodeRepo: l.Code.Repo, CodeCommit: l.Code.Commit, CodeDirty: l.Code.Dirty, CodeEntryPoint: l.Code.EntryPoint,
			DatasetID: l.Data.DatasetID, DatasetVersion: l.Data.DatasetVersion, FeatureSetVersion: l.Data.FeatureSetVersion,
			RunID: l.Run.RunID, RunStartedAt: timePtrKey(l.Run.StartedAt), RunEndedAt: timePtrKey(l.Run.EndedAt),
			ImageURI: l.Environment.ImageURI, RequirementsHash: l.Environment.RequirementsHash, SourceURI: l.SourceURI,
		},
		StorageName: v.StorageName, MovedTo: v.MovedTo,
		UploadID: v.UploadID, StatusReason: v.StatusReason, CreatedBy: v.CreatedBy, CreatedAt: timeKey(v.CreatedAt), UpdatedAt: timeKey(v.UpdatedAt),
		StageChangedAt: timeKey(v.StageChangedAt), Revision: v.Revision,
		Deleted: v.Deleted, DeletedBy: v.DeletedBy, DeletedAt: timePtrKey(v.DeletedAt), DeleteReason: v.DeleteReason,
	}
	num := padNumber(v.Number)
	set := func(pk, sk *string, key string) {
		*pk, *sk = key, num
	}
	if v.Stage != "" {
		set(&it.GSI1PK, &it.GSI1SK, stagePK(v.Model, v.Stage))
	}
	if v.Status != "" {
		set(&it.GSI2PK, &it.GSI2SK, statusPK(v.Model, v.Status))
	}
	if l.Code.Commit != "" {
		set(&it.GSI3PK, &it.GSI3SK, commitPK(v.Model, l.Code.Commit))
	}
	if l.Data.DatasetID != "" {
		set(&it.GSI4PK, &it.GSI4SK, datasetPK(v.Model, l.Data.DatasetID))
	}
	if l.Run.RunID != "" {
		set(&it.GSI5PK, &it.GSI5SK, runPK(v.Model, l.Run.RunID))
	}
	if v.Metrics != nil {
		it.Metrics = make(map[string]metricAttr, len(v.Metrics))
		for k, m := range v.Metrics {
			it.Metrics[k] = metricAttr{Value: formatFloat(m.Value), Source: string(m.Source), RecordedAt: timeKey(m.RecordedAt)}
		}
	}
	for _, a := range v.Artifacts {
		it.Artifacts = append(it.Artifacts, artifactAttr(a))
	}
	return it
}

func (it versionItem) record() (registry.Version, error) {
	var p timeParser
	l := it.Lineage
	v := registry.Version{
		Model: it.Model, Number: it.Number, Status: registry.Status(it.Status), Stage: registry.Stage(it.Stage),
		Description: it.Description, Params: it.Params, Tags: it.Tags,
		Lineage: registry.Lineage{
			Code:        registry.CodeLineage{Repo: l.CodeRepo, Commit: l.CodeCommit, Dirty: l.CodeDirty, EntryPoint: l.CodeEntryPoint},
			Data:        registry.DataLineage{DatasetID: l.DatasetID, DatasetVersion: l.DatasetVersion, FeatureSetVersion: l.FeatureSetVersion},
			Run:         registry.RunLineage{RunID: l.RunID, StartedAt: p.timePtr(l.RunStartedAt), EndedAt: p.timePtr(l.RunEndedAt)},
			Environment: registry.EnvLineage{ImageURI: l.ImageURI, RequirementsHash: l.RequirementsHash},
			SourceURI:   l.SourceURI,
		},
		StorageName: it.StorageName, MovedTo: it.MovedTo,
		UploadID: it.UploadID, StatusReason: it.StatusReason, CreatedBy: it.CreatedBy, CreatedAt: p.time(it.CreatedAt), UpdatedAt: p.time(it.UpdatedAt),
		StageChangedAt: p.time(it.StageChangedAt), Revision: it.Revision,
		Deleted: it.Deleted, DeletedBy: it.DeletedBy, DeletedAt: p.timePtr(it.DeletedAt), DeleteReason: it.DeleteReason,
	}
	if it.Metrics != nil {
		v.Metrics = make(map[string]registry.Metric, len(it.Metrics))
		for k, m := range it.Metrics {
			v.Metrics[k] = registry.Metric{Value: p.float(m.Value), Source: registry.MetricSource(m.Source), RecordedAt: p.time(m.RecordedAt)}
		}
	}
	for _, a := range it.Artifacts {
		v.Artifacts = append(v.Artifacts, registry.Artifact(a))
	}
	return v, p.err("version " + it.Model + "/" + strconv.Itoa(it.Number))
}

type aliasItem struct {
	itemKeys
	Model     string `dynamodbav:"model"`
	Name      string `dynamodbav:"alias"`
	Version   int    `dynamodbav:"version"`
	UpdatedBy string `dynamodbav:"updated_by,omitempty"`
	UpdatedAt string `dynamodbav:"updated_at"`
	Revision  int64  `dynamodbav:"revision"`
}

func toAliasItem(a registry.Alias) aliasItem {
	return aliasItem{
		itemKeys: itemKeys{PK: modelPK(a.Model), SK: aliasSK(a.Name), Kind: kindAlias},
		Model:    a.Model, Name: a.Name, Version: a.Version, UpdatedBy: a.UpdatedBy, UpdatedAt: timeKey(a.UpdatedAt), Revision: a.Revision,
	}
}

func (it aliasItem) record() (registry.Alias, error) {
	var p timeParser
	a := registry.Alias{Model: it.Model, Name: it.Name, Version: it.Version, UpdatedBy: it.UpdatedBy, UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision}
	return a, p.err("alias " + it.Model + "/" + it.Name)
}

type auditItem struct {
	itemKeys
	ID         string            `dynamodbav:"id"`
	Model      string            `dynamodbav:"model"`
	Version    int               `dynamodbav:"version,omitempty"`
	Action     string            `dynamodbav:"action"`
	Actor      string            `dynamodbav:"actor"`
	Reason     string            `dynamodbav:"reason,omitempty"`
	From       string            `dynamodbav:"from,omitempty"`
	To         string            `dynamodbav:"to,omitempty"`
	Criteria   map[string]string `dynamodbav:"criteria,omitempty"`
	ApprovalID string            `dynamodbav:"approval_id,omitempty"`
	Rollback   bool              `dynamodbav:"rollback,omitempty"`
	Details    map[string]string `dynamodbav:"details,omitempty"`
	At         string            `dynamodbav:"at"`
}

func toAuditItem(a registry.AuditEntry) auditItem {
	it := auditItem{
		itemKeys: itemKeys{PK: modelPK(a.Model), SK: auditSK(a.ID), Kind: kindAudit},
		ID:       a.ID, Model: a.Model, Version: a.Version, Action: string(a.Action), Actor: a.Actor, Reason: a.Reason,
		From: string(a.From), To: string(a.To), Criteria: formatFloats(a.Criteria), ApprovalID: a.ApprovalID,
		Rollback: a.Rollback, Details: a.Details, At: timeKey(a.At),
	}
	if a.Version > 0 {
		it.GSI1PK, it.GSI1SK = auditVersionPK(a.Model, a.Version), a.ID
	}
	if a.Action == registry.ActionStageChanged {
		if a.From != "" {
			it.GSI2PK, it.GSI2SK = stageFromPK(a.Model, a.From), timeIDKey(a.At, a.ID)
		}
		if a.To != "" {
			it.GSI3PK, it.GSI3SK = stageToPK(a.Model, a.To), timeIDKey(a.At, a.ID)
		}
	}
	return it
}

func (it auditItem) record() (registry.AuditEntry, error) {
	var p timeParser
	a := registry.AuditEntry{
		ID: it.ID, Model: it.Model, Version: it.Version, Action: registry.Action(it.Action), Actor: it.Actor, Reason: it.Reason,
		From: registry.Stage(it.From), To: registry.Stage(it.To), Criteria: p.floats(it.Criteria), ApprovalID: it.ApprovalID,
		Rollback: it.Rollback, Details: it.Details, At: p.time(it.At),
	}
	return a, p.err("audit entry " + it.ID)
}

type approvalItem struct {
	itemKeys
	ID              string            `dynamodbav:"id"`
	Model           string            `dynamodbav:"model"`
	Version         int               `dynamodbav:"version"`
	TargetStage     string            `dynamodbav:"target_stage"`
	RequestedBy     string            `dynamodbav:"requested_by"`
	Reason          string            `dynamodbav:"reason,omitempty"`
	Status          string            `dynamodbav:"status"`
	DecidedBy       string            `dynamodbav:"decided_by,omitempty"`
	Comment         string            `dynamodbav:"comment,omitempty"`
	DecidedAt       *string           `dynamodbav:"decided_at,omitempty"`
	ExpiresAt       string            `dynamodbav:"expires"`
	ArchiveExisting bool              `dynamodbav:"archive_existing,omitempty"`
	Rollback        bool              `dynamodbav:"rollback,omitempty"`
	Criteria        map[string]string `dynamodbav:"criteria,omitempty"`
	Required        int               `dynamodbav:"approvals_required,omitempty"`
	Decisions       []decisionItem    `dynamodbav:"decisions,omitempty"`
	Checks          []checkItem       `dynamodbav:"checks,omitempty"`
	Validated       bool              `dynamodbav:"validated,omitempty"` // Checks is not nil (it may be empty)
	AutoApproved    bool              `dynamodbav:"auto_approved,omitempty"`
	ArchivedVersion int               `dynamodbav:"archived_version,omitempty"`
	ExecutionID     string            `dynamodbav:"execution_id,omitempty"`
	TaskToken       string            `dynamodbav:"task_token,omitempty"`
	CreatedAt       string            `dynamodbav:"created_at"`
	UpdatedAt       string            `dynamodbav:"updated_at"`
	Revision        int64             `dynamodbav:"revision"`
}

type decisionItem struct {
	By      string `dynamodbav:"by"`
	Approve bool   `dynamodbav:"approve"`
	Comment string `dynamodbav:"comment,omitempty"`
	At      string `dynamodbav:"at"`
}

type checkItem struct {
	Name   string `dynamodbav:"name"`
	Passed bool   `dynamodbav:"passed"`
	Detail string `dynamodbav:"detail,omitempty"`
}

func toDecisionItems(ds []registry.ApprovalDecision) []decisionItem {
	var out []decisionItem
	for _, d := range ds {
		out = append(out, decisionItem{By: d.By, Approve: d.Approve, Comment: d.Comment, At: timeKey(d.At)})
	}
	return out
}

func (p *timeParser) decisions(items []decisionItem) []registry.ApprovalDecision {
	var out []registry.ApprovalDecision
	for _, d := range items {
		out = append(out, registry.ApprovalDecision{By: d.By, Approve: d.Approve, Comment: d.Comment, At: p.time(d.At)})
	}
	return out
}

func toCheckItems(cs []registry.PolicyCheck) []checkItem {
	var out []checkItem
	for _, c := range cs {
		out = append(out, checkItem{Name: c.Name, Passed: c.Passed, Detail: c.Detail})
	}
	return out
}

func fromCheckItems(items []checkItem, validated bool) []registry.PolicyCheck {
	if !validated {
		return nil
	}
	out := []registry.PolicyCheck{}
	for _, c := range items {
		out = append(out, registry.PolicyCheck{Name: c.Name, Passed: c.Passed, Detail: c.Detail})
	}
	return out
}

func toApprovalItem(a registry.Approval) approvalItem {
	order := timeIDKey(a.CreatedAt, a.ID)
	return approvalItem{
		itemKeys: itemKeys{
			PK: approvalPK(a.ID), SK: skApproval, Kind: kindApproval,
			GSI1PK: approvalsPartition, GSI1SK: order,
			GSI2PK: approvalStatusPK(a.Status), GSI2SK: order,
			GSI3PK: approvalModelPK(a.Model), GSI3SK: order,
			GSI4PK: approvalModelStatusPK(a.Model, a.Status), GSI4SK: order,
		},
		ID: a.ID, Model: a.Model, Version: a.Version, TargetStage: string(a.TargetStage), RequestedBy: a.RequestedBy,
		Reason: a.Reason, Status: string(a.Status), DecidedBy: a.DecidedBy, Comment: a.Comment,
		DecidedAt: timePtrKey(a.DecidedAt), ExpiresAt: timeKey(a.ExpiresAt), ArchiveExisting: a.ArchiveExisting,
		Rollback: a.Rollback, Criteria: formatFloats(a.Criteria), ExecutionID: a.ExecutionID, TaskToken: a.TaskToken,
		Required: a.ApprovalsRequired, Decisions: toDecisionItems(a.Decisions), Checks: toCheckItems(a.Checks),
		Validated: a.Checks != nil, AutoApproved: a.AutoApproved, ArchivedVersion: a.ArchivedVersion,
		CreatedAt: timeKey(a.CreatedAt), UpdatedAt: timeKey(a.UpdatedAt), Revision: a.Revision,
	}
}

func (it approvalItem) record() (registry.Approval, error) {
	var p timeParser
	a := registry.Approval{
		ID: it.ID, Model: it.Model, Version: it.Version, TargetStage: registry.Stage(it.TargetStage), RequestedBy: it.RequestedBy,
		Reason: it.Reason, Status: registry.ApprovalStatus(it.Status), DecidedBy: it.DecidedBy, Comment: it.Comment,
		DecidedAt: p.timePtr(it.DecidedAt), ExpiresAt: p.time(it.ExpiresAt), ArchiveExisting: it.ArchiveExisting,
		Rollback: it.Rollback, Criteria: p.floats(it.Criteria), ExecutionID: it.ExecutionID, TaskToken: it.TaskToken,
		ApprovalsRequired: it.Required, Decisions: p.decisions(it.Decisions), Checks: fromCheckItems(it.Checks, it.Validated),
		AutoApproved: it.AutoApproved, ArchivedVersion: it.ArchivedVersion,
		CreatedAt: p.time(it.CreatedAt), UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision,
	}
	return a, p.err("approval " + it.ID)
}

type executionItem struct {
	itemKeys
	ID        string `dynamodbav:"id"`
	Workflow  string `dynamodbav:"workflow"`
	Status    string `dynamodbav:"status"`
	State     string `dynamodbav:"state,omitempty"`
	Input     []byte `dynamodbav:"input,omitempty"`
	Output    []byte `dynamodbav:"output,omitempty"`
	TaskToken string `dynamodbav:"task_token,omitempty"`
	TimeoutAt string `dynamodbav:"timeout_at,omitempty"`
	Error     string `dynamodbav:"error,omitempty"`
	Cause     string `dynamodbav:"cause,omitempty"`
	StartedAt string `dynamodbav:"started_at"`
	UpdatedAt string `dynamodbav:"updated_at"`
	Revision  int64  `dynamodbav:"revision"`
}

func toExecutionItem(e registry.Execution) executionItem {
	order := timeIDKey(e.StartedAt, e.ID)
	it := executionItem{
		itemKeys: itemKeys{
			PK: executionPK(e.ID), SK: skExecution, Kind: kindExecution,
			GSI1PK: executionPartition, GSI1SK: order, GSI2PK: executionStatusPK(e.Status), GSI2SK: order,
		},
		ID: e.ID, Workflow: e.Workflow, Status: string(e.Status), State: e.State, Input: e.Input, Output: e.Output,
		TaskToken: e.TaskToken, Error: e.Error, Cause: e.Cause,
		StartedAt: timeKey(e.StartedAt), UpdatedAt: timeKey(e.UpdatedAt), Revision: e.Revision,
	}
	if !e.TimeoutAt.IsZero() {
		it.TimeoutAt = timeKey(e.TimeoutAt)
	}
	return it
}

func (it executionItem) record() (registry.Execution, error) {
	var p timeParser
	e := registry.Execution{
		ID: it.ID, Workflow: it.Workflow, Status: registry.ExecutionStatus(it.Status), State: it.State,
		Input: it.Input, Output: it.Output, TaskToken: it.TaskToken, Error: it.Error, Cause: it.Cause,
		StartedAt: p.time(it.StartedAt), UpdatedAt: p.time(it.UpdatedAt), Revision: it.Revision,
	}
	if it.TimeoutAt != "" {
		e.TimeoutAt = p.time(it.TimeoutAt)
	}
	return e, p.err("execution " + it.ID)
}

// timeParser collects the first error of a record's conversions.
type timeParser struct{ first error }

func (p *timeParser) time(s string) time.Time {
	t, err := parseTimeKey(s)
	if err != nil && p.first == nil {
		p.first = err
	}
	return t
}

func (p *timeParser) timePtr(s *string) *time.Time {
	if s == nil {
		return nil
	}
	t := p.time(*s)
	return &t
}

func (p *timeParser) float(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && p.first == nil {
		p.first = err
	}
	return f
}

func (p *timeParser) floats(m map[string]string) map[string]float64 {
	if m == nil {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = p.float(v)
	}
	return out
}

func (p *timeParser) err(what string) error {
	if p.first != nil {
		return corrupt(what, p.first)
	}
	return nil
}

func timePtrKey(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeKey(*t)
	return &s
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func formatFloats(m map[string]float64) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = formatFloat(v)
	}
	return out
}
