// Package router is the registry's HTTP handler tree: the /v1 API
// (shared/httpapi), the MLflow-compatible API and its artifact proxy
// (shared/mlflow), the web console (shared/console) and, on a local
// server, the filesystem artifacts' signed URLs (/blobs/), mounted on one
// App. `modelreg serve` and the api Lambda function both serve New's
// handler, so a request is routed the same way on a laptop and behind API
// Gateway.
package router

import (
	"html/template"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/mlflow"
)

// Options configures the handler tree.
type Options struct {
	// Logger receives the handlers' request lines and errors.
	Logger *slog.Logger
	// Version is what GET /v1/health reports.
	Version string
	// ConsoleAuth, if set, lets people sign in to the console by pasting
	// an API token it recognises (a local server's tokens file).
	ConsoleAuth console.Authenticator
	// OIDC, if set, lets people sign in to the console with OpenID
	// Connect (a Cognito user pool on AWS).
	OIDC *console.OIDC
	// NoConsoleReason says why the console is off; with neither
	// ConsoleAuth nor OIDC nobody could sign in, so the console's pages
	// answer 404 with this reason (default: DefaultNoConsoleReason).
	NoConsoleReason string
}

// DefaultNoConsoleReason is what the console's pages answer when the
// console has no way to sign in.
const DefaultNoConsoleReason = "This registry's web console has no sign-in configured, so it is turned off. The API (/v1) and the MLflow API (/api) answer as usual."

// New returns the handler tree on a: auth identifies the callers of the
// API and MLflow routes; a.Blobs (filesystem artifacts only) is served
// under /blobs/. The console is mounted when opts offer a way to sign in
// (ConsoleAuth or OIDC); otherwise its pages answer 404 with
// opts.NoConsoleReason.
func New(a *app.App, auth httpapi.Authenticator, opts Options) (http.Handler, error) {
	api := httpapi.New(a.Service, auth, httpapi.Options{Logger: opts.Logger, Version: opts.Version})
	mlf := mlflow.New(a.Service, auth, mlflow.Options{Logger: opts.Logger, Tracking: a.Tracking, RunFiles: a.RunFiles, RunObjects: a.RunObjects})
	var web http.Handler
	if opts.ConsoleAuth != nil || opts.OIDC != nil {
		c, err := console.New(a.Service, opts.ConsoleAuth, console.Options{Key: a.ConsoleKey(), Logger: opts.Logger, OIDC: opts.OIDC})
		if err != nil {
			return nil, err
		}
		web = c
	} else {
		reason := opts.NoConsoleReason
		if reason == "" {
			reason = DefaultNoConsoleReason
		}
		web = noConsole(reason)
	}
	return Route(api, a.Blobs, mlf, web), nil
}

// Route sends /blobs/ to blobs (when set), the MLflow REST API
// (mlflow.Prefix) and its artifact proxy (mlflow.ArtifactsPrefix) to mlf,
// the console's pages (ConsolePath) to web, and everything else to the
// API, which answers unknown and unclean paths with JSON errors. It is not
// a ServeMux on purpose: ServeMux answers an unclean path such as
// /v1/models/.. with an HTML redirect before the API sees it.
func Route(api, blobs, mlf, web http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case mlf != nil && (strings.HasPrefix(p, mlflow.Prefix) || strings.HasPrefix(p, mlflow.ArtifactsPrefix)):
			mlf.ServeHTTP(w, r)
		case blobs != nil && strings.HasPrefix(p, "/blobs/"):
			blobs.ServeHTTP(w, r)
		case web != nil && ConsolePath(p):
			web.ServeHTTP(w, r)
		default:
			api.ServeHTTP(w, r)
		}
	})
}

// ConsolePath reports whether p is one of the console's: clean, and not
// under /v1/, /api/ (the MLflow-compatible API) or /blobs.
func ConsolePath(p string) bool {
	if p == "/" {
		return true
	}
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.Contains(p, "//") {
		return false
	}
	for _, api := range []string{"/v1", "/api", "/blobs"} {
		if p == api || strings.HasPrefix(p, api+"/") {
			return false
		}
	}
	return true
}

var noConsolePage = template.Must(template.New("off").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console turned off · modelreg</title></head>
<body><h1>Console turned off</h1><p>{{.}}</p></body></html>
`))

// noConsole answers every console page 404 with reason, as a small HTML
// page (no script, no form, nothing to sign in to).
func noConsole(reason string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			noConsolePage.Execute(w, reason) //nolint:errcheck // the client went away
		}
	})
}
