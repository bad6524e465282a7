// Package mlflow serves the MLflow Model Registry REST API
// (/api/2.0/mlflow/registered-models/… and /api/2.0/mlflow/model-versions/…)
// on the registry's service, so MLflow client code runs against modelreg
// with only the registry URI and MLFLOW_TRACKING_TOKEN pointing at it. It
// maps MLflow's requests onto the same domain, audit trail and approval
// workflow as /v1; the differences are listed in README.md ("MLflow
// compatibility").
//
// Requests follow MLflow's encodings: GET sends a query string, every other
// method a JSON body; errors are {"error_code","message"} with MLflow's
// codes (RESOURCE_DOES_NOT_EXIST, RESOURCE_ALREADY_EXISTS,
// INVALID_PARAMETER_VALUE, PERMISSION_DENIED, UNAUTHENTICATED…).
package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// Prefix is the path prefix of the MLflow REST API.
const Prefix = "/api/2.0/mlflow/"

// ArtifactsPrefix is the path prefix of MLflow's artifact proxy
// (mlflow-artifacts:/ URIs), served with Options.Tracking.
const ArtifactsPrefix = "/api/2.0/mlflow-artifacts/"

// Authenticator finds out who is calling (the same interface as the /v1
// API's: bearer tokens locally, IAM on AWS). Unauthenticated when r carries
// no credentials or unknown ones.
type Authenticator interface {
	Authenticate(r *http.Request) (registry.Principal, error)
}

// Options configures the handler New returns.
type Options struct {
	// Logger receives one line per request (default: JSON on stderr).
	Logger *slog.Logger
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	// AutoPromotionWait is how long a transition to Production waits for a
	// model whose policy approves automatically to reach Production before
	// it answers with the version still pending (default 10s).
	AutoPromotionWait time.Duration
	// Tracking and RunFiles, when set (both or neither), serve MLflow's
	// tracking subset (experiments, runs, logged models) and the
	// mlflow-artifacts proxy (ArtifactsPrefix), so that runs:/ and
	// models:/m-… sources register versions from run artifacts.
	Tracking tracking.Store
	RunFiles tracking.Blobs
	// RunObjects, when set (with Tracking; MODELREG_MLFLOW_ARTIFACTS=s3),
	// gives runs and logged models an s3:// artifact location (the keys
	// RunFiles uses) that clients write with their own credentials, and
	// registers versions from those objects: listed, read back for their
	// SHA-256 and copied server-side into the version's files.
	RunObjects tracking.Objects
	// HTTPClient sends a registered run's files to the artifact store's
	// upload URLs (default: a client with a 30-minute timeout).
	HTTPClient *http.Client
}

type handler struct {
	svc      *registry.Service
	auth     Authenticator
	log      *slog.Logger
	maxBody  int64
	autoWait time.Duration
	mux      *http.ServeMux
	track    trackDB
	files    tracking.Blobs
	objects  tracking.Objects
	http     *http.Client
}

// endpointFunc is one MLflow endpoint: it reads its parameters from in and
// returns the response document.
type endpointFunc func(h *handler, ctx context.Context, in *input) (any, error)

type route struct {
	method string
	path   string // below Prefix
	perm   registry.Permission
	// fields are the request parameters the endpoint takes; any other is
	// INVALID_PARAMETER_VALUE.
	fields []string
	handle endpointFunc
}

