package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// verifyThreshold is the server's background-verification threshold in
// these tests: an 11 MiB file (three parts) is over it.
const verifyThreshold = "MODELREG_VERIFY_ASYNC_BYTES=5242880"

// TestRegisterWaitsForVerification: with a low threshold, complete
// answers 202 with the version VERIFYING on both backends (the
// filesystem only because it is configured), and `register` and `upload`
// wait, saying so, until it is READY; a small file stays synchronous.
func TestRegisterWaitsForVerification(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, t.TempDir(), append(b.env, verifyThreshold)...)
			work := t.TempDir()
			big, bigSum := randomFile(t, work, "model.bin", 11<<20)
			s.cli(adminToken, "models", "create", "verified").must(t)

			r := s.cli(adminToken, "register", "verified", "--artifact", big, "--no-git", "--output", "json").must(t)
			var v httpapi.Version
			decode(t, r.stdout, &v)
			if v.Status != registry.StatusReady || len(v.Artifacts) != 1 || v.Artifacts[0].SHA256 != bigSum {
				t.Fatalf("register answered %+v, want READY with the file", v)
			}
			if !strings.Contains(r.stderr, "verifies its files") {
				t.Errorf("register did not say it waits for the verification:\n%s", r.stderr)
			}
			h := s.cli(adminToken, "history", "verified", "1", "--output", "json").must(t)
			if !strings.Contains(h.stdout, string(registry.ActionVerifyStarted)) {
				t.Errorf("history has no %s entry:\n%s", registry.ActionVerifyStarted, h.stdout)
			}

			// upload to a registered version waits the same way.
			s.cli(adminToken, "register", "verified", "--no-git").must(t)
			u := s.cli(adminToken, "upload", "verified", "2", big, "--output", "json").must(t)
			decode(t, u.stdout, &v)
			if v.Status != registry.StatusReady || !strings.Contains(u.stderr, "verifies its files") {
				t.Fatalf("upload answered %s (stderr %s), want READY after waiting", v.Status, u.stderr)
			}

			small, _ := randomFile(t, work, "small.bin", 1<<20)
			r = s.cli(adminToken, "register", "verified", "--artifact", small, "--no-git", "--output", "json").must(t)
			decode(t, r.stdout, &v)
			if v.Status != registry.StatusReady || strings.Contains(r.stderr, "verifies its files") {
				t.Errorf("small file: %s, stderr %s; want READY from complete itself", v.Status, r.stderr)
			}
		})
	}
}

// TestWaitVerifiedFailed: a file whose parts match their digests but
// whose whole SHA-256 is not the declared one is accepted with 202, ends
// FAILED, and the client's wait returns ErrVerifyFailed with the reason.
func TestWaitVerifiedFailed(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			s := startServer(t, t.TempDir(), append(b.env, verifyThreshold)...)
			c := noRetry(s.url)
			ctx := context.Background()
			if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "bad"}); err != nil {
				t.Fatal(err)
			}
			v, err := c.RegisterVersion(ctx, "bad", httpapi.RegisterRequest{})
			if err != nil {
				t.Fatal(err)
			}
			path, _ := randomFile(t, t.TempDir(), "model.bin", 11<<20)
			f, err := client.PrepareFile(path, "model.bin")
			if err != nil {
				t.Fatal(err)
			}
			// Three parts, each with its right digest (a single part would
			// be refused by S3 at once: its digest is the whole file's).
			body, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f.Spec.PartSize, f.Spec.PartSHA256 = registry.MinPartSize, nil
			for off := int64(0); off < int64(len(body)); off += registry.MinPartSize {
				f.Spec.PartSHA256 = append(f.Spec.PartSHA256, sum(body[off:min(off+registry.MinPartSize, int64(len(body)))]))
			}
			f.Spec.SHA256 = strings.Repeat("0", 64)
			ticket, err := c.CreateUpload(ctx, "bad", v.Number, []httpapi.FileSpec{f.Spec})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.UploadParts(ctx, ticket, map[string]string{"model.bin": path}, 4, nil); err != nil {
				t.Fatal(err)
			}
			got, err := c.CompleteUpload(ctx, "bad", v.Number, ticket.UploadID)
			if err != nil || got.Status != registry.StatusVerifying {
				t.Fatalf("complete: %s %v, want VERIFYING", got.Status, err)
			}
			got, err = c.WaitVerified(ctx, got, 50*time.Millisecond, nil)
			if !errors.Is(err, client.ErrVerifyFailed) || got.Status != registry.StatusFailed || !strings.Contains(got.StatusReason, "sha256") {
				t.Fatalf("wait: %s %q %v, want FAILED with the sha256 mismatch", got.Status, got.StatusReason, err)
			}
			if _, err := c.CompleteUpload(ctx, "bad", v.Number, ticket.UploadID); err == nil {
				t.Error("completing a FAILED upload again succeeded")
			}
		})
	}
}
