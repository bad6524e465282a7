package main

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// newAlarms alarms on any message in a dead-letter queue, any function
// error and any failed, timed-out or aborted execution, notifying topic.
func newAlarms(scope constructs.Construct, topic awssns.Topic, fns map[string]awslambda.Function,
	dlqs map[string]awssqs.Queue, sm awsstepfunctions.StateMachine) {
	a := constructs.NewConstruct(scope, jsii.String("Alarms"))
	action := awscloudwatchactions.NewSnsAction(topic)
	five := awscdk.Duration_Minutes(jsii.Number(5))
	alarm := func(id string, m awscloudwatch.IMetric, desc string) {
		al := awscloudwatch.NewAlarm(a, jsii.String(id), &awscloudwatch.AlarmProps{
			Metric: m, Threshold: jsii.Number(0), EvaluationPeriods: jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
			AlarmDescription:   jsii.String(desc),
		})
		al.AddAlarmAction(action)
	}
	for _, id := range sortedKeys(dlqs) {
		alarm(id+"Depth", dlqs[id].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}),
			"modelreg: messages in "+id+" (events a consumer gave up on)")
	}
	for _, id := range sortedKeys(fns) {
		alarm(id+"Errors", fns[id].MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
			"modelreg: the "+id+" function failed")
	}
	for id, m := range map[string]awscloudwatch.Metric{
		"ExecutionsFailed":   sm.MetricFailed(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		"ExecutionsTimedOut": sm.MetricTimedOut(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
		"ExecutionsAborted":  sm.MetricAborted(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}),
	} {
		alarm(id, m, "modelreg: promotion executions "+id[len("Executions"):])
	}
}
