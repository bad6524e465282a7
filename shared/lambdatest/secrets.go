package lambdatest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/modelreg/modelreg/shared/registry"
)

// MotoSecret creates a secret holding value on moto's server
// (MODELREG_MOTO_ENDPOINT), deleted when the test ends, and returns its
// ARN. It points the test process's SDK at moto for Secrets Manager
// (AWS_ENDPOINT_URL_SECRETS_MANAGER, test credentials, us-east-1), so a
// function's setup reads it as it would on AWS. Without moto it skips, or
// fails when CI=true.
func MotoSecret(t testing.TB, value string) string {
	t.Helper()
	ep := os.Getenv("MODELREG_MOTO_ENDPOINT")
	if ep == "" {
		msg := "MODELREG_MOTO_ENDPOINT is not set: run scripts/test (it starts moto)"
		testenv.Missing(t, msg, "the Secrets Manager test")
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": ep, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"} {
		t.Setenv(k, v)
	}
	sm := secretsmanager.New(secretsmanager.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String("modelreg-test-" + strings.ToLower(registry.RandomToken(8))), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("create a secret on moto: %v", err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)}) //nolint:errcheck
	})
	return aws.ToString(out.ARN)
}
