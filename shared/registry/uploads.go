package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FileSpec declares one file a client is about to upload.
type FileSpec struct {
	Path   string
	Size   int64
	SHA256 string
	// PartSize, if set, is the client's choice of part size
	// (MinPartSize..MaxPartSize, at most MaxParts parts); else PartSize(Size).
	PartSize int64
	// PartSHA256, if set, is the SHA-256 of each part: each part's URL then
	// only accepts that exact body.
	PartSHA256 []string
}

// UploadTicket tells a client where to send each part.
type UploadTicket struct {
	UploadID  string
	Model     string
	Version   int
	ExpiresAt time.Time
	Files     []FileTicket
}

// FileTicket is one file's parts in an UploadTicket. Parts lists only the
// parts still to send.
type FileTicket struct {
	Path     string
	Size     int64
	PartSize int64
	Parts    []PartRequest
}

func (s *Service) planFiles(specs []FileSpec) ([]UploadFile, error) {
	if len(specs) == 0 || len(specs) > MaxArtifacts {
		return nil, Errorf(Invalid, "an upload takes 1 to %d files, got %d", MaxArtifacts, len(specs))
	}
	files := make([]UploadFile, 0, len(specs))
	paths := make([]string, 0, len(specs))
	for _, f := range specs {
		if err := ValidateNewPath(f.Path); err != nil {
			return nil, err
		}
		if f.Size < 0 || f.Size > MaxFileSize {
			return nil, Errorf(Invalid, "file %s: size %d is out of range 0..%d", f.Path, f.Size, MaxFileSize)
		}
		sum, err := NormalizeSHA256(f.SHA256)
		if err != nil {
			return nil, Errorf(Invalid, "file %s: %s", f.Path, ErrorMessage(err))
		}
		ps := f.PartSize
		if ps == 0 {
			ps = PartSize(f.Size)
		} else if f.Size > ps && (ps < MinPartSize || ps > MaxPartSize) {
			return nil, Errorf(Invalid, "file %s: part_size %d is out of range %d..%d", f.Path, ps, MinPartSize, MaxPartSize)
		} else if ps < 1 {
			return nil, Errorf(Invalid, "file %s: part_size must be positive", f.Path)
		}
		if f.Size <= ps {
			ps = max(f.Size, 1)
		}
		n := PartCount(f.Size, ps)
		if n > MaxParts {
			return nil, Errorf(Invalid, "file %s: %d parts of %d bytes; at most %d parts", f.Path, n, ps, MaxParts)
		}
		uf := UploadFile{Path: f.Path, Size: f.Size, SHA256: sum, PartSize: ps, Parts: n}
		if len(f.PartSHA256) > 0 {
			if len(f.PartSHA256) != n {
				return nil, Errorf(Invalid, "file %s: %d part digests for %d parts", f.Path, len(f.PartSHA256), n)
			}
			for _, d := range f.PartSHA256 {
				d, err := NormalizeSHA256(d)
				if err != nil {
					return nil, Errorf(Invalid, "file %s: part digest: %s", f.Path, ErrorMessage(err))
				}
				uf.PartSHA256 = append(uf.PartSHA256, d)
			}
		}
		files = append(files, uf)
		paths = append(paths, f.Path)
	}
	if err := CheckPathSet(paths); err != nil {
		return nil, err
	}
	return files, nil
}

