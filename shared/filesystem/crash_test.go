package filesystem

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
)

const crashRootEnv = "FILESYSTEM_CRASH_ROOT"

// crashUpload is the upload the crash test's child process makes: three
// parts of 1 MiB.
func crashUpload(id string) (registry.UploadSession, registry.UploadFile, []byte) {
	data := bytes.Repeat([]byte("crash-me"), 3<<20/8)
	sum := sha256.Sum256(data)
	return registry.UploadSession{ID: id, Model: "m", Version: 1},
		registry.UploadFile{Path: "c.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), PartSize: 1 << 20, Parts: 3},
		data
}

func sendPart(t *testing.T, a *Artifacts, s registry.UploadSession, f registry.UploadFile, data []byte, n int) int {
	t.Helper()
	pr, err := a.PresignPart(t.Context(), s, f, n, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(pr.Method, pr.URL, bytes.NewReader(data[pr.Offset:pr.Offset+pr.Size]))
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCrashMidPart kills a child process halfway through part 2 (the
// artifacts.mid-part failpoint) and checks, in a fresh Artifacts on the
// same root, that part 1 survived, part 2 is not marked, and the upload
// can be finished.
func TestCrashMidPart(t *testing.T) {
	if root := os.Getenv(crashRootEnv); root != "" {
		// The child: part 1 passes the failpoint once, part 2 dies in it.
		a, _ := newServer(t, root)
		s, f, data := crashUpload(os.Getenv(crashRootEnv + "_ID"))
		if _, err := a.Begin(t.Context(), s, f); err != nil {
			t.Fatal(err)
		}
		sendPart(t, a, s, f, data, 1)
		sendPart(t, a, s, f, data, 2)
		t.Fatal("still alive after the failpoint")
	}
	if runtime.GOOS == "windows" {
		t.Skip("failpoints kill with SIGKILL")
	}
	root, id := t.TempDir(), registry.NewID(time.Now())
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashMidPart$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashRootEnv+"="+root, crashRootEnv+"_ID="+id,
		failpoint.Env+"="+failpoint.ArtifactsMidPart+"=2")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}

	a, _ := newServer(t, root)
	s, f, data := crashUpload(id)
	got, err := a.UploadedParts(t.Context(), s, f)
	if err != nil || !slices.Equal(got, []int{1}) {
		t.Fatalf("UploadedParts after the crash = %v, %v; want [1]", got, err)
	}
	for _, n := range []int{2, 3} {
		if status := sendPart(t, a, s, f, data, n); status != 200 {
			t.Fatalf("part %d after the crash: status %d", n, status)
		}
	}
	if err := a.Complete(t.Context(), s, f); err != nil {
		t.Fatalf("Complete after the crash: %v", err)
	}
}

// TestFailedResendUnmarks: a part being sent again is not counted until
// its new bytes are durable, so a refused resend leaves it unmarked (after
// a crash, a marker always means the bytes on disk are the part's).
func TestFailedResendUnmarks(t *testing.T) {
	root := t.TempDir()
	a, _ := newServer(t, root)
	s, f, data := crashUpload(registry.NewID(time.Now()))
	for n := 1; n <= f.Parts; n++ {
		sum := sha256.Sum256(data[(n-1)<<20 : n<<20])
		f.PartSHA256 = append(f.PartSHA256, hex.EncodeToString(sum[:]))
	}
	if _, err := a.Begin(t.Context(), s, f); err != nil {
		t.Fatal(err)
	}
	if status := sendPart(t, a, s, f, data, 2); status != 200 {
		t.Fatalf("part 2: %d", status)
	}
	wrong := bytes.ToUpper(data)
	if status := sendPart(t, a, s, f, wrong, 2); status != 400 {
		t.Fatalf("part 2 with the wrong digest: %d, want 400", status)
	}
	if got, _ := a.UploadedParts(t.Context(), s, f); len(got) != 0 {
		t.Fatalf("UploadedParts = %v after a refused resend, want none", got)
	}
}
