package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
)

// Renaming a model, defined once for every store (like deleting, on the
// store's Change with revisions).
//
// Every record is keyed by the model name, so a rename is a resumable,
// batched move behind a lock rather than a model-id indirection (which
// would rekey every record of both stores and every index). In order:
//
//  1. Lock: one Change marks the old model RenameMoving (writes to it are
//     refused with Conflict "being renamed to NEW") and creates a
//     placeholder under the new name, marked RenameReserved (it reads as
//     not found; nothing else can take the name). Two racing renames of one
//     model, or onto one name: one wins, the other gets Conflict.
//  2. Copy: versions (tombstones included) and aliases are copied to the
//     new name in batches; each batch also rewrites the old records
//     unchanged at the next revision, so that a write that read one before
//     the lock fails its condition, re-reads, and meets the lock. Deploy
//     targets, deployments and audit entries are moved (deleted and
//     written under the new name in one Change: SQLite keys them by an ID
//     unique across models). Approvals get the new name. Each batch
//     carries the old model's next revision and its progress (the
//     RenameState cursor), so it commits exactly once.
//  3. Flip: one Change deletes the old model record and turns the
//     placeholder into the model, marked RenameCleanup, with its audit
//     entry model.renamed and the event "Model Renamed". Readers of the
//     model see the old name before it and the new name after it.
//  4. Clean up: the old name's copies of versions and aliases are deleted
//     in batches, then the mark goes.
//
// A crash anywhere leaves the marks: calling RenameModel again with the
// same names resumes (and so does creating the old name again, which
// first finishes a cleanup, or reading a version under the old name once
// the rename flipped). Cost for a model of N versions, A aliases, T
// deploy targets, D deployments, P approvals and E audit entries: 3N +
// 3A + 2T + 2D + P + 2E item writes (a version with more than 5 tags
// counts once more per 5 on DynamoDB), plus the old model once per batch
// and 8 more (lock 2, flip 5, end 1), in about 2N/30 + 2A/40 + D/45 +
// P/90 + E/45 + 8 transactions of at most 100 items (SQLite: the same
// Changes, each one transaction).
//
// Files are not copied: a version keeps its files under the name they
// were written with (Version.StorageName), so downloads and deletions of
// copied versions find them where they are. Versions registered after the
// rename store theirs under the new name. So that two versions never share
// a file key, numbers under a name continue after the highest ever used
// there: the old name's model.renamed entry records it for a model created
// again under it, and a model renamed onto a name used before continues
// after that name's last number.
//
// Refused (Conflict, nothing changed): a rename onto an existing model or
// a name still holding a deleted model's versions, a model with a PENDING
// approval, or with a version waiting for its files or being verified (an
// upload may be open: complete it or delete the version first).
//
// Writes racing the lock: the service checks every write against the
// lock (checkNotRenaming). A write that checked just before the lock
// committed cannot land under the old name after its step was copied (to
// be dropped by the cleanup): one that writes the model, or a record the
// copy rewrites, fails its revision condition; any other (a new alias, an
// audit entry, a deployment) carries a condition-only check of the
// revision the lock check read (Change.CheckedModels), which the lock
// bumps. Either fails stale, is retried, and meets the lock (Conflict).

// renameBatch bounds the records one copy or move Change writes (each
// also writes the old model).
const (
	renameVersionBatch = 30 // 2 items each (DynamoDB: more for many tags)
	renameAliasBatch   = 40 // 2 items each
	renameMoveBatch    = 45 // deployments, audit entries: 2 items each
	renameApprovals    = 90 // 1 item each
	// renameItemBudget is the DynamoDB items a version batch may use.
	renameItemBudget = 90
)

// Steps of the copy, kept in RenameState.Cursor as "step" or
// "step:store cursor".
const (
	stepVersions    = "versions"
	stepAliases     = "aliases"
	stepTargets     = "targets"
	stepDeployments = "deployments"
	stepApprovals   = "approvals"
	stepAudit       = "audit"
	stepFlip        = "flip"
)