// CreateUpload opens an upload session for the artifacts of a version that
// is waiting for them, replacing any session already open. Invalid,
// NotFound, Conflict (the version is READY or FAILED).
func (s *Service) CreateUpload(ctx context.Context, model string, number int, specs []FileSpec) (UploadTicket, error) {
	files, err := s.planFiles(specs)
	if err != nil {
		return UploadTicket{}, err
	}
	v, err := s.GetVersion(ctx, model, number)
	if err != nil {
		return UploadTicket{}, err
	}
	if err := uploadable(v); err != nil {
		return UploadTicket{}, err
	}
	now := s.Now()
	sess := UploadSession{ID: NewID(now), Model: model, Version: number, Status: UploadOpen,
		CreatedBy: PrincipalFrom(ctx).Name, CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(s.cfg.UploadTTL), Revision: 1}
	for _, f := range files {
		f, err := s.cfg.Artifacts.Begin(ctx, sess, f)
		if err != nil {
			s.abortFiles(sess)
			return UploadTicket{}, fmt.Errorf("begin upload of %s: %w", f.Path, err)
		}
		sess.Files = append(sess.Files, f)
	}
	ticket, err := s.ticket(ctx, sess, nil)
	if err != nil {
		s.abortFiles(sess)
		return UploadTicket{}, err
	}
	var replaced *UploadSession
	_, err = update(ctx, s, func() (*Change, UploadTicket, error) {
		v, err := s.GetVersion(ctx, model, number)
		if err != nil {
			return nil, UploadTicket{}, err
		}
		if err := uploadable(v); err != nil {
			return nil, UploadTicket{}, err
		}
		ch := &Change{Uploads: []UploadSession{sess}}
		replaced = nil
		if v.UploadID != "" {
			old, err := s.cfg.Store.GetUpload(ctx, v.UploadID)
			if err != nil && !IsCode(err, NotFound) {
				return nil, UploadTicket{}, err
			}
			if err == nil && old.Status == UploadOpen {
				old.Status, old.UpdatedAt = UploadAborted, now
				old.Revision++
				ch.Uploads = append(ch.Uploads, old)
				replaced = &old
			}
		}
		v.UploadID, v.UpdatedAt = sess.ID, now
		v.Revision++
		a := s.audit(ctx, now, model, number, ActionUploadStarted)
		a.Details = map[string]string{"upload_id": sess.ID, "files": fmt.Sprint(len(files))}
		ch.Versions = []Version{v}
		ch.Audit = []AuditEntry{a}
		return ch, ticket, nil
	})
	if err != nil {
		s.abortFiles(sess)
		return UploadTicket{}, err
	}
	// Files an abandoned session completed are in the way of this one's.
	// Now that this session is the version's only open one, the old one
	// can no longer make the version READY, so they can go.
	stale := map[string]bool{}
	for _, f := range sess.Files {
		stale[f.Path] = true
	}
	if replaced != nil {
		s.abortFiles(*replaced)
		for _, f := range replaced.Files {
			stale[f.Path] = true
		}
	}
	// A failure here is not the request's: the session is committed and
	// its ticket is the answer. A path left in the way makes this session's
	// completion a Conflict, and the next session discards it again.
	for p := range stale {
		if err := s.cfg.Artifacts.Discard(ctx, model, number, p); err != nil {
			s.log.Error("clear a path for a new upload", "model", model, "version", number, "path", p, "err", err)
		}
	}
	return ticket, nil
}

func uploadable(v Version) error {
	if v.Status != StatusPendingUpload {
		return Errorf(Conflict, "version %d of %s is %s: artifacts can only be uploaded to a version waiting for them", v.Number, v.Model, v.Status)
	}
	return nil
}

// abortFiles discards the partial uploads of a session that will not
// complete. Failures are logged: leftovers are only storage, never visible.
func (s *Service) abortFiles(sess UploadSession) {
	ctx := context.WithoutCancel(context.Background())
	for _, f := range sess.Files {
		if err := s.cfg.Artifacts.Abort(ctx, sess, f); err != nil {
			s.log.Warn("abort upload", "upload_id", sess.ID, "path", f.Path, "err", err)
		}
	}
}

// ticket presigns the parts of sess still to send. skip, if set, says
// which parts of each file (by index) arrived already.
func (s *Service) ticket(ctx context.Context, sess UploadSession, skip map[int][]int) (UploadTicket, error) {
	t := UploadTicket{UploadID: sess.ID, Model: sess.Model, Version: sess.Version, ExpiresAt: sess.ExpiresAt}
	for i, f := range sess.Files {
		ft := FileTicket{Path: f.Path, Size: f.Size, PartSize: f.PartSize, Parts: []PartRequest{}}
		if !f.Completed {
			for n := 1; n <= f.Parts; n++ {
				if slices.Contains(skip[i], n) {
					continue
				}
				pr, err := s.cfg.Artifacts.PresignPart(ctx, sess, f, n, sess.ExpiresAt)
				if err != nil {
					return UploadTicket{}, fmt.Errorf("presign part %d of %s: %w", n, f.Path, err)
				}
				ft.Parts = append(ft.Parts, pr)
			}
		}
		t.Files = append(t.Files, ft)
	}
	return t, nil
}

// openSession returns the open upload session id of a version. NotFound,
// Conflict.
func (s *Service) openSession(ctx context.Context, model string, number int, id string) (UploadSession, Version, error) {
	v, err := s.GetVersion(ctx, model, number)
	if err != nil {
		return UploadSession{}, Version{}, err
	}
	sess, err := s.cfg.Store.GetUpload(ctx, id)
	if IsCode(err, NotFound) || (err == nil && (sess.Model != model || sess.Version != number)) {
		return UploadSession{}, Version{}, Errorf(NotFound, "upload %q of version %d of %s not found", id, number, model)
	}
	if err != nil {
		return UploadSession{}, Version{}, err
	}
	return sess, v, nil
}

// GetUpload returns upload session id of a version, with its files'
// backend handles: for server-side code that fills a session itself (the
// MLflow layer copying run artifacts into it). NotFound.
func (s *Service) GetUpload(ctx context.Context, model string, number int, id string) (UploadSession, error) {
	sess, _, err := s.openSession(ctx, model, number, id)
	return sess, err
}

