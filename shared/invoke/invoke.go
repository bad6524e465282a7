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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// Service is the Lambda API (REST-JSON) for awsapi.New.
var Service = awsapi.Service{SigningName: "lambda", EndpointPrefix: "lambda", EnvName: "LAMBDA"}

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

// Lambda invokes the verify-upload function asynchronously.
type Lambda struct {
	client   *awsapi.Client
	function string
	// path is the Invoke operation's, with the function escaped.
	path string
}

var _ registry.Invoker = (*Lambda)(nil)

// New returns an invoker of function (a name or ARN) through client, a
// client of Service.
func New(client *awsapi.Client, function string) (*Lambda, error) {
	if function == "" {
		return nil, errors.New("invoke: no function name")
	}
	if client == nil {
		return nil, errors.New("invoke: no Lambda client")
	}
	return &Lambda{client: client, function: function, path: "/2015-03-31/functions/" + escapeLabel(function) + "/invocations"}, nil
}

// escapeLabel escapes a path label as the SDK's REST binding does: every
// byte but the unreserved A-Z a-z 0-9 - . _ ~ as %XX (an ARN's colons too).
func escapeLabel(s string) string { return awsapi.Escape(s, "-._~") }

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
	sum := sha256.Sum256(body)
	resp, err := l.client.Do(ctx, awsapi.Request{
		Method: http.MethodPost, Path: l.path,
		Header: http.Header{"X-Amz-Invocation-Type": {"Event"}, "Content-Type": {"application/octet-stream"}},
		Body:   bytes.NewReader(body), ContentLength: int64(len(body)),
		GetBody:     func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil },
		PayloadHash: hex.EncodeToString(sum[:]),
	})
	if err != nil {
		// Throttled, a 5xx, or no answer at all (unreachable,
		// cancelled, no credentials): worth asking again later.
		var api *awsapi.Error
		if !errors.As(err, &api) || api.Code == "TooManyRequestsException" || api.StatusCode >= 500 {
			return registry.Wrap(registry.Unavailable, err, "invoke %s", l.function)
		}
		return fmt.Errorf("invoke %s: %w", l.function, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("invoke %s: status %d, want 202", l.function, resp.StatusCode)
	}
	return nil
}
