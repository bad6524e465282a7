package registry

import "time"

// EventSource is the EventBridge source of every modelreg event.
const EventSource = "modelreg"

// Event types (EventBridge detail-type).
const (
	EventVersionRegistered = "Model Version Registered"
	EventVersionReady      = "Model Version Ready"
	EventStageChanged      = "Model Version Stage Changed"
	EventApprovalRequested = "Approval Requested"
	EventApprovalDecided   = "Approval Decided"
	EventAliasChanged      = "Model Alias Changed"
	EventVersionDeleted    = "Model Version Deleted"
	EventModelDeleted      = "Model Deleted"
	// EventModelRenamed reports a rename: detail.model is the new name,
	// detail.from_name the old one.
	EventModelRenamed = "Model Renamed"

	// Deployment events (issue 8): a redeploy of one deploy target
	// started, finished, or failed (detail: model, version, reason).
	EventDeploymentStarted   = "Model Deployment Started"
	EventDeploymentSucceeded = "Model Deployment Succeeded"
	EventDeploymentFailed    = "Model Deployment Failed"
	// EventDeploymentRequested asks the redeploy consumer to deliver a
	// version to one target again (`modelreg deployments NAME redeliver
	// ID`); detail.target_id names the target, detail.deployment_id the
	// deployment redelivered.
	EventDeploymentRequested = "Model Deployment Requested"
)

// Event is a domain event. It is written to the outbox in the same
// transaction as the change it reports and delivered at least once;
// consumers are idempotent by ID.
//
// Event and EventDetail are the one exception to "domain types carry no
// JSON tags": their JSON is the event contract itself, the EventBridge
// envelope (id, detail-type, source, time, detail) that consumers' rules
// match and that the DynamoDB outbox stores exactly as it is published.
// Changing a tag changes what every consumer and every stored outbox record
// sees (TestEventContract pins it); the /v1 API's documents live in
// shared/httpapi instead.
type Event struct {
	ID     string      `json:"id"`
	Type   string      `json:"detail-type"`
	Source string      `json:"source"`
	Time   time.Time   `json:"time"`
	Detail EventDetail `json:"detail"`
}

// EventDetail is the payload of every event; fields that do not apply are empty.
type EventDetail struct {
	Model      string `json:"model"`
	Version    int    `json:"version,omitempty"`
	From       Stage  `json:"from,omitempty"`
	To         Stage  `json:"to,omitempty"`
	Actor      string `json:"actor,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ApprovalID string `json:"approval_id,omitempty"`
	Status     string `json:"status,omitempty"` // approval status or version status
	Alias      string `json:"alias,omitempty"`
	Rollback   bool   `json:"rollback,omitempty"`
	AuditID    string `json:"audit_id,omitempty"`
	// PreviousVersion is, on a stage change to Production, the version
	// that was in Production before it (0: none); on a deployment event,
	// the version the deployment replaces.
	PreviousVersion int `json:"previous_version,omitempty"`
	// Deployment events, and redelivery requests: the deploy target and
	// the deployment.
	TargetID     string `json:"target_id,omitempty"`
	TargetKind   string `json:"target_kind,omitempty"`
	DeploymentID string `json:"deployment_id,omitempty"`
	// FromName is, on "Model Renamed", the model's old name (Model is
	// the new one).
	FromName string `json:"from_name,omitempty"`
}

// OutboxRecord is an event waiting in the outbox.
type OutboxRecord struct {
	Event         Event
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
}
