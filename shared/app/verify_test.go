package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

// s3Config is SQLite on dir with S3 artifacts on the MinIO the test
// plug-in started (skipped without it), verifying uploads over threshold
// bytes in the background.
func s3Config(t testing.TB, dir string, threshold int64) app.Config {
	t.Helper()
	endpoint := os.Getenv("MODELREG_S3_ENDPOINT")
	if endpoint == "" {
		t.Skip("MODELREG_S3_ENDPOINT is not set: run scripts/test (it starts MinIO)")
	}
	cfg := localConfig(dir)
	cfg.Embedded = embedded.Backends{}
	cfg.Artifacts = app.ArtifactsS3
	cfg.AWS.Config = fakeAWS()
	cfg.AWS.Config.Credentials = staticCreds(os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"))
	cfg.AWS.S3Endpoint = endpoint
	cfg.AWS.S3Bucket = "modelreg-verify-" + registry.RandomToken(6)
	cfg.AWS.CreateResources = true
	cfg.Service.VerifyAsyncBytes = threshold
	return cfg
}

// recorder is an Invoker that only records: the verification a crash
// never ran.
type recorder struct {
	mu  sync.Mutex
	got []registry.VerifyRequest
}

func (r *recorder) InvokeVerify(_ context.Context, q registry.VerifyRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, q)
	return nil
}

