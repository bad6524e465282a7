package trackingtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

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

// RunBlobUploads runs the contract suite of tracking.Blobs' multipart
// uploads; newBlobs returns a fresh, empty backend per call, whose
// presigned part requests http.DefaultClient can send.
func RunBlobUploads(t *testing.T, newBlobs func(t *testing.T) tracking.Blobs) {
	// Parts of 5 MiB (S3's least but for the last) and a short last one.
	data := make([]byte, 10<<20+12345)
	for i := range data {
		data[i] = byte(i*31 + i>>13)
	}
	chunk := func(n int) []byte { return data[min(len(data), (n-1)*(5<<20)):min(len(data), n*(5<<20))] }
	const key = "runs/0/r1/artifacts/big/weights.bin"
	send := func(t *testing.T, b tracking.Blobs, id string, n int, body []byte) (int, string) {
		t.Helper()
		pr, err := b.PresignBlobPart(t.Context(), key, id, n, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("presign part %d: %v", n, err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), pr.Method, pr.URL, bytes.NewReader(body))
		for k, v := range pr.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	upload := func(t *testing.T, b tracking.Blobs, id string, nums ...int) []tracking.BlobPart {
		t.Helper()
		parts := make([]tracking.BlobPart, 3)
		for _, n := range nums {
			st, etag := send(t, b, id, n, chunk(n))
			if st != 200 || etag == "" {
				t.Fatalf("part %d: status %d, ETag %q", n, st, etag)
			}
			parts[n-1] = tracking.BlobPart{Number: n, ETag: etag}
		}
		return parts
	}
	read := func(t *testing.T, b tracking.Blobs) []byte {
		t.Helper()
		rc, err := b.OpenBlob(t.Context(), key, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		back, _ := io.ReadAll(rc)
		return back
	}
	t.Run("Complete", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		if _, err := b.PutBlob(ctx, key, bytes.NewReader([]byte("old")), 3); err != nil {
			t.Fatal(err)
		}
		id, err := b.CreateBlobUpload(ctx, key, 3)
		if err != nil {
			t.Fatal(err)
		}
		// Out of order, part 2 sent twice: the last one counts.
		parts := upload(t, b, id, 3, 1)
		if st, _ := send(t, b, id, 2, bytes.Repeat([]byte("x"), 5<<20)); st != 200 {
			t.Fatalf("part 2: %d", st)
		}
		parts[1] = upload(t, b, id, 2)[1]
		// Listed out of order: Invalid, and the upload stays.
		swapped := []tracking.BlobPart{parts[1], parts[0], parts[2]}
		if _, err := b.CompleteBlobUpload(ctx, key, id, swapped); !registry.IsCode(err, registry.Invalid) {
			t.Fatalf("parts out of order: %v, want Invalid", err)
		}
		// A listed ETag that is not the part's: Invalid.
		bad := append([]tracking.BlobPart(nil), parts...)
		bad[0].ETag = `"0123"`
		if _, err := b.CompleteBlobUpload(ctx, key, id, bad); !registry.IsCode(err, registry.Invalid) {
			t.Fatalf("wrong ETag: %v, want Invalid", err)
		}
		if got := read(t, b); string(got) != "old" {
			t.Fatalf("a refused completion changed the file: %d bytes", len(got))
		}
		got, err := b.CompleteBlobUpload(ctx, key, id, parts)
		sum := sha256.Sum256(data)
		if err != nil || got.Size != int64(len(data)) || got.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("complete = %+v, %v; want %d bytes, %x", got, err, len(data), sum)
		}
		if back := read(t, b); !bytes.Equal(back, data) {
			t.Fatalf("read back %d bytes, differ", len(back))
		}
		// Done: completing again or sending a part finds no upload;
		// aborting it is no error and leaves the file.
		if _, err := b.CompleteBlobUpload(ctx, key, id, parts); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("second complete: %v, want NotFound", err)
		}
		if err := b.AbortBlobUpload(ctx, key, id); err != nil {
			t.Fatalf("abort after complete: %v", err)
		}
		if back := read(t, b); !bytes.Equal(back, data) {
			t.Fatal("abort after complete changed the file")
		}
	})
	t.Run("MissingPart", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		id, err := b.CreateBlobUpload(ctx, key, 3)
		if err != nil {
			t.Fatal(err)
		}
		parts := upload(t, b, id, 1, 3)
		parts[1] = tracking.BlobPart{Number: 2}
		if _, err := b.CompleteBlobUpload(ctx, key, id, parts); !registry.IsCode(err, registry.Invalid) {
			t.Fatalf("missing part: %v, want Invalid", err)
		}
		if _, err := b.OpenBlob(ctx, key, 0); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("a refused completion stored a file: %v", err)
		}
		parts[1] = upload(t, b, id, 2)[1]
		if got, err := b.CompleteBlobUpload(ctx, key, id, parts); err != nil || got.Size != int64(len(data)) {
			t.Fatalf("complete once the part came: %+v, %v", got, err)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		id, err := b.CreateBlobUpload(ctx, key, 3)
		if err != nil {
			t.Fatal(err)
		}
		parts := upload(t, b, id, 1, 2, 3)
		if err := b.AbortBlobUpload(ctx, key, id); err != nil {
			t.Fatal(err)
		}
		if err := b.AbortBlobUpload(ctx, key, id); err != nil {
			t.Fatalf("second abort: %v", err)
		}
		if _, err := b.CompleteBlobUpload(ctx, key, id, parts); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("complete after abort: %v, want NotFound", err)
		}
		// Refused when presigned (NotFound), or when sent.
		if _, err := b.PresignBlobPart(ctx, key, id, 1, time.Now().Add(time.Hour)); err == nil {
			if st, _ := send(t, b, id, 1, chunk(1)); st/100 == 2 {
				t.Fatalf("a part of an aborted upload was accepted: %d", st)
			}
		} else if !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("presign a part of an aborted upload: %v, want NotFound", err)
		}
		if _, err := b.OpenBlob(ctx, key, 0); !registry.IsCode(err, registry.NotFound) {
			t.Fatalf("aborted upload stored a file: %v", err)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		b := newBlobs(t)
		ctx := t.Context()
		for _, n := range []int{0, -1, registry.MaxParts + 1} {
			if _, err := b.CreateBlobUpload(ctx, key, n); !registry.IsCode(err, registry.Invalid) {
				t.Errorf("%d parts: %v, want Invalid", n, err)
			}
		}
		for _, k := range []string{"objects/m/1/x", "runs/../objects/m", "runs/"} {
			if _, err := b.CreateBlobUpload(ctx, k, 1); !registry.IsCode(err, registry.Invalid) {
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
