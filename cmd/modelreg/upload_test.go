package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestUploadWrongChecksumThenReplace: a file whose bytes do not match the
// declared SHA-256 is refused at completion, the version stays waiting and
// only that file is asked for again; a later session with different bytes
// for a file the first session had completed replaces it.
func TestUploadWrongChecksumThenReplace(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := noRetry(s.url)
	ctx := context.Background()
	work := t.TempDir()
	if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "up"}); err != nil {
		t.Fatal(err)
	}
	v, err := c.RegisterVersion(ctx, "up", httpapi.RegisterRequest{})
	if err != nil || v.Status != registry.StatusPendingUpload {
		t.Fatalf("register: %+v, %v", v, err)
	}
	good := []byte(strings.Repeat("weights", 1000))
	cfg := []byte(`{"layers": 3}`)
	local := map[string]string{"model.bin": writeFile(t, work, "model.bin", good), "config.json": writeFile(t, work, "config.json", cfg)}

	// config.json is declared with the digest of other bytes.
	specs := []httpapi.FileSpec{
		{Path: "model.bin", Size: int64(len(good)), SHA256: sum(good)},
		{Path: "config.json", Size: int64(len(cfg)), SHA256: sum([]byte(`{"layers": 4}`))},
	}
	ticket, err := c.CreateUpload(ctx, "up", 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadParts(ctx, ticket, local, 2, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteUpload(ctx, "up", 1, ticket.UploadID)
	if !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("complete with a wrong checksum: %v", err)
	}
	after, err := c.GetVersion(ctx, "up", 1)
	if err != nil || after.Status != registry.StatusPendingUpload || len(after.Artifacts) != 0 || after.UploadID != ticket.UploadID {
		t.Fatalf("after a refused completion: %+v, %v", after, err)
	}
	if _, err := c.Downloads(ctx, "up", 1, ""); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("download of a version whose upload failed: %v, want 409", err)
	}
	refreshed, err := c.RefreshUpload(ctx, "up", 1, ticket.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range refreshed.Files {
		want := 0
		if f.Path == "config.json" {
			want = 1 // discarded: send again
		}
		if len(f.Parts) != want {
			t.Fatalf("refresh asks for %d parts of %s, want %d", len(f.Parts), f.Path, want)
		}
	}

	// The user gives up on that session and starts again with a retrained
	// model.bin (other bytes, same path) and the right config.
	better := []byte(strings.Repeat("WEIGHTS", 1000))
	local["model.bin"] = writeFile(t, work, "model2.bin", better)
	specs = []httpapi.FileSpec{
		{Path: "model.bin", Size: int64(len(better)), SHA256: sum(better)},
		{Path: "config.json", Size: int64(len(cfg)), SHA256: sum(cfg)},
	}
	ticket2, err := c.CreateUpload(ctx, "up", 1, specs)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UploadParts(ctx, ticket2, local, 2, nil); err != nil {
		t.Fatal(err)
	}
	v, err = c.CompleteUpload(ctx, "up", 1, ticket2.UploadID)
	if err != nil || v.Status != registry.StatusReady {
		t.Fatalf("complete of the second session: %+v, %v", v, err)
	}
	// The old session is closed for good.
	if _, err := c.RefreshUpload(ctx, "up", 1, ticket.UploadID); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("refresh of the replaced session: %v, want 409", err)
	}
	set, err := c.Downloads(ctx, "up", 1, "model.bin")
	if err != nil || len(set.Files) != 1 {
		t.Fatalf("downloads: %+v, %v", set, err)
	}
	dest := filepath.Join(t.TempDir(), "model.bin")
	if err := c.DownloadFile(ctx, set.Files[0], dest, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); string(got) != string(better) {
		t.Fatal("the downloaded model.bin is not the second session's")
	}
	// A READY version's files never change.
	if _, err := c.CreateUpload(ctx, "up", 1, specs); !client.IsStatus(err, http.StatusConflict) {
		t.Fatalf("a new upload to a READY version: %v, want 409", err)
	}
}