// upload registers a version of model with one file of body (its
// declared digest is declared, or the body's) and sends its parts.
func upload(t *testing.T, a *app.App, model string, body []byte, declared string) (registry.Version, string) {
	t.Helper()
	ctx := admin(t.Context())
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: model}); err != nil && !registry.IsCode(err, registry.Conflict) {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, model, registry.NewVersion{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if declared == "" {
		declared = hex.EncodeToString(sum[:])
	}
	ps := int64(registry.MinPartSize)
	spec := registry.FileSpec{Path: "model.bin", Size: int64(len(body)), SHA256: declared, PartSize: ps}
	for off := int64(0); off < int64(len(body)); off += ps {
		p := sha256.Sum256(body[off:min(off+ps, int64(len(body)))])
		spec.PartSHA256 = append(spec.PartSHA256, hex.EncodeToString(p[:]))
	}
	ticket, err := a.Service.CreateUpload(ctx, model, v.Number, []registry.FileSpec{spec})
	if err != nil {
		t.Fatal(err)
	}
	artifacttest.SendParts(t, ticket.Files[0], body)
	return v, ticket.UploadID
}

func randomBody(n int, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

// TestVerifyInBackground: on S3 a completion over the threshold answers
// with the version VERIFYING; the in-process queue makes it READY (with
// its event in the outbox and its audit entries); one under it is READY
// at once.
func TestVerifyInBackground(t *testing.T) {
	cfg := s3Config(t, t.TempDir(), 8<<20)
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := admin(t.Context())

	small, id := upload(t, a, "m", randomBody(1<<20, 1), "")
	got, err := a.Service.CompleteUpload(ctx, "m", small.Number, id)
	if err != nil || got.Status != registry.StatusReady {
		t.Fatalf("small file: %v %v, want READY at once", got.Status, err)
	}

	body := randomBody(11<<20, 2)
	v, id := upload(t, a, "m", body, "")
	got, err = a.Service.CompleteUpload(ctx, "m", v.Number, id)
	if err != nil || got.Status != registry.StatusVerifying {
		t.Fatalf("large file: %v %v, want VERIFYING", got.Status, err)
	}
	ready := waitStatus(t, a, "m", v.Number, registry.StatusReady)
	if len(ready.Artifacts) != 1 || ready.Artifacts[0].Size != int64(len(body)) || ready.UploadID != "" {
		t.Errorf("READY version %+v", ready)
	}
	// Completing again, and verifying again, change nothing.
	if again, err := a.Service.CompleteUpload(ctx, "m", v.Number, id); err != nil || again.Revision != ready.Revision {
		t.Errorf("complete again: %v %v", again.Status, err)
	}
	if again, err := a.Service.VerifyUpload(ctx, "m", v.Number, id); err != nil || again.Revision != ready.Revision {
		t.Errorf("verify again: %v %v", again.Status, err)
	}
	actions := auditActions(t, a, "m", v.Number)
	if actions[registry.ActionVerifyStarted] != 1 || actions[registry.ActionVersionReady] != 1 {
		t.Errorf("audit %v, want one verify_started and one ready", actions)
	}
}

// TestVerifyFails: a file whose whole SHA-256 is not the declared one
// (every part matches its own digest) ends FAILED with the reason, its
// completing it again says so.
func TestVerifyFails(t *testing.T) {
	cfg := s3Config(t, t.TempDir(), 8<<20)
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := admin(t.Context())
	wrong := fmt.Sprintf("%064x", 7)
	v, id := upload(t, a, "m", randomBody(11<<20, 3), wrong)
	if got, err := a.Service.CompleteUpload(ctx, "m", v.Number, id); err != nil || got.Status != registry.StatusVerifying {
		t.Fatalf("%v %v, want VERIFYING", got.Status, err)
	}
	failed := waitStatus(t, a, "m", v.Number, registry.StatusFailed)
	if !bytes.Contains([]byte(failed.StatusReason), []byte("sha256 mismatch")) {
		t.Errorf("reason %q, want the sha256 mismatch", failed.StatusReason)
	}
	if _, err := a.Service.CompleteUpload(ctx, "m", v.Number, id); !registry.IsCode(err, registry.Conflict) {
		t.Errorf("complete a FAILED upload: %v, want Conflict", err)
	}
	if auditActions(t, a, "m", v.Number)[registry.ActionVersionFailed] != 1 {
		t.Error("no version.failed audit entry")
	}
}

// TestVerifyAfterCrash: a server that dies after answering VERIFYING and
// before verifying leaves the version VERIFYING; the next Start finds it
// and makes it READY.
func TestVerifyAfterCrash(t *testing.T) {
	dir := t.TempDir()
	cfg := s3Config(t, dir, 8<<20)
	rec := &recorder{}
	crashed := cfg
	crashed.Service.Invoker = rec
	a, err := app.New(t.Context(), crashed)
	if err != nil {
		t.Fatal(err)
	}
	v, id := upload(t, a, "m", randomBody(11<<20, 4), "")
	if got, err := a.Service.CompleteUpload(admin(t.Context()), "m", v.Number, id); err != nil || got.Status != registry.StatusVerifying {
		t.Fatalf("%v %v, want VERIFYING", got.Status, err)
	}
	if len(rec.got) != 1 || rec.got[0] != (registry.VerifyRequest{Model: "m", Version: v.Number, UploadID: id}) {
		t.Fatalf("invoked %v", rec.got)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Service.GetVersion(t.Context(), "m", v.Number); err != nil || got.Status != registry.StatusVerifying {
		t.Fatalf("after the crash: %v %v, want VERIFYING", got.Status, err)
	}
	if err := b.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, "m", v.Number, registry.StatusReady)
}

func staticCreds(key, secret string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(key, secret, "")
}

func waitStatus(t *testing.T, a *app.App, model string, n int, want registry.Status) registry.Version {
	t.Helper()
	var v registry.Version
	eventually(t, fmt.Sprintf("version %d %s", n, want), func() bool {
		var err error
		v, err = a.Service.GetVersion(t.Context(), model, n)
		return err == nil && v.Status == want
	})
	return v
}

func auditActions(t *testing.T, a *app.App, model string, n int) map[registry.Action]int {
	t.Helper()
	p, err := a.Store.ListAudit(t.Context(), registry.AuditQuery{Model: model, Version: n, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	m := map[registry.Action]int{}
	for _, e := range p.Items {
		m[e.Action]++
	}
	return m
}

// TestVerifyTwiceAtOnce: two verifications of one upload at the same
// time (a repeated invoke) both answer READY, and the version is made
// READY once: one audit entry, one event.
func TestVerifyTwiceAtOnce(t *testing.T) {
	cfg := s3Config(t, t.TempDir(), 8<<20)
	cfg.Events = app.EventsNone // keep the outbox to count it
	cfg.Service.Invoker = &recorder{}
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := admin(t.Context())
	v, id := upload(t, a, "m", randomBody(11<<20, 5), "")
	if got, err := a.Service.CompleteUpload(ctx, "m", v.Number, id); err != nil || got.Status != registry.StatusVerifying {
		t.Fatalf("%v %v, want VERIFYING", got.Status, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			got, err := a.Service.VerifyUpload(ctx, "m", v.Number, id)
			if err == nil && got.Status != registry.StatusReady {
				err = fmt.Errorf("status %s", got.Status)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("verification %d: %v", i, err)
		}
	}
	if n := auditActions(t, a, "m", v.Number)[registry.ActionVersionReady]; n != 1 {
		t.Errorf("%d version.ready entries, want 1", n)
	}
	evs, err := a.Store.PendingEvents(t.Context(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, e := range evs {
		if e.Event.Type == registry.EventVersionReady && e.Event.Detail.Version == v.Number {
			ready++
		}
	}
	if ready != 1 {
		t.Errorf("%d Model Version Ready events for version %d, want 1", ready, v.Number)
	}
}
