package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

// TestLinksNoEmbeddedBackend: the function links the AWS adapters and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb")
}

// peers is a fresh table and bucket on DynamoDB Local and MinIO (the
// scripts/test.d plug-ins' environment); the test skips without them, or
// fails when CI=true.
func peers(t *testing.T) app.AWS {
	t.Helper()
	var env []string
	for _, n := range []string{"MODELREG_DYNAMODB_ENDPOINT", "MODELREG_S3_ENDPOINT", "MODELREG_S3_ACCESS_KEY", "MODELREG_S3_SECRET_KEY"} {
		v := os.Getenv(n)
		if v == "" {
			if os.Getenv("CI") == "true" {
				t.Fatal(n + " is not set (CI=true: this test must run)")
			}
			t.Skip(n + " is not set: run scripts/test, or start scripts/test.d/{dynamodb-local,minio}.sh")
		}
		env = append(env, v)
	}
	name := fmt.Sprintf("modelreg-sweeper-%d", time.Now().UnixNano())
	return app.AWS{
		Config:        &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(env[2], env[3], "")},
		DynamoDBTable: name, DynamoDBEndpoint: env[0], S3Bucket: name, S3Endpoint: env[1], CreateResources: true,
	}
}

func TestSettings(t *testing.T) {
	for _, c := range []app.AWS{{S3Bucket: "b"}, {DynamoDBTable: "t"}} {
		if _, _, err := setup(t.Context(), c, time.Hour, nil); err == nil || !strings.Contains(err.Error(), "MODELREG_S3_BUCKET") {
			t.Errorf("setup(%+v): %v, want a missing-setting error", c, err)
		}
	}
	if d, err := parseGrace(""); err != nil || d != registry.DefaultUploadGrace {
		t.Errorf(`parseGrace("") = %v, %v`, d, err)
	}
	for _, s := range []string{"soon", "0s", "-1h"} {
		if _, err := parseGrace(s); err == nil {
			t.Errorf("parseGrace(%q) accepted", s)
		}
	}
}

// TestSampleEvent: events/sweeper.json decodes into the function's input
// type, and the handler run on it against DynamoDB Local and MinIO
// expires a session abandoned 29 hours ago (its multipart upload aborted,
// its version FAILED) and leaves a fresh one alone.
func TestSampleEvent(t *testing.T) {
	raw, err := os.ReadFile("../../events/sweeper.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := lambdatest.DecodeStrict(raw, &ev); err != nil || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" {
		t.Fatalf("events/sweeper.json: %+v, %v; want a scheduled event", ev, err)
	}
	aw := peers(t)
	// The sessions are made by an app whose clock is 30 hours behind, so
	// one of them expired 29 hours ago by the function's (real) clock.
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "ci", Role: registry.RoleAdmin})
	past := time.Now().Add(-30 * time.Hour)
	maker, err := app.New(ctx, app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Secret: bytes.Repeat([]byte("s"), 32),
		AWS: aw, Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	defer maker.Close()
	if _, err := maker.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(make([]byte, 11<<20))
	spec := []registry.FileSpec{{Path: "model.bin", Size: 11 << 20, SHA256: hex.EncodeToString(sum[:]), PartSize: registry.MinPartSize}}
	open := func() (registry.Version, registry.UploadTicket) {
		v, err := maker.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{})
		if err != nil {
			t.Fatal(err)
		}
		tk, err := maker.Service.CreateUpload(ctx, "fraud", v.Number, spec)
		if err != nil {
			t.Fatal(err)
		}
		return v, tk
	}
	old, oldTicket := open()
	past = time.Now() // the second session is fresh
	fresh, freshTicket := open()

	h, a, err := setup(ctx, aw, registry.DefaultUploadGrace, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res, err := h.Handle(ctx, ev)
	if err != nil || res.Swept != 1 {
		t.Fatalf("Handle = %+v, %v; want one session swept", res, err)
	}
	for _, c := range []struct {
		v      registry.Version
		upload string
		want   registry.Status
		st     registry.UploadStatus
	}{{old, oldTicket.UploadID, registry.StatusFailed, registry.UploadExpired}, {fresh, freshTicket.UploadID, registry.StatusPendingUpload, registry.UploadOpen}} {
		v, err := a.Store.GetVersion(ctx, "fraud", c.v.Number)
		s, serr := a.Store.GetUpload(ctx, c.upload)
		if err != nil || serr != nil || v.Status != c.want || s.Status != c.st {
			t.Errorf("version %d: %s/%s (%v %v), want %s/%s", c.v.Number, v.Status, s.Status, err, serr, c.want, c.st)
		}
		if c.st == registry.UploadExpired {
			if parts, err := a.Artifacts.UploadedParts(ctx, s, s.Files[0]); err != nil || len(parts) != 0 {
				t.Errorf("the expired session's multipart upload: %v, %v", parts, err)
			}
		}
	}
	res, err = h.Handle(ctx, ev)
	if err != nil || res.Swept != 0 {
		t.Errorf("second run = %+v, %v; want nothing to sweep", res, err)
	}
	out, _ := json.Marshal(res)
	if string(out) != `{"swept":0,"reverified":0}` {
		t.Errorf("result JSON %s", out)
	}
}

// lostInvoker is a registry.Invoker whose invokes are lost: the version
// stays VERIFYING with nobody verifying it.
type lostInvoker struct{}

