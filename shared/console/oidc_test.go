package console_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/registry"
)

// provider is an httptest OpenID Connect provider speaking Cognito's
// token endpoint and JWKS: it issues one code per authorize call and an
// RS256 ID token whose claims the test sets.
type provider struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	claims map[string]any
	codes  map[string]string // code → PKCE challenge
	// sign, if set, signs with another key (a forged token).
	sign *rsa.PrivateKey
}

const (
	clientID = "console-client"
	secret   = "client-secret"
)

func newProvider(t *testing.T) *provider {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{t: t, key: key, codes: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		r.ParseForm()
		p.mu.Lock()
		challenge, known := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || id != clientID || sec != secret || !known || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge ||
			r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != "http://console.test/login/callback" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"invalid_grant"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"id_token": p.token(), "access_token": "x", "token_type": "Bearer"})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *provider) token() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	in := enc(map[string]string{"alg": "RS256", "kid": "k1"}) + "." + enc(p.claims)
	sum := sha256.Sum256([]byte(in))
	k := p.key
	if p.sign != nil {
		k = p.sign
	}
	sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// authorize plays the user signing in at the provider: it takes the
// console's redirect and returns the callback URL with a fresh code.
func (p *provider) authorize(t *testing.T, location string) string {
	u, err := url.Parse(location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("client_id") != clientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("authorize request %s", location)
	}
	code := registry.RandomToken(8)
	p.mu.Lock()
	p.codes[code] = q.Get("code_challenge")
	p.mu.Unlock()
	return "/login/callback?" + url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
}

func TestOIDCSignIn(t *testing.T) {
	p := newProvider(t)
	quiet := slog.New(slog.DiscardHandler)
	a, err := app.New(context.Background(), app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem,
		DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1", Secret: []byte(strings.Repeat("s", 32)), Embedded: embedded.Backends{}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	issuer := "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
	c, err := console.New(a.Service, nil, console.Options{Key: a.ConsoleKey(), Logger: quiet, OIDC: &console.OIDC{
		Issuer: issuer, AuthorizeURL: "https://auth.example.com/oauth2/authorize", TokenURL: p.srv.URL + "/oauth2/token",
		JWKSURL: p.srv.URL + "/jwks.json", ClientID: clientID, ClientSecret: secret, RedirectURL: "http://console.test/login/callback",
		GroupRoles: map[string]registry.Role{"ml-approvers": registry.RoleApprover, "ml-readers": registry.RoleReader},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	valid := map[string]any{"iss": issuer, "aud": clientID, "exp": time.Now().Add(time.Hour).Unix(), "sub": "abc",
		"cognito:username": "alice", "cognito:groups": []string{"ml-readers", "ml-approvers"}, "token_use": "id"}

	// signIn runs the flow in a fresh browser and returns its client and
	// the callback's answer.
	signIn := func(claims map[string]any, tamper func(callback string) string) (*http.Client, *http.Response) {
		p.mu.Lock()
		p.claims = claims
		p.mu.Unlock()
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := cl.Get(srv.URL + "/login/oidc?next=/approvals")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "https://auth.example.com/oauth2/authorize?") {
			t.Fatalf("/login/oidc answered %d %q", res.StatusCode, res.Header.Get("Location"))
		}
		cb := p.authorize(t, res.Header.Get("Location"))
		if tamper != nil {
			cb = tamper(cb)
		}
		res, err = cl.Get(srv.URL + cb)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return cl, res
	}

	cl, res := signIn(valid, nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/approvals" {
		t.Fatalf("callback answered %d %q, want 303 /approvals", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = cl.Get(srv.URL + "/approvals")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `alice <span class="role">(approver)</span>`) {
		t.Fatalf("after OIDC sign-in /approvals = %d, want alice as approver (the most powerful group): %.400s", res.StatusCode, body)
	}

	for _, c := range []struct {
		name   string
		claims map[string]any
		tamper func(string) string
		forged bool
		status int
	}{
		{"state mismatch", valid, func(cb string) string { return strings.Replace(cb, "state=", "state=x", 1) }, false, http.StatusForbidden},
		{"code replayed or unknown", valid, func(cb string) string { return strings.Replace(cb, "code=", "code=x", 1) }, false, http.StatusUnauthorized},
		{"wrong audience", with(valid, "aud", "another-client"), nil, false, http.StatusUnauthorized},
		{"wrong issuer", with(valid, "iss", "https://evil.example.com"), nil, false, http.StatusUnauthorized},
		{"expired", with(valid, "exp", time.Now().Add(-time.Minute).Unix()), nil, false, http.StatusUnauthorized},
		{"no mapped group", with(valid, "cognito:groups", []string{"marketing"}), nil, false, http.StatusForbidden},
		{"forged signature", valid, nil, true, http.StatusUnauthorized},
	} {
		if c.forged {
			other, _ := rsa.GenerateKey(rand.Reader, 2048)
			p.mu.Lock()
			p.sign = other
			p.mu.Unlock()
		}
		cl, res := signIn(c.claims, c.tamper)
		p.mu.Lock()
		p.sign = nil
		p.mu.Unlock()
		if res.StatusCode != c.status {
			t.Errorf("%s: callback answered %d, want %d", c.name, res.StatusCode, c.status)
		}
		res, err := cl.Get(srv.URL + "/approvals")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: /approvals answered %d afterwards, want 303 to sign in (no session)", c.name, res.StatusCode)
		}
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
