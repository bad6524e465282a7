// Command stream-publisher is the Lambda function on the registry table's
// DynamoDB Stream: it publishes the outbox events to EventBridge and acks
// them (shared/streampub). Configuration, from the environment:
//
//	MODELREG_DYNAMODB_TABLE   the registry's table (required)
//	MODELREG_EVENT_BUS        the EventBridge bus name or ARN (required)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/streampub"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv("MODELREG_DYNAMODB_TABLE"), os.Getenv("MODELREG_EVENT_BUS"), log)
	if err != nil {
		log.Error("stream-publisher: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup builds the SDK clients once and wires the handler.
func setup(ctx context.Context, table, bus string, log *slog.Logger) (*streampub.Handler, error) {
	if table == "" || bus == "" {
		return nil, fmt.Errorf("MODELREG_DYNAMODB_TABLE and MODELREG_EVENT_BUS must be set")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	pub, err := eventbridge.New(awseb.NewFromConfig(cfg), eventbridge.Options{BusName: bus})
	if err != nil {
		return nil, err
	}
	return streampub.New(pub, dynamodb.New(awsddb.NewFromConfig(cfg), table), log)
}
