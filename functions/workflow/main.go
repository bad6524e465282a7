// Command workflow is the promotion's task function: the state machine
// (the embedded promotion.asl.json, shared/workflow) invokes one deployment
// of it per Task state, and MODELREG_WORKFLOW_TASK says which task this one
// runs. It decodes the state's payload into the task's input type, runs
// the registry service's handler (workflow.ServiceHandlers through
// workflow.Invoke) and answers its JSON result; a handler's error reaches
// Step Functions named as the document's Retry and Catch expect
// (Modelreg.Transient, Modelreg.Rejected, …). Configuration, from the
// environment:
//
//	MODELREG_WORKFLOW_TASK      Validate, RequestApproval, Promote or RecordOutcome (required)
//	MODELREG_DYNAMODB_TABLE     the registry's table (required)
//	MODELREG_S3_BUCKET          the artifact bucket (required by the app)
//	MODELREG_S3_PREFIX          key prefix inside the bucket (optional)
//	MODELREG_SECRET_ARN         the deployment's secret (or MODELREG_SECRET);
//	                            optional: the tasks sign nothing, so without it
//	                            a random one per cold start
//	MODELREG_DYNAMODB_ENDPOINT, MODELREG_SFN_ENDPOINT   emulators (tests only)
//
// RequestApproval stores its task token on the approval; when the decision
// came first, it ends the wait itself (SendTaskSuccess), so its role needs
// states:SendTaskSuccess and states:SendTaskFailure on the state machine.
//
// Build: GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nethttpomithttp2 (scripts/build-lambdas).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secret"
	"github.com/modelreg/modelreg/shared/workflow"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, _, err := setup(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("workflow: setup", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// Tasks are the values of MODELREG_WORKFLOW_TASK: each *FunctionArn
// placeholder of the document without its ${…} and FunctionArn (the names
// the stack derives them by).
func Tasks() []string {
	var out []string
	for _, p := range workflow.Placeholders {
		out = append(out, taskName(p))
	}
	return out
}

func taskName(placeholder string) string {
	return strings.TrimSuffix(strings.Trim(placeholder, "${}"), "FunctionArn")
}

// Handler runs one task of the promotion.
type Handler struct {
	Task     string // e.g. "Validate"
	function string // its placeholder, e.g. workflow.ValidateFunctionArn
	handlers workflow.Handlers
	log      *slog.Logger
}

// Handle runs the task on the state's payload. A handler's error is
// returned as the Lambda error whose type is its ASL error name and whose
// message is its cause; an internal error is logged in full and named
// Modelreg.TaskFailed with the caller-safe message.
func (h *Handler) Handle(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
	out, err := workflow.Invoke(ctx, h.handlers, h.function, payload)
	if err != nil {
		name, cause := workflow.ErrorName(err)
		level := slog.LevelInfo // an outcome the document handles
		if name == workflow.ErrorTaskFailed || name == workflow.ErrorTransient {
			level = slog.LevelError
		}
		h.log.Log(ctx, level, "workflow: task error", "task", h.Task, "error_name", name, "cause", cause, "error", err.Error())
		return nil, messages.InvokeResponse_Error{Type: name, Message: cause}
	}
	return out, nil
}

// setup builds the SDK clients and the service once, through shared/app.
func setup(ctx context.Context, env func(string) string, log *slog.Logger) (*Handler, *app.App, error) {
	task := env("MODELREG_WORKFLOW_TASK")
	fn := "${" + task + "FunctionArn}"
	if !slices.Contains(workflow.Placeholders, fn) {
		return nil, nil, fmt.Errorf("MODELREG_WORKFLOW_TASK=%q: use one of %s", task, strings.Join(Tasks(), ", "))
	}
	// Lambda's region and execution role credentials, from the environment.
	ac := awsapi.FromEnv(os.Getenv)
	awsCfg := ac.SDK()
	key, err := secret.Open(ac).Deployment(ctx, env, true)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(ctx, app.Config{
		Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Events: app.EventsNone, Workflow: app.WorkflowSFNTasks,
		Secret: key, UploadSweepInterval: -1, Logger: log,
		AWS: app.AWS{Config: &awsCfg, DynamoDBTable: env("MODELREG_DYNAMODB_TABLE"), DynamoDBEndpoint: env("MODELREG_DYNAMODB_ENDPOINT"),
			S3Bucket: env("MODELREG_S3_BUCKET"), S3Prefix: env("MODELREG_S3_PREFIX"), SFNEndpoint: env("MODELREG_SFN_ENDPOINT")},
		Service:  registry.Config{VerifyAsyncBytes: -1},
		Handlers: workflow.ServiceHandlers,
	})
	if err != nil {
		return nil, nil, err
	}
	return &Handler{Task: task, function: fn, handlers: a.Handlers, log: log}, a, nil
}
