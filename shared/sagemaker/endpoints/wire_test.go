package endpoints

import (
	"github.com/modelreg/modelreg/shared/sagemaker"

	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
)

// fakeSageMaker speaks SageMaker's JSON 1.1 protocol: it checks each
// request's X-Amz-Target and Content-Type, records the bodies by
// operation, and answers from answers (operation → status and body),
// defaulting to the bodies in the SageMaker API Reference.
type fakeSageMaker struct {
	t       *testing.T
	mu      sync.Mutex
	calls   []string
	bodies  map[string]map[string]any
	answers map[string]answer
}

type answer struct {
	status int
	body   string
}

const endpointARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/fraud-endpoint"

func (f *fakeSageMaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "SageMaker.")
	if !ok || r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("request %s %s with X-Amz-Target %q", r.Method, r.URL.Path, target)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("%s: Content-Type %q", op, ct)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("%s: not SigV4-signed", op)
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body %s: %v", op, raw, err)
	}
	f.mu.Lock()
	f.calls = append(f.calls, op)
	f.bodies[op] = body
	a, set := f.answers[op]
	f.mu.Unlock()
	if !set {
		a = map[string]answer{
			"CreateModel":          {200, `{"ModelArn":"arn:aws:sagemaker:us-east-1:123456789012:model/m"}`},
			"CreateEndpointConfig": {200, `{"EndpointConfigArn":"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"}`},
			"DescribeEndpoint": {200, `{"EndpointName":"fraud-endpoint","EndpointArn":"` + endpointARN + `",` +
				`"EndpointConfigName":"fraud-endpoint-config-1","EndpointStatus":"InService","CreationTime":1700000000.0,"LastModifiedTime":1700000000.0}`},
			"AddTags":        {200, `{"Tags":[]}`},
			"UpdateEndpoint": {200, `{"EndpointArn":"` + endpointARN + `"}`},
		}[op]
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("x-amzn-RequestId", "8a1b3c3e-0000-4000-8000-000000000000")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func newFake(t *testing.T, answers map[string]answer) (*fakeSageMaker, *Client) {
	f := &fakeSageMaker{t: t, bodies: map[string]map[string]any{}, answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	api := awssm.New(awssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1})
	return f, New(api)
}

var update = sagemaker.Update{Model: "fraud_model", Version: 3, DeploymentID: "dp-0123456789abcdef0123",
	Endpoint: "fraud-endpoint", ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
	RoleARN: "arn:aws:iam::123456789012:role/SageMakerExec", ModelDataURL: "s3://bucket/models/fraud_model/3/model.tar.gz"}

func TestStartUpdateWire(t *testing.T) {
	f, c := newFake(t, nil)
	st, err := c.StartUpdate(context.Background(), update)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"CreateModel", "CreateEndpointConfig", "DescribeEndpoint", "AddTags", "UpdateEndpoint"}; !reflect.DeepEqual(f.calls, want) {
		t.Fatalf("calls %v, want %v", f.calls, want)
	}
	if st.EndpointARN != endpointARN {
		t.Errorf("EndpointARN %q", st.EndpointARN)
	}
	want := map[string]any{"EndpointName": "fraud-endpoint", "EndpointConfigName": st.EndpointConfigName}
	if got := f.bodies["UpdateEndpoint"]; !reflect.DeepEqual(got, want) {
		t.Errorf("UpdateEndpoint body %v, want %v", got, want)
	}
	cm := f.bodies["CreateModel"]
	if cm["ModelName"] != st.ModelName || cm["ExecutionRoleArn"] != update.RoleARN ||
		!reflect.DeepEqual(cm["PrimaryContainer"], map[string]any{"Image": update.ImageURI, "ModelDataUrl": update.ModelDataURL}) {
		t.Errorf("CreateModel body %v", cm)
	}
	variants := f.bodies["CreateEndpointConfig"]["ProductionVariants"].([]any)
	v := variants[0].(map[string]any)
	if v["ModelName"] != st.ModelName || v["InstanceType"] != sagemaker.DefaultInstanceType || v["InitialInstanceCount"] != 1.0 || v["VariantName"] != "AllTraffic" {
		t.Errorf("variant %v", v)
	}
	tags := f.bodies["AddTags"]
	if tags["ResourceArn"] != endpointARN || !strings.Contains(mustJSON(tags["Tags"]), update.DeploymentID) {
		t.Errorf("AddTags body %v", tags)
	}
}

