package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/sagemaker/endpoints"
	"github.com/modelreg/modelreg/shared/workflow"
)

// backendConfig chooses where the server keeps records and artifacts: on
// this machine (SQLite, files) or in DynamoDB and S3 at any endpoint
// (AWS, or DynamoDB Local and MinIO), and which engine runs promotions.
// AWS credentials come from the standard chain (AWS_ACCESS_KEY_ID…,
// profiles, roles).
type backendConfig struct {
	store, artifacts          string
	region                    string
	dynamoTable, dynamoURL    string
	s3Bucket, s3URL, s3Prefix string
	createResources           bool
	workflow                  string
	stateMachineARN, sfnURL   string
	sweepInterval             time.Duration
	kmsKeyID, kmsURL          string
	allowPrivateWebhooks      bool
	sageMakerPrefix           string
	sageMakerRoles            string
	events, eventBus, ebURL   string
	verifyAsyncBytes          int64
	mlflowArtifacts           string
}

func (b *backendConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&b.store, "store", envOr("MODELREG_STORE", app.StoreSQLite), "where records live: sqlite or dynamodb (env MODELREG_STORE)")
	fs.StringVar(&b.artifacts, "artifacts", envOr("MODELREG_ARTIFACTS", app.ArtifactsFilesystem), "where artifacts live: filesystem or s3 (env MODELREG_ARTIFACTS)")
	fs.StringVar(&b.region, "aws-region", envOr("AWS_REGION", "us-east-1"), "AWS region (env AWS_REGION)")
	fs.StringVar(&b.dynamoTable, "dynamodb-table", envOr("MODELREG_DYNAMODB_TABLE", "modelreg"), "DynamoDB table (env MODELREG_DYNAMODB_TABLE)")
	fs.StringVar(&b.dynamoURL, "dynamodb-endpoint", os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL, e.g. DynamoDB Local (default: AWS; env MODELREG_DYNAMODB_ENDPOINT)")
	fs.StringVar(&b.s3Bucket, "s3-bucket", os.Getenv("MODELREG_S3_BUCKET"), "S3 bucket for artifacts (env MODELREG_S3_BUCKET)")
	fs.StringVar(&b.s3URL, "s3-endpoint", os.Getenv("MODELREG_S3_ENDPOINT"), "S3 endpoint URL, e.g. MinIO; path-style addressing (default: AWS; env MODELREG_S3_ENDPOINT)")
	fs.StringVar(&b.s3Prefix, "s3-prefix", os.Getenv("MODELREG_S3_PREFIX"), "key prefix inside the bucket (env MODELREG_S3_PREFIX)")
	fs.BoolVar(&b.createResources, "create-resources", os.Getenv("MODELREG_CREATE_RESOURCES") == "true", "create the DynamoDB table and S3 bucket if missing (for DynamoDB Local and MinIO; env MODELREG_CREATE_RESOURCES=true)")
	fs.StringVar(&b.workflow, "workflow", envOr("MODELREG_WORKFLOW", app.WorkflowLocal), "what runs promotions to Production: local (in this process, on the store) or sfn (a deployed Step Functions state machine; env MODELREG_WORKFLOW)")
	fs.StringVar(&b.stateMachineARN, "state-machine-arn", os.Getenv("MODELREG_STATE_MACHINE_ARN"), "the promotion state machine, with --workflow sfn (env MODELREG_STATE_MACHINE_ARN)")
	fs.StringVar(&b.sfnURL, "sfn-endpoint", os.Getenv("MODELREG_SFN_ENDPOINT"), "Step Functions endpoint URL (default: AWS; env MODELREG_SFN_ENDPOINT)")
	fs.StringVar(&b.kmsKeyID, "kms-key-id", os.Getenv("MODELREG_KMS_KEY_ID"), "KMS key (id, ARN or alias) that seals webhook secrets (default: a key file in DATA-DIR; env MODELREG_KMS_KEY_ID)")
	fs.StringVar(&b.kmsURL, "kms-endpoint", os.Getenv("MODELREG_KMS_ENDPOINT"), "KMS endpoint URL (default: AWS; env MODELREG_KMS_ENDPOINT)")
	fs.BoolVar(&b.allowPrivateWebhooks, "allow-private-webhooks", os.Getenv("MODELREG_ALLOW_PRIVATE_WEBHOOKS") == "true", "let webhook deploy targets reach loopback, private and link-local addresses (tests, a laptop; env MODELREG_ALLOW_PRIVATE_WEBHOOKS=true)")
	fs.StringVar(&b.sageMakerPrefix, "sagemaker-endpoint-prefix", os.Getenv("MODELREG_SAGEMAKER_ENDPOINT_PREFIX"), "SageMaker deploy targets may only name endpoints starting with this (env MODELREG_SAGEMAKER_ENDPOINT_PREFIX)")
	fs.StringVar(&b.sageMakerRoles, "sagemaker-roles", os.Getenv("MODELREG_SAGEMAKER_ROLES"), "comma-separated execution role ARNs (a trailing * matches a prefix) SageMaker deploy targets may name (default: any; env MODELREG_SAGEMAKER_ROLES)")
	fs.StringVar(&b.events, "events", envOr("MODELREG_EVENTS", app.EventsLocal), "where the outbox's events go: local (the in-process bus and its consumers), eventbridge (an EventBridge bus, --event-bus; for a server on AWS without the stream publisher function) or none (left in the outbox for another consumer; env MODELREG_EVENTS)")
	fs.StringVar(&b.eventBus, "event-bus", os.Getenv("MODELREG_EVENT_BUS"), "EventBridge bus name or ARN, with --events eventbridge (env MODELREG_EVENT_BUS)")
	fs.StringVar(&b.ebURL, "eventbridge-endpoint", os.Getenv("MODELREG_EVENTBRIDGE_ENDPOINT"), "EventBridge endpoint URL, e.g. moto (default: AWS; env MODELREG_EVENTBRIDGE_ENDPOINT)")
	fs.Int64Var(&b.verifyAsyncBytes, "verify-async-bytes", int64Env("MODELREG_VERIFY_ASYNC_BYTES", 0), "uploads holding more bytes than this are verified in the background: complete answers 202 with the version VERIFYING (0: 256 MiB on s3, never on filesystem; negative: never; env MODELREG_VERIFY_ASYNC_BYTES)")
	fs.StringVar(&b.mlflowArtifacts, "mlflow-artifacts", envOr("MODELREG_MLFLOW_ARTIFACTS", app.MLflowArtifactsProxy), "where MLflow clients write run artifacts: proxy (through this server) or s3 (straight to the bucket under the prefix's runs/, with the client's own credentials; needs --artifacts s3; env MODELREG_MLFLOW_ARTIFACTS)")
	fs.DurationVar(&b.sweepInterval, "workflow-sweep-interval", durationEnv("MODELREG_WORKFLOW_SWEEP_INTERVAL", app.DefaultSweepInterval), "how often the local workflow ends timed-out approvals and resumes stalled promotions (env MODELREG_WORKFLOW_SWEEP_INTERVAL)")
}

