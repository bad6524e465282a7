package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/s3"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// backendConfig chooses where the server keeps records and artifacts: on
// this machine (SQLite, files) or in DynamoDB and S3 at any endpoint
// (AWS, or DynamoDB Local and MinIO). AWS credentials come from the
// standard chain (AWS_ACCESS_KEY_ID…, profiles, roles).
type backendConfig struct {
	store, artifacts          string
	region                    string
	dynamoTable, dynamoURL    string
	s3Bucket, s3URL, s3Prefix string
	createResources           bool
}

func (b *backendConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&b.store, "store", envOr("MODELREG_STORE", "sqlite"), "where records live: sqlite or dynamodb (env MODELREG_STORE)")
	fs.StringVar(&b.artifacts, "artifacts", envOr("MODELREG_ARTIFACTS", "filesystem"), "where artifacts live: filesystem or s3 (env MODELREG_ARTIFACTS)")
	fs.StringVar(&b.region, "aws-region", envOr("AWS_REGION", "us-east-1"), "AWS region (env AWS_REGION)")
	fs.StringVar(&b.dynamoTable, "dynamodb-table", envOr("MODELREG_DYNAMODB_TABLE", "modelreg"), "DynamoDB table (env MODELREG_DYNAMODB_TABLE)")
	fs.StringVar(&b.dynamoURL, "dynamodb-endpoint", os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL, e.g. DynamoDB Local (default: AWS; env MODELREG_DYNAMODB_ENDPOINT)")
	fs.StringVar(&b.s3Bucket, "s3-bucket", os.Getenv("MODELREG_S3_BUCKET"), "S3 bucket for artifacts (env MODELREG_S3_BUCKET)")
	fs.StringVar(&b.s3URL, "s3-endpoint", os.Getenv("MODELREG_S3_ENDPOINT"), "S3 endpoint URL, e.g. MinIO; path-style addressing (default: AWS; env MODELREG_S3_ENDPOINT)")
	fs.StringVar(&b.s3Prefix, "s3-prefix", os.Getenv("MODELREG_S3_PREFIX"), "key prefix inside the bucket (env MODELREG_S3_PREFIX)")
	fs.BoolVar(&b.createResources, "create-resources", os.Getenv("MODELREG_CREATE_RESOURCES") == "true", "create the DynamoDB table and S3 bucket if missing (for DynamoDB Local and MinIO; env MODELREG_CREATE_RESOURCES=true)")
}

// backends are the adapters the server runs on.
type backends struct {
	store     registry.Store
	artifacts registry.Artifacts
	blobs     http.Handler // the signed-URL routes, for filesystem artifacts only
	close     func()
}

func openBackends(ctx context.Context, b backendConfig, dataDir, baseURL string, secret []byte) (backends, error) {
	var out backends
	var closers []func()
	out.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (backends, error) { out.close(); return backends{}, err }

	var awsCfg *aws.Config
	loadAWS := func() (aws.Config, error) {
		if awsCfg == nil {
			cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(b.region))
			if err != nil {
				return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
			}
			awsCfg = &cfg
		}
		return *awsCfg, nil
	}

	switch b.store {
	case "sqlite":
		st, err := sqlite.Open(filepath.Join(dataDir, "registry.db"))
		if err != nil {
			return fail(fmt.Errorf("open store: %w", err))
		}
		closers = append(closers, func() { st.Close() })
		out.store = st
	case "dynamodb":
		cfg, err := loadAWS()
		if err != nil {
			return fail(err)
		}
		client := awsddb.NewFromConfig(cfg, func(o *awsddb.Options) {
			if b.dynamoURL != "" {
				o.BaseEndpoint = aws.String(b.dynamoURL)
				// DynamoDB Local's x-amz-crc32 headers do not match its
				// bodies; AWS's do, so this is only off for other endpoints.
				o.DisableValidateResponseChecksum = true
			}
		})
		if b.createResources {
			if err := ensureTable(ctx, client, b.dynamoTable); err != nil {
				return fail(err)
			}
		}
		st := dynamodb.New(client, b.dynamoTable)
		closers = append(closers, func() { st.Close() })
		out.store = st
	default:
		return fail(usagef("--store %q: use sqlite or dynamodb", b.store))
	}

	switch b.artifacts {
	case "filesystem":
		fsa, err := filesystem.New(filepath.Join(dataDir, "artifacts"), baseURL, derive(secret, "blob-urls"))
		if err != nil {
			return fail(fmt.Errorf("artifacts: %w", err))
		}
		closers = append(closers, func() { fsa.Close() })
		out.artifacts, out.blobs = fsa, fsa.Handler()
	case "s3":
		if b.s3Bucket == "" {
			return fail(usagef("--artifacts s3 needs --s3-bucket (or MODELREG_S3_BUCKET)"))
		}
		cfg, err := loadAWS()
		if err != nil {
			return fail(err)
		}
		client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
			if b.s3URL != "" {
				o.BaseEndpoint = aws.String(b.s3URL)
				o.UsePathStyle = true
			}
		})
		if b.createResources {
			if err := ensureBucket(ctx, client, b.s3Bucket); err != nil {
				return fail(err)
			}
		}
		var opts []s3.Option
		if b.s3Prefix != "" {
			opts = append(opts, s3.WithPrefix(b.s3Prefix))
		}
		out.artifacts = s3.New(client, b.s3Bucket, opts...)
	default:
		return fail(usagef("--artifacts %q: use filesystem or s3", b.artifacts))
	}
	return out, nil
}

// ensureTable creates the registry's table unless it exists.
func ensureTable(ctx context.Context, client *awsddb.Client, table string) error {
	_, err := client.DescribeTable(ctx, &awsddb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *ddbtypes.ResourceNotFoundException
	if errors.As(err, &notFound) {
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
