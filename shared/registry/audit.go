package registry

import "time"

// Action names what an audit entry records.
type Action string

// Audit actions.
const (
	ActionModelCreated Action = "model.created"
	ActionModelUpdated Action = "model.updated"
	ActionModelDeleted Action = "model.deleted"
	// ActionModelRenamed records a rename (Details from, to): under the
	// new name, after the old name's entries moved there, and once under
	// the old name, which answers why it is not found.
	ActionModelRenamed      Action = "model.renamed"
	ActionVersionRegistered Action = "version.registered"
	ActionVersionUpdated    Action = "version.updated"
	ActionUploadStarted     Action = "version.upload_started"
	// ActionUploadExpired records an abandoned upload session expired by
	// the sweeper when its version did not fail with it (the version had
	// moved on).
	ActionUploadExpired     Action = "version.upload_expired"
	ActionVersionReady      Action = "version.ready"
	ActionVersionFailed     Action = "version.failed"
	ActionVersionDeleted    Action = "version.deleted"
	ActionStageChanged      Action = "version.stage_changed"
	ActionMetricsPushed     Action = "version.metrics_pushed"
	ActionAliasSet          Action = "alias.set"
	ActionAliasDeleted      Action = "alias.deleted"
	ActionApprovalRequested Action = "approval.requested"
	ActionApprovalDecided   Action = "approval.decided"
	// ActionApprovalValidated records the policy checks of a request.
	ActionApprovalValidated Action = "approval.validated"
	// ActionApprovalVoted records one approver's approval of a request
	// that needs more than one, or whose promotion is still to come.
	ActionApprovalVoted Action = "approval.voted"
)

// AuditEntry is one line of the append-only audit trail: who did what to
// which model or version, when and why. Transitions are entries with
// Action ActionStageChanged and From/To set.
type AuditEntry struct {
	// ID is unique and sorts by time within a model (see NewID).
	ID      string
	Model   string
	Version int // 0 for model-level entries
	Action  Action
	Actor   string
	Reason  string
	From    Stage
	To      Stage
	// Criteria is the metric snapshot the decision was made on.
	Criteria   map[string]float64
	ApprovalID string
	Rollback   bool
	// Details holds action-specific facts (alias name, old/new values).
	Details map[string]string
	At      time.Time
}