var routes = []route{
	{"POST", "registered-models/create", registry.PermPublish, []string{"name", "tags", "description", "deployment_job_id"}, (*handler).createModel},
	{"GET", "registered-models/get", registry.PermRead, []string{"name"}, (*handler).getModel},
	{"POST", "registered-models/rename", registry.PermAdmin, []string{"name", "new_name"}, (*handler).renameModel},
	{"PATCH", "registered-models/update", registry.PermPublish, []string{"name", "description", "deployment_job_id"}, (*handler).updateModel},
	{"DELETE", "registered-models/delete", registry.PermAdmin, []string{"name"}, (*handler).deleteModel},
	{"GET", "registered-models/search", registry.PermRead, []string{"filter", "max_results", "order_by", "page_token"}, (*handler).searchModels},
	{"POST", "registered-models/get-latest-versions", registry.PermRead, []string{"name", "stages"}, (*handler).latestVersions},
	{"GET", "registered-models/get-latest-versions", registry.PermRead, []string{"name", "stages"}, (*handler).latestVersions},
	{"POST", "registered-models/set-tag", registry.PermPublish, []string{"name", "key", "value"}, (*handler).setModelTag},
	{"DELETE", "registered-models/delete-tag", registry.PermPublish, []string{"name", "key"}, (*handler).deleteModelTag},
	{"POST", "registered-models/alias", registry.PermPublish, []string{"name", "alias", "version"}, (*handler).setAlias},
	{"DELETE", "registered-models/alias", registry.PermPublish, []string{"name", "alias"}, (*handler).deleteAlias},
	{"GET", "registered-models/alias", registry.PermRead, []string{"name", "alias"}, (*handler).getByAlias},

	{"POST", "model-versions/create", registry.PermPublish, []string{"name", "source", "run_id", "tags", "run_link", "description", "model_id"}, (*handler).createVersion},
	{"GET", "model-versions/get", registry.PermRead, []string{"name", "version"}, (*handler).getVersion},
	{"PATCH", "model-versions/update", registry.PermPublish, []string{"name", "version", "description"}, (*handler).updateVersion},
	{"DELETE", "model-versions/delete", registry.PermAdmin, []string{"name", "version"}, (*handler).deleteVersion},
	{"GET", "model-versions/search", registry.PermRead, []string{"filter", "max_results", "order_by", "page_token"}, (*handler).searchVersions},
	{"GET", "model-versions/get-download-uri", registry.PermRead, []string{"name", "version"}, (*handler).downloadURI},
	{"POST", "model-versions/transition-stage", registry.PermPublish, []string{"name", "version", "stage", "archive_existing_versions", "comment"}, (*handler).transition},
	{"POST", "model-versions/set-tag", registry.PermPublish, []string{"name", "version", "key", "value"}, (*handler).setVersionTag},
	{"DELETE", "model-versions/delete-tag", registry.PermPublish, []string{"name", "version", "key"}, (*handler).deleteVersionTag},
}

// New returns the MLflow REST API over svc; mount it at Prefix. auth
// identifies callers of every endpoint.
func New(svc *registry.Service, auth Authenticator, opts Options) http.Handler {
	h := &handler{svc: svc, auth: auth, log: opts.Logger, maxBody: opts.MaxBodyBytes, autoWait: opts.AutoPromotionWait,
		track: trackDB{opts.Tracking}, files: opts.RunFiles, objects: opts.RunObjects, http: opts.HTTPClient}
	if (opts.Tracking == nil) != (opts.RunFiles == nil) {
		panic("mlflow.New: Tracking and RunFiles go together")
	}
	if opts.RunObjects != nil && opts.Tracking == nil {
		panic("mlflow.New: RunObjects needs Tracking")
	}
	if h.http == nil {
		h.http = &http.Client{Timeout: 30 * time.Minute}
	}
	if h.log == nil {
		h.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if h.maxBody <= 0 {
		h.maxBody = 1 << 20
	}
	if h.autoWait <= 0 {
		h.autoWait = 10 * time.Second
	}
	h.mux = http.NewServeMux()
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+Prefix+rt.path, h.endpoint(rt))
	}
	if h.track.st != nil {
		for _, rt := range trackingRoutes {
			h.mux.Handle(rt.method+" "+Prefix+rt.path, h.endpoint(rt))
		}
		h.mux.HandleFunc("GET "+ArtifactsPrefix+"artifacts", h.listArtifactsHTTP)
		h.mux.HandleFunc("GET "+ArtifactsPrefix+"artifacts/{path...}", h.downloadArtifactHTTP)
		h.mux.HandleFunc("PUT "+ArtifactsPrefix+"artifacts/{path...}", h.uploadArtifactHTTP)
		for _, op := range []string{"create", "complete", "abort"} {
			h.mux.HandleFunc("POST "+ArtifactsPrefix+"mpu/"+op+"/{path...}", h.multipartHTTP)
		}
	}
	return h
}

// ServeHTTP answers unknown endpoints as MLflow does (ENDPOINT_NOT_FOUND)
// and turns a panic into INTERNAL_ERROR.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	status := 0
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("mlflow panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
		}
	}()
	if _, pattern := h.mux.Handler(r); pattern == "" {
		status = http.StatusNotFound
		writeError(w, status, "ENDPOINT_NOT_FOUND", fmt.Sprintf("no MLflow endpoint %s %s on this server (see README: MLflow compatibility)", r.Method, r.URL.Path))
	} else {
		h.mux.ServeHTTP(w, r)
	}
	h.log.Debug("mlflow request", "method", r.Method, "path", r.URL.Path, "status", status, "duration_ms", time.Since(start).Milliseconds())
}

