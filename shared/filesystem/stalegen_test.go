package filesystem

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestStaleWriteAfterRestart: a part write whose received() call lands
// after the upload was discarded and begun again (the service's restart of
// a file: Abort + Begin on the same upload id and path) must not count for
// the new upload: otherwise the hasher hashes a range another write is
// still filling, and Complete accepts a file whose bytes do not have the
// declared SHA-256.
func TestStaleWriteAfterRestart(t *testing.T) {
	const ps = 2 << 20 // two 1 MiB copy chunks per part
	a, _ := newServer(t, t.TempDir())
	part1Good := make([]byte, ps) // first half random, second half zeros
	rand.Read(part1Good[:ps/2])
	part1Evil := append([]byte(nil), part1Good...)
	rand.Read(part1Evil[ps/2:]) // same first half, different second half
	part2 := make([]byte, 1000)
	rand.Read(part2)
	declared := append(append([]byte(nil), part1Good...), part2...)
	sum := sha256.Sum256(declared)
	s := registry.UploadSession{ID: registry.NewID(time.Now()), Model: "m", Version: 1}
	f := registry.UploadFile{Path: "w.bin", Size: int64(len(declared)), SHA256: hex.EncodeToString(sum[:]),
		PartSize: ps, Parts: 2}
	if _, err := a.Begin(t.Context(), s, f); err != nil {
		t.Fatal(err)
	}
	key := uploadKey(s.ID, f.Path)

	// W: part 1 is written and marked; its goroutine has run endWrite but not
	// yet received() (putPart calls it after writePart returns).
	c := claims{Op: opPutPart, Upload: s.ID, Model: s.Model, Version: s.Version, Path: f.Path,
		Part: 1, Offset: 0, Size: ps, ContentType: partContentType}
	_, genW, err := a.writePart(c, bytes.NewReader(part1Good))
	if err != nil {
		t.Fatal(err)
	}

	// Meanwhile: Complete fails (part 2 missing) and the service restarts
	// the file: Abort + Begin, same session, same path.
	if err := a.Complete(t.Context(), s, f); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("Complete = %v, want Invalid", err)
	}
	if err := a.Abort(t.Context(), s, f); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Begin(t.Context(), s, f); err != nil {
		t.Fatal(err)
	}

	// W': the client re-sends part 1 (other bytes) over HTTP; it stalls after
	// its first 1 MiB chunk.
	pr, err := a.PresignPart(t.Context(), s, f, 1, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pipeR, pipeW := io.Pipe()
	req, _ := http.NewRequest(pr.Method, pr.URL, pipeR)
	req.ContentLength = ps
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	done := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	pipeW.Write(part1Evil[:ps/2])
	// Wait until W' has written its first chunk (so it called rewriting()).
	data := filepath.Join(a.root.Name(), key, dataFile)
	for i := 0; ; i++ {
		b, _ := os.ReadFile(data)
		if len(b) >= ps/2 && bytes.Equal(b[:ps/2], part1Evil[:ps/2]) {
			break
		}
		if i > 500 {
			t.Fatal("W' did not start writing")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// W's late received() now runs, with its generation from the old hasher.
	a.received(key, 0, ps, genW)
	p := a.prefix(key, false)
	p.work.Lock() // wait for the drain it started
	p.mu.Lock()
	if p.hashedTo != 0 {
		t.Errorf("a write from before the restart was hashed into the new upload (hashed to %d)", p.hashedTo)
	}
	p.mu.Unlock()
	p.work.Unlock()

	// W' finishes; part 2 arrives.
	pipeW.Write(part1Evil[ps/2:])
	pipeW.Close()
	if st := <-done; st != http.StatusOK {
		t.Fatalf("W' = %d", st)
	}
	if st := sendPart(t, a, s, f, append(append([]byte(nil), part1Evil...), part2...), 2); st != http.StatusOK {
		t.Fatalf("part 2 = %d", st)
	}
	err = a.Complete(t.Context(), s, f)
	stored, _ := os.ReadFile(filepath.Join(a.root.Name(), objectName(s.Model, s.Version, f.Path)))
	got := sha256.Sum256(stored)
	if err == nil && hex.EncodeToString(got[:]) != f.SHA256 {
		t.Fatalf("Complete accepted a file whose SHA-256 (%x) is not the declared %s", got, f.SHA256)
	}
	if !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("Complete of a file holding other bytes than declared = %v, want Invalid", err)
	}
}
