package filesystem

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestDiscardDirectory: an abandoned session completed a/b.bin; the next
// one declares the file "a". The service discards both paths, in either
// order; then "a" must complete.
func TestDiscardDirectory(t *testing.T) {
	for _, order := range [][]string{{"a", "a/b.bin"}, {"a/b.bin", "a"}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			a, _ := newServer(t, t.TempDir())
			up := func(path string, data []byte) (registry.UploadSession, registry.UploadFile) {
				sum := sha256.Sum256(data)
				s := registry.UploadSession{ID: registry.NewID(time.Now()), Model: "m", Version: 1}
				f := registry.UploadFile{Path: path, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), PartSize: int64(len(data)), Parts: 1}
				if _, err := a.Begin(t.Context(), s, f); err != nil {
					t.Fatal(err)
				}
				if st := sendPart(t, a, s, f, data, 1); st != http.StatusOK {
					t.Fatal(st)
				}
				return s, f
			}
			s1, f1 := up("a/b.bin", []byte("old layout"))
			if err := a.Complete(t.Context(), s1, f1); err != nil {
				t.Fatal(err)
			}
			for _, p := range order {
				if err := a.Discard(t.Context(), "m", 1, p); err != nil {
					t.Fatalf("Discard(%s): %v", p, err)
				}
			}
			if _, err := a.PresignDownload(t.Context(), "m", 1, "a/b.bin", time.Now().Add(time.Hour)); !registry.IsCode(err, registry.NotFound) {
				t.Fatalf("a/b.bin after the discards: %v, want NotFound", err)
			}
			s2, f2 := up("a", []byte("new layout"))
			if err := a.Complete(t.Context(), s2, f2); err != nil {
				t.Fatalf("Complete(a) after the discards: %v", err)
			}
		})
	}
}

// TestNamesNeverMeetOnDisk: models and paths that differ only in case or
// in Unicode form stay apart on disks that fold both (macOS, Windows).
func TestNamesNeverMeetOnDisk(t *testing.T) {
	names := map[string]string{}
	for _, c := range []struct{ model, path string }{
		{"Bert", "model.bin"}, {"bert", "model.bin"}, {"BERT", "model.bin"},
		{"bert", "Model.bin"}, {"bert", "dir/Model.bin"}, {"bert", "Dir/model.bin"},
		{"bert", "caf\u00e9.txt"}, {"bert", "cafe\u0301.txt"}, {"bert", "!x"}, {"bert", "%21x"},
	} {
		folded := strings.ToLower(objectName(c.model, 1, c.path))
		if prev, ok := names[folded]; ok {
			t.Errorf("%s/%s and %s land on the same name %s", c.model, c.path, prev, folded)
		}
		names[folded] = c.model + "/" + c.path
	}
	// Both models keep their own file.
	a, _ := newServer(t, t.TempDir())
	for _, model := range []string{"Bert", "bert"} {
		data := []byte("weights of " + model)
		sum := sha256.Sum256(data)
		s := registry.UploadSession{ID: registry.NewID(time.Now()), Model: model, Version: 1}
		f := registry.UploadFile{Path: "model.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), PartSize: int64(len(data)), Parts: 1}
		if _, err := a.Begin(t.Context(), s, f); err != nil {
			t.Fatal(err)
		}
		if st := sendPart(t, a, s, f, data, 1); st != http.StatusOK {
			t.Fatal(st)
		}
		if err := a.Complete(t.Context(), s, f); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
	}
	if err := a.Discard(t.Context(), "bert", 1, "model.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PresignDownload(t.Context(), "Bert", 1, "model.bin", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("discarding bert's file touched Bert's: %v", err)
	}
}
