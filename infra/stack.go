package main

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/modelreg/modelreg/shared/workflow"
)

// Stack is the whole deployment: storage, secrets, functions, the API, the
// promotion workflow, events, alarms and outputs.
type Stack struct {
	awscdk.Stack
	Storage  *Storage
	Secrets  *Secrets
	Api      *Api
	Workflow *Workflow
	Events   *Events
	// Functions by construct id (Api, Validate, …, Sweeper).
	Functions map[string]awslambda.Function
	// Notifications is the topic the notify function publishes to;
	// AlarmTopic the one CloudWatch alarms notify.
	Notifications awssns.Topic
	AlarmTopic    awssns.Topic
	// Config is what the stack was defined from.
	Config Config
}

// Secrets are the stack's secrets, never in plain environment: the
// functions get their ARNs and read them at cold start.
type Secrets struct {
	constructs.Construct
	// SigningKey signs page tokens and console sessions (generated).
	SigningKey awssecretsmanager.Secret
	// Slack holds the Slack incoming-webhook URL (set by the operator).
	Slack awssecretsmanager.Secret
	// WebhookKey seals the webhook secrets of deploy targets in the table.
	WebhookKey awskms.Key
	// TopicKey encrypts the SNS topics.
	TopicKey awskms.Key
}

// keyPolicy is a key policy that lets the account administer the key and
// delegates its use to IAM (the grants in the stack), naming each action
// instead of CDK's default "kms:*".
func keyPolicy() awsiam.PolicyDocument {
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{awsiam.NewAccountRootPrincipal()},
			Actions: jsii.Strings("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
				"kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource", "kms:UntagResource",
				"kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
				"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"),
			Resources: jsii.Strings("*"), // in a key policy, the key itself
		}),
	}})
}

