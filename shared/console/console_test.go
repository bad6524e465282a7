package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// Tokens of the test users.
const (
	readerToken    = "mr_reader_token_0123456789abcdef"
	publisherToken = "mr_publisher_token_0123456789abcdef"
	approverToken  = "mr_approver_token_0123456789abcdef"
	adminToken     = "mr_admin_token_0123456789abcdef"
)

// nasty is a user string that must render as text everywhere.
const nasty = "<script>alert(\"x\")</script> it's \"quoted\"\nsecond line"

// env is a console over a real service (SQLite, files, the local
// workflow engine) behind an httptest server.
type env struct {
	t   *testing.T
	svc *registry.Service
	srv *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := app.Config{
		Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, Events: app.EventsLocal, Workflow: app.WorkflowLocal,
		DataDir: t.TempDir(), PublicURL: "http://127.0.0.1:1", Secret: []byte(strings.Repeat("s", 32)),
		Embedded: embedded.Backends{}, Handlers: workflow.ServiceHandlers, Logger: quiet, SweepInterval: 50 * time.Millisecond,
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	toks := httpapi.NewTokens()
	for name, tok := range map[string]string{"rita": readerToken, "paul": publisherToken, "anna": approverToken, "root": adminToken} {
		role := map[string]registry.Role{"rita": registry.RoleReader, "paul": registry.RolePublisher, "anna": registry.RoleApprover, "root": registry.RoleAdmin}[name]
		if err := toks.Set(name, role, tok); err != nil {
			t.Fatal(err)
		}
	}
	c, err := console.New(a.Service, toks, console.Options{Key: a.ConsoleKey(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return &env{t: t, svc: a.Service, srv: srv}
}

func as(name string, role registry.Role) context.Context {
	return registry.WithPrincipal(context.Background(), registry.Principal{Name: name, Role: role})
}

// seed creates model "fraud" (description and tags holding nasty) with
// two READY versions in Staging, v1 and v2.
func (e *env) seed() {
	e.t.Helper()
	ctx := as("paul", registry.RolePublisher)
	if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: "fraud", Description: nasty, Owner: "risk", Tags: map[string]string{"team": nasty}}); err != nil {
		e.t.Fatal(err)
	}
	for i, acc := range []float64{0.91, 0.95} {
		_, err := e.svc.RegisterVersion(ctx, "fraud", registry.NewVersion{
			Description: nasty, Source: "s3://bucket/fraud/" + string(rune('1'+i)),
			Metrics: map[string]registry.Metric{"accuracy": {Value: acc, Source: registry.SourceValidation}, "loss": {Value: 1 - acc, Source: registry.SourceTraining}},
			Params:  map[string]string{"lr": []string{"0.1", "0.01"}[i], "depth": "6"},
			Tags:    map[string]string{"note": nasty},
			Lineage: registry.Lineage{Code: registry.CodeLineage{Repo: "https://git.example.com/risk/fraud", Commit: "0123456789abcdef0123456789abcdef01234567"}},
		})
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := e.svc.Transition(ctx, "fraud", i+1, registry.StageStaging, nasty); err != nil {
			e.t.Fatal(err)
		}
	}
}

// user is a browser-like client: a cookie jar and no redirects followed.
type user struct {
	e    *env
	c    *http.Client
	csrf string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in with token through the sign-in form.
func (e *env) signIn(token string) *user {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, body := u.get("/login")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("sign-in page has no csrf field: %s", body)
	}
	res, _ := u.post("/login", url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/models"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/models" {
		e.t.Fatalf("sign in answered %d (Location %q)", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = u.get("/models")
	m = csrfRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("signed-in page has no csrf field: %s", body)
	}
	u.csrf = m[1]
	return u
}

func (u *user) do(req *http.Request) (*http.Response, string) {
	u.e.t.Helper()
	res, err := u.c.Do(req)
	if err != nil {
		u.e.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func (u *user) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", u.e.srv.URL+path, nil)
	return u.do(req)
}

func (u *user) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", u.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return u.do(req)
}

// form posts with the session's CSRF token.
func (u *user) form(path string, kv ...string) (*http.Response, string) {
	f := url.Values{"csrf": {u.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return u.post(path, f)
}

func wantStatus(t *testing.T, what string, res *http.Response, body string, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s = %d, want %d: %.600s", what, res.StatusCode, status, body)
	}
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	anon := &user{e: e, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, _ := anon.get("/models/fraud?stage=Staging")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape("/models/fraud?stage=Staging") {
		t.Fatalf("a page without a session answered %d %q, want 303 to the sign-in page", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = anon.get("/")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/models" {
		t.Errorf("/ answered %d %q, want 303 /models", res.StatusCode, res.Header.Get("Location"))
	}

	// A wrong token is refused on the form; no session is set.
	jar, _ := cookiejar.New(nil)
	u := &user{e: e, c: &http.Client{Jar: jar, CheckRedirect: anon.c.CheckRedirect}}
	_, body := u.get("/login")
	csrf := csrfRE.FindStringSubmatch(body)[1]
	res, body = u.post("/login", url.Values{"csrf": {csrf}, "token": {"mr_wrong"}})
	wantStatus(t, "sign in with a wrong token", res, body, http.StatusUnauthorized)
	if !strings.Contains(body, "not valid") {
		t.Errorf("wrong token page does not say so: %s", body)
	}
	// The sign-in form itself needs its CSRF token (no login CSRF).
	res, body = u.post("/login", url.Values{"csrf": {"forged"}, "token": {readerToken}})
	wantStatus(t, "sign in with a forged form", res, body, http.StatusForbidden)

	// A good token: a sealed HttpOnly SameSite=Strict cookie, Secure on HTTPS.
	_, body = u.get("/login")
	csrf = csrfRE.FindStringSubmatch(body)[1]
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"csrf": {csrf}, "token": {readerToken}, "next": {"//evil.example.com/"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	res, _ = u.do(req)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/models" {
		t.Fatalf("sign in answered %d %q, want 303 /models (never another site)", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "modelreg_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v, want HttpOnly, Secure (HTTPS) and SameSite=Strict", session)
	}
	if strings.Contains(session.Value, readerToken) {
		t.Error("the session cookie shows the token in clear")
	}

	// Over plain HTTP the cookie is not Secure; the session works.
	r := e.signIn(readerToken)
	res, body = r.get("/models")
	wantStatus(t, "models signed in", res, body, http.StatusOK)
	if !strings.Contains(body, "rita") {
		t.Error("the page does not name the signed-in user")
	}

	// A changed cookie does not open.
	tampered := &user{e: e, c: &http.Client{CheckRedirect: anon.c.CheckRedirect}}
	req, _ = http.NewRequest("GET", e.srv.URL+"/models", nil)
	req.AddCookie(&http.Cookie{Name: "modelreg_session", Value: flip(session.Value, 20)})
	res, body = tampered.do(req)
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("a tampered session cookie answered %d, want 303 to sign in: %s %q", res.StatusCode, body, session.Value)
	}

	// Logout needs the CSRF token, then ends the session.
	res, _ = r.post("/logout", url.Values{"csrf": {"nope"}})
	wantStatus(t, "logout without csrf", res, "", http.StatusForbidden)
	res, _ = r.form("/logout")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout answered %d", res.StatusCode)
	}
	res, _ = r.get("/models")
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout /models answered %d, want 303 to sign in", res.StatusCode)
	}
}

// TestPages: every page answers 200 to a reader, and its errors with the
// right status.
func TestPages(t *testing.T) {
	e := newEnv(t)
	e.seed()
	p := e.signIn(publisherToken)
	_, body := p.form("/models/fraud/versions/2/transition", "to", "Production", "reason", "better")
	_ = body
	apr, err := e.svc.ListApprovals(context.Background(), registry.ApprovalPending, "fraud", "", 10)
	if err != nil || len(apr.Items) != 1 {
		t.Fatalf("pending approvals %v %v", apr.Items, err)
	}
	id := apr.Items[0].ID
	r := e.signIn(readerToken)
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/models", 200}, {"/models?prefix=fr", 200}, {"/models?page=forged", 400},
		{"/models/fraud", 200}, {"/models/fraud?stage=Staging", 200}, {"/models/fraud?stage=Nope", 400}, {"/models/nope", 404},
		{"/models/fraud/versions/1", 200}, {"/models/fraud/versions/9", 404}, {"/models/fraud/versions/x", 400}, {"/models/fraud/versions/01", 400},
		{"/models/fraud/history", 200}, {"/models/nope/history", 404},
		{"/models/fraud/compare?v=1&v=2", 200}, {"/models/fraud/compare?v=1,2&metric=loss", 200}, {"/models/fraud/compare?v=1", 400}, {"/models/fraud/compare?v=1&v=7", 404},
		{"/approvals", 200}, {"/approvals?status=APPROVED", 200}, {"/approvals?status=BOGUS", 400},
		{"/approvals/" + id, 200}, {"/approvals/nope", 404},
		{"/static/style.css", 200}, {"/static/app.js", 200},
		{"/models/fraud/versions/1/download", 400},
	} {
		res, body := r.get(c.path)
		if res.StatusCode != c.status {
			t.Errorf("GET %s = %d, want %d: %.300s", c.path, res.StatusCode, c.status, body)
		}
		if strings.HasSuffix(c.path, ".css") || strings.HasSuffix(c.path, ".js") {
			continue
		}
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s Content-Type %q", c.path, ct)
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("GET %s has no content security policy", c.path)
		}
	}
	// The model page: Production empty, Staging v2, the pending request.
	_, body = r.get("/models/fraud")
	for _, want := range []string{`href="/approvals/` + id + `"`, `id="cmp-1"`, `<th scope="col" class="num">accuracy</th>`} {
		if !strings.Contains(body, want) {
			t.Errorf("model page lacks %s", want)
		}
	}
}

// TestEscaping: a description, tag, reason or comment holding <script>,
// quotes or a newline renders as text on every page.
func TestEscaping(t *testing.T) {
	e := newEnv(t)
	e.seed()
	p := e.signIn(publisherToken)
	p.form("/models/fraud/versions/2/transition", "to", "Production", "reason", nasty)
	apr, _ := e.svc.ListApprovals(context.Background(), registry.ApprovalPending, "fraud", "", 10)
	id := apr.Items[0].ID
	a := e.signIn(approverToken)
	res, body := a.form("/approvals/"+id+"/decide", "decision", "reject", "comment", nasty)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject answered %d: %s", res.StatusCode, body)
	}
	escaped := "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; it&#39;s &#34;quoted&#34;\nsecond line"
	for _, path := range []string{"/models", "/models/fraud", "/models/fraud/versions/2", "/models/fraud/history", "/approvals", "/approvals/" + id} {
		_, body := a.get(path)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, `"quoted"`) {
			t.Errorf("%s renders the user string unescaped", path)
		}
		if !strings.Contains(body, escaped) {
			t.Errorf("%s does not show the user string as text", path)
		}
	}
	// A forced error carries user input escaped too.
	_, body = a.get("/models/%3Cscript%3E")
	if strings.Contains(body, "<script>") {
		t.Error("the not-found page echoes a name unescaped")
	}
}

