package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

const smARN = "arn:aws:states:us-east-1:123456789012:stateMachine:modelreg-promotion"

// fakeSFN is a Step Functions endpoint (AWS JSON 1.0, behind a SigV4
// verifier) that records the inputs and answers every call with the error
// body errBody and status (as Step Functions sends them), success when
// errBody is empty, or hangs up without an answer when hangup is set.
type fakeSFN struct {
	mu      sync.Mutex
	status  int
	errBody string
	hangup  bool
	targets []string
	started []startExecutionInput
	failed  []sendTaskFailureInput
}

// sfnError is the body Step Functions answers an error with: the code in
// __type after the model's namespace.
func sfnError(code, message string) string {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + code, "message": message})
	return string(b)
}

// fail makes f answer every call with HTTP 400 and code.
func (f *fakeSFN) fail(code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.errBody = http.StatusBadRequest, sfnError(code, code+" says no")
}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	if !ok || r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		http.Error(w, "not a Step Functions JSON 1.0 request", http.StatusBadRequest)
		return
	}
	f.targets = append(f.targets, op)
	decode := func(v any) bool {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, sfnError("SerializationException", err.Error()))
			return false
		}
		return true
	}
	out := "{}"
	switch op {
	case "StartExecution":
		var in startExecutionInput
		if !decode(&in) {
			return
		}
		f.started = append(f.started, in)
		out = `{"executionArn":"arn:from-api","startDate":1.764579600123E9}`
	case "SendTaskFailure":
		var in sendTaskFailureInput
		if !decode(&in) {
			return
		}
		f.failed = append(f.failed, in)
	case "SendTaskSuccess":
		var in sendTaskSuccessInput
		if !decode(&in) {
			return
		}
	case "SendTaskHeartbeat":
		var in sendTaskHeartbeatInput
		if !decode(&in) {
			return
		}
	default:
		http.Error(w, "unknown operation "+op, http.StatusBadRequest)
		return
	}
	if f.hangup {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "3c9ef3a6-0000-4000-8000-000000000000")
	if f.errBody != "" {
		w.WriteHeader(f.status)
		io.WriteString(w, f.errBody)
		return
	}
	io.WriteString(w, out)
}

// newFake returns a fake Step Functions and a client of it that tries
// each request once.
func newFake(t *testing.T) (*fakeSFN, *awsapi.Client) {
	t.Helper()
	f := &fakeSFN{}
	v := &sigv4test.Verifier{Region: "us-east-1", Service: "states", Next: f,
		Keys: []sigv4test.Key{{AccessKeyID: "AKIDSFN", SecretAccessKey: "sfn-secret", SessionToken: "sfn-session"}}}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	c, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("AKIDSFN", "sfn-secret", "sfn-session"),
		MaxAttempts: 1}, Service, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range v.Seen() {
			if s.Err != nil {
				t.Errorf("%s %s: signature refused: %v", s.Method, s.Path, s.Err)
			}
		}
	})
	return f, c
}

func TestStartPromotion(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f, c := newFake(t)
	w, err := New(c, smARN, func() time.Time { return now })
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
	if err := json.Unmarshal([]byte(in.Input), &input); err != nil {
		t.Fatal(err)
	}
	if in.Name != a.ID || in.StateMachineARN != smARN || input != workflow.NewPromotionInput(a, now) {
		t.Errorf("StartExecution input %+v / %+v", in, input)
	}
	// Started before: success, with the execution's ARN.
	f.fail("ExecutionAlreadyExists")
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
	if _, err := New(c, "arn:aws:states:us-east-1:1:activity:x", nil); err == nil {
		t.Error("New accepted an ARN that is not a state machine's")
	}
	if _, err := New(nil, smARN, nil); err == nil {
		t.Error("New accepted no client")
	}
}

