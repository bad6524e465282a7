package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Headers the API reads or sets.
const (
	// HeaderRequestID carries the request id, honoured when sane and echoed.
	HeaderRequestID = "X-Request-Id"
	// HeaderIdempotencyKey makes a write safe to retry.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is "true" on a response replayed for an Idempotency-Key.
	HeaderReplayed = "Idempotent-Replayed"
	// MaxIdempotencyKeyLen is the longest Idempotency-Key accepted.
	MaxIdempotencyKeyLen = 255
)

// reqInfo is what the request log line says beyond method and path; the
// endpoint fills it in as it learns who calls and what fails.
type reqInfo struct {
	id       string
	caller   string
	model    string
	code     registry.Code
	err      error
	replayed bool
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	info, _ := ctx.Value(infoKey{}).(*reqInfo)
	return info
}

// RequestID returns the id of the request ctx belongs to ("" outside one).
func RequestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// middleware gives every request an id, logs it, turns a panic into a 500
// and answers unknown routes and methods and unclean paths with JSON
// errors.
func (a *api) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(HeaderRequestID)
		if !saneRequestID(id) {
			id = registry.NewID(start)
		}
		w.Header().Set(HeaderRequestID, id)
		info := &reqInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p != nil && p != http.ErrAbortHandler {
				err := fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				if sw.status == 0 {
					a.fail(sw, r, err)
				} else {
					info.err = err
				}
			}
			a.logRequest(r, info, sw.status, time.Since(start))
			if p == http.ErrAbortHandler {
				panic(p)
			}
		}()
		if err := checkPath(r); err != nil {
			a.fail(sw, r, err)
			return
		}
		h, pattern := mux.Handler(r)
		if pattern == "" {
			a.unmatched(sw, r, h)
			return
		}
		mux.ServeHTTP(sw, r)
	})
}

// checkPath refuses a path that is not in canonical form (an empty, "." or
// ".." segment): ServeMux would answer it with a redirect to the cleaned
// path, in HTML, and a client that follows it may act on another resource
// than the one it named (/v1/models//versions is /v1/models/versions).
func checkPath(r *http.Request) error {
	p := r.URL.EscapedPath()
	if p == cleanPath(p) {
		return nil
	}
	return registry.Errorf(registry.Invalid, "path %q has an empty, \".\" or \"..\" segment: send the path without them (a model or version name is never empty)", r.URL.Path)
}

// cleanPath is ServeMux's canonical form of p: path.Clean, keeping a
// trailing slash.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// unmatched answers a request no route takes: 405 with Allow when the path
// exists with other methods, 404 otherwise. h is the mux's own answer,
// which is run against a probe to learn which of the two it is.
func (a *api) unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	p := &probe{header: http.Header{}}
	h.ServeHTTP(p, r)
	if p.status == http.StatusMethodNotAllowed {
		allow := p.header.Get("Allow")
		w.Header().Set("Allow", allow)
		a.failWith(w, r, http.StatusMethodNotAllowed, methodNotAllowed,
			fmt.Sprintf("method %s is not allowed here; allowed: %s", r.Method, allow), nil)
		return
	}
	a.failWith(w, r, http.StatusNotFound, registry.NotFound,
		fmt.Sprintf("no route for %s %s; GET /v1/openapi.json lists them", r.Method, r.URL.Path), nil)
}

func (a *api) logRequest(r *http.Request, info *reqInfo, status int, d time.Duration) {
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("caller", info.caller),
		slog.String("model", info.model),
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("code", string(info.code)))
	}
	if info.replayed {
		attrs = append(attrs, slog.Bool("replayed", true))
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
		if info.err != nil {
			attrs = append(attrs, slog.String("err", info.err.Error()))
		}
	}
	a.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// saneRequestID accepts 1 to 128 characters that are safe in a header and
// a log line.
func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return false
		}
	}
	return true
}

// endpoint runs one route: authenticate and authorize, read the body,
// honour an Idempotency-Key, call the handler, answer.
func (a *api) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		info := infoFrom(ctx)
		if info == nil { // served without the middleware (tests of one route)
			info = &reqInfo{}
			ctx = context.WithValue(ctx, infoKey{}, info)
			r = r.WithContext(ctx)
		}
		info.model = r.PathValue("name")
		var caller registry.Principal
		if rt.perm != permNone {
			p, err := a.authorize(r, rt.perm)
			info.caller = p.Name
			if err != nil {
				a.fail(w, r, err)
				return
			}
			caller = p
			ctx = registry.WithPrincipal(ctx, p)
		}
		q, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		in := &input{r: r, q: q}
		if isWrite(r.Method) {
			limit := a.maxBody
			if rt.maxBody > 0 {
				limit = rt.maxBody
			}
			body, err := a.readBody(w, r, limit)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			in.body = body
		}
		var idem *registry.Idempotency
		if key := r.Header.Get(HeaderIdempotencyKey); key != "" && isWrite(r.Method) {
			if len(key) > MaxIdempotencyKeyLen {
				a.fail(w, r, registry.Errorf(registry.Invalid, "Idempotency-Key is %d characters; at most %d", len(key), MaxIdempotencyKeyLen))
				return
			}
			idem = &registry.Idempotency{
				Key:         scopedKey(caller.Name, r.Method, r.URL.Path, key),
				RequestHash: requestHash(r, in.body),
				Render:      rt.render,
			}
			if a.replay(w, r, idem, key, true) {
				return
			}
			ctx = registry.WithIdempotency(ctx, idem)
		}
		res, err := rt.handle(a, ctx, in)
		if err != nil {
			// A racing request with the same key may have won (the store
			// answers ErrDuplicateRequest), or the failure may have come
			// after it: whatever went wrong, a stored response wins.
			if idem != nil && a.replay(w, r, idem, r.Header.Get(HeaderIdempotencyKey), false) {
				return
			}
			a.fail(w, r, err)
			return
		}
		body, err := rt.wire(res)
		if err != nil {
			a.fail(w, r, registry.Wrap(registry.Internal, err, "encode response"))
			return
		}
		if rt.etag {
			a.replyETag(w, r, rt.statusFor(body), body)
			return
		}
		a.reply(w, r, rt.statusFor(body), body)
	})
}

