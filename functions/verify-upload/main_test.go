package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// TestLinksNoEmbeddedBackend: the function links the AWS adapters and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/s3")
}

func TestSetupNeedsSettings(t *testing.T) {
	for _, env := range []map[string]string{{"MODELREG_S3_BUCKET": "b"}, {"MODELREG_DYNAMODB_TABLE": "t"}} {
		if _, _, err := setup(t.Context(), mapEnv(env), nil, quiet); err == nil || !strings.Contains(err.Error(), "MODELREG_S3_BUCKET") {
			t.Errorf("setup(%v): %v, want a missing-setting error", env, err)
		}
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// peers returns the environment of the function on DynamoDB Local and
// MinIO, with a new table and bucket, and the AWS configuration to reach
// them; it skips without them.
func peers(t *testing.T) (map[string]string, *aws.Config) {
	t.Helper()
	ddb, s3 := os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), os.Getenv("MODELREG_S3_ENDPOINT")
	if ddb == "" || s3 == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DynamoDB Local and MinIO are not running: use scripts/test")
		}
		t.Skip("DynamoDB Local and MinIO are not running: scripts/test starts them")
	}
	suffix := strings.ToLower(registry.RandomToken(6))
	cfg := &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(
		os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"), "")}
	return map[string]string{
		"MODELREG_DYNAMODB_TABLE": "verify-" + suffix, "MODELREG_DYNAMODB_ENDPOINT": ddb,
		"MODELREG_S3_BUCKET": "verify-" + suffix, "MODELREG_S3_ENDPOINT": s3,
	}, cfg
}

// recorder records the invocations it is asked for.
type recorder struct {
	mu       sync.Mutex
	requests []registry.VerifyRequest
	payloads []invoke.VerifyPayload
}

func (r *recorder) InvokeVerify(_ context.Context, q registry.VerifyRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, q)
	return nil
}

func (r *recorder) Send(_ context.Context, p invoke.VerifyPayload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.payloads = append(r.payloads, p)
	return nil
}

// verifying is what the api function leaves: a version of model "m"
// whose 11 MiB upload (three parts) completed VERIFYING. It returns the
// api side's recorded invocation.
func verifying(t *testing.T, env map[string]string, awsCfg *aws.Config) invoke.VerifyPayload {
	t.Helper()
	rec := &recorder{}
	cfg := app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Secret: bytes.Repeat([]byte("s"), 32), Logger: quiet,
		AWS: app.AWS{Config: awsCfg, DynamoDBTable: env["MODELREG_DYNAMODB_TABLE"], DynamoDBEndpoint: env["MODELREG_DYNAMODB_ENDPOINT"],
			S3Bucket: env["MODELREG_S3_BUCKET"], S3Endpoint: env["MODELREG_S3_ENDPOINT"], CreateResources: true}}
	cfg.Service.VerifyAsyncBytes, cfg.Service.Invoker = 5<<20, rec
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := registry.WithPrincipal(t.Context(), registry.Principal{Name: "pat", Role: registry.RolePublisher})
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, "m", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 11<<20)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(body)
	spec := registry.FileSpec{Path: "model.bin", Size: int64(len(body)), SHA256: hexSum(body), PartSize: registry.MinPartSize}
	for off := int64(0); off < spec.Size; off += registry.MinPartSize {
		spec.PartSHA256 = append(spec.PartSHA256, hexSum(body[off:min(off+registry.MinPartSize, spec.Size)]))
	}
	ticket, err := a.Service.CreateUpload(ctx, "m", v.Number, []registry.FileSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	artifacttest.SendParts(t, ticket.Files[0], body)
	got, err := a.Service.CompleteUpload(ctx, "m", v.Number, ticket.UploadID)
	if err != nil || got.Status != registry.StatusVerifying || len(rec.requests) != 1 {
		t.Fatalf("complete: %s %v, invoked %v; want VERIFYING and one invocation", got.Status, err, rec.requests)
	}
	r := rec.requests[0]
	return invoke.VerifyPayload{Model: r.Model, Version: r.Version, UploadID: r.UploadID}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSampleEvent decodes events/verify-upload.json into the function's
// exact input type and runs the handler on it: the upload it names does
// not exist, which is an answer, not a failed invocation.
func TestSampleEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/verify-upload.json")
	if err != nil {
		t.Fatal(err)
	}
	var p invoke.VerifyPayload
	if err := lambdatest.DecodeStrict(raw, &p); err != nil {
		t.Fatalf("decode the sample into invoke.VerifyPayload: %v", err)
	}
	if err := p.Check(); err != nil {
		t.Fatal(err)
	}
	env, awsCfg := peers(t)
	verifying(t, env, awsCfg) // creates the table and bucket
	h, a, err := setup(t.Context(), mapEnv(env), awsCfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := h.Handle(t.Context(), p)
	if err != nil || res.Error == "" {
		t.Fatalf("sample: %+v %v, want an answer saying it is not found", res, err)
	}
}

// TestVerifies: the function, given what the api function sent, makes
// the version READY; a second delivery of the same input changes nothing.
func TestVerifies(t *testing.T) {
	env, awsCfg := peers(t)
	p := verifying(t, env, awsCfg)
	h, a, err := setup(t.Context(), mapEnv(env), awsCfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := h.Handle(t.Context(), p)
	if err != nil || res.Status != registry.StatusReady {
		t.Fatalf("%+v %v, want READY", res, err)
	}
	v, err := a.Service.GetVersion(t.Context(), p.Model, p.Version)
	if err != nil || v.Status != registry.StatusReady || len(v.Artifacts) != 1 {
		t.Fatalf("version %+v %v", v, err)
	}
	if res, err := h.Handle(t.Context(), p); err != nil || res.Status != registry.StatusReady {
		t.Errorf("again: %+v %v", res, err)
	}
	if v2, _ := a.Service.GetVersion(t.Context(), p.Model, p.Version); v2.Revision != v.Revision {
		t.Errorf("a second delivery changed the version (revision %d → %d)", v.Revision, v2.Revision)
	}
}

// TestHandsOverWhenOutOfTime: an invocation too close to its deadline
// stops, leaves the version VERIFYING and invokes the function again with
// the next continuation number, which finishes it.
func TestHandsOverWhenOutOfTime(t *testing.T) {
	env, awsCfg := peers(t)
	p := verifying(t, env, awsCfg)
	h, a, err := setup(t.Context(), mapEnv(env), awsCfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := &recorder{}
	h.Continue = rec
	ctx, cancel := context.WithTimeout(t.Context(), invoke.HandoverMargin+time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	res, err := h.Handle(ctx, p)
	if err != nil || !res.Continued || len(rec.payloads) != 1 || rec.payloads[0].Continuation != 1 {
		t.Fatalf("%+v %v, sent %+v; want a hand-over with continuation 1", res, err, rec.payloads)
	}
	if v, _ := a.Service.GetVersion(t.Context(), p.Model, p.Version); v.Status != registry.StatusVerifying {
		t.Fatalf("after the hand-over: %s, want VERIFYING", v.Status)
	}
	if res, err := h.Handle(t.Context(), rec.payloads[0]); err != nil || res.Status != registry.StatusReady {
		t.Fatalf("continuation: %+v %v, want READY", res, err)
	}
	// At the limit it stops handing over.
	p.Continuation = invoke.MaxContinuations
	ctx2, cancel2 := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel2()
	time.Sleep(2 * time.Millisecond)
	_, _ = h.Handle(ctx2, p)
	if len(rec.payloads) != 1 {
		t.Errorf("handed over past MaxContinuations: %+v", rec.payloads)
	}
}
