package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// roles is the mapping the samples are answered with (the stack passes
// its "roles" configuration the same way).
const roles = `{
 "arn:aws:iam::123456789012:role/teams/MLPublishers": {"role": "publisher", "groups": ["ml"]},
 "arn:aws:iam::123456789012:user/ci-bot": {"role": "reader"}
}`

func sample(t *testing.T, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		t.Fatalf("%s is not an events.APIGatewayV2HTTPRequest: %v", name, err)
	}
	return req
}

// registryHandler is the real /v1 handler on a service on SQLite, behind
// the IAM authenticator.
func registryHandler(t *testing.T) (http.Handler, *registry.Service) {
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
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: arts, Secret: bytes.Repeat([]byte("s"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewIAM(roles)
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.New(svc, auth, httpapi.Options{Version: "test"}), svc
}

func body(t *testing.T, r events.APIGatewayV2HTTPResponse) map[string]any {
	t.Helper()
	b := []byte(r.Body)
	if r.IsBase64Encoded {
		var err error
		if b, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

// TestSamples runs every api sample of events/ through the Lambda handler
// into the registry's real /v1 handler: health without identity, a model
// created by an assumed-role session (named by role and session), a
// base64 body, a list by a mapped IAM user, and a role without a mapping
// refused.
func TestSamples(t *testing.T) {
	h, svc := registryHandler(t)
	fn := Handler(h)
	ctx := context.Background()
	call := func(name string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		r, err := fn(ctx, sample(t, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Headers["Content-Type"] == "" || !strings.HasPrefix(r.Headers["Content-Type"], "application/json") {
			t.Errorf("%s: content type %q", name, r.Headers["Content-Type"])
		}
		return r
	}
	if r := call("api-health.json"); r.StatusCode != 200 || r.IsBase64Encoded || body(t, r)["status"] == nil {
		t.Errorf("health: %d %s", r.StatusCode, r.Body)
	}
	r := call("api-create-model-assumed-role.json")
	if r.StatusCode != 201 || body(t, r)["created_by"] != "assumed-role/MLPublishers/alice" {
		t.Fatalf("create by alice: %d %s", r.StatusCode, r.Body)
	}
	r = call("api-create-model-base64.json")
	if r.StatusCode != 201 || body(t, r)["name"] != "fraud_model" || body(t, r)["created_by"] != "assumed-role/MLPublishers/bob" {
		t.Fatalf("create by bob (base64 body): %d %s", r.StatusCode, r.Body)
	}
	r = call("api-list-models-user.json") // prefix=ch
	if r.StatusCode != 200 {
		t.Fatalf("list by ci-bot: %d %s", r.StatusCode, r.Body)
	}
	items, _ := body(t, r)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["name"] != "churn" {
		t.Errorf("list with prefix=ch: %s", r.Body)
	}
	r = call("api-unmapped-role.json")
	if r.StatusCode != 403 || !strings.Contains(r.Body, "assumed-role/SomeOtherRole/eve is not mapped") {
		t.Errorf("unmapped role: %d %s", r.StatusCode, r.Body)
	}
	// The reader cannot create: the mapping's role is applied.
	req := sample(t, "api-list-models-user.json")
	req.RequestContext.HTTP.Method, req.RawQueryString, req.Body = "POST", "", `{"name":"by_reader"}`
	req.Headers["content-type"] = "application/json"
	if r, err := fn(ctx, req); err != nil || r.StatusCode != 403 {
		t.Errorf("create by a reader: %d %s %v", r.StatusCode, r.Body, err)
	}
	if _, err := svc.GetModel(registry.WithPrincipal(ctx, registry.Principal{Name: "t", Role: registry.RoleReader}), "by_reader"); err == nil {
		t.Error("the reader's model exists")
	}
	// A route without the IAM authorizer carries no identity: 401.
	req = sample(t, "api-list-models-user.json")
	req.RequestContext.Authorizer = nil
	if r, err := fn(ctx, req); err != nil || r.StatusCode != 401 {
		t.Errorf("no identity: %d %s %v", r.StatusCode, r.Body, err)
	}
}

// TestRequestConversion: raw path and query, headers, cookies, host,
// source address and the request context reach the handler as sent.
func TestRequestConversion(t *testing.T) {
	var got *http.Request
	var gotBody []byte
	fn := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.Header().Add("Vary", "Origin")
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(202)
		w.Write([]byte{0xff, 0x00, 0x01})
	}))
	req := sample(t, "api-list-models-user.json")
	req.RawPath, req.RawQueryString = "/v1/models/a%2Fb/versions", "tag=k%3Dv&x=1&x=2"
	req.Cookies = []string{"s=1", "t=2"}
	req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte{0, 1, 2}), true
	r, err := fn(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "GET" || got.URL.EscapedPath() != "/v1/models/a%2Fb/versions" || got.URL.Query()["x"][1] != "2" || got.URL.Query().Get("tag") != "k=v" {
		t.Errorf("URL %s %s", got.Method, got.URL)
	}
	if c, _ := got.Cookie("t"); c == nil || c.Value != "2" || got.Host != "abc123.execute-api.us-east-1.amazonaws.com" ||
		got.RemoteAddr != "203.0.113.7:0" || got.Header.Get("User-Agent") != "modelreg/0.1" || !bytes.Equal(gotBody, []byte{0, 1, 2}) || got.ContentLength != 3 {
		t.Errorf("request %+v body %v", got, gotBody)
	}
	if rc, ok := RequestContext(got.Context()); !ok || rc.RequestID != req.RequestContext.RequestID {
		t.Errorf("request context %+v", rc)
	}
	if r.StatusCode != 202 || !r.IsBase64Encoded || r.Body != base64.StdEncoding.EncodeToString([]byte{0xff, 0, 1}) ||
		strings.Join(r.Cookies, " ") != "a=1 b=2" || r.Headers["Vary"] != "Origin,Accept" || r.Headers["Set-Cookie"] != "" {
		t.Errorf("response %+v", r)
	}
	for _, bad := range []func(*events.APIGatewayV2HTTPRequest){
		func(q *events.APIGatewayV2HTTPRequest) { q.RequestContext.HTTP.Method = "" },
		func(q *events.APIGatewayV2HTTPRequest) { q.RawPath = "v1/models" },
		func(q *events.APIGatewayV2HTTPRequest) { q.Body, q.IsBase64Encoded = "%%%", true },
	} {
		q := sample(t, "api-health.json")
		bad(&q)
		got = nil
		if _, err := fn(context.Background(), q); err == nil || got != nil {
			t.Errorf("a malformed request reached the handler or was not refused: %v", err)
		}
	}
}

// TestNewIAMRefuses: a malformed mapping is refused naming the entry.
func TestNewIAMRefuses(t *testing.T) {
	for _, bad := range []string{
		`{"arn:aws:iam::123456789012:role/A": {"role": "root"}}`,
		`{"arn:aws:s3:::bucket": {"role": "reader"}}`,
		`{"arn:aws:iam::123456789012:role/A": {"role": "reader", "group": ["x"]}}`,
		`{"arn:aws:iam::123456789012:role/A": {"role": "reader"}, "arn:aws:iam::123456789012:role/p/A": {"role": "admin"}}`,
		`[]`,
	} {
		if _, err := NewIAM(bad); registry.ErrorCode(err) != registry.Invalid {
			t.Errorf("NewIAM(%s) = %v, want Invalid", bad, err)
		}
	}
	// An assumed role in another account does not match the mapping.
	a, _ := NewIAM(roles)
	r, _ := http.NewRequest("GET", "/v1/models", nil)
	iam := &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: "arn:aws:sts::210987654321:assumed-role/MLPublishers/alice"}
	r = r.WithContext(WithRequestContext(r.Context(), events.APIGatewayV2HTTPRequestContext{Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{IAM: iam}}))
	if _, err := a.Authenticate(r); registry.ErrorCode(err) != registry.Forbidden {
		t.Errorf("another account's role: %v, want Forbidden", err)
	}
}
