package registry

import (
	"context"
	"errors"
	"time"
)

// Change is a set of writes that a Store commits atomically: all of it or
// none of it. Every state change travels with its audit entries and outbox
// events in one Change, so the trail and the events can never disagree with
// the state.
//
// Optimistic concurrency: every record carries the revision it will have
// once written. Revision 1 means "create": the store refuses (Conflict
// wrapping ErrStale) if the record exists. Revision n>1 means "update": the
// store refuses (Conflict wrapping ErrStale) unless the stored record has
// revision n-1. Deletes name the revision currently stored. A revision
// below 1 is Invalid. An audit entry (within its model) or event whose ID
// exists is a Conflict wrapping ErrStale too. The caller re-reads and
// retries on ErrStale. A Change beyond what the backend writes atomically
// (DynamoDB: 100 items, 4 MB, one action per item) is Invalid; the service
// writes a handful of records per Change.
type Change struct {
	Models        []Model
	DeletedModels []Model // deleted when the stored revision equals Revision
	// CheckedModels are conditions only: the Change commits only if each
	// model Name is stored at exactly Revision (a reserved or marked model
	// record counts as stored); otherwise nothing is written and Commit
	// returns a Conflict wrapping ErrStale. A model also written or
	// deleted by the Change, or checked twice, is Invalid (its write
	// already carries its revision). On DynamoDB each is one more item of
	// the transaction.
	CheckedModels []ModelCheck
	Versions      []Version
	// DeletedVersions are deleted when the stored revision equals
	// Revision (a rename removes the old name's copies; deletion of a
	// version otherwise leaves a tombstone in Versions).
	DeletedVersions []Version
	Aliases         []Alias
	DeletedAliases  []Alias // deleted when the stored revision equals Revision
	Approvals       []Approval
	Executions      []Execution
	Uploads         []UploadSession
	// DeployTargets are created (revision 1) or updated like the records
	// above; DeletedDeployTargets are deleted when the stored revision
	// equals Revision.
	DeployTargets        []DeployTarget
	DeletedDeployTargets []DeployTarget
	// Deployments are created or advanced (revisions as above);
	// DeletedDeployments are deleted when the stored revision equals
	// Revision. Deletions of records with IDs (deployments, deploy
	// targets, audit entries) apply before creations, so one Change may
	// move such a record to another model.
	Deployments        []Deployment
	DeletedDeployments []Deployment
	// Processed records are created only: one whose (Consumer, EventID)
	// is stored and unexpired as of its ProcessedAt is a Conflict wrapping
	// ErrStale; an expired one is overwritten.
	Processed []ProcessedEvent
	// Audit entries are appended; an existing ID is a Conflict.
	Audit []AuditEntry
	// DeletedAudit are removed (matched by model and ID; a missing one is
	// a Conflict wrapping ErrStale). Only a rename removes audit entries:
	// it moves them to the new name in the same Change.
	DeletedAudit []AuditEntry
	// Events are added to the outbox with NextAttemptAt = Event.Time.
	Events []Event
	// Idempotency, when set, is stored only if no record unexpired as of
	// Idempotency.CreatedAt has its Key; otherwise nothing is written and Commit returns a Conflict
	// wrapping ErrDuplicateRequest. This check takes precedence: when the
	// key exists, Commit reports ErrDuplicateRequest even if other
	// conditions fail too, so a racing retry replays the first response.
	Idempotency *IdempotencyRecord
	// MoreIdempotency are the records of further requests when one Change
	// carries several (a group commit of registrations). Each is checked
	// and stored like Idempotency, with the same precedence: if any key
	// exists, nothing is written and Commit returns ErrDuplicateRequest.
	// Two records with one key in a Change are Invalid.
	MoreIdempotency []IdempotencyRecord
}

// ModelCheck is a condition of a Change on a model's stored revision.
type ModelCheck struct {
	Name     string
	Revision int64 // 1 or more
}

// ValidateModelChecks returns Invalid if ch's CheckedModels break the
// rules above (a revision below 1, a model checked twice or also written
// or deleted by ch). Stores call it before committing.
func ValidateModelChecks(ch *Change) error {
	if len(ch.CheckedModels) == 0 {
		return nil
	}
	written := map[string]bool{}
	for _, m := range ch.Models {
		written[m.Name] = true
	}
	for _, m := range ch.DeletedModels {
		written[m.Name] = true
	}
	checked := map[string]bool{}
	for _, c := range ch.CheckedModels {
		switch {
		case c.Revision < 1:
			return Errorf(Invalid, "commit: check of model %s at revision %d; revisions start at 1", c.Name, c.Revision)
		case written[c.Name]:
			return Errorf(Invalid, "commit: model %s is both written and checked; its write carries its revision", c.Name)
		case checked[c.Name]:
			return Errorf(Invalid, "commit: model %s is checked twice", c.Name)
		}
		checked[c.Name] = true
	}
	return nil
}