// TestPrepareFileDigests: the part digests the client computes are the
// digests of the parts the server will cut.
func TestPrepareFileDigests(t *testing.T) {
	dir := t.TempDir()
	path, whole := randomFile(t, dir, "f.bin", registry.SinglePartMax+5<<20+123)
	lf, err := client.PrepareFile(path, "f.bin")
	if err != nil {
		t.Fatal(err)
	}
	if lf.Spec.SHA256 != whole || lf.Spec.Size != registry.SinglePartMax+5<<20+123 {
		t.Fatalf("spec %+v", lf.Spec)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := registry.PartCount(lf.Spec.Size, lf.Spec.PartSize)
	if n < 2 || len(lf.Spec.PartSHA256) != n {
		t.Fatalf("%d parts, %d digests", n, len(lf.Spec.PartSHA256))
	}
	for i := 1; i <= n; i++ {
		off, l := registry.PartRange(lf.Spec.Size, lf.Spec.PartSize, i)
		if got := sum(data[off : off+l]); got != lf.Spec.PartSHA256[i-1] {
			t.Fatalf("part %d digest %s, want %s", i, lf.Spec.PartSHA256[i-1], got)
		}
	}
}

// TestCompleteTooEarlyKeepsParts: completing before every part arrived
// says which are missing and keeps the ones that did.
func TestCompleteTooEarlyKeepsParts(t *testing.T) {
	s := startServer(t, t.TempDir())
	c := noRetry(s.url)
	ctx := context.Background()
	if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "early"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterVersion(ctx, "early", httpapi.RegisterRequest{}); err != nil {
		t.Fatal(err)
	}
	path, _ := randomFile(t, t.TempDir(), "w.bin", registry.SinglePartMax+1000) // 2 parts
	lf, err := client.PrepareFile(path, "w.bin")
	if err != nil {
		t.Fatal(err)
	}
	ticket, err := c.CreateUpload(ctx, "early", 1, []httpapi.FileSpec{lf.Spec})
	if err != nil {
		t.Fatal(err)
	}
	first := ticket
	first.Files = []httpapi.FileTicket{ticket.Files[0]}
	first.Files[0].Parts = first.Files[0].Parts[:1]
	if err := c.UploadParts(ctx, first, map[string]string{"w.bin": path}, 1, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteUpload(ctx, "early", 1, ticket.UploadID)
	if !client.IsStatus(err, http.StatusBadRequest) || !strings.Contains(err.Error(), "part 2 missing") {
		t.Fatalf("early complete: %v", err)
	}
	again, err := c.RefreshUpload(ctx, "early", 1, ticket.UploadID)
	if err != nil || len(again.Files[0].Parts) != 1 || again.Files[0].Parts[0].Number != 2 {
		t.Fatalf("refresh after an early complete asks for %+v (%v), want part 2 only", again.Files, err)
	}
	if err := c.UploadParts(ctx, again, map[string]string{"w.bin": path}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if v, err := c.CompleteUpload(ctx, "early", 1, ticket.UploadID); err != nil || v.Status != registry.StatusReady {
		t.Fatalf("complete: %+v, %v", v, err)
	}
}

// TestCollectArtifactsFollowsLinks: a directory of symlinks (a Hugging Face
// snapshot) uploads the files they point at; a directory with no files is
// refused instead of registering a version that waits forever.
func TestCollectArtifactsFollowsLinks(t *testing.T) {
	blobs, snap := t.TempDir(), t.TempDir()
	target := writeFile(t, blobs, "abc123", []byte("weights"))
	writeFile(t, snap, "config.json", []byte("{}"))
	if err := os.Symlink(target, filepath.Join(snap, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	files, err := collectArtifacts([]string{snap})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.path)
	}
	if strings.Join(paths, ",") != "config.json,model.safetensors" {
		t.Fatalf("collected %v", paths)
	}
	if _, err := collectArtifacts([]string{t.TempDir()}); exitCode(err) != exitUsage {
		t.Fatalf("an empty directory: %v, want a usage error", err)
	}
}

// A decomposed file name (as macOS HFS+ gives) goes up under its NFC form,
// the only form the registry accepts.
func TestCollectArtifactsNormalizesToNFC(t *testing.T) {
	dir := t.TempDir()
	nfd := "cafe\u0301.bin" // e + combining acute
	if err := os.WriteFile(filepath.Join(dir, nfd), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := collectArtifacts([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].path != "caf\u00e9.bin" {
		t.Fatalf("paths = %+v, want the NFC name caf\u00e9.bin", files)
	}
}
