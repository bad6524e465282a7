package registry

import (
	"context"
	"errors"
	"fmt"
)

// DefaultVerifyAsyncBytes is the size above which uploads to S3 are
// verified in the background (Config.VerifyAsyncBytes; shared/app applies
// it to S3 artifacts). Complete reads a multipart file back to check its
// whole-file SHA-256; `go test -bench ReadBack ./shared/s3/` measured that
// read-back at 191 MB/s on MinIO on loopback here (2026-12-02, 1 GiB, two
// shared cores), about 1.4 s for 256 MiB. API Gateway gives a request 30 s
// and S3 from a small Lambda function reads more slowly than loopback, so
// the threshold keeps the synchronous read-back under 10 s down to a
// seventh of the measured rate (27 MB/s), and keeps a client from waiting
// on a read-back longer than its upload's last parts took.
const DefaultVerifyAsyncBytes int64 = 256 << 20

// ActionVerifyStarted is the audit action of a completion whose files are
// verified in the background (the version became VERIFYING).
const ActionVerifyStarted Action = "version.verify_started"

// verifiesAsync reports whether sess's files still to verify are too
// large to verify inside the request.
func (s *Service) verifiesAsync(sess UploadSession) bool {
	if s.cfg.Invoker == nil || s.cfg.VerifyAsyncBytes <= 0 {
		return false
	}
	var n int64
	for _, f := range sess.Files {
		if !f.Completed {
			n += f.Size
		}
	}
	return n > s.cfg.VerifyAsyncBytes
}

// startVerify checks that every part of sess arrived (a cheap listing,
// answered at once as Invalid when some are missing, so the client sends
// them), makes the version VERIFYING and asks the Invoker to verify it.
func (s *Service) startVerify(ctx context.Context, sess UploadSession) (Version, error) {
	for _, f := range sess.Files {
		if f.Completed {
			continue
		}
		got, err := s.cfg.Artifacts.UploadedParts(ctx, sess, f)
		if err != nil {
			return Version{}, fmt.Errorf("list parts of %s: %w", f.Path, err)
		}
		if err := MissingParts(f.Path, got, f.Parts); err != nil {
			return Version{}, Errorf(Invalid, "%s: refresh upload %s and send them", ErrorMessage(err), sess.ID)
		}
	}
	v, err := update(ctx, s, func() (*Change, Version, error) {
		cur, v, err := s.openSession(ctx, sess.Model, sess.Version, sess.ID)
		if err != nil {
			return nil, Version{}, err
		}
		if cur.Status != UploadOpen || v.UploadID != sess.ID || v.Status != StatusPendingUpload {
			return nil, Version{}, Errorf(Conflict, "upload %s is no longer the open upload of version %d", sess.ID, sess.Version)
		}
		now := s.Now()
		cur.Status, cur.UpdatedAt = UploadVerifying, now
		cur.Revision++
		v.Status, v.UpdatedAt = StatusVerifying, now
		v.Revision++
		var bytes int64
		for _, f := range cur.Files {
			bytes += f.Size
		}
		a := s.audit(ctx, now, v.Model, v.Number, ActionVerifyStarted)
		a.Details = map[string]string{"upload_id": sess.ID, "files": fmt.Sprint(len(cur.Files)), "bytes": fmt.Sprint(bytes)}
		return &Change{Versions: []Version{v}, Uploads: []UploadSession{cur}, Audit: []AuditEntry{a}}, v, nil
	})
	if err != nil {
		return Version{}, err
	}
	s.invokeVerify(ctx, v)
	return v, nil
}

// invokeVerify asks the Invoker to verify the VERIFYING version v. A
// failure is logged, not returned: the version is committed VERIFYING, and
// RecoverVerifications (or completing the upload again) asks again.
func (s *Service) invokeVerify(ctx context.Context, v Version) {
	if s.cfg.Invoker == nil {
		return
	}
	r := VerifyRequest{Model: v.Model, Version: v.Number, UploadID: v.UploadID}
	if err := s.cfg.Invoker.InvokeVerify(context.WithoutCancel(ctx), r); err != nil {
		s.log.Error("ask for an upload's verification", "model", v.Model, "version", v.Number, "upload_id", v.UploadID, "err", err)
	}
}