// The error body is the JSON 1.1 error shape SageMaker answers with; the
// message is the one UpdateEndpoint gives for an endpoint mid-update.
func TestStartUpdateValidationException(t *testing.T) {
	_, c := newFake(t, map[string]answer{"UpdateEndpoint": {400, `{"__type":"ValidationException",` +
		`"Message":"Cannot update in-progress endpoint \"` + endpointARN + `\"."}`}})
	_, err := c.StartUpdate(context.Background(), update)
	var e *sagemaker.Error
	if !errors.As(err, &e) || e.Code != "ValidationException" || e.Retryable || !strings.Contains(e.Message, "in-progress") {
		t.Fatalf("err = %#v, want a permanent ValidationException", err)
	}
	if !strings.Contains(err.Error(), "update endpoint fraud-endpoint") {
		t.Errorf("error does not name the call: %v", err)
	}
}

func TestStartUpdateRetryableFailures(t *testing.T) {
	for name, a := range map[string]answer{
		"throttled":        {400, `{"__type":"ThrottlingException","Message":"Rate exceeded"}`},
		"internal failure": {500, `{"__type":"InternalFailure","Message":"We encountered an internal error. Please try again."}`},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := newFake(t, map[string]answer{"UpdateEndpoint": a})
			_, err := c.StartUpdate(context.Background(), update)
			var e *sagemaker.Error
			if !errors.As(err, &e) || !e.Retryable {
				t.Fatalf("err = %#v, want retryable", err)
			}
		})
	}
}

func TestStartUpdateReusesExisting(t *testing.T) {
	f, c := newFake(t, map[string]answer{
		"CreateModel":          {400, `{"__type":"ValidationException","Message":"Cannot create already existing model \"arn:aws:sagemaker:us-east-1:123456789012:model/x\"."}`},
		"CreateEndpointConfig": {400, `{"__type":"ValidationException","Message":"Cannot create already existing endpoint configuration \"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x\"."}`},
	})
	if _, err := c.StartUpdate(context.Background(), update); err != nil {
		t.Fatal(err)
	}
	if f.calls[len(f.calls)-1] != "UpdateEndpoint" {
		t.Fatalf("calls %v", f.calls)
	}
}

func TestStartUpdateAlreadyOnConfig(t *testing.T) {
	name := update.ConfigName()
	f, c := newFake(t, map[string]answer{"DescribeEndpoint": {200, `{"EndpointName":"fraud-endpoint","EndpointArn":"` + endpointARN +
		`","EndpointConfigName":"` + name + `","EndpointStatus":"Updating","CreationTime":1700000000.0,"LastModifiedTime":1700000000.0}`}})
	if _, err := c.StartUpdate(context.Background(), update); err != nil {
		t.Fatal(err)
	}
	for _, op := range f.calls {
		if op == "UpdateEndpoint" {
			t.Fatalf("a redelivered deployment updated the endpoint again: %v", f.calls)
		}
	}
}

func TestEndpointFailed(t *testing.T) {
	_, c := newFake(t, map[string]answer{"DescribeEndpoint": {200, `{"EndpointName":"fraud-endpoint","EndpointArn":"` + endpointARN +
		`","EndpointConfigName":"c","EndpointStatus":"Failed","FailureReason":"The primary container for production variant AllTraffic did not pass the ping health check.",` +
		`"CreationTime":1700000000.0,"LastModifiedTime":1700000000.0}`}})
	st, err := c.Endpoint(context.Background(), "fraud-endpoint")
	if err != nil {
		t.Fatal(err)
	}
	if done, ok := st.Done(); !done || ok || !strings.Contains(st.FailureReason, "ping health check") || st.EndpointConfigName != "c" {
		t.Fatalf("status %+v", st)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
