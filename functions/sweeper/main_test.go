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
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestLinksNoEmbeddedBackend: the function links the AWS adapters and
// aws-lambda-go, and neither SQLite nor the filesystem adapter.
func TestLinksNoEmbeddedBackend(t *testing.T) {
	lambdatest.CheckLinks(t, "github.com/modelreg/modelreg/shared/dynamodb")
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
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&ev); err != nil || ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" {
		t.Fatalf("events/sweeper.json: %+v, %v; want a scheduled event", ev, err)
	}
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
	aw := app.AWS{
		Config:        &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(env[2], env[3], "")},
		DynamoDBTable: name, DynamoDBEndpoint: env[0], S3Bucket: name, S3Endpoint: env[1], CreateResources: true,
	}
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
	if string(out) != `{"swept":0}` {
		t.Errorf("result JSON %s", out)
	}
}
