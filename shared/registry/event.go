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
)

// Event is a domain event. It is written to the outbox in the same
// transaction as the change it reports and delivered at least once;
// consumers are idempotent by ID.
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
}

// OutboxRecord is an event waiting in the outbox.
type OutboxRecord struct {
	Event         Event     `json:"event"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
}
