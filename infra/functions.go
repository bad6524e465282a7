package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// FunctionNames are the functions/<name> directories the stack deploys,
// each from BuildDir/<name>/bootstrap (scripts/build-lambdas). workflow is
// deployed four times, once per task of the promotion document, told which
// by MODELREG_WORKFLOW_TASK. console serves the web console's routes on
// the same HTTP API as api (its own binary, so that the console's
// html/template reflection does not keep the api's unused methods linked).
var FunctionNames = []string{"api", "console", "workflow", "stream-publisher", "redeploy", "notify", "sweeper", "verify-upload"}

// Environment names the stack sets on the functions.
const (
	EnvTable        = "MODELREG_DYNAMODB_TABLE"
	EnvBucket       = "MODELREG_S3_BUCKET"
	EnvPrefix       = "MODELREG_S3_PREFIX"
	EnvStateMachine = "MODELREG_STATE_MACHINE_ARN"
	EnvBus          = "MODELREG_EVENT_BUS"
	EnvTopic        = "MODELREG_SNS_TOPIC_ARN"
	EnvSecret       = "MODELREG_SECRET_ARN"       // the signing key's secret
	EnvSlackSecret  = "MODELREG_SLACK_SECRET_ARN" // the Slack webhook URL's secret
	EnvWebhookKey   = "MODELREG_WEBHOOK_KMS_KEY"  // KMS key sealing webhook secrets
	EnvRoles        = "MODELREG_IAM_ROLES"        // JSON: IAM role ARN → role, groups
	EnvSageMaker    = "MODELREG_SAGEMAKER_PREFIX" // names redeploy may touch
	EnvPassRoles    = "MODELREG_SAGEMAKER_ROLES"  // comma-separated role ARNs
	EnvVerifyFn     = "MODELREG_VERIFY_FUNCTION"  // the verify-upload function
	EnvTask         = "MODELREG_WORKFLOW_TASK"    // which promotion task a workflow function runs
	EnvWorkflowKind = "MODELREG_WORKFLOW"         // "sfn" on AWS
	EnvStoreKind    = "MODELREG_STORE"            // "dynamodb" on AWS
	EnvArtifacts    = "MODELREG_ARTIFACTS"        // "s3" on AWS
	EnvMLflowArts   = "MODELREG_MLFLOW_ARTIFACTS" // "s3": MLflow runs write to s3:// under <prefix>runs/
	EnvConsoleURL   = "MODELREG_CONSOLE_URL"      // the console, for links in notifications

	// The console's OIDC sign-in (Config.OIDC), set on the console
	// function only, and only when configured.
	EnvOIDCIssuer       = "MODELREG_OIDC_ISSUER"
	EnvOIDCAuthorize    = "MODELREG_OIDC_AUTHORIZE_URL"
	EnvOIDCToken        = "MODELREG_OIDC_TOKEN_URL"
	EnvOIDCJWKS         = "MODELREG_OIDC_JWKS_URL"
	EnvOIDCClientID     = "MODELREG_OIDC_CLIENT_ID"
	EnvOIDCClientSecret = "MODELREG_OIDC_CLIENT_SECRET_ARN" // the app client's secret, by ARN
	EnvOIDCRedirect     = "MODELREG_OIDC_REDIRECT_URL"      // <API URL>login/callback
	EnvOIDCGroupRoles   = "MODELREG_OIDC_GROUP_ROLES"       // JSON: group → role
)

// fnSpec is one Lambda function of the stack.
type fnSpec struct {
	id      string // construct id
	dir     string // functions/<dir>, BuildDir/<dir>
	name    string // the function's name, when it must be known before it exists (else CloudFormation's)
	timeout float64
	memory  float64
	env     map[string]*string
}

// newFunction defines a provided.al2023 arm64 function with its own role
// (no managed policies: it may write to its log group, which the stack
// defines with a retention, and X-Ray) and its asset.
func newFunction(scope constructs.Construct, c Config, s fnSpec) awslambda.Function {
	logs := awslogs.NewLogGroup(scope, jsii.String(s.id+"Logs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_THREE_MONTHS,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(scope, jsii.String(s.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("modelreg " + s.dir + " function"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn(), *logs.LogGroupArn()+":log-stream:*"),
	}))
	var name *string
	if s.name != "" {
		name = jsii.String(s.name)
	}
	return awslambda.NewFunction(scope, jsii.String(s.id), &awslambda.FunctionProps{
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(c.BuildDir, s.dir)), nil),
		MemorySize:    jsii.Number(s.memory),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(s.timeout)),
		Tracing:       awslambda.Tracing_ACTIVE,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Role:          role,
		Environment:   &s.env,
		Description:   jsii.String("modelreg " + s.dir),
		FunctionName:  name,
	})
}
