package filesystem

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// traversalSetup returns Artifacts whose root lies next to a directory
// "outside" holding secret.txt, and a check that nothing but the root
// changed.
func traversalSetup(t *testing.T) (a *Artifacts, srvURL, outside string, check func()) {
	t.Helper()
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP-SECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, srv := newServer(t, filepath.Join(base, "root"))
	check = func() {
		t.Helper()
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(base, p)
			switch {
			case rel == "." || rel == "root" || strings.HasPrefix(rel, "root"+string(filepath.Separator)):
			case rel == "outside" || rel == filepath.Join("outside", "secret.txt"):
			case strings.HasPrefix(rel, filepath.Join("outside", "link")):
			default:
				t.Errorf("created outside the root: %s", rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(outside, "secret.txt")); string(b) != "TOP-SECRET" {
			t.Errorf("secret.txt changed: %q", b)
		}
		if _, err := os.Stat("/tmp/modelreg-escape"); err == nil {
			t.Errorf("/tmp/modelreg-escape was created")
		}
	}
	return a, srv.URL, outside, check
}

var (
	badPaths = []string{
		"..", ".", "../escape", "../../../../escape", strings.Repeat("../", 16) + "tmp/modelreg-escape",
		"/tmp/modelreg-escape", "a/../../../../escape", "a/./b", "a//b", `..\..\escape`, "a/b/../../../../../escape",
		"../outside/secret.txt", "", "a/\x00b",
	}
	badModels = []string{"..", ".", "../escape", "a/b", "/tmp", ""}
	badIDs    = []string{"..", "../../escape", "a/b", "", "/tmp/x"}
)

// TestAdapterRejectsTraversal: every method refuses names that could
// leave the root, before touching the disk.
func TestAdapterRejectsTraversal(t *testing.T) {
	a, _, _, check := traversalSetup(t)
	ctx := t.Context()
	good := registry.UploadSession{ID: registry.NewID(time.Now()), Model: "m", Version: 1}
	f := registry.UploadFile{Path: "ok.bin", Size: 4, SHA256: strings.Repeat("0", 64), PartSize: 4, Parts: 1}
	type call struct {
		s registry.UploadSession
		f registry.UploadFile
	}
	var calls []call
	for _, p := range badPaths {
		bf := f
		bf.Path = p
		calls = append(calls, call{good, bf})
	}
	for _, m := range badModels {
		s := good
		s.Model = m
		calls = append(calls, call{s, f})
	}
	for _, id := range badIDs {
		s := good
		s.ID = id
		calls = append(calls, call{s, f})
	}
	for _, c := range calls {
		_, err1 := a.Begin(ctx, c.s, c.f)
		_, err2 := a.PresignPart(ctx, c.s, c.f, 1, time.Now().Add(time.Hour))
		_, err3 := a.UploadedParts(ctx, c.s, c.f)
		err4 := a.Complete(ctx, c.s, c.f)
		err5 := a.Abort(ctx, c.s, c.f)
		_, err6 := a.PresignDownload(ctx, c.s.Model, c.s.Version, c.f.Path, time.Now().Add(time.Hour))
		for i, err := range []error{err1, err2, err3, err4, err5} {
			if !registry.IsCode(err, registry.Invalid) {
				t.Errorf("method %d with id %q model %q path %q: %v, want invalid", i+1, c.s.ID, c.s.Model, c.f.Path, err)
			}
		}
		if c.s.ID == good.ID && !registry.IsCode(err6, registry.Invalid) {
			t.Errorf("PresignDownload(%q, %q): %v, want invalid", c.s.Model, c.f.Path, err6)
		}
	}
	check()
}

// TestHandlerRejectsTraversal sends validly signed requests whose fields
// try to leave the root, as a leaked secret or a bug in the signer would.
func TestHandlerRejectsTraversal(t *testing.T) {
	a, srvURL, _, check := traversalSetup(t)
	exp := time.Now().Add(time.Hour).Unix()
	put := claims{Op: opPutPart, Upload: registry.NewID(time.Now()), Model: "m", Version: 1, Path: "ok.bin",
		Part: 1, Size: 4, ContentType: partContentType, Expires: exp}
	get := claims{Op: opGetFile, Model: "m", Version: 1, Path: "ok.bin", Expires: exp}
	var urls []string
	for _, p := range badPaths {
		c, g := put, get
		c.Path, g.Path = p, p
		urls = append(urls, a.signedURL(c), a.signedURL(g))
	}
	for _, m := range badModels {
		c, g := put, get
		c.Model, g.Model = m, m
		urls = append(urls, a.signedURL(c), a.signedURL(g))
	}
	for _, id := range badIDs {
		c := put
		c.Upload = id
		urls = append(urls, a.signedURL(c))
	}
	// An encoded traversal typed by hand, signed over its decoded value.
	g := get
	g.Path = "../../outside/secret.txt"
	urls = append(urls, srvURL+"/blobs/file?model=m&version=1&path=%2e%2e%2F%2E%2E%2foutside%2fsecret.txt&expires="+
		itoa(exp)+"&sig="+hex.EncodeToString(a.signature(g)))
	urls = append(urls, srvURL+"/blobs/../../outside/secret.txt", srvURL+"/blobs/%2e%2e/%2e%2e/outside/secret.txt")

	for _, u := range urls {
		method := "GET"
		if strings.Contains(u, "/part?") {
			method = "PUT"
		}
		req, _ := http.NewRequest(method, u, bytes.NewReader([]byte("evil")))
		req.Header.Set("Content-Type", partContentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 || strings.Contains(body.String(), "TOP-SECRET") {
			t.Errorf("%s %s: %d %q, want a refusal", method, u, resp.StatusCode, body.String())
		}
	}
	check()
}

// TestSymlinkEscape: a symbolic link planted inside the root cannot lead
// reads or writes outside it (os.Root refuses to follow it out).
func TestSymlinkEscape(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	a, _, outside, check := traversalSetup(t)
	ctx := t.Context()
	// objects/evil/1 -> outside, absolute and relative.
	root := a.root.Name()
	if err := os.MkdirAll(filepath.Join(root, objectsDir, "evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, objectsDir, "evil", "1")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(filepath.Join(root, objectsDir, "evil"), outside)
	if err := os.Symlink(rel, filepath.Join(root, objectsDir, "evil", "2")); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if u, err := a.PresignDownload(ctx, "evil", v, "secret.txt", time.Now().Add(time.Hour)); err == nil {
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 || strings.Contains(body.String(), "TOP-SECRET") {
				t.Fatalf("download through a symlink: %d %q", resp.StatusCode, body.String())
			}
		}
		// Completing a file into the linked directory must not write there.
		data := []byte("evil")
		s := registry.UploadSession{ID: registry.NewID(time.Now()), Model: "evil", Version: v}
		f := registry.UploadFile{Path: "planted.bin", Size: 4, SHA256: sha256hex(data), PartSize: 4, Parts: 1}
		if _, err := a.Begin(ctx, s, f); err != nil {
			t.Fatal(err)
		}
		pr, _ := a.PresignPart(ctx, s, f, 1, time.Now().Add(time.Hour))
		req, _ := http.NewRequest("PUT", pr.URL, bytes.NewReader(data))
		req.Header.Set("Content-Type", partContentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if err := a.Complete(ctx, s, f); err == nil {
			t.Fatalf("Complete into a symlinked version %d succeeded", v)
		}
	}
	check()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