func newSecrets(scope constructs.Construct) *Secrets {
	s := &Secrets{Construct: constructs.NewConstruct(scope, jsii.String("Secrets"))}
	s.SigningKey = awssecretsmanager.NewSecret(s.Construct, jsii.String("SigningKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("modelreg: key signing page tokens and console sessions"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.Slack = awssecretsmanager.NewSecret(s.Construct, jsii.String("SlackWebhook"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("modelreg: Slack incoming-webhook URL for notifications (put the URL with aws secretsmanager put-secret-value)"),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.WebhookKey = awskms.NewKey(s.Construct, jsii.String("WebhookKey"), &awskms.KeyProps{
		Policy:      keyPolicy(),
		Description: jsii.String("modelreg: seals deploy targets' webhook secrets"), EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	s.TopicKey = awskms.NewKey(s.Construct, jsii.String("TopicKey"), &awskms.KeyProps{
		Policy:      keyPolicy(),
		Description: jsii.String("modelreg: encrypts the notification and alarm topics"), EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// CloudWatch alarms publish to the alarm topic through this key.
	s.TopicKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"), // a key policy's resource is the key itself
	}), nil)
	return s
}

// NewStack defines the stack from c.
func NewStack(scope constructs.Construct, c Config) *Stack {
	st := &Stack{Stack: awscdk.NewStack(scope, jsii.String(c.StackName), &awscdk.StackProps{
		Description: jsii.String("modelreg: a model registry (API Gateway, Lambda, DynamoDB, S3, Step Functions, EventBridge)"),
	}), Functions: map[string]awslambda.Function{}, Config: c}
	// The access-log bucket admits S3's log delivery by bucket policy, not
	// by the legacy LogDeliveryWrite ACL (set before any construct is added).
	st.Stack.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	st.Storage = NewStorage(st.Stack, "Storage", c)
	st.Secrets = newSecrets(st.Stack)
	st.Notifications = awssns.NewTopic(st.Stack, jsii.String("Notifications"), &awssns.TopicProps{
		DisplayName: jsii.String("modelreg notifications"), EnforceSSL: jsii.Bool(true), MasterKey: st.Secrets.TopicKey,
	})
	st.AlarmTopic = awssns.NewTopic(st.Stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("modelreg alarms"), EnforceSSL: jsii.Bool(true), MasterKey: st.Secrets.TopicKey,
	})
	for _, e := range c.NotifyEmails {
		st.Notifications.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	for _, e := range c.AlarmEmails {
		st.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}

	table, bucket := st.Storage.Table, st.Storage.Bucket
	base := func(extra map[string]*string) map[string]*string {
		m := map[string]*string{
			EnvStoreKind: jsii.String("dynamodb"), EnvArtifacts: jsii.String("s3"),
			EnvTable: table.TableName(), EnvBucket: bucket.BucketName(), EnvPrefix: jsii.String(c.ArtifactPrefix),
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	// The promotion task functions: one build, four functions.
	tasks := map[string]string{
		workflow.ValidateFunctionArn:        "Validate",
		workflow.RequestApprovalFunctionArn: "RequestApproval",
		workflow.PromoteFunctionArn:         "Promote",
		workflow.RecordOutcomeFunctionArn:   "RecordOutcome",
	}
	signingKey := st.Secrets.SigningKey.SecretArn()
	promotionName := c.StackName + "-promotion"
	taskFns := map[string]awslambda.Function{}
	for _, p := range workflow.Placeholders {
		id := tasks[p]
		task := strings.TrimSuffix(strings.Trim(p, "${}"), "FunctionArn")
		fn := newFunction(st.Stack, c, fnSpec{id: id, dir: "workflow", timeout: 30, memory: 256,
			env: base(map[string]*string{EnvTask: jsii.String(task), EnvSecret: signingKey})})
		grantTable(fn, table)
		grantSecretValue(fn, signingKey)
		if p == workflow.RequestApprovalFunctionArn {
			// A decision that came before the task token: RequestApproval
			// ends the wait itself (functions/workflow).
			grantTaskResponse(st, fn, promotionName)
		}
		taskFns[p] = fn
		st.Functions[id] = fn
	}
	st.Workflow = newWorkflow(st.Stack, promotionName, taskFns)

	// verify-upload reads a completed upload back (HeadObject, GetObject),
	// completes its multipart upload or copies a single-part file into place
	// (ListParts, CreateMultipartUpload, UploadPartCopy,
	// CompleteMultipartUpload, PutObject), deletes a file that fails and
	// aborts the failed upload's parts, and hands a verification that runs
	// out of time to itself (by its name: its role cannot depend on it).
	verifyName := c.StackName + "-verify-upload"
	verify := newFunction(st.Stack, c, fnSpec{id: "VerifyUpload", dir: "verify-upload", name: verifyName, timeout: 900, memory: 1024, env: base(nil)})
	grantTable(verify, table)
	grantObjects(verify, bucket, c.ArtifactPrefix, s3Get, s3Put, s3Delete, s3Abort, s3ListParts)
	grantInvoke(st, verify, verifyName)
	st.Functions["VerifyUpload"] = verify

	rolesJSON, err := json.Marshal(c.Roles)
	if err != nil {
		panic(err) // a map of plain strings always marshals
	}
	// The api and the console functions run the same registry service
	// (grantService) with the same settings (service); only the api maps
	// IAM callers to roles, hands large completions to verify-upload and
	// gives MLflow runs s3:// locations, and only the console signs people
	// in (OIDC).
	service := func(extra map[string]*string) map[string]*string {
		m := base(map[string]*string{
			EnvWorkflowKind: jsii.String("sfn"), EnvStateMachine: st.Workflow.StateMachine.StateMachineArn(),
			EnvSecret: signingKey, EnvWebhookKey: st.Secrets.WebhookKey.KeyArn(),
			EnvSageMaker: jsii.String(c.SageMakerPrefix), EnvPassRoles: jsii.String(strings.Join(c.SageMakerRoles, ",")),
		})
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	api := newFunction(st.Stack, c, fnSpec{id: "Api", dir: "api", timeout: 29, memory: 512, env: service(map[string]*string{
		EnvRoles: jsii.String(string(rolesJSON)), EnvVerifyFn: jsii.String(verifyName), EnvMLflowArts: jsii.String("s3"),
	})})
	grantService(st, api)
	grantKey(api, st.Secrets.WebhookKey, "kms:Encrypt", "kms:Decrypt")
	// The API presigns part uploads and downloads (so its role must allow
	// them), starts and completes uploads, lists and aborts them, removes
	// versions' files, and reads MLflow runs' artifacts (under
	// <prefix>runs/, written by the callers' own roles) when a run's model
	// is registered, copying them into the version's keys.
	grantObjects(api, bucket, c.ArtifactPrefix, s3Get, s3Put, s3Delete, s3Abort, s3ListParts)
	grantListPrefix(api, bucket, c.ArtifactPrefix)
	grantInvoke(st, api, verifyName)
	st.Functions["Api"] = api

	// The console's pages read the registry and make its transitions,
	// rollbacks and approval decisions; of the bucket they only presign
	// downloads (shared/console calls Service.Downloads and no call that
	// writes or removes files: uploads and deletions are the API's).
	console := newFunction(st.Stack, c, fnSpec{id: "Console", dir: "console", timeout: 29, memory: 512, env: service(nil)})
	grantService(st, console)
	grantObjects(console, bucket, c.ArtifactPrefix, s3Get)
	st.Functions["Console"] = console

	st.Api = newApi(st.Stack, c, api, console)
	if o := c.OIDC; o != nil {
		authorize, token, jwks := o.Endpoints()
		groups, err := json.Marshal(o.GroupRoles)
		if err != nil {
			panic(err) // a map of plain strings always marshals
		}
		for k, v := range map[string]*string{
			EnvOIDCIssuer: jsii.String(o.Issuer), EnvOIDCAuthorize: jsii.String(authorize), EnvOIDCToken: jsii.String(token),
			EnvOIDCJWKS: jsii.String(jwks), EnvOIDCClientID: jsii.String(o.ClientID), EnvOIDCGroupRoles: jsii.String(string(groups)),
			// The console's callback on the API's URL (the stage's, or the
			// custom domain's): known only once the API exists.
			EnvOIDCRedirect: awscdk.Fn_Join(jsii.String(""), &[]*string{st.Api.URL, jsii.String("login/callback")}),
		} {
			console.AddEnvironment(jsii.String(k), v, nil)
		}
		if o.ClientSecretARN != "" {
			console.AddEnvironment(jsii.String(EnvOIDCClientSecret), jsii.String(o.ClientSecretARN), nil)
			grantSecretValue(console, jsii.String(o.ClientSecretARN))
		}
	}

	// The sweeper expires abandoned uploads (AbortMultipartUpload, and
	// DeleteObject of staging objects and of a failed version's completed
	// files) and asks verify-upload again for versions left VERIFYING.
	sweeper := newFunction(st.Stack, c, fnSpec{id: "Sweeper", dir: "sweeper", timeout: 300, memory: 256,
		env: base(map[string]*string{EnvVerifyFn: jsii.String(verifyName)})})
	grantTable(sweeper, table)
	grantObjects(sweeper, bucket, c.ArtifactPrefix, s3Abort, s3Delete)
	grantInvoke(st, sweeper, verifyName)
	st.Functions["Sweeper"] = sweeper

	st.Events = newEvents(st, c, table, st.Functions, base, st.Secrets, st.Notifications)

	newAlarms(st.Stack, st.AlarmTopic, st.Functions, st.Events.DeadLetterQueues, st.Workflow.StateMachine)

	out := func(id string, v *string, desc string) {
		awscdk.NewCfnOutput(st.Stack, jsii.String(id), &awscdk.CfnOutputProps{Value: v, Description: jsii.String(desc)})
	}
	out("ApiUrl", st.Api.URL, "the registry's base URL (MODELREG_URL)")
	out("TableName", table.TableName(), "the DynamoDB table")
	out("BucketName", bucket.BucketName(), "the artifact bucket")
	out("StateMachineArn", st.Workflow.StateMachine.StateMachineArn(), "the promotion state machine")
	out("EventBusName", st.Events.Bus.EventBusName(), "the registry's EventBridge bus")
	out("NotificationTopicArn", st.Notifications.TopicArn(), "the notifications topic")
	out("SlackSecretArn", st.Secrets.Slack.SecretArn(), "put the Slack webhook URL here")
	return st
}
