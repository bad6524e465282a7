package registry

import "time"

// ApprovalStatus is the state of an approval request.
type ApprovalStatus string

// Approval statuses.
const (
	ApprovalPending   ApprovalStatus = "PENDING"
	ApprovalApproved  ApprovalStatus = "APPROVED"
	ApprovalRejected  ApprovalStatus = "REJECTED"
	ApprovalExpired   ApprovalStatus = "EXPIRED"
	ApprovalCancelled ApprovalStatus = "CANCELLED"
)

// Approval is a request to move a version to a stage that needs a person's
// decision (Production). The requester cannot approve their own request.
type Approval struct {
	ID          string         `json:"id"`
	Model       string         `json:"model"`
	Version     int            `json:"version"`
	TargetStage Stage          `json:"target_stage"`
	RequestedBy string         `json:"requested_by"`
	Reason      string         `json:"reason,omitempty"`
	Status      ApprovalStatus `json:"status"`
	DecidedBy   string         `json:"decided_by,omitempty"`
	Comment     string         `json:"comment,omitempty"`
	DecidedAt   *time.Time     `json:"decided_at,omitempty"`
	ExpiresAt   time.Time      `json:"expires_at"`
	// ArchiveExisting archives the previous Production version on promotion.
	ArchiveExisting bool `json:"archive_existing"`
	// Rollback marks a promotion of an earlier version back to Production.
	Rollback bool `json:"rollback,omitempty"`
	// Criteria is the metric snapshot at request time.
	Criteria    map[string]float64 `json:"criteria,omitempty"`
	ExecutionID string             `json:"execution_id,omitempty"`
	// TaskToken resumes the workflow; never shown to callers.
	TaskToken string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}

// ExecutionStatus is the state of a workflow execution.
type ExecutionStatus string

// Execution statuses (the Step Functions names).
const (
	ExecutionRunning   ExecutionStatus = "RUNNING"
	ExecutionSucceeded ExecutionStatus = "SUCCEEDED"
	ExecutionFailed    ExecutionStatus = "FAILED"
	ExecutionTimedOut  ExecutionStatus = "TIMED_OUT"
	ExecutionAborted   ExecutionStatus = "ABORTED"
)

// Execution is one run of a workflow as the embedded engine persists it (on
// AWS, Step Functions keeps its own and this record mirrors what we know).
type Execution struct {
	ID       string          `json:"id"`
	Workflow string          `json:"workflow"` // e.g. "promotion"
	Status   ExecutionStatus `json:"status"`
	// State is the name of the current (or last) state of the ASL document.
	State string `json:"state,omitempty"`
	// Input and Output are the JSON documents passed between states.
	Input  []byte `json:"input,omitempty"`
	Output []byte `json:"output,omitempty"`
	// TaskToken is set while the execution waits in a .waitForTaskToken state.
	TaskToken string `json:"-"`
	// TimeoutAt is when the waiting state times out (zero: no timeout).
	TimeoutAt time.Time `json:"timeout_at,omitempty"`
	Error     string    `json:"error,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	StartedAt time.Time `json:"started_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}
