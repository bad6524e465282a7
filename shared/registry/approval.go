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
	// ApprovalFailed: the promotion workflow failed (a task failed after
	// its retries, or the version changed under it); Comment says why.
	ApprovalFailed ApprovalStatus = "FAILED"
)

// ApprovalDecision is one approver's decision on an approval.
type ApprovalDecision struct {
	By      string
	Approve bool
	Comment string
	At      time.Time
}

// Approval is a request to move a version to a stage that needs a person's
// decision (Production). The requester cannot approve their own request.
type Approval struct {
	ID          string
	Model       string
	Version     int
	TargetStage Stage
	RequestedBy string
	Reason      string
	Status      ApprovalStatus
	DecidedBy   string
	Comment     string
	DecidedAt   *time.Time
	ExpiresAt   time.Time
	// ArchiveExisting archives the previous Production version on promotion.
	ArchiveExisting bool
	// Rollback marks a promotion of an earlier version back to Production.
	Rollback bool
	// Criteria is the metric snapshot at request time.
	Criteria map[string]float64
	// ApprovalsRequired is how many distinct approvals the model's policy
	// asked for when the request was made (at least 1).
	ApprovalsRequired int
	// Decisions are the approvers' decisions so far, oldest first.
	Decisions []ApprovalDecision
	// Checks are the policy checks the Validate step ran (nil until then).
	Checks []PolicyCheck
	// AutoApproved reports that the policy approved it without a person.
	AutoApproved bool
	// ArchivedVersion is the version the promotion moved out of
	// Production to Archived (0: none).
	ArchivedVersion int
	ExecutionID     string
	// TaskToken resumes the workflow; never shown to callers.
	TaskToken string
	CreatedAt time.Time
	UpdatedAt time.Time
	Revision  int64
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
	ID       string
	Workflow string // e.g. "promotion"
	Status   ExecutionStatus
	// State is the name of the current (or last) state of the ASL document.
	State string
	// Input and Output are the JSON documents passed between states.
	Input  []byte
	Output []byte
	// TaskToken is set while the execution waits in a .waitForTaskToken state.
	TaskToken string
	// TimeoutAt is when the waiting state times out (zero: no timeout).
	TimeoutAt time.Time
	Error     string
	Cause     string
	StartedAt time.Time
	UpdatedAt time.Time
	Revision  int64
}
