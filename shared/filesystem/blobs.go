package filesystem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

var _ tracking.Blobs = (*Artifacts)(nil)

// Run artifact files (tracking.Blobs) live under runs/ beside objects/,
// written first under runs-tmp/ and renamed into place once complete.
const (
	runsDir    = "runs"
	runsTmpDir = "runs-tmp"
)

// blobName checks a blob key ("runs/<path>", each part a valid artifact
// path) and returns its file name under the root.
func blobName(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, runsDir+"/")
	if !ok {
		return "", registry.Errorf(registry.Invalid, "blob key %q is not under %s/", key, runsDir)
	}
	if err := registry.ValidatePath(rest); err != nil {
		return "", err
	}
	return path.Join(runsDir, rest), nil
}

// PutBlob streams r into the run artifact file key through a 1 MiB buffer,
// hashing it on the way, and renames it into place once the whole body
// arrived and reached the disk (tracking.Blobs).
func (a *Artifacts) PutBlob(ctx context.Context, key string, r io.Reader, size int64) (tracking.Blob, error) {
	name, err := blobName(key)
	if err != nil {
		return tracking.Blob{}, err
	}
	if err := a.root.MkdirAll(runsTmpDir, 0o755); err != nil {
		return tracking.Blob{}, err
	}
	tmp := path.Join(runsTmpDir, registry.RandomToken(12))
	f, err := a.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return tracking.Blob{}, err
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			a.root.Remove(tmp)
		}
	}()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, r}, *bp)
	if err != nil {
		return tracking.Blob{}, registry.Wrap(registry.Invalid, err, "upload of %s was cut after %d bytes", key, n)
	}
	if size >= 0 && n != size {
		return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload of %s: got %d bytes, announced %d", key, n, size)
	}
	if err := f.Sync(); err != nil {
		return tracking.Blob{}, err
	}
	if err := f.Close(); err != nil {
		return tracking.Blob{}, err
	}
	done = true
	if dir := path.Dir(name); dir != "." {
		if err := a.root.MkdirAll(dir, 0o755); err != nil {
			a.root.Remove(tmp)
			return tracking.Blob{}, registry.Wrap(registry.Invalid, err, "%s: a file is in the way of its directory", key)
		}
	}
	if err := a.root.Rename(tmp, name); err != nil {
		a.root.Remove(tmp)
		return tracking.Blob{}, registry.Wrap(registry.Invalid, err, "%s: cannot be stored there (a directory of that name?)", key)
	}
	return tracking.Blob{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// OpenBlob opens a run artifact file at offset (tracking.Blobs). NotFound.
func (a *Artifacts) OpenBlob(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	name, err := blobName(key)
	if err != nil {
		return nil, err
	}
	f, err := a.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, registry.Errorf(registry.NotFound, "no run artifact %s", key)
	}
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, registry.Errorf(registry.NotFound, "run artifact %s is a directory", key)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
