// Package endpoints updates SageMaker endpoints through the AWS SDK: it
// points an existing endpoint at a model version (CreateModel from the
// version's artifact in S3, CreateEndpointConfig, UpdateEndpoint) and
// reads back where it stands (DescribeEndpoint). Only the binaries that
// deploy (the redeploy function, modelreg serve) link it; shared/app takes
// it through Config.SageMaker.
package endpoints

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
	"github.com/aws/smithy-go"

	"github.com/modelreg/modelreg/shared/redeploy"
	"github.com/modelreg/modelreg/shared/sagemaker"
)

// Connect returns the deployer on cfg, at endpoint when set (e.g. moto's
// server): what shared/app's Config.SageMaker takes.
func Connect(cfg aws.Config, endpoint string) redeploy.SageMaker {
	return New(awssm.NewFromConfig(cfg, func(o *awssm.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}))
}

// Client deploys to SageMaker through the SDK client it wraps.
type Client struct {
	api *awssm.Client
}

// New returns a Client using api.
func New(api *awssm.Client) *Client { return &Client{api: api} }

// StartUpdate creates the SageMaker model (named per version, image, role
// and artifact; an existing one of that name is reused) and an endpoint
// config for this deployment (an existing one is reused, so a redelivered
// deployment does not fail), tags the endpoint with the deployment, and
// asks SageMaker to update the endpoint to the config. It returns once the
// update was accepted. Errors are *Error.
func (c *Client) StartUpdate(ctx context.Context, u sagemaker.Update) (sagemaker.Started, error) {
	if u.InstanceType == "" {
		u.InstanceType = sagemaker.DefaultInstanceType
	}
	st := sagemaker.Started{ModelName: u.ModelName(), EndpointConfigName: u.ConfigName()}
	tags := []types.Tag{
		{Key: aws.String(sagemaker.TagModel), Value: aws.String(u.Model)},
		{Key: aws.String(sagemaker.TagVersion), Value: aws.String(strconv.Itoa(u.Version))},
		{Key: aws.String(sagemaker.TagDeployment), Value: aws.String(u.DeploymentID)},
	}
	_, err := c.api.CreateModel(ctx, &awssm.CreateModelInput{
		ModelName:        aws.String(st.ModelName),
		ExecutionRoleArn: aws.String(u.RoleARN),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String(u.ImageURI), ModelDataUrl: aws.String(u.ModelDataURL)},
		Tags:             tags[:2],
	})
	if err != nil && !alreadyExists(err) {
		return sagemaker.Started{}, sagemaker.WrapError(err, "create model %s", st.ModelName)
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
		return sagemaker.Started{}, sagemaker.WrapError(err, "create endpoint config %s", st.EndpointConfigName)
	}
	ep, err := c.api.DescribeEndpoint(ctx, &awssm.DescribeEndpointInput{EndpointName: aws.String(u.Endpoint)})
	if err != nil {
		return sagemaker.Started{}, sagemaker.WrapError(err, "describe endpoint %s", u.Endpoint)
	}
	st.EndpointARN = aws.ToString(ep.EndpointArn)
	if aws.ToString(ep.EndpointConfigName) == st.EndpointConfigName && ep.EndpointStatus != types.EndpointStatusFailed {
		// A redelivery after the update was accepted: nothing to start.
		return st, nil
	}
	if _, err := c.api.AddTags(ctx, &awssm.AddTagsInput{ResourceArn: ep.EndpointArn, Tags: tags}); err != nil {
		return sagemaker.Started{}, sagemaker.WrapError(err, "tag endpoint %s", u.Endpoint)
	}
	if _, err := c.api.UpdateEndpoint(ctx, &awssm.UpdateEndpointInput{
		EndpointName:       aws.String(u.Endpoint),
		EndpointConfigName: aws.String(st.EndpointConfigName),
	}); err != nil {
		return sagemaker.Started{}, sagemaker.WrapError(err, "update endpoint %s", u.Endpoint)
	}
	return st, nil
}

// Endpoint describes the endpoint name. Errors are *Error.
func (c *Client) Endpoint(ctx context.Context, name string) (sagemaker.Status, error) {
	out, err := c.api.DescribeEndpoint(ctx, &awssm.DescribeEndpointInput{EndpointName: aws.String(name)})
	if err != nil {
		return sagemaker.Status{}, sagemaker.WrapError(err, "describe endpoint %s", name)
	}
	return sagemaker.Status{Endpoint: name, Status: string(out.EndpointStatus),
		EndpointConfigName: aws.ToString(out.EndpointConfigName), FailureReason: aws.ToString(out.FailureReason)}, nil
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
