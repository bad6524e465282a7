// Command api is the Lambda function behind the registry's API Gateway
// HTTP API (payload format 2.0) for programs: the /v1 API and the
// MLflow-compatible API, the handler tree `modelreg serve` runs
// (shared/router) without the console, wired through shared/app on
// DynamoDB, S3 and the promotion state machine (functions/internal/httpfn,
// which the console function shares). Callers are the IAM principals API
// Gateway's IAM authorizer verified (shared/apigw). The web console's
// pages are the console function's: API Gateway sends their paths there,
// and here they would answer the API's JSON 404. Configuration, from the
// environment:
//
//	MODELREG_DYNAMODB_TABLE         the registry's table (required)
//	MODELREG_S3_BUCKET              the artifact bucket (required)
//	MODELREG_S3_PREFIX              key prefix inside the bucket (optional)
//	MODELREG_SECRET_ARN             Secrets Manager secret holding the deployment's
//	                                secret, 32+ bytes: page tokens, console cookies
//	                                (or MODELREG_SECRET, the value; required)
//	MODELREG_STATE_MACHINE_ARN      the promotion state machine (without it,
//	                                promotions to Production answer 501)
//	MODELREG_IAM_ROLES              JSON: IAM role (or user) ARN → {"role","groups"}
//	MODELREG_WEBHOOK_KMS_KEY        KMS key sealing webhook targets' secrets
//	                                (without it, adding a webhook target answers 501)
//	MODELREG_SAGEMAKER_PREFIX       endpoint name prefix SageMaker targets must have
//	MODELREG_SAGEMAKER_ROLES        comma-separated execution role ARNs they may pass
//	MODELREG_VERIFY_FUNCTION        the verify-upload function: large completions
//	                                answer 202 VERIFYING and are verified there
//	                                (without it, every completion verifies inline)
//	MODELREG_MLFLOW_ARTIFACTS       proxy (default) or s3: MLflow runs get an s3://
//	                                location under the prefix's runs/ (the stack sets s3)
//	MODELREG_DYNAMODB_ENDPOINT, MODELREG_S3_ENDPOINT, MODELREG_SFN_ENDPOINT,
//	MODELREG_KMS_ENDPOINT, MODELREG_VERIFY_ENDPOINT   emulators (tests only)
//
// The AWS configuration, clients and secrets are read once per cold start;
// the init log line reports the Secrets Manager calls and their time apart.
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/functions/internal/httpfn"
	"github.com/modelreg/modelreg/shared/apigw"
	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/router"
	"github.com/modelreg/modelreg/shared/secret"
)

// version is what GET /v1/health reports (-ldflags "-X main.version=…").
var version = "lambda"

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, _, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("api: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

// setup builds the AWS clients, reads the secrets and wires the app and
// the handler tree, once. The IAM role mapping is checked first, so a bad
// one fails before anything is built.
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (httpfn.Handler, *app.App, error) {
	auth, err := apigw.NewIAM(env("MODELREG_IAM_ROLES"))
	if err != nil {
		return nil, nil, err
	}
	return httpfn.Setup(ctx, "api", env, log, func(_ context.Context, a *app.App, _ *secret.Reader) (http.Handler, error) {
		return router.New(a, auth, router.Options{Logger: log, Version: version})
	})
}
