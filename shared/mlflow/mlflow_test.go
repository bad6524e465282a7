package mlflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// tokens is a fake Authenticator: bearer token = principal name, role from
// the map.
type tokens map[string]registry.Role

func (t tokens) Authenticate(r *http.Request) (registry.Principal, error) {
	name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	role, known := t[name]
	if !ok || !known {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "unknown token")
	}
	return registry.Principal{Name: name, Role: role}, nil
}

type env struct {
	t   *testing.T
	srv *httptest.Server
	svc *registry.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	arts, err := filesystem.New(filepath.Join(dir, "artifacts"), "http://127.0.0.1:1", bytes.Repeat([]byte("b"), 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arts.Close() })
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: arts, Secret: bytes.Repeat([]byte("s"), 32),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	auth := tokens{"paul": registry.RolePublisher, "rita": registry.RoleReader, "adam": registry.RoleAdmin}
	srv := httptest.NewServer(New(svc, auth, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, svc: svc}
}

// call sends a request as who and returns the status and decoded body.
func (e *env) call(who, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	u := e.srv.URL + Prefix + path
	if method == "GET" && body != nil {
		u += "?" + body.(url.Values).Encode()
	} else if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, r)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		e.t.Fatalf("%s %s: body is not JSON: %v", method, path, err)
	}
	return resp.StatusCode, doc
}

func (e *env) must(who, method, path string, body any) map[string]any {
	e.t.Helper()
	st, doc := e.call(who, method, path, body)
	if st != 200 {
		e.t.Fatalf("%s %s: %d %v", method, path, st, doc)
	}
	return doc
}

func (e *env) wantError(status int, code string, who, method, path string, body any) map[string]any {
	e.t.Helper()
	st, doc := e.call(who, method, path, body)
	if st != status || doc["error_code"] != code {
		e.t.Fatalf("%s %s %v: got %d %v, want %d %s", method, path, body, st, doc, status, code)
	}
	return doc
}

