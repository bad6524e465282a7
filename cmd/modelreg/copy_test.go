package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyToAWS: a laptop registry copied with `modelreg copy` to
// DynamoDB Local + MinIO serves the same version, file and history from a
// server on those backends; a second copy writes nothing.
func TestCopyToAWS(t *testing.T) {
	backends := testBackends(t)
	if len(backends) < 2 {
		t.Skip("DynamoDB Local and MinIO are not running: scripts/test starts them")
	}
	aws := backends[1]
	dir := t.TempDir()
	s := startServer(t, dir)
	file, wantSum := randomFile(t, t.TempDir(), "model.bin", 6<<20)
	s.cli(adminToken, "models", "create", "moved").must(t)
	s.cli(adminToken, "register", "moved", "--artifact", file, "--no-git", "--metric", "auc=0.9").must(t)
	s.cli(adminToken, "alias", "moved", "champion", "1").must(t)
	s.stop()

	var table, bucket string
	for _, kv := range aws.env {
		if v, ok := strings.CutPrefix(kv, "MODELREG_DYNAMODB_TABLE="); ok {
			table = v
		}
		if v, ok := strings.CutPrefix(kv, "MODELREG_S3_BUCKET="); ok {
			bucket = v
		}
	}
	env := append(os.Environ(), aws.env...)
	args := []string{"copy", "--from", "sqlite:" + dir, "--to", "dynamodb:" + table + ",s3:" + bucket, "--create-resources"}
	r := runBinary(t, env, args...).must(t)
	if !strings.Contains(r.stderr, "copied moved version 1 model.bin") || !strings.Contains(r.stdout, "versions 1 written") {
		t.Fatalf("copy said:\n%s\n%s", r.stdout, r.stderr)
	}
	if r := runBinary(t, env, args...).must(t); !strings.Contains(r.stdout, "versions 0 written, 1 already there") || !strings.Contains(r.stdout, "files 0 copied") {
		t.Errorf("second copy:\n%s", r.stdout)
	}

	a := startServer(t, t.TempDir(), aws.env...)
	dest := t.TempDir()
	a.cli(adminToken, "download", "moved", "@champion", "--dest", dest).must(t)
	if got := fileSum(t, filepath.Join(dest, "model.bin")); got != wantSum {
		t.Errorf("downloaded %s, want %s", got, wantSum)
	}
	h := a.cli(adminToken, "history", "moved").must(t)
	if !strings.Contains(h.stdout, "alias") {
		t.Errorf("history on AWS lacks the alias change:\n%s", h.stdout)
	}
}
