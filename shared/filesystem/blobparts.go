package filesystem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// Multipart uploads of run files (tracking.Blobs): MLflow's client sends
// parts of a size only it knows, so each part is a file of its own,
//
//	runs-mpu/<upload id>/meta                 the blob key and the part count
//	runs-mpu/<upload id>/part-NNNNN-<sha256>  a received part, named with its digest
//
// and CompleteBlobUpload joins them through PutBlob, which hashes the file
// as it writes it and renames it into place: the bytes are written twice
// (once as parts, once joined), and the whole-file SHA-256 costs no read
// of its own. Completing first moves the upload's directory under
// runs-mpu-done/, in one rename, so that parts sent late, an abort or a
// second completion cannot meet it half joined; a crash there leaves it to
// New, which empties runs-mpu-done/. Uploads left open longer than
// blobUploadTTL are removed when a new one is created.
const (
	runsMpuDir     = "runs-mpu"
	runsMpuDoneDir = "runs-mpu-done"
	blobUploadTTL  = 7 * 24 * time.Hour
)

type blobUploadMeta struct {
	Key   string `json:"key"`
	Parts int    `json:"parts"`
}

func blobUploadDir(id string) (string, error) {
	if !uploadIDRE.MatchString(id) {
		return "", registry.Errorf(registry.Invalid, "invalid upload id %q", id)
	}
	return path.Join(runsMpuDir, id), nil
}

// CreateBlobUpload starts a multipart upload of a run file
// (tracking.Blobs). Invalid.
func (a *Artifacts) CreateBlobUpload(ctx context.Context, key string, parts int) (string, error) {
	if _, err := blobName(key); err != nil {
		return "", err
	}
	if parts < 1 || parts > registry.MaxParts {
		return "", registry.Errorf(registry.Invalid, "an upload has 1 to %d parts, not %d", registry.MaxParts, parts)
	}
	a.sweepBlobUploads()
	id := registry.RandomToken(16)
	dir := path.Join(runsMpuDir, id)
	meta, _ := json.Marshal(blobUploadMeta{Key: key, Parts: parts})
	err := func() error {
		if err := a.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		tmp := path.Join(dir, "meta.tmp")
		if err := a.root.WriteFile(tmp, meta, 0o644); err != nil {
			return err
		}
		if err := a.syncFile(tmp); err != nil {
			return err
		}
		if err := a.root.Rename(tmp, path.Join(dir, "meta")); err != nil {
			return err
		}
		return a.syncDir(dir)
	}()
	if err != nil {
		return "", registry.Wrap(registry.Internal, err, "begin the upload of %s", key)
	}
	return id, nil
}

// sweepBlobUploads removes uploads begun more than blobUploadTTL ago.
func (a *Artifacts) sweepBlobUploads() {
	ids, err := a.readDir(runsMpuDir)
	if err != nil {
		return
	}
	for _, id := range ids {
		fi, err := a.root.Stat(path.Join(runsMpuDir, id, "meta"))
		if (err == nil && a.now().Sub(fi.ModTime()) > blobUploadTTL) || errors.Is(err, fs.ErrNotExist) {
			if err == nil || a.isStaleDir(path.Join(runsMpuDir, id)) {
				_ = a.AbortBlobUpload(context.Background(), "", id)
			}
		}
	}
}

// isStaleDir reports whether dir (an upload without meta: cut while it was
// created) is older than blobUploadTTL.
func (a *Artifacts) isStaleDir(dir string) bool {
	fi, err := a.root.Stat(dir)
	return err == nil && a.now().Sub(fi.ModTime()) > blobUploadTTL
}

// blobUpload reads the meta of upload id and checks that it is key's
// (key "" accepts any). NotFound when there is no such upload.
func (a *Artifacts) blobUpload(dir, id, key string) (blobUploadMeta, error) {
	var m blobUploadMeta
	b, err := a.root.ReadFile(path.Join(dir, "meta"))
	if errors.Is(err, fs.ErrNotExist) {
		return m, registry.Errorf(registry.NotFound, "upload %s not found: it was completed, aborted or never begun", id)
	}
	if err != nil {
		return m, registry.Wrap(registry.Internal, err, "read upload %s", id)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, registry.Wrap(registry.Internal, err, "read upload %s", id)
	}
	if key != "" && m.Key != key {
		return m, registry.Errorf(registry.Invalid, "upload %s is not an upload of %s", id, key)
	}
	return m, nil
}

