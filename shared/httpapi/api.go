// Package httpapi serves the registry's REST API under /v1 as one
// http.Handler: the local server mounts it and the Lambda function adapts
// API Gateway events to it. It holds no server lifecycle of its own.
//
// Every route is one row of the routes table, which drives the mux, the
// permission check, and the tests that hold the OpenAPI document to it.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/modelreg/modelreg/shared/registry"
)

// Authenticator finds out who is calling. The local server uses Tokens;
// on AWS an authenticator maps the IAM caller of API Gateway to a role.
type Authenticator interface {
	// Authenticate returns the caller of r. Unauthenticated when r carries
	// no credentials or unknown ones; Unavailable or Internal when the
	// caller cannot be looked up right now.
	Authenticate(r *http.Request) (registry.Principal, error)
}

// DefaultMaxBodyBytes is the largest request body accepted unless
// Options.MaxBodyBytes says otherwise (artifacts never pass through the API).
const DefaultMaxBodyBytes int64 = 1 << 20

// Options configures the handler New returns.
type Options struct {
	// Logger receives one line per request (default: JSON on stderr).
	Logger *slog.Logger
	// Version is reported by GET /v1/health.
	Version string
	// MaxBodyBytes limits request bodies (default DefaultMaxBodyBytes);
	// larger ones are answered 413.
	MaxBodyBytes int64
}

// api holds what the handlers share.
type api struct {
	svc     *registry.Service
	auth    Authenticator
	log     *slog.Logger
	version string
	maxBody int64
}

// handlerFunc is one endpoint: it reads what it needs from in, calls the
// service with ctx (which carries the caller and, for a write with an
// Idempotency-Key, the idempotency request) and returns the response body.
type handlerFunc func(a *api, ctx context.Context, in *input) (any, error)

// route is one row of the API: method, path template, the permission it
// needs ("" for none: no authentication at all), the status it answers on
// success, and its handler.
type route struct {
	method string
	path   string
	perm   registry.Permission
	status int
	handle handlerFunc
	// maxBody, if set, replaces the API's body limit for this route.
	maxBody int64
	// body, if set, replaces wireBody: the document answered for the
	// service's result, fresh or replayed.
	body func(result any) (any, error)
	// etag answers with an ETag of the document and 304 Not Modified to
	// a request whose If-None-Match holds it (see replyETag).
	etag bool
}

// UploadMaxBodyBytes is the body limit of upload-session requests: they
// carry a SHA-256 per part (about 67 bytes of JSON each), and a sharded
// checkpoint of many large files has many parts. 8 MiB holds about 120,000
// digests, nearly 2 TB in 16 MiB parts, and stays under API Gateway's 10 MB.
const UploadMaxBodyBytes int64 = 8 << 20

// pattern is the ServeMux pattern of rt.
func (rt route) pattern() string { return rt.method + " " + rt.path }

const (
	permNone = registry.Permission("")
	read     = registry.PermRead
	publish  = registry.PermPublish
	admin    = registry.PermAdmin
	approve  = registry.PermApprove
	rollback = registry.PermRollback
)

