// Command notify is the Lambda function that tells people: the target of
// the notify rule (approval requested or decided, stage changes, deployment
// events: shared/eventbridge.NotifyPattern) and of a schedule rule that
// runs the approval reminder sweep (every few minutes; 24 h and 1 h before
// an approval expires). Both inputs are EventBridge events; the work is
// shared/notify's, wired through shared/app. Configuration, from the
// environment:
//
//	MODELREG_DYNAMODB_TABLE     the registry's table (required)
//	MODELREG_S3_BUCKET          the artifact bucket (required by the app)
//	MODELREG_SECRET_ARN         Secrets Manager secret holding the deployment's
//	                            secret, 32+ bytes (or MODELREG_SECRET, the value);
//	                            optional: notifications sign nothing, so without
//	                            it the function uses a random one per cold start
//	MODELREG_SLACK_SECRET_ARN   Secrets Manager secret holding a Slack incoming
//	                            webhook URL (or MODELREG_SLACK_WEBHOOK_URL);
//	                            optional; a value that is not a URL yet (the
//	                            operator has not put it) sends nothing to Slack
//	MODELREG_SNS_TOPIC_ARN      an SNS topic for email (optional)
//	MODELREG_CONSOLE_URL        the web console, for links to approvals (optional)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/secret"
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

// setup builds the app (the SDK clients, once) from the environment,
// reading the secrets from Secrets Manager once.
func setup(ctx context.Context, getenv func(string) string, log *slog.Logger) (*app.App, error) {
	if log == nil {
		log = slog.Default()
	}
	// Lambda's region and execution role credentials, from the environment.
	ac := awsapi.FromEnv(os.Getenv)
	awsCfg := ac.SDK()
	sec := secret.Open(ac)
	// Notifications sign nothing that leaves the process: without a
	// configured secret, one for this cold start.
	key, err := sec.Deployment(ctx, getenv, true)
	if err != nil {
		return nil, err
	}
	slack, err := sec.FromEnv(ctx, getenv, "MODELREG_SLACK_SECRET_ARN", "MODELREG_SLACK_WEBHOOK_URL")
	if err != nil {
		return nil, err
	}
	cfg := app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3,
		Secret: key,
		AWS:    app.AWS{Config: &awsCfg, DynamoDBTable: getenv("MODELREG_DYNAMODB_TABLE"), S3Bucket: getenv("MODELREG_S3_BUCKET")},
		Notify: app.Notify{
			SlackWebhookURL: slackURL(slack, log),
			SNSTopicARN:     getenv("MODELREG_SNS_TOPIC_ARN"),
			ConsoleURL:      getenv("MODELREG_CONSOLE_URL"),
		},
		Logger: log,
	}
	if n, d := sec.Calls(); n > 0 {
		log.Info("notify: secrets read", "secretsmanager_calls", n, "secretsmanager_ms", d.Milliseconds())
	}
	return app.New(ctx, cfg)
}

// slackURL is the webhook URL in a secret's value, or "" (and a warning)
// while the secret holds something else, such as the placeholder the
// stack created it with.
func slackURL(v string, log *slog.Logger) string {
	if v == "" || strings.HasPrefix(v, "https://") {
		return v
	}
	log.Warn("notify: the Slack secret holds no https:// URL yet; notifications go to the log and SNS only")
	return ""
}