// ErrNameTaken is the cause (inside a Conflict) RenameModel gives when the
// new name belongs to another model (MLflow: RESOURCE_ALREADY_EXISTS).
var ErrNameTaken = errors.New("model name taken")

// RenameModel renames model from to to (admin) and returns the renamed
// model. Calling it again after an interruption finishes the rename;
// calling it again after it finished returns the model. Invalid (bad new
// name or reason, same name), NotFound, Conflict (see above).
func (s *Service) RenameModel(ctx context.Context, from, to, reason string) (Model, error) {
	if err := s.CheckModelName(to); err != nil {
		return Model{}, err
	}
	if err := ValidateText("reason", reason, MaxReasonLen); err != nil {
		return Model{}, err
	}
	if from == to {
		return Model{}, Errorf(Invalid, "model %q already has that name", from)
	}
	// Only the last Change (the end of the cleanup) stores the response of
	// an idempotent request: the ones before it are many, and a retry
	// resumes them.
	bctx := withoutIdempotency(ctx)
	m, done, err := s.lockRename(bctx, from, to, reason)
	if err != nil {
		return Model{}, fmt.Errorf("rename model %s to %s: %w", from, to, err)
	}
	if done == nil {
		if m, err = s.copyForRename(bctx, m); err != nil {
			return Model{}, fmt.Errorf("rename model %s to %s: %w", from, to, err)
		}
		if done, err = s.flipRename(bctx, m); err != nil {
			return Model{}, fmt.Errorf("rename model %s to %s: %w", from, to, err)
		}
	}
	if done.Rename != nil {
		if *done, err = s.cleanupRename(bctx, *done, ctx); err != nil {
			return Model{}, fmt.Errorf("rename model %s to %s: clean up: %w", from, to, err)
		}
	}
	return *done, nil
}

// lockRename marks the old model and reserves the new name, or finds the
// marks of an interrupted rename of from to to. It returns the old model
// (marked), or the renamed model when the rename already flipped.
func (s *Service) lockRename(ctx context.Context, from, to, reason string) (Model, *Model, error) {
	var done, resume *Model
	m, err := updateUnchecked(ctx, s, func() (*Change, Model, error) {
		done, resume = nil, nil
		m, err := s.cfg.Store.GetModel(ctx, from)
		if IsCode(err, NotFound) {
			// Renamed already (a retry)? The new model says so.
			if n, nerr := s.cfg.Store.GetModel(ctx, to); nerr == nil && n.Rename == nil && s.renamedFrom(ctx, from) == to {
				done = &n
				return nil, Model{}, errNothingToDo
			} else if nerr == nil && n.Rename != nil && n.Rename.Phase == RenameCleanup && n.Rename.From == from {
				done = &n
				return nil, Model{}, errNothingToDo
			}
			_, err = s.GetModel(ctx, from)
			return nil, Model{}, err
		}
		if err != nil {
			return nil, Model{}, err
		}
		if rn := m.Rename; rn != nil {
			switch rn.Phase {
			case RenameMoving:
				if rn.To == to {
					resume = &m
					return nil, Model{}, errNothingToDo
				}
				return nil, Model{}, renamingError(m)
			case RenameReserved:
				return nil, Model{}, Errorf(NotFound, "model %q not found (the name is being taken by the rename of %q)", from, rn.From)
			case RenameCleanup:
				// Renamed a moment ago: finish that first.
				if _, err := s.cleanupRename(ctx, m, ctx); err != nil {
					return nil, Model{}, err
				}
				return nil, Model{}, Wrap(Conflict, ErrStale, "previous rename cleaned up")
			}
		}
		if err := s.renamable(ctx, m); err != nil {
			return nil, Model{}, err
		}
		if t, err := s.cfg.Store.GetModel(ctx, to); err == nil {
			if t.Rename != nil && t.Rename.Phase == RenameReserved {
				return nil, Model{}, Wrap(Conflict, ErrNameTaken, "model name %q is being taken by the rename of %q", to, t.Rename.From)
			}
			return nil, Model{}, Wrap(Conflict, ErrNameTaken, "model %q already exists", to)
		} else if !IsCode(err, NotFound) {
			return nil, Model{}, err
		}
		tomb, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: to, IncludeDeleted: true, Limit: 1})
		if err != nil {
			return nil, Model{}, err
		}
		if len(tomb.Items) > 0 {
			return nil, Model{}, Errorf(Conflict, "model name %q still holds the deleted versions of a model deleted under that name (their numbers are never reused): choose another name", to)
		}
		now := s.Now()
		st := RenameState{Phase: RenameMoving, From: from, To: to, By: PrincipalFrom(ctx).Name, Reason: reason, At: now, Cursor: stepVersions}
		m.Rename = &st
		m.Revision++
		res := st
		res.Phase = RenameReserved
		placeholder := Model{Name: to, CreatedBy: st.By, CreatedAt: now, UpdatedAt: now, Rename: &res, Revision: 1}
		return &Change{Models: []Model{m, placeholder}}, m, nil
	})
	if errors.Is(err, errNothingToDo) {
		if resume != nil {
			return *resume, nil, nil
		}
		return Model{}, done, nil
	}
	if err == nil {
		failpoint.Hit(failpoint.RenameAfterBatch)
	}
	if errors.Is(err, ErrStale) {
		return Model{}, nil, Errorf(Conflict, "model %q was renamed, or the name %q taken, meanwhile: look again", from, to)
	}
	return m, nil, err
}

