package local

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

// runDoc runs a small document to its end with the Recorder's handlers and
// returns the execution.
func runDoc(t *testing.T, doc string, h workflow.Handlers) registry.Execution {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "wf.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := New(Config{Store: s, Handlers: h, Definition: []byte(doc), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if _, err := e.StartPromotion(context.Background(), registry.Approval{ID: "ex", Model: "m", Version: 7, RequestedBy: "alice"}); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(context.Background(), "ex")
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func TestDataFlow(t *testing.T) {
	// InputPath, Parameters with .$ (input and context), the lambda:invoke
	// wrapping, ResultSelector, ResultPath into a nested field, OutputPath,
	// Pass with Result, and Choice operators.
	doc := `{"StartAt": "Shape", "States": {
	  "Shape": {"Type": "Pass", "Parameters": {"approval.$": "$.approval_id", "v.$": "$.version", "fixed": [1, {"x.$": "$.model"}]}, "ResultPath": "$.shaped", "Next": "Call"},
	  "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "InputPath": "$.shaped",
	    "Parameters": {"FunctionName": "${PromoteFunctionArn}", "Payload": {"approval_id.$": "$.approval", "version.$": "$.v", "model.$": "$$.Execution.Id", "target_stage.$": "$$.State.Name", "decision": {"comment": "lit"}}},
	    "ResultSelector": {"status.$": "$.StatusCode", "promoted.$": "$.Payload.version"},
	    "ResultPath": "$.deep.result", "OutputPath": "$.deep", "Next": "Pick"},
	  "Pick": {"Type": "Choice", "Choices": [
	      {"And": [{"Variable": "$.result.promoted", "NumericGreaterThanEquals": 7}, {"Not": {"Variable": "$.result.status", "NumericEquals": 500}}], "Next": "Mark"}
	    ], "Default": "Nope"},
	  "Mark": {"Type": "Pass", "Result": {"ok": true}, "ResultPath": "$.mark", "Next": "Done"},
	  "Nope": {"Type": "Fail", "Error": "Wrong", "Cause": "choice"},
	  "Done": {"Type": "Succeed", "OutputPath": "$.mark"}
	}}`
	h := &workflowtest.Recorder{}
	ex := runDoc(t, doc, h)
	if ex.Status != registry.ExecutionSucceeded || string(ex.Output) != `{"ok":true}` {
		t.Fatalf("execution %s %s %s, output %s", ex.Status, ex.Error, ex.Cause, ex.Output)
	}
	p := h.Promotes[0]
	if p.ApprovalID != "ex" || p.Version != 7 || p.Model != "ex" || p.TargetStage != "Call" || p.Decision.Comment != "lit" {
		t.Errorf("payload %+v", p)
	}
}

func TestRuntimeErrorsAreNotCaught(t *testing.T) {
	// A missing path is States.Runtime: States.ALL does not catch it.
	doc := `{"StartAt": "Call", "States": {
	  "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
	    "Parameters": {"FunctionName": "${ValidateFunctionArn}", "Payload": {"approval_id.$": "$.missing"}},
	    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
	  "Caught": {"Type": "Succeed"}
	}}`
	ex := runDoc(t, doc, &workflowtest.Recorder{})
	if ex.Status != registry.ExecutionFailed || ex.Error != "States.Runtime" || !strings.Contains(ex.Cause, "$.missing") {
		t.Fatalf("execution %s %s %q", ex.Status, ex.Error, ex.Cause)
	}
}

func TestNoChoiceMatched(t *testing.T) {
	doc := `{"StartAt": "C", "States": {
	  "C": {"Type": "Choice", "Choices": [{"Variable": "$.model", "StringEquals": "other", "Next": "D"}]},
	  "D": {"Type": "Succeed"}
	}}`
	if ex := runDoc(t, doc, &workflowtest.Recorder{}); ex.Error != "States.NoChoiceMatched" {
		t.Fatalf("execution %s %s", ex.Status, ex.Error)
	}
}

func TestUnsupportedRefused(t *testing.T) {
	task := func(extra string) string {
		return `{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
		  "Parameters": {"FunctionName": "${ValidateFunctionArn}", "Payload": {}}, "End": true` + extra + `}}}`
	}
	for name, doc := range map[string]string{
		"wait state":       `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}`,
		"heartbeat":        task(`, "HeartbeatSeconds": 5`),
		"intrinsic":        `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.Format('{}', $.a)"}, "End": true}}}`,
		"other resource":   strings.Replace(task(""), "lambda:invoke", "sqs:sendMessage", 1),
		"unknown function": strings.Replace(task(""), "${ValidateFunctionArn}", "arn:aws:lambda:us-east-1:1:function:x", 1),
		"missing target":   `{"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}`,
		"bad start":        `{"StartAt": "Q", "States": {"P": {"Type": "Pass", "End": true}}}`,
		"choice operator":  `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringMatches": "x*", "Next": "C"}]}}}`,
		"both timeouts":    task(`, "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"`),
		"filter path":      `{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.a[?(@.b)]", "End": true}}}`,
	} {
		if _, err := New(Config{Store: nopStore{}, Handlers: &workflowtest.Recorder{}, Definition: []byte(doc)}); err == nil {
			t.Errorf("%s: the engine accepted a document it does not run", name)
		}
	}
	if _, err := New(Config{Store: nopStore{}, Handlers: &workflowtest.Recorder{}}); err != nil {
		t.Errorf("the shipped document: %v", err)
	}
}

// nopStore is a Store for constructor tests (never called).
type nopStore struct{ registry.Store }

func TestPaths(t *testing.T) {
	doc := map[string]any{}
	if err := json.Unmarshal([]byte(`{"a": {"b": [10, {"c": "x"}]}, "d e": 1}`), &doc); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]any{"$.a.b[1].c": "x", "$['d e']": float64(1), "$.a.b[0]": float64(10)} {
		pp, err := parsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := pp.get(doc); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", p, got, err, want)
		}
	}
	pp, _ := parsePath("$.a.new.deep")
	out, err := pp.set(doc, "v")
	if err != nil || out.(map[string]any)["a"].(map[string]any)["new"].(map[string]any)["deep"] != "v" {
		t.Errorf("set: %v, %v", out, err)
	}
	if _, ok := doc["a"].(map[string]any)["new"]; ok {
		t.Error("set modified its input")
	}
	pp, _ = parsePath("$.a.b.c")
	if _, err := pp.set(doc, 1); err == nil {
		t.Error("set through an array succeeded")
	}
}
