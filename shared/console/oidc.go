package console

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// OIDC configures sign-in with OpenID Connect (an Amazon Cognito user
// pool on AWS): the console runs the authorization code flow with PKCE
// itself, verifies the ID token (RS256, against the provider's JWKS;
// issuer, audience, expiry) and maps the user's groups to a role.
type OIDC struct {
	// Issuer is the expected "iss" (Cognito:
	// https://cognito-idp.REGION.amazonaws.com/POOL_ID).
	Issuer string
	// AuthorizeURL, TokenURL and JWKSURL are the provider's endpoints
	// (Cognito: https://DOMAIN/oauth2/authorize, …/oauth2/token, and
	// ISSUER/.well-known/jwks.json).
	AuthorizeURL, TokenURL, JWKSURL string
	// ClientID and ClientSecret are the app client's ("" secret: a public
	// client).
	ClientID, ClientSecret string
	// RedirectURL is this console's /login/callback as the provider
	// knows it.
	RedirectURL string
	// GroupRoles maps a group (the "cognito:groups" claim, or "groups")
	// to a role; a user gets the most powerful role of their groups, and
	// is refused (Forbidden) without one.
	GroupRoles map[string]registry.Role
	// HTTPClient calls the token and JWKS endpoints (default: one with a
	// 10 s timeout).
	HTTPClient *http.Client
}

// oidcState is what the state cookie holds between the redirect to the
// provider and its callback.
type oidcState struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Next     string `json:"n"`
	Expires  int64  `json:"e"`
}

const stateCookie = "modelreg_oidc"