// renamingError is the Conflict every write to a model being renamed gets.
func renamingError(m Model) error {
	return Errorf(Conflict, "model %q is being renamed to %q (by %s since %s): try again under the new name once it is done; if the rename was interrupted, run it again to finish it",
		m.Name, m.Rename.To, m.Rename.By, m.Rename.At.UTC().Format(time.RFC3339))
}

// renamable checks that nothing in flight depends on the model's name: no
// PENDING approval (its workflow holds the name), no version waiting for
// files or being verified (an upload session holds it). Conflict.
func (s *Service) renamable(ctx context.Context, m Model) error {
	p, err := s.cfg.Store.ListApprovals(ctx, ApprovalQuery{Status: ApprovalPending, Model: m.Name, Limit: 1})
	if err != nil {
		return err
	}
	for _, a := range p.Items {
		if a.Status == ApprovalPending && a.Model == m.Name {
			return Errorf(Conflict, "version %d of %s has a PENDING approval (%s): decide or cancel it before renaming the model", a.Version, m.Name, a.ID)
		}
	}
	for _, st := range []Status{StatusPendingUpload, StatusVerifying} {
		p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: m.Name, Status: st, Limit: 1})
		if err != nil {
			return err
		}
		if len(p.Items) > 0 {
			v := p.Items[0]
			return Errorf(Conflict, "version %d of %s is %s (an upload may be open): complete its upload or delete it before renaming the model", v.Number, m.Name, v.Status)
		}
	}
	return nil
}

// renameStep commits one batch of the copy: ch plus the old model at its
// next revision with the given cursor. A batch too large for the store
// (Invalid) is reported as such, so the caller halves it.
func (s *Service) renameStep(ctx context.Context, m *Model, ch *Change, cursor string, copied int) error {
	next := *m
	st := *m.Rename
	st.Cursor, st.Copied = cursor, st.Copied+copied
	next.Rename = &st
	next.Revision++
	ch.Models = append(ch.Models, next)
	if err := s.commitUnchecked(ctx, ch, nil); err != nil {
		return err
	}
	failpoint.Hit(failpoint.RenameAfterBatch)
	*m = next
	return nil
}