func (lostInvoker) InvokeVerify(context.Context, registry.VerifyRequest) error {
	return registry.Errorf(registry.Unavailable, "the invoke was lost")
}

// lambdaServer answers Lambda's Invoke API (POST
// /2015-03-31/functions/NAME/invocations; 202 to an asynchronous, Event,
// invocation, as the API reference gives it) and records each payload.
type lambdaServer struct {
	mu       sync.Mutex
	requests []string // method, path and invocation type
	payloads []invoke.VerifyPayload
}

func (s *lambdaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p invoke.VerifyPayload
	err := json.NewDecoder(r.Body).Decode(&p)
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Amz-Invocation-Type"))
	s.payloads = append(s.payloads, p)
	s.mu.Unlock()
	if err != nil {
		w.Header().Set("X-Amzn-Errortype", "InvalidRequestContentException")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// verifying makes model fraud with a version left VERIFYING: its 11 MiB
// file's parts are all in MinIO and completed, and the invoke that should
// verify it was lost. The caller closes the App.
func verifying(t *testing.T, ctx context.Context, aw app.AWS) (*app.App, registry.Version, registry.UploadTicket) {
	t.Helper()
	maker, err := app.New(ctx, app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Secret: bytes.Repeat([]byte("s"), 32),
		AWS: aw, Service: registry.Config{VerifyAsyncBytes: 1, Invoker: lostInvoker{}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := maker.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("weights!"), (11<<20)/8)
	sum := sha256.Sum256(body)
	spec := []registry.FileSpec{{Path: "model.bin", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), PartSize: registry.MinPartSize}}
	v, err := maker.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	tk, err := maker.Service.CreateUpload(ctx, "fraud", v.Number, spec)
	if err != nil {
		t.Fatal(err)
	}
	artifacttest.SendParts(t, tk.Files[0], body)
	if v, err = maker.Service.CompleteUpload(ctx, "fraud", v.Number, tk.UploadID); err != nil || v.Status != registry.StatusVerifying {
		t.Fatalf("CompleteUpload = %s, %v; want VERIFYING", v.Status, err)
	}
	return maker, v, tk
}

// TestRecoversVerifications: a version left VERIFYING (its invoke was
// lost) is handed to verify-upload again by the scheduled run, on every
// run while it stays VERIFYING, and no longer once the verification —
// here run on the payload the function sent, as verify-upload runs it —
// made it READY. A READY or PENDING_UPLOAD version is never asked for.
func TestRecoversVerifications(t *testing.T) {
	aw := peers(t)
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "ci", Role: registry.RoleAdmin})
	maker, v, tk := verifying(t, ctx, aw)
	defer maker.Close()
	// A version still waiting for its upload is not the recovery's.
	pending, err := maker.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}

	srv := &lambdaServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	aw.VerifyFunction, aw.VerifyEndpoint = "modelreg-verify-upload", ts.URL
	h, a, err := setup(ctx, aw, registry.DefaultUploadGrace, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	want := invoke.VerifyPayload{Model: "fraud", Version: v.Number, UploadID: tk.UploadID}
	for run := 1; run <= 2; run++ {
		res, err := h.Handle(ctx, events.EventBridgeEvent{ID: fmt.Sprint(run), Source: "aws.events", DetailType: "Scheduled Event"})
		if err != nil || res != (Result{Swept: 0, Reverified: 1}) {
			t.Fatalf("run %d: Handle = %+v, %v; want one verification asked for", run, res, err)
		}
		if len(srv.payloads) != run || srv.payloads[run-1] != want ||
			srv.requests[run-1] != "POST /2015-03-31/functions/modelreg-verify-upload/invocations Event" {
			t.Fatalf("run %d: invokes %v %+v; want an asynchronous invoke of verify-upload with %+v", run, srv.requests, srv.payloads, want)
		}
	}
	// verify-upload runs on what it was sent; then nothing is left to ask.
	p := srv.payloads[0]
	if got, err := a.Service.VerifyUpload(ctx, p.Model, p.Version, p.UploadID); err != nil || got.Status != registry.StatusReady {
		t.Fatalf("VerifyUpload = %s, %v; want READY", got.Status, err)
	}
	res, err := h.Handle(ctx, events.EventBridgeEvent{ID: "3", Source: "aws.events", DetailType: "Scheduled Event"})
	if err != nil || res != (Result{}) || len(srv.payloads) != 2 {
		t.Errorf("after READY: Handle = %+v, %v, %d invokes; want nothing asked", res, err, len(srv.payloads))
	}
	if got, err := a.Store.GetVersion(ctx, "fraud", pending.Number); err != nil || got.Status != registry.StatusPendingUpload {
		t.Errorf("the pending version: %s, %v", got.Status, err)
	}
}

// TestNoRecoveryWithoutFunction: without MODELREG_VERIFY_FUNCTION the
// service has no invoker (no in-process queue that nothing would run), so
// the run asks for nothing.
func TestNoRecoveryWithoutFunction(t *testing.T) {
	aw := peers(t)
	h, a, err := setup(t.Context(), aw, registry.DefaultUploadGrace, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Invoker != nil {
		t.Fatalf("invoker %T without a verify function", a.Invoker)
	}
	if res, err := h.Handle(t.Context(), events.EventBridgeEvent{ID: "1"}); err != nil || res != (Result{}) {
		t.Errorf("Handle = %+v, %v", res, err)
	}
}
