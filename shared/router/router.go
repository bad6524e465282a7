// Package router is the registry's HTTP handler tree: the /v1 API
// (shared/httpapi), the MLflow-compatible API and its artifact proxy
// (shared/mlflow), the web console (shared/console, built by the caller)
// and, on a local server, the filesystem artifacts' signed URLs (/blobs/),
// mounted on one App. `modelreg serve` serves New's handler with the
// console; the api Lambda function serves it without (on AWS the console
// is its own function behind the same API Gateway), so a request is routed
// the same way on a laptop and behind API Gateway.
//
// This package does not import shared/console: the console's templates
// (html/template's reflection keeps every exported method of the binary
// alive) would otherwise add 2 MB to the api function.
package router

import (
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/mlflow"
)

// Options configures the handler tree.
type Options struct {
	// Logger receives the handlers' request lines and errors.
	Logger *slog.Logger
	// Version is what GET /v1/health reports.
	Version string
	// Console, if set, serves the console's pages (ConsolePath); without
	// it those paths reach the API, which answers them 404 with a JSON
	// error (the api function: API Gateway sends them to the console
	// function).
	Console http.Handler
}

// New returns the handler tree on a: auth identifies the callers of the
// API and MLflow routes; a.Blobs (filesystem artifacts only) is served
// under /blobs/, opts.Console (if set) on the console's paths.
func New(a *app.App, auth httpapi.Authenticator, opts Options) (http.Handler, error) {
	api := httpapi.New(a.Service, auth, httpapi.Options{Logger: opts.Logger, Version: opts.Version})
	mlf := mlflow.New(a.Service, auth, mlflow.Options{Logger: opts.Logger, Tracking: a.Tracking, RunFiles: a.RunFiles, RunObjects: a.RunObjects})
	return Route(api, a.Blobs, mlf, opts.Console), nil
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
