package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/modelreg/modelreg/shared/workflow"
)

// Workflow is the promotion state machine: the embedded ASL document with
// each placeholder substituted by its task function's ARN.
type Workflow struct {
	constructs.Construct
	StateMachine awsstepfunctions.StateMachine
}

// newWorkflow defines the state machine named name (Standard, logged,
// traced) over tasks, the functions keyed by placeholder, and lets it
// invoke them.
func newWorkflow(scope constructs.Construct, name string, tasks map[string]awslambda.Function) *Workflow {
	w := &Workflow{Construct: constructs.NewConstruct(scope, jsii.String("Workflow"))}
	values := map[string]string{}
	for p, fn := range tasks {
		values[p] = *fn.FunctionArn()
	}
	def, err := workflow.Substitute(values)
	if err != nil {
		panic(err) // the stack passes every placeholder: a bug here, not configuration
	}
	logs := awslogs.NewLogGroup(w.Construct, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_THREE_MONTHS, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	w.StateMachine = awsstepfunctions.NewStateMachine(w.Construct, jsii.String("Promotion"), &awsstepfunctions.StateMachineProps{
		StateMachineName: jsii.String(name),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(string(def))),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		TracingEnabled:   jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination: logs, Level: awsstepfunctions.LogLevel_ALL, IncludeExecutionData: jsii.Bool(true),
		},
		Comment: jsii.String("modelreg promotion (shared/workflow/promotion.asl.json)"),
	})
	for _, p := range workflow.Placeholders {
		tasks[p].GrantInvoke(w.StateMachine)
	}
	return w
}
