package filesystem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// Complete verifies f's upload (every part marked, f.Size bytes, SHA-256
// f.SHA256), then links the data file to the file's final name, which it
// never overwrites, and removes the upload. If the final file exists
// already with the same size and digest (a repeat, or a crash after the
// link) it succeeds. Invalid, Conflict (a different file is stored there),
// Unavailable (parts of f are being written right now).
func (a *Artifacts) Complete(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	if err := validateFile(s, f); err != nil {
		return err
	}
	want, err := registry.NormalizeSHA256(f.SHA256)
	if err != nil {
		return registry.Errorf(registry.Invalid, "file %s: %s", f.Path, registry.ErrorMessage(err))
	}
	f.SHA256 = want
	key := uploadKey(s.ID, f.Path)
	if err := a.startComplete(key, f.Path); err != nil {
		return err
	}
	defer a.endComplete(key)

	final := objectName(s.Model, s.Version, f.Path)
	data := filepath.Join(key, dataFile)
	dfi, err := a.root.Stat(data)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing being uploaded: done already, or nothing was sent.
		ffi, ferr := a.root.Stat(final)
		if errors.Is(ferr, fs.ErrNotExist) {
			return registry.MissingParts(f.Path, nil, f.Parts)
		}
		if ferr != nil {
			return registry.Wrap(registry.Internal, ferr, "stat %s", f.Path)
		}
		return a.sameFile(ctx, final, ffi, f)
	}
	if err != nil {
		return registry.Wrap(registry.Internal, err, "stat upload of %s", f.Path)
	}
	got, err := a.markedParts(key, f.Parts)
	if err != nil {
		return registry.Wrap(registry.Internal, err, "list parts of %s", f.Path)
	}
	if err := registry.MissingParts(f.Path, got, f.Parts); err != nil {
		return err
	}
	if dfi.Size() != f.Size {
		return registry.Errorf(registry.Invalid, "file %s: size mismatch: declared %d bytes, received %d", f.Path, f.Size, dfi.Size())
	}
	// A crash after the link left the upload behind: it is the final file.
	if ffi, err := a.root.Stat(final); err == nil && os.SameFile(dfi, ffi) {
		return a.cleanUp(key)
	}
	sum, ok, err := a.prefixSum(key, f.Size)
	if !ok || err != nil {
		sum, err = a.hashFile(ctx, data)
	}
	if err != nil {
		return registry.Wrap(registry.Internal, err, "hash upload of %s", f.Path)
	}
	if sum != f.SHA256 {
		return registry.Errorf(registry.Invalid, "file %s: sha256 mismatch: declared %s, received %s", f.Path, f.SHA256, sum)
	}
	if err := a.syncFile(data); err != nil {
		return registry.Wrap(registry.Internal, err, "sync upload of %s", f.Path)
	}
	if err := a.makeParents(final, s, f); err != nil {
		return err
	}
	// Link fails if the final name exists: a completed file is never replaced.
	if err := a.root.Link(data, final); err != nil {
		ffi, ferr := a.root.Lstat(final)
		if ferr != nil {
			return registry.Wrap(registry.Internal, err, "link %s", f.Path)
		}
		if err := a.sameFile(ctx, final, ffi, f); err != nil {
			return err
		}
		return a.cleanUp(key)
	}
	if err := a.syncDir(filepath.Dir(final)); err != nil {
		return registry.Wrap(registry.Internal, err, "sync directory of %s", f.Path)
	}
	return a.cleanUp(key)
}

// sameFile returns nil if the stored file final (described by fi) is f,
// Conflict if it is another file.
func (a *Artifacts) sameFile(ctx context.Context, final string, fi fs.FileInfo, f registry.UploadFile) error {
	conflict := func(why string) error {
		return registry.Errorf(registry.Conflict, "file %s: a different file is stored at that path (%s)", f.Path, why)
	}
	if !fi.Mode().IsRegular() {
		return conflict("not a regular file")
	}
	if fi.Size() != f.Size {
		return conflict(fmt.Sprintf("%d bytes, not %d", fi.Size(), f.Size))
	}
	sum, err := a.hashFile(ctx, final)
	if err != nil {
		return registry.Wrap(registry.Internal, err, "hash %s", f.Path)
	}
	if sum != f.SHA256 {
		return conflict("sha256 " + sum)
	}
	return nil
}

// makeParents creates the missing directories above the final name and
// makes each new entry durable. Conflict if a file is in the way.
func (a *Artifacts) makeParents(final string, s registry.UploadSession, f registry.UploadFile) error {
	dir, cur := filepath.Dir(final), ""
	for _, seg := range strings.Split(dir, string(filepath.Separator)) {
		parent := cur
		if parent == "" {
			parent = "."
		}
		cur = filepath.Join(cur, seg)
		err := a.root.Mkdir(cur, 0o755)
		if errors.Is(err, fs.ErrExist) {
			fi, serr := a.root.Stat(cur)
			if serr != nil {
				return registry.Wrap(registry.Internal, serr, "stat %s", cur)
			}
			if !fi.IsDir() {
				return registry.Errorf(registry.Conflict, "file %s: version %d of %s already has a file where it needs a directory", f.Path, s.Version, s.Model)
			}
			continue
		}
		if err != nil {
			return registry.Wrap(registry.Internal, err, "create directory for %s", f.Path)
		}
		if err := a.syncDir(parent); err != nil {
			return registry.Wrap(registry.Internal, err, "sync directory for %s", f.Path)
		}
	}
	return nil
}

// cleanUp removes a completed upload.
func (a *Artifacts) cleanUp(key string) error {
	a.mu.Lock()
	trash, err := a.discardLocked(key)
	a.mu.Unlock()
	if err != nil {
		return registry.Wrap(registry.Internal, err, "remove completed upload")
	}
	return a.emptyTrash(trash)
}

// hashFile returns the SHA-256 of a file as lowercase hex, reading it in
// large chunks.
func (a *Artifacts) hashFile(ctx context.Context, name string) (string, error) {
	f, err := a.root.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := sha256.New()
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(*bp)
		h.Write((*bp)[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// startComplete marks key as being completed. Unavailable if parts are
// being written or another Complete runs.
func (a *Artifacts) startComplete(key, path string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.files[key]
	if st == nil {
		st = &fileState{}
		a.files[key] = st
	}
	if st.completing || st.writers > 0 {
		return registry.Errorf(registry.Unavailable, "file %s: parts are being uploaded or the file is being completed; try again", path)
	}
	st.completing = true
	return nil
}

func (a *Artifacts) endComplete(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.files[key]; st != nil {
		st.completing = false
		if st.writers == 0 {
			delete(a.files, key)
		}
	}
}

// startWrite registers a part upload to key. Conflict while the file is
// being completed.
func (a *Artifacts) startWrite(key, path string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.files[key]
	if st == nil {
		st = &fileState{}
		a.files[key] = st
	}
	if st.completing {
		return registry.Errorf(registry.Conflict, "file %s is being completed", path)
	}
	st.writers++
	return nil
}

func (a *Artifacts) endWrite(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.files[key]; st != nil {
		st.writers--
		if st.writers == 0 && !st.completing {
			delete(a.files, key)
		}
	}
}
