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
//	                            secret, 32+ bytes (or MODELREG_SECRET, the value)
//	MODELREG_SLACK_SECRET_ARN   Secrets Manager secret holding a Slack incoming
//	                            webhook URL (or MODELREG_SLACK_WEBHOOK_URL);
//	                            optional; a value that is not a URL yet (the
//	                            operator has not put it) sends nothing to Slack
//	MODELREG_SNS_TOPIC_ARN      an SNS topic for email (optional)
//	MODELREG_CONSOLE_URL        the web console, for links to approvals (optional)
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

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
	if log == nil {
		log = slog.Default()
	}
	cfg := app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3,
		Secret: []byte(getenv("MODELREG_SECRET")),
		AWS:    app.AWS{DynamoDBTable: getenv("MODELREG_DYNAMODB_TABLE"), S3Bucket: getenv("MODELREG_S3_BUCKET")},
		Notify: app.Notify{
			SlackWebhookURL: getenv("MODELREG_SLACK_WEBHOOK_URL"),
			SNSTopicARN:     getenv("MODELREG_SNS_TOPIC_ARN"),
			ConsoleURL:      getenv("MODELREG_CONSOLE_URL"),
		},
		Logger: log,
	}
	secretARN, slackARN := getenv("MODELREG_SECRET_ARN"), getenv("MODELREG_SLACK_SECRET_ARN")
	if secretARN != "" || slackARN != "" {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		cfg.AWS.Config = &awsCfg
		sm := secretsmanager.NewFromConfig(awsCfg)
		if secretARN != "" {
			v, err := secretValue(ctx, sm, secretARN)
			if err != nil {
				return nil, err
			}
			cfg.Secret = []byte(v)
		}
		if slackARN != "" {
			v, err := secretValue(ctx, sm, slackARN)
			if err != nil {
				return nil, err
			}
			cfg.Notify.SlackWebhookURL = slackURL(v, log)
		}
	}
	return app.New(ctx, cfg)
}

// secretValue reads a secret's current string value.
func secretValue(ctx context.Context, sm *secretsmanager.Client, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", arn, err)
	}
	return strings.TrimSpace(aws.ToString(out.SecretString)), nil
}

// slackURL is the webhook URL in a secret's value, or "" (and a warning)
// while the secret holds something else, such as the placeholder the
// stack created it with.
func slackURL(v string, log *slog.Logger) string {
	if strings.HasPrefix(v, "https://") {
		return v
	}
	log.Warn("notify: the Slack secret holds no https:// URL yet; notifications go to the log and SNS only")
	return ""
}
