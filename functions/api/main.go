// Command api is the Lambda function behind the registry's API Gateway
// HTTP API (payload format 2.0): the /v1 API, the MLflow-compatible API
// and the web console, the same handler tree `modelreg serve` runs
// (shared/router), wired through shared/app on DynamoDB, S3 and the
// promotion state machine. Callers of /v1 and /api are the IAM principals
// API Gateway's IAM authorizer verified (shared/apigw); the console signs
// people in with OpenID Connect (a Cognito user pool) and keeps its own
// sealed session cookie. Configuration, from the environment:
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
//	MODELREG_OIDC_ISSUER, MODELREG_OIDC_AUTHORIZE_URL, MODELREG_OIDC_TOKEN_URL,
//	MODELREG_OIDC_JWKS_URL, MODELREG_OIDC_CLIENT_ID, MODELREG_OIDC_REDIRECT_URL,
//	MODELREG_OIDC_GROUP_ROLES (JSON {"group":"role"}), and optionally
//	MODELREG_OIDC_CLIENT_SECRET_ARN (a confidential client's secret):
//	                                the console's sign-in; all or none. Without
//	                                them the console's pages answer 404 (IAM
//	                                callers have no browser session to sign in
//	                                with), and /v1 and /api work as usual.
//	MODELREG_DYNAMODB_ENDPOINT, MODELREG_S3_ENDPOINT, MODELREG_SFN_ENDPOINT,
//	MODELREG_KMS_ENDPOINT, MODELREG_VERIFY_ENDPOINT   emulators (tests only)
//
// The SDK configuration, clients and secrets are read once per cold start;
// the init log line reports the Secrets Manager calls and their time apart.
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/apigw"
	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/registry"
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

// Handler is the function's handler: one API Gateway request, one answer.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// noConsoleReason is what the console's pages answer without OIDC.
const noConsoleReason = "This registry's web console has no sign-in configured (the stack's OIDC settings, MODELREG_OIDC_*), so it is turned off. " +
	"The API (/v1) and the MLflow API (/api) answer requests signed with SigV4."

// setup builds the AWS clients, reads the secrets and wires the app and
// the handler tree, once.
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (Handler, *app.App, error) {
	start := time.Now()
	// Lambda puts the region and the execution role's credentials in the
	// environment; reading them there (not through the SDK's default
	// chain) spares the cold start, and the binary, the SDK's config, STS,
	// SSO and IMDS code.
	ac := awsapi.FromEnv(os.Getenv)
	awsCfg := ac.SDK()
	sec := secret.Open(ac)
	key, err := sec.Deployment(ctx, env, false)
	if err != nil {
		return nil, nil, err
	}
	oidc, err := oidcConfig(ctx, env, sec)
	if err != nil {
		return nil, nil, err
	}
	auth, err := apigw.NewIAM(env("MODELREG_IAM_ROLES"))
	if err != nil {
		return nil, nil, err
	}
	cfg := config(env, key)
	cfg.AWS.Config, cfg.Logger = &awsCfg, log
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, nil, nameSetting(err)
	}
	opts := router.Options{Logger: log, Version: version, OIDC: oidc, NoConsoleReason: noConsoleReason}
	tree, err := router.New(a, auth, opts)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	n, d := sec.Calls()
	log.Info("api: init", "init_ms", float64(time.Since(start).Microseconds())/1000, "secretsmanager_calls", n,
		"secretsmanager_ms", float64(d.Microseconds())/1000, "workflow", cfg.Workflow, "console", oidc != nil)
	return apigw.Handler(tree), a, nil
}

// config is the app configuration the environment describes, with the
// deployment's secret key. Nothing runs in the background in Lambda: the
// outbox goes out through the stream publisher, large verifications to the
// verify-upload function (or inline without it), sweeps on schedules.
func config(env func(string) string, key []byte) app.Config {
	c := app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone, Workflow: app.WorkflowNone,
		Secret: key, UploadSweepInterval: -1, MLflowArtifacts: env("MODELREG_MLFLOW_ARTIFACTS"),
		AWS: app.AWS{
			DynamoDBTable: env("MODELREG_DYNAMODB_TABLE"), DynamoDBEndpoint: env("MODELREG_DYNAMODB_ENDPOINT"),
			S3Bucket: env("MODELREG_S3_BUCKET"), S3Endpoint: env("MODELREG_S3_ENDPOINT"), S3Prefix: env("MODELREG_S3_PREFIX"),
			StateMachineARN: env("MODELREG_STATE_MACHINE_ARN"), SFNEndpoint: env("MODELREG_SFN_ENDPOINT"),
			KMSKeyID: env("MODELREG_WEBHOOK_KMS_KEY"), KMSEndpoint: env("MODELREG_KMS_ENDPOINT"),
			VerifyFunction: env("MODELREG_VERIFY_FUNCTION"), VerifyEndpoint: env("MODELREG_VERIFY_ENDPOINT"),
		},
		Service: registry.Config{SageMakerPrefix: env("MODELREG_SAGEMAKER_PREFIX"), AllowedRoleARNs: list(env("MODELREG_SAGEMAKER_ROLES"))},
	}
	if c.AWS.StateMachineARN != "" {
		c.Workflow = app.WorkflowSFN
	}
	if c.AWS.VerifyFunction == "" {
		c.Service.VerifyAsyncBytes = -1 // no queue runs in Lambda: verify inside the completion
	}
	return c
}