// ModelQuery selects models, ordered by name.
type ModelQuery struct {
	Prefix string // name prefix; "" for all
	Cursor string // from a previous page's Next; "" for the first page
	Limit  int    // 1..1000
}

// VersionQuery selects versions of one model, newest (highest number) first.
// Empty fields do not filter.
type VersionQuery struct {
	Model     string
	Stage     Stage
	Status    Status
	TagKey    string // versions having this tag...
	TagValue  string // ...with this value ("" with TagKey set: any value)
	GitCommit string // lineage.code.commit, matched as MatchCommit says
	DatasetID string // lineage.data.dataset_id
	RunID     string // lineage.run.run_id
	// IncludeDeleted lists tombstones (Status StatusDeleted) too; without
	// it they are left out, unless Status is StatusDeleted.
	IncludeDeleted bool
	Cursor         string
	Limit          int
}

// AuditQuery selects audit entries of one model, newest first.
type AuditQuery struct {
	Model   string
	Version int // 0: all entries of the model
	Cursor  string
	Limit   int
}

// ApprovalQuery selects approvals, newest first.
type ApprovalQuery struct {
	Status ApprovalStatus // "" for all
	Model  string         // "" for all models
	Cursor string
	Limit  int
}

// ExecutionQuery selects workflow executions, oldest first.
type ExecutionQuery struct {
	Status ExecutionStatus // "" for all
	Cursor string
	Limit  int
}

// DeploymentQuery selects deployments of one model, newest (StartedAt,
// then ID) first.
type DeploymentQuery struct {
	Model  string
	Cursor string
	Limit  int
}

// Page is one page of a listing. Every page but the last holds exactly the
// query's Limit items (an adapter that filters after reading keeps reading
// until the page is full); Next is "" on the page holding the last item,
// otherwise an adapter-defined cursor for the next page (the service signs
// it before a caller sees it). A Limit outside 1..1000 is Invalid.
type Page[T any] struct {
	Items []T
	Next  string
}

// Store keeps every record of the registry. Get methods, ListAliases,
// ListAudit of a whole model and ListVersions without filters are strongly
// consistent (they see every successful Commit); listings through an index
// (filtered versions, models, approvals, executions, StageAt) may lag a
// Commit briefly where indexes are eventually consistent (DynamoDB GSIs),
// but never return a record older than its index entry. Methods return
// NotFound for a
// missing record, Invalid for a malformed cursor, Unavailable when the
// backend asks to retry later, Internal otherwise.
type Store interface {
	// Commit writes ch atomically (see Change). Conflict wrapping ErrStale
	// or ErrDuplicateRequest when a condition fails; nothing is written then.
	Commit(ctx context.Context, ch *Change) error

	// GetModel returns the model named name. NotFound.
	GetModel(ctx context.Context, name string) (Model, error)
	// ListModels returns models ordered by name.
	ListModels(ctx context.Context, q ModelQuery) (Page[Model], error)

	// GetVersion returns version number of model. NotFound.
	GetVersion(ctx context.Context, model string, number int) (Version, error)
	// ListVersions returns versions of q.Model, highest number first.
	// Its cost grows with the page size, not with the number of versions.
	ListVersions(ctx context.Context, q VersionQuery) (Page[Version], error)

	// GetAlias returns the alias name of model. NotFound.
	GetAlias(ctx context.Context, model, name string) (Alias, error)
	// ListAliases returns all aliases of model ordered by name (a model has
	// at most MaxAliases).
	ListAliases(ctx context.Context, model string) ([]Alias, error)

	// ListAudit returns audit entries of q.Model, newest first.
	ListAudit(ctx context.Context, q AuditQuery) (Page[AuditEntry], error)
	// StageAt returns the newest stage-change entry of model at or before
	// at whose From or To is stage (on equal times, the larger ID). NotFound
	// if there is none.
	StageAt(ctx context.Context, model string, stage Stage, at time.Time) (AuditEntry, error)

	// GetApproval returns the approval with the given id. NotFound.
	GetApproval(ctx context.Context, id string) (Approval, error)
	// ListApprovals returns approvals, newest first.
	ListApprovals(ctx context.Context, q ApprovalQuery) (Page[Approval], error)

	// GetExecution returns the workflow execution with the given id. NotFound.
	GetExecution(ctx context.Context, id string) (Execution, error)
	// ListExecutions returns executions, oldest first.
	ListExecutions(ctx context.Context, q ExecutionQuery) (Page[Execution], error)

	// GetUpload returns the upload session with the given id. NotFound.
	GetUpload(ctx context.Context, id string) (UploadSession, error)
	// UploadsToSweep returns up to limit upload sessions the upload
	// sweeper must handle: every UploadExpiring one first, then the
	// UploadOpen ones whose ExpiresAt is before before, soonest expiry
	// first (then by ID). Read through an index: it may lag a Commit, so
	// callers re-read each session before acting. Invalid for a limit
	// below 1.
	UploadsToSweep(ctx context.Context, before time.Time, limit int) ([]UploadSession, error)

	// PendingEvents returns up to limit outbox records whose NextAttemptAt
	// is at or before now, oldest first.
	PendingEvents(ctx context.Context, now time.Time, limit int) ([]OutboxRecord, error)
	// AckEvent removes a delivered event from the outbox. Acking an event
	// that is not there is not an error (delivery is at least once).
	AckEvent(ctx context.Context, id string) error
	// DeferEvent records a failed delivery: Attempts+1, LastError, and the
	// time of the next attempt. NotFound if the event is not in the outbox.
	DeferEvent(ctx context.Context, id string, next time.Time, lastErr string) error

	// GetDeployTarget returns the deploy target id of model. NotFound
	// (also when id belongs to another model).
	GetDeployTarget(ctx context.Context, model, id string) (DeployTarget, error)
	// ListDeployTargets returns every deploy target of model, oldest
	// (CreatedAt, then ID) first; empty if none. A model has at most
	// MaxDeployTargets (the service enforces it).
	ListDeployTargets(ctx context.Context, model string) ([]DeployTarget, error)

	// GetDeployment returns the deployment id of model. NotFound.
	GetDeployment(ctx context.Context, model, id string) (Deployment, error)
	// ListDeployments returns deployments of q.Model, newest (StartedAt,
	// then ID) first. Invalid for a bad cursor or limit.
	ListDeployments(ctx context.Context, q DeploymentQuery) (Page[Deployment], error)

	// GetProcessed returns the record that consumer processed eventID,
	// unless it expired before now. NotFound when missing or expired.
	GetProcessed(ctx context.Context, consumer, eventID string, now time.Time) (ProcessedEvent, error)

	// GetIdempotency returns the record stored under key unless it expired
	// before now. NotFound otherwise.
	GetIdempotency(ctx context.Context, key string, now time.Time) (IdempotencyRecord, error)

	// Close releases the store's resources.
	Close() error
}