// wire returns the /v1 document rt answers for a service result.
func (rt route) wire(result any) (any, error) {
	if rt.body != nil {
		return rt.body(result)
	}
	return wireBody(result)
}

// statusFor is the success status of rt for a response body: the route's,
// unless the body chooses its own.
func (rt route) statusFor(body any) int {
	if s, ok := body.(statusCoder); ok {
		return s.statusCode()
	}
	return rt.status
}

// statusCoder is a response body that chooses its own status (202 for a
// transition that waits for approval).
type statusCoder interface{ statusCode() int }

// authorize authenticates r and checks that the caller's role has perm.
func (a *api) authorize(r *http.Request, perm registry.Permission) (registry.Principal, error) {
	if a.auth == nil {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "this server has no authenticator configured")
	}
	p, err := a.auth.Authenticate(r)
	if err != nil {
		return registry.Principal{}, err
	}
	if !p.Role.Allows(perm) {
		return p, registry.Errorf(registry.Forbidden, "%s has role %q, which lacks the %s permission this request needs", p.Name, p.Role, perm)
	}
	return p, nil
}

// replay answers r from the response stored under idem.Key, if there is
// one: the stored status and body when the request is the same, 422 when
// the key was used for a different request. It reports whether it
// answered. When first is set a failed lookup is answered as an error
// (the request must not run without its idempotency check); afterwards a
// failed lookup leaves the answer to the caller.
func (a *api) replay(w http.ResponseWriter, r *http.Request, idem *registry.Idempotency, key string, first bool) bool {
	rec, err := a.svc.LookupIdempotency(r.Context(), idem.Key)
	if err != nil {
		if first && !registry.IsCode(err, registry.NotFound) {
			a.fail(w, r, fmt.Errorf("look up Idempotency-Key: %w", err))
			return true
		}
		return false
	}
	if rec.RequestHash != idem.RequestHash {
		a.fail(w, r, registry.Errorf(registry.KeyReused,
			"Idempotency-Key %q was used for a different request; use a new key for a new request", key))
		return true
	}
	if info := infoFrom(r.Context()); info != nil {
		info.replayed = true
	}
	status, body, err := parseStoredResponse(rec.Response)
	if err != nil {
		a.fail(w, r, fmt.Errorf("replay Idempotency-Key: %w", err))
		return true
	}
	w.Header().Set(HeaderReplayed, "true")
	writeBody(w, status, body)
	return true
}

// render is the Idempotency.Render of rt: the response to store for the
// service's result, its status and body encoded exactly as a fresh answer
// is (see storedResponse), so that a replay is byte-identical.
func (rt route) render(result any) ([]byte, error) {
	body, err := rt.wire(result)
	if err != nil {
		return nil, err
	}
	status := rt.statusFor(body)
	var data []byte
	if status != http.StatusNoContent && body != nil {
		if data, err = encode(body); err != nil {
			return nil, err
		}
	}
	return storedResponse(status, data), nil
}

// storedResponse is the form of a response the registry stores for an
// Idempotency-Key (opaque to it): the decimal status, a newline, the body.
func storedResponse(status int, body []byte) []byte {
	return append([]byte(strconv.Itoa(status)+"\n"), body...)
}

// parseStoredResponse reads what storedResponse wrote.
func parseStoredResponse(b []byte) (status int, body []byte, err error) {
	head, body, ok := bytes.Cut(b, []byte("\n"))
	if ok {
		status, err = strconv.Atoi(string(head))
	}
	if !ok || err != nil || status < 200 || status > 299 {
		return 0, nil, fmt.Errorf("stored response is not a status line and a body (%d bytes; written by an older server?)", len(b))
	}
	return status, body, nil
}

// scopedKey is the stored key of an Idempotency-Key: the same header value
// from another caller, method or path is another key. Hashed to a fixed
// length.
func scopedKey(caller, method, path, key string) string {
	return hashParts(caller, method, path, key)
}

// requestHash identifies a request for the reuse check: method, path, raw
// query and body.
func requestHash(r *http.Request, body []byte) string {
	return hashParts(r.Method, r.URL.Path, r.URL.RawQuery, string(body))
}

func hashParts(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// isWrite reports whether method changes something (and may carry a body
// and an Idempotency-Key).
func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// statusWriter remembers the status sent, for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status and sends it.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write sends b, recording an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// probe is a ResponseWriter that only records status and headers.
type probe struct {
	header http.Header
	status int
}

// Header returns the recorded headers.
func (p *probe) Header() http.Header { return p.header }

// Write discards b.
func (p *probe) Write(b []byte) (int, error) {
	if p.status == 0 {
		p.status = http.StatusOK
	}
	return len(b), nil
}

// WriteHeader records the first status.
func (p *probe) WriteHeader(code int) {
	if p.status == 0 {
		p.status = code
	}
}
