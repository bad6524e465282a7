package httpfn

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/app"
)

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestConfig: the stack's settings reach the app configuration.
func TestConfig(t *testing.T) {
	env := map[string]string{"MODELREG_DYNAMODB_TABLE": "tbl", "MODELREG_S3_BUCKET": "bkt", "MODELREG_S3_PREFIX": "models/",
		"MODELREG_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:p", "MODELREG_WEBHOOK_KMS_KEY": "arn:aws:kms:us-east-1:123456789012:key/k",
		"MODELREG_SAGEMAKER_PREFIX": "modelreg-", "MODELREG_SAGEMAKER_ROLES": "arn:aws:iam::123456789012:role/a, arn:aws:iam::123456789012:role/b,",
		"MODELREG_VERIFY_FUNCTION": "verify"}
	key := bytes.Repeat([]byte("k"), 32)
	c := Config(mapEnv(env), key)
	if c.Store != app.StoreDynamoDB || c.Artifacts != app.ArtifactsS3 || c.Events != app.EventsNone || c.Workflow != app.WorkflowSFN ||
		c.AWS.DynamoDBTable != "tbl" || c.AWS.S3Bucket != "bkt" || c.AWS.S3Prefix != "models/" || c.AWS.StateMachineARN != env["MODELREG_STATE_MACHINE_ARN"] ||
		c.AWS.KMSKeyID != env["MODELREG_WEBHOOK_KMS_KEY"] || c.AWS.VerifyFunction != "verify" || c.Service.VerifyAsyncBytes != 0 ||
		c.Service.SageMakerPrefix != "modelreg-" || strings.Join(c.Service.AllowedRoleARNs, " ") != "arn:aws:iam::123456789012:role/a arn:aws:iam::123456789012:role/b" ||
		string(c.Secret) != string(key) || c.UploadSweepInterval >= 0 || c.AllowPrivateWebhooks {
		t.Fatalf("config %+v", c)
	}
	delete(env, "MODELREG_STATE_MACHINE_ARN")
	delete(env, "MODELREG_VERIFY_FUNCTION")
	if c := Config(mapEnv(env), key); c.Workflow != app.WorkflowNone || c.Service.VerifyAsyncBytes >= 0 {
		t.Errorf("without the state machine and verify function: workflow %s, verify-async %d", c.Workflow, c.Service.VerifyAsyncBytes)
	}
}

// TestNameSetting: an app configuration error gets its variable's name;
// other errors stay as they are.
func TestNameSetting(t *testing.T) {
	err := NameSetting(&app.ConfigError{Setting: "AWS.S3Bucket", Message: "required"})
	if !strings.HasPrefix(err.Error(), "MODELREG_S3_BUCKET: ") {
		t.Errorf("named: %v", err)
	}
	var ce *app.ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("the ConfigError is lost: %v", err)
	}
	other := errors.New("boom")
	if NameSetting(other) != other || NameSetting(&app.ConfigError{Setting: "Nope"}).Error() != "app: Nope: " {
		t.Errorf("unnamed settings changed")
	}
	if got := List(" a, ,b ,"); strings.Join(got, "|") != "a|b" {
		t.Errorf("List: %q", got)
	}
}