// TestApprovalFlow: roles decide what is offered; a forced form gets the
// service's refusal; the approver's approval promotes; rollback works for
// those allowed; forged posts change nothing.
func TestApprovalFlow(t *testing.T) {
	e := newEnv(t)
	e.seed()
	p, a, r := e.signIn(publisherToken), e.signIn(approverToken), e.signIn(readerToken)

	// A reader sees no stage form and cannot force one.
	_, body := r.get("/models/fraud/versions/2")
	if strings.Contains(body, `id="transition"`) {
		t.Error("a reader is offered the stage form")
	}
	res, body := r.form("/models/fraud/versions/2/transition", "to", "Production", "reason", "x")
	wantStatus(t, "reader transition", res, body, http.StatusForbidden)

	// A forged post (no CSRF token, or from another origin) changes nothing.
	res, body = p.post("/models/fraud/versions/2/transition", url.Values{"to": {"Production"}, "reason": {"forged"}})
	wantStatus(t, "transition without csrf", res, body, http.StatusForbidden)
	req, _ := http.NewRequest("POST", e.srv.URL+"/models/fraud/versions/2/transition", strings.NewReader(url.Values{"csrf": {p.csrf}, "to": {"Production"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example.com")
	res, body = p.do(req)
	wantStatus(t, "transition from another origin", res, body, http.StatusForbidden)
	if apr, _ := e.svc.ListApprovals(context.Background(), "", "fraud", "", 10); len(apr.Items) != 0 {
		t.Fatalf("a forged post made approvals: %v", apr.Items)
	}

	// The publisher requests Production and lands on the approval page,
	// without the buttons (their own request).
	res, body = p.form("/models/fraud/versions/2/transition", "to", "Production", "reason", "v2 beats v1")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/approvals/") {
		t.Fatalf("request Production answered %d %q: %s", res.StatusCode, res.Header.Get("Location"), body)
	}
	loc := res.Header.Get("Location")
	id := strings.TrimPrefix(loc, "/approvals/")
	_, body = p.get(loc)
	if strings.Contains(body, `id="approve"`) || !strings.Contains(body, "You made this request") {
		t.Error("the requester is offered the approve button")
	}
	res, body = p.form(loc+"/decide", "decision", "approve", "comment", "me")
	wantStatus(t, "publisher forcing approve", res, body, http.StatusForbidden)
	_, body = r.get(loc)
	if strings.Contains(body, `id="approve"`) {
		t.Error("a reader is offered the approve button")
	}
	res, body = r.form(loc+"/decide", "decision", "approve", "comment", "me")
	wantStatus(t, "reader forcing approve", res, body, http.StatusForbidden)
	if !strings.Contains(body, "approve permission") {
		t.Errorf("the refusal is not the service's: %s", body)
	}
	// The approver sees the metrics against Production and the buttons.
	_, body = a.get(loc)
	if !strings.Contains(body, `id="approve"`) || !strings.Contains(body, `id="reject"`) {
		t.Fatal("the approver is not offered the buttons")
	}
	res, body = a.post(loc+"/decide", url.Values{"decision": {"approve"}, "comment": {"forged"}})
	wantStatus(t, "approve without csrf", res, body, http.StatusForbidden)
	res, _ = a.form(loc+"/decide", "decision", "approve", "comment", "looks good")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve answered %d", res.StatusCode)
	}
	waitProduction(t, e.svc, 2)
	_, body = a.get("/models/fraud")
	if !strings.Contains(body, `<p class="big"><a href="/models/fraud/versions/2">v2</a></p><p class="meta">since`) {
		t.Error("the model page does not show v2 in Production")
	}
	_, body = a.get("/models/fraud/history")
	if !strings.Contains(body, "looks good") || !strings.Contains(body, "approval "+id[:12]) {
		t.Error("the history does not show the approval and its comment")
	}
	_, body = a.get("/approvals")
	if !strings.Contains(body, "looks good") {
		t.Error("decided approvals do not show the comment")
	}

	// v1 to Production too, then roll back to v2: a publisher is not
	// offered the form (default policy: approvers roll back) and is refused.
	res, _ = p.form("/models/fraud/versions/1/transition", "to", "Production", "reason", "again")
	id1 := strings.TrimPrefix(res.Header.Get("Location"), "/approvals/")
	a.form("/approvals/"+id1+"/decide", "decision", "approve", "comment", "ok")
	waitProduction(t, e.svc, 1)
	_, body = p.get("/models/fraud")
	if strings.Contains(body, `id="rollback"`) {
		t.Error("a publisher is offered the rollback form")
	}
	res, body = p.form("/models/fraud/rollback", "reason", "bad")
	wantStatus(t, "publisher rollback", res, body, http.StatusForbidden)
	_, body = a.get("/models/fraud")
	if !strings.Contains(body, `id="rollback"`) {
		t.Fatal("an approver is not offered the rollback form")
	}
	res, body = a.form("/models/fraud/rollback", "reason", "")
	wantStatus(t, "rollback without a reason", res, body, http.StatusBadRequest)
	res, _ = a.form("/models/fraud/rollback", "reason", "v1 misbehaves")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rollback answered %d", res.StatusCode)
	}
	waitProduction(t, e.svc, 2)
	_, body = a.get("/models/fraud/history")
	if !strings.Contains(body, "v1 misbehaves") || !strings.Contains(body, "rollback</span>") {
		t.Error("history does not show the rollback")
	}
}

func waitProduction(t *testing.T, svc *registry.Service, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m, err := svc.GetModel(context.Background(), "fraud")
		if err == nil && m.ProductionVersion == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Production of fraud is %d (%v), want %d", m.ProductionVersion, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCompare: best values marked by registry's rules, params against
// Production, the chart with Production highlighted.
func TestCompare(t *testing.T) {
	e := newEnv(t)
	e.seed()
	p, a := e.signIn(publisherToken), e.signIn(approverToken)
	res, _ := p.form("/models/fraud/versions/1/transition", "to", "Production", "reason", "first")
	a.form(res.Header.Get("Location")+"/decide", "decision", "approve", "comment", "ok")
	waitProduction(t, e.svc, 1)
	_, body := a.get("/models/fraud/compare?v=1&v=2&metric=loss")
	for _, want := range []string{
		`<td class="num best"><span aria-label="best">★</span> 0.95</td>`, // accuracy: higher is better
		`<td class="num best"><span aria-label="best">★</span> 0.05</td>`, // loss: lower is better (0.95's complement)
		`class="bar prod" data-version="1"`,                               // Production highlighted
		`class="bar best" data-version="2"`,                               // best loss
		`<td class="changed" title="differs from Production">0.01`,        // lr differs from Production's
		`<option value="loss" selected>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("compare page lacks %s", want)
		}
	}
	if strings.Contains(body, `<td class="changed" title="differs from Production">6`) {
		t.Error("depth is marked as differing from Production")
	}
}

// flip changes the base64 character at i to another one.
func flip(s string, i int) string {
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}
