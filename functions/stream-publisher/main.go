// Command stream-publisher is the Lambda function on the registry table's
// DynamoDB Stream: it publishes the outbox events to EventBridge and acks
// them (shared/streampub). It wires through shared/app like every entry
// point: the DynamoDB store, no in-process events (this function is the
// outbox's consumer), and the app's EventBridge publisher. Configuration,
// from the environment:
//
//	MODELREG_DYNAMODB_TABLE   the registry's table (required)
//	MODELREG_S3_BUCKET        the artifact bucket (the app's; this function reads none)
//	MODELREG_EVENT_BUS        the EventBridge bus name or ARN (required)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/streampub"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	awsCfg := awsapi.FromEnv(os.Getenv).SDK() // Lambda's region and execution role credentials
	h, _, err := setup(context.Background(), app.AWS{
		Config:        &awsCfg,
		DynamoDBTable: os.Getenv("MODELREG_DYNAMODB_TABLE"),
		S3Bucket:      os.Getenv("MODELREG_S3_BUCKET"),
		EventBus:      os.Getenv("MODELREG_EVENT_BUS"),
	}, log)
	if err != nil {
		log.Error("stream-publisher: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup builds the app on aws (SDK clients once per cold start) and the
// handler on its store and publisher. Tests pass endpoints and a
// configuration in aws; the caller closes the App (a Lambda process
// never does).
func setup(ctx context.Context, aws app.AWS, log *slog.Logger) (*streampub.Handler, *app.App, error) {
	if aws.DynamoDBTable == "" || aws.S3Bucket == "" || aws.EventBus == "" {
		return nil, nil, errors.New("MODELREG_DYNAMODB_TABLE, MODELREG_S3_BUCKET and MODELREG_EVENT_BUS must be set")
	}
	// This function issues no page tokens and signs no URLs: the secret
	// the app requires is random per cold start, so no secret store is
	// read for it.
	secret := make([]byte, 32)
	rand.Read(secret)
	a, err := app.New(ctx, app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone,
		Secret: secret, AWS: aws, Logger: log,
	})
	if err != nil {
		return nil, nil, err
	}
	outbox, ok := a.Store.(streampub.Outbox)
	if !ok || a.Publisher == nil {
		a.Close()
		return nil, nil, fmt.Errorf("stream-publisher: the app's store (%T) has no outbox reads or it built no publisher", a.Store)
	}
	h, err := streampub.New(a.Publisher, outbox, log)
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	return h, a, nil
}
