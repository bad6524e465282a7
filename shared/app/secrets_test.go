package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
)

// addWebhook adds a webhook target to a new model and opens its secret
// again, through the app's service.
func addWebhook(t *testing.T, a *app.App) registry.DeployTarget {
	t.Helper()
	ctx := admin(context.Background())
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	tgt, err := a.Service.AddDeployTarget(ctx, "m", registry.DeployTargetSpec{Kind: registry.TargetWebhook,
		URL: "https://127.0.0.1:9/x", Secret: []byte("whsec_0123456789abcdef")})
	if err != nil {
		t.Fatalf("add a webhook target: %v", err)
	}
	got, err := a.Service.OpenTargetSecret(context.Background(), tgt)
	if err != nil || string(got) != "whsec_0123456789abcdef" {
		t.Fatalf("open the secret: %q, %v", got, err)
	}
	return tgt
}

// TestLocalSecretBox: the embedded app seals webhook secrets with the key
// file in its data directory (0600), and a restarted app opens them.
func TestLocalSecretBox(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(dir)
	cfg.Embedded = embedded.Backends{}
	cfg.AllowPrivateWebhooks = true // the target is on loopback: no DNS here
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tgt := addWebhook(t, a)
	a.Close()
	fi, err := os.Stat(filepath.Join(dir, secretbox.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	b, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Service.OpenTargetSecret(context.Background(), tgt); err != nil || string(got) != "whsec_0123456789abcdef" {
		t.Fatalf("after a restart: %q, %v", got, err)
	}
}

// TestKMSSecretBox: with AWS.KMSKeyID the app seals with KMS (moto's).
func TestKMSSecretBox(t *testing.T) {
	ep := ebtest.Endpoint(t) // moto
	awsCfg := &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	client := kms.NewFromConfig(*awsCfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(ep) })
	key, err := client.CreateKey(context.Background(), &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := localConfig(t.TempDir())
	cfg.Embedded = embedded.Backends{}
	cfg.AllowPrivateWebhooks = true // the target is on loopback: no DNS here
	cfg.AWS.Config, cfg.AWS.KMSKeyID, cfg.AWS.KMSEndpoint = awsCfg, aws.ToString(key.KeyMetadata.KeyId), ep
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tgt := addWebhook(t, a)
	if len(tgt.SealedSecret) < 8 || tgt.SealedSecret[:7] != "kms:v1:" {
		t.Errorf("sealed with %q, want the KMS box", tgt.SealedSecret)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, secretbox.KeyFile)); err == nil {
		t.Error("a local key file was made although KMS seals")
	}
}
