package trackingtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// RunBlobs runs the tracking.Blobs contract suite; newBlobs returns a
// fresh, empty backend per call.
func RunBlobs(t *testing.T, newBlobs func(t *testing.T) tracking.Blobs) {
	t.Run("PutOpen", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		// 17 MiB + 3: more than one part of any backend's streaming size.
		data := make([]byte, 17<<20+3)
		for i := range data {
			data[i] = byte(i * 7)
		}
		got, err := b.PutBlob(ctx, "runs/0/r1/artifacts/model/model.pkl", onlyReader{bytes.NewReader(data)}, int64(len(data)))
		sum := sha256.Sum256(data)
		if err != nil || got.Size != int64(len(data)) || got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("PutBlob = %+v, %v", got, err)
		}
		rc, err := b.OpenBlob(ctx, "runs/0/r1/artifacts/model/model.pkl", 0)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(back, data) {
			t.Fatalf("read back %d bytes, differ", len(back))
		}
		rc, err = b.OpenBlob(ctx, "runs/0/r1/artifacts/model/model.pkl", int64(len(data)-10))
		if err != nil {
			t.Fatal(err)
		}
		tail, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(tail, data[len(data)-10:]) {
			t.Fatalf("read from offset: %d bytes", len(tail))
		}
		if _, err := b.PutBlob(ctx, "runs/small.txt", bytes.NewReader(nil), 0); err != nil {
			t.Fatalf("empty file: %v", err)
		}
	})
	t.Run("Replace", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		for _, s := range []string{"first", "second"} {
			if _, err := b.PutBlob(ctx, "runs/x/f.txt", bytes.NewReader([]byte(s)), -1); err != nil {
				t.Fatal(err)
			}
		}
		// A short body and a cut one leave the last complete file.
		if _, err := b.PutBlob(ctx, "runs/x/f.txt", bytes.NewReader([]byte("th")), 5); !registry.IsCode(err, registry.Invalid) {
			t.Fatalf("short body: %v, want Invalid", err)
		}
		if _, err := b.PutBlob(ctx, "runs/x/f.txt", io.MultiReader(bytes.NewReader([]byte("abc")), errReader{}), -1); err == nil {
			t.Fatal("cut body stored")
		}
		rc, err := b.OpenBlob(ctx, "runs/x/f.txt", 0)
		if err != nil {
			t.Fatal(err)
		}
		back, _ := io.ReadAll(rc)
		rc.Close()
		if string(back) != "second" {
			t.Fatalf("after failed puts: %q", back)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		if _, err := b.OpenBlob(ctx, "runs/missing", 0); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("missing: %v", err)
		}
		for _, k := range []string{"objects/m/1/x", "runs/../objects/m", "runs/a//b", "runs/"} {
			if _, err := b.PutBlob(ctx, k, bytes.NewReader(nil), 0); !registry.IsCode(err, registry.Invalid) {
				t.Errorf("key %q: %v, want Invalid", k, err)
			}
		}
	})
}

// onlyReader hides every method but Read (a request body).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
