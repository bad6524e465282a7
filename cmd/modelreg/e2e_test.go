package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestEndToEnd drives the server binary through the CLI the way a user
// would: create a model, register two versions (one with a 50 MB artifact
// uploaded in parallel parts), compare them, stage one, download and
// verify it, read the history.
func TestEndToEnd(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { endToEnd(t, b) })
	}
}

func endToEnd(t *testing.T, b backend) {
	s := startServer(t, t.TempDir(), b.env...)
	work := t.TempDir()

	s.cli(adminToken, "models", "create", "fraud_model", "--description", "card fraud").must(t)
	out := s.cli(adminToken, "models", "--output", "json").must(t)
	var models []httpapi.Model
	decode(t, out.stdout, &models)
	if len(models) != 1 || models[0].Name != "fraud_model" || models[0].Description != "card fraud" {
		t.Fatalf("models: %+v", models)
	}

	small, _ := randomFile(t, work, "v1.bin", 1000)
	v1 := s.cli(adminToken, "register", "fraud_model", "--artifact", small,
		"--metric", "accuracy=0.91", "--metric", "loss=0.30", "--param", "lr=0.01",
		"--dataset", "transactions@2026-11", "--run-id", "job-1", "--tag", "team=risk", "--output", "json").must(t)
	var ver httpapi.Version
	decode(t, v1.stdout, &ver)
	if ver.Number != 1 || ver.Status != registry.StatusReady || len(ver.Artifacts) != 1 {
		t.Fatalf("v1: %+v", ver)
	}
	if ver.Lineage.Data.DatasetID != "transactions" || ver.Lineage.Data.DatasetVersion != "2026-11" || ver.Lineage.Run.RunID != "job-1" {
		t.Fatalf("v1 lineage: %+v", ver.Lineage)
	}
	if ver.Lineage.Run.EndedAt == nil {
		t.Errorf("the training end time was not taken from the artifact: %+v", ver.Lineage.Run)
	}
	// The tests run inside this repository's checkout: the CLI records its commit.
	if head := git("rev-parse", "HEAD"); head != "" && ver.Lineage.Code.Commit != head {
		t.Errorf("lineage commit %q, want HEAD %q", ver.Lineage.Code.Commit, head)
	}

	big, bigSum := randomFile(t, work, "model.bin", 50<<20)
	v2 := s.cli(adminToken, "register", "fraud_model", "--artifact", big,
		"--metric", "accuracy=0.95", "--metric", "loss=0.22", "--param", "lr=0.005", "--output", "json").must(t)
	decode(t, v2.stdout, &ver)
	if ver.Number != 2 || ver.Status != registry.StatusReady {
		t.Fatalf("v2: %+v", ver)
	}
	if a := ver.Artifacts; len(a) != 1 || a[0].Path != "model.bin" || a[0].Size != 50<<20 || a[0].SHA256 != bigSum {
		t.Fatalf("v2 artifacts: %+v", ver.Artifacts)
	}
	if !strings.Contains(v2.stderr, "upload: 50.0 MiB") {
		t.Errorf("no upload summary on stderr: %s", v2.stderr)
	}
	// 50 MB went up in 16 MiB parts: the audit entry of the upload says so
	// indirectly through the session; check the part plan directly.
	if n := registry.PartCount(50<<20, registry.PartSize(50<<20)); n < 2 {
		t.Fatalf("a 50 MB file would go up in %d part", n)
	}

	cmp := s.cli(adminToken, "compare", "fraud_model", "1", "2", "--by", "accuracy").must(t)
	for _, want := range []string{"accuracy ↑", "0.95 *", "loss ↓", "0.22 *", "param lr", "Ranked by accuracy: v2 v1 (best: v2)"} {
		if !strings.Contains(cmp.stdout, want) {
			t.Errorf("compare output lacks %q:\n%s", want, cmp.stdout)
		}
	}

	s.cli(adminToken, "promote", "fraud_model", "2", "--to", "Staging", "--reason", "beats v1 on accuracy").must(t)
	st := s.cli(adminToken, "stage", "fraud_model", "Staging", "--output", "json").must(t)
	decode(t, st.stdout, &ver)
	if ver.Number != 2 || ver.Stage != registry.StageStaging {
		t.Fatalf("Staging holds %+v", ver)
	}

	dest := t.TempDir()
	dl := s.cli(adminToken, "download", "fraud_model", "2", "--dest", dest).must(t)
	if !strings.Contains(dl.stdout, "verified") {
		t.Errorf("download output: %s", dl.stdout)
	}
	if got := fileSum(t, filepath.Join(dest, "model.bin")); got != bigSum {
		t.Fatalf("downloaded sha256 %s, want %s", got, bigSum)
	}

	hist := s.cli(adminToken, "history", "fraud_model", "--output", "json").must(t)
	var entries []httpapi.AuditEntry
	decode(t, hist.stdout, &entries)
	var actions []string
	for _, e := range entries {
		actions = append(actions, string(e.Action))
	}
	// Newest first.
	want := []string{"version.stage_changed", "version.ready", "version.upload_started", "version.registered",
		"version.ready", "version.upload_started", "version.registered", "model.created"}
	if !slices.Equal(actions, want) {
		t.Fatalf("history actions %v, want %v", actions, want)
	}
	if e := entries[0]; e.From != registry.StageNone || e.To != registry.StageStaging || e.Reason != "beats v1 on accuracy" || e.Actor != "admin" || e.Criteria["accuracy"] != 0.95 {
		t.Fatalf("transition entry: %+v", e)
	}
	text := s.cli(adminToken, "history", "fraud_model", "2").must(t)
	// The move and the reason are separate columns.
	if !regexp.MustCompile(`None → Staging {2,}beats v1 on accuracy`).MatchString(text.stdout) {
		t.Errorf("history text:\n%s", text.stdout)
	}
}

