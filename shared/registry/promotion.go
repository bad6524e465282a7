package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
)

// Promotion to Production. A request (Transition to Production) creates a
// PENDING Approval and starts the promotion workflow, whose Task states call
// the step methods below: ValidatePromotion, AwaitDecision, Promote and
// RecordOutcome (package workflow adapts them to workflow.Handlers). Each
// step is idempotent: the workflow runs a step at least once.

// DefaultApprovalTTL is how long an approval waits for a decision unless
// Config.ApprovalTTL says otherwise.
const DefaultApprovalTTL = 72 * time.Hour

// MaxCommentLen bounds an approver's comment.
const MaxCommentLen = 1000

// The actors the workflow's own audit entries name.
const (
	// ActorPolicy decides what the model's policy decides by itself: an
	// automatic approval, a refusal by a failed check.
	ActorPolicy = "policy"
	// ActorWorkflow records what nobody decided: an expiry, a failure.
	ActorWorkflow = "workflow"
)

// The ASL error names a decision sends with SendTaskFailure. They are the
// names package workflow exports (ErrorRejected, ErrorCancelled); a test
// there holds them equal.
const (
	TaskErrorRejected  = "Modelreg.Rejected"
	TaskErrorCancelled = "Modelreg.Cancelled"
)

// TaskDecision is the output an approval's SendTaskSuccess carries: the
// JSON of workflow.Decision (a test in package workflow decodes one into
// the other).
type TaskDecision struct {
	AutoApproved bool   `json:"auto_approved,omitempty"`
	DecidedBy    string `json:"decided_by,omitempty"`
	Comment      string `json:"comment,omitempty"`
}

// PromotionEnded is the error a step returns when the approval ended
// before the step could act (rejected, cancelled or expired while the
// workflow was on its way): the workflow records the outcome (Status).
type PromotionEnded struct {
	ApprovalID string
	Status     ApprovalStatus
	Cause      string
}

func (e *PromotionEnded) Error() string {
	return fmt.Sprintf("approval %s is %s: %s", e.ApprovalID, e.Status, e.Cause)
}

// errNoChange ends an update attempt that finds nothing to write.
var errNoChange = errors.New("nothing to change")

// requestPromotion checks a request to move version number of model to
// Production, commits the PENDING approval with its audit entry and its
// "Approval Requested" event, and starts the workflow. NotFound for an
// unknown model or version; Conflict when the version is not READY, not
// in Staging, or the model already has a PENDING approval (named);
// NotImplemented without a workflow; Invalid without a reason.
func (s *Service) requestPromotion(ctx context.Context, model string, number int, reason string) (Approval, error) {
	if s.cfg.Workflow == nil {
		return Approval{}, Errorf(NotImplemented, "promotion to Production goes through the approval workflow, which this server does not run")
	}
	if strings.TrimSpace(reason) == "" {
		return Approval{}, Errorf(Invalid, "reason is required: say why version %d of %s should go to Production", number, model)
	}
	ap, err := update(ctx, s, func() (*Change, Approval, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, Approval{}, err
		}
		v, err := s.GetVersion(ctx, model, number)
		if err != nil {
			return nil, Approval{}, err
		}
		if err := promotable(v); err != nil {
			return nil, Approval{}, err
		}
		if other, err := s.pendingApproval(ctx, model, ""); err != nil {
			return nil, Approval{}, err
		} else if other != nil {
			return nil, Approval{}, Errorf(Conflict, "model %s already has a PENDING request for Production: approval %s (version %d, requested by %s); decide or cancel it first",
				model, other.ID, other.Version, other.RequestedBy)
		}
		now := s.Now()
		ap := Approval{
			ID: NewID(now), Model: model, Version: number, TargetStage: StageProduction,
			RequestedBy: PrincipalFrom(ctx).Name, Reason: reason, Status: ApprovalPending,
			ExpiresAt: now.Add(s.cfg.ApprovalTTL), ArchiveExisting: true, Criteria: metricValues(v.Metrics),
			ApprovalsRequired: max(m.Policy.ApprovalsRequired, 1), CreatedAt: now, UpdatedAt: now, Revision: 1,
		}
		a := s.audit(ctx, now, model, number, ActionApprovalRequested)
		a.Reason, a.ApprovalID, a.Criteria = reason, ap.ID, ap.Criteria
		a.Details = map[string]string{
			"target_stage": string(StageProduction), "expires_at": ap.ExpiresAt.Format(time.RFC3339),
			"approvals_required": strconv.Itoa(ap.ApprovalsRequired),
		}
		ev := s.event(EventApprovalRequested, a)
		ev.Detail.Status = string(ApprovalPending)
		// The model's new revision serialises requests for one model: of
		// two racing requests one commits, the other retries and finds it.
		m.Revision++
		return &Change{Models: []Model{m}, Approvals: []Approval{ap}, Audit: []AuditEntry{a}, Events: []Event{ev}}, ap, nil
	})
	if err != nil {
		return Approval{}, err
	}
	s.startPromotion(context.WithoutCancel(ctx), ap)
	return ap, nil
}

