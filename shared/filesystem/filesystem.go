// Package filesystem keeps artifacts as files on local disk and serves
// them through HMAC-signed, expiring URLs: the registry.Artifacts of
// `modelreg serve`.
//
// Layout under the root directory:
//
//	objects/<model>/<version>/<path>        completed files, never overwritten
//	uploads/<upload id>/<file key>/data     a file being uploaded, preallocated
//	uploads/<upload id>/<file key>/part-NNNNN  one marker per durable part
//	trash/                                  discarded uploads being removed
//
// where <file key> is the first 32 hex digits of SHA-256(path). Parts are
// written in place at their offset in data, so each byte reaches the disk
// once; Complete verifies data and hard-links it to its final name.
package filesystem

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var _ registry.Artifacts = (*Artifacts)(nil)

// Directories under the root.
const (
	objectsDir = "objects"
	uploadsDir = "uploads"
	trashDir   = "trash"
	dataFile   = "data"
)

// bufSize is the size of the buffers that stream parts and hash files: the
// most memory one request holds.
const bufSize = 1 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

var uploadIDRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$`)

// Artifacts stores artifacts under a root directory. It is safe for
// concurrent use by one process; two processes must not share a root.
type Artifacts struct {
	root    *os.Root
	baseURL string
	secret  []byte
	now     func() time.Time
	log     *slog.Logger

	// mu guards files and serializes the short directory operations that
	// must not interleave: creating an upload, discarding one, and marking
	// a part as received.
	mu       sync.Mutex
	files    map[string]*fileState  // by upload key
	prefixes map[string]*prefixHash // by upload key: hashing on the way in
	writeGen atomic.Uint64          // numbers part writes (see prefixHash.gens)
	// freeSpace, if set, replaces the statfs of the root (SetFreeSpace);
	// guarded by mu.
	freeSpace func() (int64, error)
}

// fileState tracks the requests working on one file's upload.
type fileState struct {
	writers    int  // part uploads in progress
	completing bool // Complete is verifying and moving the file
}

// New returns Artifacts that keep files under root (created if missing)
// and sign URLs that start with baseURL, the server's public URL (such as
// http://127.0.0.1:8080), with secret (at least 16 bytes). The server
// serves Handler at baseURL + "/blobs/".
func New(root, baseURL string, secret []byte) (*Artifacts, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("filesystem artifacts: the signing secret has %d bytes; at least 16 are needed", len(secret))
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("filesystem artifacts: base URL %q is not an http(s) URL without query", baseURL)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("filesystem artifacts: create root: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("filesystem artifacts: open root: %w", err)
	}
	// Uploads discarded before a crash may still lie in the trash.
	if err := r.RemoveAll(trashDir); err != nil {
		r.Close()
		return nil, fmt.Errorf("filesystem artifacts: empty trash: %w", err)
	}
	// So may run file uploads cut while they were being completed.
	if err := r.RemoveAll(runsMpuDoneDir); err != nil {
		r.Close()
		return nil, fmt.Errorf("filesystem artifacts: remove cut completions: %w", err)
	}
	for _, d := range []string{objectsDir, uploadsDir, trashDir} {
		if err := r.MkdirAll(d, 0o755); err != nil {
			r.Close()
			return nil, fmt.Errorf("filesystem artifacts: create %s: %w", d, err)
		}
	}
	return &Artifacts{
		root:     r,
		baseURL:  strings.TrimRight(baseURL, "/"),
		secret:   append([]byte(nil), secret...),
		now:      time.Now,
		log:      slog.Default(),
		files:    map[string]*fileState{},
		prefixes: map[string]*prefixHash{},
	}, nil
}

// Close releases the root directory. Requests in progress may fail.
func (a *Artifacts) Close() error { return a.root.Close() }

// Begin creates f's upload directory and its data file, preallocated to
// f.Size. Calling it again changes nothing. Invalid, Unavailable (the file
// is being completed right now), InsufficientStorage (f, with the files of
// the session begun before it and the rest of every upload in progress,
// would leave less than KeepFree on the disk).
func (a *Artifacts) Begin(ctx context.Context, s registry.UploadSession, f registry.UploadFile) (registry.UploadFile, error) {
	if err := validateFile(s, f); err != nil {
		return f, err
	}
	key := uploadKey(s.ID, f.Path)
	data := filepath.Join(key, dataFile)
	err := func() error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if st := a.files[key]; st != nil && st.completing {
			return registry.Errorf(registry.Unavailable, "file %s is being completed; try again", f.Path)
		}
		if fi, err := a.root.Stat(data); err == nil && fi.Size() == f.Size {
			return nil // begun already
		}
		// Absent, or begun with another size: start afresh.
		if err := a.checkSpaceLocked(s, f, key); err != nil {
			return err
		}
		a.forgetPrefixLocked(key)
		if err := a.root.RemoveAll(key); err != nil {
			return err
		}
		if err := a.root.MkdirAll(key, 0o755); err != nil {
			return err
		}
		d, err := a.root.OpenFile(data, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		defer d.Close()
		return d.Truncate(f.Size)
	}()
	if c := registry.ErrorCode(err); c == registry.Unavailable || c == registry.InsufficientStorage {
		return f, err
	}
	if err != nil {
		return f, registry.Wrap(registry.Internal, err, "begin upload of %s", f.Path)
	}
	// Make the upload survive a crash, or parts would have nowhere to go.
	if err := a.syncFile(data); err != nil {
		return f, registry.Wrap(registry.Internal, err, "begin upload of %s", f.Path)
	}
	for _, d := range []string{key, filepath.Dir(key), uploadsDir} {
		if err := a.syncDir(d); err != nil {
			return f, registry.Wrap(registry.Internal, err, "begin upload of %s", f.Path)
		}
	}
	return f, nil
}

// PresignPart returns the signed PUT request for part n of f. Invalid.
func (a *Artifacts) PresignPart(ctx context.Context, s registry.UploadSession, f registry.UploadFile, n int, expires time.Time) (registry.PartRequest, error) {
	if err := validateFile(s, f); err != nil {
		return registry.PartRequest{}, err
	}
	if n < 1 || n > f.Parts {
		return registry.PartRequest{}, registry.Errorf(registry.Invalid, "file %s has parts 1 to %d, not %d", f.Path, f.Parts, n)
	}
	off, size := registry.PartRange(f.Size, f.PartSize, n)
	c := claims{Op: opPutPart, Upload: s.ID, Model: s.Model, Version: s.Version, Path: f.Path,
		Part: n, Offset: off, Size: size, ContentType: partContentType, Expires: expires.Unix()}
	if len(f.PartSHA256) > 0 {
		d, err := registry.NormalizeSHA256(f.PartSHA256[n-1])
		if err != nil {
			return registry.PartRequest{}, registry.Errorf(registry.Invalid, "file %s: part %d: %s", f.Path, n, registry.ErrorMessage(err))
		}
		c.PartSHA256 = d
	}
	return registry.PartRequest{
		Number: n, Method: "PUT", URL: a.signedURL(c),
		Headers: map[string]string{"Content-Type": partContentType},
		Offset:  off, Size: size,
	}, nil
}

// UploadedParts returns the parts of f whose bytes are on disk, ascending;
// none if f's upload was never begun or was discarded. Invalid.
func (a *Artifacts) UploadedParts(ctx context.Context, s registry.UploadSession, f registry.UploadFile) ([]int, error) {
	if err := validateFile(s, f); err != nil {
		return nil, err
	}
	parts, err := a.markedParts(uploadKey(s.ID, f.Path), f.Parts)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "list parts of %s", f.Path)
	}
	return parts, nil
}

// Abort discards f's upload, if any; a completed file stays. Invalid,
// Unavailable (the file is being completed right now).
func (a *Artifacts) Abort(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	if err := validateFile(s, f); err != nil {
		return err
	}
	key := uploadKey(s.ID, f.Path)
	a.mu.Lock()
	if st := a.files[key]; st != nil && st.completing {
		a.mu.Unlock()
		return registry.Errorf(registry.Unavailable, "file %s is being completed; try again", f.Path)
	}
	trash, err := a.discardLocked(key)
	a.mu.Unlock()
	if err != nil {
		return registry.Wrap(registry.Internal, err, "abort upload of %s", f.Path)
	}
	return a.emptyTrash(trash)
}

// Discard removes what an abandoned session left at path in a version that
// is not READY (the service guarantees that), so a new upload session can
// put another file there: the file, or a directory of such files, and then
// the directories it leaves empty up to the version's. Nothing there is not
// an error. Invalid.
func (a *Artifacts) Discard(ctx context.Context, model string, version int, path string) error {
	if err := validateObject(model, version, path); err != nil {
		return err
	}
	name := objectName(model, version, path)
	if _, err := a.root.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := a.root.RemoveAll(name); err != nil {
		return registry.Wrap(registry.Internal, err, "discard %s", path)
	}
	top := objectName(model, version, ".")
	dir := filepath.Dir(name)
	for dir != top && a.root.Remove(dir) == nil { // fails once a directory is not empty
		dir = filepath.Dir(dir)
	}
	if err := a.syncDir(dir); err != nil {
		return registry.Wrap(registry.Internal, err, "discard %s", path)
	}
	return nil
}

// RemoveVersion removes every completed file of a deleted version: the
// version's directory moves to the trash in one rename (so no half-removed
// version is ever visible), then the trash is emptied. A version with no
// directory is not an error. Invalid.
func (a *Artifacts) RemoveVersion(ctx context.Context, model string, version int) error {
	if err := validateObject(model, version, "x"); err != nil {
		return err
	}
	dir := objectName(model, version, ".")
	a.mu.Lock()
	trash := filepath.Join(trashDir, registry.RandomToken(12))
	err := a.root.Rename(dir, trash)
	a.mu.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return registry.Wrap(registry.Internal, err, "remove the files of version %d of %s", version, model)
	}
	_ = a.root.Remove(filepath.Dir(dir)) // the model's directory, once empty
	if err := a.syncDir(objectsDir); err != nil {
		return registry.Wrap(registry.Internal, err, "remove the files of version %d of %s", version, model)
	}
	return a.emptyTrash(trash)
}

// PresignDownload returns a signed GET URL for a completed file. Invalid,
// NotFound.
func (a *Artifacts) PresignDownload(ctx context.Context, model string, version int, path string, expires time.Time) (string, error) {
	if err := validateObject(model, version, path); err != nil {
		return "", err
	}
	fi, err := a.root.Stat(objectName(model, version, path))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return "", registry.Errorf(registry.NotFound, "version %d of %s has no file %q", version, model, path)
	}
	if err != nil {
		return "", registry.Wrap(registry.Internal, err, "stat %s", path)
	}
	return a.signedURL(claims{Op: opGetFile, Model: model, Version: version, Path: path, Expires: expires.Unix()}), nil
}

// validateObject checks the names that make up a final path, so that no
// name can reach outside the root: the registry's rule, and a local file
// name on this system.
func validateObject(model string, version int, path string) error {
	if err := registry.ValidateArtifact(model, version, path); err != nil {
		return err
	}
	if !filepath.IsLocal(filepath.FromSlash(path)) {
		return registry.Errorf(registry.Invalid, "invalid artifact path %q: not a local file name on this system", path)
	}
	return nil
}

// validateFile checks a session and file before anything touches the disk.
func validateFile(s registry.UploadSession, f registry.UploadFile) error {
	if !uploadIDRE.MatchString(s.ID) {
		return registry.Errorf(registry.Invalid, "invalid upload id %q", s.ID)
	}
	if err := validateObject(s.Model, s.Version, f.Path); err != nil {
		return err
	}
	switch {
	case f.Size < 0 || f.Size > registry.MaxFileSize:
		return registry.Errorf(registry.Invalid, "file %s: size %d is out of range 0..%d", f.Path, f.Size, registry.MaxFileSize)
	case f.PartSize < 1 || f.Parts < 1 || f.Parts > registry.MaxParts || registry.PartCount(f.Size, f.PartSize) != f.Parts:
		return registry.Errorf(registry.Invalid, "file %s: %d parts of %d bytes do not cover %d bytes", f.Path, f.Parts, f.PartSize, f.Size)
	case len(f.PartSHA256) != 0 && len(f.PartSHA256) != f.Parts:
		return registry.Errorf(registry.Invalid, "file %s: %d part digests for %d parts", f.Path, len(f.PartSHA256), f.Parts)
	}
	return nil
}

// objectName is the name of a completed file, relative to the root.
// Model names and paths are case-sensitive, but the disks of many laptops
// are not (macOS, Windows) and may fold Unicode forms: each name is stored
// as diskName of it, so that names which differ can never meet on disk.
func objectName(model string, version int, path string) string {
	if path == "." {
		return filepath.Join(objectsDir, diskName(model), strconv.Itoa(version))
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = diskName(seg)
	}
	return filepath.Join(append([]string{objectsDir, diskName(model), strconv.Itoa(version)}, segs...)...)
}

// diskName encodes one name so that it is lowercase ASCII and still
// readable, and different names stay different on any disk: lowercase
// letters, digits, '.', '_' and '-' stand for themselves, an uppercase
// letter is '!' and its lowercase (as in Go's module cache), and any other
// byte is '%' and two lowercase hex digits.
func diskName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		case 'A' <= c && c <= 'Z':
			b.WriteByte('!')
			b.WriteByte(c + ('a' - 'A'))
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// uploadKey is the directory of one file's upload, relative to the root.
func uploadKey(uploadID, path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(uploadsDir, uploadID, hex.EncodeToString(sum[:16]))
}

func markerName(key string, part int) string {
	return filepath.Join(key, fmt.Sprintf("part-%05d", part))
}

// markedParts lists the part markers in key that name parts 1..parts.
func (a *Artifacts) markedParts(key string, parts int) ([]int, error) {
	got := []int{}
	d, err := a.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return got, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		num, ok := strings.CutPrefix(name, "part-")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(num); err == nil && n >= 1 && n <= parts {
			got = append(got, n)
		}
	}
	slices.Sort(got)
	return got, nil
}

// discardLocked moves an upload directory to the trash, where nothing
// finds it any more, and returns its name there ("" if there was none).
// Callers hold a.mu and then call emptyTrash without it.
func (a *Artifacts) discardLocked(key string) (string, error) {
	trash := filepath.Join(trashDir, registry.RandomToken(12))
	err := a.root.Rename(key, trash)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	_ = a.root.Remove(filepath.Dir(key)) // the session's directory, once empty
	a.forgetPrefixLocked(key)
	return trash, nil
}

func (a *Artifacts) emptyTrash(trash string) error {
	if trash == "" {
		return nil
	}
	if err := a.root.RemoveAll(trash); err != nil {
		return registry.Wrap(registry.Internal, err, "remove %s", trash)
	}
	return nil
}

func (a *Artifacts) syncFile(name string) error {
	f, err := a.root.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir makes the entries of a directory durable. Windows cannot sync
// directories (NTFS journals them), so it is a no-op there.
func (a *Artifacts) syncDir(name string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := a.root.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
