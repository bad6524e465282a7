package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Deleting, defined once for every store.
//
// A deleted version becomes a tombstone: its record stays, with Status
// StatusDeleted and who deleted it, when and why, so that its number is
// never reused and the audit trail still names it. The tombstone, its
// audit entry (version.deleted) and its event (Model Version Deleted) are
// committed first; its files are removed afterwards. A crash between the
// two leaves files behind a committed tombstone: deleting the tombstone
// again removes them and succeeds, so a retry heals it.
//
// A deleted model's versions all become tombstones, its aliases and
// deploy targets go, then the model record goes (audit model.deleted, event Model Deleted). The audit trail stays,
// and so do the tombstones: a model created again under the same name
// continues the numbering after the last number ever assigned, and its
// history shows both lives.
//
// Neither may touch a version in Production or one with a PENDING
// approval: those answer Conflict and change nothing.

// versionBatch is how many versions one Change of DeleteModel tombstones:
// 3 items each (version, audit entry, event) plus the model, well inside
// DynamoDB's 100 items per transaction.
const versionBatch = 25

// aliasBatch is how many aliases one Change deletes (2 items each: the
// alias and its audit entry).
const aliasBatch = 40

// errAlreadyDeleted tells DeleteVersion that the version is a tombstone.
var errAlreadyDeleted = errors.New("already deleted")

// CanRollBackTo returns nil if a rollback may return Production to v:
// rollback skips deleted versions (and any that is not READY). The
// rollback code of the promotion workflow picks the newest earlier
// Production version for which this returns nil. Conflict otherwise.
func CanRollBackTo(v Version) error {
	switch {
	case v.Deleted || v.Status == StatusDeleted:
		return Errorf(Conflict, "%s", deletedMessage(v))
	case v.Status != StatusReady:
		return Errorf(Conflict, "version %d of %s is %s: only READY versions return to Production", v.Number, v.Model, v.Status)
	}
	return nil
}

// deletedMessage says who deleted a tombstone, when and why.
func deletedMessage(v Version) string {
	msg := fmt.Sprintf("version %d of model %q was deleted", v.Number, v.Model)
	if v.DeletedBy != "" {
		msg += " by " + v.DeletedBy
	}
	if v.DeletedAt != nil {
		msg += " at " + v.DeletedAt.UTC().Format(time.RFC3339)
	}
	if v.DeleteReason != "" {
		msg += fmt.Sprintf(" (reason: %q)", v.DeleteReason)
	}
	return msg
}

// withoutIdempotency returns ctx with no idempotency request: a deletion
// stores no response to replay, so that a retry with the same key runs
// again and removes the files a crash left behind (deleting is
// idempotent by itself).
func withoutIdempotency(ctx context.Context) context.Context {
	return WithIdempotency(ctx, nil)
}

