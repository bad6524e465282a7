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
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// API is the part of the Step Functions client the adapter uses
// (*sfn.Client implements it).
type API interface {
	StartExecution(ctx context.Context, in *awssfn.StartExecutionInput, opts ...func(*awssfn.Options)) (*awssfn.StartExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *awssfn.SendTaskSuccessInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *awssfn.SendTaskFailureInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskFailureOutput, error)
	SendTaskHeartbeat(ctx context.Context, in *awssfn.SendTaskHeartbeatInput, opts ...func(*awssfn.Options)) (*awssfn.SendTaskHeartbeatOutput, error)
}

// Workflow runs promotions on the state machine StateMachineARN.
type Workflow struct {
	api             API
	stateMachineARN string
	now             func() time.Time
}

var _ registry.Workflow = (*Workflow)(nil)

// New returns a Workflow that starts executions of stateMachineARN (an
// arn:…:states:…:stateMachine:NAME). now defaults to time.Now.
func New(api API, stateMachineARN string, now func() time.Time) (*Workflow, error) {
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
func NewTasks(api API, now func() time.Time) *Workflow {
	if now == nil {
		now = time.Now
	}
	return &Workflow{api: api, now: now}
}

// executionName is what Step Functions accepts as an execution name.
var executionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

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
	out, err := w.api.StartExecution(ctx, &awssfn.StartExecutionInput{
		StateMachineArn: aws.String(w.stateMachineARN), Name: aws.String(a.ID), Input: aws.String(string(input)),
	})
	var exists *types.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		return w.executionARN(a.ID), nil
	case err != nil:
		return "", translate(err, "start promotion "+a.ID)
	}
	return aws.ToString(out.ExecutionArn), nil
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
	_, err := w.api.SendTaskSuccess(ctx, &awssfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
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
	_, err := w.api.SendTaskFailure(ctx, &awssfn.SendTaskFailureInput{
		TaskToken: aws.String(token), Error: aws.String(cut(code, maxErrorLen)), Cause: aws.String(cut(cause, maxCauseLen)),
	})
	return translate(err, "send task failure")
}

// SendTaskHeartbeat tells Step Functions the task waiting on token is
// alive (for states with HeartbeatSeconds). NotFound and Conflict as
// SendTaskSuccess.
func (w *Workflow) SendTaskHeartbeat(ctx context.Context, token string) error {
	if token == "" {
		return registry.Errorf(registry.NotFound, "no task waits on this token")
	}
	_, err := w.api.SendTaskHeartbeat(ctx, &awssfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)})
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

// translate turns a Step Functions error into the registry's codes.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var (
		invalidToken *types.InvalidToken
		noTask       *types.TaskDoesNotExist
		timedOut     *types.TaskTimedOut
		badOutput    *types.InvalidOutput
		badInput     *types.InvalidExecutionInput
		badName      *types.InvalidName
		limit        *types.ExecutionLimitExceeded
	)
	switch {
	case errors.As(err, &invalidToken), errors.As(err, &noTask):
		// InvalidToken is also what a used token gets.
		return registry.Wrap(registry.NotFound, err, "no task waits on this token")
	case errors.As(err, &timedOut):
		return registry.Wrap(registry.Conflict, err, "the task timed out")
	case errors.As(err, &badOutput):
		return registry.Wrap(registry.Invalid, err, "task output refused: %s", badOutput.ErrorMessage())
	case errors.As(err, &badInput), errors.As(err, &badName):
		return registry.Wrap(registry.Invalid, err, "%s: refused by Step Functions", what)
	case errors.As(err, &limit):
		return registry.Wrap(registry.Unavailable, err, "%s: too many running executions; retry later", what)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "ServiceUnavailable", "InternalServerError", "RequestLimitExceeded":
			return registry.Wrap(registry.Unavailable, err, "%s: Step Functions asks to retry later", what)
		}
	}
	return registry.Wrap(registry.Internal, err, "%s", what)
}