// RefreshUpload extends an open session and presigns again the parts not
// yet received (after a crash, or when URLs expired). NotFound, Conflict.
func (s *Service) RefreshUpload(ctx context.Context, model string, number int, id string) (UploadTicket, error) {
	res, err := update(ctx, s, func() (*Change, UploadTicket, error) {
		sess, _, err := s.openSession(ctx, model, number, id)
		if err != nil {
			return nil, UploadTicket{}, err
		}
		if sess.Status != UploadOpen {
			return nil, UploadTicket{}, Errorf(Conflict, "upload %s is %s; start a new upload", id, sess.Status)
		}
		now := s.Now()
		sess.ExpiresAt, sess.UpdatedAt = now.Add(s.cfg.UploadTTL), now
		sess.Revision++
		skip := map[int][]int{}
		for i, f := range sess.Files {
			if f.Completed {
				continue
			}
			got, err := s.cfg.Artifacts.UploadedParts(ctx, sess, f)
			if err != nil {
				return nil, UploadTicket{}, fmt.Errorf("list parts of %s: %w", f.Path, err)
			}
			// No parts: either none came yet, or a completion verified the
			// file and was cut off before it was recorded (the parts are gone
			// then). Complete tells which, and is a no-op for the first.
			if len(got) == 0 && s.cfg.Artifacts.Complete(ctx, sess, f) == nil {
				sess.Files[i].Completed = true
				continue
			}
			skip[i] = got
		}
		t, err := s.ticket(ctx, sess, skip)
		if err != nil {
			return nil, UploadTicket{}, err
		}
		return &Change{Uploads: []UploadSession{sess}}, t, nil
	})
	if err != nil {
		return UploadTicket{}, err
	}
	return res, nil
}

// CompleteUpload verifies every file of the session (all parts, size,
// SHA-256) and makes the version READY with them. A file that fails
// verification is discarded so it can be sent again (refresh the session);
// the version stays waiting. Completing again after success returns the
// version.
//
// When the files still to verify hold more than Config.VerifyAsyncBytes
// (and an Invoker is set), it only checks that every part arrived, makes
// the version VERIFYING and asks the Invoker to run VerifyUpload, which
// makes it READY or FAILED; it returns the VERIFYING version. Completing a
// VERIFYING upload again asks for the verification again and returns the
// version. Invalid, NotFound, Conflict.
func (s *Service) CompleteUpload(ctx context.Context, model string, number int, id string) (Version, error) {
	sess, v, err := s.openSession(ctx, model, number, id)
	if err != nil {
		return Version{}, err
	}
	switch {
	case sess.Status == UploadCompleted && v.Status == StatusReady:
		return v, nil
	case sess.Status == UploadVerifying && v.Status == StatusVerifying && v.UploadID == id:
		s.invokeVerify(ctx, v)
		return v, nil
	case v.Status == StatusFailed && v.UploadID == id:
		return Version{}, Errorf(Conflict, "version %d of %s failed verification: %s", number, model, v.StatusReason)
	case sess.Status != UploadOpen:
		return Version{}, Errorf(Conflict, "upload %s is %s; start a new upload", id, sess.Status)
	}
	if s.verifiesAsync(sess) {
		return s.startVerify(ctx, sess)
	}
	var done []int
	for i, f := range sess.Files {
		if f.Completed {
			continue
		}
		err := s.cfg.Artifacts.Complete(ctx, sess, f)
		if err == nil {
			done = append(done, i)
			continue
		}
		// Files verified so far stay verified: record them, so a refresh
		// does not ask for them again.
		var restart map[int]UploadFile
		switch {
		case errors.Is(err, ErrPartsMissing):
			err = Errorf(Invalid, "%s: refresh upload %s and send them", ErrorMessage(err), sess.ID)
		case IsCode(err, Invalid):
			nf, rerr := s.restartFile(ctx, sess, f)
			if rerr != nil {
				return Version{}, rerr
			}
			restart = map[int]UploadFile{i: nf}
			err = Errorf(Invalid, "%s; the file's parts were discarded: refresh upload %s and send it again", ErrorMessage(err), sess.ID)
		default:
			err = fmt.Errorf("complete %s: %w", f.Path, err)
		}
		if merr := s.recordFiles(ctx, sess.ID, done, restart); merr != nil {
			return Version{}, errors.Join(err, merr)
		}
		return Version{}, err
	}
	return s.markReady(ctx, model, number, id, UploadOpen)
}