// DeleteVersion deletes a version (admin): it becomes a tombstone and its
// files are removed. Deleting a tombstone again removes any files left
// behind and returns the tombstone. NotFound for an unknown model or
// version; Conflict for a version in Production or with a PENDING
// approval; Invalid for a bad reason.
func (s *Service) DeleteVersion(ctx context.Context, model string, number int, reason string) (Version, error) {
	if err := ValidateText("reason", reason, MaxReasonLen); err != nil {
		return Version{}, err
	}
	ctx = withoutIdempotency(ctx)
	var sess *UploadSession
	var existing Version // the tombstone found by a repeated delete
	tomb, err := update(ctx, s, func() (*Change, Version, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, Version{}, err
		}
		v, err := s.cfg.Store.GetVersion(ctx, model, number)
		if IsCode(err, NotFound) {
			return nil, Version{}, Errorf(NotFound, "version %d of model %q not found", number, model)
		}
		if err != nil {
			return nil, Version{}, err
		}
		if v.Status == StatusDeleted {
			existing = v
			return nil, Version{}, errAlreadyDeleted
		}
		if err := s.deletable(ctx, m, &v); err != nil {
			return nil, Version{}, err
		}
		aliases, err := s.aliasesOf(ctx, model, number)
		if err != nil {
			return nil, Version{}, err
		}
		if len(aliases) > aliasBatch {
			// Too many for one transaction: remove them first, then retry.
			if err := s.deleteAliases(ctx, m, aliases); err != nil {
				return nil, Version{}, err
			}
			return nil, Version{}, Wrap(Conflict, ErrStale, "aliases removed; tombstone next")
		}
		now := s.Now()
		ch := &Change{DeletedAliases: aliases}
		sess = nil
		t, err := s.tombstone(ctx, ch, v, now, reason)
		if err != nil {
			return nil, Version{}, err
		}
		if len(ch.Uploads) > 0 {
			sess = &ch.Uploads[0]
		}
		if len(aliases) > 0 {
			names := make([]string, len(aliases))
			for i, al := range aliases {
				names[i] = al.Name
			}
			ch.Audit[0].Details["aliases"] = strings.Join(names, ",")
		}
		m.UpdatedAt = now
		m.Revision++
		ch.Models = []Model{m}
		return ch, t, nil
	})
	if errors.Is(err, errAlreadyDeleted) {
		// A repeated delete: finish what an interrupted one left.
		tomb = existing
		if sess, err = s.openSessionOf(ctx, tomb); err != nil {
			return Version{}, err
		}
	} else if err != nil {
		return Version{}, fmt.Errorf("delete version %d of %s: %w", number, model, err)
	}
	if err := s.removeFiles(ctx, tomb, sess); err != nil {
		return Version{}, fmt.Errorf("delete version %d of %s: %w", number, model, err)
	}
	return tomb, nil
}

// DeleteModel deletes a model (admin) that has no version in Production
// and no PENDING approval: every version becomes a tombstone and its files
// are removed, then the model record goes. Its audit trail stays. An
// interrupted deletion is finished by calling it again. NotFound,
// Conflict, Invalid (reason).
func (s *Service) DeleteModel(ctx context.Context, name, reason string) error {
	if err := ValidateText("reason", reason, MaxReasonLen); err != nil {
		return err
	}
	bctx := withoutIdempotency(ctx)
	for range maxAttempts {
		if err := s.deleteAllAliases(bctx, name); err != nil {
			return fmt.Errorf("delete model %s: %w", name, err)
		}
		if err := s.deleteAllTargets(bctx, name); err != nil {
			return fmt.Errorf("delete model %s: %w", name, err)
		}
		if err := s.tombstoneAll(bctx, name, reason); err != nil {
			return fmt.Errorf("delete model %s: %w", name, err)
		}
		if err := s.sweepFiles(bctx, name); err != nil {
			return fmt.Errorf("delete model %s: %w", name, err)
		}
		_, err := update(ctx, s, func() (*Change, Model, error) {
			m, err := s.GetModel(ctx, name)
			if err != nil {
				return nil, Model{}, err
			}
			if err := s.deletable(ctx, m, nil); err != nil {
				return nil, Model{}, err
			}
			live, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: name, Limit: 1})
			if err != nil {
				return nil, Model{}, err
			}
			als, err := s.cfg.Store.ListAliases(ctx, name)
			if err != nil {
				return nil, Model{}, err
			}
			targets, err := s.cfg.Store.ListDeployTargets(ctx, name)
			if err != nil {
				return nil, Model{}, err
			}
			if len(live.Items) > 0 || len(als) > 0 || len(targets) > 0 {
				return nil, Model{}, errMoreToDelete // registered, aliased or targeted meanwhile
			}
			a := s.audit(ctx, s.Now(), name, 0, ActionModelDeleted)
			a.Reason = reason
			a.Details = map[string]string{"versions": strconv.Itoa(m.LatestVersion)}
			return &Change{DeletedModels: []Model{m}, Audit: []AuditEntry{a}, Events: []Event{s.event(EventModelDeleted, a)}}, m, nil
		})
		if !errors.Is(err, errMoreToDelete) {
			return err
		}
	}
	return Errorf(Unavailable, "model %s keeps getting new versions while it is being deleted; retry", name)
}

