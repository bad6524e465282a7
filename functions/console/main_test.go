package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secret"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// sample is events/console-page.json, decoded with no unknown field into
// the function's exact input type.
func sample(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile("../../events/console-page.json")
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := lambdatest.DecodeStrict(b, &req); err != nil {
		t.Fatalf("console-page.json is not an events.APIGatewayV2HTTPRequest: %v", err)
	}
	if req.Version != "2.0" || req.RequestContext.HTTP.Method != "GET" || req.RawPath == "" {
		t.Fatalf("incomplete request %+v", req)
	}
	return req
}

func TestSampleDecodes(t *testing.T) { sample(t) }

// TestLinks: the function links the console, the AWS adapters and
// aws-lambda-go, and neither the embedded backends nor the /v1 and MLflow
// handlers (the api function's), nor SageMaker's SDK, nor the SDK's
// default configuration.
func TestLinks(t *testing.T) {
	lambdatest.CheckLinksNot(t, []string{"github.com/modelreg/modelreg/shared/console", "github.com/modelreg/modelreg/shared/dynamodb",
		"github.com/modelreg/modelreg/shared/sfn", "github.com/modelreg/modelreg/shared/apigw"},
		[]string{"github.com/modelreg/modelreg/shared/httpapi", "github.com/modelreg/modelreg/shared/mlflow", "github.com/modelreg/modelreg/shared/router",
			"github.com/aws/aws-sdk-go-v2/service/sagemaker", "github.com/aws/aws-sdk-go-v2/config"})
}

