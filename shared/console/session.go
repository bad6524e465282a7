package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Cookie names.
const (
	sessionCookie = "modelreg_session"
	// loginCookie carries the sign-in form's CSRF token before there is
	// a session (double submit).
	loginCookie = "modelreg_login"
)

// sealer seals and opens cookie values with AES-256-GCM under a key
// derived from Options.Key: a value that was not sealed with the key, or
// was changed, does not open.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) < 32 {
		return nil, errors.New("console: Key must be at least 32 bytes")
	}
	sub := func(purpose string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(purpose))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(sub("console-session-seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(plain []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(sessionCookie)))
}

func (s *sealer) open(value string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil, false
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(sessionCookie))
	return plain, err == nil
}

// sessionData is what the session cookie holds, sealed: the pasted token
// (checked again on every request), or the principal an OIDC ID token
// named at sign-in.
type sessionData struct {
	Token   string   `json:"t,omitempty"`
	Name    string   `json:"n,omitempty"`
	Role    string   `json:"r,omitempty"`
	Groups  []string `json:"g,omitempty"`
	Expires int64    `json:"e"` // unix seconds
	CSRF    string   `json:"c"`
}

// startSession seals d (with a fresh CSRF token and the session's
// expiry) into the session cookie.
func (c *Console) startSession(w http.ResponseWriter, r *http.Request, d sessionData) {
	d.Expires, d.CSRF = c.now().Add(c.ttl).Unix(), registry.RandomToken(16)
	plain, _ := json.Marshal(d)
	c.setCookie(w, r, sessionCookie, c.box.seal(plain), int(c.ttl/time.Second))
}

// session returns the signed-in user of r: the sealed token, checked with
// the Authenticator now. Unauthenticated when there is no session, it
// expired or does not open, or the token no longer works.
func (c *Console) session(r *http.Request) (viewer, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return viewer{}, registry.Errorf(registry.Unauthenticated, "sign in first")
	}
	plain, ok := c.box.open(ck.Value)
	var d sessionData
	if !ok || json.Unmarshal(plain, &d) != nil || (d.Token == "" && d.Name == "") || d.CSRF == "" {
		return viewer{}, registry.Errorf(registry.Unauthenticated, "your session is not valid: sign in again")
	}
	if c.now().Unix() >= d.Expires {
		return viewer{}, registry.Errorf(registry.Unauthenticated, "your session expired: sign in again")
	}
	if d.Token == "" {
		role, err := registry.ParseRole(d.Role)
		if err != nil {
			return viewer{}, registry.Errorf(registry.Unauthenticated, "your session is not valid: sign in again")
		}
		return viewer{Principal: registry.Principal{Name: d.Name, Role: role, Groups: d.Groups}, CSRF: d.CSRF}, nil
	}
	if c.auth == nil {
		return viewer{}, registry.Errorf(registry.Unauthenticated, "token sign-in is off here: sign in again")
	}
	p, err := c.authenticate(r, d.Token)
	if err != nil {
		return viewer{}, err
	}
	return viewer{Principal: p, CSRF: d.CSRF}, nil
}

// authenticate asks the Authenticator who token belongs to.
func (c *Console) authenticate(r *http.Request, token string) (registry.Principal, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/whoami", nil)
	if err != nil {
		return registry.Principal{}, err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Authorization", "Bearer "+token)
	return c.auth.Authenticate(req)
}

// secure reports whether r came over HTTPS (directly or, behind API
// Gateway or a proxy, as X-Forwarded-Proto says).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(sessionCookie); err == nil {
		c.setCookie(w, r, sessionCookie, "", -1)
	}
}

// checkCSRF refuses a form whose csrf field is not want, or that another
// origin sent. Forbidden.
func checkCSRF(r *http.Request, want string) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return registry.Errorf(registry.Forbidden, "refused a form sent from another site (%s)", o)
		}
	}
	got := r.PostForm.Get("csrf")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return registry.Errorf(registry.Forbidden, "refused a form without this session's CSRF token: reload the page and try again")
	}
	return nil
}

// safeNext returns p if it is a path on this site, else "/models": the
// sign-in page never redirects elsewhere.
func safeNext(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/models"
	}
	return url.QueryEscape(p)
}

func nextPath(raw string) string {
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.HasPrefix(raw, "/\\") || strings.ContainsAny(raw, "\r\n") {
		return "/models"
	}
	return raw
}

// loginPage shows the sign-in form (paste a token).
func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, "")
}

func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	tok := registry.RandomToken(16)
	c.setCookie(w, r, loginCookie, tok, 600)
	c.render(w, r, status, "login", map[string]any{
		"Title": "Sign in", "CSRF": tok, "Next": nextPath(r.URL.Query().Get("next")), "Problem": problem,
		"OIDC": c.oidc != nil, "Tokens": c.auth != nil,
	})
}

// login checks the pasted token and starts a session.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, registry.Errorf(registry.Invalid, "unreadable form: %v", err))
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || checkCSRF(r, ck.Value) != nil {
		c.fail(w, r, registry.Errorf(registry.Forbidden, "refused a sign-in form that this site did not show you: reload the sign-in page"))
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		c.showLogin(w, r, http.StatusBadRequest, "Paste your API token.")
		return
	}
	if c.auth == nil {
		c.showLogin(w, r, http.StatusBadRequest, "This registry signs you in with single sign-on.")
		return
	}
	p, err := c.authenticate(r, token)
	if err != nil {
		if registry.IsCode(err, registry.Unauthenticated) {
			c.showLogin(w, r, http.StatusUnauthorized, "That token is not valid (unknown or expired).")
			return
		}
		c.fail(w, r, err)
		return
	}
	c.startSession(w, r, sessionData{Token: token})
	c.setCookie(w, r, loginCookie, "", -1)
	c.log.Info("console sign-in", "caller", p.Name, "role", string(p.Role))
	http.Redirect(w, r, nextPath(r.PostForm.Get("next")), http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