// Artifacts stores the files of versions. Uploads and downloads never pass
// through the API: the adapter presigns requests that clients send straight
// to the storage (S3, or the local server's blob routes).
//
// Keys are laid out per model and version; a file is only visible at its
// final key once Complete verified it, and a completed file is never
// overwritten.
type Artifacts interface {
	// Begin prepares the backend for file f of session s and returns f with
	// BackendID set where the backend needs one (an S3 multipart upload).
	// If f.BackendID names an upload that no longer exists (aborted), Begin
	// starts a new one.
	Begin(ctx context.Context, s UploadSession, f UploadFile) (UploadFile, error)
	// PresignPart returns the request that uploads part n (1-based) of f,
	// valid until expires. When f.PartSHA256 is set the request only
	// succeeds with a body of that digest.
	PresignPart(ctx context.Context, s UploadSession, f UploadFile, n int, expires time.Time) (PartRequest, error)
	// UploadedParts returns the numbers of f's parts received so far,
	// ascending.
	UploadedParts(ctx context.Context, s UploadSession, f UploadFile) ([]int, error)
	// Complete checks that every part of f arrived and that the whole file
	// has f.Size bytes and SHA-256 f.SHA256, then makes it the version's
	// file at f.Path. Invalid (naming what is wrong) if not; the file is not
	// visible then. Calling it again after success returns nil. Conflict if
	// a different file is already stored at that path; it may answer
	// Unavailable while parts are still being written (where the backend
	// can tell).
	Complete(ctx context.Context, s UploadSession, f UploadFile) error
	// Abort discards f's incomplete upload; nothing there is not an error.
	// It may answer Unavailable while f is being completed.
	Abort(ctx context.Context, s UploadSession, f UploadFile) error
	// Discard removes the completed file path of a version that is not
	// READY (left by an abandoned upload session), so that a new session
	// can store a different file there. The service never calls it for a
	// READY version. No file there is not an error.
	Discard(ctx context.Context, model string, version int, path string) error
	// RemoveVersion removes every completed file of a version (the
	// service calls it for deleted versions only, after their tombstone is
	// committed). Nothing there is not an error, so a repeated call after
	// a crash removes what is left. Incomplete uploads are not touched:
	// Abort them. Invalid for a bad model name or version.
	RemoveVersion(ctx context.Context, model string, version int) error
	// PresignDownload returns a URL that GETs the completed file path of a
	// version, valid until expires. NotFound if there is no such file.
	PresignDownload(ctx context.Context, model string, version int, path string, expires time.Time) (string, error)
}

