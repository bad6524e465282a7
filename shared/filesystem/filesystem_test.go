package filesystem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// newServer returns Artifacts under root behind a test server that mounts
// its Handler at /blobs/, as the local server does.
func newServer(t testing.TB, root string) (*Artifacts, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a, err := New(root, srv.URL, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	mux.Handle("/blobs/", a.Handler())
	return a, srv
}

func TestContract(t *testing.T) {
	artifacttest.Run(t, func(t *testing.T) registry.Artifacts {
		a, _ := newServer(t, t.TempDir())
		return a
	})
}

// fixture is one small file's upload.
type fixture struct {
	a    *Artifacts
	srv  *httptest.Server
	s    registry.UploadSession
	f    registry.UploadFile
	data []byte
}

func newFixture(t *testing.T, data []byte, partSize int64) *fixture {
	t.Helper()
	a, srv := newServer(t, t.TempDir())
	sum := sha256.Sum256(data)
	size := int64(len(data))
	if partSize == 0 {
		partSize = max(size, 1)
	}
	fx := &fixture{a: a, srv: srv, data: data,
		s: registry.UploadSession{ID: registry.NewID(time.Now()), Model: "m", Version: 1},
		f: registry.UploadFile{Path: "dir/f.bin", Size: size, SHA256: hex.EncodeToString(sum[:]),
			PartSize: partSize, Parts: registry.PartCount(size, partSize)}}
	if _, err := a.Begin(t.Context(), fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
	return fx
}

func (fx *fixture) presign(t *testing.T, n int) registry.PartRequest {
	t.Helper()
	pr, err := fx.a.PresignPart(t.Context(), fx.s, fx.f, n, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

func (fx *fixture) body(n int) []byte {
	off, size := registry.PartRange(fx.f.Size, fx.f.PartSize, n)
	return fx.data[off : off+size]
}

// do sends a request and returns its status and decoded JSON error.
func do(t *testing.T, method, url string, hdr map[string]string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string }
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, e.Error.Message
}

func (fx *fixture) parts(t *testing.T) []int {
	t.Helper()
	got, err := fx.a.UploadedParts(t.Context(), fx.s, fx.f)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestBeginPreallocates(t *testing.T) {
	fx := newFixture(t, make([]byte, 3<<20), 1<<20)
	key := uploadKey(fx.s.ID, fx.f.Path)
	fi, err := fx.a.root.Stat(filepath.Join(key, dataFile))
	if err != nil || fi.Size() != 3<<20 {
		t.Fatalf("data file: %v, %v; want %d bytes", fi, err, 3<<20)
	}
	if _, err := fx.a.Begin(t.Context(), fx.s, fx.f); err != nil {
		t.Fatalf("second Begin: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	fx := newFixture(t, []byte("0123456789abcdef"), 0)
	pr := fx.presign(t, 1)
	ct := map[string]string{"Content-Type": partContentType}
	tampered := strings.Replace(pr.URL, "sig=", "sig=00", 1)
	expired, _ := fx.a.PresignPart(t.Context(), fx.s, fx.f, 1, time.Now().Add(-time.Second*2))
	dig := fx.f
	dig.PartSHA256 = []string{strings.Repeat("ab", 32)}
	digPR, _ := fx.a.PresignPart(t.Context(), fx.s, dig, 1, time.Now().Add(time.Hour))

	for _, tc := range []struct {
		name, method, url string
		hdr               map[string]string
		body              []byte
		status            int
		code, msg         string
	}{
		{"tampered signature", "PUT", tampered, ct, fx.data, 403, "forbidden", "signature"},
		{"expired", "PUT", expired.URL, ct, fx.data, 403, "forbidden", "expired"},
		{"other content type", "PUT", pr.URL, map[string]string{"Content-Type": "text/plain"}, fx.data, 403, "forbidden", "Content-Type"},
		{"no content type", "PUT", pr.URL, nil, fx.data, 403, "forbidden", "Content-Type"},
		{"short body", "PUT", pr.URL, ct, fx.data[1:], 400, "invalid", "Content-Length"},
		{"long body", "PUT", pr.URL, ct, append(slices.Clip(fx.data), 'x'), 400, "invalid", "Content-Length"},
		{"digest mismatch", "PUT", digPR.URL, ct, fx.data, 400, "invalid", "sha256 mismatch"},
		{"extra parameter", "PUT", pr.URL + "&x=1", ct, fx.data, 403, "forbidden", "unexpected"},
		{"repeated parameter", "PUT", pr.URL + "&part=1", ct, fx.data, 403, "forbidden", "repeats"},
		{"wrong method", "GET", pr.URL, nil, nil, 405, "invalid", "PUT"},
		{"download with an upload URL", "GET", strings.Replace(pr.URL, "/part?", "/file?", 1), nil, nil, 403, "forbidden", ""},
		{"unknown route", "GET", fx.srv.URL + "/blobs/nope", nil, nil, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := do(t, tc.method, tc.url, tc.hdr, tc.body)
			if status != tc.status || code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %d %s %q, want %d %s containing %q", status, code, msg, tc.status, tc.code, tc.msg)
			}
			if got := fx.parts(t); len(got) != 0 {
				t.Fatalf("UploadedParts = %v after a refused request", got)
			}
		})
	}

	// After Abort, the URL has nowhere to write.
	if err := fx.a.Abort(t.Context(), fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
	if status, code, _ := do(t, "PUT", pr.URL, ct, fx.data); status != 404 || code != "not_found" {
		t.Fatalf("PUT after Abort: %d %s, want 404 not_found", status, code)
	}
}

// TestCutBody checks that a part whose body stops short is not marked.
func TestCutBody(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 4<<20)
	fx := newFixture(t, data, 0)
	pr := fx.presign(t, 1)
	conn, err := net.Dial("tcp", fx.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		strings.TrimPrefix(pr.URL, fx.srv.URL), partContentType, len(data))
	conn.Write(data[:len(data)/2])
	waitWriters(t, fx.a, 1)
	conn.Close()
	waitWriters(t, fx.a, 0)
	if got := fx.parts(t); len(got) != 0 {
		t.Fatalf("UploadedParts = %v after a cut body", got)
	}
}

// waitWriters waits until n part uploads are in progress in a.
func waitWriters(t *testing.T, a *Artifacts, n int) {
	t.Helper()
	for range 500 {
		a.mu.Lock()
		w := 0
		for _, st := range a.files {
			w += st.writers
		}
		a.mu.Unlock()
		if w == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d writers never seen", n)
}

// TestCompleteWhileWriting checks that Complete does not verify a file
// whose part is still being written (the bytes could change after the
// check), and succeeds once it is done.
func TestCompleteWhileWriting(t *testing.T) {
	data := bytes.Repeat([]byte("y"), 2<<20)
	fx := newFixture(t, data, 0)
	pr := fx.presign(t, 1)
	pipeR, pipeW := io.Pipe()
	req, _ := http.NewRequest("PUT", pr.URL, pipeR)
	req.ContentLength = int64(len(data))
	req.Header.Set("Content-Type", partContentType)
	done := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pipeW.Write(data[:1<<20])
	waitWriters(t, fx.a, 1)
	if err := fx.a.Complete(t.Context(), fx.s, fx.f); !registry.IsCode(err, registry.Unavailable) {
		t.Fatalf("Complete during a part upload: %v, want unavailable", err)
	}
	pipeW.Write(data[1<<20:])
	pipeW.Close()
	if status := <-done; status != 200 {
		t.Fatalf("part upload: status %d", status)
	}
	if err := fx.a.Complete(t.Context(), fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
}

// TestCrashAfterLink simulates a crash between Complete's link and its
// clean-up: the data file is the final file.
func TestCrashAfterLink(t *testing.T) {
	data := []byte("the model's bytes")
	fx := newFixture(t, data, 0)
	pr := fx.presign(t, 1)
	ct := map[string]string{"Content-Type": partContentType}
	if status, _, msg := do(t, "PUT", pr.URL, ct, data); status != 200 {
		t.Fatalf("PUT: %d %s", status, msg)
	}
	key, final := uploadKey(fx.s.ID, fx.f.Path), objectName(fx.s.Model, fx.s.Version, fx.f.Path)
	if err := fx.a.makeParents(final, fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
	if err := fx.a.root.Link(filepath.Join(key, dataFile), final); err != nil {
		t.Fatal(err)
	}
	other := bytes.ToUpper(data)
	if status, code, _ := do(t, "PUT", pr.URL, ct, other); status != 409 || code != "conflict" {
		t.Fatalf("PUT into a linked upload: %d %s, want 409 conflict", status, code)
	}
	if err := fx.a.Complete(t.Context(), fx.s, fx.f); err != nil {
		t.Fatalf("Complete after the crash: %v", err)
	}
	if got, _ := fx.a.root.ReadFile(final); !bytes.Equal(got, data) {
		t.Fatalf("final file = %q, want %q", got, data)
	}
	if _, err := fx.a.root.Stat(key); !os.IsNotExist(err) {
		t.Fatalf("upload directory left behind: %v", err)
	}
}

// TestRestart checks that received parts survive a new Artifacts on the
// same root, and that the trash is emptied.
func TestRestart(t *testing.T) {
	data := bytes.Repeat([]byte("z"), 3<<20)
	fx := newFixture(t, data, 1<<20)
	if status, _, msg := do(t, "PUT", fx.presign(t, 2).URL, map[string]string{"Content-Type": partContentType}, fx.body(2)); status != 200 {
		t.Fatalf("PUT: %d %s", status, msg)
	}
	root := fx.a.root.Name()
	if err := fx.a.root.WriteFile(filepath.Join(trashDir, "leftover"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := newServer(t, root)
	got, err := b.UploadedParts(t.Context(), fx.s, fx.f)
	if err != nil || !slices.Equal(got, []int{2}) {
		t.Fatalf("UploadedParts after restart = %v, %v; want [2]", got, err)
	}
	if _, err := os.Stat(filepath.Join(root, trashDir, "leftover")); !os.IsNotExist(err) {
		t.Fatalf("trash not emptied: %v", err)
	}
}

// BenchmarkPutPart measures one 16 MiB part through the handler: read,
// hash, write in place and fsync.
func BenchmarkPutPart(b *testing.B) {
	const size = 16 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	a, err := New(b.TempDir(), "http://127.0.0.1:1", testSecret)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	sum := sha256.Sum256(data)
	s := registry.UploadSession{ID: registry.NewID(time.Now()), Model: "bench", Version: 1}
	f := registry.UploadFile{Path: "part.bin", Size: size, SHA256: hex.EncodeToString(sum[:]), PartSize: size, Parts: 1}
	ctx := context.Background()
	if _, err := a.Begin(ctx, s, f); err != nil {
		b.Fatal(err)
	}
	pr, err := a.PresignPart(ctx, s, f, 1, time.Now().Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler()
	b.SetBytes(size)
	for b.Loop() {
		req := httptest.NewRequest("PUT", pr.URL, bytes.NewReader(data))
		req.Header.Set("Content-Type", partContentType)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