// TestConcurrentRegistrations: 50 registrations of one model at once get
// versions 1..50 exactly.
func TestConcurrentRegistrations(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { concurrentRegistrations(t, b) })
	}
}

func concurrentRegistrations(t *testing.T, b backend) {
	s := startServer(t, t.TempDir(), b.env...)
	c := client.New(s.url, adminToken)
	ctx := context.Background()
	if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "busy"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	nums := make([]int, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.RegisterVersion(ctx, "busy", httpapi.RegisterRequest{Source: fmt.Sprintf("s3://bucket/run-%d", i)})
			nums[i], errs[i] = v.Number, err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(nums)
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("versions %v: want exactly 1..50", nums)
		}
	}
	m, err := c.GetModel(ctx, "busy")
	if err != nil || m.LatestVersion != 50 {
		t.Fatalf("model %+v, %v", m, err)
	}
}

// TestCLIExitCodes: CI scripts can tell failures apart.
func TestCLIExitCodes(t *testing.T) {
	s := startServer(t, t.TempDir())
	// tokens edits the file locally; the running server picks it up.
	tok := runBinary(t, os.Environ(), "tokens", "add", "bob", "--role", "reader", "--data-dir", s.dataDir).must(t)
	readerToken := strings.TrimSpace(tok.stdout)

	s.cli(adminToken, "models", "create", "m1").must(t)
	s.cli(adminToken, "models", "create", "m1").wantCode(t, exitConflict)
	s.cli(adminToken, "models", "create", "bad name").wantCode(t, exitUsage)
	s.cli(adminToken, "models", "get", "nope").wantCode(t, exitNotFound)
	s.cli("", "models").wantCode(t, exitAuth)
	s.cli("mr_wrong", "models").wantCode(t, exitAuth)
	waitFor(t, func() bool { return s.cli(readerToken, "whoami").code == 0 })
	s.cli(readerToken, "models", "create", "m2").wantCode(t, exitAuth)
	s.cli(adminToken, "register", "m1", "--source", "s3://b/k").must(t)
	// Production is reached from Staging only.
	s.cli(adminToken, "promote", "m1", "1", "--to", "Production", "--reason", "go").wantCode(t, exitConflict)
	s.cli(adminToken, "metrics", "m1", "1", "latency_p99=12.5").must(t)
	s.cli(adminToken, "metrics", "m1", "1", "latency_p99=bad").wantCode(t, exitUsage)
	s.cli(adminToken, "promote", "m1", "1", "--to", "Nowhere").wantCode(t, exitUsage)
	s.cli(adminToken, "register", "m1", "--artifact", "/does/not/exist").wantCode(t, exitUsage)
	s.cli(adminToken, "bogus").wantCode(t, exitUsage)

	// archive --keep-last keeps the newest N and skips what is archived.
	for range 3 {
		s.cli(adminToken, "register", "m1", "--source", "s3://b/k").must(t) // versions 2, 3, 4
	}
	s.cli(adminToken, "archive", "m1", "1").must(t)
	dry := s.cli(adminToken, "archive", "m1", "--keep-last", "2", "--dry-run").must(t)
	if !strings.Contains(dry.stdout, "would archive m1 version 2") || strings.Contains(dry.stdout, "version 1") {
		t.Fatalf("dry run: %s", dry.stdout)
	}
	arch := s.cli(adminToken, "archive", "m1", "--keep-last", "2", "--output", "json").must(t)
	var archived struct{ Archived []int }
	decode(t, arch.stdout, &archived)
	if !slices.Equal(archived.Archived, []int{2}) {
		t.Fatalf("archive --keep-last 2 archived %v, want [2]", archived.Archived)
	}
	out := s.cli(adminToken, "versions", "m1", "--stage", "Archived", "--output", "json").must(t)
	var vs []httpapi.Version
	decode(t, out.stdout, &vs)
	if len(vs) != 2 || vs[0].Number != 2 || vs[1].Number != 1 {
		t.Fatalf("archived versions: %+v", vs)
	}
	s.cli(adminToken, "archive", "m1", "2").wantCode(t, exitConflict) // already archived
	s.cli(adminToken, "stage", "m1", "Staging", "--at", "2026-01-01T00:00:00Z").wantCode(t, exitUsage)
	s.cli(adminToken, "stage", "m1", "Production").wantCode(t, exitNotFound)

	// A stored file that no longer matches its digest fails the download.
	work := t.TempDir()
	f, _ := randomFile(t, work, "w.bin", 4096)
	s.cli(adminToken, "register", "m1", "--artifact", f).must(t)
	stored := filepath.Join(s.dataDir, "artifacts", "objects", "m1", "5", "w.bin")
	if err := os.WriteFile(stored, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	s.cli(adminToken, "download", "m1", "5", "--dest", dest).wantCode(t, exitChecksum)
	if _, err := os.Stat(filepath.Join(dest, "w.bin")); !os.IsNotExist(err) {
		t.Fatalf("a file failing verification was left at its destination: %v", err)
	}
}

// backend is a configuration of the server under test.
type backend struct {
	name string
	env  []string
}

// testBackends returns the embedded backend and, when the test plug-ins
// started DynamoDB Local and MinIO (scripts/test), the AWS adapters on
// them, each test with its own table and bucket. In CI both must run.
func testBackends(t *testing.T) []backend {
	out := []backend{{name: "embedded"}}
	ddb, s3 := os.Getenv("MODELREG_DYNAMODB_ENDPOINT"), os.Getenv("MODELREG_S3_ENDPOINT")
	if ddb == "" || s3 == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MODELREG_DYNAMODB_ENDPOINT and MODELREG_S3_ENDPOINT are unset: run the tests with scripts/test")
		}
		t.Log("DynamoDB Local and MinIO not running: testing the embedded backend only (scripts/test runs both)")
		return out
	}
	suffix := strings.ToLower(registry.RandomToken(6))
	return append(out, backend{name: "dynamodb+s3", env: []string{
		"MODELREG_STORE=dynamodb", "MODELREG_ARTIFACTS=s3", "MODELREG_CREATE_RESOURCES=true",
		"MODELREG_DYNAMODB_TABLE=e2e-" + suffix, "MODELREG_S3_BUCKET=e2e-" + suffix,
		"AWS_ACCESS_KEY_ID=" + os.Getenv("MODELREG_S3_ACCESS_KEY"),
		"AWS_SECRET_ACCESS_KEY=" + os.Getenv("MODELREG_S3_SECRET_KEY"),
		"AWS_REGION=us-east-1",
	}})
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
}
