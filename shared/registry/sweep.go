package registry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultUploadGrace is how long past its expiry an open upload session
// waits for its client to resume it before the sweeper expires it.
const DefaultUploadGrace = 24 * time.Hour

// SweeperActor is the actor of the audit entries the upload sweeper
// writes.
const SweeperActor = "modelreg-upload-sweeper"

// sweepBatch is how many sessions one round of SweepUploads reads.
const sweepBatch = 100

// SweepUploads expires the upload sessions their clients abandoned: open
// sessions whose URLs expired more than Config.UploadGrace ago (until then
// `upload --resume` can still refresh them). For each it commits, in one
// transaction, the session EXPIRING, its version FAILED when the session
// was the version's upload and the version still waits for it (a version
// has at most one open session, so no other session can still make it
// READY; a FAILED version keeps its number and history, and a new
// registration gets a new version), and an audit entry (version.failed
// with the reason, or version.upload_expired). Then it aborts the
// session's partial uploads (Artifacts.Abort), discards files a
// completion already stored (Artifacts.Discard), and marks the session
// EXPIRED.
//
// The commit comes before the storage: a completion racing the sweep
// either commits first (the session is then no longer open and is left
// alone) or fails on the session's revision, so no version becomes READY
// with files the sweep removed. A crash or a storage failure after the
// commit leaves the session EXPIRING, and the next sweep finishes it
// (Abort and Discard of what is gone are no-ops), so running it again, or
// from two processes, is safe. It returns how many sessions it expired
// and the failures of the ones it could not (each retried next time).
func (s *Service) SweepUploads(ctx context.Context) (int, error) {
	ctx = WithPrincipal(ctx, Principal{Name: SweeperActor, Role: RoleAdmin})
	ctx = WithIdempotency(ctx, nil)
	cutoff := s.Now().Add(-s.cfg.UploadGrace)
	swept := 0
	failed := map[string]error{}
	for {
		batch, err := s.cfg.Store.UploadsToSweep(ctx, cutoff, sweepBatch)
		if err != nil {
			return swept, fmt.Errorf("sweep uploads: %w", err)
		}
		progress := false
		for _, sess := range batch {
			if _, seen := failed[sess.ID]; seen {
				continue
			}
			done, err := s.sweepUpload(ctx, sess.ID, cutoff)
			if err != nil {
				failed[sess.ID] = fmt.Errorf("upload %s of version %d of %s: %w", sess.ID, sess.Version, sess.Model, err)
				continue
			}
			progress = true
			if done {
				swept++
			}
		}
		if len(batch) < sweepBatch || !progress {
			break
		}
	}
	errs := make([]error, 0, len(failed))
	for _, err := range failed {
		errs = append(errs, err)
	}
	return swept, errors.Join(errs...)
}

// sweepUpload expires session id if it is still abandoned as of cutoff
// (or finishes its expiry if it is EXPIRING) and reports whether it
// expired it now.
func (s *Service) sweepUpload(ctx context.Context, id string, cutoff time.Time) (bool, error) {
	type result struct {
		sess    UploadSession
		act     bool
		discard bool // the version failed or is gone: its stored files go too
	}
	var r result // what the last attempt decided (update returns no result with an error)
	_, err := update(ctx, s, func() (*Change, result, error) {
		r = result{}
		sess, err := s.cfg.Store.GetUpload(ctx, id)
		if err != nil {
			return nil, result{}, err
		}
		switch {
		case sess.Status == UploadExpiring:
			v, err := s.cfg.Store.GetVersion(ctx, sess.Model, sess.Version)
			if err != nil && !IsCode(err, NotFound) {
				return nil, result{}, err
			}
			r = result{sess: sess, act: true, discard: err != nil || v.Status != StatusReady && v.UploadID != id}
			return nil, r, errNoChange
		case sess.Status != UploadOpen || !sess.ExpiresAt.Before(cutoff):
			return nil, result{}, errNoChange // completed, replaced or refreshed meanwhile
		}
		now := s.Now()
		sess.Status, sess.UpdatedAt = UploadExpiring, now
		sess.Revision++
		ch := &Change{Uploads: []UploadSession{sess}}
		v, err := s.cfg.Store.GetVersion(ctx, sess.Model, sess.Version)
		if IsCode(err, NotFound) {
			r = result{sess: sess, act: true, discard: true}
			return ch, r, nil
		}
		if err != nil {
			return nil, result{}, err
		}
		details := map[string]string{"upload_id": id, "expired_at": sess.ExpiresAt.Format(time.RFC3339)}
		if v.Status == StatusPendingUpload && v.UploadID == id {
			v.Status, v.UploadID, v.UpdatedAt = StatusFailed, "", now
			v.Revision++
			a := s.audit(ctx, now, sess.Model, sess.Version, ActionVersionFailed)
			a.Reason = fmt.Sprintf("upload %s was abandoned: its URLs expired at %s and it was not resumed within %s",
				id, sess.ExpiresAt.Format(time.RFC3339), s.cfg.UploadGrace)
			a.Details = details
			ch.Versions, ch.Audit = []Version{v}, []AuditEntry{a}
			r = result{sess: sess, act: true, discard: true}
			return ch, r, nil
		}
		a := s.audit(ctx, now, sess.Model, sess.Version, ActionUploadExpired)
		a.Reason = fmt.Sprintf("upload %s expired at %s", id, sess.ExpiresAt.Format(time.RFC3339))
		a.Details = details
		ch.Audit = []AuditEntry{a}
		r = result{sess: sess, act: true, discard: v.Status == StatusFailed || v.Status == StatusDeleted}
		return ch, r, nil
	})
	if errors.Is(err, errNoChange) {
		err = nil
	}
	if err != nil || !r.act {
		return false, err
	}
	for _, f := range r.sess.Files {
		if err := s.cfg.Artifacts.Abort(ctx, r.sess, f); err != nil {
			return false, fmt.Errorf("abort %s: %w", f.Path, err)
		}
		if r.discard {
			if err := s.cfg.Artifacts.Discard(ctx, r.sess.Model, r.sess.Version, f.Path); err != nil {
				return false, fmt.Errorf("discard %s: %w", f.Path, err)
			}
		}
	}
	_, err = update(ctx, s, func() (*Change, any, error) {
		sess, err := s.cfg.Store.GetUpload(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if sess.Status != UploadExpiring {
			return nil, nil, errNoChange // another sweep finished it
		}
		sess.Status, sess.UpdatedAt = UploadExpired, s.Now()
		sess.Revision++
		return &Change{Uploads: []UploadSession{sess}}, nil, nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}
