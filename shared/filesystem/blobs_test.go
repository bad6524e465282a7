package filesystem

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"

	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func TestBlobs(t *testing.T) {
	trackingtest.RunBlobs(t, func(t *testing.T) tracking.Blobs {
		a, _ := newServer(t, t.TempDir())
		return a
	})
}

func TestBlobUploads(t *testing.T) {
	trackingtest.RunBlobUploads(t, func(t *testing.T) tracking.Blobs {
		a, _ := newServer(t, t.TempDir())
		return a
	})
}

// A completion cut by a crash (its upload taken under runs-mpu-done/) is
// removed when the artifacts are opened again; uploads left open longer
// than blobUploadTTL are removed when another one begins, younger ones
// stay.
func TestBlobUploadLeftovers(t *testing.T) {
	root := t.TempDir()
	a, _ := newServer(t, root)
	ctx := t.Context()
	const key = "runs/0/r/artifacts/f.bin"
	old, err := a.CreateBlobUpload(ctx, key, 2)
	if err != nil {
		t.Fatal(err)
	}
	cut, err := a.CreateBlobUpload(ctx, key, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.root.MkdirAll(runsMpuDoneDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.root.Rename(filepath.Join(runsMpuDir, cut), filepath.Join(runsMpuDoneDir, cut)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a, _ = newServer(t, root)
	if names, _ := a.readDir(runsMpuDoneDir); len(names) != 0 {
		t.Fatalf("runs-mpu-done after reopening: %v", names)
	}
	young, err := a.CreateBlobUpload(ctx, key, 1)
	if err != nil {
		t.Fatal(err)
	}
	a.now = func() time.Time { return time.Now().Add(blobUploadTTL + time.Hour) }
	if _, err := a.PresignBlobPart(ctx, key, old, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("an open upload: %v", err)
	}
	// Both are older than the TTL now: creating a new one sweeps them.
	fresh, err := a.CreateBlobUpload(ctx, key, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{old, young} {
		if _, err := a.PresignBlobPart(ctx, key, id, 1, time.Now().Add(time.Hour)); !registry.IsCode(err, registry.NotFound) {
			t.Errorf("upload %s after the sweep: %v, want NotFound", id, err)
		}
	}
	if _, err := a.PresignBlobPart(ctx, key, fresh, 1, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("the new upload: %v", err)
	}
	// An upload of another key is refused by id.
	if _, err := a.PresignBlobPart(ctx, "runs/0/r/artifacts/other.bin", fresh, 1, time.Now().Add(time.Hour)); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("another key's upload: %v, want Invalid", err)
	}
	if err := a.AbortBlobUpload(ctx, "runs/0/r/artifacts/other.bin", fresh); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("abort another key's upload: %v, want Invalid", err)
	}
}