// promotionHandlers returns the promotion task handlers the local engine
// calls: the registry service's promotion steps.
var promotionHandlers = workflow.ServiceHandlers

// appConfig is the composition root's configuration for these flags, with
// the embedded backends available.
func (b backendConfig) appConfig(dataDir, baseURL string, secret []byte) app.Config {
	c := app.Config{
		Store: b.store, Artifacts: b.artifacts, Workflow: b.workflow, Events: b.events,
		DataDir: dataDir, PublicURL: baseURL, Secret: secret, Embedded: embedded.Backends{}, SageMaker: endpoints.Connect,
		AWS: app.AWS{
			Region: b.region, Load: loadAWS,
			DynamoDBTable: b.dynamoTable, DynamoDBEndpoint: b.dynamoURL,
			S3Bucket: b.s3Bucket, S3Endpoint: b.s3URL, S3Prefix: b.s3Prefix,
			StateMachineARN: b.stateMachineARN, SFNEndpoint: b.sfnURL,
			EventBus: b.eventBus, EventBridgeEndpoint: b.ebURL,
			CreateResources: b.createResources,
			KMSKeyID:        b.kmsKeyID, KMSEndpoint: b.kmsURL,
		},
		Handlers: promotionHandlers, SweepInterval: b.sweepInterval,
		AllowPrivateWebhooks: b.allowPrivateWebhooks,
		MLflowArtifacts:      b.mlflowArtifacts,
	}
	c.Service.SageMakerPrefix = b.sageMakerPrefix
	for _, r := range strings.Split(b.sageMakerRoles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			c.Service.AllowedRoleARNs = append(c.Service.AllowedRoleARNs, r)
		}
	}
	c.Service.VerifyAsyncBytes = b.verifyAsyncBytes
	if c.Workflow == app.WorkflowLocal && c.Handlers == nil {
		c.Workflow = app.WorkflowNone
	}
	// All local: a file:// source names this machine's disk.
	c.Service.AllowFileSources = b.store == app.StoreSQLite && b.artifacts == app.ArtifactsFilesystem
	return c
}

// loadAWS is the SDK's default configuration (environment, shared
// config and credentials files, SSO, web identity, container and instance
// roles), for region when one is given.
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	return awsconfig.LoadDefaultConfig(ctx, opts...)
}

// settingFlags names the flag of each app.Config setting the user chooses.
var settingFlags = map[string]string{
	"Store":                  "--store",
	"Artifacts":              "--artifacts",
	"Workflow":               "--workflow",
	"Events":                 "--events",
	"MLflowArtifacts":        "--mlflow-artifacts (or MODELREG_MLFLOW_ARTIFACTS)",
	"AWS.EventBus":           "--event-bus (or MODELREG_EVENT_BUS)",
	"AWS.DynamoDBTable":      "--dynamodb-table (or MODELREG_DYNAMODB_TABLE)",
	"AWS.S3Bucket":           "--s3-bucket (or MODELREG_S3_BUCKET)",
	"AWS.StateMachineARN":    "--state-machine-arn (or MODELREG_STATE_MACHINE_ARN)",
	"AWS.KMSKeyID":           "--kms-key-id (or MODELREG_KMS_KEY_ID)",
	"Notify.SlackWebhookURL": "--slack-webhook-env (the URL in the variable it names)",
}

// flagError turns a configuration the composition root refused into a
// usage error that names the flag.
func flagError(err error) error {
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	if f, ok := settingFlags[ce.Setting]; ok {
		return usagef("%s: %s", f, ce.Message)
	}
	return usagef("%s: %s", ce.Setting, ce.Message)
}

// int64Env returns the integer in env key, or def when it is unset or
// not an integer.
func int64Env(key string, def int64) int64 {
	n, err := strconv.ParseInt(os.Getenv(key), 10, 64)
	if err != nil {
		return def
	}
	return n
}