// promotable checks that v may be asked for Production. Conflict.
func promotable(v Version) error {
	switch {
	case v.Deleted || v.Status == StatusDeleted:
		return Errorf(Conflict, "%s", deletedMessage(v))
	case v.Status != StatusReady:
		return Errorf(Conflict, "version %d of %s is %s: only READY versions go to Production (finish its upload first)", v.Number, v.Model, v.Status)
	case v.Stage == StageProduction:
		return Errorf(Conflict, "version %d of %s is already in Production", v.Number, v.Model)
	case v.Stage != StageStaging:
		return Errorf(Conflict, "version %d of %s is in %s: Production is reached from Staging only; move it to Staging first", v.Number, v.Model, v.Stage)
	}
	return nil
}

// pendingApproval returns the oldest PENDING approval of model other than
// except, or nil.
func (s *Service) pendingApproval(ctx context.Context, model, except string) (*Approval, error) {
	q := ApprovalQuery{Status: ApprovalPending, Model: model, Limit: MaxPageSize}
	var found *Approval
	for {
		p, err := s.cfg.Store.ListApprovals(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, a := range p.Items {
			if a.Status == ApprovalPending && a.Model == model && a.ID != except {
				found = &a
			}
		}
		if p.Next == "" {
			return found, nil
		}
		q.Cursor = p.Next
	}
}

// startPromotion starts the workflow of ap and records its execution id.
// A failure is logged and left to RecoverApprovals, which starts it again
// (starting is idempotent per approval): the approval stays PENDING and is
// never stuck past its expiry.
func (s *Service) startPromotion(ctx context.Context, ap Approval) {
	ctx = withoutIdempotency(ctx)
	id, err := s.cfg.Workflow.StartPromotion(ctx, ap)
	if err != nil {
		s.log.Error("registry: start promotion workflow (RecoverApprovals retries)", "approval", ap.ID, "model", ap.Model, "err", err)
		return
	}
	_, err = s.editApproval(ctx, ap.ID, func(a *Approval, _ time.Time) (*Change, error) {
		if a.ExecutionID == id {
			return nil, errNoChange
		}
		a.ExecutionID = id
		return &Change{}, nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		s.log.Error("registry: record the promotion's execution id", "approval", ap.ID, "err", err)
	}
}

// editApproval re-reads approval id and commits what edit makes of it
// (the approval's next revision plus the records edit adds to the Change
// it returns), retrying on a stale revision. edit returns errNoChange
// when there is nothing to write (the result is then the stored approval
// and errNoChange).
func (s *Service) editApproval(ctx context.Context, id string, edit func(a *Approval, now time.Time) (*Change, error)) (Approval, error) {
	var unchanged *Approval
	ap, err := update(ctx, s, func() (*Change, Approval, error) {
		a, err := s.GetApproval(ctx, id)
		if err != nil {
			return nil, Approval{}, err
		}
		now := s.Now()
		ch, err := edit(&a, now)
		if errors.Is(err, errNoChange) {
			unchanged = &a
		}
		if err != nil {
			return nil, Approval{}, err
		}
		a.UpdatedAt = now
		a.Revision++
		ch.Approvals = append(ch.Approvals, a)
		return ch, a, nil
	})
	if unchanged != nil && errors.Is(err, errNoChange) {
		return *unchanged, errNoChange
	}
	return ap, err
}

// PromotionValidation is the result of the Validate step.
type PromotionValidation struct {
	// Passed reports that every check passed.
	Passed bool
	// AutoApprove: the policy approves by itself (no person decides).
	AutoApprove bool
	// Reason lists the failed checks ("" when Passed).
	Reason string
}

// ValidatePromotion is the workflow's Validate step: it checks that the
// version is still READY and in Staging, that no earlier request of the
// model is pending, and the model's policy (Policy.Evaluate against the
// current Production version); it records every check on the approval
// and in the history, once (a repeat returns the recorded result). An
// approval that is no longer PENDING fails validation (its outcome is
// recorded already). NotFound for an unknown approval.
func (s *Service) ValidatePromotion(ctx context.Context, approvalID string) (PromotionValidation, error) {
	ctx = withoutIdempotency(ctx)
	var auto bool
	ap, err := s.editApproval(ctx, approvalID, func(a *Approval, now time.Time) (*Change, error) {
		if a.Status != ApprovalPending || a.Checks != nil {
			return nil, errNoChange
		}
		m, err := s.GetModel(ctx, a.Model)
		if err != nil {
			return nil, err
		}
		v, err := s.GetVersion(ctx, a.Model, a.Version)
		if err != nil {
			return nil, err
		}
		var prod *Version
		if m.ProductionVersion != 0 && m.ProductionVersion != v.Number {
			pv, err := s.GetVersion(ctx, a.Model, m.ProductionVersion)
			if err != nil {
				return nil, err
			}
			prod = &pv
		}
		checks := []PolicyCheck{
			{Name: "ready", Passed: v.Status == StatusReady, Detail: fmt.Sprintf("version %d is %s", v.Number, v.Status)},
			{Name: "staging", Passed: v.Stage == StageStaging, Detail: fmt.Sprintf("version %d is in %s", v.Number, v.Stage)},
		}
		other, err := s.pendingApproval(ctx, a.Model, a.ID)
		if err != nil {
			return nil, err
		}
		if other != nil && (other.CreatedAt.Before(a.CreatedAt) || (other.CreatedAt.Equal(a.CreatedAt) && other.ID < a.ID)) {
			checks = append(checks, PolicyCheck{Name: "single request", Detail: fmt.Sprintf("approval %s was requested first and is PENDING", other.ID)})
		}
		pol := m.Policy
		checks = append(checks, pol.Evaluate(v, prod)...)
		a.Checks = checks
		a.Criteria = metricValues(v.Metrics)
		auto = pol.Approval == ApprovalAuto
		au := AuditEntry{ID: NewID(now), Model: a.Model, Version: a.Version, Action: ActionApprovalValidated,
			Actor: ActorPolicy, ApprovalID: a.ID, Criteria: a.Criteria, Details: checkDetails(checks), At: now}
		if !passed(checks) {
			au.Reason = failedReason(checks)
		} else if auto {
			au.Details["approval"] = "auto"
		}
		return &Change{Audit: []AuditEntry{au}}, nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return PromotionValidation{}, err
	}
	if ap.Status != ApprovalPending {
		return PromotionValidation{Reason: fmt.Sprintf("approval %s is %s", ap.ID, ap.Status)}, nil
	}
	if errors.Is(err, errNoChange) {
		// Validated before: answer as then.
		m, merr := s.GetModel(ctx, ap.Model)
		if merr != nil {
			return PromotionValidation{}, merr
		}
		auto = m.Policy.Approval == ApprovalAuto
	}
	if !passed(ap.Checks) {
		return PromotionValidation{Reason: failedReason(ap.Checks)}, nil
	}
	return PromotionValidation{Passed: true, AutoApprove: auto}, nil
}

func passed(checks []PolicyCheck) bool {
	for _, c := range checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

func failedReason(checks []PolicyCheck) string {
	var failed []string
	for _, c := range checks {
		if !c.Passed {
			failed = append(failed, c.Name+": "+c.Detail)
		}
	}
	return "policy check failed: " + strings.Join(failed, "; ")
}

// checkDetails records checks in an audit entry's details: one
// "check:NAME" key per check, "passed: DETAIL" or "failed: DETAIL".
func checkDetails(checks []PolicyCheck) map[string]string {
	d := map[string]string{}
	for _, c := range checks {
		verdict := "failed"
		if c.Passed {
			verdict = "passed"
		}
		d["check:"+c.Name] = verdict + ": " + c.Detail
	}
	return d
}

// AwaitDecision is the workflow's RequestApproval step: it stores the
// task token on the approval (a repeat with the same token changes
// nothing). When the approval was already decided before the token
// arrived (or a crash came between a decision and its delivery), it
// delivers the decision now: an approval resumes the execution with
// SendTaskSuccess; a rejection, cancellation or expiry is a
// *PromotionEnded error naming it. NotFound for an unknown approval.
func (s *Service) AwaitDecision(ctx context.Context, approvalID, token string) error {
	ctx = withoutIdempotency(ctx)
	if token == "" {
		return Errorf(Invalid, "await decision of %s: no task token", approvalID)
	}
	ap, err := s.editApproval(ctx, approvalID, func(a *Approval, now time.Time) (*Change, error) {
		if a.Status != ApprovalPending || a.TaskToken == token {
			return nil, errNoChange
		}
		a.TaskToken = token
		return &Change{}, nil
	})
	if err != nil && !errors.Is(err, errNoChange) {
		return err
	}
	switch {
	case ap.Status == ApprovalPending && approvedEnough(ap):
		return s.resume(ctx, ap)
	case ap.Status == ApprovalPending:
		return nil
	case ap.Status == ApprovalApproved:
		// Promoted already (a repeat after Promote): nothing waits.
		return nil
	}
	return &PromotionEnded{ApprovalID: ap.ID, Status: ap.Status, Cause: ap.Comment}
}

// approvedEnough reports whether a has its required distinct approvals
// and no rejection.
func approvedEnough(a Approval) bool {
	n := 0
	for _, d := range a.Decisions {
		if !d.Approve {
			return false
		}
		n++
	}
	return n >= max(a.ApprovalsRequired, 1)
}

// resume sends an approved approval's decision to the execution waiting
// on its token. A token nobody waits on any more is not an error: the
// execution moved on (or a new token will come, and AwaitDecision then
// resumes it).
func (s *Service) resume(ctx context.Context, a Approval) error {
	if a.TaskToken == "" {
		return nil
	}
	var by, comments []string
	for _, d := range a.Decisions {
		by = append(by, d.By)
		if d.Comment != "" {
			comments = append(comments, d.Comment)
		}
	}
	out, err := json.Marshal(TaskDecision{DecidedBy: strings.Join(by, ","), Comment: strings.Join(comments, " / ")})
	if err != nil {
		return err
	}
	err = s.cfg.Workflow.SendTaskSuccess(ctx, a.TaskToken, out)
	if IsCode(err, NotFound) {
		return nil
	}
	return err
}

// fail sends a rejection or cancellation to the execution waiting on a's
// token (none waiting is not an error).
func (s *Service) fail(ctx context.Context, a Approval, code, cause string) error {
	if a.TaskToken == "" {
		return nil
	}
	err := s.cfg.Workflow.SendTaskFailure(ctx, a.TaskToken, code, cause)
	if IsCode(err, NotFound) || IsCode(err, Conflict) {
		return nil
	}
	return err
}

// PromotionResult is what the Promote step did.
type PromotionResult struct {
	// Version is the version now in Production.
	Version int
	// ArchivedVersion left Production for Archived (0: none).
	ArchivedVersion int
}

// Promote is the workflow's Promote step. In one transaction it moves the
// approval's version to Production, the previous Production version to
// Archived, points the model at it, marks the approval APPROVED, writes
// the audit entries (approvers, comments, policy checks, metric values)
// and the events ("Model Version Stage Changed" for both versions,
// "Approval Decided"). A repeat after it committed returns the same
// result and writes nothing. Without auto approval it needs the
// approval's required approvals on record. Conflict when the approval is
// no longer PENDING or the version left Staging (deleted, moved) since the
// request; NotFound for an unknown approval.
func (s *Service) Promote(ctx context.Context, approvalID string, auto bool) (PromotionResult, error) {
	ctx = withoutIdempotency(ctx)
	res, err := update(ctx, s, func() (*Change, PromotionResult, error) {
		ap, err := s.GetApproval(ctx, approvalID)
		if err != nil {
			return nil, PromotionResult{}, err
		}
		if ap.Status == ApprovalApproved {
			return nil, PromotionResult{}, &alreadyDone{PromotionResult{Version: ap.Version, ArchivedVersion: ap.ArchivedVersion}}
		}
		if ap.Status != ApprovalPending {
			return nil, PromotionResult{}, Errorf(Conflict, "approval %s is %s: nothing to promote", ap.ID, ap.Status)
		}
		if !auto && !approvedEnough(ap) {
			return nil, PromotionResult{}, Errorf(Conflict, "approval %s has %d of %d approvals: not promoted", ap.ID, len(ap.Decisions), ap.ApprovalsRequired)
		}
		m, err := s.GetModel(ctx, ap.Model)
		if err != nil {
			return nil, PromotionResult{}, err
		}
		v, err := s.GetVersion(ctx, ap.Model, ap.Version)
		if err != nil {
			return nil, PromotionResult{}, err
		}
		if err := promotable(v); err != nil {
			return nil, PromotionResult{}, Wrap(Conflict, err, "version %d of %s changed since the request: %s", v.Number, v.Model, ErrorMessage(err))
		}
		now := s.Now()
		by, comment, details := decisionDetails(ap, auto)
		details["requested_by"] = ap.RequestedBy
		for k, val := range checkDetails(ap.Checks) {
			details[k] = val
		}
		ch := &Change{}
		res := PromotionResult{Version: v.Number}
		a := AuditEntry{ID: NewID(now), Model: ap.Model, Version: v.Number, Action: ActionStageChanged, Actor: by,
			Reason: ap.Reason, From: v.Stage, To: StageProduction, Criteria: metricValues(v.Metrics),
			ApprovalID: ap.ID, Details: details, At: now}
		v.Stage, v.StageChangedAt, v.UpdatedAt = StageProduction, now, now
		v.Revision++
		ch.Versions = append(ch.Versions, v)
		ch.Audit = append(ch.Audit, a)
		in := s.event(EventStageChanged, a)
		if m.ProductionVersion != v.Number {
			in.Detail.PreviousVersion = m.ProductionVersion // what the redeploy replaces
		}
		ch.Events = append(ch.Events, in)
		if prev := m.ProductionVersion; prev != 0 && prev != v.Number {
			pv, err := s.GetVersion(ctx, ap.Model, prev)
			if err != nil {
				return nil, PromotionResult{}, err
			}
			if pv.Stage == StageProduction {
				pa := AuditEntry{ID: NewID(now), Model: ap.Model, Version: prev, Action: ActionStageChanged, Actor: by,
					Reason: fmt.Sprintf("replaced in Production by version %d", v.Number), From: StageProduction, To: StageArchived,
					Criteria: metricValues(pv.Metrics), ApprovalID: ap.ID, Details: map[string]string{"replaced_by": strconv.Itoa(v.Number)}, At: now}
				pv.Stage, pv.StageChangedAt, pv.UpdatedAt = StageArchived, now, now
				pv.Revision++
				ch.Versions = append(ch.Versions, pv)
				ch.Audit = append(ch.Audit, pa)
				ch.Events = append(ch.Events, s.event(EventStageChanged, pa))
				res.ArchivedVersion = prev
			}
		}
		m.ProductionVersion = v.Number
		m.Revision++
		ch.Models = []Model{m}
		ap.Status, ap.DecidedBy, ap.Comment, ap.DecidedAt = ApprovalApproved, by, comment, &now
		ap.AutoApproved, ap.ArchivedVersion = auto, res.ArchivedVersion
		ap.UpdatedAt = now
		ap.Revision++
		ch.Approvals = []Approval{ap}
		d := AuditEntry{ID: NewID(now), Model: ap.Model, Version: v.Number, Action: ActionApprovalDecided, Actor: by,
			Reason: comment, ApprovalID: ap.ID, Details: map[string]string{"status": string(ApprovalApproved)}, At: now}
		ev := s.event(EventApprovalDecided, d)
		ev.Detail.Status = string(ApprovalApproved)
		ch.Audit = append(ch.Audit, d)
		ch.Events = append(ch.Events, ev)
		failpoint.Hit(failpoint.PromotionBeforeCommit)
		return ch, res, nil
	})
	var done *alreadyDone
	if errors.As(err, &done) {
		return done.res, nil
	}
	if err == nil {
		failpoint.Hit(failpoint.PromotionAfterCommit)
	}
	return res, err
}

// decisionDetails names who decided ap and what they said: the actor (the
// approvers, comma-separated, or ActorPolicy), their comments joined, and
// the audit details "approvers" and "comment:NAME".
func decisionDetails(ap Approval, auto bool) (by, comment string, details map[string]string) {
	details = map[string]string{}
	if auto {
		details["approval"] = "auto"
		return ActorPolicy, "approved by the model's policy", details
	}
	var names, comments []string
	for _, d := range ap.Decisions {
		names = append(names, d.By)
		if d.Comment != "" {
			comments = append(comments, d.Comment)
			details["comment:"+d.By] = d.Comment
		}
	}
	details["approvers"] = strings.Join(names, ",")
	return strings.Join(names, ","), strings.Join(comments, " / "), details
}

// alreadyDone carries a step's result when a repeat finds it done.
type alreadyDone struct{ res PromotionResult }

func (alreadyDone) Error() string { return "already done" }

// RecordOutcome is the workflow's step for a promotion that did not
// promote: status is REJECTED (by an approver, or by policy when
// byPolicy), EXPIRED, CANCELLED or FAILED, and cause says why. It marks a
// PENDING approval so, with its audit entry and "Approval Decided"
// event; an approval that is no longer PENDING (its decision was recorded
// when it was made) is left as it is. Invalid for another status,
// NotFound for an unknown approval.
func (s *Service) RecordOutcome(ctx context.Context, approvalID string, status ApprovalStatus, byPolicy bool, cause string) error {
	ctx = withoutIdempotency(ctx)
	switch status {
	case ApprovalRejected, ApprovalExpired, ApprovalCancelled, ApprovalFailed:
	default:
		return Errorf(Invalid, "record outcome of %s: %q is not an outcome", approvalID, status)
	}
	_, err := s.editApproval(ctx, approvalID, func(a *Approval, now time.Time) (*Change, error) {
		if a.Status != ApprovalPending {
			return nil, errNoChange
		}
		actor := ActorWorkflow
		switch {
		case byPolicy:
			actor = ActorPolicy
		case status == ApprovalRejected || status == ApprovalCancelled:
			for _, d := range a.Decisions {
				if !d.Approve {
					actor = d.By
				}
			}
		}
		comment := cause
		if status == ApprovalExpired && comment == "" {
			comment = "nobody decided before " + a.ExpiresAt.Format(time.RFC3339)
		}
		return s.endApproval(a, now, status, actor, comment, map[string]string{"outcome": outcomeName(status, byPolicy)}), nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

func outcomeName(status ApprovalStatus, byPolicy bool) string {
	if byPolicy {
		return "POLICY_FAILED"
	}
	return string(status)
}

// endApproval marks a ended with status, decided by actor, and returns the
// audit entry and "Approval Decided" event that go with it (the caller's
// editApproval adds the approval).
func (s *Service) endApproval(a *Approval, now time.Time, status ApprovalStatus, actor, comment string, details map[string]string) *Change {
	a.Status, a.DecidedBy, a.Comment, a.DecidedAt = status, actor, comment, &now
	if details == nil {
		details = map[string]string{}
	}
	details["status"] = string(status)
	au := AuditEntry{ID: NewID(now), Model: a.Model, Version: a.Version, Action: ActionApprovalDecided, Actor: actor,
		Reason: comment, ApprovalID: a.ID, Details: details, At: now}
	ev := s.event(EventApprovalDecided, au)
	ev.Detail.Status = string(status)
	return &Change{Audit: []AuditEntry{au}, Events: []Event{ev}}
}

// approvalEnded says why a decision cannot be made on a.
func approvalEnded(a Approval) error {
	msg := fmt.Sprintf("approval %s is %s", a.ID, a.Status)
	if a.DecidedBy != "" {
		msg += " (by " + a.DecidedBy
		if a.DecidedAt != nil {
			msg += " at " + a.DecidedAt.UTC().Format(time.RFC3339)
		}
		msg += ")"
	}
	return Errorf(Conflict, "%s: it can no longer be decided or cancelled", msg)
}

// canDecide reports whether principal p may decide approvals of a model
// whose policy names approvers (principals or "group:NAME"); an empty list
// lets every approver and admin decide.
func canDecide(p Principal, approvers []string) bool {
	if len(approvers) == 0 {
		return true
	}
	for _, a := range approvers {
		if g, ok := strings.CutPrefix(a, "group:"); ok {
			if slices.Contains(p.Groups, g) {
				return true
			}
		} else if a == p.Name {
			return true
		}
	}
	return false
}
