package app

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"

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

// store returns the DynamoDB store on AWS.DynamoDBTable, creating the table
// first with AWS.CreateResources.
func (c *awsClients) store(ctx context.Context) (*dynamodb.Store, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	api, err := awsapi.New(awsapi.FromSDK(cfg), wire.Service, c.cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("DynamoDB client: %w", err)
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
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if c.cfg.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.S3Endpoint)
			o.UsePathStyle = true
		}
	})
	if c.cfg.CreateResources {
		if err := ensureBucket(ctx, client, c.cfg.S3Bucket); err != nil {
			return nil, err
		}
	}
	var opts []s3.Option
	if c.cfg.S3Prefix != "" {
		opts = append(opts, s3.WithPrefix(c.cfg.S3Prefix))
	}
	return s3.New(client, c.cfg.S3Bucket, opts...), nil
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
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awslambda.NewFromConfig(cfg, func(o *awslambda.Options) {
		if c.cfg.VerifyEndpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.VerifyEndpoint)
		}
	})
	return invoke.New(client, c.cfg.VerifyFunction)
}

// workflow returns the Step Functions workflow on AWS.StateMachineARN, or
// with tasksOnly the one that only sends task results.
func (c *awsClients) workflow(ctx context.Context, now func() time.Time, tasksOnly bool) (*sfn.Workflow, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awssfn.NewFromConfig(cfg, func(o *awssfn.Options) {
		if c.cfg.SFNEndpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.SFNEndpoint)
		}
	})
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
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awskms.NewFromConfig(cfg, func(o *awskms.Options) {
		if c.cfg.KMSEndpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.KMSEndpoint)
		}
	})
	box, err := secretbox.NewKMS(client, c.cfg.KMSKeyID)
	if err != nil {
		return nil, &ConfigError{Setting: "AWS.KMSKeyID", Message: err.Error()}
	}
	return box, nil
}

// publisher returns the EventBridge publisher to AWS.EventBus.
func (c *awsClients) publisher(ctx context.Context) (*eventbridge.Publisher, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awseb.NewFromConfig(cfg, func(o *awseb.Options) {
		if c.cfg.EventBridgeEndpoint != "" {
			o.BaseEndpoint = aws.String(c.cfg.EventBridgeEndpoint)
		}
	})
	pub, err := eventbridge.New(client, eventbridge.Options{BusName: c.cfg.EventBus})
	if err != nil {
		return nil, &ConfigError{Setting: "AWS.EventBus", Message: err.Error()}
	}
	return pub, nil
}

// sns returns the SNS email publisher to topic.
func (c *awsClients) sns(ctx context.Context, topic, endpoint string) (*sns.Publisher, error) {
	cfg, err := c.config(ctx)
	if err != nil {
		return nil, err
	}
	client := awssns.NewFromConfig(cfg, func(o *awssns.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
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
func ensureBucket(ctx context.Context, client *awss3.Client, bucket string) error {
	if _, err := client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}
