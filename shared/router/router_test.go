package router_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/router"
)

var quiet = slog.New(slog.DiscardHandler)

// newApp is an embedded App (SQLite, filesystem artifacts with /blobs/).
func newApp(t *testing.T) *app.App {
	t.Helper()
	a, err := app.New(t.Context(), app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem,
		DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1", Secret: bytes.Repeat([]byte("k"), 32),
		Embedded: embedded.Backends{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

type answer struct {
	status int
	ctype  string
	body   string
}

func get(t *testing.T, h http.Handler, method, target, token string) answer {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return answer{w.Code, w.Header().Get("Content-Type"), string(b)}
}

// TestTree: each prefix reaches its handler on one App — the API (and its
// JSON errors for unknown and unclean paths), MLflow, the blobs, the
// console — with the token of the tokens file.
func TestTree(t *testing.T) {
	a := newApp(t)
	toks := httpapi.NewTokens()
	tok, err := toks.Add("ada", registry.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	web, err := console.New(a.Service, toks, console.Options{Key: a.ConsoleKey(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h, err := router.New(a, toks, router.Options{Logger: quiet, Version: "v-test", Console: web})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, target string
		status         int
		ctype, body    string
	}{
		{"GET", "/v1/health", 200, "application/json", `v-test`},
		{"GET", "/v1/models", 200, "application/json", `"items"`},
		{"GET", "/v1/models/..", 400, "application/json", `"error"`},
		{"GET", "/v1/nothing-here", 404, "application/json", `"error"`},
		{"GET", "/api/2.0/mlflow/registered-models/search", 200, "application/json", `{`},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/x", 0, "application/json", `error_code`},
		{"GET", "/blobs/nope", 0, "", ""},
		{"GET", "/login", 200, "text/html", `<form`},
		{"GET", "/models", 303, "", ""},
	} {
		got := get(t, h, c.method, c.target, tok)
		if c.target == "/models" { // the console, without a session: to sign-in
			got = get(t, h, c.method, c.target, "")
		}
		if (c.status != 0 && got.status != c.status) || !strings.HasPrefix(got.ctype, c.ctype) || !strings.Contains(got.body, c.body) {
			t.Errorf("%s %s: %d %q %.200q, want %d %q containing %q", c.method, c.target, got.status, got.ctype, got.body, c.status, c.ctype, c.body)
		}
		if c.target == "/blobs/nope" && (got.status < 400 || strings.Contains(got.body, `"items"`)) {
			t.Errorf("/blobs/nope: %d %q, want the blob handler's refusal", got.status, got.body)
		}
	}
}

// TestNoConsole: without a console (the api function's tree), the
// console's paths reach the API, which answers them 404 with a JSON error,
// while the API and MLflow answer as usual.
func TestNoConsole(t *testing.T) {
	a := newApp(t)
	toks := httpapi.NewTokens()
	tok, _ := toks.Add("ada", registry.RoleAdmin)
	h, err := router.New(a, toks, router.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/login", "/models/m", "/approvals/x", "/static/console.css"} {
		got := get(t, h, "GET", p, tok)
		if got.status != 404 || !strings.HasPrefix(got.ctype, "application/json") || !strings.Contains(got.body, `"error"`) {
			t.Errorf("%s: %d %q %q, want the API's 404", p, got.status, got.ctype, got.body)
		}
	}
	if got := get(t, h, "GET", "/v1/models", tok); got.status != 200 {
		t.Errorf("/v1/models: %d %q", got.status, got.body)
	}
	if got := get(t, h, "GET", "/api/2.0/mlflow/registered-models/search", tok); got.status != 200 {
		t.Errorf("mlflow search: %d %q", got.status, got.body)
	}
}

func TestConsolePath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/models": true, "/models/m/versions/1": true, "/login/callback": true,
		"/v1": false, "/v1/models": false, "/api": false, "/api/2.0/mlflow/x": false, "/blobs": false, "/blobs/x": false,
		"/models/../v1": false, "/models//x": false, "/models/": false, "": false, "models": false, "/v10": true, "/apis": true,
	} {
		if got := router.ConsolePath(p); got != want {
			t.Errorf("ConsolePath(%q) = %v, want %v", p, got, want)
		}
	}
}