// errMoreToDelete makes DeleteModel go round again.
var errMoreToDelete = errors.New("more to delete")

// deletable checks the rules of deletion against the model m and, if set,
// one version v of it: not in Production, no PENDING approval. Conflict.
func (s *Service) deletable(ctx context.Context, m Model, v *Version) error {
	if v != nil && (v.Stage == StageProduction || m.ProductionVersion == v.Number) {
		return Errorf(Conflict, "version %d of %s is in Production: promote another version (or roll back) before deleting it", v.Number, m.Name)
	}
	if v == nil && m.ProductionVersion != 0 {
		return Errorf(Conflict, "model %s has version %d in Production: a model with a Production version cannot be deleted", m.Name, m.ProductionVersion)
	}
	q := ApprovalQuery{Status: ApprovalPending, Model: m.Name, Limit: MaxPageSize}
	for {
		p, err := s.cfg.Store.ListApprovals(ctx, q)
		if err != nil {
			return err
		}
		for _, a := range p.Items {
			if a.Status != ApprovalPending || a.Model != m.Name {
				continue
			}
			if v == nil {
				return Errorf(Conflict, "version %d of %s has a PENDING approval (%s): decide or cancel it before deleting the model", a.Version, m.Name, a.ID)
			}
			if a.Version == v.Number {
				return Errorf(Conflict, "version %d of %s has a PENDING approval (%s): decide or cancel it before deleting the version", v.Number, m.Name, a.ID)
			}
		}
		if p.Next == "" {
			return nil
		}
		q.Cursor = p.Next
	}
}

// tombstone adds to ch the tombstone of v with its audit entry, its event,
// and the abort of its open upload session, and returns the tombstone.
func (s *Service) tombstone(ctx context.Context, ch *Change, v Version, now time.Time, reason string) (Version, error) {
	a := s.audit(ctx, now, v.Model, v.Number, ActionVersionDeleted)
	a.Reason = reason
	// The stage goes in Details, not From: From/To mark stage changes,
	// which StageAt reads.
	a.Details = map[string]string{"status": string(v.Status), "stage": string(v.Stage)}
	if v.UploadID != "" {
		u, err := s.cfg.Store.GetUpload(ctx, v.UploadID)
		if err != nil && !IsCode(err, NotFound) {
			return Version{}, err
		}
		if err == nil && (u.Status == UploadOpen || u.Status == UploadVerifying) {
			u.Status, u.UpdatedAt = UploadAborted, now
			u.Revision++
			ch.Uploads = append(ch.Uploads, u)
		}
	}
	t := v
	t.Status, t.Deleted, t.DeletedBy, t.DeletedAt, t.DeleteReason = StatusDeleted, true, a.Actor, &now, reason
	t.UpdatedAt = now
	t.Revision++
	ev := s.event(EventVersionDeleted, a)
	ev.Detail.Status = string(StatusDeleted)
	ch.Versions = append(ch.Versions, t)
	ch.Audit = append(ch.Audit, a)
	ch.Events = append(ch.Events, ev)
	return t, nil
}

// aliasesOf returns the aliases of model that point at version number.
func (s *Service) aliasesOf(ctx context.Context, model string, number int) ([]Alias, error) {
	all, err := s.cfg.Store.ListAliases(ctx, model)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(a Alias) bool { return a.Version != number }), nil
}

// deleteAliases deletes aliases of m in Changes of aliasBatch, each with
// its audit entry and the model's revision (so that it waits for a
// concurrent promotion). A stale revision surfaces as ErrStale for the
// caller's retry.
func (s *Service) deleteAliases(ctx context.Context, m Model, aliases []Alias) error {
	for chunk := range slices.Chunk(aliases, aliasBatch) {
		now := s.Now()
		ch := &Change{DeletedAliases: chunk}
		for _, al := range chunk {
			a := s.audit(ctx, now, m.Name, al.Version, ActionAliasDeleted)
			a.Details = map[string]string{"alias": al.Name, "reason": "version deleted"}
			ch.Audit = append(ch.Audit, a)
		}
		m.UpdatedAt = now
		m.Revision++
		ch.Models = []Model{m}
		if err := s.commit(ctx, ch, nil); err != nil {
			return err
		}
	}
	return nil
}