func TestModelsAndErrors(t *testing.T) {
	e := newEnv(t)
	e.must("paul", "POST", "registered-models/create", map[string]any{"name": "m", "description": "d", "tags": []map[string]string{{"key": "a", "value": "1"}}})
	e.wantError(400, "RESOURCE_ALREADY_EXISTS", "paul", "POST", "registered-models/create", map[string]any{"name": "m"})
	doc := e.must("rita", "GET", "registered-models/get", url.Values{"name": {"m"}})
	rm := doc["registered_model"].(map[string]any)
	if rm["description"] != "d" || fmt.Sprint(rm["tags"]) != "[map[key:a value:1]]" {
		t.Fatalf("get: %v", rm)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "rita", "GET", "registered-models/get", url.Values{"name": {"nope"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "registered-models/get", url.Values{"name": {"m"}, "bogus": {"1"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "registered-models/get", nil)
	e.wantError(403, "PERMISSION_DENIED", "rita", "POST", "registered-models/create", map[string]any{"name": "x"})
	e.wantError(401, "UNAUTHENTICATED", "", "GET", "registered-models/get", url.Values{"name": {"m"}})
	e.wantError(404, "ENDPOINT_NOT_FOUND", "paul", "GET", "registered-models/nope", nil)
	for _, body := range []string{"{", "[]", "null", `{"name":1.5e999}`, `{"name":"x"} {}`, `{"name":"x","tags":"t"}`, `{"name":["x"]}`} {
		e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "registered-models/create", body)
	}
	// A basic-auth caller is told to use a token.
	req, _ := http.NewRequest("GET", e.srv.URL+Prefix+"registered-models/get?name=m", nil)
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "MLFLOW_TRACKING_TOKEN") {
		t.Fatalf("basic auth: %d %s", resp.StatusCode, b)
	}
	// Per-tag changes leave the other tags alone.
	e.must("paul", "POST", "registered-models/set-tag", map[string]any{"name": "m", "key": "b", "value": "2"})
	e.must("paul", "DELETE", "registered-models/delete-tag", map[string]any{"name": "m", "key": "a"})
	m, _ := e.svc.GetModel(t.Context(), "m")
	if fmt.Sprint(m.Tags) != "map[b:2]" {
		t.Fatalf("tags %v", m.Tags)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "DELETE", "registered-models/delete-tag", map[string]any{"name": "m", "key": "a"})
	// Rename: admins only; onto a taken name is RESOURCE_ALREADY_EXISTS and
	// changes nothing; then m answers as n (tags kept), m is gone, and back.
	e.must("paul", "POST", "registered-models/create", map[string]any{"name": "taken"})
	e.wantError(400, "RESOURCE_ALREADY_EXISTS", "adam", "POST", "registered-models/rename", map[string]any{"name": "m", "new_name": "taken"})
	e.wantError(403, "PERMISSION_DENIED", "paul", "POST", "registered-models/rename", map[string]any{"name": "m", "new_name": "n"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "adam", "POST", "registered-models/rename", map[string]any{"name": "m", "new_name": "bad name"})
	doc = e.must("adam", "POST", "registered-models/rename", map[string]any{"name": "m", "new_name": "n"})
	if rm := doc["registered_model"].(map[string]any); rm["name"] != "n" {
		t.Fatalf("rename answered %v", doc)
	}
	if n, err := e.svc.GetModel(t.Context(), "n"); err != nil || fmt.Sprint(n.Tags) != "map[b:2]" {
		t.Fatalf("renamed model %+v, %v", n, err)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "rita", "GET", "registered-models/get", url.Values{"name": {"m"}})
	e.must("adam", "POST", "registered-models/rename", map[string]any{"name": "n", "new_name": "m"})
	e.wantError(403, "PERMISSION_DENIED", "paul", "DELETE", "registered-models/delete", map[string]any{"name": "m"})
	e.must("adam", "DELETE", "registered-models/delete", map[string]any{"name": "m"})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "rita", "GET", "registered-models/get", url.Values{"name": {"m"}})
}

func TestVersionsStagesAndSearch(t *testing.T) {
	e := newEnv(t)
	e.must("paul", "POST", "registered-models/create", map[string]any{"name": "m"})
	for i := 1; i <= 5; i++ {
		doc := e.must("paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "s3://b/m", "run_id": fmt.Sprint("r", i%2),
			"tags": []map[string]string{{"key": "i", "value": fmt.Sprint(i)}}, "run_link": "http://x/run"})
		mv := doc["model_version"].(map[string]any)
		if mv["version"] != fmt.Sprint(i) || mv["status"] != "READY" || mv["run_link"] != "http://x/run" {
			t.Fatalf("create: %v", mv)
		}
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "model-versions/create", map[string]any{"name": "nope", "source": "s3://b/m"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "GET", "model-versions/get", url.Values{"name": {"m"}, "version": {"x"}})
	// version as a JSON number is accepted as MLflow's string.
	e.must("paul", "POST", "model-versions/transition-stage", map[string]any{"name": "m", "version": 1, "stage": "staging", "archive_existing_versions": false})
	e.must("paul", "POST", "model-versions/transition-stage", map[string]any{"name": "m", "version": "2", "stage": "Staging", "archive_existing_versions": true})
	v1, _ := e.svc.GetVersion(t.Context(), "m", 1)
	if v1.Stage != registry.StageArchived {
		t.Fatalf("archive_existing_versions left v1 in %s", v1.Stage)
	}
	// No workflow in this env: Production answers NOT_IMPLEMENTED, and nothing moved.
	e.wantError(501, "NOT_IMPLEMENTED", "paul", "POST", "model-versions/transition-stage", map[string]any{"name": "m", "version": "2", "stage": "Production"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "model-versions/transition-stage", map[string]any{"name": "m", "version": "2", "stage": "Live"})
	doc := e.must("rita", "POST", "registered-models/get-latest-versions", map[string]any{"name": "m", "stages": []string{"Staging"}})
	if l := doc["model_versions"].([]any); len(l) != 1 || l[0].(map[string]any)["version"] != "2" {
		t.Fatalf("latest: %v", doc)
	}
	search := func(filter string, max int, token string) ([]string, string) {
		q := url.Values{"filter": {filter}, "max_results": {fmt.Sprint(max)}}
		if token != "" {
			q.Set("page_token", token)
		}
		doc := e.must("rita", "GET", "model-versions/search", q)
		var got []string
		for _, v := range doc["model_versions"].([]any) {
			got = append(got, v.(map[string]any)["version"].(string))
		}
		next, _ := doc["next_page_token"].(string)
		return got, next
	}
	var all []string
	for tok := ""; ; {
		got, next := search("name = 'm'", 2, tok)
		all = append(all, got...)
		if next == "" {
			break
		}
		tok = next
	}
	if strings.Join(all, ",") != "5,4,3,2,1" {
		t.Fatalf("paged search: %v", all)
	}
	for filter, want := range map[string]string{
		"run_id = 'r1'":                         "5,3,1",
		"name = 'm' AND tags.i = '4'":           "4",
		"tags.i != '4' AND run_id = 'r0'":       "2",
		"version_number = 3":                    "3",
		"run_id IN ('r0') AND name LIKE 'm%'":   "4,2",
		"tags.`mlflow.prompt.is_prompt` != 'x'": "5,4,3,2,1",
	} {
		if got, _ := search(filter, 100, ""); strings.Join(got, ",") != want {
			t.Errorf("search %q = %v, want %s", filter, got, want)
		}
	}
	_, tok := search("name = 'm'", 2, "")
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "model-versions/search", url.Values{"filter": {"run_id = 'r1'"}, "page_token": {tok}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "model-versions/search", url.Values{"filter": {"name = 'm' OR name = 'n'"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "model-versions/search", url.Values{"max_results": {"0"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "model-versions/search", url.Values{"order_by": {"last_updated_timestamp DESC"}})
	// Aliases.
	e.must("paul", "POST", "registered-models/alias", map[string]any{"name": "m", "alias": "champion", "version": "3"})
	e.must("paul", "POST", "registered-models/alias", map[string]any{"name": "m", "alias": "champion", "version": "3"})
	doc = e.must("rita", "GET", "registered-models/alias", url.Values{"name": {"m"}, "alias": {"champion"}})
	if mv := doc["model_version"].(map[string]any); mv["version"] != "3" || fmt.Sprint(mv["aliases"]) != "[champion]" {
		t.Fatalf("alias: %v", mv)
	}
	// Per-tag set/delete on a version; the generated tag cannot be set.
	e.must("paul", "POST", "model-versions/set-tag", map[string]any{"name": "m", "version": "3", "key": "k", "value": "v"})
	e.must("paul", "DELETE", "model-versions/delete-tag", map[string]any{"name": "m", "version": "3", "key": "i"})
	v3, _ := e.svc.GetVersion(t.Context(), "m", 3)
	if fmt.Sprint(v3.Tags) != "map[k:v mlflow.run_link:http://x/run]" {
		t.Fatalf("version tags %v", v3.Tags)
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "model-versions/set-tag", map[string]any{"name": "m", "version": "3", "key": PendingApprovalTag, "value": "x"})
	doc = e.must("rita", "GET", "model-versions/get-download-uri", url.Values{"name": {"m"}, "version": {"3"}})
	if doc["artifact_uri"] != "s3://b/m" {
		t.Fatalf("download uri %v", doc)
	}
	e.must("adam", "DELETE", "model-versions/delete", map[string]any{"name": "m", "version": "5"})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "rita", "GET", "model-versions/get", url.Values{"name": {"m"}, "version": {"5"}})
}

func TestSearchModels(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"fraud_a", "fraud_b", "Fraud_c", "churn", "fraudx"} {
		e.must("paul", "POST", "registered-models/create", map[string]any{"name": n, "tags": []map[string]string{{"key": "len", "value": fmt.Sprint(len(n))}}})
	}
	names := func(filter string, max int) []string {
		var out []string
		q := url.Values{"filter": {filter}, "max_results": {fmt.Sprint(max)}}
		for {
			doc := e.must("rita", "GET", "registered-models/search", q)
			for _, m := range doc["registered_models"].([]any) {
				out = append(out, m.(map[string]any)["name"].(string))
			}
			next, _ := doc["next_page_token"].(string)
			if next == "" {
				return out
			}
			q.Set("page_token", next)
		}
	}
	for filter, want := range map[string]string{
		"":                                  "Fraud_c,churn,fraud_a,fraud_b,fraudx",
		"name = 'churn'":                    "churn",
		"name LIKE 'fraud%'":                "fraud_a,fraud_b,fraudx",
		"name LIKE 'fraud\\_%'":             "",
		"name LIKE 'fraud__'":               "fraud_a,fraud_b",
		"name ILIKE 'FRAUD%'":               "Fraud_c,fraud_a,fraud_b,fraudx",
		"name LIKE '%ur%'":                  "churn",
		"tags.len = '7'":                    "Fraud_c,fraud_a,fraud_b",
		"tags.len = '7' AND name LIKE 'f%'": "fraud_a,fraud_b",
	} {
		for _, max := range []int{1, 2, 100} {
			if got := strings.Join(names(filter, max), ","); got != want {
				t.Errorf("search %q (max %d) = %s, want %s", filter, max, got, want)
			}
		}
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "registered-models/search", url.Values{"order_by": {"name DESC"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "registered-models/search", url.Values{"max_results": {"1001"}})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "GET", "registered-models/search", url.Values{"page_token": {"!!"}})
}
