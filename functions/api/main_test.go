package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
)

// roles is the IAM mapping the samples are answered with, as the stack
// passes its roles configuration.
const roles = `{
 "arn:aws:iam::123456789012:role/teams/MLPublishers": {"role": "publisher", "groups": ["ml"]},
 "arn:aws:iam::123456789012:user/ci-bot": {"role": "reader"}
}`

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// sampleFiles are the api samples of events/, decoded with no unknown
// field into the function's exact input type.
func sampleFiles(t *testing.T) map[string]events.APIGatewayV2HTTPRequest {
	t.Helper()
	files, _ := filepath.Glob("../../events/api-*.json")
	if len(files) < 7 {
		t.Fatalf("found %d api samples, want the 7 routes and callers", len(files))
	}
	out := map[string]events.APIGatewayV2HTTPRequest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayV2HTTPRequest
		if err := lambdatest.DecodeStrict(b, &req); err != nil {
			t.Fatalf("%s is not an events.APIGatewayV2HTTPRequest: %v", f, err)
		}
		if req.Version != "2.0" || req.RequestContext.HTTP.Method == "" || req.RawPath == "" {
			t.Fatalf("%s: incomplete request %+v", f, req)
		}
		out[filepath.Base(f)] = req
	}
	return out
}

func TestSamplesDecode(t *testing.T) { sampleFiles(t) }

// TestLinksNoEmbeddedBackend: the function links the AWS adapters, the
// API Gateway adapter, the handler tree and aws-lambda-go, and neither
// SQLite nor the filesystem adapter, nor any of the SDK's service clients
// (their package-level tables cost each cold start milliseconds and the
// binary most of its size; shared/awsapi calls the services), nor the SDK's
// default configuration (STS, SSO), nor the console and html/template
// (whose reflection keeps every exported method alive: 2 MB).
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinksNot(t, []string{"github.com/modelreg/modelreg/shared/dynamodb", "github.com/modelreg/modelreg/shared/s3",
		"github.com/modelreg/modelreg/shared/sfn", "github.com/modelreg/modelreg/shared/apigw", "github.com/modelreg/modelreg/shared/router"},
		[]string{"github.com/aws/aws-sdk-go-v2/service/...", "github.com/aws/aws-sdk-go-v2/config", "github.com/aws/aws-sdk-go-v2/credentials/...",
			"github.com/aws/aws-sdk-go-v2/feature/...", "github.com/modelreg/modelreg/shared/sagemaker/endpoints",
			"github.com/modelreg/modelreg/shared/console", "html/template"})
}

// TestSetupRefuses: without the deployment's secret or with a malformed
// role mapping, setup fails naming the setting, having opened nothing.
func TestSetupRefuses(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	ok := map[string]string{"MODELREG_DYNAMODB_TABLE": "t", "MODELREG_S3_BUCKET": "b", "MODELREG_SECRET": strings.Repeat("s", 32)}
	with := func(kv ...string) map[string]string { return lambdatest.EnvWith(ok, kv...) }
	for want, env := range map[string]map[string]string{
		"MODELREG_SECRET_ARN":       with("MODELREG_SECRET", ""),
		"MODELREG_IAM_ROLES":        with("MODELREG_IAM_ROLES", `{"arn:aws:iam::123456789012:role/x": {"role": "boss"}}`),
		"MODELREG_DYNAMODB_TABLE":   with("MODELREG_DYNAMODB_TABLE", ""),
		"must be at least 32 bytes": with("MODELREG_SECRET", "short"),
	} {
		if _, _, err := setup(t.Context(), mapEnv(env), quietLog()); err == nil || !strings.Contains(err.Error()+errSetting(err), want) {
			t.Errorf("setup: %v, want an error naming %s", err, want)
		}
	}
}

func errSetting(err error) string {
	if ce, ok := err.(*app.ConfigError); ok {
		return " " + ce.Setting
	}
	return ""
}

type answer struct {
	events.APIGatewayV2HTTPResponse
	body []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
	return m
}

