package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/redeploy"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/s3"
	"github.com/modelreg/modelreg/shared/secretbox"
	"github.com/modelreg/modelreg/shared/sfn"
	"github.com/modelreg/modelreg/shared/sns"
)

// awsClients builds the AWS adapters, loading the SDK configuration once
// and only when one of them is needed.
type awsClients struct {
	cfg    AWS
	loaded *aws.Config
}

func (c *awsClients) config(ctx context.Context) (aws.Config, error) {
	if c.loaded == nil {
		switch {
		case c.cfg.Config != nil:
			c.loaded = c.cfg.Config
		case c.cfg.Load != nil:
			cfg, err := c.cfg.Load(ctx, c.cfg.Region)
			if err != nil {
				return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
			}
			c.loaded = &cfg
		default:
			return aws.Config{}, &ConfigError{Setting: "AWS.Config", Message: "the AWS adapters need an AWS configuration: set AWS.Config, or AWS.Load (the SDK's default chain, as cmd/modelreg does)"}
		}
	}
	return *c.loaded, nil
}

// client is a client of svc at endpoint ("" for AWS's) on the loaded
// configuration.
func (c *awsClients) client(ctx context.Context, svc awsapi.Service, endpoint string) (*awsapi.Client, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client, err := awsapi.New(awsapi.FromSDK(cfg), svc, endpoint)
	if err != nil {
		return nil, fmt.Errorf("%s client: %w", svc.SigningName, err)
	}
	return client, nil
}

// store returns the DynamoDB store on AWS.DynamoDBTable, creating the table
// first with AWS.CreateResources.
func (c *awsClients) store(ctx context.Context) (*dynamodb.Store, error) {
	api, err := c.client(ctx, wire.Service, c.cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	client := wire.New(api)
	if c.cfg.CreateResources {
		if err := ensureTable(ctx, client, c.cfg.DynamoDBTable); err != nil {
			return nil, err
		}
	}
	return dynamodb.New(client, c.cfg.DynamoDBTable), nil
}

// artifacts returns the S3 artifacts in AWS.S3Bucket, creating the bucket
// first with AWS.CreateResources.
func (c *awsClients) artifacts(ctx context.Context) (*s3.Artifacts, error) {
	client, err := c.client(ctx, s3.Service, c.cfg.S3Endpoint)
	if err != nil {
		return nil, err
	}
	var opts []s3.Option
	if c.cfg.S3Prefix != "" {
		opts = append(opts, s3.WithPrefix(c.cfg.S3Prefix))
	}
	a := s3.New(client, c.cfg.S3Bucket, opts...)
	if c.cfg.CreateResources {
		if err := ensureBucket(ctx, a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// sagemaker returns the SageMaker deployer Config.SageMaker connects.
func (c *awsClients) sagemaker(ctx context.Context, connect func(aws.Config, string) redeploy.SageMaker) (redeploy.SageMaker, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	return connect(cfg, c.cfg.SageMakerEndpoint), nil
}

// invoker returns the asynchronous invoker of AWS.VerifyFunction.
func (c *awsClients) invoker(ctx context.Context) (*invoke.Lambda, error) {
	client, err := c.client(ctx, invoke.Service, c.cfg.VerifyEndpoint)
	if err != nil {
		return nil, err
	}
	return invoke.New(client, c.cfg.VerifyFunction)
}

// workflow returns the Step Functions workflow on AWS.StateMachineARN, or
// with tasksOnly the one that only sends task results.
func (c *awsClients) workflow(ctx context.Context, now func() time.Time, tasksOnly bool) (*sfn.Workflow, error) {
	client, err := c.client(ctx, sfn.Service, c.cfg.SFNEndpoint)
	if err != nil {
		return nil, err
	}
	if tasksOnly {
		return sfn.NewTasks(client, now), nil
	}
	wf, err := sfn.New(client, c.cfg.StateMachineARN, now)
	if err != nil {
		return nil, &ConfigError{Setting: "AWS.StateMachineARN", Message: err.Error()}
	}
	return wf, nil
}

// secrets returns the KMS secret box on AWS.KMSKeyID.
func (c *awsClients) secrets(ctx context.Context) (*secretbox.KMS, error) {
	client, err := c.client(ctx, secretbox.Service, c.cfg.KMSEndpoint)
	if err != nil {
		return nil, err
	}
	box, err := secretbox.NewKMS(client, c.cfg.KMSKeyID)
	if err != nil {
		return nil, &ConfigError{Setting: "AWS.KMSKeyID", Message: err.Error()}
	}
	return box, nil
}

// publisher returns the EventBridge publisher to AWS.EventBus.
func (c *awsClients) publisher(ctx context.Context) (*eventbridge.Publisher, error) {
	client, err := c.client(ctx, eventbridge.Service, c.cfg.EventBridgeEndpoint)
	if err != nil {
		return nil, err
	}
	pub, err := eventbridge.New(client, eventbridge.Options{BusName: c.cfg.EventBus})
	if err != nil {
		return nil, &ConfigError{Setting: "AWS.EventBus", Message: err.Error()}
	}
	return pub, nil
}

// sns returns the SNS email publisher to topic.
func (c *awsClients) sns(ctx context.Context, topic, endpoint string) (*sns.Publisher, error) {
	client, err := c.client(ctx, sns.Service, endpoint)
	if err != nil {
		return nil, err
	}
	pub, err := sns.New(client, topic)
	if err != nil {
		return nil, &ConfigError{Setting: "Notify.SNSTopicARN", Message: registry.ErrorMessage(err)}
	}
	return pub, nil
}

// ensureTable creates the registry's table unless it exists.
func ensureTable(ctx context.Context, client *wire.Client, table string) error {
	_, err := client.DescribeTable(ctx, &wire.DescribeTableInput{TableName: table})
	if awsapi.IsCode(err, wire.CodeResourceNotFound) {
		if err := dynamodb.CreateTable(ctx, client, table); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("describe table %s: %w", table, err)
	}
	return nil
}

// ensureBucket creates the artifact bucket unless it exists.
func ensureBucket(ctx context.Context, a *s3.Artifacts) error {
	if err := a.HeadBucket(ctx); err == nil {
		return nil
	}
	return a.CreateBucket(ctx) // "create bucket NAME: …"
}
