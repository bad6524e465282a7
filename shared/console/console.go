// Package console is the registry's web console: server-rendered pages at
// / for reviewers and approvers (models, versions, compare, approvals,
// history, rollback). Pages call the same *registry.Service as the REST
// API, so the rules are the service's; the console only chooses what to
// offer (an approve button to an approver who did not make the request)
// and shows the service's refusal when a form is forced.
//
// Templates, styles and the little script it has are embedded: it needs
// no build step and no network. Reading works without JavaScript.
//
// Sign-in: the user pastes an API token once; the console checks it with
// the server's Authenticator and keeps it in a sealed (AES-GCM, so signed
// and unreadable) HttpOnly, SameSite=Strict cookie, Secure on HTTPS.
// Every request re-authenticates the token, so a revoked token or a
// changed role takes effect at once. Every form carries a CSRF token
// bound to the session.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Authenticator finds out who a token belongs to. httpapi.Tokens (and any
// httpapi.Authenticator) satisfies it: the console hands it a request
// carrying the signed-in token as "Authorization: Bearer TOKEN".
type Authenticator interface {
	// Authenticate returns the caller of r. Unauthenticated for no or
	// unknown credentials; Unavailable or Internal when the caller cannot
	// be looked up right now.
	Authenticate(r *http.Request) (registry.Principal, error)
}

// DefaultSessionTTL is how long a sign-in lasts unless Options say
// otherwise.
const DefaultSessionTTL = 12 * time.Hour

// Options configures the handler New returns.
type Options struct {
	// Key seals session cookies (at least 32 bytes). Derive it from the
	// deployment's secret for this purpose only (app.App.ConsoleKey).
	Key []byte
	// SessionTTL is how long a sign-in lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// Logger receives errors the user sees only as "internal error".
	Logger *slog.Logger
	// Now returns the current time (default time.Now).
	Now func() time.Time
	// OIDC, if set, offers sign-in with OpenID Connect (Cognito on AWS)
	// besides pasting a token.
	OIDC *OIDC
}

// Console serves the web console. Its zero value is not usable: call New.
type Console struct {
	svc   *registry.Service
	auth  Authenticator
	box   *sealer
	ttl   time.Duration
	log   *slog.Logger
	now   func() time.Time
	pages map[string]*template.Template
	mux   *http.ServeMux
	oidc  *OIDC
	jwks  jwksCache
}

// New returns the console over svc, identifying users who paste a token
// with auth and, if opts.OIDC is set, those who sign in with OIDC. auth
// may be nil only with OIDC.
func New(svc *registry.Service, auth Authenticator, opts Options) (*Console, error) {
	if svc == nil || (auth == nil && opts.OIDC == nil) {
		return nil, errors.New("console: a service and an authenticator (or OIDC) are required")
	}
	if opts.OIDC != nil {
		if err := opts.OIDC.check(); err != nil {
			return nil, err
		}
	}
	box, err := newSealer(opts.Key)
	if err != nil {
		return nil, err
	}
	c := &Console{svc: svc, auth: auth, box: box, ttl: opts.SessionTTL, log: opts.Logger, now: opts.Now, oidc: opts.OIDC}
	if c.ttl <= 0 {
		c.ttl = DefaultSessionTTL
	}
	if c.log == nil {
		c.log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.mux = c.routes()
	return c, nil
}

// routes is every page and form of the console.
func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/models", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.HandleFunc("POST /logout", c.form(c.logout))
	if c.oidc != nil {
		mux.HandleFunc("GET /login/oidc", c.oidcLogin)
		mux.HandleFunc("GET /login/callback", c.oidcCallback)
	}

	mux.HandleFunc("GET /models", c.page(c.modelsPage))
	mux.HandleFunc("GET /models/{name}", c.page(c.modelPage))
	mux.HandleFunc("GET /models/{name}/history", c.page(c.historyPage))
	mux.HandleFunc("GET /models/{name}/compare", c.page(c.comparePage))
	mux.HandleFunc("GET /models/{name}/versions/{version}", c.page(c.versionPage))
	mux.HandleFunc("GET /models/{name}/versions/{version}/download", c.page(c.download))
	mux.HandleFunc("POST /models/{name}/versions/{version}/transition", c.form(c.transition))
	mux.HandleFunc("POST /models/{name}/rollback", c.form(c.rollback))
	mux.HandleFunc("GET /approvals", c.page(c.approvalsPage))
	mux.HandleFunc("GET /approvals/{id}", c.page(c.approvalPage))
	mux.HandleFunc("POST /approvals/{id}/decide", c.form(c.decide))
	return mux
}