// TestFunctionOnEmulators runs the built bootstrap (natively and the
// arm64 build under qemu) through the Lambda Runtime API on DynamoDB
// Local and MinIO, with its signing key in moto's Secrets Manager: every
// api sample is answered as API Gateway would relay it — health, models
// created by two sessions of one role, a list and a get by an IAM user,
// an MLflow call, an unmapped role refused, and a console path, which is
// the console function's and here the API's JSON 404 — and a page token signed with the key from Secrets
// Manager is accepted by a second cold start.
func TestFunctionOnEmulators(t *testing.T) {
	ddbURL, s3URL, motoURL := lambdatest.Peers(t)
	samples := sampleFiles(t)
	key, secretKey := os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY")
	arn := lambdatest.MotoSecret(t, registry.RandomToken(40))
	creds := credentials.NewStaticCredentialsProvider(key, secretKey, "")
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: creds}, wire.Service, ddbURL)
	if err != nil {
		t.Fatal(err)
	}
	ddb := wire.New(api)
	s3c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3URL), Credentials: creds, UsePathStyle: true})

	for _, arch := range lambdatest.Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			bin := lambdatest.Build(t, ".", arch.GOARCH)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			name := fmt.Sprintf("api-%s-%d", arch.GOARCH, time.Now().UnixNano())
			if err := dynamodb.CreateTable(ctx, ddb, name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dynamodb.DeleteTable(context.Background(), ddb, name) })
			if _, err := s3c.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
				t.Fatal(err)
			}
			env := []string{
				"MODELREG_DYNAMODB_TABLE=" + name, "MODELREG_DYNAMODB_ENDPOINT=" + ddbURL,
				"MODELREG_S3_BUCKET=" + name, "MODELREG_S3_ENDPOINT=" + s3URL, "MODELREG_S3_PREFIX=models/",
				"MODELREG_SECRET_ARN=" + arn, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + motoURL,
				"MODELREG_IAM_ROLES=" + roles,
				"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secretKey, "AWS_REGION=us-east-1",
			}
			start := func() *lambdatest.Function {
				f := lambdatest.Start(t, bin, arch, lambdatest.Options{Name: "api", Env: env, Deadline: 29 * time.Second})
				init, err := f.WaitInit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if !f.WaitOutput(ctx, `"secretsmanager_calls":1`) {
					t.Errorf("init log %s: want one Secrets Manager call", f.Stderr())
				}
				t.Logf("%s: init %v (with the Secrets Manager call)", arch.Label(), init)
				return f
			}
			f := start()
			call := func(f *lambdatest.Function, req events.APIGatewayV2HTTPRequest) answer {
				t.Helper()
				payload, _ := json.Marshal(req)
				r, err := f.Invoke(ctx, payload)
				if err != nil || r.Error != nil {
					t.Fatalf("%s %s: %+v %v", req.RequestContext.HTTP.Method, req.RawPath, r.Error, err)
				}
				var a answer
				if err := json.Unmarshal(r.Payload, &a.APIGatewayV2HTTPResponse); err != nil {
					t.Fatalf("response %s: %v", r.Payload, err)
				}
				a.body = []byte(a.Body)
				if a.IsBase64Encoded {
					if a.body, err = base64.StdEncoding.DecodeString(a.Body); err != nil {
						t.Fatal(err)
					}
				}
				return a
			}
			if a := call(f, samples["api-health.json"]); a.StatusCode != 200 || a.json(t)["status"] == nil {
				t.Errorf("health: %d %s", a.StatusCode, a.body)
			}
			if a := call(f, samples["api-create-model-assumed-role.json"]); a.StatusCode != 201 || a.json(t)["created_by"] != "assumed-role/MLPublishers/alice" {
				t.Fatalf("create by alice: %d %s", a.StatusCode, a.body)
			}
			if a := call(f, samples["api-create-model-base64.json"]); a.StatusCode != 201 || a.json(t)["created_by"] != "assumed-role/MLPublishers/bob" {
				t.Fatalf("create by bob: %d %s", a.StatusCode, a.body)
			}
			if a := call(f, samples["api-list-models-user.json"]); a.StatusCode != 200 || len(a.json(t)["items"].([]any)) != 1 {
				t.Errorf("list prefix=ch by ci-bot: %d %s", a.StatusCode, a.body)
			}
			if a := call(f, samples["api-get-model-user.json"]); a.StatusCode != 200 || a.json(t)["name"] != "churn" {
				t.Errorf("get churn by ci-bot: %d %s", a.StatusCode, a.body)
			}
			a := call(f, samples["api-mlflow-create-registered-model.json"])
			if rm, _ := a.json(t)["registered_model"].(map[string]any); a.StatusCode != 200 || rm["name"] != "churn_mlflow" {
				t.Errorf("MLflow create: %d %s", a.StatusCode, a.body)
			}
			if a := call(f, samples["api-unmapped-role.json"]); a.StatusCode != 403 || !strings.Contains(string(a.body), "is not mapped") {
				t.Errorf("unmapped role: %d %s", a.StatusCode, a.body)
			}
			page := samples["api-health.json"]
			page.RawPath, page.RequestContext.HTTP.Path = "/models", "/models"
			a = call(f, page)
			if a.StatusCode != 404 || !strings.HasPrefix(a.Headers["Content-Type"], "application/json") || a.json(t)["error"] == nil {
				t.Errorf("a console path: %d %v %s, want the API's JSON 404", a.StatusCode, a.Headers, a.body)
			}

			// A page token issued by this process is accepted by the next
			// cold start: both took the key from Secrets Manager.
			page = samples["api-list-models-user.json"]
			page.RawQueryString = "page_size=1"
			a = call(f, page)
			tok, _ := a.json(t)["next_page_token"].(string)
			if a.StatusCode != 200 || tok == "" {
				t.Fatalf("first page: %d %s", a.StatusCode, a.body)
			}
			f.Stop()
			g := start()
			page.RawQueryString = "page_size=1&page_token=" + tok
			if a := call(g, page); a.StatusCode != 200 || len(a.json(t)["items"].([]any)) != 1 {
				t.Errorf("second page on a new cold start: %d %s", a.StatusCode, a.body)
			}
			page.RawQueryString = "page_size=1&page_token=" + tok + "x"
			if a := call(g, page); a.StatusCode != 400 {
				t.Errorf("a tampered page token: %d %s, want 400", a.StatusCode, a.body)
			}
		})
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
