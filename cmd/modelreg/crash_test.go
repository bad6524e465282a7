package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// The crash tests kill a real server process with SIGKILL at a chosen
// point (see package failpoint), restart it on the same data directory and
// check that exactly what was committed is there.

func versionNumbers(t *testing.T, c *client.Client, model string) []int {
	t.Helper()
	page, err := c.ListVersions(context.Background(), model, client.VersionFilter{}, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var nums []int
	for _, v := range page.Items {
		nums = append(nums, v.Number)
	}
	return nums
}

func auditActions(t *testing.T, c *client.Client, model string) []string {
	t.Helper()
	page, err := c.History(context.Background(), model, 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range page.Items {
		out = append(out, string(e.Action))
	}
	return out
}

// noRetry returns a client that does not retry, so a dead server fails fast.
func noRetry(url string) *client.Client {
	c := client.New(url, adminToken)
	c.Retries = 0
	return c
}

// setupModel starts a server on a new data dir, creates model "crashy"
// with one version, stops it and returns the data dir.
func setupModel(t *testing.T) string {
	dir := t.TempDir()
	s := startServer(t, dir)
	c := noRetry(s.url)
	ctx := context.Background()
	if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "crashy"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RegisterVersion(ctx, "crashy", httpapi.RegisterRequest{Source: "s3://b/v1"}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	return dir
}

func TestCrashBeforeCommit(t *testing.T) {
	dir := setupModel(t)
	s := startServer(t, dir, failpoint.Env+"="+failpoint.StoreBeforeCommit)
	_, err := noRetry(s.url).RegisterVersion(context.Background(), "crashy", httpapi.RegisterRequest{Source: "s3://b/v2"})
	if err == nil {
		t.Fatal("the registration answered although the server died before committing")
	}
	s.waitKilled()

	s = startServer(t, dir)
	c := noRetry(s.url)
	if got := versionNumbers(t, c, "crashy"); !slices.Equal(got, []int{1}) {
		t.Fatalf("after a crash before commit: versions %v, want [1]", got)
	}
	if got := auditActions(t, c, "crashy"); !slices.Equal(got, []string{"version.registered", "model.created"}) {
		t.Fatalf("audit %v", got)
	}
	v, err := c.RegisterVersion(context.Background(), "crashy", httpapi.RegisterRequest{Source: "s3://b/v2"})
	if err != nil || v.Number != 2 {
		t.Fatalf("next registration: %+v, %v (want version 2: no gap)", v, err)
	}
}

func TestCrashAfterCommitRetryReplays(t *testing.T) {
	dir := setupModel(t)
	s := startServer(t, dir, failpoint.Env+"="+failpoint.StoreAfterCommit)
	body := []byte(`{"source":"s3://b/v2","lineage":{}}`)
	const key = "retry-me-0001"
	if _, err := postWithKey(s.url, "/v1/models/crashy/versions", key, body); err == nil {
		t.Fatal("got an answer although the server died right after committing")
	}
	s.waitKilled()

	s = startServer(t, dir)
	c := noRetry(s.url)
	if got := versionNumbers(t, c, "crashy"); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("after a crash after commit: versions %v, want [2 1]", got)
	}
	// The client never heard back; its retry with the same key gets the
	// first result instead of registering version 3.
	resp, err := postWithKey(s.url, "/v1/models/crashy/versions", key, body)
	if err != nil {
		t.Fatal(err)
	}
	var v httpapi.Version
	if resp.status != http.StatusCreated || json.Unmarshal(resp.body, &v) != nil || v.Number != 2 || resp.replayed != "true" {
		t.Fatalf("retry: %d %s replayed=%q", resp.status, resp.body, resp.replayed)
	}
	if got := versionNumbers(t, c, "crashy"); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("the retry registered again: versions %v", got)
	}
}

func TestCrashMidPartResumes(t *testing.T) {
	dir := setupModel(t)
	work := t.TempDir()
	file, sum := randomFile(t, work, "weights.bin", 40<<20) // 3 parts: 16 + 16 + 8 MiB

	// Parts go one at a time; the server dies halfway through the third.
	s := startServer(t, dir, failpoint.Env+"="+failpoint.ArtifactsMidPart+"=3")
	r := s.cli(adminToken, "register", "crashy", "--artifact", file, "--parallel", "1")
	if r.code == 0 {
		t.Fatalf("register succeeded although the server died mid-part: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, "modelreg upload crashy 2 --resume") {
		t.Fatalf("the failure does not say how to resume:\n%s", r.stderr)
	}
	s.waitKilled()

	s = startServer(t, dir)
	c := noRetry(s.url)
	ctx := context.Background()
	v, err := c.GetVersion(ctx, "crashy", 2)
	if err != nil || v.Status != registry.StatusPendingUpload || v.UploadID == "" || len(v.Artifacts) != 0 {
		t.Fatalf("interrupted version: %+v, %v", v, err)
	}
	// Nothing half-written is visible: no download, no file in place.
	s.cli(adminToken, "download", "crashy", "2", "--dest", t.TempDir()).wantCode(t, exitConflict)
	if _, err := os.Stat(filepath.Join(dir, "artifacts", "objects", "crashy", "2")); !os.IsNotExist(err) {
		t.Fatalf("a half-uploaded version has files in place: %v", err)
	}
	// The two parts that arrived whole are kept; only the third is asked for.
	ticket, err := c.RefreshUpload(ctx, "crashy", 2, v.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ticket.Files) != 1 || len(ticket.Files[0].Parts) != 1 || ticket.Files[0].Parts[0].Number != 3 {
		t.Fatalf("refresh after the crash asks for %+v, want part 3 only", ticket.Files)
	}

	s.cli(adminToken, "upload", "crashy", "2", file, "--resume").must(t)
	v, err = c.GetVersion(ctx, "crashy", 2)
	if err != nil || v.Status != registry.StatusReady || len(v.Artifacts) != 1 || v.Artifacts[0].SHA256 != sum {
		t.Fatalf("after resume: %+v, %v", v, err)
	}
	dest := t.TempDir()
	s.cli(adminToken, "download", "crashy", "2", "--dest", dest).must(t)
	if got := fileSum(t, filepath.Join(dest, "weights.bin")); got != sum {
		t.Fatalf("downloaded %s, want %s", got, sum)
	}
}

type rawResponse struct {
	status   int
	body     []byte
	replayed string
}

func postWithKey(base, path, key string, body []byte) (rawResponse, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return rawResponse{}, err
	}
	return rawResponse{resp.StatusCode, buf.Bytes(), resp.Header.Get("Idempotent-Replayed")}, nil
}

// TestCrashAfterVerifyResumes: the server dies after completion verified
// and placed the file but before the version became READY. The resume
// finds the file verified (no part is asked for again) and finishes.
func TestCrashAfterVerifyResumes(t *testing.T) {
	dir := setupModel(t)
	file, sum := randomFile(t, t.TempDir(), "w.bin", 20<<20) // 2 parts
	// Commits after the start: the version, the upload session, then READY.
	s := startServer(t, dir, failpoint.Env+"="+failpoint.StoreBeforeCommit+"=3")
	if r := s.cli(adminToken, "register", "crashy", "--artifact", file); r.code == 0 {
		t.Fatalf("register succeeded although the server died: %s", r.stdout)
	}
	s.waitKilled()

	s = startServer(t, dir)
	c := noRetry(s.url)
	ctx := context.Background()
	v, err := c.GetVersion(ctx, "crashy", 2)
	if err != nil || v.Status != registry.StatusPendingUpload || v.UploadID == "" {
		t.Fatalf("version after the crash: %+v, %v", v, err)
	}
	ticket, err := c.RefreshUpload(ctx, "crashy", 2, v.UploadID)
	if err != nil || len(ticket.Files) != 1 || len(ticket.Files[0].Parts) != 0 {
		t.Fatalf("refresh asks for %+v (%v), want nothing: the file was verified", ticket.Files, err)
	}
	s.cli(adminToken, "upload", "crashy", "2", file, "--resume").must(t)
	v, err = c.GetVersion(ctx, "crashy", 2)
	if err != nil || v.Status != registry.StatusReady || v.Artifacts[0].SHA256 != sum {
		t.Fatalf("after resume: %+v, %v", v, err)
	}
}
