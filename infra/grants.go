package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

// The S3 actions the functions' code needs, each named after the calls of
// shared/s3 it authorizes (S3 authorizes the multipart calls as writes of
// the object, and HeadObject as a read).
const (
	// GetObject, HeadObject, the source of UploadPartCopy and CopyObject,
	// and presigned downloads.
	s3Get = "s3:GetObject"
	// PutObject, CreateMultipartUpload, UploadPart, UploadPartCopy,
	// CompleteMultipartUpload, CopyObject, and presigned part uploads.
	s3Put = "s3:PutObject"
	// DeleteObject (Abort of a single-part upload's staging object,
	// Discard, RemoveVersion, a rejected file).
	s3Delete = "s3:DeleteObject"
	// AbortMultipartUpload.
	s3Abort = "s3:AbortMultipartUpload"
	// ListParts (UploadedParts, the completion of a multipart upload).
	s3ListParts = "s3:ListMultipartUploadParts"
	// ListObjectsV2 under the prefix (RemoveVersion, MLflow run artifacts).
	s3ListBucket = "s3:ListBucket"
)

// tableActions are the DynamoDB actions shared/dynamodb's Store calls:
// GetItem, BatchGetItem, Query (the table and its indexes), DeleteItem,
// UpdateItem, and TransactWriteItems, which DynamoDB authorizes as the
// PutItem, UpdateItem, DeleteItem and ConditionCheckItem it holds (a
// Change's CheckedModels are ConditionChecks; TestStoreCallsGranted
// checks the list against the store's code).
var tableActions = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
	"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"}

// grantTable lets fn call the store's actions on the table and its
// indexes.
func grantTable(fn awslambda.Function, table awsdynamodb.ITable) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(tableActions...),
		Resources: &[]*string{table.TableArn(), jsii.String(*table.TableArn() + "/index/*")},
	}))
}

// grantObjects lets fn call actions on the bucket's objects under prefix
// only.
func grantObjects(fn awslambda.Function, bucket awss3.IBucket, prefix string, actions ...string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(prefix + "*"))},
	}))
}

// grantListPrefix lets fn list the bucket's keys under prefix only.
func grantListPrefix(fn awslambda.Function, bucket awss3.IBucket, prefix string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings(s3ListBucket),
		Resources:  &[]*string{bucket.BucketArn()},
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{prefix + "*"}}},
	}))
}

// grantKey lets fn call actions (kms:Encrypt, kms:Decrypt: what
// shared/secretbox calls) with key.
func grantKey(fn awslambda.Function, key awskms.IKey, actions ...string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings(actions...), Resources: &[]*string{key.KeyArn()},
	}))
}

// grantSecretValue lets fn read the secret arn (GetSecretValue only: what
// the functions call at cold start).
func grantSecretValue(fn awslambda.Function, arn *string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &[]*string{arn},
	}))
}

// grantInvoke lets fn invoke the function named name (unqualified, as
// shared/invoke calls it) in the stack's account and region: by name, so
// that a function may invoke itself without its role depending on it.
func grantInvoke(st *Stack, fn awslambda.Function, name string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{st.Stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("lambda"), Resource: jsii.String("function"), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}))
}

// grantTaskResponse lets fn end a wait of the state machine named name
// (states:SendTaskSuccess and SendTaskFailure, on its ARN built from the
// name: the machine's definition holds fn's ARN, so a grant through the
// machine itself would be a dependency cycle).
func grantTaskResponse(st *Stack, fn awslambda.Function, name string) {
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("states:SendTaskSuccess", "states:SendTaskFailure"),
		Resources: &[]*string{st.Stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("states"), Resource: jsii.String("stateMachine"), ResourceName: jsii.String(name),
			ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}))
}

// grantService lets fn run the registry service operations the api and
// the console functions share (pages, uploads' and downloads' records,
// approvals, promotions, rollbacks): the store's actions on the table;
// starting a promotion's execution, ending its wait with a decision,
// describing and stopping it; reading the signing key (page tokens,
// console sessions). Sealing and opening deploy targets' webhook secrets
// with the webhook key is the api's alone: the console has no page that
// adds or opens a deploy target.
func grantService(st *Stack, fn awslambda.Function) {
	grantTable(fn, st.Storage.Table)
	sm := st.Workflow.StateMachine
	sm.GrantStartExecution(fn)
	sm.GrantTaskResponse(fn)
	sm.GrantExecution(fn, jsii.String("states:DescribeExecution"), jsii.String("states:StopExecution"))
	grantSecretValue(fn, st.Secrets.SigningKey.SecretArn())
}