// VerifyUpload verifies the files of an upload that CompleteUpload left
// VERIFYING and makes the version READY with them (with its "Model
// Version Ready" event), or FAILED with the reason (Version.StatusReason)
// when a file is not what was declared: missing parts, another size or
// SHA-256, another file stored at its path. The failed upload's parts are
// discarded.
//
// It is idempotent and safe to run again after a crash: each file verified
// is recorded at once and not read again, and a version already READY
// with this upload, or FAILED by it, is returned as it is. Errors leave
// the version VERIFYING, to be run again: NotFound, Conflict (the upload is
// not the version's verifying one: replaced, or the version was deleted),
// Unavailable and Internal (storage failures, a cancelled ctx).
func (s *Service) VerifyUpload(ctx context.Context, model string, number int, id string) (Version, error) {
	sess, v, err := s.openSession(ctx, model, number, id)
	if err != nil {
		return Version{}, err
	}
	switch {
	case v.Status == StatusReady && sess.Status == UploadCompleted:
		return v, nil
	case v.Status == StatusFailed && v.UploadID == id:
		return v, nil
	case v.Status != StatusVerifying || v.UploadID != id || sess.Status != UploadVerifying:
		return Version{}, Errorf(Conflict, "upload %s of version %d of %s is not being verified (version %s, upload %s)", id, number, model, v.Status, sess.Status)
	}
	if PrincipalFrom(ctx).Name == "anonymous" {
		// The verification is the uploader's, done later.
		ctx = WithPrincipal(ctx, Principal{Name: sess.CreatedBy})
	}
	for i, f := range sess.Files {
		if f.Completed {
			continue
		}
		err := s.cfg.Artifacts.Complete(ctx, sess, f)
		switch {
		case err == nil:
			if err := s.recordFiles(ctx, id, []int{i}, nil); err != nil {
				return Version{}, err
			}
		case errors.Is(err, ErrPartsMissing), IsCode(err, Invalid), IsCode(err, Conflict):
			return s.failVerify(ctx, sess, ErrorMessage(err))
		default:
			return Version{}, fmt.Errorf("verify %s of version %d of %s: %w", f.Path, number, model, err)
		}
	}
	v, err = s.markReady(ctx, model, number, id, UploadVerifying)
	if IsCode(err, Conflict) {
		// A verification of the same upload running at once (a repeated
		// invoke) may have finished first: that is this one's answer too.
		if cur, v2, gerr := s.openSession(ctx, model, number, id); gerr == nil &&
			((v2.Status == StatusReady && cur.Status == UploadCompleted) || (v2.Status == StatusFailed && v2.UploadID == id)) {
			return v2, nil
		}
	}
	return v, err
}

// failVerify commits the version FAILED with reason and the session
// ABORTED, then discards the session's parts.
func (s *Service) failVerify(ctx context.Context, sess UploadSession, reason string) (Version, error) {
	v, err := update(ctx, s, func() (*Change, Version, error) {
		cur, v, err := s.openSession(ctx, sess.Model, sess.Version, sess.ID)
		if err != nil {
			return nil, Version{}, err
		}
		if cur.Status != UploadVerifying || v.Status != StatusVerifying || v.UploadID != sess.ID {
			return nil, Version{}, Errorf(Conflict, "upload %s of version %d is no longer being verified", sess.ID, sess.Version)
		}
		now := s.Now()
		cur.Status, cur.UpdatedAt = UploadAborted, now
		cur.Revision++
		v.Status, v.StatusReason, v.UpdatedAt = StatusFailed, reason, now
		v.Revision++
		a := s.audit(ctx, now, v.Model, v.Number, ActionVersionFailed)
		a.Reason = reason
		a.Details = map[string]string{"upload_id": sess.ID}
		return &Change{Versions: []Version{v}, Uploads: []UploadSession{cur}, Audit: []AuditEntry{a}}, v, nil
	})
	if err != nil {
		return Version{}, err
	}
	s.abortFiles(sess)
	return v, nil
}

// RecoverVerifications asks the Invoker again to verify every version
// left VERIFYING (a crash, or an invoke that failed). Without an Invoker
// it does nothing. It returns the number of versions it asked for.
func (s *Service) RecoverVerifications(ctx context.Context) (int, error) {
	if s.cfg.Invoker == nil {
		return 0, nil
	}
	n := 0
	mq := ModelQuery{Limit: 100}
	for {
		models, err := s.cfg.Store.ListModels(ctx, mq)
		if err != nil {
			return n, fmt.Errorf("list models: %w", err)
		}
		for _, m := range models.Items {
			vq := VersionQuery{Model: m.Name, Status: StatusVerifying, Limit: 100}
			for {
				vs, err := s.cfg.Store.ListVersions(ctx, vq)
				if err != nil {
					return n, fmt.Errorf("list verifying versions of %s: %w", m.Name, err)
				}
				for _, v := range vs.Items {
					s.invokeVerify(ctx, v)
					n++
				}
				if vs.Next == "" {
					break
				}
				vq.Cursor = vs.Next
			}
		}
		if models.Next == "" {
			return n, nil
		}
		mq.Cursor = models.Next
	}
}
