package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestStrictInput holds the API to refusing what encoding/json and
// url.Query let through: broken %-escapes, repeated parameters,
// case-insensitive field names, duplicate keys, invalid UTF-8 and non-JSON
// media types. Each is refused naming what is wrong, and changes nothing.
func TestStrictInput(t *testing.T) {
	e := newEnv(t)
	e.seedModel("team_model", 2)
	if _, err := e.svc.RegisterVersion(as("adam"), "team_model", registry.NewVersion{}); err != nil {
		t.Fatal(err)
	}
	paul, rita := tok("paul"), tok("rita")
	const v = "/v1/models/team_model/versions"
	cases := []struct {
		name   string
		r      req
		status int
		code   registry.Code
		msg    []string // the message contains each of these
	}{
		{"broken escape in stage", req{"GET", v + "?stage=Staging%", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter stage", `"Staging%"`}},
		{"broken escape in Prod", req{"GET", v + "?stage=Prod%", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter stage"}},
		{"broken escape in at", req{"GET", "/v1/models/team_model/stages/Production?at=%ZZ", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter at"}},
		{"broken page_token", req{"GET", "/v1/models?page_token=%%%%", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter page_token"}},
		{"broken escape after a good one", req{"GET", v + "?page_size=1&tag=a%2", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter tag"}},
		{"broken parameter name", req{"GET", v + "?st%ZZage=x", rita, nil, nil}, 400, registry.Invalid, []string{`query parameter name "st%ZZage"`}},
		{"query not UTF-8", req{"GET", "/v1/models?prefix=%FF", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter prefix", "UTF-8"}},
		{"parameter twice", req{"GET", v + "?stage=Staging&stage=None", rita, nil, nil}, 400, registry.Invalid, []string{"stage is given twice"}},
		{"semicolon separator", req{"GET", v + "?stage=Staging;status=READY", rita, nil, nil}, 400, registry.Invalid, []string{"query parameter stage", "';'"}},
		{"broken query on a route without auth", req{"GET", "/v1/health?x=%", "", nil, nil}, 400, registry.Invalid, []string{"query parameter x"}},
		{"broken query on a write", req{"POST", "/v1/models?x=%", paul, `{"name":"team_new"}`, nil}, 400, registry.Invalid, []string{"query parameter x"}},

		{"field name in capitals", req{"POST", "/v1/models", paul, `{"NAME":"team_new"}`, nil}, 400, registry.Invalid, []string{`unknown field "NAME"`, "case-sensitive", `"name"`}},
		{"nested field name in capitals", req{"POST", v, paul, `{"lineage":{"Code":{"repo":"r"}}}`, nil}, 400, registry.Invalid, []string{`unknown field "Code" in lineage`, `"code"`}},
		{"field name in an array in capitals", req{"POST", v + "/3/uploads", paul, `{"files":[{"Path":"m.bin","size":1,"sha256":"` + sha0 + `"}]}`, nil}, 400, registry.Invalid, []string{`unknown field "Path" in files[0]`}},
		{"metric field in capitals", req{"POST", v, paul, `{"metrics":{"auc":{"VALUE":1}}}`, nil}, 400, registry.Invalid, []string{`unknown field "VALUE"`, `"value"`}},
		{"duplicate key", req{"POST", "/v1/models", paul, `{"name":"team_a","name":"team_b"}`, nil}, 400, registry.Invalid, []string{`key "name" appears twice`}},
		{"duplicate tag", req{"POST", v, paul, `{"tags":{"team":"a","team":"b"}}`, nil}, 400, registry.Invalid, []string{`key "team" appears twice in tags`}},
		{"duplicate param", req{"PATCH", v + "/1", paul, `{"params":{"lr":"0.1","lr":"0.2"}}`, nil}, 400, registry.Invalid, []string{`key "lr" appears twice in params`}},
		{"duplicate metric", req{"POST", v, paul, `{"metrics":{"auc":0.9,"auc":0.1}}`, nil}, 400, registry.Invalid, []string{`key "auc" appears twice in metrics`}},
		{"duplicate inside a metric", req{"POST", v, paul, `{"metrics":{"auc":{"value":0.9,"value":0.1}}}`, nil}, 400, registry.Invalid, []string{`key "value" appears twice in metrics.auc`}},
		{"duplicate deep in an array", req{"POST", v + "/3/uploads", paul, `{"files":[{"path":"m.bin","size":1,"sha256":"` + sha0 + `"},{"path":"a","path":"b"}]}`, nil}, 400, registry.Invalid, []string{`key "path" appears twice in files[1]`}},
		{"invalid UTF-8 in a value", req{"POST", "/v1/models", paul, "{\"name\":\"team_x\",\"description\":\"caf\xe9\"}", nil}, 400, registry.Invalid, []string{"not valid UTF-8", "in description"}},
		{"invalid UTF-8 in a tag", req{"POST", v, paul, "{\"tags\":{\"owner\":\"\xff\xfe\"}}", nil}, 400, registry.Invalid, []string{"not valid UTF-8", "in tags.owner"}},
		{"invalid UTF-8 in a key", req{"POST", v, paul, "{\"tags\":{\"\xc3\":\"x\"}}", nil}, 400, registry.Invalid, []string{"not valid UTF-8", "in tags"}},

		{"text/plain body", req{"POST", "/v1/models", paul, `{"name":"team_new"}`, map[string]string{"Content-Type": "text/plain; charset=utf-8"}}, 415, unsupportedMediaType, []string{"text/plain", "application/json"}},
		{"multipart body", req{"POST", "/v1/models", paul, `{"name":"team_new"}`, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}}, 415, unsupportedMediaType, []string{"multipart/form-data"}},
		{"broken Content-Type", req{"POST", "/v1/models", paul, `{"name":"team_new"}`, map[string]string{"Content-Type": "application/"}}, 415, unsupportedMediaType, []string{"Content-Type"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			res := e.do(c.r)
			if res.status != c.status || res.errCode() != c.code {
				t.Fatalf("%s %s = %d %s, want %d %s", c.r.method, c.r.path, res.status, res.body, c.status, c.code)
			}
			for _, m := range c.msg {
				if !strings.Contains(res.errMessage(), m) {
					t.Errorf("message %q does not contain %q", res.errMessage(), m)
				}
			}
			if after := e.snapshot(); after != before {
				t.Errorf("the failed request changed the registry:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}

	// What stays accepted: good escapes, UTF-8 that is valid, no
	// Content-Type, curl's default form type, +json types.
	e.must(200, req{"GET", v + "?stage=None&tag=a%20b&page_size=10", rita, nil, nil}, nil)
	e.must(200, req{"GET", "/v1/models?prefix=caf%C3%A9", rita, nil, nil}, nil)
	for i, ct := range []string{"", "application/x-www-form-urlencoded", "application/merge-patch+json", "application/json; charset=utf-8"} {
		name := "team_ok" + string(rune('a'+i))
		body := `{"name":"` + name + `","description":"café ✓"}`
		r, err := http.NewRequest("POST", e.srv.URL+"/v1/models", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+paul)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		res, err := e.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Errorf("POST with Content-Type %q = %d, want 201", ct, res.StatusCode)
		}
	}
}

// TestUncleanPathsAnswerJSON holds the API to answering a path with an
// empty, "." or ".." segment with a JSON error, not ServeMux's HTML
// redirect to another resource.
func TestUncleanPathsAnswerJSON(t *testing.T) {
	h := New(nil, NewTokens(), Options{Logger: discardLogger()})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/models/..", 400},
		{"GET", "/v1/models/.", 400},
		{"GET", "/v1/models//versions", 400},
		{"POST", "/v1/models/m/versions/1/../2/transitions", 400},
		{"GET", "/v1/./health", 400},
		{"GET", "/v1/models/m/versions/", 404},
		{"GET", "/nope", 404},
	} {
		r := httptest.NewRequest(c.method, "http://x"+c.path, nil)
		if r.URL.Path != c.path {
			t.Fatalf("request path %q, want %q", r.URL.Path, c.path)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var body ErrorBody
		if w.Code != c.status || w.Header().Get("Location") != "" || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code == "" {
			t.Errorf("%s %s = %d (Location %q) %s, want %d with a JSON error", c.method, c.path, w.Code, w.Header().Get("Location"), w.Body, c.status)
		}
	}
}