// VerifyRequest names an upload whose files are to be verified in the
// background (the version is VERIFYING).
type VerifyRequest struct {
	Model    string
	Version  int
	UploadID string
}

// Invoker starts work that runs outside the request that asked for it:
// on AWS an asynchronous invoke of the verify-upload function, in-process
// a background queue. InvokeVerify returns once the request is accepted,
// not when the work is done; the same request accepted twice is harmless
// (Service.VerifyUpload is idempotent). Unavailable when it cannot be
// accepted now.
type Invoker interface {
	InvokeVerify(ctx context.Context, r VerifyRequest) error
}

// Events publishes domain events (EventBridge on AWS, the local bus at
// home). Publish returns an error if any event was not accepted; the outbox
// relay retries it (consumers are idempotent by event id).
type Events interface {
	Publish(ctx context.Context, events []Event) error
}

// Workflow runs the promotion workflow (Step Functions on AWS, the embedded
// engine at home), both from the same ASL document.
type Workflow interface {
	// StartPromotion starts a promotion execution for approval a and
	// returns its execution id. Starting twice for one approval starts one.
	StartPromotion(ctx context.Context, a Approval) (string, error)
	// SendTaskSuccess resumes the execution waiting on token with output.
	// NotFound if no execution waits on it.
	SendTaskSuccess(ctx context.Context, token string, output []byte) error
	// SendTaskFailure fails the task waiting on token. NotFound likewise.
	SendTaskFailure(ctx context.Context, token, code, cause string) error
}

// Notification is a message for people (Slack, email, a log line). Subject
// and Text are its plain-text form (an email's subject and body, a log
// line); the other fields are the facts a channel that formats (Slack's
// Block Kit) lays out its own way. Fields that do not apply are empty.
type Notification struct {
	Subject string
	Text    string
	// Event is the event the notification reports (zero for a reminder,
	// which reports the clock).
	Event Event

	Kind NotificationKind
	// Audience is who the message is for, and Recipients name them (the
	// model's approvers, or the requester).
	Audience   Audience
	Recipients []string

	Model           string
	Version         int
	From, To        Stage
	PreviousVersion int    // the version it replaces, or was rolled back from (0: none)
	Actor           string // who did it (decided, promoted, rolled back)
	Requester       string
	Reason          string
	Comment         string // the decision's comment
	Status          string // the approval's status, or the deployment's
	ApprovalID      string
	ExpiresAt       time.Time // when the approval expires (approval kinds)
	TargetID        string    // deployment failed
	TargetKind      string
	DeploymentID    string
	// Metrics are the key metrics of Version against BaselineVersion (the
	// Production version it would replace, or did).
	Metrics         []MetricDelta
	BaselineVersion int
	// Commands are CLI commands that act on it, exactly as one types them
	// (`modelreg approvals approve ID`).
	Commands []string
	// URL links to the approval in the web console, when one is configured.
	URL string
}

// NotificationKind says what a Notification reports.
type NotificationKind string

// Notification kinds.
const (
	NotifyApprovalRequested NotificationKind = "approval_requested"
	NotifyApprovalDecided   NotificationKind = "approval_decided"
	NotifyPromoted          NotificationKind = "promoted"
	NotifyRolledBack        NotificationKind = "rolled_back"
	NotifyDeploymentFailed  NotificationKind = "deployment_failed"
	NotifyApprovalReminder  NotificationKind = "approval_reminder"
)

// Audience is who a Notification is for.
type Audience string

// Audiences.
const (
	AudienceApprovers Audience = "approvers" // those who may decide the approval
	AudienceRequester Audience = "requester" // who asked for the promotion
	AudienceTeam      Audience = "team"      // everyone following the model
)

// MetricDelta is one metric of a version next to the baseline's value.
type MetricDelta struct {
	Name  string
	Value float64
	// HasBaseline says whether the baseline version has the metric.
	HasBaseline bool
	Baseline    float64
	// HigherIsBetter is the metric's direction (as Compare guesses it).
	HigherIsBetter bool
}

// Notifier tells people about events. Notify returns an error when the
// message was not delivered (the caller retries); an error for which
// IsPermanent reports true will not be delivered by retrying.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// IsPermanent reports whether err says that retrying cannot succeed (a
// Notifier's or Deployer's error with a method Permanent() bool returning
// true, such as a webhook answering 404).
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// DeployRequest asks for the serving endpoint of Model to run Version.
type DeployRequest struct {
	Model   string
	Version int
	// EventID is the event that caused the deploy: deployers use it to
	// ignore a redelivery.
	EventID string
}

// Deployer redeploys serving when Production changes.
type Deployer interface {
	Deploy(ctx context.Context, r DeployRequest) error
}