// settingEnv names the environment variable of an app setting.
var settingEnv = map[string]string{
	"Secret": "MODELREG_SECRET_ARN", "AWS.DynamoDBTable": "MODELREG_DYNAMODB_TABLE", "AWS.S3Bucket": "MODELREG_S3_BUCKET",
	"AWS.StateMachineARN": "MODELREG_STATE_MACHINE_ARN", "AWS.KMSKeyID": "MODELREG_WEBHOOK_KMS_KEY", "AWS.VerifyFunction": "MODELREG_VERIFY_FUNCTION",
	"MLflowArtifacts": "MODELREG_MLFLOW_ARTIFACTS",
}

// nameSetting prefixes an app configuration error with the environment
// variable it comes from.
func nameSetting(err error) error {
	var ce *app.ConfigError
	if errors.As(err, &ce) && settingEnv[ce.Setting] != "" {
		return fmt.Errorf("%s: %w", settingEnv[ce.Setting], err)
	}
	return err
}

// list splits a comma-separated setting, dropping empty entries.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// oidcVars are the console's OIDC settings, all required when one is set.
var oidcVars = []string{"MODELREG_OIDC_ISSUER", "MODELREG_OIDC_AUTHORIZE_URL", "MODELREG_OIDC_TOKEN_URL",
	"MODELREG_OIDC_JWKS_URL", "MODELREG_OIDC_CLIENT_ID", "MODELREG_OIDC_REDIRECT_URL", "MODELREG_OIDC_GROUP_ROLES"}

// oidcConfig returns the console's OIDC sign-in, or nil when none of its
// settings is set. Some but not all set, a URL that is not https, or a
// group mapping that does not parse is an error naming the setting.
func oidcConfig(ctx context.Context, env func(string) string, sec *secret.Reader) (*console.OIDC, error) {
	var set, missing []string
	for _, k := range oidcVars {
		if strings.TrimSpace(env(k)) == "" {
			missing = append(missing, k)
		} else {
			set = append(set, k)
		}
	}
	if len(set) == 0 && env("MODELREG_OIDC_CLIENT_SECRET_ARN") == "" {
		return nil, nil
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("console sign-in: %s set but %s not: set all of them, or none to turn the console off",
			strings.Join(set, ", "), strings.Join(missing, ", "))
	}
	o := &console.OIDC{
		Issuer: env("MODELREG_OIDC_ISSUER"), AuthorizeURL: env("MODELREG_OIDC_AUTHORIZE_URL"), TokenURL: env("MODELREG_OIDC_TOKEN_URL"),
		JWKSURL: env("MODELREG_OIDC_JWKS_URL"), ClientID: env("MODELREG_OIDC_CLIENT_ID"), RedirectURL: env("MODELREG_OIDC_REDIRECT_URL"),
	}
	for k, v := range map[string]string{"MODELREG_OIDC_ISSUER": o.Issuer, "MODELREG_OIDC_AUTHORIZE_URL": o.AuthorizeURL,
		"MODELREG_OIDC_TOKEN_URL": o.TokenURL, "MODELREG_OIDC_JWKS_URL": o.JWKSURL, "MODELREG_OIDC_REDIRECT_URL": o.RedirectURL} {
		if !strings.HasPrefix(v, "https://") {
			return nil, fmt.Errorf("console sign-in: %s=%q: give an https:// URL", k, v)
		}
	}
	var groups map[string]string
	dec := json.NewDecoder(bytes.NewReader([]byte(env("MODELREG_OIDC_GROUP_ROLES"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&groups); err != nil {
		return nil, fmt.Errorf(`console sign-in: MODELREG_OIDC_GROUP_ROLES: %v (want {"group":"role"})`, err)
	}
	o.GroupRoles = map[string]registry.Role{}
	for g, r := range groups {
		role, err := registry.ParseRole(r)
		if err != nil {
			return nil, fmt.Errorf("console sign-in: MODELREG_OIDC_GROUP_ROLES: group %q: %v", g, err)
		}
		o.GroupRoles[g] = role
	}
	if len(o.GroupRoles) == 0 {
		return nil, fmt.Errorf("console sign-in: MODELREG_OIDC_GROUP_ROLES maps no group to a role")
	}
	cs, err := sec.FromEnv(ctx, env, "MODELREG_OIDC_CLIENT_SECRET_ARN", "")
	if err != nil {
		return nil, err
	}
	o.ClientSecret = cs
	return o, nil
}
