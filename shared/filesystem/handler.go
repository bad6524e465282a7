package filesystem

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
)

// Handler serves the signed URLs: PUT /blobs/part (one part of an upload),
// PUT /blobs/run-part (one part of a run file's multipart upload) and GET
// or HEAD /blobs/file (a completed file, with Range support). Mount
// it at "/blobs/" without stripping the prefix. The signature is the
// authorization: no other credentials are needed or checked.
func (a *Artifacts) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch route := strings.TrimPrefix(r.URL.Path, "/blobs"); {
		case route == "/part" && r.Method == http.MethodPut:
			a.putPart(w, r)
		case route == "/file" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			a.getFile(w, r)
		case route == "/run-part" && r.Method == http.MethodPut:
			a.putRunPart(w, r)
		case route == "/part" || route == "/file" || route == "/run-part":
			allow := "PUT"
			if route == "/file" {
				allow = "GET, HEAD"
			}
			w.Header().Set("Allow", allow)
			writeJSONError(w, http.StatusMethodNotAllowed, registry.Invalid, "use "+allow)
		default:
			writeJSONError(w, http.StatusNotFound, registry.NotFound, "no such blob route")
		}
	})
}

// putPart receives one part and writes it in place in the upload's data
// file.
func (a *Artifacts) putPart(w http.ResponseWriter, r *http.Request) {
	c, err := a.authorize(r.URL.Query(), opPutPart)
	if err == nil {
		err = checkPart(c)
	}
	if err == nil && r.Header.Get("Content-Type") != c.ContentType {
		err = registry.Errorf(registry.Forbidden, "Content-Type %q is not the signed %q", r.Header.Get("Content-Type"), c.ContentType)
	}
	if err == nil && r.ContentLength != c.Size {
		err = registry.Errorf(registry.Invalid, "Content-Length %d is not the part's size %d", r.ContentLength, c.Size)
		if r.ContentLength < 0 {
			err = registry.Errorf(registry.Invalid, "Content-Length is required: the part has %d bytes", c.Size)
		}
	}
	var sum string
	if err == nil {
		var gen uint64
		sum, gen, err = a.writePart(c, progressBody(w, r))
		if err == nil {
			// Hash on the way in, now that the part is durable and marked.
			a.received(uploadKey(c.Upload, c.Path), c.Offset, c.Size, gen)
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	w.WriteHeader(http.StatusOK)
}

// progressBody returns r's body with a read deadline that moves while the
// body makes progress. The server's ReadTimeout bounds the whole request,
// which would cut a large part on a slow but steady link; here it bounds
// only a stall: each read that brings bytes extends the connection's read
// deadline by ReadTimeout (at most once a second, to stay cheap). Without a
// ReadTimeout, or a server that allows no deadlines, the body is unchanged.
func progressBody(w http.ResponseWriter, r *http.Request) io.Reader {
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil || srv.ReadTimeout <= 0 {
		return r.Body
	}
	p := &progressReader{body: r.Body, rc: http.NewResponseController(w), window: srv.ReadTimeout}
	if !p.extend(time.Now()) {
		return r.Body
	}
	return p
}

// progressReader extends a read deadline as bytes arrive.
type progressReader struct {
	body     io.Reader
	rc       *http.ResponseController
	window   time.Duration
	extended time.Time
}

// extend moves the read deadline to now+window; false if the connection
// does not support deadlines.
func (p *progressReader) extend(now time.Time) bool {
	p.extended = now
	return p.rc.SetReadDeadline(now.Add(p.window)) == nil
}

// Read reads from the body and, when bytes came, extends the deadline.
func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.body.Read(b)
	if n > 0 {
		if now := time.Now(); now.Sub(p.extended) >= min(time.Second, p.window/4) {
			p.extend(now)
		}
	}
	return n, err
}

// checkPart validates the claims of a part URL before they touch the disk.
// The signature makes them ours; checking again costs nothing.
func checkPart(c claims) error {
	if !uploadIDRE.MatchString(c.Upload) {
		return registry.Errorf(registry.Invalid, "invalid upload id %q", c.Upload)
	}
	if err := validateObject(c.Model, c.Version, c.Path); err != nil {
		return err
	}
	if c.Part < 1 || c.Part > registry.MaxParts || c.Offset < 0 || c.Size < 0 || c.Size > registry.MaxPartSize {
		return registry.Errorf(registry.Invalid, "invalid part %d (offset %d, %d bytes)", c.Part, c.Offset, c.Size)
	}
	return nil
}

// writePart streams body (c.Size bytes) into the data file at c.Offset,
// fsyncs it and only then marks the part as received. It returns the
// body's SHA-256.
func (a *Artifacts) writePart(c claims, body io.Reader) (sum string, gen uint64, err error) {
	key := uploadKey(c.Upload, c.Path)
	if err := a.startWrite(key, c.Path); err != nil {
		return "", 0, err
	}
	defer a.endWrite(key)

	data := filepath.Join(key, dataFile)
	f, err := a.root.OpenFile(data, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, registry.Errorf(registry.NotFound, "upload %s of %s not found: it was completed, aborted or never begun", c.Upload, c.Path)
	}
	if err != nil {
		return "", 0, registry.Wrap(registry.Internal, err, "open upload of %s", c.Path)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, registry.Wrap(registry.Internal, err, "stat upload of %s", c.Path)
	}
	if c.Offset+c.Size > fi.Size() {
		return "", 0, registry.Errorf(registry.Invalid, "part %d (bytes %d to %d) lies beyond the end of %s (%d bytes)", c.Part, c.Offset, c.Offset+c.Size, c.Path, fi.Size())
	}
	// After a crash between Complete's link and its clean-up, the data file
	// is the final file: writing to it would change a completed file.
	if ffi, err := a.root.Stat(objectName(c.Model, c.Version, c.Path)); err == nil && os.SameFile(fi, ffi) {
		return "", 0, registry.Errorf(registry.Conflict, "file %s is already complete", c.Path)
	}
	// A re-sent part is not received until its new bytes are durable.
	gen = a.rewriting(key, c.Offset)
	marker := markerName(key, c.Part)
	if err := a.root.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", 0, registry.Wrap(registry.Internal, err, "unmark part %d of %s", c.Part, c.Path)
	}
	sum, err = copyAt(f, body, c.Offset, c.Size)
	if err != nil {
		return "", 0, err
	}
	if c.PartSHA256 != "" && sum != c.PartSHA256 {
		return "", 0, registry.Errorf(registry.Invalid, "part %d of %s: sha256 mismatch: signed %s, received %s", c.Part, c.Path, c.PartSHA256, sum)
	}
	if err := f.Sync(); err != nil {
		return "", 0, registry.Wrap(registry.Internal, err, "sync part %d of %s", c.Part, c.Path)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// The upload may have been aborted (and begun again) meanwhile: then
	// these bytes went to a discarded file and must not be marked.
	if cur, err := a.root.Stat(data); err != nil || !os.SameFile(cur, fi) {
		return "", 0, registry.Errorf(registry.NotFound, "upload %s of %s was aborted while part %d was being sent", c.Upload, c.Path, c.Part)
	}
	m, err := a.root.OpenFile(marker, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return "", 0, registry.Wrap(registry.Internal, err, "mark part %d of %s", c.Part, c.Path)
	}
	if err := m.Close(); err != nil {
		return "", 0, registry.Wrap(registry.Internal, err, "mark part %d of %s", c.Part, c.Path)
	}
	return sum, gen, nil
}

// copyAt copies exactly n bytes of src to dst at offset off through one
// pooled buffer, hashing them on the way, and returns their SHA-256. It
// hits the artifacts.mid-part failpoint once half of them are written.
func copyAt(dst io.WriterAt, src io.Reader, off, n int64) (string, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	h := sha256.New()
	var done int64
	halfway := false
	for done < n {
		chunk := (*bp)[:min(int64(len(*bp)), n-done)]
		k, rerr := io.ReadFull(src, chunk)
		if k > 0 {
			h.Write(chunk[:k])
			if _, err := dst.WriteAt(chunk[:k], off+done); err != nil {
				return "", registry.Wrap(registry.Internal, err, "write part")
			}
			done += int64(k)
		}
		if !halfway && 2*done >= n {
			halfway = true
			failpoint.Hit(failpoint.ArtifactsMidPart)
		}
		if rerr != nil && done < n {
			return "", registry.Wrap(registry.Invalid, rerr, "the body ended after %d of %d bytes", done, n)
		}
	}
	if !halfway {
		failpoint.Hit(failpoint.ArtifactsMidPart) // an empty part
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// getFile serves a completed file.
func (a *Artifacts) getFile(w http.ResponseWriter, r *http.Request) {
	c, err := a.authorize(r.URL.Query(), opGetFile)
	if err == nil {
		err = validateObject(c.Model, c.Version, c.Path)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	f, err := a.root.Open(objectName(c.Model, c.Version, c.Path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = registry.Errorf(registry.NotFound, "version %d of %s has no file %q", c.Version, c.Model, c.Path)
		}
		a.writeError(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = registry.Errorf(registry.NotFound, "version %d of %s has no file %q", c.Version, c.Model, c.Path)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	if cd := mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(c.Path)}); cd != "" {
		h.Set("Content-Disposition", cd)
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// statusOf maps error codes to HTTP statuses, as the API does.
var statusOf = map[registry.Code]int{
	registry.Invalid:     http.StatusBadRequest,
	registry.Forbidden:   http.StatusForbidden,
	registry.NotFound:    http.StatusNotFound,
	registry.Conflict:    http.StatusConflict,
	registry.Unavailable: http.StatusServiceUnavailable,
	registry.Internal:    http.StatusInternalServerError,
}

// writeError answers with err in the API's JSON shape; internal errors are
// logged in full and shown as "internal error".
func (a *Artifacts) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := registry.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = registry.Internal, http.StatusInternalServerError
	}
	if code == registry.Internal {
		a.log.Error("blob request failed", "method", r.Method, "route", r.URL.Path, "err", err)
	}
	writeJSONError(w, status, code, registry.ErrorMessage(err))
}

func writeJSONError(w http.ResponseWriter, status int, code registry.Code, msg string) {
	type body struct {
		Code    registry.Code `json:"code"`
		Message string        `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error body `json:"error"`
	}{body{code, msg}})
}
