package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestRename renames a model through the CLI on every backend: versions,
// aliases and history answer under the new name, the files download
// unchanged, the old name is gone, a taken name is refused.
func TestRename(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { renameFlow(t, b) })
	}
}

func renameFlow(t *testing.T, b backend) {
	s := startServer(t, t.TempDir(), b.env...)
	work := t.TempDir()
	file, _ := randomFile(t, work, "w.bin", 3000)
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s.cli(adminToken, "models", "create", "churn_modle").must(t)
	s.cli(adminToken, "models", "create", "taken").must(t)
	for range 2 {
		s.cli(adminToken, "register", "churn_modle", "--artifact", file).must(t)
	}
	s.cli(adminToken, "alias", "churn_modle", "champion", "2").must(t)
	s.cli(adminToken, "models", "rename", "churn_modle", "taken").wantCode(t, exitConflict)
	s.cli(adminToken, "models", "rename", "churn_modle", "bad name").wantCode(t, exitUsage)
	out := s.cli(adminToken, "models", "rename", "churn_modle", "churn_model", "--reason", "typo").must(t)
	if !strings.Contains(out.stdout, "Renamed model churn_modle to churn_model") {
		t.Fatalf("rename output: %s", out.stdout)
	}
	s.cli(adminToken, "models", "get", "churn_modle").wantCode(t, exitNotFound)
	dest := filepath.Join(work, "dl")
	s.cli(adminToken, "download", "churn_model", "@champion", "--dest", dest).must(t)
	got, err := os.ReadFile(filepath.Join(dest, "w.bin"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("downloaded after the rename: %d bytes, %v", len(got), err)
	}
	var vs []httpapi.Version
	decode(t, s.cli(adminToken, "versions", "churn_model", "--output", "json").must(t).stdout, &vs)
	if len(vs) != 2 {
		t.Fatalf("versions after the rename: %v", numbersOf(vs))
	}
	var h []httpapi.AuditEntry
	decode(t, s.cli(adminToken, "history", "churn_model", "--output", "json").must(t).stdout, &h)
	if len(h) < 6 || h[0].Action != registry.ActionModelRenamed || h[0].Reason != "typo" || h[len(h)-1].Action != registry.ActionModelCreated {
		t.Fatalf("history after the rename: %+v", h)
	}
	// A new version goes on under the new name.
	var nv httpapi.Version
	decode(t, s.cli(adminToken, "register", "churn_model", "--artifact", file, "--output", "json").must(t).stdout, &nv)
	if nv.Number != 3 {
		t.Fatalf("next version %d", nv.Number)
	}
}

// TestRenameCrash kills the server after the lock and the first copy
// batch of a rename; after a restart the model still answers under its old
// name and refuses writes, and the same rename, sent again, finishes.
func TestRenameCrash(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	file, _ := randomFile(t, t.TempDir(), "w.bin", 1000)
	s.cli(adminToken, "models", "create", "crashy").must(t)
	s.cli(adminToken, "register", "crashy", "--artifact", file).must(t)
	s.stop()

	s = startServer(t, dir, failpoint.Env+"="+failpoint.RenameAfterBatch+"=2")
	if _, err := noRetry(s.url).RenameModel(context.Background(), "crashy", "calm", ""); err == nil {
		t.Fatal("the rename answered although the server died in the middle")
	}
	s.waitKilled()

	s = startServer(t, dir)
	c := noRetry(s.url)
	if _, err := c.GetModel(context.Background(), "crashy"); err != nil {
		t.Fatalf("the old name during the interrupted rename: %v", err)
	}
	if _, err := c.GetModel(context.Background(), "calm"); err == nil {
		t.Fatal("the new name answers before the flip")
	}
	s.cli(adminToken, "register", "crashy", "--artifact", file).wantCode(t, exitConflict)
	s.cli(adminToken, "models", "rename", "crashy", "calm").must(t)
	s.cli(adminToken, "download", "calm", "1", "--dest", t.TempDir()).must(t)
	s.cli(adminToken, "models", "get", "crashy").wantCode(t, exitNotFound)
}