// oidcLogin sends the browser to the provider's authorize endpoint.
func (c *Console) oidcLogin(w http.ResponseWriter, r *http.Request) {
	o := c.oidc
	st := oidcState{State: registry.RandomToken(16), Verifier: registry.RandomToken(32),
		Next: nextPath(r.URL.Query().Get("next")), Expires: c.now().Add(10 * time.Minute).Unix()}
	plain, _ := json.Marshal(st)
	c.setCookie(w, r, stateCookie, c.box.seal(plain), 600)
	sum := sha256.Sum256([]byte(st.Verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {o.ClientID}, "redirect_uri": {o.RedirectURL},
		"scope": {"openid email profile"}, "state": {st.State},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(o.AuthorizeURL, "?") {
		sep = "&"
	}
	http.Redirect(w, r, o.AuthorizeURL+sep+q.Encode(), http.StatusSeeOther)
}

// oidcCallback exchanges the code for an ID token, verifies it and starts
// a session holding the principal it names.
func (c *Console) oidcCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ck, err := r.Cookie(stateCookie)
	var st oidcState
	if err == nil {
		plain, ok := c.box.open(ck.Value)
		if !ok || json.Unmarshal(plain, &st) != nil {
			st = oidcState{}
		}
	}
	c.setCookie(w, r, stateCookie, "", -1)
	if st.State == "" || q.Get("state") != st.State || c.now().Unix() >= st.Expires {
		c.fail(w, r, registry.Errorf(registry.Forbidden, "sign-in state does not match: start again from the sign-in page"))
		return
	}
	if e := q.Get("error"); e != "" {
		c.fail(w, r, registry.Errorf(registry.Unauthenticated, "the identity provider refused the sign-in: %s", e))
		return
	}
	raw, err := c.exchange(r.Context(), q.Get("code"), st.Verifier)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p, err := c.verifyIDToken(r.Context(), raw)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.startSession(w, r, sessionData{Name: p.Name, Role: string(p.Role), Groups: p.Groups})
	c.log.Info("console sign-in", "caller", p.Name, "role", string(p.Role), "via", "oidc")
	http.Redirect(w, r, st.Next, http.StatusSeeOther)
}

func (o *OIDC) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// exchange trades an authorization code for the ID token.
func (c *Console) exchange(ctx context.Context, code, verifier string) (string, error) {
	o := c.oidc
	if code == "" {
		return "", registry.Errorf(registry.Invalid, "the identity provider sent no code")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {o.RedirectURL},
		"client_id": {o.ClientID}, "code_verifier": {verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", registry.Wrap(registry.Internal, err, "token request")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if o.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(o.ClientID), url.QueryEscape(o.ClientSecret))
	}
	res, err := o.client().Do(req)
	if err != nil {
		return "", registry.Wrap(registry.Unavailable, err, "the identity provider's token endpoint is unreachable")
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return "", registry.Errorf(registry.Unauthenticated, "the identity provider refused the code (%d)", res.StatusCode)
	}
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.IDToken == "" {
		return "", registry.Errorf(registry.Unauthenticated, "the identity provider answered without an ID token")
	}
	return tok.IDToken, nil
}

// verifyIDToken checks raw's RS256 signature against the provider's
// keys, its issuer, audience and expiry, and maps its groups to a role.
func (c *Console) verifyIDToken(ctx context.Context, raw string) (registry.Principal, error) {
	bad := func(why string) (registry.Principal, error) {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "the ID token is not valid: %s", why)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return bad("not a JWT")
	}
	var hdr struct{ Alg, Kid string }
	if err := decodeSegment(parts[0], &hdr); err != nil || hdr.Alg != "RS256" {
		return bad("want an RS256 signature")
	}
	key, err := c.jwks.key(ctx, c.oidc, hdr.Kid)
	if err != nil {
		return registry.Principal{}, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return bad("bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return bad("signature does not verify")
	}
	var cl struct {
		Iss      string          `json:"iss"`
		Aud      json.RawMessage `json:"aud"`
		Exp      int64           `json:"exp"`
		Sub      string          `json:"sub"`
		Email    string          `json:"email"`
		Username string          `json:"cognito:username"`
		Cognito  []string        `json:"cognito:groups"`
		Groups   []string        `json:"groups"`
	}
	if err := decodeSegment(parts[1], &cl); err != nil {
		return bad("unreadable claims")
	}
	if cl.Iss != c.oidc.Issuer {
		return bad("issuer " + cl.Iss)
	}
	var auds []string
	if json.Unmarshal(cl.Aud, &auds) != nil {
		var one string
		_ = json.Unmarshal(cl.Aud, &one)
		auds = []string{one}
	}
	okAud := false
	for _, a := range auds {
		okAud = okAud || a == c.oidc.ClientID
	}
	if !okAud {
		return bad("not issued to this console")
	}
	if c.now().Unix() >= cl.Exp {
		return bad("expired")
	}
	name := cl.Username
	if name == "" {
		name = cl.Email
	}
	if name == "" {
		name = cl.Sub
	}
	if err := registry.ValidateLine("user name", name, 128); err != nil || name == "" {
		return bad("no usable user name")
	}
	groups := append(cl.Cognito, cl.Groups...)
	rank := map[registry.Role]int{registry.RoleReader: 1, registry.RolePublisher: 2, registry.RoleApprover: 3, registry.RoleAdmin: 4}
	var role registry.Role
	for _, g := range groups {
		if r, ok := c.oidc.GroupRoles[g]; ok && rank[r] > rank[role] {
			role = r
		}
	}
	if role == "" {
		return registry.Principal{}, registry.Errorf(registry.Forbidden, "%s belongs to no group this registry gives a role to", name)
	}
	return registry.Principal{Name: name, Role: role, Groups: groups}, nil
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// jwksCache holds the provider's signing keys by key id, fetched again
// when a token names a key it does not know (key rotation), at most once
// a minute.
type jwksCache struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time
}

func (j *jwksCache) key(ctx context.Context, o *OIDC, kid string) (*rsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if time.Since(j.fetched) < time.Minute && j.keys != nil {
		return nil, registry.Errorf(registry.Unauthenticated, "the ID token names an unknown key %q", kid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.JWKSURL, nil)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "jwks request")
	}
	res, err := o.client().Do(req)
	if err != nil {
		return nil, registry.Wrap(registry.Unavailable, err, "the identity provider's keys are unreachable")
	}
	defer res.Body.Close()
	var set struct {
		Keys []struct{ Kty, Kid, N, E string } `json:"keys"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set) != nil {
		return nil, registry.Errorf(registry.Unavailable, "the identity provider's keys are unreadable (%d)", res.StatusCode)
	}
	j.keys, j.fetched = map[string]*rsa.PublicKey{}, time.Now()
	for _, k := range set.Keys {
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if k.Kty != "RSA" || err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		j.keys[k.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	return nil, registry.Errorf(registry.Unauthenticated, "the ID token names an unknown key %q", kid)
}

// check reports what is missing from o.
func (o *OIDC) check() error {
	for name, v := range map[string]string{"Issuer": o.Issuer, "AuthorizeURL": o.AuthorizeURL, "TokenURL": o.TokenURL,
		"JWKSURL": o.JWKSURL, "ClientID": o.ClientID, "RedirectURL": o.RedirectURL} {
		if v == "" {
			return fmt.Errorf("console: OIDC.%s is required", name)
		}
	}
	if len(o.GroupRoles) == 0 {
		return fmt.Errorf("console: OIDC.GroupRoles maps no group to a role")
	}
	return nil
}