// reloadRenaming re-reads the old model and checks it is still the one
// being renamed as st says.
func (s *Service) reloadRenaming(ctx context.Context, from string, to string) (Model, error) {
	m, err := s.cfg.Store.GetModel(ctx, from)
	if err != nil {
		return Model{}, err
	}
	if m.Rename == nil || m.Rename.Phase != RenameMoving || m.Rename.To != to {
		return Model{}, Errorf(Conflict, "model %q is no longer being renamed to %q", from, to)
	}
	return m, nil
}

// copyForRename runs the copy steps from where m's cursor says and
// returns the old model ready for the flip.
func (s *Service) copyForRename(ctx context.Context, m Model) (Model, error) {
	from, to := m.Name, m.Rename.To
	limit := renameVersionBatch
	for {
		step, cur, _ := strings.Cut(m.Rename.Cursor, ":")
		var err error
		switch step {
		case stepVersions:
			err = s.copyVersions(ctx, &m, cur, &limit)
		case stepAliases:
			err = s.copyAliases(ctx, &m, cur)
		case stepTargets:
			err = s.moveTargets(ctx, &m)
		case stepDeployments:
			err = s.moveDeployments(ctx, &m)
		case stepApprovals:
			err = s.moveApprovals(ctx, &m)
		case stepAudit:
			err = s.moveAudit(ctx, &m)
		case stepFlip:
			return m, nil
		default:
			return Model{}, Errorf(Internal, "model %q: unknown rename step %q", from, m.Rename.Cursor)
		}
		if errors.Is(err, ErrStale) {
			// Someone wrote meanwhile (a write that read before the lock):
			// re-read and go on from the committed cursor.
			if m, err = s.reloadRenaming(ctx, from, to); err != nil {
				return Model{}, err
			}
			continue
		}
		if err != nil {
			return Model{}, err
		}
	}
}

// versionItems estimates the DynamoDB items a version takes: the version
// plus one per 5 tags beyond its first 5 (the store's tag spill; SQLite
// takes one row per tag in one transaction and has no limit).
func versionItems(v Version) int { return 1 + (max(len(v.Tags)-5, 0)+4)/5 }

// copyVersions copies one batch of the old model's versions (tombstones
// too) to the new name, with their files left where they are.
func (s *Service) copyVersions(ctx context.Context, m *Model, cursor string, limit *int) error {
	p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: m.Name, IncludeDeleted: true, Cursor: cursor, Limit: *limit})
	if err != nil {
		return err
	}
	items, n := 0, 0
	for _, v := range p.Items {
		if cost := 2 * versionItems(v); n > 0 && items+cost > renameItemBudget {
			break
		}
		items += 2 * versionItems(v)
		n++
	}
	if n < len(p.Items) {
		// Versions with many tags: list fewer, so that the page's Next is
		// the position after those taken.
		*limit = n
		return Wrap(Conflict, ErrStale, "batch shortened")
	}
	next := stepAliases
	if p.Next != "" {
		next = stepVersions + ":" + p.Next
	}
	ch := &Change{}
	for _, v := range p.Items {
		c := v
		c.Model, c.StorageName, c.MovedTo, c.Revision = m.Rename.To, v.Storage(), "", 1
		old := v
		old.MovedTo = m.Rename.To
		old.Revision++
		ch.Versions = append(ch.Versions, c, old)
	}
	err = s.renameStep(ctx, m, ch, next, len(p.Items))
	if IsCode(err, Invalid) && len(p.Items) > 1 {
		*limit = max(len(p.Items)/2, 1) // too large for one transaction
		return Wrap(Conflict, ErrStale, "batch halved")
	}
	return err
}