func (h *handler) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := h.authorize(r, rt.perm)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ctx = registry.WithPrincipal(ctx, p)
		in, err := readInput(r, rt.fields, h.maxBody)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, seg := range strings.Split(rt.path, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				name = strings.TrimSuffix(name, "}")
				if in.pv == nil {
					in.pv = map[string]string{}
				}
				in.pv[name] = r.PathValue(name)
			}
		}
		out, err := rt.handle(h, ctx, in)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		body, err := json.Marshal(out)
		if err != nil {
			h.fail(w, r, fmt.Errorf("encode response: %w", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(body, '\n'))
	})
}

// authorize authenticates r and checks perm. Basic auth (MLflow's
// MLFLOW_TRACKING_USERNAME/PASSWORD) is refused with a message naming the
// token variable.
func (h *handler) authorize(r *http.Request, perm registry.Permission) (registry.Principal, error) {
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated,
			"basic auth (MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD) is not supported: unset them and set MLFLOW_TRACKING_TOKEN to a modelreg token (modelreg tokens add NAME --role ROLE)")
	}
	p, err := h.auth.Authenticate(r)
	if err != nil {
		if registry.IsCode(err, registry.Unauthenticated) {
			return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "%s (MLflow clients: set MLFLOW_TRACKING_TOKEN to a modelreg token)", registry.ErrorMessage(err))
		}
		return registry.Principal{}, err
	}
	if !p.Role.Allows(perm) {
		return p, registry.Errorf(registry.Forbidden, "%s (role %s) may not do this: it needs the %s permission", p.Name, p.Role, perm)
	}
	return p, nil
}

