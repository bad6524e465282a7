// Command redeploy is the Lambda function behind the redeploy rules: it
// deploys a new Production version to the model's deploy targets (signed
// webhooks, SageMaker endpoint updates) and records the outcome of the
// SageMaker updates from their endpoint state-change events
// (shared/redeploy). Configuration, from the environment:
//
//	MODELREG_DYNAMODB_TABLE   the registry's table (required)
//	MODELREG_S3_BUCKET        the artifacts' bucket (required)
//	MODELREG_S3_PREFIX        the artifacts' key prefix (optional)
//	MODELREG_SECRET_ARN       Secrets Manager secret holding the deployment's secret
//	                          (or MODELREG_SECRET, the value); optional: without
//	                          it, a random one per cold start (nothing it signs
//	                          outlives the process)
//	MODELREG_WEBHOOK_KMS_KEY  the KMS key that seals webhook targets' secrets
//	MODELREG_SAGEMAKER_PREFIX the endpoint name prefix SageMaker targets must have
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker/endpoints"
	"github.com/modelreg/modelreg/shared/secret"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("redeploy: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(a.Redeploy.HandleEventBridge)
}

// setup builds the app (SDK clients once, outside the handler), reading
// the deployment's secret from Secrets Manager once when it is named.
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (*app.App, error) {
	// Lambda's region and execution role credentials, from the environment.
	ac := awsapi.FromEnv(os.Getenv)
	awsCfg := ac.SDK()
	// Deployments sign with each target's own secret: the deployment's is
	// not needed, and without one the function uses a random one.
	key, err := secret.Open(ac).Deployment(ctx, env, true)
	if err != nil {
		return nil, err
	}
	cfg := config(env, key, log)
	cfg.AWS.Config = &awsCfg
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if a.Redeploy == nil {
		a.Close()
		return nil, errors.New("this build's registry service keeps no deploy targets")
	}
	return a, nil
}

// config is the app configuration the environment describes, with the
// deployment's secret key. Webhook targets never reach private addresses
// from AWS.
func config(env func(string) string, key []byte, log *slog.Logger) app.Config {
	return app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone, Workflow: app.WorkflowNone,
		Secret: key,
		AWS: app.AWS{DynamoDBTable: env("MODELREG_DYNAMODB_TABLE"), S3Bucket: env("MODELREG_S3_BUCKET"),
			S3Prefix: env("MODELREG_S3_PREFIX"), KMSKeyID: env("MODELREG_WEBHOOK_KMS_KEY")},
		Service:   registry.Config{SageMakerPrefix: env("MODELREG_SAGEMAKER_PREFIX")},
		SageMaker: endpoints.Connect,
		Logger:    log,
	}
}