// PresignBlobPart signs the PUT of part n of a run file's upload
// (tracking.Blobs). Invalid, NotFound.
func (a *Artifacts) PresignBlobPart(ctx context.Context, key, id string, n int, expires time.Time) (registry.PartRequest, error) {
	dir, err := blobUploadDir(id)
	if err != nil {
		return registry.PartRequest{}, err
	}
	m, err := a.blobUpload(dir, id, key)
	if err != nil {
		return registry.PartRequest{}, err
	}
	if n < 1 || n > m.Parts {
		return registry.PartRequest{}, registry.Errorf(registry.Invalid, "upload %s has parts 1 to %d, not %d", id, m.Parts, n)
	}
	c := claims{Op: opPutRunPart, Upload: id, Path: key, Part: n, ContentType: partContentType, Expires: expires.Unix()}
	return registry.PartRequest{Number: n, Method: "PUT", URL: a.signedURL(c), Headers: map[string]string{"Content-Type": partContentType}, Size: -1}, nil
}

// partFiles returns the part files in dir by part number (the newest name
// when a part was sent twice and its older file is not removed yet).
func (a *Artifacts) partFiles(dir string) (map[int]string, error) {
	names, err := a.readDir(dir)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := map[int]string{}
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, "part-")
		if !ok || len(rest) < 6 {
			continue
		}
		if n, err := strconv.Atoi(rest[:5]); err == nil {
			out[n] = name
		}
	}
	return out, nil
}

// putRunPart receives one part of a run file's upload: streamed into a
// file of its own, synced, then renamed to its final name under the lock
// that aborting and completing take, so a part never lands in an upload
// that is gone. The ETag is the part's SHA-256.
func (a *Artifacts) putRunPart(w http.ResponseWriter, r *http.Request) {
	c, err := a.authorize(r.URL.Query(), opPutRunPart)
	var dir string
	if err == nil {
		dir, err = blobUploadDir(c.Upload)
	}
	if err == nil && (c.Part < 1 || c.Part > registry.MaxParts) {
		err = registry.Errorf(registry.Invalid, "invalid part %d", c.Part)
	}
	if err == nil && r.Header.Get("Content-Type") != c.ContentType {
		err = registry.Errorf(registry.Forbidden, "Content-Type %q is not the signed %q", r.Header.Get("Content-Type"), c.ContentType)
	}
	if err == nil && (r.ContentLength < 0 || r.ContentLength > registry.MaxPartSize) {
		err = registry.Errorf(registry.Invalid, "Content-Length must be given, at most %d bytes", registry.MaxPartSize)
	}
	if err == nil {
		_, err = a.blobUpload(dir, c.Upload, c.Path)
	}
	var sum string
	if err == nil {
		sum, err = a.writeRunPart(dir, c, r.ContentLength, progressBody(w, r))
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.WriteHeader(http.StatusOK)
}

func (a *Artifacts) writeRunPart(dir string, c claims, size int64, body io.Reader) (string, error) {
	tmp := path.Join(dir, "tmp-"+registry.RandomToken(8))
	f, err := a.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		return "", registry.Errorf(registry.NotFound, "upload %s was completed or aborted", c.Upload)
	}
	if err != nil {
		return "", registry.Wrap(registry.Internal, err, "store part %d of %s", c.Part, c.Path)
	}
	defer func() {
		f.Close()
		_ = a.root.Remove(tmp)
	}()
	sum, err := copyAt(f, body, 0, size)
	if err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", registry.Wrap(registry.Internal, err, "sync part %d of %s", c.Part, c.Path)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.root.Stat(path.Join(dir, "meta")); err != nil {
		return "", registry.Errorf(registry.NotFound, "upload %s was completed or aborted while part %d was being sent", c.Upload, c.Part)
	}
	old, err := a.partFiles(dir)
	if err != nil {
		return "", registry.Wrap(registry.Internal, err, "store part %d of %s", c.Part, c.Path)
	}
	name := fmt.Sprintf("part-%05d-%s", c.Part, sum)
	if err := a.root.Rename(tmp, path.Join(dir, name)); err != nil {
		return "", registry.Wrap(registry.Internal, err, "store part %d of %s", c.Part, c.Path)
	}
	if o, ok := old[c.Part]; ok && o != name {
		_ = a.root.Remove(path.Join(dir, o)) // the part sent before
	}
	if err := a.syncDir(dir); err != nil {
		return "", registry.Wrap(registry.Internal, err, "store part %d of %s", c.Part, c.Path)
	}
	return sum, nil
}