// errorCodes maps the domain's codes onto MLflow's error codes and
// statuses.
var errorCodes = map[registry.Code]struct {
	code   string
	status int
}{
	registry.Invalid:             {"INVALID_PARAMETER_VALUE", http.StatusBadRequest},
	registry.TooLarge:            {"INVALID_PARAMETER_VALUE", http.StatusBadRequest},
	registry.KeyReused:           {"INVALID_PARAMETER_VALUE", http.StatusBadRequest},
	registry.NotFound:            {"RESOURCE_DOES_NOT_EXIST", http.StatusNotFound},
	registry.Conflict:            {"INVALID_STATE", http.StatusBadRequest},
	registry.Unauthenticated:     {"UNAUTHENTICATED", http.StatusUnauthorized},
	registry.Forbidden:           {"PERMISSION_DENIED", http.StatusForbidden},
	registry.Unavailable:         {"TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable},
	registry.NotImplemented:      {"NOT_IMPLEMENTED", http.StatusNotImplemented},
	registry.InsufficientStorage: {"TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable},
}

// mlflowError is an error that carries its MLflow code itself (such as
// RESOURCE_ALREADY_EXISTS, which the domain calls a Conflict).
type mlflowError struct {
	code, msg string
	status    int
}

func (e *mlflowError) Error() string { return e.code + ": " + e.msg }

func alreadyExists(format string, args ...any) error {
	return &mlflowError{"RESOURCE_ALREADY_EXISTS", fmt.Sprintf(format, args...), http.StatusBadRequest}
}

func invalid(format string, args ...any) error {
	return registry.Errorf(registry.Invalid, format, args...)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var me *mlflowError
	if errors.As(err, &me) {
		writeError(w, me.status, me.code, me.msg)
		return
	}
	c, ok := errorCodes[registry.ErrorCode(err)]
	if !ok {
		h.log.Error("mlflow request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "internal error")
		return
	}
	if c.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="modelreg"`)
	}
	writeError(w, c.status, c.code, registry.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	body, _ := json.Marshal(map[string]string{"error_code": code, "message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// input holds a request's parameters: the query string of a GET, the JSON
// body of any other method (a DELETE without a body may use the query).
type input struct {
	q    url.Values
	body map[string]json.RawMessage
	// pv holds the path's {wildcards} (logged-models/{model_id}).
	pv map[string]string
}

func readInput(r *http.Request, fields []string, limit int64) (*input, error) {
	in := &input{q: r.URL.Query()}
	if r.Method != http.MethodGet {
		data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
		if err != nil {
			var mb *http.MaxBytesError
			if errors.As(err, &mb) {
				return nil, invalid("request body is larger than %d bytes", limit)
			}
			return nil, registry.Wrap(registry.Invalid, err, "read request body")
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(data)))
			if err := dec.Decode(&in.body); err != nil {
				return nil, invalid("request body is not a JSON object: %v", err)
			}
			if dec.More() {
				return nil, invalid("request body has data after the JSON object")
			}
			if in.body == nil {
				return nil, invalid("request body is not a JSON object")
			}
			in.q = nil
		}
	}
	for k := range in.body {
		if !slices.Contains(fields, k) {
			return nil, invalid("unknown parameter %q: this endpoint takes %s", k, strings.Join(fields, ", "))
		}
	}
	for k := range in.q {
		if !slices.Contains(fields, k) {
			return nil, invalid("unknown parameter %q: this endpoint takes %s", k, strings.Join(fields, ", "))
		}
	}
	return in, nil
}

// has reports whether the parameter was sent.
func (in *input) has(name string) bool {
	if in.body != nil {
		_, ok := in.body[name]
		return ok
	}
	return in.q.Has(name)
}

// numeric are the parameters a JSON body may send as numbers (MLflow
// clients send versions as strings or numbers; protobuf JSON may quote
// int64s).
var numeric = []string{"version", "max_results", "start_time", "end_time", "timestamp", "step", "view_type", "run_view_type", "num_parts"}

// str returns a string parameter ("" if absent). A JSON number is taken as
// its text for the numeric parameters.
func (in *input) str(name string) (string, error) {
	if v, ok := in.pv[name]; ok {
		if s, err := in.strBody(name); err == nil && s != "" && s != v {
			return "", invalid("%s is %q in the path and %q in the body", name, v, s)
		}
		return v, nil
	}
	return in.strBody(name)
}

func (in *input) strBody(name string) (string, error) {
	if in.body == nil {
		vs := in.q[name]
		if len(vs) > 1 {
			return "", invalid("parameter %s given %d times", name, len(vs))
		}
		if len(vs) == 0 {
			return "", nil
		}
		return vs[0], nil
	}
	raw, ok := in.body[name]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil && slices.Contains(numeric, name) {
		return n.String(), nil
	}
	return "", invalid("parameter %s must be a string", name)
}

// required returns a string parameter that must be given and not empty.
func (in *input) required(name string) (string, error) {
	s, err := in.str(name)
	if err == nil && s == "" {
		err = invalid("missing value for required parameter '%s'", name)
	}
	return s, err
}

// required2 returns two required string parameters, checked in order.
func (in *input) required2(a, b string) (string, string, error) {
	x, err := in.required(a)
	if err != nil {
		return "", "", err
	}
	y, err := in.required(b)
	if err != nil {
		return "", "", err
	}
	return x, y, nil
}

// strs returns a repeated string parameter (order_by, stages).
func (in *input) strs(name string) ([]string, error) {
	if in.body == nil {
		return in.q[name], nil
	}
	raw, ok := in.body[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, invalid("parameter %s must be a list of strings", name)
	}
	return l, nil
}

// integer returns an integer parameter, def when absent.
func (in *input) integer(name string, def int64) (int64, error) {
	s, err := in.str(name)
	if err != nil || s == "" {
		return def, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, invalid("parameter %s must be an integer, got %q", name, s)
	}
	return n, nil
}

// version returns the version parameter as a number.
func (in *input) version() (int, error) {
	s, err := in.required("version")
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, invalid("version must be a positive integer, got %q", s)
	}
	return n, nil
}

// nameVersion returns the required name and version parameters, checked
// in that order.
func (in *input) nameVersion() (string, int, error) {
	name, err := in.required("name")
	if err != nil {
		return "", 0, err
	}
	n, err := in.version()
	if err != nil {
		return "", 0, err
	}
	return name, n, nil
}

// boolean returns a boolean parameter (false when absent).
func (in *input) boolean(name string) (bool, error) {
	if in.body == nil {
		s := in.q.Get(name)
		if s == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, invalid("parameter %s must be true or false", name)
		}
		return b, nil
	}
	raw, ok := in.body[name]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if b, err := strconv.ParseBool(s); err == nil {
				return b, nil
			}
		}
		return false, invalid("parameter %s must be true or false", name)
	}
	return b, nil
}

// tags returns a tags parameter ([{key, value}]) as a map.
func (in *input) tags(name string) (map[string]string, error) {
	if in.body == nil {
		if in.q.Has(name) {
			return nil, invalid("parameter %s is sent in a JSON body", name)
		}
		return nil, nil
	}
	raw, ok := in.body[name]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var l []struct {
		Key   *string `json:"key"`
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, invalid("parameter %s must be a list of {key, value}", name)
	}
	out := make(map[string]string, len(l))
	for _, t := range l {
		if t.Key == nil || *t.Key == "" {
			return nil, invalid("a tag in %s has no key", name)
		}
		v := ""
		if t.Value != nil {
			v = *t.Value
		}
		out[*t.Key] = v
	}
	return out, nil
}
