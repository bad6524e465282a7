package secretbox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
)

// endpointEnv names moto's URL; scripts/test starts moto and sets it.
const endpointEnv = "MODELREG_MOTO_ENDPOINT"

// testBox is the behaviour both boxes share: a round trip under one seal
// context; another context, an altered or foreign sealed form is Invalid.
func testBox(t *testing.T, box registry.SecretBox, prefix string) {
	t.Helper()
	ctx := registry.WithSealContext(context.Background(), "fraud", "dt-1")
	secret := []byte("whsec_0123456789abcdef\x00\xff")
	sealed, err := box.Seal(ctx, secret)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if !strings.HasPrefix(sealed, prefix) || strings.Contains(sealed, "whsec") {
		t.Fatalf("sealed form %q: want prefix %q and no plain text", sealed, prefix)
	}
	again, err := box.Seal(ctx, secret)
	if err != nil || again == sealed {
		t.Fatalf("sealing twice gave the same form (or %v): the nonce must differ", err)
	}
	got, err := box.Open(ctx, sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v; want %q", got, err, secret)
	}
	other := registry.WithSealContext(context.Background(), "fraud", "dt-2")
	if _, err := box.Open(other, sealed); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("Open under another target's context: %v, want Invalid", err)
	}
	if _, err := box.Open(context.Background(), sealed); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("Open without a context: %v, want Invalid", err)
	}
	// Flip one character of the payload.
	b := []byte(sealed)
	i := len(prefix) + 10
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	tail := []byte(sealed)
	if tail[len(tail)-2] == 'A' {
		tail[len(tail)-2] = 'B'
	} else {
		tail[len(tail)-2] = 'A'
	}
	for _, bad := range []string{string(b), string(tail), "", "plain", prefix, prefix + "!!!", "local:v1:" + strings.Repeat("A", 80)} {
		if _, err := box.Open(ctx, bad); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("Open(%q): %v, want Invalid", bad, err)
		}
	}
}

func TestLocalBox(t *testing.T) {
	dir := t.TempDir()
	box, err := secretbox.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	testBox(t, box, "local:v1:")

	fi, err := os.Stat(filepath.Join(dir, secretbox.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	// A reopened box (a restarted server) opens what the first sealed.
	ctx := registry.WithSealContext(context.Background(), "m", "dt-x")
	sealed, err := box.Seal(ctx, []byte("s3cret-s3cret-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := secretbox.OpenLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reopened.Open(ctx, sealed); err != nil || string(got) != "s3cret-s3cret-s3cret" {
		t.Fatalf("reopened box: %q, %v", got, err)
	}
	// Another data directory has another key.
	stranger, err := secretbox.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Open(ctx, sealed); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("another key opened the secret: %v", err)
	}
}

func TestLocalKeyFileChecks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, secretbox.KeyFile)
	if err := os.WriteFile(path, bytes.Repeat([]byte{1}, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secretbox.OpenLocal(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secretbox.OpenLocal(dir); err == nil || !strings.Contains(err.Error(), "want 32") {
		t.Errorf("short key accepted: %v", err)
	}
}

// TestLocalKeyCreatedOnce: servers starting at once on a new data
// directory end up with one key, so each opens what the others sealed.
func TestLocalKeyCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	boxes := make([]*secretbox.Local, 8)
	var wg sync.WaitGroup
	for i := range boxes {
		wg.Go(func() {
			b, err := secretbox.OpenLocal(dir)
			if err != nil {
				t.Error(err)
			}
			boxes[i] = b
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	sealed, err := boxes[0].Seal(ctx, []byte("shared-secret-123"))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range boxes {
		if _, err := b.Open(ctx, sealed); err != nil {
			t.Errorf("box %d cannot open box 0's secret: %v", i, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".secretbox-*"))
	if len(left) > 0 {
		t.Errorf("temporary key files left behind: %v", left)
	}
}

func TestKMSBoxOnMoto(t *testing.T) {
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		msg := endpointEnv + " is not set: run scripts/test, or start moto with `scripts/test.d/moto.sh start DIR` and export the line it prints"
		testenv.Missing(t, msg, "the KMS tests")
	}
	client := kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
	ctx := context.Background()
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("modelreg secretbox test")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	t.Cleanup(func() {
		client.ScheduleKeyDeletion(context.Background(), &kms.ScheduleKeyDeletionInput{KeyId: key.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(7)})
	})
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("test", "test", "")}, secretbox.Service, ep)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.NewKMS(api, aws.ToString(key.KeyMetadata.Arn))
	if err != nil {
		t.Fatal(err)
	}
	testBox(t, box, "kms:v1:")

	// Sealed under another key: that key's box cannot be fooled into
	// opening it.
	other, err := client.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	otherBox, _ := secretbox.NewKMS(api, aws.ToString(other.KeyMetadata.KeyId))
	sctx := registry.WithSealContext(ctx, "m", "dt-1")
	sealed, err := otherBox.Seal(sctx, []byte("under-the-other-key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := box.Open(sctx, sealed); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("a secret sealed under another key: %v, want Invalid", err)
	}
	if _, err := secretbox.NewKMS(api, ""); err == nil {
		t.Error("a box without a key id was made")
	}
	// An unreachable KMS is Unavailable, so callers retry.
	downAPI, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("test", "test", ""), MaxAttempts: 1},
		secretbox.Service, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	down, _ := secretbox.NewKMS(downAPI, "k")
	if _, err := down.Seal(sctx, []byte("x")); !registry.IsCode(err, registry.Unavailable) {
		t.Errorf("Seal with KMS down: %v, want Unavailable", err)
	}
}