// copyAliases copies the old model's aliases, renameAliasBatch at a time
// in name order (cursor: the last name copied).
func (s *Service) copyAliases(ctx context.Context, m *Model, after string) error {
	all, err := s.cfg.Store.ListAliases(ctx, m.Name)
	if err != nil {
		return err
	}
	ch := &Change{}
	last := ""
	for _, al := range all {
		if al.Name <= after && after != "" {
			continue
		}
		if len(ch.Aliases) == 2*renameAliasBatch {
			break
		}
		c := al
		c.Model, c.Revision = m.Rename.To, 1
		old := al
		old.Revision++
		ch.Aliases = append(ch.Aliases, c, old)
		last = al.Name
	}
	next := stepTargets
	if len(ch.Aliases) == 2*renameAliasBatch {
		next = stepAliases + ":" + last
	}
	return s.renameStep(ctx, m, ch, next, 0)
}

// moveTargets moves every deploy target (at most MaxDeployTargets: one
// Change).
func (s *Service) moveTargets(ctx context.Context, m *Model) error {
	all, err := s.cfg.Store.ListDeployTargets(ctx, m.Name)
	if err != nil {
		return err
	}
	ch := &Change{DeletedDeployTargets: all}
	for _, t := range all {
		c := t
		c.Model, c.Revision = m.Rename.To, 1
		ch.DeployTargets = append(ch.DeployTargets, c)
	}
	return s.renameStep(ctx, m, ch, stepDeployments, 0)
}

// moveDeployments moves one batch of deployments; the step ends when
// none is left under the old name.
func (s *Service) moveDeployments(ctx context.Context, m *Model) error {
	p, err := s.cfg.Store.ListDeployments(ctx, DeploymentQuery{Model: m.Name, Limit: renameMoveBatch})
	if err != nil {
		return err
	}
	ch := &Change{DeletedDeployments: p.Items}
	for _, d := range p.Items {
		c := d
		c.Model, c.Revision = m.Rename.To, 1
		ch.Deployments = append(ch.Deployments, c)
	}
	next := stepDeployments
	if len(p.Items) == 0 {
		next = stepApprovals
	}
	return s.renameStep(ctx, m, ch, next, 0)
}

