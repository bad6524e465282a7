// Command redeploy is the Lambda function behind the redeploy rules: it
// deploys a new Production version to the model's deploy targets (signed
// webhooks, SageMaker endpoint updates) and records the outcome of the
// SageMaker updates from their endpoint state-change events
// (shared/redeploy). Configuration, from the environment:
//
//	MODELREG_DYNAMODB_TABLE   the registry's table (required)
//	MODELREG_S3_BUCKET        the artifacts' bucket (required)
//	MODELREG_S3_PREFIX        the artifacts' key prefix (optional)
//	MODELREG_SECRET           the deployment's secret, at least 32 bytes (required)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
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

// setup builds the app (SDK clients once, outside the handler).
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (*app.App, error) {
	a, err := app.New(ctx, config(env, log))
	if err != nil {
		return nil, err
	}
	if a.Redeploy == nil {
		a.Close()
		return nil, errors.New("this build's registry service keeps no deploy targets")
	}
	return a, nil
}

// config is the app configuration the environment describes. Webhook
// targets never reach private addresses from AWS.
func config(env func(string) string, log *slog.Logger) app.Config {
	return app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone, Workflow: app.WorkflowNone,
		Secret: []byte(env("MODELREG_SECRET")),
		AWS: app.AWS{DynamoDBTable: env("MODELREG_DYNAMODB_TABLE"), S3Bucket: env("MODELREG_S3_BUCKET"),
			S3Prefix: env("MODELREG_S3_PREFIX")},
		Logger: log,
	}
}
