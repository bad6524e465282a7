// Package sfn is the AWS Step Functions adapter of registry.Workflow: it
// starts promotion executions of the deployed state machine (the
// substituted promotion.asl.json) and ends their waits with the task tokens
// the RequestApproval function stored on the approvals.
package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/internal/lazyre"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// Service is the Step Functions API (AWS JSON 1.0) for awsapi.New.
var Service = awsapi.Service{SigningName: "states", EndpointPrefix: "states", TargetPrefix: "AWSStepFunctions", JSONVersion: "1.0", EnvName: "SFN"}

// Workflow runs promotions on the state machine StateMachineARN.
type Workflow struct {
	api             *awsapi.Client
	stateMachineARN string
	now             func() time.Time
}

var _ registry.Workflow = (*Workflow)(nil)

// New returns a Workflow that starts executions of stateMachineARN (an
// arn:…:states:…:stateMachine:NAME) through api, a client of Service. now
// defaults to time.Now.
func New(api *awsapi.Client, stateMachineARN string, now func() time.Time) (*Workflow, error) {
	if api == nil || !strings.Contains(stateMachineARN, ":stateMachine:") {
		return nil, fmt.Errorf("sfn: a client and a state machine ARN are required (got %q)", stateMachineARN)
	}
	if now == nil {
		now = time.Now
	}
	return &Workflow{api: api, stateMachineARN: stateMachineARN, now: now}, nil
}

// NewTasks returns a Workflow that only ends waits with their task
// tokens (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat): what the
// promotion task functions need, which cannot be told the ARN of the state
// machine that invokes them. Its StartPromotion answers NotImplemented.
func NewTasks(api *awsapi.Client, now func() time.Time) *Workflow {
	if now == nil {
		now = time.Now
	}
	return &Workflow{api: api, now: now}
}

// executionName is what Step Functions accepts as an execution name.
var executionName = lazyre.New(`^[A-Za-z0-9_-]{1,80}$`)

// Step Functions limits (SendTaskFailure).
const (
	maxErrorLen = 256
	maxCauseLen = 32768
)

// StartPromotion starts the execution named after a.ID and returns its ARN.
// Starting it again (a retry) starts nothing and returns the same ARN:
// ExecutionAlreadyExists means it was started. Invalid if a.ID cannot be an
// execution name.
func (w *Workflow) StartPromotion(ctx context.Context, a registry.Approval) (string, error) {
	if w.stateMachineARN == "" {
		return "", registry.Errorf(registry.NotImplemented, "this function sends task results only; promotions start through the api function")
	}
	if !executionName.MatchString(a.ID) {
		return "", registry.Errorf(registry.Invalid, "approval id %q cannot name an execution (1-80 letters, digits, - or _)", a.ID)
	}
	input, err := json.Marshal(workflow.NewPromotionInput(a, w.now()))
	if err != nil {
		return "", fmt.Errorf("start promotion %s: %w", a.ID, err)
	}
	var out startExecutionOutput
	err = w.api.JSON(ctx, "StartExecution", startExecutionInput{StateMachineARN: w.stateMachineARN, Name: a.ID, Input: string(input)}, &out)
	switch {
	case awsapi.IsCode(err, "ExecutionAlreadyExists"):
		return w.executionARN(a.ID), nil
	case err != nil:
		return "", translate(err, "start promotion "+a.ID)
	}
	if out.ExecutionARN == "" {
		return "", registry.Errorf(registry.Internal, "start promotion %s: Step Functions answered no execution ARN", a.ID)
	}
	return out.ExecutionARN, nil
}

// executionARN is the ARN of execution name of the state machine.
func (w *Workflow) executionARN(name string) string {
	return strings.Replace(w.stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// SendTaskSuccess ends the wait on token with output. NotFound if no task
// waits on it (unknown or used token); Conflict if it timed out; Invalid if
// output is not JSON.
func (w *Workflow) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	if token == "" {
		return registry.Errorf(registry.NotFound, "no task waits on this token")
	}
	if !json.Valid(output) {
		return registry.Errorf(registry.Invalid, "task output is not a JSON document")
	}
	err := w.api.JSON(ctx, "SendTaskSuccess", sendTaskSuccessInput{TaskToken: token, Output: string(output)}, nil)
	return translate(err, "send task success")
}

// SendTaskFailure fails the task waiting on token with code and cause (cut
// to Step Functions' limits). NotFound and Conflict as SendTaskSuccess.
func (w *Workflow) SendTaskFailure(ctx context.Context, token, code, cause string) error {
	if token == "" {
		return registry.Errorf(registry.NotFound, "no task waits on this token")
	}
	if code == "" {
		return registry.Errorf(registry.Invalid, "a task failure needs an error code")
	}
	err := w.api.JSON(ctx, "SendTaskFailure", sendTaskFailureInput{
		TaskToken: token, Error: cut(code, maxErrorLen), Cause: cut(cause, maxCauseLen),
	}, nil)
	return translate(err, "send task failure")
}

// SendTaskHeartbeat tells Step Functions the task waiting on token is
// alive (for states with HeartbeatSeconds). NotFound and Conflict as
// SendTaskSuccess.
func (w *Workflow) SendTaskHeartbeat(ctx context.Context, token string) error {
	if token == "" {
		return registry.Errorf(registry.NotFound, "no task waits on this token")
	}
	err := w.api.JSON(ctx, "SendTaskHeartbeat", sendTaskHeartbeatInput{TaskToken: token}, nil)
	return translate(err, "send task heartbeat")
}

// cut shortens s to at most n bytes, at a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// translate turns a Step Functions error into the registry's codes,
// keeping the *awsapi.Error as the cause.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var api *awsapi.Error
	if !errors.As(err, &api) {
		return registry.Wrap(registry.Internal, err, "%s", what)
	}
	switch api.Code {
	case "InvalidToken", "TaskDoesNotExist":
		// InvalidToken is also what a used token gets.
		return registry.Wrap(registry.NotFound, err, "no task waits on this token")
	case "TaskTimedOut":
		return registry.Wrap(registry.Conflict, err, "the task timed out")
	case "InvalidOutput":
		return registry.Wrap(registry.Invalid, err, "task output refused: %s", api.Message)
	case "InvalidExecutionInput", "InvalidName":
		return registry.Wrap(registry.Invalid, err, "%s: refused by Step Functions", what)
	case "ExecutionLimitExceeded":
		return registry.Wrap(registry.Unavailable, err, "%s: too many running executions; retry later", what)
	case "ThrottlingException", "ServiceUnavailable", "InternalServerError", "RequestLimitExceeded":
		return registry.Wrap(registry.Unavailable, err, "%s: Step Functions asks to retry later", what)
	}
	return registry.Wrap(registry.Internal, err, "%s", what)
}
