package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/modelreg/modelreg/shared/dynamodb"
)

// Logical ids of the stateful resources, pinned so that a refactoring of
// the construct tree can never replace (and so empty) them.
const (
	TableLogicalID  = "RegistryTable"
	BucketLogicalID = "ArtifactBucket"
)

// Storage is the registry's table and artifact bucket, both retained.
type Storage struct {
	constructs.Construct
	Table  awsdynamodb.Table
	Bucket awss3.Bucket
	// AccessLogs receives the artifact bucket's server access logs.
	AccessLogs awss3.Bucket
}

// NewStorage defines the table exactly as shared/dynamodb creates it
// (dynamodb.TableSchema), with point-in-time recovery, deletion protection
// and its stream, and the bucket with block public access, versioning,
// encryption, TLS only, lifecycle rules and CORS for browser uploads.
func NewStorage(scope constructs.Construct, id string, c Config) *Storage {
	s := &Storage{Construct: constructs.NewConstruct(scope, jsii.String(id))}
	schema := dynamodb.TableSchema()
	s.Table = awsdynamodb.NewTable(s.Construct, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(schema.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String(schema.SortKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection:  jsii.Bool(true),
		Stream:              awsdynamodb.StreamViewType(string(schema.StreamView)),
		TimeToLiveAttribute: jsii.String(schema.TTLAttribute),
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
	})
	for _, ix := range schema.Indexes {
		s.Table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(ix.Name),
			PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(ix.PartitionKey), Type: awsdynamodb.AttributeType_STRING},
			SortKey:        &awsdynamodb.Attribute{Name: jsii.String(ix.SortKey), Type: awsdynamodb.AttributeType_STRING},
			ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
		})
	}
	s.Table.Node().DefaultChild().(awscdk.CfnResource).OverrideLogicalId(jsii.String(TableLogicalID))

	s.AccessLogs = awss3.NewBucket(s.Construct, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules:    &[]*awss3.LifecycleRule{{Id: jsii.String("expire-access-logs"), Expiration: awscdk.Duration_Days(jsii.Number(90))}},
	})

	var cors *[]*awss3.CorsRule
	if len(c.CORSOrigins) > 0 {
		cors = &[]*awss3.CorsRule{{
			AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT, awss3.HttpMethods_GET, awss3.HttpMethods_HEAD},
			AllowedOrigins: jsii.Strings(c.CORSOrigins...),
			AllowedHeaders: jsii.Strings("*"),
			ExposedHeaders: jsii.Strings("ETag", "x-amz-checksum-sha256"),
			MaxAge:         jsii.Number(3600),
		}}
	}
	days := func(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(float64(n))) }
	s.Bucket = awss3.NewBucket(s.Construct, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Versioned:              jsii.Bool(true),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		ServerAccessLogsBucket: s.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("artifacts/"),
		Cors:                   cors,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("abort-incomplete-multipart-uploads"), AbortIncompleteMultipartUploadAfter: days(c.AbandonedUploadDays)},
			{Id: jsii.String("expire-upload-scratch"), Prefix: jsii.String(c.ArtifactPrefix + ".uploads/"), Expiration: days(c.AbandonedUploadDays),
				NoncurrentVersionExpiration: days(1)},
			{Id: jsii.String("expire-noncurrent-versions"), NoncurrentVersionExpiration: days(c.NoncurrentVersionDays),
				ExpiredObjectDeleteMarker: jsii.Bool(true)},
		},
	})
	s.Bucket.Node().DefaultChild().(awscdk.CfnResource).OverrideLogicalId(jsii.String(BucketLogicalID))
	return s
}