// CompleteBlobUpload joins the parts into the run file (tracking.Blobs).
// Invalid (the upload stays), NotFound.
func (a *Artifacts) CompleteBlobUpload(ctx context.Context, key, id string, parts []tracking.BlobPart) (tracking.Blob, error) {
	dir, err := blobUploadDir(id)
	if err != nil {
		return tracking.Blob{}, err
	}
	if _, err := blobName(key); err != nil {
		return tracking.Blob{}, err
	}
	// Take the upload: nothing else finds it under runs-mpu/ any more.
	a.mu.Lock()
	m, err := a.blobUpload(dir, id, key)
	taken := path.Join(runsMpuDoneDir, id)
	if err == nil {
		if err = a.root.MkdirAll(runsMpuDoneDir, 0o755); err == nil {
			err = a.root.Rename(dir, taken)
		}
		if err != nil {
			err = registry.Wrap(registry.Internal, err, "complete upload %s", id)
		}
	}
	a.mu.Unlock()
	if err != nil {
		return tracking.Blob{}, err
	}
	giveBack := func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		_ = a.root.Rename(taken, dir)
	}
	files, size, err := a.checkRunParts(taken, id, m, parts)
	if err != nil {
		giveBack()
		return tracking.Blob{}, err
	}
	pr := &partsReader{a: a, dir: taken, files: files}
	b, err := a.PutBlob(ctx, key, pr, size)
	pr.close()
	if err != nil {
		giveBack()
		return tracking.Blob{}, err
	}
	_ = a.root.RemoveAll(taken)
	return b, nil
}

// checkRunParts checks the listed parts against those received and
// returns the part files in order and the file's size.
func (a *Artifacts) checkRunParts(dir, id string, m blobUploadMeta, parts []tracking.BlobPart) ([]string, int64, error) {
	if err := tracking.CheckBlobParts(parts, m.Parts); err != nil {
		return nil, 0, registry.Errorf(registry.Invalid, "upload %s: %s", id, registry.ErrorMessage(err))
	}
	have, err := a.partFiles(dir)
	if err != nil {
		return nil, 0, registry.Wrap(registry.Internal, err, "list the parts of upload %s", id)
	}
	got := make([]int, 0, len(have))
	for n := range have {
		got = append(got, n)
	}
	slices.Sort(got)
	if err := registry.MissingParts(m.Key, got, m.Parts); err != nil {
		return nil, 0, err
	}
	files := make([]string, m.Parts)
	var size int64
	for i, p := range parts {
		name := have[p.Number]
		if etag := strings.Trim(p.ETag, `"`); etag != "" && etag != name[len("part-00000-"):] {
			return nil, 0, registry.Errorf(registry.Invalid, "upload %s: part %d is listed with ETag %q, but the part received has %q", id, p.Number, p.ETag, name[len("part-00000-"):])
		}
		fi, err := a.root.Stat(path.Join(dir, name))
		if err != nil {
			return nil, 0, registry.Wrap(registry.Internal, err, "stat part %d of upload %s", p.Number, id)
		}
		files[i] = name
		size += fi.Size()
	}
	return files, size, nil
}

// partsReader reads the part files of dir one after the other, holding
// one open at a time.
type partsReader struct {
	a     *Artifacts
	dir   string
	files []string
	cur   *os.File
}

func (p *partsReader) close() {
	if p.cur != nil {
		p.cur.Close()
		p.cur = nil
	}
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if len(p.files) == 0 {
				return 0, io.EOF
			}
			f, err := p.a.root.Open(path.Join(p.dir, p.files[0]))
			if err != nil {
				return 0, err
			}
			p.cur, p.files = f, p.files[1:]
		}
		n, err := p.cur.Read(b)
		if err == io.EOF {
			p.cur.Close()
			p.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// AbortBlobUpload discards a run file's upload (tracking.Blobs); none
// there is not an error. Invalid.
func (a *Artifacts) AbortBlobUpload(ctx context.Context, key, id string) error {
	dir, err := blobUploadDir(id)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if _, err := a.blobUpload(dir, id, key); registry.IsCode(err, registry.Invalid) {
		a.mu.Unlock()
		return err
	}
	trash := path.Join(trashDir, registry.RandomToken(12))
	err = a.root.Rename(dir, trash)
	a.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return registry.Wrap(registry.Internal, err, "abort upload %s", id)
	}
	return a.emptyTrash(trash)
}
