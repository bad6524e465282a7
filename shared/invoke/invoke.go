// Package invoke is the registry.Invoker on AWS: it hands work to another
// Lambda function with an asynchronous invoke (InvocationType Event), so
// the API answers at once and the function runs for up to 15 minutes.
// Lambda retries a failed asynchronous invocation twice; the registry's
// recovery asks again for versions still VERIFYING after that.
//
// The function's role needs lambda:InvokeFunction on the target function
// only.
package invoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/modelreg/modelreg/shared/registry"
)

// VerifyPayload is the input of the verify-upload function: the upload to
// verify. It is the whole event, a few dozen bytes.
type VerifyPayload struct {
	Model    string `json:"model"`
	Version  int    `json:"version"`
	UploadID string `json:"upload_id"`
	// Continuation counts the invocations that handed this verification
	// on because they ran out of time (0 for the first).
	Continuation int `json:"continuation,omitempty"`
}

// Request returns the registry's request for p.
func (p VerifyPayload) Request() registry.VerifyRequest {
	return registry.VerifyRequest{Model: p.Model, Version: p.Version, UploadID: p.UploadID}
}

// Check refuses a payload that names no upload. Invalid.
func (p VerifyPayload) Check() error {
	if p.Model == "" || p.Version < 1 || p.UploadID == "" {
		return registry.Errorf(registry.Invalid, "verify-upload input needs model, version (>= 1) and upload_id, got %+v", p)
	}
	return nil
}

// API is the part of the Lambda client the invoker uses.
type API interface {
	Invoke(ctx context.Context, in *awslambda.InvokeInput, opts ...func(*awslambda.Options)) (*awslambda.InvokeOutput, error)
}

// Lambda invokes the verify-upload function asynchronously.
type Lambda struct {
	client   API
	function string
}

var _ registry.Invoker = (*Lambda)(nil)

// New returns an invoker of function (a name or ARN) through client.
func New(client API, function string) (*Lambda, error) {
	if function == "" {
		return nil, errors.New("invoke: no function name")
	}
	return &Lambda{client: client, function: function}, nil
}

// InvokeVerify queues r for the verify-upload function. Unavailable when
// Lambda throttles or is unreachable, Internal otherwise.
func (l *Lambda) InvokeVerify(ctx context.Context, r registry.VerifyRequest) error {
	return l.Send(ctx, VerifyPayload{Model: r.Model, Version: r.Version, UploadID: r.UploadID})
}

// Send invokes the function asynchronously with p. Errors as InvokeVerify.
func (l *Lambda) Send(ctx context.Context, p VerifyPayload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode verify request: %w", err)
	}
	out, err := l.client.Invoke(ctx, &awslambda.InvokeInput{FunctionName: aws.String(l.function),
		InvocationType: types.InvocationTypeEvent, Payload: body})
	if err != nil {
		var throttled *types.TooManyRequestsException
		var resp *smithyhttp.ResponseError
		if errors.As(err, &throttled) || (errors.As(err, &resp) && resp.HTTPStatusCode() >= 500) || !errors.As(err, &resp) {
			return registry.Wrap(registry.Unavailable, err, "invoke %s", l.function)
		}
		return fmt.Errorf("invoke %s: %w", l.function, err)
	}
	if out.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invoke %s: status %d, want 202", l.function, out.StatusCode)
	}
	return nil
}
