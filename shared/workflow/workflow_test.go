package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// arns are deploy-time values for every placeholder.
var arns = map[string]string{
	ValidateFunctionArn:        "arn:aws:lambda:us-east-1:123456789012:function:modelreg-validate",
	RequestApprovalFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:modelreg-request-approval",
	PromoteFunctionArn:         "arn:aws:lambda:us-east-1:123456789012:function:modelreg-promote",
	RecordOutcomeFunctionArn:   "arn:aws:lambda:us-east-1:123456789012:function:modelreg-record-outcome",
}

func TestPlaceholdersAreTheDocuments(t *testing.T) {
	found := map[string]bool{}
	for _, p := range placeholderRE.Get().FindAll(Definition(), -1) {
		found[string(p)] = true
	}
	if len(found) != len(Placeholders) {
		t.Errorf("document has placeholders %v, package exports %v", found, Placeholders)
	}
	for _, p := range Placeholders {
		if !found[p] {
			t.Errorf("exported placeholder %s is not in the document", p)
		}
	}
}

func TestSubstitute(t *testing.T) {
	doc, err := Substitute(arns)
	if err != nil {
		t.Fatal(err)
	}
	if placeholderRE.Get().Match(doc) {
		t.Error("placeholders left after Substitute")
	}
	if !json.Valid(doc) || !bytes.Contains(doc, []byte(`"FunctionName": "`+arns[PromoteFunctionArn]+`"`)) {
		t.Error("substituted document is not JSON with the ARNs in place")
	}
	if bytes.Contains(Definition(), []byte("arn:aws:lambda")) {
		t.Error("Substitute changed the embedded document")
	}
	missing := map[string]string{ValidateFunctionArn: arns[ValidateFunctionArn]}
	if _, err := Substitute(missing); err == nil || !strings.Contains(err.Error(), PromoteFunctionArn) {
		t.Errorf("missing values: %v, want an error naming %s", err, PromoteFunctionArn)
	}
	for name, values := range map[string]map[string]string{
		"unknown":  with(arns, "${Nope}", "x"),
		"empty":    with(arns, PromoteFunctionArn, ""),
		"quote":    with(arns, PromoteFunctionArn, `arn"`),
		"newline":  with(arns, PromoteFunctionArn, "arn\n"),
		"backslsh": with(arns, PromoteFunctionArn, `arn\`),
	} {
		if _, err := Substitute(values); err == nil {
			t.Errorf("%s: Substitute accepted %v", name, values)
		}
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range m {
		if key != k {
			out[key] = val
		}
	}
	return out
}

// TestASLValidator checks the document with npm asl-validator@4.0.0
// (scripts/test.d/asl-validator.sh installs it) before and after
// substitution. Skipped without it, except in CI, where it fails.
func TestASLValidator(t *testing.T) {
	bin := os.Getenv("MODELREG_ASL_VALIDATOR")
	if bin == "" {
		msg := "MODELREG_ASL_VALIDATOR is not set: run scripts/test, or `scripts/test.d/asl-validator.sh start DIR` and export the line it prints"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the ASL document must be validated)")
		}
		t.Skip(msg)
	}
	sub, err := Substitute(arns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, doc []byte) string {
		file := filepath.Join(dir, name+".asl.json")
		if err := os.WriteFile(file, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	validate := func(files ...string) ([]byte, error) {
		args := []string{}
		for _, f := range files {
			args = append(args, "--json-path", f)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("run %s: %v", bin, err)
		}
		return out, err
	}
	// Both documents in one run (node starts slowly).
	if out, err := validate(write("embedded", Definition()), write("substituted", sub)); err != nil {
		t.Errorf("asl-validator refuses the document: %v\n%s", err, out)
	}
	// The validator must be able to say no: a Next to a missing state.
	broken := bytes.Replace(Definition(), []byte(`"Next": "Promoted"`), []byte(`"Next": "Nowhere"`), 1)
	if out, err := validate(write("broken", broken)); err == nil {
		t.Errorf("asl-validator accepts a Next to a missing state:\n%s", out)
	}
}

func TestNewPromotionInput(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	a := registry.Approval{ID: "ap", Model: "m", Version: 3, TargetStage: registry.StageProduction, RequestedBy: "alice"}
	if got := NewPromotionInput(a, now).ApprovalTimeoutSeconds; got != 72*3600 {
		t.Errorf("no expiry: timeout %d s, want %d", got, 72*3600)
	}
	a.ExpiresAt = now.Add(90*time.Minute + 300*time.Millisecond)
	if got := NewPromotionInput(a, now).ApprovalTimeoutSeconds; got != 90*60+1 {
		t.Errorf("expiry in 90m0.3s: timeout %d s, want %d (rounded up)", got, 90*60+1)
	}
	a.ExpiresAt = now.Add(-time.Hour)
	if got := NewPromotionInput(a, now).ApprovalTimeoutSeconds; got != 1 {
		t.Errorf("expiry passed: timeout %d s, want 1", got)
	}
	in := NewPromotionInput(a, now)
	if in.ApprovalID != "ap" || in.Model != "m" || in.Version != 3 || in.TargetStage != "Production" || in.RequestedBy != "alice" {
		t.Errorf("input %+v", in)
	}
}

type handlers struct{ err error }

func (h handlers) Validate(_ context.Context, in ValidateInput) (ValidateOutput, error) {
	return ValidateOutput{Passed: in.Version > 1, Reason: in.Model}, h.err
}
func (h handlers) RequestApproval(context.Context, RequestApprovalInput) error { return h.err }
func (h handlers) Promote(_ context.Context, in PromoteInput) (PromoteOutput, error) {
	return PromoteOutput{Version: in.Version}, h.err
}
func (h handlers) RecordOutcome(context.Context, OutcomeInput) error { return h.err }

func TestInvoke(t *testing.T) {
	ctx := context.Background()
	out, err := Invoke(ctx, handlers{}, ValidateFunctionArn, []byte(`{"approval_id":"a","model":"m","version":2,"target_stage":"Production"}`))
	if err != nil || string(out) != `{"passed":true,"auto_approve":false,"reason":"m"}` {
		t.Errorf("Validate: %s, %v", out, err)
	}
	if out, err := Invoke(ctx, handlers{}, RecordOutcomeFunctionArn, []byte(`{"approval_id":"a","outcome":"EXPIRED","error":{"Error":"States.Timeout","Cause":""}}`)); err != nil || string(out) != `{}` {
		t.Errorf("RecordOutcome: %s, %v", out, err)
	}
	for what, c := range map[string]struct {
		fn, payload string
		h           Handlers
		want        string
	}{
		"unknown field":    {ValidateFunctionArn, `{"approval_id":"a","extra":1}`, handlers{}, ErrorTaskFailed},
		"not JSON":         {PromoteFunctionArn, `{`, handlers{}, ErrorTaskFailed},
		"unknown function": {"arn:nope", `{}`, handlers{}, ErrorTaskFailed},
		"transient":        {PromoteFunctionArn, `{}`, handlers{registry.Errorf(registry.Unavailable, "busy")}, ErrorTransient},
		"task error":       {RequestApprovalFunctionArn, `{}`, handlers{&TaskError{Name: "Custom.Thing", Cause: "c"}}, "Custom.Thing"},
		"other":            {RecordOutcomeFunctionArn, `{}`, handlers{errors.New("disk on fire")}, ErrorTaskFailed},
	} {
		_, err := Invoke(ctx, c.h, c.fn, []byte(c.payload))
		if name, _ := ErrorName(err); err == nil || name != c.want {
			t.Errorf("%s: %v (name %q), want %s", what, err, name, c.want)
		}
	}
	if _, cause := ErrorName(errors.New("secret detail")); cause != "internal error" {
		t.Errorf("cause of an internal error %q leaks details", cause)
	}
}
