package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

const smARN = "arn:aws:states:us-east-1:123456789012:stateMachine:modelreg-promotion"

// fakeAPI answers every call with err and records the inputs.
type fakeAPI struct {
	err     error
	started []*awssfn.StartExecutionInput
	failed  []*awssfn.SendTaskFailureInput
}

func (f *fakeAPI) StartExecution(_ context.Context, in *awssfn.StartExecutionInput, _ ...func(*awssfn.Options)) (*awssfn.StartExecutionOutput, error) {
	f.started = append(f.started, in)
	if f.err != nil {
		return nil, f.err
	}
	return &awssfn.StartExecutionOutput{ExecutionArn: aws.String("arn:from-api")}, nil
}

func (f *fakeAPI) SendTaskSuccess(context.Context, *awssfn.SendTaskSuccessInput, ...func(*awssfn.Options)) (*awssfn.SendTaskSuccessOutput, error) {
	return &awssfn.SendTaskSuccessOutput{}, f.err
}

func (f *fakeAPI) SendTaskFailure(_ context.Context, in *awssfn.SendTaskFailureInput, _ ...func(*awssfn.Options)) (*awssfn.SendTaskFailureOutput, error) {
	f.failed = append(f.failed, in)
	return &awssfn.SendTaskFailureOutput{}, f.err
}

func (f *fakeAPI) SendTaskHeartbeat(context.Context, *awssfn.SendTaskHeartbeatInput, ...func(*awssfn.Options)) (*awssfn.SendTaskHeartbeatOutput, error) {
	return &awssfn.SendTaskHeartbeatOutput{}, f.err
}

func TestStartPromotion(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := &fakeAPI{}
	w, err := New(f, smARN, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	a := registry.Approval{ID: "01JD8X3Y4Z5A6B7C8D9E0F1G2H", Model: "fraud", Version: 2, TargetStage: registry.StageProduction,
		RequestedBy: "alice", ExpiresAt: now.Add(time.Hour)}
	if arn, err := w.StartPromotion(context.Background(), a); err != nil || arn != "arn:from-api" {
		t.Fatalf("StartPromotion = %q, %v", arn, err)
	}
	in := f.started[0]
	var input workflow.PromotionInput
	if err := json.Unmarshal([]byte(aws.ToString(in.Input)), &input); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.Name) != a.ID || aws.ToString(in.StateMachineArn) != smARN || input != workflow.NewPromotionInput(a, now) {
		t.Errorf("StartExecution input %+v / %+v", in, input)
	}
	// Started before: success, with the execution's ARN.
	f.err = &types.ExecutionAlreadyExists{Message: aws.String("exists")}
	arn, err := w.StartPromotion(context.Background(), a)
	if want := "arn:aws:states:us-east-1:123456789012:execution:modelreg-promotion:" + a.ID; err != nil || arn != want {
		t.Errorf("StartPromotion of a started execution = %q, %v; want %q", arn, err, want)
	}
	n := len(f.started)
	for _, id := range []string{"", "has space", "a/b", strings.Repeat("x", 81)} {
		a.ID = id
		if _, err := w.StartPromotion(context.Background(), a); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("approval id %q: %v, want Invalid", id, err)
		}
	}
	if len(f.started) != n {
		t.Error("an invalid approval id reached Step Functions")
	}
	if _, err := New(f, "arn:aws:states:us-east-1:1:activity:x", nil); err == nil {
		t.Error("New accepted an ARN that is not a state machine's")
	}
}

func TestErrorsTranslated(t *testing.T) {
	for _, c := range []struct {
		err  error
		want registry.Code
	}{
		{&types.InvalidToken{Message: aws.String("Invalid Token")}, registry.NotFound},
		{&types.TaskDoesNotExist{}, registry.NotFound},
		{&types.TaskTimedOut{}, registry.Conflict},
		{&types.InvalidOutput{Message: aws.String("too big")}, registry.Invalid},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, registry.Unavailable},
		{&types.ExecutionLimitExceeded{}, registry.Unavailable},
		{&types.StateMachineDoesNotExist{}, registry.Internal},
		{errors.New("connection reset"), registry.Internal},
	} {
		w, _ := New(&fakeAPI{err: c.err}, smARN, nil)
		ctx := context.Background()
		for name, err := range map[string]error{
			"success":   w.SendTaskSuccess(ctx, "tok", []byte(`{}`)),
			"failure":   w.SendTaskFailure(ctx, "tok", workflow.ErrorRejected, "no"),
			"heartbeat": w.SendTaskHeartbeat(ctx, "tok"),
		} {
			if got := registry.ErrorCode(err); got != c.want {
				t.Errorf("%s with %T: %s (%v), want %s", name, c.err, got, err, c.want)
			}
			if !errors.Is(err, c.err) {
				t.Errorf("%s: the cause %T is lost", name, c.err)
			}
		}
	}
}

func TestRefusedBeforeCalling(t *testing.T) {
	f := &fakeAPI{err: errors.New("must not be called")}
	w, _ := New(f, smARN, nil)
	ctx := context.Background()
	if err := w.SendTaskSuccess(ctx, "", []byte(`{}`)); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("empty token: %v", err)
	}
	if err := w.SendTaskSuccess(ctx, "tok", []byte(`{`)); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("bad output: %v", err)
	}
	if err := w.SendTaskFailure(ctx, "tok", "", "x"); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("no code: %v", err)
	}
}

func TestCauseCut(t *testing.T) {
	f := &fakeAPI{}
	w, _ := New(f, smARN, nil)
	long := strings.Repeat("é", maxCauseLen) // 2 bytes each
	if err := w.SendTaskFailure(context.Background(), "tok", workflow.ErrorRejected, long); err != nil {
		t.Fatal(err)
	}
	got := aws.ToString(f.failed[0].Cause)
	if len(got) > maxCauseLen || len(got) < maxCauseLen-1 || !utf8.ValidString(got) {
		t.Errorf("cause cut to %d bytes (valid UTF-8: %v), want at most %d", len(got), utf8.ValidString(got), maxCauseLen)
	}
}

// TestTasksOnly: the task functions' Workflow sends task results but
// starts nothing, answering NotImplemented without calling Step Functions.
func TestTasksOnly(t *testing.T) {
	api := &fakeAPI{}
	w := NewTasks(api, nil)
	if _, err := w.StartPromotion(t.Context(), registry.Approval{ID: "ap1"}); !registry.IsCode(err, registry.NotImplemented) || len(api.started) != 0 {
		t.Errorf("StartPromotion: %v, %d calls; want NotImplemented and none", err, len(api.started))
	}
	if err := w.SendTaskSuccess(t.Context(), "tok", []byte(`{}`)); err != nil {
		t.Errorf("SendTaskSuccess: %v", err)
	}
	if err := w.SendTaskFailure(t.Context(), "tok", "Modelreg.Rejected", "no"); err != nil || len(api.failed) != 1 {
		t.Errorf("SendTaskFailure: %v, %d calls", err, len(api.failed))
	}
}