// routes is the API. Keep it in step with openapi.json: a test fails when
// they differ.
var routes = []route{
	{method: "GET", path: "/v1/health", perm: permNone, status: http.StatusOK, handle: (*api).health},
	{method: "GET", path: "/v1/openapi.json", perm: permNone, status: http.StatusOK, handle: (*api).openAPI},
	{method: "GET", path: "/v1/whoami", perm: read, status: http.StatusOK, handle: (*api).whoami},

	{method: "POST", path: "/v1/models", perm: publish, status: http.StatusCreated, handle: (*api).createModel},
	{method: "GET", path: "/v1/models", perm: read, status: http.StatusOK, handle: (*api).listModels},
	{method: "GET", path: "/v1/models/{name}", perm: read, status: http.StatusOK, handle: (*api).getModel},
	{method: "PATCH", path: "/v1/models/{name}", perm: publish, status: http.StatusOK, handle: (*api).updateModel},
	{method: "DELETE", path: "/v1/models/{name}", perm: admin, status: http.StatusNoContent, handle: (*api).deleteModel},
	{method: "POST", path: "/v1/models/{name}/rename", perm: admin, status: http.StatusOK, handle: (*api).renameModel},

	{method: "POST", path: "/v1/models/{name}/versions", perm: publish, status: http.StatusCreated, handle: (*api).registerVersion},
	{method: "GET", path: "/v1/models/{name}/versions", perm: read, status: http.StatusOK, handle: (*api).listVersions},
	{method: "GET", path: "/v1/models/{name}/versions/{version}", perm: read, status: http.StatusOK, handle: (*api).getVersion},
	{method: "PATCH", path: "/v1/models/{name}/versions/{version}", perm: publish, status: http.StatusOK, handle: (*api).updateVersion},
	{method: "DELETE", path: "/v1/models/{name}/versions/{version}", perm: admin, status: http.StatusOK, handle: (*api).deleteVersion},

	{method: "POST", path: "/v1/models/{name}/versions/{version}/uploads", perm: publish, status: http.StatusCreated, handle: (*api).createUpload, maxBody: UploadMaxBodyBytes},
	{method: "POST", path: "/v1/models/{name}/versions/{version}/uploads/{upload_id}/complete", perm: publish, status: http.StatusOK, handle: (*api).completeUpload, body: completeBody},
	{method: "POST", path: "/v1/models/{name}/versions/{version}/uploads/{upload_id}/refresh", perm: publish, status: http.StatusOK, handle: (*api).refreshUpload},
	{method: "GET", path: "/v1/models/{name}/versions/{version}/download", perm: read, status: http.StatusOK, handle: (*api).download},

	{method: "POST", path: "/v1/models/{name}/versions/{version}/transitions", perm: publish, status: http.StatusOK, handle: (*api).transition, body: transitionBody},
	{method: "POST", path: "/v1/models/{name}/versions/{version}/metrics", perm: publish, status: http.StatusOK, handle: (*api).pushMetrics},
	{method: "GET", path: "/v1/models/{name}/stages/{stage}", perm: read, status: http.StatusOK, handle: (*api).stageVersion, etag: true},

	{method: "GET", path: "/v1/models/{name}/aliases", perm: read, status: http.StatusOK, handle: (*api).listAliases},
	{method: "GET", path: "/v1/models/{name}/aliases/{alias}", perm: read, status: http.StatusOK, handle: (*api).getAlias},
	{method: "PUT", path: "/v1/models/{name}/aliases/{alias}", perm: publish, status: http.StatusOK, handle: (*api).setAlias},
	{method: "DELETE", path: "/v1/models/{name}/aliases/{alias}", perm: publish, status: http.StatusNoContent, handle: (*api).deleteAlias},

	{method: "GET", path: "/v1/models/{name}/policy", perm: read, status: http.StatusOK, handle: (*api).getPolicy},
	{method: "PUT", path: "/v1/models/{name}/policy", perm: admin, status: http.StatusOK, handle: (*api).setPolicy},

	{method: "GET", path: "/v1/models/{name}/deploy-targets", perm: read, status: http.StatusOK, handle: (*api).listDeployTargets},
	{method: "POST", path: "/v1/models/{name}/deploy-targets", perm: admin, status: http.StatusCreated, handle: (*api).addDeployTarget},
	{method: "DELETE", path: "/v1/models/{name}/deploy-targets/{id}", perm: admin, status: http.StatusNoContent, handle: (*api).removeDeployTarget},
	{method: "POST", path: "/v1/models/{name}/deploy-targets/{id}/rotate-secret", perm: admin, status: http.StatusOK, handle: (*api).rotateTargetSecret},
	{method: "GET", path: "/v1/models/{name}/deployments", perm: read, status: http.StatusOK, handle: (*api).listDeployments},
	{method: "GET", path: "/v1/models/{name}/deployments/{id}", perm: read, status: http.StatusOK, handle: (*api).getDeployment},
	{method: "POST", path: "/v1/models/{name}/deployments/{id}/redeliver", perm: publish, status: http.StatusAccepted, handle: (*api).redeliverDeployment, body: redeliveryBody},

	{method: "GET", path: "/v1/models/{name}/history", perm: read, status: http.StatusOK, handle: (*api).history},
	{method: "GET", path: "/v1/models/{name}/compare", perm: read, status: http.StatusOK, handle: (*api).compare},

	{method: "GET", path: "/v1/approvals", perm: read, status: http.StatusOK, handle: (*api).listApprovals},
	{method: "GET", path: "/v1/approvals/{id}", perm: read, status: http.StatusOK, handle: (*api).getApproval},
	{method: "POST", path: "/v1/approvals/{id}/approve", perm: approve, status: http.StatusOK, handle: (*api).approveApproval},
	{method: "POST", path: "/v1/approvals/{id}/reject", perm: approve, status: http.StatusOK, handle: (*api).rejectApproval},
	{method: "POST", path: "/v1/approvals/{id}/cancel", perm: publish, status: http.StatusOK, handle: (*api).cancelApproval},
	{method: "POST", path: "/v1/models/{name}/rollback", perm: rollback, status: http.StatusOK, handle: (*api).rollback},
}

// New returns the REST API over svc. auth identifies callers of every
// route except /v1/health and /v1/openapi.json.
func New(svc *registry.Service, auth Authenticator, opts Options) http.Handler {
	a := &api{svc: svc, auth: auth, log: opts.Logger, version: opts.Version, maxBody: opts.MaxBodyBytes}
	if a.log == nil {
		a.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	return a.middleware(a.mux())
}

// mux routes every row of the table to its endpoint.
func (a *api) mux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern(), a.endpoint(rt))
	}
	return mux
}
