// Command notify is the Lambda function that tells people: the target of
// the notify rule (approval requested or decided, stage changes, deployment
// events: shared/eventbridge.NotifyPattern) and of a schedule rule that
// runs the approval reminder sweep (every few minutes; 24 h and 1 h before
// an approval expires). Both inputs are EventBridge events; the work is
// shared/notify's, wired through shared/app. Configuration, from the
// environment:
//
//	MODELREG_DYNAMODB_TABLE    the registry's table (required)
//	MODELREG_S3_BUCKET         the artifact bucket (required by the app)
//	MODELREG_SECRET            the deployment's secret, 32+ bytes (required)
//	MODELREG_SLACK_WEBHOOK_URL a Slack incoming webhook (optional)
//	MODELREG_SNS_TOPIC_ARN     an SNS topic for email (optional)
//	MODELREG_CONSOLE_URL       the web console, for links to approvals (optional)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("notify: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(a.Notifications.HandleEventBridge)
}

// setup builds the app (the SDK clients, once) from the environment.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*app.App, error) {
	return app.New(ctx, app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3,
		Secret: []byte(getenv("MODELREG_SECRET")),
		AWS:    app.AWS{DynamoDBTable: getenv("MODELREG_DYNAMODB_TABLE"), S3Bucket: getenv("MODELREG_S3_BUCKET")},
		Notify: app.Notify{
			SlackWebhookURL: getenv("MODELREG_SLACK_WEBHOOK_URL"),
			SNSTopicARN:     getenv("MODELREG_SNS_TOPIC_ARN"),
			ConsoleURL:      getenv("MODELREG_CONSOLE_URL"),
		},
		Logger: log,
	})
}
