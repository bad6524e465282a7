// Command verify-upload is the Lambda function that verifies large uploads
// in the background: the api function's Complete answers 202 with the
// version VERIFYING and invokes this one asynchronously with
// {"model","version","upload_id"} (shared/invoke); it runs
// registry.Service.VerifyUpload, which makes the version READY or FAILED.
// Configuration, from the environment:
//
//	MODELREG_DYNAMODB_TABLE     the registry's table (required)
//	MODELREG_S3_BUCKET          the artifact bucket (required)
//	MODELREG_S3_PREFIX          key prefix inside the bucket (optional)
//	AWS_LAMBDA_FUNCTION_NAME    set by Lambda: the function hands a
//	                            verification that runs out of time to itself
//
// The function issues no page tokens or URLs, so its service secret is
// random per cold start (no Secrets Manager call).
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/secret"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	awsCfg := awsapi.FromEnv(os.Getenv).SDK() // Lambda's region and execution role credentials
	h, _, err := setup(context.Background(), os.Getenv, &awsCfg, log)
	if err != nil {
		log.Error("verify-upload: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup builds the SDK clients and the service once, through shared/app.
// awsCfg is the region and credentials (from the environment, or a test's).
func setup(ctx context.Context, env func(string) string, awsCfg *aws.Config, log *slog.Logger) (*invoke.VerifyHandler, *app.App, error) {
	table, bucket := env("MODELREG_DYNAMODB_TABLE"), env("MODELREG_S3_BUCKET")
	if table == "" || bucket == "" {
		return nil, nil, fmt.Errorf("MODELREG_DYNAMODB_TABLE and MODELREG_S3_BUCKET must be set")
	}
	cfg := app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Secret: secret.Random(), Logger: log,
		AWS: app.AWS{Config: awsCfg, DynamoDBTable: table, DynamoDBEndpoint: env("MODELREG_DYNAMODB_ENDPOINT"),
			S3Bucket: bucket, S3Endpoint: env("MODELREG_S3_ENDPOINT"), S3Prefix: env("MODELREG_S3_PREFIX"),
			// The hand-over to itself.
			VerifyFunction: env("AWS_LAMBDA_FUNCTION_NAME"), VerifyEndpoint: env("MODELREG_VERIFY_ENDPOINT")},
	}
	// This function verifies; it never defers a verification to a queue.
	cfg.Service.VerifyAsyncBytes = -1
	a, err := app.New(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	h := &invoke.VerifyHandler{Service: a.Service, Logger: log}
	if fn := cfg.AWS.VerifyFunction; fn != "" {
		inv, err := a.VerifyInvoker(ctx)
		if err != nil {
			a.Close()
			return nil, nil, err
		}
		h.Continue = inv
	}
	return h, a, nil
}