// markReady commits the version READY with the files of upload id, whose
// session must still be in status from and the version's upload.
func (s *Service) markReady(ctx context.Context, model string, number int, id string, from UploadStatus) (Version, error) {
	return update(ctx, s, func() (*Change, Version, error) {
		sess, v, err := s.openSession(ctx, model, number, id)
		if err != nil {
			return nil, Version{}, err
		}
		if sess.Status != from || v.UploadID != id {
			return nil, Version{}, Errorf(Conflict, "upload %s is no longer the %s upload of version %d", id, strings.ToLower(string(from)), number)
		}
		now := s.Now()
		sess.Status, sess.UpdatedAt = UploadCompleted, now
		sess.Revision++
		v.Artifacts = v.Artifacts[:0]
		for i := range sess.Files {
			sess.Files[i].Completed = true
			f := sess.Files[i]
			v.Artifacts = append(v.Artifacts, Artifact{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
		}
		v.Status, v.UploadID, v.StatusReason, v.UpdatedAt = StatusReady, "", "", now
		v.Revision++
		a := s.audit(ctx, now, model, number, ActionVersionReady)
		a.Details = map[string]string{"upload_id": id, "files": fmt.Sprint(len(v.Artifacts)), "bytes": fmt.Sprint(v.TotalSize())}
		ev := s.event(EventVersionReady, a)
		ev.Detail.Status = string(StatusReady)
		return &Change{Versions: []Version{v}, Uploads: []UploadSession{sess}, Audit: []AuditEntry{a}, Events: []Event{ev}}, v, nil
	})
}

// restartFile throws away a file that failed verification and begins it
// afresh, so the client can refresh the session and send it again.
func (s *Service) restartFile(ctx context.Context, sess UploadSession, f UploadFile) (UploadFile, error) {
	if err := s.cfg.Artifacts.Abort(ctx, sess, f); err != nil {
		return UploadFile{}, fmt.Errorf("discard %s: %w", f.Path, err)
	}
	f.BackendID = ""
	nf, err := s.cfg.Artifacts.Begin(ctx, sess, f)
	if err != nil {
		return UploadFile{}, fmt.Errorf("restart %s: %w", f.Path, err)
	}
	return nf, nil
}

// recordFiles marks the files at the indexes in done as completed and
// replaces restarted ones in the session record.
func (s *Service) recordFiles(ctx context.Context, id string, done []int, restart map[int]UploadFile) error {
	if len(done) == 0 && len(restart) == 0 {
		return nil
	}
	// This commit records progress, not the answer to the request (which
	// is an error): it must not carry the request's idempotency record.
	ctx = WithIdempotency(ctx, nil)
	_, err := update(ctx, s, func() (*Change, any, error) {
		cur, err := s.cfg.Store.GetUpload(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		for _, i := range done {
			cur.Files[i].Completed = true
		}
		for i, f := range restart {
			cur.Files[i] = f
		}
		cur.UpdatedAt = s.Now()
		cur.Revision++
		return &Change{Uploads: []UploadSession{cur}}, nil, nil
	})
	if err != nil {
		return fmt.Errorf("record upload progress of %s: %w", id, err)
	}
	return nil
}

// DownloadSet lists download links for a version's artifacts.
type DownloadSet struct {
	Model     string
	Version   int
	SourceURI string
	ExpiresAt time.Time
	Files     []DownloadLink
}

// DownloadLink is one artifact with a short-lived URL.
type DownloadLink struct {
	Artifact
	URL string
}

// Downloads returns short-lived links to a READY version's files (only the
// one at path, if path is set). NotFound, Conflict (not READY).
func (s *Service) Downloads(ctx context.Context, model string, number int, path string) (DownloadSet, error) {
	v, err := s.GetVersion(ctx, model, number)
	if err != nil {
		return DownloadSet{}, err
	}
	if v.Status != StatusReady {
		return DownloadSet{}, Errorf(Conflict, "version %d of %s is %s: only READY versions can be downloaded", number, model, v.Status)
	}
	exp := s.Now().Add(s.cfg.DownloadTTL)
	set := DownloadSet{Model: model, Version: number, SourceURI: v.Lineage.SourceURI, ExpiresAt: exp, Files: []DownloadLink{}}
	for _, a := range v.Artifacts {
		if path != "" && a.Path != path {
			continue
		}
		u, err := s.cfg.Artifacts.PresignDownload(ctx, v.Storage(), number, a.Path, exp)
		if err != nil {
			return DownloadSet{}, fmt.Errorf("presign download of %s: %w", a.Path, err)
		}
		set.Files = append(set.Files, DownloadLink{Artifact: a, URL: u})
	}
	if path != "" && len(set.Files) == 0 {
		return DownloadSet{}, Errorf(NotFound, "version %d of %s has no file %q", number, model, path)
	}
	return set, nil
}