// ServeHTTP answers r with a console page, setting the headers every
// page carries: a strict content security policy (no inline script, no
// other origin), no framing, no sniffing.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// viewer is the signed-in user of a request.
type viewer struct {
	registry.Principal
	CSRF string
}

// can reports whether the viewer's role has permission p.
func (v viewer) Can(p registry.Permission) bool { return v.Role.Allows(p) }

type viewerKey struct{}

func viewerFrom(ctx context.Context) viewer {
	v, _ := ctx.Value(viewerKey{}).(viewer)
	return v
}

// pageFunc renders one page for a signed-in user, or returns an error
// that becomes an error page with its status.
type pageFunc func(w http.ResponseWriter, r *http.Request) error

// page wraps a GET handler: it requires a session (else it redirects to
// the sign-in page) and the read permission.
func (c *Console) page(f pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := c.session(r)
		if err != nil {
			if registry.IsCode(err, registry.Unauthenticated) {
				c.clearSession(w, r)
				http.Redirect(w, r, "/login?next="+safeNext(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.fail(w, r, err)
			return
		}
		if !v.Can(registry.PermRead) {
			c.fail(w, r, registry.Errorf(registry.Forbidden, "%s has role %q, which may not read", v.Name, v.Role))
			return
		}
		ctx := context.WithValue(registry.WithPrincipal(r.Context(), v.Principal), viewerKey{}, v)
		if err := f(w, r.WithContext(ctx)); err != nil {
			c.fail(w, r.WithContext(ctx), err)
		}
	}
}

// form wraps a POST handler: it requires a session and the session's CSRF
// token in the form (a forged post is refused with 403 and changes
// nothing), then calls f, which redirects on success.
func (c *Console) form(f pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, registry.Errorf(registry.Invalid, "unreadable form: %v", err))
			return
		}
		v, err := c.session(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if err := checkCSRF(r, v.CSRF); err != nil {
			c.fail(w, r, err)
			return
		}
		ctx := context.WithValue(registry.WithPrincipal(r.Context(), v.Principal), viewerKey{}, v)
		if err := f(w, r.WithContext(ctx)); err != nil {
			c.fail(w, r.WithContext(ctx), err)
		}
	}
}

// maxFormBytes bounds a form post (a comment or reason is at most a few KB).
const maxFormBytes = 64 << 10

// statusOf maps a registry error code to the HTTP status of its page.
func statusOf(code registry.Code) int {
	switch code {
	case registry.Invalid:
		return http.StatusBadRequest
	case registry.Unauthenticated:
		return http.StatusUnauthorized
	case registry.Forbidden:
		return http.StatusForbidden
	case registry.NotFound:
		return http.StatusNotFound
	case registry.Conflict:
		return http.StatusConflict
	case registry.TooLarge:
		return http.StatusRequestEntityTooLarge
	case registry.NotImplemented:
		return http.StatusNotImplemented
	case registry.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail renders err as an error page: the service's message for a client
// mistake, "internal error" (logged in full) otherwise.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := registry.ErrorCode(err)
	status := statusOf(code)
	msg := registry.ErrorMessage(err)
	if status == http.StatusInternalServerError {
		c.log.Error("console", "path", r.URL.Path, "error", err.Error())
		msg = "internal error"
	}
	c.render(w, r, status, "error", map[string]any{"Title": http.StatusText(status), "Status": status, "Code": string(code), "Message": msg})
}

// render writes the named page with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data map[string]any) {
	t, ok := c.pages[name]
	if !ok {
		panic(fmt.Sprintf("console: no page %q", name))
	}
	data["Viewer"] = viewerFrom(r.Context())
	data["Path"] = r.URL.Path
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		c.log.Error("console render", "page", name, "error", err.Error())
	}
}