// oidcEnv adds a complete OIDC sign-in to env, then the overrides kv.
func oidcEnv(env map[string]string, kv ...string) map[string]string {
	for k, v := range map[string]string{
		"MODELREG_OIDC_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool", "MODELREG_OIDC_AUTHORIZE_URL": "https://auth.example.com/oauth2/authorize",
		"MODELREG_OIDC_TOKEN_URL": "https://auth.example.com/oauth2/token", "MODELREG_OIDC_JWKS_URL": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pool/.well-known/jwks.json",
		"MODELREG_OIDC_CLIENT_ID": "client", "MODELREG_OIDC_REDIRECT_URL": "https://registry.example.com/login/callback",
		"MODELREG_OIDC_GROUP_ROLES": `{"ml-approvers": "approver", "ml": "publisher"}`,
	} {
		env[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return env
}

func errSetting(err error) string {
	if ce, ok := err.(*app.ConfigError); ok {
		return " " + ce.Setting
	}
	return ""
}

// TestSetupRefuses: without the deployment's secret, a table, or with half
// the sign-in or a wrong one, setup fails naming the setting.
func TestSetupRefuses(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	ok := map[string]string{"MODELREG_DYNAMODB_TABLE": "t", "MODELREG_S3_BUCKET": "b", "MODELREG_SECRET": strings.Repeat("s", 32)}
	with := func(kv ...string) map[string]string { return lambdatest.EnvWith(ok, kv...) }
	for want, env := range map[string]map[string]string{
		"MODELREG_SECRET_ARN":         with("MODELREG_SECRET", ""),
		"MODELREG_OIDC_TOKEN_URL":     with("MODELREG_OIDC_ISSUER", "https://idp.example.com"),
		"MODELREG_DYNAMODB_TABLE":     with("MODELREG_DYNAMODB_TABLE", ""),
		"MODELREG_OIDC_GROUP_ROLES":   oidcEnv(with(), "MODELREG_OIDC_GROUP_ROLES", `{"ml": "boss"}`),
		"give an https:// URL":        oidcEnv(with(), "MODELREG_OIDC_TOKEN_URL", "http://idp.example.com/token"),
		"maps no group":               oidcEnv(with(), "MODELREG_OIDC_GROUP_ROLES", `{}`),
		"MODELREG_OIDC_CLIENT_ID set": with("MODELREG_OIDC_CLIENT_ID", "abc"),
	} {
		if _, _, err := setup(t.Context(), mapEnv(env), quietLog()); err == nil || !strings.Contains(err.Error()+errSetting(err), want) {
			t.Errorf("setup: %v, want an error naming %s", err, want)
		}
	}
	// With all of them, the console signs in with OIDC.
	o, err := oidcConfig(t.Context(), mapEnv(oidcEnv(with())), secret.New(nil))
	if err != nil || o == nil || o.GroupRoles["ml-approvers"] != registry.RoleApprover || o.ClientID != "client" || o.ClientSecret != "" {
		t.Errorf("oidcConfig: %+v, %v", o, err)
	}
}

// TestWithOIDC: with the OIDC settings the console offers only OIDC
// sign-in: its sign-in page links to /login/oidc, which sends the browser
// to the provider with this app client and redirect; without a session a
// page sends the browser to sign in. Nothing here reaches a network.
func TestWithOIDC(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	env := oidcEnv(map[string]string{"MODELREG_DYNAMODB_TABLE": "t", "MODELREG_S3_BUCKET": "b", "MODELREG_SECRET": strings.Repeat("s", 32)})
	h, a, err := setup(t.Context(), mapEnv(env), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	page := sample(t)
	get := func(path string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		req := page
		req.RawPath, req.RequestContext.HTTP.Path = path, path
		r, err := h(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get("/login"); r.StatusCode != 200 || !strings.Contains(r.Body, "/login/oidc") || strings.Contains(r.Body, `name="token"`) {
		t.Errorf("/login: %d %s", r.StatusCode, r.Body)
	}
	r := get("/login/oidc")
	loc := r.Headers["Location"]
	if r.StatusCode != 303 || !strings.HasPrefix(loc, env["MODELREG_OIDC_AUTHORIZE_URL"]+"?") || !strings.Contains(loc, "client_id=client") ||
		!strings.Contains(loc, "code_challenge_method=S256") || len(r.Cookies) != 1 {
		t.Errorf("/login/oidc: %d %s %v", r.StatusCode, loc, r.Cookies)
	}
	if r := get("/models"); r.StatusCode != 303 || !strings.HasPrefix(r.Headers["Location"], "/login") {
		t.Errorf("/models without a session: %d %v", r.StatusCode, r.Headers)
	}
}

// TestFunctionOnEmulators runs the built bootstrap (natively and the arm64
// build under qemu) through the Lambda Runtime API with its signing key in
// moto's Secrets Manager: without OIDC the sample page answers the 404
// "turned off" page; with OIDC a second cold start answers the sign-in
// page. Neither start touches the table (the pages read it on demand).
func TestFunctionOnEmulators(t *testing.T) {
	_, _, motoURL := lambdatest.Peers(t)
	page := sample(t)
	arn := lambdatest.MotoSecret(t, registry.RandomToken(40))
	for _, arch := range lambdatest.Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			bin := lambdatest.Build(t, ".", arch.GOARCH)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			env := []string{"MODELREG_DYNAMODB_TABLE=never-read", "MODELREG_S3_BUCKET=never-read",
				"MODELREG_SECRET_ARN=" + arn, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + motoURL,
				"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}
			call := func(env []string, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
				t.Helper()
				f := lambdatest.Start(t, bin, arch, lambdatest.Options{Name: "console", Env: env, Deadline: 29 * time.Second})
				defer f.Stop()
				if _, err := f.WaitInit(ctx); err != nil {
					t.Fatal(err)
				}
				if !f.WaitOutput(ctx, `"secretsmanager_calls":1`) {
					t.Errorf("init log %s: want one Secrets Manager call", f.Stderr())
				}
				payload, _ := json.Marshal(req)
				r, err := f.Invoke(ctx, payload)
				if err != nil || r.Error != nil {
					t.Fatalf("%s: %+v %v", req.RawPath, r.Error, err)
				}
				var a events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(r.Payload, &a); err != nil {
					t.Fatalf("response %s: %v", r.Payload, err)
				}
				return a
			}
			a := call(env, page)
			if a.StatusCode != 404 || !strings.HasPrefix(a.Headers["Content-Type"], "text/html") || !strings.Contains(a.Body, "MODELREG_OIDC_") {
				t.Errorf("a page without OIDC: %d %v %s", a.StatusCode, a.Headers, a.Body)
			}
			withOIDC := slices.Clone(env)
			for k, v := range oidcEnv(map[string]string{}) {
				withOIDC = append(withOIDC, k+"="+v)
			}
			login := page
			login.RawPath, login.RequestContext.HTTP.Path = "/login", "/login"
			if a := call(withOIDC, login); a.StatusCode != 200 || !strings.Contains(a.Body, "/login/oidc") {
				t.Errorf("/login with OIDC: %d %s", a.StatusCode, a.Body)
			}
		})
	}
}
