package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// crashingArtifacts fails RemoveVersion while crash is set: what a process
// that dies after committing a tombstone leaves (the tombstone, not the
// files' removal).
type crashingArtifacts struct {
	registry.Artifacts
	crash atomic.Bool
}

func (c *crashingArtifacts) RemoveVersion(ctx context.Context, model string, version int) error {
	if c.crash.Load() {
		return errors.New("crashed before removing the files")
	}
	return c.Artifacts.RemoveVersion(ctx, model, version)
}

type deleteEnv struct {
	t     *testing.T
	ctx   context.Context
	svc   *registry.Service
	store *sqlite.Store
	arts  *crashingArtifacts
}

func newDeleteEnv(t *testing.T) *deleteEnv {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fs, err := filesystem.New(t.TempDir(), srv.URL, []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	mux.Handle("/blobs/", fs.Handler())
	arts := &crashingArtifacts{Artifacts: fs}
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: arts, Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "ciso", Role: registry.RoleAdmin})
	return &deleteEnv{t: t, ctx: ctx, svc: svc, store: store, arts: arts}
}

// register registers a version of model with one uploaded file and returns
// its number.
func (e *deleteEnv) register(model string) int {
	e.t.Helper()
	v, err := e.svc.RegisterVersion(e.ctx, model, registry.NewVersion{})
	if err != nil {
		e.t.Fatal(err)
	}
	data := bytes.Repeat([]byte("weights "), 1000)
	sum := sha256.Sum256(data)
	tk, err := e.svc.CreateUpload(e.ctx, model, v.Number, []registry.FileSpec{{Path: "m/model.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		e.t.Fatal(err)
	}
	artifacttest.SendParts(e.t, tk.Files[0], data)
	if _, err := e.svc.CompleteUpload(e.ctx, model, v.Number, tk.UploadID); err != nil {
		e.t.Fatal(err)
	}
	return v.Number
}

// hasFile reports whether version number of model still has its file.
func (e *deleteEnv) hasFile(model string, number int) bool {
	e.t.Helper()
	_, err := e.arts.Artifacts.PresignDownload(e.ctx, model, number, "m/model.bin", time.Now().Add(time.Minute))
	if err != nil && !registry.IsCode(err, registry.NotFound) {
		e.t.Fatal(err)
	}
	return err == nil
}

// TestDeleteVersionHealsACrash: the tombstone and its event are committed
// before the files go; a crash in between leaves the files, and deleting
// the tombstone again removes them and succeeds.
func TestDeleteVersionHealsACrash(t *testing.T) {
	e := newDeleteEnv(t)
	if _, err := e.svc.CreateModel(e.ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	n := e.register("m")
	keep := e.register("m")
	e.arts.crash.Store(true)
	if _, err := e.svc.DeleteVersion(e.ctx, "m", n, "leaked data"); err == nil {
		t.Fatal("DeleteVersion succeeded though removing the files failed")
	}
	v, err := e.store.GetVersion(e.ctx, "m", n)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != registry.StatusDeleted || !v.Deleted || v.DeletedBy != "ciso" || v.DeleteReason != "leaked data" {
		t.Fatalf("after the crash the version is %+v, want a committed tombstone", v)
	}
	if !e.hasFile("m", n) {
		t.Fatal("the files went before the crash; the test does not exercise the healing")
	}
	events, err := e.store.PendingEvents(e.ctx, time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range events {
		found = found || r.Event.Type == registry.EventVersionDeleted && r.Event.Detail.Version == n && r.Event.Detail.Reason == "leaked data"
	}
	if !found {
		t.Fatalf("no %q event in the outbox", registry.EventVersionDeleted)
	}

	e.arts.crash.Store(false)
	again, err := e.svc.DeleteVersion(e.ctx, "m", n, "")
	if err != nil {
		t.Fatalf("repeated DeleteVersion: %v", err)
	}
	if again.Revision != v.Revision || again.DeleteReason != "leaked data" {
		t.Fatalf("repeated delete returned %+v, want the first tombstone unchanged", again)
	}
	if e.hasFile("m", n) {
		t.Fatal("the repeated delete left the files")
	}
	if !e.hasFile("m", keep) {
		t.Fatal("deleting one version removed another's files")
	}
}

// TestDeleteModelHealsACrashAndNumberingContinues: a model deletion
// interrupted after its tombstones is finished by a retry; the name then
// starts a new life that continues the numbering.
func TestDeleteModelHealsACrashAndNumberingContinues(t *testing.T) {
	e := newDeleteEnv(t)
	if _, err := e.svc.CreateModel(e.ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	var nums []int
	for range 30 { // more than one tombstone batch
		v, err := e.svc.RegisterVersion(e.ctx, "m", registry.NewVersion{Source: "s3://elsewhere/m"})
		if err != nil {
			t.Fatal(err)
		}
		nums = append(nums, v.Number)
	}
	nums = append(nums, e.register("m"))
	if _, err := e.svc.SetAlias(e.ctx, "m", "champion", nums[0]); err != nil {
		t.Fatal(err)
	}
	e.arts.crash.Store(true)
	if err := e.svc.DeleteModel(e.ctx, "m", "project closed"); err == nil {
		t.Fatal("DeleteModel succeeded though removing the files failed")
	}
	if _, err := e.svc.GetModel(e.ctx, "m"); err != nil {
		t.Fatalf("the model went before its files: %v", err)
	}
	if !e.hasFile("m", nums[30]) {
		t.Fatal("the files went before the crash")
	}
	e.arts.crash.Store(false)
	if err := e.svc.DeleteModel(e.ctx, "m", "project closed"); err != nil {
		t.Fatalf("repeated DeleteModel: %v", err)
	}
	if e.hasFile("m", nums[30]) {
		t.Fatal("the retry left the files")
	}
	_, err := e.svc.GetModel(e.ctx, "m")
	if !registry.IsCode(err, registry.NotFound) || !strings.Contains(err.Error(), "deleted by ciso") {
		t.Fatalf("GetModel of a deleted model = %v, want NotFound saying who deleted it", err)
	}
	for _, n := range []int{1, 25, 31} {
		v, err := e.store.GetVersion(e.ctx, "m", n)
		if err != nil || v.Status != registry.StatusDeleted {
			t.Fatalf("version %d after the model's deletion = %+v, %v; want a tombstone", n, v, err)
		}
	}
	m, err := e.svc.CreateModel(e.ctx, registry.NewModel{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != 31 {
		t.Fatalf("re-created model's LatestVersion = %d, want 31", m.LatestVersion)
	}
	if n := e.register("m"); n != 32 {
		t.Fatalf("first version of the new life = %d, want 32", n)
	}
	l, err := e.svc.ListVersions(e.ctx, "m", registry.VersionFilter{}, "", 100)
	if err != nil || len(l.Items) != 1 || l.Items[0].Number != 32 {
		t.Fatalf("versions of the new life = %+v, %v; want only 32", l.Items, err)
	}
	if _, err := e.svc.GetAlias(e.ctx, "m", "champion"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("alias of the old life = %v, want NotFound", err)
	}
}

// TestCanRollBackTo: rollback skips deleted versions.
func TestCanRollBackTo(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tomb := registry.Version{Model: "m", Number: 3, Status: registry.StatusDeleted, Deleted: true, DeletedBy: "ciso", DeletedAt: &at}
	if err := registry.CanRollBackTo(tomb); !registry.IsCode(err, registry.Conflict) || !strings.Contains(err.Error(), "deleted by ciso") {
		t.Fatalf("CanRollBackTo(tombstone) = %v, want Conflict naming who deleted it", err)
	}
	if err := registry.CanRollBackTo(registry.Version{Model: "m", Number: 2, Status: registry.StatusReady}); err != nil {
		t.Fatalf("CanRollBackTo(READY) = %v", err)
	}
}
