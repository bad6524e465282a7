package filesystem

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

const mib = 1 << 20

// spaceFile is a file of size bytes in one part (the parts do not matter
// to the space check).
func spaceFile(path string, size int64) registry.UploadFile {
	return registry.UploadFile{Path: path, Size: size, SHA256: strings.Repeat("0", 64), PartSize: max(size, 1), Parts: 1}
}

func spaceSession() registry.UploadSession {
	return registry.UploadSession{ID: registry.NewID(time.Now()), Model: "m", Version: 1}
}

// withFree returns Artifacts whose disk has free bytes, whatever the real
// disk has.
func withFree(t *testing.T, free int64) *Artifacts {
	t.Helper()
	a, _ := newServer(t, t.TempDir())
	a.SetFreeSpace(func() (int64, error) { return free, nil })
	return a
}

func TestBeginRefusesWhatDoesNotFit(t *testing.T) {
	ctx := t.Context()
	t.Run("5 TiB on a small disk", func(t *testing.T) {
		a := withFree(t, 75<<30)
		s, f := spaceSession(), spaceFile("huge.bin", 5<<40)
		_, err := a.Begin(ctx, s, f)
		if !registry.IsCode(err, registry.InsufficientStorage) {
			t.Fatalf("Begin = %v, want InsufficientStorage", err)
		}
		msg := registry.ErrorMessage(err)
		for _, want := range []string{"needs 5.0 TiB", "huge.bin", "has 75.0 GiB free", "keeps 1.0 GiB free"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q lacks %q", msg, want)
			}
		}
		// Nothing was created: no 5 TiB sparse file.
		if _, err := a.root.Stat(uploadKey(s.ID, f.Path)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("upload directory left behind: %v", err)
		}
	})
	t.Run("the margin is kept", func(t *testing.T) {
		a := withFree(t, KeepFree+10*mib)
		if _, err := a.Begin(ctx, spaceSession(), spaceFile("fits.bin", 10*mib)); err != nil {
			t.Fatalf("a file leaving exactly KeepFree refused: %v", err)
		}
		if _, err := a.Begin(ctx, spaceSession(), spaceFile("over.bin", 1)); !registry.IsCode(err, registry.InsufficientStorage) {
			t.Fatalf("a byte past the margin: %v, want InsufficientStorage", err)
		}
	})
	t.Run("a session counts all its files", func(t *testing.T) {
		a := withFree(t, KeepFree+10*mib)
		s := spaceSession()
		if _, err := a.Begin(ctx, s, spaceFile("a.bin", 6*mib)); err != nil {
			t.Fatal(err)
		}
		_, err := a.Begin(ctx, s, spaceFile("b.bin", 6*mib))
		if !registry.IsCode(err, registry.InsufficientStorage) {
			t.Fatalf("two files of 6 MiB on 10 MiB: %v, want InsufficientStorage", err)
		}
		if msg := registry.ErrorMessage(err); !strings.Contains(msg, "needs 12.0 MiB (6.0 MiB for b.bin, 6.0 MiB for the files before it)") {
			t.Errorf("message %q does not give the session's total", msg)
		}
	})
	t.Run("other uploads in progress hold their space", func(t *testing.T) {
		a := withFree(t, KeepFree+10*mib)
		if _, err := a.Begin(ctx, spaceSession(), spaceFile("first.bin", 8*mib)); err != nil {
			t.Fatal(err)
		}
		_, err := a.Begin(ctx, spaceSession(), spaceFile("second.bin", 4*mib))
		if !registry.IsCode(err, registry.InsufficientStorage) {
			t.Fatalf("a second session past the free space: %v, want InsufficientStorage", err)
		}
		if msg := registry.ErrorMessage(err); !strings.Contains(msg, "other uploads in progress will take 8.0 MiB") {
			t.Errorf("message %q does not say what other uploads hold", msg)
		}
	})
	t.Run("begun already, or empty", func(t *testing.T) {
		free := int64(KeepFree + 10*mib)
		a, _ := newServer(t, t.TempDir())
		a.SetFreeSpace(func() (int64, error) { return free, nil })
		s, f := spaceSession(), spaceFile("a.bin", 8*mib)
		if _, err := a.Begin(ctx, s, f); err != nil {
			t.Fatal(err)
		}
		free = 0 // the disk filled up since
		if _, err := a.Begin(ctx, s, f); err != nil {
			t.Errorf("Begin again of a begun file: %v, want nil (it changes nothing)", err)
		}
		if _, err := a.Begin(ctx, s, spaceFile("empty.bin", 0)); err != nil {
			t.Errorf("an empty file: %v", err)
		}
	})
	t.Run("the free space cannot be read", func(t *testing.T) {
		a, _ := newServer(t, t.TempDir())
		a.SetFreeSpace(func() (int64, error) { return 0, errors.New("statfs: input/output error") })
		_, err := a.Begin(ctx, spaceSession(), spaceFile("a.bin", 1))
		if !registry.IsCode(err, registry.Internal) || !strings.Contains(err.Error(), "input/output error") {
			t.Errorf("Begin = %v, want Internal with the cause", err)
		}
	})
}

// TestPromisedSpaceShrinksAsPartsArrive checks that a begun upload counts
// only the bytes still to come: the bytes written are in the disk's free
// space already.
func TestPromisedSpaceShrinksAsPartsArrive(t *testing.T) {
	data := make([]byte, 8*mib)
	for i := range data {
		data[i] = byte(i)
	}
	fx := newFixture(t, data, 5*mib)
	promised := func() int64 {
		fx.a.mu.Lock()
		defer fx.a.mu.Unlock()
		session, others, err := fx.a.promisedLocked("another", "")
		if err != nil {
			t.Fatal(err)
		}
		if session != 0 {
			t.Fatalf("session %q promised %d bytes", "another", session)
		}
		return others
	}
	before := promised()
	if before < 7*mib {
		t.Skipf("this disk does not keep sparse files (%d of %d bytes promised)", before, len(data))
	}
	pr := fx.presign(t, 1)
	if status, code, msg := do(t, pr.Method, pr.URL, pr.Headers, fx.body(1)); status != 200 {
		t.Fatalf("part 1: %d %s %s", status, code, msg)
	}
	after := promised()
	if after > before-5*mib+64<<10 {
		t.Errorf("after a 5 MiB part, %d bytes promised; before %d", after, before)
	}
}

func TestFreeSpaceOfTheRealDisk(t *testing.T) {
	free, err := freeSpaceOf(t.TempDir())
	if errors.Is(err, errSpaceUnknown) {
		t.Skip("this system cannot tell free space")
	}
	if err != nil || free <= 0 {
		t.Fatalf("freeSpaceOf = %d, %v", free, err)
	}
	if _, err := freeSpaceOf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("no error for a missing directory")
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 75 << 30: "75.0 GiB",
		5 << 40: "5.0 TiB", 1536 * mib: "1.5 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
