// Package httpfn is the setup the two Lambda functions behind the
// registry's API Gateway share: api (the /v1 API and the MLflow API) and
// console (the web console's pages). Both read the same environment into
// the same app (DynamoDB, S3, the promotion state machine), so that a page
// and an API call run the same service with the same rules; each mounts
// its own handler tree on it. They are two binaries because the console's
// templates cost the api 2 MB (html/template's reflection keeps every
// exported method of a binary alive).
package httpfn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/apigw"
	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secret"
)

// Handler is a function's handler: one API Gateway request, one answer.
type Handler = func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Mount builds a function's handler tree on the app; sec reads any further
// secret the tree needs (the console's OIDC client secret).
type Mount func(ctx context.Context, a *app.App, sec *secret.Reader) (http.Handler, error)

// Setup builds, once per cold start, the app the environment describes and
// the function's handler on it: the AWS configuration Lambda puts in the
// environment (region, execution role credentials; awsapi.FromEnv, not the
// SDK's default chain), the deployment's secret (MODELREG_SECRET_ARN from
// Secrets Manager, or MODELREG_SECRET), the app, then mount's tree behind
// the API Gateway adapter. The init log line ("NAME: init") reports the
// Secrets Manager calls and their time apart. A setting that is missing or
// wrong is an error naming its variable.
func Setup(ctx context.Context, name string, env func(string) string, log *slog.Logger, mount Mount) (Handler, *app.App, error) {
	start := time.Now()
	ac := awsapi.FromEnv(os.Getenv)
	awsCfg := ac.SDK()
	sec := secret.Open(ac)
	key, err := sec.Deployment(ctx, env, false)
	if err != nil {
		return nil, nil, err
	}
	cfg := Config(env, key)
	cfg.AWS.Config, cfg.Logger = &awsCfg, log
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, nil, NameSetting(err)
	}
	tree, err := mount(ctx, a, sec)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	n, d := sec.Calls()
	log.Info(name+": init", "init_ms", float64(time.Since(start).Microseconds())/1000, "secretsmanager_calls", n,
		"secretsmanager_ms", float64(d.Microseconds())/1000, "workflow", cfg.Workflow)
	return apigw.Handler(tree), a, nil
}

// Config is the app configuration the environment describes, with the
// deployment's secret key. Nothing runs in the background in Lambda: the
// outbox goes out through the stream publisher, large verifications to the
// verify-upload function (or inline without it), sweeps on schedules.
func Config(env func(string) string, key []byte) app.Config {
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
		Service: registry.Config{SageMakerPrefix: env("MODELREG_SAGEMAKER_PREFIX"), AllowedRoleARNs: List(env("MODELREG_SAGEMAKER_ROLES"))},
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

// NameSetting prefixes an app configuration error with the environment
// variable it comes from.
func NameSetting(err error) error {
	var ce *app.ConfigError
	if errors.As(err, &ce) && settingEnv[ce.Setting] != "" {
		return fmt.Errorf("%s: %w", settingEnv[ce.Setting], err)
	}
	return err
}

// List splits a comma-separated setting, dropping empty entries.
func List(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
