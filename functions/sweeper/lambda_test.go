package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/invoke"
	"github.com/modelreg/modelreg/shared/lambdatest"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestFunctionOnEmulators runs the built bootstrap (natively, and the
// arm64 build under qemu) through the Lambda Runtime API on the sample
// scheduled event, against DynamoDB Local, MinIO and a server answering
// Lambda's Invoke API: it expires an abandoned session, asks
// verify-upload (by the name the stack passes) for the version left
// VERIFYING, and answers how many of each; a second run expires nothing
// more and asks again for the version still VERIFYING.
func TestFunctionOnEmulators(t *testing.T) {
	raw, err := os.ReadFile("../../events/sweeper.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	for _, arch := range lambdatest.Arches(t) {
		t.Run(arch.Label(), func(t *testing.T) {
			aw := peers(t)
			ctx := registry.WithPrincipal(t.Context(), registry.Principal{Name: "ci", Role: registry.RoleAdmin})
			maker, v, tk := verifying(t, ctx, aw)
			defer maker.Close()
			// An upload abandoned 30 hours ago, by an app whose clock is that
			// far behind.
			past := time.Now().Add(-30 * time.Hour)
			pastApp, err := app.New(ctx, app.Config{Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3,
				Secret: bytes.Repeat([]byte("s"), 32), AWS: aw, Now: func() time.Time { return past }})
			if err != nil {
				t.Fatal(err)
			}
			defer pastApp.Close()
			abandoned, err := pastApp.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{})
			if err != nil {
				t.Fatal(err)
			}
			spec := []registry.FileSpec{{Path: "small.bin", Size: 3, SHA256: strings.Repeat("0", 64)}}
			if _, err := pastApp.Service.CreateUpload(ctx, "fraud", abandoned.Number, spec); err != nil {
				t.Fatal(err)
			}

			srv := &lambdaServer{}
			ts := httptest.NewServer(srv)
			defer ts.Close()
			bin := lambdatest.Build(t, ".", arch.GOARCH)
			creds, err := aw.Config.Credentials.Retrieve(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f := lambdatest.Start(t, bin, arch, lambdatest.Options{Name: "modelreg-sweeper", Env: []string{
				"MODELREG_DYNAMODB_TABLE=" + aw.DynamoDBTable, "MODELREG_S3_BUCKET=" + aw.S3Bucket,
				"MODELREG_DYNAMODB_ENDPOINT=" + aw.DynamoDBEndpoint, "MODELREG_S3_ENDPOINT=" + aw.S3Endpoint,
				"MODELREG_VERIFY_FUNCTION=modelreg-verify-upload", "MODELREG_VERIFY_ENDPOINT=" + ts.URL,
				"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=" + creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + creds.SecretAccessKey,
			}})
			ictx, cancel := context.WithTimeout(ctx, 5*time.Minute) // two shared cores and qemu
			defer cancel()
			want := invoke.VerifyPayload{Model: "fraud", Version: v.Number, UploadID: tk.UploadID}
			for run, answer := range []string{`{"swept":1,"reverified":1}`, `{"swept":0,"reverified":1}`} {
				res, err := f.Invoke(ictx, raw)
				if err != nil || res.Error != nil || string(res.Payload) != answer {
					t.Fatalf("%s run %d: %s, %v, %v; want %s\n%s", arch.Label(), run+1, res.Payload, res.Error, err, answer, f.Stderr())
				}
				srv.mu.Lock()
				got := slices.Clone(srv.payloads)
				srv.mu.Unlock()
				if len(got) != run+1 || got[run] != want {
					t.Fatalf("%s run %d: invokes %+v, want %+v", arch.Label(), run+1, got, want)
				}
			}
			got, err := maker.Store.GetVersion(ctx, "fraud", abandoned.Number)
			if err != nil || got.Status != registry.StatusFailed {
				t.Errorf("the abandoned version: %s, %v; want FAILED", got.Status, err)
			}
			t.Logf("%s: answered event %s twice", arch.Label(), ev.ID)
		})
	}
}
