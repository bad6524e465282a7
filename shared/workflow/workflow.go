// Package workflow holds the promotion workflow shared by both engines: the
// Amazon States Language document promotion.asl.json (embedded), the names of
// its placeholders, which the CDK stack substitutes with ARNs, and the task
// handlers its Task states call, which the registry service implements.
//
// On AWS, Step Functions runs the substituted document and each Task invokes
// a Lambda function whose entry point calls the matching Handlers method; the
// local engine (package workflow/local) runs the same embedded bytes
// in-process and calls the Handlers directly.
package workflow

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
)

//go:embed promotion.asl.json
var promotionASL []byte

// Name is the workflow name recorded on registry.Execution.Workflow.
const Name = "promotion"

// The placeholders of promotion.asl.json. Each Task state's FunctionName is
// one of the *FunctionArn placeholders; the CDK stack substitutes the ARN of
// the Lambda function that runs the matching Handlers method, and the local
// engine maps the placeholder itself to that method.
const (
	// ValidateFunctionArn is the function that runs Handlers.Validate.
	ValidateFunctionArn = "${ValidateFunctionArn}"
	// RequestApprovalFunctionArn is the function that runs
	// Handlers.RequestApproval (invoked with .waitForTaskToken).
	RequestApprovalFunctionArn = "${RequestApprovalFunctionArn}"
	// PromoteFunctionArn is the function that runs Handlers.Promote.
	PromoteFunctionArn = "${PromoteFunctionArn}"
	// RecordOutcomeFunctionArn is the function that runs Handlers.RecordOutcome.
	RecordOutcomeFunctionArn = "${RecordOutcomeFunctionArn}"
)

// Placeholders lists every placeholder of the document, in a stable order.
var Placeholders = []string{ValidateFunctionArn, RequestApprovalFunctionArn, PromoteFunctionArn, RecordOutcomeFunctionArn}

// placeholderRE matches a ${Name} placeholder.
var placeholderRE = lazyre.New(`\$\{[A-Za-z][A-Za-z0-9]*\}`)

// Definition returns a copy of the embedded promotion.asl.json, with its
// placeholders in place (the local engine runs it as it is).
func Definition() []byte { return slices.Clone(promotionASL) }

// Substitute returns the document with every placeholder replaced by its
// value in values (keyed by the placeholder, e.g. ValidateFunctionArn). It
// fails, naming them, if a placeholder of the document has no value or a
// value is empty, if values names something that is not a placeholder of the
// document, or if a value would break the JSON string it lands in.
func Substitute(values map[string]string) ([]byte, error) {
	return substitute(promotionASL, values)
}

func substitute(doc []byte, values map[string]string) ([]byte, error) {
	used := map[string]bool{}
	var missing []string
	for _, p := range placeholderRE.Get().FindAll(doc, -1) {
		name := string(p)
		if v, ok := values[name]; !ok || v == "" {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		used[name] = true
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("substitute %s: no value for %s", Name, strings.Join(missing, ", "))
	}
	for name, v := range values {
		if !used[name] {
			return nil, fmt.Errorf("substitute %s: %q is not a placeholder of the document", Name, name)
		}
		if strings.ContainsAny(v, "\"\\\n\r\t") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
			return nil, fmt.Errorf("substitute %s: the value of %s contains a quote, backslash or control character", Name, name)
		}
	}
	return placeholderRE.Get().ReplaceAllFunc(doc, func(p []byte) []byte { return []byte(values[string(p)]) }), nil
}
