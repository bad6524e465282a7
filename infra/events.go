package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/eventbridge"
)

// Events is the registry's bus, the stream publisher feeding it from the
// table's stream, and the rules (redeploy, notify, SageMaker endpoint
// state changes, the sweeper's schedule) with their dead-letter queues.
type Events struct {
	constructs.Construct
	Bus awsevents.EventBus
	// DeadLetterQueues by construct id: what the stream publisher and each
	// rule's target could not handle after their retries.
	DeadLetterQueues map[string]awssqs.Queue
}

// Retries of the rule targets: EventBridge retries with backoff for up to
// this many attempts within the age limit, then sends the event to the
// target's dead-letter queue.
const (
	targetRetryAttempts = 8
	targetMaxEventHours = 24
)

// ReminderSchedule runs the notify function's approval reminder sweep.
const ReminderSchedule = "rate(5 minutes)"

func patternOf(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err) // shared/eventbridge's patterns are JSON objects
	}
	return m
}

func (e *Events) dlq(id string) awssqs.Queue {
	q := awssqs.NewQueue(e.Construct, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	e.DeadLetterQueues[id] = q
	return q
}

// rule defines an EventBridge rule with the exact pattern (CDK's typed
// EventPattern cannot say everything shared/eventbridge's JSON does, so it
// is set on the resource).
func (e *Events) rule(id string, bus awsevents.IEventBus, pattern map[string]any, target awsevents.IRuleTarget) awsevents.Rule {
	r := awsevents.NewRule(e.Construct, jsii.String(id), &awsevents.RuleProps{
		EventBus:     bus,
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings("modelreg")}, // replaced below
		Targets:      &[]awsevents.IRuleTarget{target},
	})
	r.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("EventPattern"), pattern)
	return r
}

func (e *Events) target(fn awslambda.Function, dlq awssqs.Queue) awsevents.IRuleTarget {
	return awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		DeadLetterQueue: dlq, RetryAttempts: jsii.Number(targetRetryAttempts),
		MaxEventAge: awscdk.Duration_Hours(jsii.Number(targetMaxEventHours)),
	})
}

