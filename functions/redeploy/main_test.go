package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/lambdatest"
)

// TestSampleEventsDecode: every events/redeploy-*.json decodes, with no
// unknown field, into the function's input type.
func TestSampleEventsDecode(t *testing.T) {
	files, _ := filepath.Glob("../../events/redeploy-*.json")
	if len(files) < 3 {
		t.Fatalf("found %d redeploy samples, want the stage change, the request and the SageMaker state change", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev events.EventBridgeEvent
		if err := lambdatest.DecodeStrict(raw, &ev); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if ev.ID == "" || ev.Source == "" || ev.DetailType == "" || ev.Time.IsZero() || len(ev.Detail) == 0 {
			t.Errorf("%s: decoded %+v", f, ev)
		}
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"MODELREG_DYNAMODB_TABLE": "tbl", "MODELREG_S3_BUCKET": "bkt", "MODELREG_S3_PREFIX": "models/",
		"MODELREG_WEBHOOK_KMS_KEY": "alias/k", "MODELREG_SAGEMAKER_PREFIX": "modelreg-"}
	key := []byte(strings.Repeat("s", 32))
	c := config(func(k string) string { return env[k] }, key, nil)
	if c.Store != app.StoreDynamoDB || c.Artifacts != app.ArtifactsS3 || c.AWS.DynamoDBTable != "tbl" || c.AWS.S3Bucket != "bkt" ||
		c.AWS.S3Prefix != "models/" || string(c.Secret) != string(key) || c.AllowPrivateWebhooks ||
		c.AWS.KMSKeyID != "alias/k" || c.Service.SageMakerPrefix != "modelreg-" || c.SageMaker == nil {
		t.Fatalf("config %+v", c)
	}
	if _, err := setup(t.Context(), func(string) string { return "" }, nil); err == nil {
		t.Fatal("setup without settings succeeded")
	}
}

// TestLinksNoEmbeddedBackend: the function links the AWS adapters and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb", "github.com/modelreg/modelreg/shared/sagemaker/endpoints", "github.com/modelreg/modelreg/shared/webhook")
}

// TestSecretFromSecretsManager: the deployment's secret named by
// MODELREG_SECRET_ARN is read from moto's Secrets Manager (the keys
// derived from it equal those of the same value given directly); a secret
// that does not exist fails the setup naming the variable.
func TestSecretFromSecretsManager(t *testing.T) {
	arn := lambdatest.MotoSecret(t, strings.Repeat("k", 40))
	env := map[string]string{"MODELREG_DYNAMODB_TABLE": "tbl", "MODELREG_S3_BUCKET": "bkt", "MODELREG_SECRET_ARN": arn}
	getenv := func(k string) string { return env[k] }
	a, err := setup(t.Context(), getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	delete(env, "MODELREG_SECRET_ARN")
	env["MODELREG_SECRET"] = strings.Repeat("k", 40)
	b, err := setup(t.Context(), getenv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if string(a.ConsoleKey()) != string(b.ConsoleKey()) {
		t.Error("the secret from Secrets Manager is not the value stored there")
	}
	env["MODELREG_SECRET_ARN"] = arn + "-gone"
	if _, err := setup(t.Context(), getenv, nil); err == nil || !strings.Contains(err.Error(), "MODELREG_SECRET_ARN") {
		t.Errorf("setup with a missing secret: %v", err)
	}
}
