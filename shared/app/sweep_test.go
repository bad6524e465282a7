package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

// needEnv returns the variables' values, or skips the test (fails it in
// CI) when one is unset.
func needEnv(t testing.TB, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			msg := n + " is not set: run scripts/test, or start the emulators in scripts/test.d and export the lines they print"
			testenv.Missing(t, msg, "these tests")
		}
		out = append(out, v)
	}
	return out
}

// sweepBackends are the two ways to build the app for the sweep tests:
// SQLite and the filesystem (behind a test server for its signed URLs),
// and DynamoDB Local and MinIO.
var sweepBackends = []struct {
	name  string
	build func(t *testing.T, clock *workflowtest.Clock) *app.App
}{
	{"sqlite+filesystem", func(t *testing.T, clock *workflowtest.Clock) *app.App {
		var blobs atomic.Pointer[http.Handler]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*blobs.Load()).ServeHTTP(w, r) }))
		t.Cleanup(srv.Close)
		cfg := localConfig(t.TempDir())
		cfg.PublicURL, cfg.Events, cfg.Now = srv.URL, app.EventsNone, clock.Now
		a, err := embedded.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		blobs.Store(&a.Blobs)
		t.Cleanup(func() { a.Close() })
		return a
	}},
	{"dynamodb+s3", func(t *testing.T, clock *workflowtest.Clock) *app.App {
		env := needEnv(t, "MODELREG_DYNAMODB_ENDPOINT", "MODELREG_S3_ENDPOINT", "MODELREG_S3_ACCESS_KEY", "MODELREG_S3_SECRET_KEY")
		name := fmt.Sprintf("modelreg-sweep-%d", time.Now().UnixNano())
		a, err := app.New(context.Background(), app.Config{
			Store: app.StoreDynamoDB, Artifacts: app.ArtifactsS3, Secret: secret, Logger: quiet, Now: clock.Now,
			AWS: app.AWS{
				Config:        &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(env[2], env[3], "")},
				DynamoDBTable: name, DynamoDBEndpoint: env[0], S3Bucket: name, S3Endpoint: env[1], CreateResources: true,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}},
}

// send PUTs a part exactly as the ticket says.
func send(t *testing.T, pr registry.PartRequest, body []byte) {
	t.Helper()
	req, err := http.NewRequest(pr.Method, pr.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	req.ContentLength = int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("part %d (offset %d, %d bytes): status %d: %s", pr.Number, pr.Offset, pr.Size, resp.StatusCode, msg)
	}
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// failingAbort fails Abort for the files of one session (a crash, or the
// storage being down, after the sweep committed the expiry).
type failingAbort struct {
	registry.Artifacts
	session string
}

func (f failingAbort) Abort(ctx context.Context, s registry.UploadSession, file registry.UploadFile) error {
	if s.ID == f.session {
		return registry.Errorf(registry.Unavailable, "storage down")
	}
	return f.Artifacts.Abort(ctx, s, file)
}

// TestSweepUploads, on both backends: a session abandoned past its
// expiry and the grace is expired — its multipart upload aborted, its
// partial and completed files discarded, the version FAILED with an
// audit entry by the sweeper — while a refreshed session and a READY
// version are left alone; a sweep that fails after its commit (storage
// down) leaves the session EXPIRING and the next sweep finishes it;
// sweeping again changes nothing.
func TestSweepUploads(t *testing.T) {
	for _, b := range sweepBackends {
		t.Run(b.name, func(t *testing.T) {
			// Signed URLs are checked against the real time: start now.
			clock := workflowtest.NewClock(time.Now().UTC().Truncate(time.Microsecond))
			a := b.build(t, clock)
			ctx := admin(context.Background())
			svc := a.Service
			if _, err := svc.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte("weights!"), (11<<20)/8) // 11 MiB: parts of 5, 5 and 1 MiB
			small := []byte(`{"layers": 3}`)
			// The small file first: a completion verifies files in order.
			const smallF, bigF = 0, 1
			specs := []registry.FileSpec{
				{Path: "config.json", Size: int64(len(small)), SHA256: digest(small)},
				{Path: "model.bin", Size: int64(len(big)), SHA256: digest(big), PartSize: registry.MinPartSize},
			}
			start := func() (registry.Version, registry.UploadTicket) {
				t.Helper()
				v, err := svc.RegisterVersion(ctx, "fraud", registry.NewVersion{})
				if err != nil {
					t.Fatal(err)
				}
				tk, err := svc.CreateUpload(ctx, "fraud", v.Number, specs)
				if err != nil {
					t.Fatal(err)
				}
				return v, tk
			}
			// v1: part 1 of the big file and the whole small one sent; the
			// completion stored the small file and failed on the rest.
			v1, t1 := start()
			send(t, t1.Files[bigF].Parts[0], big[:registry.MinPartSize])
			send(t, t1.Files[smallF].Parts[0], small)
			if _, err := svc.CompleteUpload(ctx, "fraud", v1.Number, t1.UploadID); err == nil {
				t.Fatal("completing a session with missing parts succeeded")
			}
			s1, err := a.Store.GetUpload(ctx, t1.UploadID)
			if err != nil || !s1.Files[smallF].Completed {
				t.Fatalf("session 1 %+v, %v: want the small file completed", s1, err)
			}
			if parts, err := a.Artifacts.UploadedParts(ctx, s1, s1.Files[bigF]); err != nil || len(parts) != 1 {
				t.Fatalf("uploaded parts of the big file: %v, %v", parts, err)
			}
			// v2: abandoned too, and its storage fails at the first sweep.
			v2, t2 := start()
			send(t, t2.Files[bigF].Parts[0], big[:registry.MinPartSize])
			// v3: resumed (refreshed) before the sweep. v4: READY.
			v3, t3 := start()
			v4, t4 := start()
			for i, f := range t4.Files {
				data := [][]byte{small, big}[i]
				for _, pr := range f.Parts {
					send(t, pr, data[pr.Offset:pr.Offset+pr.Size])
				}
			}
			if _, err := svc.CompleteUpload(ctx, "fraud", v4.Number, t4.UploadID); err != nil {
				t.Fatal(err)
			}

			// Within the grace nothing is swept.
			clock.Add(registry.DefaultUploadGrace)
			if n, err := svc.SweepUploads(ctx); n != 0 || err != nil {
				t.Fatalf("sweep within the grace = %d, %v", n, err)
			}
			clock.Add(2 * time.Hour)
			if _, err := svc.RefreshUpload(ctx, "fraud", v3.Number, t3.UploadID); err != nil {
				t.Fatal(err)
			}
			failing, err := registry.NewService(registry.Config{Store: a.Store, Artifacts: failingAbort{a.Artifacts, t2.UploadID},
				Secret: secret, Now: clock.Now, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			n, err := failing.SweepUploads(ctx)
			if n != 1 || err == nil || !strings.Contains(err.Error(), t2.UploadID) {
				t.Fatalf("sweep with v2's storage down = %d, %v; want v1's session expired and v2's failure", n, err)
			}

			status := func(v registry.Version, want registry.Status, up string, wantUp registry.UploadStatus) {
				t.Helper()
				got, err := a.Store.GetVersion(ctx, "fraud", v.Number)
				if err != nil || got.Status != want {
					t.Errorf("version %d: %s, %v; want %s", v.Number, got.Status, err, want)
				}
				s, err := a.Store.GetUpload(ctx, up)
				if err != nil || s.Status != wantUp {
					t.Errorf("upload of version %d: %s, %v; want %s", v.Number, s.Status, err, wantUp)
				}
			}
			status(v1, registry.StatusFailed, t1.UploadID, registry.UploadExpired)
			status(v2, registry.StatusFailed, t2.UploadID, registry.UploadExpiring)
			status(v3, registry.StatusPendingUpload, t3.UploadID, registry.UploadOpen)
			status(v4, registry.StatusReady, t4.UploadID, registry.UploadCompleted)
			if parts, err := a.Artifacts.UploadedParts(ctx, s1, s1.Files[bigF]); err != nil || len(parts) != 0 {
				t.Errorf("v1's multipart upload after the sweep: parts %v, %v; want aborted", parts, err)
			}
			if _, err := a.Artifacts.PresignDownload(ctx, "fraud", v1.Number, "config.json", clock.Now().Add(time.Minute)); !registry.IsCode(err, registry.NotFound) {
				t.Errorf("v1's completed file after the sweep: %v, want NotFound (discarded)", err)
			}
			h, err := a.Store.ListAudit(ctx, registry.AuditQuery{Model: "fraud", Version: v1.Number, Limit: 10})
			if err != nil || len(h.Items) == 0 {
				t.Fatal(err)
			}
			last := h.Items[0]
			if last.Action != registry.ActionVersionFailed || last.Actor != registry.SweeperActor ||
				!strings.Contains(last.Reason, t1.UploadID) || last.Details["upload_id"] != t1.UploadID {
				t.Errorf("v1's newest audit entry %+v: want version.failed by the sweeper naming the upload", last)
			}
			// The client cannot resume an expired session.
			if _, err := svc.RefreshUpload(ctx, "fraud", v1.Number, t1.UploadID); !registry.IsCode(err, registry.Conflict) {
				t.Errorf("refresh of an expired session: %v, want Conflict", err)
			}

			// The next sweep finishes v2's expiry; then there is nothing left.
			if n, err := svc.SweepUploads(ctx); n != 1 || err != nil {
				t.Fatalf("second sweep = %d, %v; want v2's session finished", n, err)
			}
			status(v2, registry.StatusFailed, t2.UploadID, registry.UploadExpired)
			s2, _ := a.Store.GetUpload(ctx, t2.UploadID)
			if parts, err := a.Artifacts.UploadedParts(ctx, s2, s2.Files[bigF]); err != nil || len(parts) != 0 {
				t.Errorf("v2's multipart upload after the second sweep: parts %v, %v; want aborted", parts, err)
			}
			before, _ := a.Store.ListAudit(ctx, registry.AuditQuery{Model: "fraud", Limit: 100})
			if n, err := svc.SweepUploads(ctx); n != 0 || err != nil {
				t.Fatalf("third sweep = %d, %v; want nothing", n, err)
			}
			after, _ := a.Store.ListAudit(ctx, registry.AuditQuery{Model: "fraud", Limit: 100})
			if len(after.Items) != len(before.Items) {
				t.Errorf("an idle sweep wrote %d audit entries", len(after.Items)-len(before.Items))
			}
			var failedEntries int
			for _, e := range after.Items {
				if e.Action == registry.ActionVersionFailed {
					failedEntries++
				}
			}
			if failedEntries != 2 {
				t.Errorf("%d version.failed entries, want one each for v1 and v2", failedEntries)
			}
			status(v3, registry.StatusPendingUpload, t3.UploadID, registry.UploadOpen)
			status(v4, registry.StatusReady, t4.UploadID, registry.UploadCompleted)
			if _, err := a.Artifacts.PresignDownload(ctx, "fraud", v4.Number, "model.bin", clock.Now().Add(time.Minute)); err != nil {
				t.Errorf("the READY version's file: %v", err)
			}
		})
	}
}

// TestUploadSweepRuns: a started app sweeps on its own every
// UploadSweepInterval.
func TestUploadSweepRuns(t *testing.T) {
	clock := workflowtest.NewClock(t0)
	cfg := localConfig(t.TempDir())
	cfg.Events, cfg.Now, cfg.UploadSweepInterval = app.EventsNone, clock.Now, 10*time.Millisecond
	a, err := embedded.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := admin(context.Background())
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.CreateUpload(ctx, "fraud", v.Number, []registry.FileSpec{{Path: "m.bin", Size: 1, SHA256: digest([]byte("x"))}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Add(registry.DefaultUploadGrace + 2*time.Hour)
	eventually(t, "the background sweep", func() bool {
		got, err := a.Store.GetVersion(ctx, "fraud", v.Number)
		return err == nil && got.Status == registry.StatusFailed
	})
	if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