// deleteAllAliases deletes every alias of a model about to be deleted.
func (s *Service) deleteAllAliases(ctx context.Context, name string) error {
	_, err := update(ctx, s, func() (*Change, any, error) {
		m, err := s.GetModel(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if err := s.deletable(ctx, m, nil); err != nil {
			return nil, nil, err
		}
		all, err := s.cfg.Store.ListAliases(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if len(all) > aliasBatch {
			if err := s.deleteAliases(ctx, m, all[aliasBatch:]); err != nil {
				return nil, nil, err
			}
			return nil, nil, Wrap(Conflict, ErrStale, "some aliases removed; more next")
		}
		if len(all) == 0 {
			return nil, nil, errNothingToDo
		}
		now := s.Now()
		ch := &Change{DeletedAliases: all}
		for _, al := range all {
			a := s.audit(ctx, now, name, al.Version, ActionAliasDeleted)
			a.Details = map[string]string{"alias": al.Name, "reason": "model deleted"}
			ch.Audit = append(ch.Audit, a)
		}
		m.UpdatedAt = now
		m.Revision++
		ch.Models = []Model{m}
		return ch, nil, nil
	})
	if errors.Is(err, errNothingToDo) {
		return nil
	}
	return err
}

// deleteAllTargets removes every deploy target of a model about to be
// deleted (at most MaxDeployTargets: one Change, each with its audit
// entry).
func (s *Service) deleteAllTargets(ctx context.Context, name string) error {
	_, err := update(ctx, s, func() (*Change, any, error) {
		m, err := s.GetModel(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if err := s.deletable(ctx, m, nil); err != nil {
			return nil, nil, err
		}
		all, err := s.cfg.Store.ListDeployTargets(ctx, name)
		if err != nil {
			return nil, nil, err
		}
		if len(all) == 0 {
			return nil, nil, errNothingToDo
		}
		now := s.Now()
		ch := &Change{DeletedDeployTargets: all}
		for _, t := range all {
			a := s.audit(ctx, now, name, 0, ActionDeployTargetRemoved)
			a.Details = targetDetails(t)
			a.Details["reason"] = "model deleted"
			ch.Audit = append(ch.Audit, a)
		}
		m.UpdatedAt = now
		m.Revision++
		ch.Models = []Model{m}
		return ch, nil, nil
	})
	if errors.Is(err, errNothingToDo) {
		return nil
	}
	return err
}

// errNothingToDo ends a step of DeleteModel that found nothing to change.
var errNothingToDo = errors.New("nothing to do")

// tombstoneAll turns every live version of a model into a tombstone,
// versionBatch at a time, each Change with the model's revision so that
// it cannot race a promotion.
func (s *Service) tombstoneAll(ctx context.Context, name, reason string) error {
	for {
		var sessions []UploadSession
		_, err := update(ctx, s, func() (*Change, any, error) {
			m, err := s.GetModel(ctx, name)
			if err != nil {
				return nil, nil, err
			}
			if err := s.deletable(ctx, m, nil); err != nil {
				return nil, nil, err
			}
			p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: name, Limit: versionBatch})
			if err != nil {
				return nil, nil, err
			}
			if len(p.Items) == 0 {
				return nil, nil, errNothingToDo
			}
			now := s.Now()
			ch := &Change{}
			for _, v := range p.Items {
				if _, err := s.tombstone(ctx, ch, v, now, reason); err != nil {
					return nil, nil, err
				}
				ch.Audit[len(ch.Audit)-1].Details["model_deleted"] = "true"
			}
			m.UpdatedAt = now
			m.Revision++
			ch.Models = []Model{m}
			sessions = ch.Uploads
			return ch, nil, nil
		})
		if errors.Is(err, errNothingToDo) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, u := range sessions {
			s.abortFiles(u)
		}
	}
}

// sweepFiles removes the files of every tombstone of a model, finishing
// the removals that a crash may have interrupted.
func (s *Service) sweepFiles(ctx context.Context, name string) error {
	q := VersionQuery{Model: name, IncludeDeleted: true, Limit: MaxPageSize}
	for {
		p, err := s.cfg.Store.ListVersions(ctx, q)
		if err != nil {
			return err
		}
		for _, v := range p.Items {
			if v.Status != StatusDeleted {
				continue
			}
			if err := s.cfg.Artifacts.RemoveVersion(ctx, v.Storage(), v.Number); err != nil {
				return fmt.Errorf("remove files of version %d: %w", v.Number, err)
			}
		}
		if p.Next == "" {
			return nil
		}
		q.Cursor = p.Next
	}
}

// openSessionOf returns the upload session a tombstone had, if any, so
// that a repeated delete aborts its parts again.
func (s *Service) openSessionOf(ctx context.Context, v Version) (*UploadSession, error) {
	if v.UploadID == "" {
		return nil, nil
	}
	u, err := s.cfg.Store.GetUpload(ctx, v.UploadID)
	if IsCode(err, NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// removeFiles removes the files of a tombstone and aborts the parts of
// its upload session. Files an external source points at are not ours and
// stay.
func (s *Service) removeFiles(ctx context.Context, v Version, sess *UploadSession) error {
	if sess != nil {
		s.abortFiles(*sess)
	}
	if err := s.cfg.Artifacts.RemoveVersion(ctx, v.Storage(), v.Number); err != nil {
		return fmt.Errorf("remove files: %w", err)
	}
	return nil
}

// nextNumberFloor returns the highest version number ever assigned under
// name, tombstones included, and the last number of a model renamed away
// from it (whose files stay under name): a model created again, or renamed
// onto it, continues after it.
func (s *Service) nextNumberFloor(ctx context.Context, name string) (int, error) {
	p, err := s.cfg.Store.ListVersions(ctx, VersionQuery{Model: name, IncludeDeleted: true, Limit: 1})
	if err != nil {
		return 0, err
	}
	floor := 0
	if len(p.Items) > 0 {
		floor = p.Items[0].Number
	}
	a, err := s.cfg.Store.ListAudit(ctx, AuditQuery{Model: name, Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(a.Items) > 0 {
		var n int
		switch e := a.Items[0]; {
		case e.Action == ActionModelRenamed && e.Details["from"] == name:
			n, _ = strconv.Atoi(e.Details["latest"])
		case e.Action == ActionModelDeleted:
			n, _ = strconv.Atoi(e.Details["versions"])
		}
		floor = max(floor, n)
	}
	return floor, nil
}

// deletedModelMessage returns why name is not found when its newest audit
// entry says it was deleted or renamed ("" otherwise).
func (s *Service) deletedModelMessage(ctx context.Context, name string) string {
	p, err := s.cfg.Store.ListAudit(ctx, AuditQuery{Model: name, Limit: 1})
	if err != nil || len(p.Items) == 0 {
		return ""
	}
	a := p.Items[0]
	var msg string
	switch {
	case a.Action == ActionModelDeleted:
		msg = fmt.Sprintf("model %q was deleted by %s at %s", name, a.Actor, a.At.UTC().Format(time.RFC3339))
	case a.Action == ActionModelRenamed && a.Details["from"] == name:
		msg = fmt.Sprintf("model %q was renamed to %q by %s at %s", name, a.Details["to"], a.Actor, a.At.UTC().Format(time.RFC3339))
	default:
		return ""
	}
	if a.Reason != "" {
		msg += fmt.Sprintf(" (reason: %q)", a.Reason)
	}
	return msg
}