// moveApprovals gives the old model's approvals (decided ones: a PENDING
// one refuses the rename) the new name, renameApprovals at a time.
func (s *Service) moveApprovals(ctx context.Context, m *Model) error {
	q := ApprovalQuery{Model: m.Name, Limit: MaxPageSize}
	for {
		p, err := s.cfg.Store.ListApprovals(ctx, q)
		if err != nil {
			return err
		}
		ch := &Change{}
		for _, li := range p.Items {
			// The index may lag: the record says.
			a, err := s.cfg.Store.GetApproval(ctx, li.ID)
			if IsCode(err, NotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if a.Model != m.Name {
				continue
			}
			if a.Status == ApprovalPending {
				return Errorf(Conflict, "version %d of %s got a PENDING approval (%s) during the rename: decide or cancel it, then run the rename again", a.Version, m.Name, a.ID)
			}
			a.Model = m.Rename.To
			a.Revision++
			ch.Approvals = append(ch.Approvals, a)
			if len(ch.Approvals) == renameApprovals {
				if err := s.renameStep(ctx, m, ch, stepApprovals, 0); err != nil {
					return err
				}
				ch = &Change{}
			}
		}
		if p.Next == "" {
			return s.renameStep(ctx, m, ch, stepAudit, 0)
		}
		if len(ch.Approvals) > 0 {
			if err := s.renameStep(ctx, m, ch, stepApprovals, 0); err != nil {
				return err
			}
		}
		q.Cursor = p.Next
	}
}

// moveAudit moves one batch of the old model's audit entries, oldest
// kept in order by their IDs; the step ends when none is left.
func (s *Service) moveAudit(ctx context.Context, m *Model) error {
	p, err := s.cfg.Store.ListAudit(ctx, AuditQuery{Model: m.Name, Limit: renameMoveBatch})
	if err != nil {
		return err
	}
	ch := &Change{DeletedAudit: p.Items}
	for _, a := range p.Items {
		if a.Action == ActionModelRenamed && a.Details["from"] == a.Model {
			// The mark an earlier rename away from this name left: it is
			// the name's, not this model's, and the flip leaves a newer one
			// (with a number at least as high).
			continue
		}
		c := a
		c.Model = m.Rename.To
		ch.Audit = append(ch.Audit, c)
	}
	next := stepAudit
	if len(p.Items) == 0 {
		next = stepFlip
	}
	return s.renameStep(ctx, m, ch, next, 0)
}

// flipRename deletes the old model record and makes the placeholder the
// model, in one Change with the audit entries and the event. It returns
// the renamed model (marked RenameCleanup).
func (s *Service) flipRename(ctx context.Context, old Model) (*Model, error) {
	from, to := old.Name, old.Rename.To
	floor, err := s.nextNumberFloor(ctx, to)
	if err != nil {
		return nil, err
	}
	res, err := updateUnchecked(ctx, s, func() (*Change, Model, error) {
		m, err := s.reloadRenaming(ctx, from, to)
		if err != nil {
			return nil, Model{}, err
		}
		ph, err := s.cfg.Store.GetModel(ctx, to)
		if err != nil {
			return nil, Model{}, err
		}
		if ph.Rename == nil || ph.Rename.Phase != RenameReserved || ph.Rename.From != from {
			return nil, Model{}, Errorf(Conflict, "model name %q is no longer reserved for the rename of %q", to, from)
		}
		now := s.Now()
		n := m
		n.Name = to
		n.LatestVersion = max(m.LatestVersion, floor)
		st := *m.Rename
		st.Phase, st.Cursor = RenameCleanup, stepVersions
		n.Rename = &st
		n.UpdatedAt = now
		n.Revision = ph.Revision + 1
		details := map[string]string{"from": from, "to": to, "latest": strconv.Itoa(n.LatestVersion)}
		a := s.audit(ctx, now, to, 0, ActionModelRenamed)
		a.Actor, a.Reason, a.Details = st.By, st.Reason, details
		mark := s.audit(ctx, now, from, 0, ActionModelRenamed)
		mark.Actor, mark.Reason, mark.Details = st.By, st.Reason, details
		ev := s.event(EventModelRenamed, a)
		ev.Detail.FromName = from
		return &Change{DeletedModels: []Model{m}, Models: []Model{n}, Audit: []AuditEntry{a, mark}, Events: []Event{ev}}, n, nil
	})
	if err != nil {
		return nil, err
	}
	failpoint.Hit(failpoint.RenameAfterFlip)
	return &res, nil
}

// cleanupRename deletes the old name's copies of the versions and
// aliases of renamed model n, then clears its mark (in a Change that
// carries the idempotency record of last, the request's context). It
// returns n as it is then.
func (s *Service) cleanupRename(ctx context.Context, n Model, last context.Context) (Model, error) {
	from := n.Rename.From
	for {
		als, err := s.cfg.Store.ListAliases(ctx, from)
		if err != nil {
			return Model{}, err
		}
		if len(als) == 0 {
			break
		}
		if err := s.cfg.Store.Commit(ctx, &Change{DeletedAliases: als[:min(len(als), renameMoveBatch)]}); err != nil && !errors.Is(err, ErrStale) {
			return Model{}, err
		}
	}
	limit := renameVersionBatch
	for {
		p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: from, IncludeDeleted: true, Limit: limit})
		if err != nil {
			return Model{}, err
		}
		if len(p.Items) == 0 {
			break
		}
		ch := &Change{}
		items := 0
		for _, v := range p.Items {
			if c := versionItems(v); len(ch.DeletedVersions) > 0 && items+c > renameItemBudget {
				break
			}
			items += versionItems(v)
			ch.DeletedVersions = append(ch.DeletedVersions, v)
		}
		err = s.cfg.Store.Commit(ctx, ch)
		switch {
		case IsCode(err, Invalid) && len(ch.DeletedVersions) > 1:
			limit = max(len(ch.DeletedVersions)/2, 1)
		case err != nil && !errors.Is(err, ErrStale):
			return Model{}, err
		}
	}
	var cur Model
	m, err := updateUnchecked(last, s, func() (*Change, Model, error) {
		m, err := s.cfg.Store.GetModel(ctx, n.Name)
		if err != nil {
			return nil, Model{}, err
		}
		if m.Rename == nil || m.Rename.Phase != RenameCleanup {
			cur = m
			return nil, Model{}, errNothingToDo
		}
		m.Rename = nil
		m.Revision++
		return &Change{Models: []Model{m}}, m, nil
	})
	if errors.Is(err, errNothingToDo) {
		return cur, nil
	}
	return m, err
}

