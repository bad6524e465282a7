// Package sagemaker is the SageMaker deployer: it points an existing
// endpoint at a model version (CreateModel from the version's artifact in
// S3, CreateEndpointConfig, UpdateEndpoint) and reads back where the
// endpoint stands (DescribeEndpoint). An update takes minutes: StartUpdate
// returns once SageMaker accepted it; the outcome arrives later, as a
// "SageMaker Endpoint State Change" event on AWS (see ParseStateChange) or
// by polling Endpoint.
package sagemaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
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

// Client deploys to SageMaker through the SDK client it wraps.
type Client struct {
	api *awssm.Client
}

// New returns a Client using api.
func New(api *awssm.Client) *Client { return &Client{api: api} }

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

// StartUpdate creates the SageMaker model (named per version, image, role
// and artifact; an existing one of that name is reused) and an endpoint
// config for this deployment (an existing one is reused, so a redelivered
// deployment does not fail), tags the endpoint with the deployment, and
// asks SageMaker to update the endpoint to the config. It returns once the
// update was accepted. Errors are *Error.
func (c *Client) StartUpdate(ctx context.Context, u Update) (Started, error) {
	if u.InstanceType == "" {
		u.InstanceType = DefaultInstanceType
	}
	st := Started{ModelName: u.ModelName(), EndpointConfigName: u.ConfigName()}
	tags := []types.Tag{
		{Key: aws.String(TagModel), Value: aws.String(u.Model)},
		{Key: aws.String(TagVersion), Value: aws.String(strconv.Itoa(u.Version))},
		{Key: aws.String(TagDeployment), Value: aws.String(u.DeploymentID)},
	}
	_, err := c.api.CreateModel(ctx, &awssm.CreateModelInput{
		ModelName:        aws.String(st.ModelName),
		ExecutionRoleArn: aws.String(u.RoleARN),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String(u.ImageURI), ModelDataUrl: aws.String(u.ModelDataURL)},
		Tags:             tags[:2],
	})
	if err != nil && !alreadyExists(err) {
		return Started{}, wrap(err, "create model %s", st.ModelName)
	}
	_, err = c.api.CreateEndpointConfig(ctx, &awssm.CreateEndpointConfigInput{
		EndpointConfigName: aws.String(st.EndpointConfigName),
		ProductionVariants: []types.ProductionVariant{{
			VariantName:          aws.String("AllTraffic"),
			ModelName:            aws.String(st.ModelName),
			InstanceType:         types.ProductionVariantInstanceType(u.InstanceType),
			InitialInstanceCount: aws.Int32(1),
		}},
		Tags: tags,
	})
	if err != nil && !alreadyExists(err) {
		return Started{}, wrap(err, "create endpoint config %s", st.EndpointConfigName)
	}
	ep, err := c.api.DescribeEndpoint(ctx, &awssm.DescribeEndpointInput{EndpointName: aws.String(u.Endpoint)})
	if err != nil {
		return Started{}, wrap(err, "describe endpoint %s", u.Endpoint)
	}
	st.EndpointARN = aws.ToString(ep.EndpointArn)
	if aws.ToString(ep.EndpointConfigName) == st.EndpointConfigName && ep.EndpointStatus != types.EndpointStatusFailed {
		// A redelivery after the update was accepted: nothing to start.
		return st, nil
	}
	if _, err := c.api.AddTags(ctx, &awssm.AddTagsInput{ResourceArn: ep.EndpointArn, Tags: tags}); err != nil {
		return Started{}, wrap(err, "tag endpoint %s", u.Endpoint)
	}
	if _, err := c.api.UpdateEndpoint(ctx, &awssm.UpdateEndpointInput{
		EndpointName:       aws.String(u.Endpoint),
		EndpointConfigName: aws.String(st.EndpointConfigName),
	}); err != nil {
		return Started{}, wrap(err, "update endpoint %s", u.Endpoint)
	}
	return st, nil
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

// Endpoint describes the endpoint name. Errors are *Error.
func (c *Client) Endpoint(ctx context.Context, name string) (Status, error) {
	out, err := c.api.DescribeEndpoint(ctx, &awssm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		return Status{}, wrap(err, "describe endpoint %s", name)
	}
	return Status{Endpoint: name, Status: string(out.EndpointStatus),
		EndpointConfigName: aws.ToString(out.EndpointConfigName), FailureReason: aws.ToString(out.FailureReason)}, nil
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

func wrap(err error, format string, args ...any) error {
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

// alreadyExists reports SageMaker refusing to create what exists (a
// ValidationException saying so): a redelivered deployment reuses it.
func alreadyExists(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	m := strings.ToLower(api.ErrorMessage())
	return (api.ErrorCode() == "ValidationException" || api.ErrorCode() == "ResourceInUse") &&
		(strings.Contains(m, "already exist") || strings.Contains(m, "cannot create already existing"))
}
