package secret_test

import (
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secret"
)

// moto returns an AWS configuration on moto's server; it skips without
// one, or fails when CI=true.
func moto(t *testing.T) aws.Config {
	t.Helper()
	ep := ebtest.Endpoint(t) // moto
	return aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
}

// TestFromEnvOnMoto: an ARN is read from moto's Secrets Manager (trimmed,
// one counted call), wins over a value, and a missing secret is an error
// naming the variable; a value alone is used as it is with no call.
func TestFromEnvOnMoto(t *testing.T) {
	cfg := moto(t)
	sm := secretsmanager.NewFromConfig(cfg)
	name := "modelreg-secret-" + strings.ToLower(registry.RandomToken(6))
	out, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("  s3cret-0123456789abcdef0123456789abcdef\n")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: out.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	env := map[string]string{"X_SECRET_ARN": *out.ARN, "X_SECRET": "by-value"}
	getenv := func(k string) string { return env[k] }

	api, err := awsapi.New(awsapi.FromSDK(cfg), secret.Service, *cfg.BaseEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	r := secret.New(api)
	v, err := r.FromEnv(t.Context(), getenv, "X_SECRET_ARN", "X_SECRET")
	if err != nil || v != "s3cret-0123456789abcdef0123456789abcdef" {
		t.Fatalf("FromEnv with the ARN: %q, %v", v, err)
	}
	if n, d := r.Calls(); n != 1 || d <= 0 {
		t.Errorf("Calls = %d, %v; want one timed call", n, d)
	}

	delete(env, "X_SECRET_ARN")
	if v, err := r.FromEnv(t.Context(), getenv, "X_SECRET_ARN", "X_SECRET"); err != nil || v != "by-value" {
		t.Errorf("FromEnv by value: %q, %v", v, err)
	}
	if v, err := r.FromEnv(t.Context(), getenv, "NONE_ARN", "NONE"); err != nil || v != "" {
		t.Errorf("FromEnv with neither: %q, %v", v, err)
	}
	if n, _ := r.Calls(); n != 1 {
		t.Errorf("values by value made calls: %d", n)
	}

	env["X_SECRET_ARN"] = strings.Replace(*out.ARN, name, name+"-gone", 1)
	_, err = r.FromEnv(t.Context(), getenv, "X_SECRET_ARN", "X_SECRET")
	if err == nil || !strings.Contains(err.Error(), "X_SECRET_ARN") || !strings.Contains(err.Error(), "-gone") {
		t.Errorf("FromEnv with a missing secret: %v, want an error naming the variable and secret", err)
	}
	if n, _ := r.Calls(); n != 2 {
		t.Errorf("Calls after the failed read = %d, want 2", n)
	}

	// A binary secret holds no string.
	bin := name + "-bin"
	b, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{Name: aws.String(bin), SecretBinary: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sm.DeleteSecret(t.Context(), &secretsmanager.DeleteSecretInput{SecretId: b.ARN, ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	if _, err := r.Get(t.Context(), *b.ARN); err == nil || !strings.Contains(err.Error(), "no string") {
		t.Errorf("Get of a binary secret: %v", err)
	}
}

// TestDeployment: the value by environment; with nothing set, a random
// secret for the functions that may have one (two differ, each 32+
// bytes) and an error naming both variables for the others.
func TestDeployment(t *testing.T) {
	r := secret.New(nil) // no ARN: never called
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if _, err := r.Deployment(t.Context(), getenv, false); err == nil ||
		!strings.Contains(err.Error(), secret.EnvDeploymentARN) || !strings.Contains(err.Error(), secret.EnvDeploymentValue) {
		t.Errorf("Deployment with nothing set: %v", err)
	}
	a, err := r.Deployment(t.Context(), getenv, true)
	b, _ := r.Deployment(t.Context(), getenv, true)
	if err != nil || len(a) < 32 || string(a) == string(b) {
		t.Errorf("ephemeral secrets %q, %q, %v", a, b, err)
	}
	env[secret.EnvDeploymentValue] = strings.Repeat("v", 40)
	if v, err := r.Deployment(t.Context(), getenv, false); err != nil || string(v) != env[secret.EnvDeploymentValue] {
		t.Errorf("Deployment by value: %q, %v", v, err)
	}
}