func TestErrorsTranslated(t *testing.T) {
	for _, c := range []struct {
		code   string // the error's code; "" for a hang-up
		status int
		body   string // the answer's body; "" for sfnError(code, …)
		want   registry.Code
	}{
		// Step Functions' own answer to a token it does not know (moto's too).
		{"InvalidToken", 400, `{"__type":"com.amazonaws.swf.service.v2.model#InvalidToken","message":"Invalid Token: 'Invalid token'"}`, registry.NotFound},
		{"TaskDoesNotExist", 400, "", registry.NotFound},
		{"TaskTimedOut", 400, "", registry.Conflict},
		{"InvalidOutput", 400, "", registry.Invalid},
		{"ThrottlingException", 400, "", registry.Unavailable},
		{"ExecutionLimitExceeded", 400, "", registry.Unavailable},
		{"InternalServerError", 500, " ", registry.Unavailable}, // no body: the code is the status's
		{"StateMachineDoesNotExist", 400, "", registry.Internal},
		{"", 0, "", registry.Internal}, // connection reset
	} {
		f, client := newFake(t)
		switch {
		case c.code == "":
			f.hangup = true
		case c.body == "":
			f.status, f.errBody = c.status, sfnError(c.code, "message of "+c.code)
		default:
			f.status, f.errBody = c.status, c.body
		}
		w, _ := New(client, smARN, nil)
		ctx := context.Background()
		for name, err := range map[string]error{
			"success":   w.SendTaskSuccess(ctx, "tok", []byte(`{}`)),
			"failure":   w.SendTaskFailure(ctx, "tok", workflow.ErrorRejected, "no"),
			"heartbeat": w.SendTaskHeartbeat(ctx, "tok"),
		} {
			if got := registry.ErrorCode(err); got != c.want {
				t.Errorf("%s with %q: %s (%v), want %s", name, c.code, got, err, c.want)
			}
			var api *awsapi.Error
			var te *awsapi.TransportError
			if c.code == "" && !errors.As(err, &te) || c.code != "" && (!errors.As(err, &api) || api.Code != c.code) {
				t.Errorf("%s: the cause %q is lost: %v", name, c.code, err)
			}
		}
		if c.code == "InvalidOutput" {
			if err := w.SendTaskSuccess(ctx, "tok", []byte(`{}`)); !strings.Contains(registry.ErrorMessage(err), "message of InvalidOutput") {
				t.Errorf("InvalidOutput: Step Functions' message is not in %q", registry.ErrorMessage(err))
			}
		}
	}
}

func TestRefusedBeforeCalling(t *testing.T) {
	f, c := newFake(t)
	f.fail("MustNotBeCalled")
	w, _ := New(c, smARN, nil)
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
	if len(f.targets) != 0 {
		t.Errorf("calls reached Step Functions: %v", f.targets)
	}
}

func TestCauseCut(t *testing.T) {
	f, c := newFake(t)
	w, _ := New(c, smARN, nil)
	long := strings.Repeat("é", maxCauseLen) // 2 bytes each
	if err := w.SendTaskFailure(context.Background(), "tok", workflow.ErrorRejected, long); err != nil {
		t.Fatal(err)
	}
	got := f.failed[0].Cause
	if len(got) > maxCauseLen || len(got) < maxCauseLen-1 || !utf8.ValidString(got) {
		t.Errorf("cause cut to %d bytes (valid UTF-8: %v), want at most %d", len(got), utf8.ValidString(got), maxCauseLen)
	}
	if f.failed[0].Error != workflow.ErrorRejected || f.failed[0].TaskToken != "tok" {
		t.Errorf("SendTaskFailure input %+v", f.failed[0])
	}
}

// TestTasksOnly: the task functions' Workflow sends task results but
// starts nothing, answering NotImplemented without calling Step Functions.
func TestTasksOnly(t *testing.T) {
	f, c := newFake(t)
	w := NewTasks(c, nil)
	if _, err := w.StartPromotion(t.Context(), registry.Approval{ID: "ap1"}); !registry.IsCode(err, registry.NotImplemented) || len(f.started) != 0 {
		t.Errorf("StartPromotion: %v, %d calls; want NotImplemented and none", err, len(f.started))
	}
	if err := w.SendTaskSuccess(t.Context(), "tok", []byte(`{}`)); err != nil {
		t.Errorf("SendTaskSuccess: %v", err)
	}
	if err := w.SendTaskFailure(t.Context(), "tok", "Modelreg.Rejected", "no"); err != nil || len(f.failed) != 1 {
		t.Errorf("SendTaskFailure: %v, %d calls", err, len(f.failed))
	}
	if want := []string{"SendTaskSuccess", "SendTaskFailure"}; strings.Join(f.targets, ",") != strings.Join(want, ",") {
		t.Errorf("operations %v, want %v", f.targets, want)
	}
}