// renamedFrom returns the name the model called name was renamed to, when
// the newest audit entry under name says it was ("" otherwise).
func (s *Service) renamedFrom(ctx context.Context, name string) string {
	p, err := s.cfg.Store.ListAudit(ctx, AuditQuery{Model: name, Limit: 1})
	if err != nil || len(p.Items) == 0 || p.Items[0].Action != ActionModelRenamed || p.Items[0].Details["from"] != name {
		return ""
	}
	return p.Items[0].Details["to"]
}

// finishRenameAway finishes the cleanup of a rename away from name, so
// that a model created under name starts clean.
func (s *Service) finishRenameAway(ctx context.Context, name string) error {
	to := s.renamedFrom(ctx, name)
	if to == "" {
		return nil
	}
	n, err := s.cfg.Store.GetModel(ctx, to)
	if IsCode(err, NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.Rename == nil || n.Rename.Phase != RenameCleanup || n.Rename.From != name {
		return nil
	}
	_, err = s.cleanupRename(ctx, n, ctx)
	return err
}

// checkNotRenaming refuses (Conflict) a write to a model being renamed:
// it looks at the models ch writes, and reads the others it touches.
// Writes that read a record before the lock fail their revision condition
// instead (the copy rewrote the record), re-read, and come here. For each
// model it read, it returns a check of the revision it saw, for ch to
// carry: a lock committing between this read and ch's commit bumps that
// revision, so ch fails stale, is retried, and meets the lock here (rather
// than landing under the old name after the copy passed, to be dropped by
// the cleanup). A model ch writes needs none (its write carries its
// revision), nor one not found (a rename locks only an existing model).
func (s *Service) checkNotRenaming(ctx context.Context, ch *Change) ([]ModelCheck, error) {
	seen := map[string]bool{}
	for _, c := range ch.CheckedModels {
		seen[c.Name] = true // the caller's own check stands
	}
	for _, m := range ch.Models {
		seen[m.Name] = true
		if m.Rename != nil && m.Rename.Phase == RenameMoving {
			return nil, renamingError(m)
		}
		if m.Rename != nil && m.Rename.Phase == RenameReserved {
			return nil, Errorf(Conflict, "model name %q is being taken by the rename of %q", m.Name, m.Rename.From)
		}
	}
	for _, m := range ch.DeletedModels {
		seen[m.Name] = true
		if m.Rename != nil && m.Rename.Phase == RenameMoving {
			return nil, renamingError(m)
		}
	}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, v := range ch.Versions {
		add(v.Model)
	}
	for _, a := range ch.Aliases {
		add(a.Model)
	}
	for _, a := range ch.DeletedAliases {
		add(a.Model)
	}
	for _, t := range ch.DeployTargets {
		add(t.Model)
	}
	for _, d := range ch.Deployments {
		add(d.Model)
	}
	for _, a := range ch.Approvals {
		add(a.Model)
	}
	for _, a := range ch.Audit {
		add(a.Model)
	}
	var checks []ModelCheck
	for _, name := range names {
		m, err := s.cfg.Store.GetModel(ctx, name)
		if IsCode(err, NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.Rename != nil && m.Rename.Phase == RenameMoving {
			return nil, renamingError(m)
		}
		checks = append(checks, ModelCheck{Name: name, Revision: m.Revision})
	}
	return checks, nil
}
