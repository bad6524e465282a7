package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// Plain-text tokens of the test callers, by name.
var testTokens = map[string]struct {
	role  registry.Role
	token string
}{
	"rita":  {registry.RoleReader, "reader-token-rita-0001"},
	"paul":  {registry.RolePublisher, "publisher-token-paul-01"},
	"pia":   {registry.RolePublisher, "publisher-token-pia-001"},
	"anna":  {registry.RoleApprover, "approver-token-anna-001"},
	"adam":  {registry.RoleAdmin, "admin-token-adam-000001"},
	"other": {registry.RoleReader, "reader-token-other-001"},
}

// tok returns the bearer token of a test caller.
func tok(name string) string { return testTokens[name].token }

// env is a running API over a real Service with the embedded store and
// artifacts, served (with the blob routes) by an httptest server.
type env struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *registry.Service
	store *sqlite.Store
	logs  *lockedBuffer
}

type envOption func(*registry.Config, *Options)

func withNamePolicy(pattern, hint string) envOption {
	return func(c *registry.Config, _ *Options) {
		c.NamePolicy = regexp.MustCompile(pattern)
		c.NamePolicyHint = hint
	}
}

func withMaxBody(n int64) envOption {
	return func(_ *registry.Config, o *Options) { o.MaxBodyBytes = n }
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	base := "http://" + srv.Listener.Addr().String()
	arts, err := filesystem.New(filepath.Join(dir, "artifacts"), base, []byte("blob-secret-blob-secret-blob-sec"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arts.Close() })
	cfg := registry.Config{Store: store, Artifacts: arts, Secret: bytes.Repeat([]byte("s"), 32)}
	o := Options{Version: "test-1.2.3"}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	svc, err := registry.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens()
	for name, tt := range testTokens {
		if err := tokens.Set(name, tt.role, tt.token); err != nil {
			t.Fatal(err)
		}
	}
	logs := &lockedBuffer{}
	o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	mux.Handle("/v1/", New(svc, tokens, o))
	mux.Handle("/blobs/", arts.Handler())
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, svc: svc, store: store, logs: logs}
}

// resp is a response read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

// errCode returns the code of an error document ("" if the body is not one).
func (r resp) errCode() registry.Code {
	var e ErrorBody
	if json.Unmarshal(r.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func (r resp) errMessage() string {
	var e ErrorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Message
}

// req is a request to send: token "" sends no Authorization header.
type req struct {
	method, path, token string
	body                any // string, []byte, io.Reader or a value to encode
	header              map[string]string
}

func (e *env) do(r req) resp {
	e.t.Helper()
	res, err := e.send(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	return res
}

// send is do for any goroutine: it returns the error instead of failing.
func (e *env) send(r req) (resp, error) {
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		return resp{}, err
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	return resp{status: res.StatusCode, header: res.Header, body: data}, nil
}

// must sends r and fails the test unless it answers want; it decodes the
// body into out when out is not nil.
func (e *env) must(want int, r req, out any) resp {
	e.t.Helper()
	res := e.do(r)
	if res.status != want {
		e.t.Fatalf("%s %s = %d %s, want %d", r.method, r.path, res.status, res.body, want)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", r.method, r.path, res.body, err)
		}
	}
	return res
}

// as returns a context acting as the named test caller.
func as(name string) context.Context {
	return registry.WithPrincipal(context.Background(), registry.Principal{Name: name, Role: testTokens[name].role})
}

// seedModel creates model name with n READY versions (external source),
// straight through the service.
func (e *env) seedModel(name string, n int) {
	e.t.Helper()
	ctx := as("adam")
	if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: name}); err != nil {
		e.t.Fatal(err)
	}
	for i := range n {
		_, err := e.svc.RegisterVersion(ctx, name, registry.NewVersion{
			Source:  fmt.Sprintf("s3://bucket/%s/%d", name, i+1),
			Metrics: map[string]registry.Metric{"accuracy": {Value: 0.5 + float64(i)/100}},
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
}

// snapshot describes everything a failed request must leave unchanged:
// every model with its revision and latest version, the versions and
// aliases of each, and the length of its audit trail.
func (e *env) snapshot() string {
	e.t.Helper()
	ctx := as("adam")
	var b strings.Builder
	models, err := e.svc.ListModels(ctx, "", "", registry.MaxPageSize)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range models.Items {
		fmt.Fprintf(&b, "model %s rev=%d latest=%d\n", m.Name, m.Revision, m.LatestVersion)
		vs, err := e.svc.ListVersions(ctx, m.Name, registry.VersionFilter{}, "", registry.MaxPageSize)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, v := range vs.Items {
			fmt.Fprintf(&b, "  v%d rev=%d %s %s upload=%q\n", v.Number, v.Revision, v.Status, v.Stage, v.UploadID)
		}
		al, err := e.svc.ListAliases(ctx, m.Name)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, a := range al {
			fmt.Fprintf(&b, "  alias %s=%d\n", a.Name, a.Version)
		}
		h, err := e.svc.History(ctx, m.Name, 0, "", registry.MaxPageSize)
		if err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "  audit=%d\n", len(h.Items))
	}
	return b.String()
}

// waitLog waits for a log line containing every one of parts and returns it.
func (e *env) waitLog(parts ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(e.logs.String(), "\n") {
			all := line != ""
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return line
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no log line with %q in:\n%s", parts, e.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for the server's and the test's
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
