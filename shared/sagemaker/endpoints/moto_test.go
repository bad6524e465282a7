package endpoints

import (
	"github.com/modelreg/modelreg/shared/sagemaker"
	"github.com/modelreg/modelreg/shared/testenv"

	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"
)

// endpointEnv names moto's URL; scripts/test starts moto and sets it.
const endpointEnv = "MODELREG_MOTO_ENDPOINT"

func motoAPI(t *testing.T) *awssm.Client {
	t.Helper()
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		msg := endpointEnv + " is not set: run scripts/test, or start moto with `scripts/test.d/moto.sh start DIR` and export the line it prints"
		testenv.Missing(t, msg, "the SageMaker tests")
	}
	return awssm.New(awssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
}

// On moto: CreateModel, CreateEndpointConfig, DescribeEndpoint and AddTags
// do what StartUpdate needs; moto answers UpdateEndpoint with 500 (not
// implemented), which StartUpdate reports as retryable — the wire format
// of UpdateEndpoint is checked in wire_test.go instead.
func TestStartUpdateOnMoto(t *testing.T) {
	api := motoAPI(t)
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano())
	role := "arn:aws:iam::123456789012:role/SageMakerExec"
	// The endpoint a deploy target names exists already, serving v1.
	first := "initial-" + suffix
	if _, err := api.CreateModel(ctx, &awssm.CreateModelInput{ModelName: aws.String(first), ExecutionRoleArn: aws.String(role),
		PrimaryContainer: &types.ContainerDefinition{Image: aws.String("img:1"), ModelDataUrl: aws.String("s3://b/v1.tar.gz")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateEndpointConfig(ctx, &awssm.CreateEndpointConfigInput{EndpointConfigName: aws.String(first),
		ProductionVariants: []types.ProductionVariant{{VariantName: aws.String("AllTraffic"), ModelName: aws.String(first),
			InstanceType: types.ProductionVariantInstanceTypeMlM5Large, InitialInstanceCount: aws.Int32(1)}}}); err != nil {
		t.Fatal(err)
	}
	endpoint := "ep-" + suffix
	if _, err := api.CreateEndpoint(ctx, &awssm.CreateEndpointInput{EndpointName: aws.String(endpoint), EndpointConfigName: aws.String(first)}); err != nil {
		t.Fatal(err)
	}

	c := New(api)
	u := sagemaker.Update{Model: "fraud_model." + suffix, Version: 2, DeploymentID: "dp-" + suffix, Endpoint: endpoint,
		ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1", RoleARN: role, InstanceType: "ml.c5.xlarge",
		ModelDataURL: "s3://bucket/models/fraud_model/2/model.tar.gz"}
	for attempt := 1; attempt <= 2; attempt++ { // the second is a redelivery: what exists is reused
		_, err := c.StartUpdate(ctx, u)
		var e *sagemaker.Error
		if !errors.As(err, &e) || !e.Retryable || e.Op != "update endpoint "+endpoint {
			t.Fatalf("attempt %d: err = %#v, want moto's retryable UpdateEndpoint failure", attempt, err)
		}
	}
	modelName := u.ModelName()
	m, err := api.DescribeModel(ctx, &awssm.DescribeModelInput{ModelName: aws.String(modelName)})
	if err != nil {
		t.Fatalf("model %s: %v", modelName, err)
	}
	if aws.ToString(m.PrimaryContainer.ModelDataUrl) != u.ModelDataURL || aws.ToString(m.PrimaryContainer.Image) != u.ImageURI || aws.ToString(m.ExecutionRoleArn) != role {
		t.Errorf("model %+v", m.PrimaryContainer)
	}
	configName := u.ConfigName()
	cfg, err := api.DescribeEndpointConfig(ctx, &awssm.DescribeEndpointConfigInput{EndpointConfigName: aws.String(configName)})
	if err != nil {
		t.Fatalf("endpoint config %s: %v", configName, err)
	}
	if v := cfg.ProductionVariants[0]; aws.ToString(v.ModelName) != modelName || v.InstanceType != "ml.c5.xlarge" {
		t.Errorf("variant %+v", v)
	}
	st, err := c.Endpoint(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.EndpointConfigName != first || st.Status != "InService" {
		t.Errorf("endpoint %+v", st)
	}
	ep, _ := api.DescribeEndpoint(ctx, &awssm.DescribeEndpointInput{EndpointName: aws.String(endpoint)})
	tags, err := api.ListTags(ctx, &awssm.ListTagsInput{ResourceArn: ep.EndpointArn})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range tags.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if got[sagemaker.TagDeployment] != u.DeploymentID || got[sagemaker.TagModel] != u.Model || got[sagemaker.TagVersion] != "2" {
		t.Errorf("endpoint tags %v", got)
	}
	if _, err := c.Endpoint(ctx, "no-such-"+suffix); err == nil {
		t.Error("describing a missing endpoint succeeded")
	} else if e := (*sagemaker.Error)(nil); !errors.As(err, &e) || e.Retryable {
		t.Errorf("missing endpoint: %#v, want a permanent error", err)
	}
}