func newEvents(st *Stack, c Config, table awsdynamodb.Table, fns map[string]awslambda.Function,
	base func(map[string]*string) map[string]*string, secrets *Secrets, topic awssns.Topic) *Events {
	e := &Events{Construct: constructs.NewConstruct(st.Stack, jsii.String("Events")), DeadLetterQueues: map[string]awssqs.Queue{}}
	e.Bus = awsevents.NewEventBus(e.Construct, jsii.String("Bus"), &awsevents.EventBusProps{Description: jsii.String("modelreg events (source modelreg)")})
	withBus := func(extra map[string]*string) map[string]*string {
		m := base(extra)
		m[EnvBus] = e.Bus.EventBusName()
		return m
	}

	// The stream publisher: outbox items (kind=event) inserted or updated.
	pub := newFunction(st.Stack, c, fnSpec{id: "StreamPublisher", dir: "stream-publisher", timeout: 60, memory: 256, env: withBus(nil)})
	grantTable(pub, table)
	e.Bus.GrantPutEventsTo(pub, nil)
	pub.AddEventSource(awslambdaeventsources.NewDynamoEventSource(table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(100),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(1)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(10),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(24)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(e.dlq("StreamPublisherDLQ")),
		Filters: &[]*map[string]interface{}{awslambda.FilterCriteria_Filter(&map[string]interface{}{
			"eventName": awslambda.FilterRule_Or(jsii.String("INSERT"), jsii.String("MODIFY")),
			"dynamodb": map[string]interface{}{"NewImage": map[string]interface{}{
				dynamodb.AttrKind: map[string]interface{}{"S": awslambda.FilterRule_IsEqual(jsii.String(dynamodb.KindEvent))},
			}},
		})},
	}))
	fns["StreamPublisher"] = pub

	// redeploy: Production stage changes, and SageMaker's endpoint state
	// changes (on the default bus) for the endpoints it manages.
	redeploy := newFunction(st.Stack, c, fnSpec{id: "Redeploy", dir: "redeploy", timeout: 120, memory: 256, env: withBus(map[string]*string{
		EnvWebhookKey: secrets.WebhookKey.KeyArn(), EnvSageMaker: jsii.String(c.SageMakerPrefix),
		EnvSecret: secrets.SigningKey.SecretArn(),
	})})
	grantTable(redeploy, table)
	grantKey(redeploy, secrets.WebhookKey, "kms:Decrypt")
	grantSecretValue(redeploy, secrets.SigningKey.SecretArn())
	e.Bus.GrantPutEventsTo(redeploy, nil)
	grantSageMaker(st, redeploy, c)
	fns["Redeploy"] = redeploy
	e.rule("RedeployRule", e.Bus, patternOf(eventbridge.RedeployPattern()), e.target(redeploy, e.dlq("RedeployDLQ")))
	e.rule("SageMakerEndpointRule", awsevents.EventBus_FromEventBusName(e.Construct, jsii.String("DefaultBus"), jsii.String("default")),
		patternOf(eventbridge.SageMakerEndpointPattern(c.SageMakerPrefix)), e.target(redeploy, e.dlq("SageMakerEndpointDLQ")))

	// notify: approvals, stage changes and deployments, to Slack and SNS.
	// Its links to approvals point at the console, on the API's URL.
	notify := newFunction(st.Stack, c, fnSpec{id: "Notify", dir: "notify", timeout: 60, memory: 256, env: withBus(map[string]*string{
		EnvTopic: topic.TopicArn(), EnvSlackSecret: secrets.Slack.SecretArn(), EnvSecret: secrets.SigningKey.SecretArn(),
		EnvConsoleURL: st.Api.URL,
	})})
	grantTable(notify, table)
	// Publish to the topic, encrypted with the topic key: sns:Publish, and
	// the data key SNS asks KMS for on the publisher's behalf.
	notify.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("sns:Publish"), Resources: &[]*string{topic.TopicArn()},
	}))
	grantKey(notify, secrets.TopicKey, "kms:GenerateDataKey", "kms:Decrypt")
	grantSecretValue(notify, secrets.Slack.SecretArn())
	grantSecretValue(notify, secrets.SigningKey.SecretArn())
	fns["Notify"] = notify
	e.rule("NotifyRule", e.Bus, patternOf(eventbridge.NotifyPattern()), e.target(notify, e.dlq("NotifyDLQ")))
	// The approval reminders (24 h and 1 h before an approval expires),
	// swept by the same function on a schedule (a Scheduled Event).
	awsevents.NewRule(e.Construct, jsii.String("NotifyReminderSchedule"), &awsevents.RuleProps{
		Description: jsii.String("modelreg: approval reminders"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(ReminderSchedule)),
		Targets:     &[]awsevents.IRuleTarget{e.target(notify, e.dlq("NotifyReminderDLQ"))},
	})

	// The sweeper's schedule.
	awsevents.NewRule(e.Construct, jsii.String("SweeperSchedule"), &awsevents.RuleProps{
		Description: jsii.String("modelreg: expire abandoned uploads, recover lost verifications"),
		Schedule:    awsevents.Schedule_Expression(jsii.String(c.SweepSchedule)),
		Targets:     &[]awsevents.IRuleTarget{e.target(fns["Sweeper"], e.dlq("SweeperDLQ"))},
	})
	return e
}

// grantSageMaker lets fn manage SageMaker models, endpoint configs and
// endpoints whose names start with the configured prefix, and pass only
// the listed execution roles to SageMaker.
func grantSageMaker(st *Stack, fn awslambda.Function, c Config) {
	arn := func(kind string) *string {
		return awscdk.Stack_Of(st.Stack).FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("sagemaker"), Resource: jsii.String(kind), ResourceName: jsii.String(c.SageMakerPrefix + "*"),
		})
	}
	fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("sagemaker:CreateModel", "sagemaker:DescribeModel", "sagemaker:DeleteModel",
			"sagemaker:CreateEndpointConfig", "sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig",
			"sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DescribeEndpoint",
			"sagemaker:AddTags", "sagemaker:ListTags"),
		Resources: &[]*string{arn("model"), arn("endpoint-config"), arn("endpoint")},
	}))
	if len(c.SageMakerRoles) > 0 {
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:    jsii.Strings("iam:PassRole"),
			Resources:  jsii.Strings(c.SageMakerRoles...),
			Conditions: &map[string]interface{}{"StringEquals": map[string]string{"iam:PassedToService": "sagemaker.amazonaws.com"}},
		}))
	}
}
