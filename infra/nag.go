package main

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Nag adds cdk-nag's AwsSolutions checks to app (errors fail synthesis)
// after recording the stack's suppressions, each with its reason.
func Nag(app awscdk.App, st *Stack) {
	suppress(st)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// wildcard is one IAM5 finding pattern and why it is scoped enough.
type wildcard struct{ regex, reason string }

// functionWildcards are the wildcard findings every function role may
// have; anything else still fails.
var functionWildcards = []wildcard{
	{`/^Resource::\*$/`, "X-Ray PutTraceSegments/PutTelemetryRecords and dynamodb:ListStreams support no resource-level permissions"},
	{`/^Resource::<[A-Za-z0-9]+Logs[A-Z0-9]+\.Arn>:log-stream:\*$/`, "log streams of the function's own log group; Lambda names them"},
	{`/^Resource::<RegistryTable\.Arn>\/index\/\*$/`, "the registry table's own global secondary indexes"},
	{`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:.*WorkflowPromotion.*:\*$/`, "executions of the promotion state machine only"},
	{`/^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:(model|endpoint|endpoint-config)\/.*\*$/`, "SageMaker names under the configured prefix: the scoping the issue asks for"},
	{`/^Resource::<[A-Za-z0-9]+\.Arn>:\*$/`, "versions of a task function the state machine invokes"},
}

// artifactObjects is the finding of a grant on the objects under the
// configured artifact prefix.
func artifactObjects(prefix string) wildcard {
	re := strings.ReplaceAll(regexp.QuoteMeta(prefix), "/", `\/`)
	return wildcard{`/^Resource::<` + BucketLogicalID + `\.Arn>\/` + re + `\*$/`,
		"objects under the artifact prefix " + prefix + " only (uploads, versions' files, MLflow run artifacts under " + prefix + "runs/)"}
}

func suppressions(id string, ws []wildcard) []*cdknag.NagPackSuppression {
	var out []*cdknag.NagPackSuppression
	for _, w := range ws {
		out = append(out, &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(w.reason),
			AppliesTo: &[]interface{}{&cdknag.RegexAppliesTo{Regex: jsii.String(w.regex)}}})
	}
	return out
}

func addSuppressions(c constructs.IConstruct, s ...*cdknag.NagPackSuppression) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, &s, jsii.Bool(true))
}

// suppress records every suppression of the stack, each with its reason.
func suppress(st *Stack) {
	ws := append([]wildcard{artifactObjects(st.Config.ArtifactPrefix)}, functionWildcards...)
	for _, fn := range st.Functions {
		addSuppressions(fn.Role(), suppressions("AwsSolutions-IAM5", ws)...)
	}
	addSuppressions(st.Workflow.StateMachine, suppressions("AwsSolutions-IAM5", functionWildcards)...)
	for _, q := range st.Events.DeadLetterQueues {
		addSuppressions(q, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-SQS3"),
			Reason: jsii.String("this queue is itself the dead-letter queue of a Lambda event source or an EventBridge target; nothing redrives from it")})
	}
	open := map[string]bool{}
	for _, route := range Routes {
		if !route.IAM {
			for _, id := range routeIDs(route) {
				open[id] = true
			}
		}
	}
	for _, r := range *st.Api.HttpApi.Node().Children() {
		if open[*r.Node().Id()] {
			addSuppressions(r, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-APIG4"),
				Reason: jsii.String("public by design: the health check and OpenAPI document are unauthenticated, and the console's pages, sign-in and static files check its own signed session (console issue)")})
		}
	}
	addSuppressions(st.Secrets.SigningKey, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("rotating the signing key invalidates every page token and console session in flight; it is rotated by the operator (docs/deploy.md)")})
	addSuppressions(st.Secrets.Slack, &cdknag.NagPackSuppression{Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("the Slack webhook URL is issued by Slack; there is no API to rotate it")})
}

// routeIDs are the construct ids CDK gives the routes AddRoutes adds for
// r, one per method ("GET--login").
func routeIDs(r Route) []string {
	var ids []string
	for _, k := range r.Keys() {
		m, p, _ := strings.Cut(k, " ")
		ids = append(ids, m+strings.ReplaceAll(p, "/", "--"))
	}
	return ids
}
