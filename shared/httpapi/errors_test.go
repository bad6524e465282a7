package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

const sha0 = "0000000000000000000000000000000000000000000000000000000000000000"

func TestErrorsChangeNothing(t *testing.T) {
	e := newEnv(t, withNamePolicy(`^team_[a-z0-9_]+$`, "names are team_<model>"))
	e.seedModel("team_model", 2)
	// Version 3 waits for its artifacts.
	if _, err := e.svc.RegisterVersion(as("adam"), "team_model", registry.NewVersion{}); err != nil {
		t.Fatal(err)
	}
	e.seedProduction("team_model", 2)
	e.seedPendingApproval("team_model", 1)
	paul, rita, anna, adam := tok("paul"), tok("rita"), tok("anna"), tok("adam")
	big := `{"name":"team_big","description":"` + strings.Repeat("x", int(DefaultMaxBodyBytes)) + `"}`
	upload := func(path string) string {
		return fmt.Sprintf(`{"files":[{"path":%q,"size":1,"sha256":%q}]}`, path, sha0)
	}
	const v = "/v1/models/team_model/versions"
	cases := []struct {
		name   string
		r      req
		status int
		code   registry.Code
		msg    string // the message contains this
	}{
		{"invalid model name", req{"POST", "/v1/models", paul, `{"name":"-bad"}`, nil}, 400, registry.Invalid, "invalid model name"},
		{"naming policy", req{"POST", "/v1/models", paul, `{"name":"Fraud"}`, nil}, 400, registry.Invalid, "names are team_<model>"},
		{"unknown field", req{"POST", "/v1/models", paul, `{"name":"team_new","colour":"red"}`, nil}, 400, registry.Invalid, `unknown field "colour"`},
		{"unknown nested field", req{"POST", v, paul, `{"lineage":{"code":{"sha":"abc"}}}`, nil}, 400, registry.Invalid, `unknown field "sha"`},
		{"unknown metric field", req{"POST", v, paul, `{"metrics":{"auc":{"value":1,"src":"x"}}}`, nil}, 400, registry.Invalid, `unknown field "src"`},
		{"metric without value", req{"POST", v, paul, `{"metrics":{"auc":{"source":"validation"}}}`, nil}, 400, registry.Invalid, "value"},
		{"metric null", req{"POST", v, paul, `{"metrics":{"auc":null}}`, nil}, 400, registry.Invalid, "not a number"},
		{"metric not a number", req{"POST", v, paul, `{"metrics":{"auc":"high"}}`, nil}, 400, registry.Invalid, "not a number"},
		{"metric unknown source", req{"POST", v, paul, `{"metrics":{"auc":{"value":1,"source":"guess"}}}`, nil}, 400, registry.Invalid, "unknown source"},
		{"field of the wrong type", req{"POST", "/v1/models", paul, `{"name":5}`, nil}, 400, registry.Invalid, "name must be a string"},
		{"not JSON", req{"POST", "/v1/models", paul, `name=team_x`, nil}, 400, registry.Invalid, "JSON object"},
		{"broken JSON", req{"POST", "/v1/models", paul, `{"name":`, nil}, 400, registry.Invalid, "JSON"},
		{"array body", req{"POST", "/v1/models", paul, `[{"name":"team_x"}]`, nil}, 400, registry.Invalid, "JSON object"},
		{"empty body", req{"POST", "/v1/models", paul, ``, nil}, 400, registry.Invalid, "empty"},
		{"trailing garbage", req{"POST", "/v1/models", paul, `{"name":"team_new"} garbage`, nil}, 400, registry.Invalid, "after the JSON object"},
		{"two objects", req{"POST", "/v1/models", paul, `{"name":"team_new"}{"name":"team_two"}`, nil}, 400, registry.Invalid, "after the JSON object"},
		{"oversized body", req{"POST", "/v1/models", paul, big, nil}, 413, registry.TooLarge, "larger than"},
		{"oversized body without length", req{"POST", "/v1/models", paul, io.MultiReader(strings.NewReader(big)), nil}, 413, registry.TooLarge, "larger than"},
		{"non-JSON content type", req{"POST", "/v1/models", paul, `{"name":"team_new"}`, map[string]string{"Content-Type": "text/plain"}}, 415, unsupportedMediaType, "Content-Type"},
		{"body on an action that takes none", req{"POST", v + "/3/uploads/X/complete", paul, `{"force":true}`, nil}, 400, registry.Invalid, `unknown field "force"`},
		{"version not a number", req{"GET", v + "/abc", rita, nil, nil}, 400, registry.Invalid, "invalid version"},
		{"version zero", req{"GET", v + "/0", rita, nil, nil}, 400, registry.Invalid, "invalid version"},
		{"version negative", req{"PATCH", v + "/-1", paul, `{}`, nil}, 400, registry.Invalid, "invalid version"},
		{"version with leading zero", req{"POST", v + "/01/transitions", paul, `{"to":"Staging"}`, nil}, 400, registry.Invalid, "invalid version"},
		{"unknown stage in path", req{"GET", "/v1/models/team_model/stages/Prod", rita, nil, nil}, 400, registry.Invalid, "unknown stage"},
		{"unknown stage in transition", req{"POST", v + "/1/transitions", paul, `{"to":"Prod"}`, nil}, 400, registry.Invalid, "unknown stage"},
		{"transition without to", req{"POST", v + "/1/transitions", paul, `{"reason":"x"}`, nil}, 400, registry.Invalid, "to is required"},
		{"unknown stage filter", req{"GET", v + "?stage=Prod", rita, nil, nil}, 400, registry.Invalid, "unknown stage"},
		{"unknown status filter", req{"GET", v + "?status=DONE", rita, nil, nil}, 400, registry.Invalid, "unknown status"},
		{"bad at", req{"GET", "/v1/models/team_model/stages/Production?at=yesterday", rita, nil, nil}, 400, registry.Invalid, "RFC 3339"},
		{"forged model page_token", req{"GET", "/v1/models?page_token=dGVhbV96.AAAAAAAAAAAAAAAAAAAAAA", rita, nil, nil}, 400, registry.Invalid, "page_token"},
		{"forged version page_token", req{"GET", v + "?page_token=garbage", rita, nil, nil}, 400, registry.Invalid, "page_token"},
		{"page_size zero", req{"GET", "/v1/models?page_size=0", rita, nil, nil}, 400, registry.Invalid, "page_size"},
		{"page_size too big", req{"GET", v + "?page_size=1001", rita, nil, nil}, 400, registry.Invalid, "page_size"},
		{"page_size not a number", req{"GET", "/v1/models/team_model/history?page_size=ten", rita, nil, nil}, 400, registry.Invalid, "page_size"},
		{"history of version zero", req{"GET", "/v1/models/team_model/history?version=0", rita, nil, nil}, 400, registry.Invalid, "invalid version"},
		{"compare without versions", req{"GET", "/v1/models/team_model/compare", rita, nil, nil}, 400, registry.Invalid, "versions is required"},
		{"compare one version", req{"GET", "/v1/models/team_model/compare?versions=1", rita, nil, nil}, 400, registry.Invalid, "2 to 20"},
		{"compare a bad number", req{"GET", "/v1/models/team_model/compare?versions=1,x", rita, nil, nil}, 400, registry.Invalid, "invalid version"},
		{"compare a bad ranking", req{"GET", "/v1/models/team_model/compare?versions=1,2&by=accuracy:up", rita, nil, nil}, 400, registry.Invalid, "ranking"},
		{"unknown approval status", req{"GET", "/v1/approvals?status=maybe", rita, nil, nil}, 400, registry.Invalid, "approval status"},
		{"wrong method", req{"PUT", "/v1/models", paul, `{}`, nil}, 405, methodNotAllowed, "PUT"},
		{"unknown route", req{"GET", "/v1/nope", rita, nil, nil}, 404, registry.NotFound, "no route"},
		{"unknown sub-route", req{"POST", "/v1/models/team_model/versions/1/promote", paul, `{}`, nil}, 404, registry.NotFound, "no route"},
		{"missing auth", req{"POST", "/v1/models", "", `{"name":"team_new"}`, nil}, 401, registry.Unauthenticated, "Authorization"},
		{"malformed auth", req{"POST", "/v1/models", "", `{"name":"team_new"}`, map[string]string{"Authorization": "Basic cGF1bDpwdw=="}}, 401, registry.Unauthenticated, "malformed"},
		{"unknown token", req{"POST", "/v1/models", "mr_0123456789abcdef", `{"name":"team_new"}`, nil}, 401, registry.Unauthenticated, "unknown token"},
		{"reader cannot publish", req{"POST", "/v1/models", rita, `{"name":"team_new"}`, nil}, 403, registry.Forbidden, "publish"},
		{"approver cannot publish", req{"POST", v, anna, `{}`, nil}, 403, registry.Forbidden, "publish"},
		{"publisher cannot delete a model", req{"DELETE", "/v1/models/team_model", paul, nil, nil}, 403, registry.Forbidden, "admin"},
		{"model not found", req{"GET", "/v1/models/team_nope", rita, nil, nil}, 404, registry.NotFound, "team_nope"},
		{"version not found", req{"GET", v + "/99", rita, nil, nil}, 404, registry.NotFound, "version 99"},
		{"register on a missing model", req{"POST", "/v1/models/team_nope/versions", paul, `{}`, nil}, 404, registry.NotFound, "team_nope"},
		{"alias on a missing version", req{"PUT", "/v1/models/team_model/aliases/champion", paul, `{"version":99}`, nil}, 404, registry.NotFound, "version 99"},
		{"delete a missing alias", req{"DELETE", "/v1/models/team_model/aliases/champion", paul, nil, nil}, 404, registry.NotFound, "champion"},
		{"complete a missing upload", req{"POST", v + "/3/uploads/NOPE/complete", paul, nil, nil}, 404, registry.NotFound, "NOPE"},
		{"transition to Production", req{"POST", v + "/1/transitions", paul, `{"to":"Production","reason":"ship it"}`, nil}, 501, registry.NotImplemented, "approval workflow"},
		{"upload ../x", req{"POST", v + "/3/uploads", paul, upload("../x"), nil}, 400, registry.Invalid, "invalid artifact path"},
		{"upload /abs", req{"POST", v + "/3/uploads", paul, upload("/abs"), nil}, 400, registry.Invalid, "invalid artifact path"},
		{"upload a//b", req{"POST", v + "/3/uploads", paul, upload("a//b"), nil}, 400, registry.Invalid, "invalid artifact path"},
		{"upload a bad digest", req{"POST", v + "/3/uploads", paul, `{"files":[{"path":"m.bin","size":1,"sha256":"abc"}]}`, nil}, 400, registry.Invalid, "sha256"},
		{"upload to a READY version", req{"POST", v + "/1/uploads", paul, upload("m.bin"), nil}, 409, registry.Conflict, "READY"},
		{"stage a version without artifacts", req{"POST", v + "/3/transitions", paul, `{"to":"Staging"}`, nil}, 409, registry.Conflict, "READY"},
		{"download a version without artifacts", req{"GET", v + "/3/download", rita, nil, nil}, 409, registry.Conflict, "READY"},
		{"push over a training metric", req{"POST", v + "/1/metrics", paul, `{"metrics":{"accuracy":0.9}}`, nil}, 409, registry.Conflict, "training"},
		{"push no metrics", req{"POST", v + "/1/metrics", paul, `{"metrics":{}}`, nil}, 400, registry.Invalid, "no metrics"},
		{"reserved alias", req{"PUT", "/v1/models/team_model/aliases/latest", paul, `{"version":1}`, nil}, 400, registry.Invalid, "reserved"},
		{"alias to version zero", req{"PUT", "/v1/models/team_model/aliases/champion", paul, `{"version":0}`, nil}, 400, registry.Invalid, "version"},
		{"delete a model with a Production version", req{"DELETE", "/v1/models/team_model", adam, nil, nil}, 409, registry.Conflict, "in Production"},
		{"delete the Production version", req{"DELETE", v + "/2", adam, `{"reason":"cleanup"}`, nil}, 409, registry.Conflict, "in Production"},
		{"delete a version with a PENDING approval", req{"DELETE", v + "/1", adam, nil, nil}, 409, registry.Conflict, "PENDING approval"},
		{"publisher cannot delete a version", req{"DELETE", v + "/3", paul, nil, nil}, 403, registry.Forbidden, "admin"},
		{"delete a missing version", req{"DELETE", v + "/99", adam, nil, nil}, 404, registry.NotFound, "version 99"},
		{"delete a version of a missing model", req{"DELETE", "/v1/models/team_nope/versions/1", adam, nil, nil}, 404, registry.NotFound, "team_nope"},
		{"delete with an unknown field", req{"DELETE", v + "/3", adam, `{"why":"x"}`, nil}, 400, registry.Invalid, `unknown field "why"`},
		{"bad include_deleted", req{"GET", v + "?include_deleted=maybe", rita, nil, nil}, 400, registry.Invalid, "include_deleted"},
		{"create a model twice", req{"POST", "/v1/models", paul, `{"name":"team_model"}`, nil}, 409, registry.Conflict, "exists"},
		{"Idempotency-Key too long", req{"POST", "/v1/models", paul, `{"name":"team_new"}`, map[string]string{HeaderIdempotencyKey: strings.Repeat("k", 256)}}, 400, registry.Invalid, "Idempotency-Key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			res := e.do(c.r)
			if res.status != c.status || res.errCode() != c.code {
				t.Fatalf("%s %s = %d %s, want %d %s", c.r.method, c.r.path, res.status, res.body, c.status, c.code)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if !strings.Contains(res.errMessage(), c.msg) {
				t.Errorf("message %q does not contain %q", res.errMessage(), c.msg)
			}
			if after := e.snapshot(); after != before {
				t.Errorf("the failed request changed the registry:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestMethodNotAllowedListsMethods(t *testing.T) {
	e := newEnv(t)
	res := e.do(req{method: "DELETE", path: "/v1/models", token: tok("adam")})
	if res.status != http.StatusMethodNotAllowed {
		t.Fatalf("status %d, want 405", res.status)
	}
	allow := res.header.Get("Allow")
	for _, m := range []string{"GET", "POST"} {
		if !strings.Contains(allow, m) {
			t.Errorf("Allow = %q, lacks %s", allow, m)
		}
	}
}

func TestInternalErrorsAreHiddenAndLogged(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	e.store.Close() // every store call fails from now on
	res := e.do(req{method: "GET", path: "/v1/models/m", token: tok("rita"), header: map[string]string{HeaderRequestID: "req-internal-1"}})
	if res.status != http.StatusInternalServerError || res.errCode() != registry.Internal {
		t.Fatalf("status %d %s, want 500 internal", res.status, res.body)
	}
	if res.errMessage() != "internal error" {
		t.Errorf("message %q, want exactly \"internal error\"", res.errMessage())
	}
	line := e.waitLog(`"request_id":"req-internal-1"`, `"status":500`)
	if !strings.Contains(line, `"err":`) || !strings.Contains(line, `"level":"ERROR"`) {
		t.Errorf("log line lacks the full error at level ERROR: %s", line)
	}
}

func TestErrorTable(t *testing.T) {
	a := &api{log: discardLogger()}
	cases := []struct {
		err    error
		status int
		code   registry.Code
		msg    string
		header string
	}{
		{registry.Errorf(registry.Invalid, "bad"), 400, registry.Invalid, "bad", ""},
		{registry.Errorf(registry.Unauthenticated, "who"), 401, registry.Unauthenticated, "who", "WWW-Authenticate"},
		{registry.Errorf(registry.Forbidden, "no"), 403, registry.Forbidden, "no", ""},
		{registry.Errorf(registry.NotFound, "gone"), 404, registry.NotFound, "gone", ""},
		{fmt.Errorf("wrapped: %w", registry.Errorf(registry.Conflict, "clash")), 409, registry.Conflict, "clash", ""},
		{registry.Errorf(registry.TooLarge, "big"), 413, registry.TooLarge, "big", ""},
		{registry.Errorf(registry.KeyReused, "reused"), 422, registry.KeyReused, "reused", ""},
		{registry.Errorf(registry.NotImplemented, "later"), 501, registry.NotImplemented, "later", ""},
		{registry.Errorf(registry.Unavailable, "busy"), 503, registry.Unavailable, "busy", "Retry-After"},
		{registry.Wrap(registry.Internal, errors.New("disk on fire"), "secret detail"), 500, registry.Internal, "internal error", ""},
		{errors.New("plain error with secrets"), 500, registry.Internal, "internal error", ""},
		{registry.Errorf("mystery", "odd"), 500, registry.Internal, "internal error", ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		a.fail(w, httptest.NewRequest("GET", "/", nil), c.err)
		var body ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %v", c.err, err)
		}
		if w.Code != c.status || body.Error.Code != c.code || body.Error.Message != c.msg {
			t.Errorf("%v -> %d %s %q, want %d %s %q", c.err, w.Code, body.Error.Code, body.Error.Message, c.status, c.code, c.msg)
		}
		if c.header != "" && w.Header().Get(c.header) == "" {
			t.Errorf("%v: no %s header", c.err, c.header)
		}
	}
}

func TestRequestIDAndLogLine(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	res := e.must(200, req{method: "GET", path: "/v1/models/m", token: tok("rita"), header: map[string]string{HeaderRequestID: "abc-123"}}, nil)
	if got := res.header.Get(HeaderRequestID); got != "abc-123" {
		t.Errorf("X-Request-Id = %q, want the caller's abc-123", got)
	}
	line := e.waitLog(`"request_id":"abc-123"`)
	for _, want := range []string{`"method":"GET"`, `"path":"/v1/models/m"`, `"status":200`, `"caller":"rita"`, `"model":"m"`, `"duration_ms":`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
	// An insane id is replaced by a fresh one.
	res = e.must(200, req{method: "GET", path: "/v1/health", header: map[string]string{HeaderRequestID: "bad id <script>"}}, nil)
	if got := res.header.Get(HeaderRequestID); got == "" || strings.ContainsAny(got, " <") {
		t.Errorf("X-Request-Id = %q, want a generated id", got)
	}
	// Errors carry one too.
	res = e.do(req{method: "GET", path: "/v1/nope"})
	if res.header.Get(HeaderRequestID) == "" {
		t.Error("404 has no X-Request-Id")
	}
}

func TestBodyLimitOption(t *testing.T) {
	e := newEnv(t, withMaxBody(64))
	res := e.do(req{method: "POST", path: "/v1/models", token: tok("paul"), body: `{"name":"m","description":"` + strings.Repeat("x", 64) + `"}`})
	if res.status != http.StatusRequestEntityTooLarge || res.errCode() != registry.TooLarge {
		t.Fatalf("status %d %s, want 413", res.status, res.body)
	}
	e.must(201, req{method: "POST", path: "/v1/models", token: tok("paul"), body: `{"name":"m"}`}, nil)
}

func TestRecoversFromPanics(t *testing.T) {
	logs := &lockedBuffer{}
	a := &api{log: slogTo(logs)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	w := httptest.NewRecorder()
	a.middleware(mux).ServeHTTP(w, httptest.NewRequest("GET", "/v1/boom", nil))
	if w.Code != 500 || !bytes.Contains(w.Body.Bytes(), []byte(`"internal error"`)) {
		t.Fatalf("panic answered %d %s, want 500 internal error", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "panic: boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
}
