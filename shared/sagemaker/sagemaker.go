// Package sagemaker is what the registry knows of a SageMaker deployment:
// the update of an existing endpoint to a model version (Update, its
// resource names and tags), where an endpoint stands (Status), SageMaker's
// errors (Error) and its endpoint state-change events (ParseStateChange).
// An update takes minutes: StartUpdate returns once SageMaker accepted it;
// the outcome arrives later, as a "SageMaker Endpoint State Change" event
// on AWS or by polling Endpoint. The SDK client that makes the calls is
// package sagemaker/endpoints, apart so that a binary that deploys nothing
// does not link SageMaker's SDK (a third of the api function's code and
// half its package init).
package sagemaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/smithy-go"
)

// MaxNameLen is SageMaker's limit on model, endpoint config and endpoint
// names.
const MaxNameLen = 63

// Tag keys set on the endpoint config a deployment creates, and on the
// endpoint it updates, so that its state-change event names the deployment.
const (
	TagModel      = "modelreg:model"
	TagVersion    = "modelreg:version"
	TagDeployment = "modelreg:deployment"
)

// DefaultInstanceType is the instance type of a target that names none.
const DefaultInstanceType = "ml.m5.large"

// Name derives a SageMaker resource name for a model version: the model
// name with every character outside [a-zA-Z0-9-] made "-", "-v<N>-", and
// 10 hex digits of a hash of model, version and salt, trimmed so the
// whole is at most 63 characters, starts with a letter or digit and never
// ends with "-" (SageMaker's pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}).
// Distinct (model, version, salt) give distinct names, even for models
// whose names differ only in characters that are replaced or trimmed.
func Name(model string, version int, salt string) string {
	h := sha256.Sum256([]byte(model + "\x00" + strconv.Itoa(version) + "\x00" + salt))
	suffix := "-v" + strconv.Itoa(version) + "-" + hex.EncodeToString(h[:5])
	var b strings.Builder
	for _, r := range model {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	base := b.String()
	if n := MaxNameLen - len(suffix); len(base) > n {
		base = base[:n]
	}
	base = strings.Trim(base, "-")
	if base == "" {
		base = "m"
	}
	return base + suffix
}

// Update is one redeploy of an endpoint.
type Update struct {
	Model        string // the registry's model
	Version      int
	DeploymentID string
	Endpoint     string // the existing endpoint to update
	ImageURI     string
	RoleARN      string
	InstanceType string // DefaultInstanceType if empty
	// ModelDataURL is the s3:// URI of the artifact (a model.tar.gz).
	ModelDataURL string
}

// ModelName is the SageMaker model StartUpdate creates for u: one per
// version, image, role and artifact, so a rollback to a version reuses it.
func (u Update) ModelName() string {
	return Name(u.Model, u.Version, "model\x00"+u.ImageURI+"\x00"+u.RoleARN+"\x00"+u.ModelDataURL)
}

// ConfigName is the endpoint config StartUpdate creates for u: one per
// deployment, so the endpoint's state-change events tell deployments apart.
func (u Update) ConfigName() string { return Name(u.Model, u.Version, "config\x00"+u.DeploymentID) }

// Started is what StartUpdate made.
type Started struct {
	ModelName          string
	EndpointConfigName string
	EndpointARN        string
}

// Status is where an endpoint stands.
type Status struct {
	Endpoint           string
	Status             string // SageMaker's EndpointStatus: InService, Updating, Failed…
	EndpointConfigName string
	FailureReason      string
}

// Done says whether the update has ended, and whether it succeeded.
func (s Status) Done() (done, ok bool) { return outcome(s.Status) }

// outcome classifies an endpoint status, in the API's spelling
// ("InService") or the event's ("IN_SERVICE").
func outcome(status string) (done, ok bool) {
	switch strings.ToLower(strings.ReplaceAll(status, "_", "")) {
	case "inservice":
		return true, true
	case "failed", "outofservice":
		return true, false
	}
	return false, false
}

// Error is a failed SageMaker call. Retryable says whether the same call
// may succeed later (throttling, SageMaker's own failures, the network);
// a ValidationException, a missing resource or an exceeded limit will not.
type Error struct {
	Op        string
	Code      string // SageMaker's error code, "" without an answer
	Message   string
	Retryable bool
	Err       error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %s: %s", e.Op, e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WrapError returns err from the SageMaker call op (format, args) as an
// *Error, classified as retryable or not from SageMaker's error code.
func WrapError(err error, format string, args ...any) error {
	e := &Error{Op: fmt.Sprintf(format, args...), Err: err, Retryable: true}
	var api smithy.APIError
	if errors.As(err, &api) {
		e.Code, e.Message = api.ErrorCode(), api.ErrorMessage()
		switch e.Code {
		case "ValidationException", "ResourceNotFound", "ResourceLimitExceeded", "ResourceInUse",
			"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException":
			e.Retryable = false
		}
		if api.ErrorFault() == smithy.FaultClient && e.Code != "ThrottlingException" && e.Code != "TooManyRequestsException" {
			e.Retryable = false
		}
	}
	if errors.Is(err, context.Canceled) {
		e.Retryable = true
	}
	return e
}
