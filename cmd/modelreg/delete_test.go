package main

import (
	"context"
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

// TestDelete deletes a version and then the model through the CLI on
// every backend, and creates the model again.
func TestDelete(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { deleteFlow(t, b) })
	}
}

func deleteFlow(t *testing.T, b backend) {
	s := startServer(t, t.TempDir(), b.env...)
	work := t.TempDir()
	file, _ := randomFile(t, work, "w.bin", 1000)
	s.cli(adminToken, "models", "create", "gone").must(t)
	for range 3 {
		s.cli(adminToken, "register", "gone", "--artifact", file).must(t)
	}
	s.cli(adminToken, "delete", "gone").wantCode(t, exitUsage)
	out := s.cli(adminToken, "delete", "gone", "2", "--reason", "leaked data").must(t)
	if !strings.Contains(out.stdout, "deleted version 2 of gone (by admin") || !strings.Contains(out.stdout, `"leaked data"`) {
		t.Fatalf("delete output: %s", out.stdout)
	}
	s.cli(adminToken, "download", "gone", "2", "--dest", filepath.Join(work, "dl")).wantCode(t, exitNotFound)
	s.cli(adminToken, "versions", "gone", "2").wantCode(t, exitNotFound)
	var vs []httpapi.Version
	decode(t, s.cli(adminToken, "versions", "gone", "--output", "json").must(t).stdout, &vs)
	if got := numbersOf(vs); !slices.Equal(got, []int{3, 1}) {
		t.Fatalf("versions after deleting 2: %v", got)
	}
	decode(t, s.cli(adminToken, "versions", "gone", "--include-deleted", "--output", "json").must(t).stdout, &vs)
	if got := numbersOf(vs); !slices.Equal(got, []int{3, 2, 1}) || !vs[1].Deleted {
		t.Fatalf("versions with deleted: %v", got)
	}
	s.cli(adminToken, "delete", "gone", "2").must(t) // again: idempotent

	s.cli(adminToken, "delete", "gone", "--model", "--reason", "project closed").must(t)
	s.cli(adminToken, "models", "get", "gone").wantCode(t, exitNotFound)
	var nv httpapi.Version
	s.cli(adminToken, "models", "create", "gone").must(t)
	decode(t, s.cli(adminToken, "register", "gone", "--artifact", file, "--output", "json").must(t).stdout, &nv)
	if nv.Number != 4 {
		t.Fatalf("first version after re-creating the model = %d, want 4", nv.Number)
	}
	var h []httpapi.AuditEntry
	decode(t, s.cli(adminToken, "history", "gone", "--output", "json").must(t).stdout, &h)
	var lives []string
	for _, e := range h {
		if e.Action == registry.ActionModelCreated || e.Action == registry.ActionModelDeleted {
			lives = append(lives, string(e.Action))
		}
	}
	if got := strings.Join(lives, " "); got != "model.created model.deleted model.created" {
		t.Fatalf("model entries in history, newest first: %s", got)
	}
}

func numbersOf(vs []httpapi.Version) []int {
	var out []int
	for _, v := range vs {
		out = append(out, v.Number)
	}
	return out
}

// TestCrashBetweenTombstoneAndFiles kills the server right after the
// tombstone commits, before the files go; after a restart, deleting again
// removes them.
func TestCrashBetweenTombstoneAndFiles(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	file, _ := randomFile(t, t.TempDir(), "w.bin", 1000)
	s.cli(adminToken, "models", "create", "crashy").must(t)
	s.cli(adminToken, "register", "crashy", "--artifact", file).must(t)
	s.stop()
	files := filepath.Join(dir, "artifacts", "objects", "crashy", "1")
	if _, err := os.Stat(files); err != nil {
		t.Fatalf("the version's files are not where the test looks: %v", err)
	}

	s = startServer(t, dir, failpoint.Env+"="+failpoint.StoreAfterCommit)
	if _, err := noRetry(s.url).DeleteVersion(context.Background(), "crashy", 1, "crash test"); err == nil {
		t.Fatal("the delete answered although the server died right after committing")
	}
	s.waitKilled()
	if _, err := os.Stat(files); err != nil {
		t.Fatalf("the files went before the crash, so the test does not exercise the retry: %v", err)
	}

	s = startServer(t, dir)
	c := noRetry(s.url)
	if _, err := c.GetVersion(context.Background(), "crashy", 1); err == nil {
		t.Fatal("the tombstone was not committed before the crash")
	}
	v, err := c.DeleteVersion(context.Background(), "crashy", 1, "")
	if err != nil {
		t.Fatalf("repeated delete after the crash: %v", err)
	}
	if !v.Deleted || v.DeleteReason != "crash test" {
		t.Fatalf("repeated delete answered %+v, want the first tombstone", v)
	}
	if _, err := os.Stat(files); !os.IsNotExist(err) {
		t.Fatalf("the retry left the files: %v", err)
	}
	page, err := c.ListVersions(context.Background(), "crashy", client.VersionFilter{IncludeDeleted: true}, "", 10)
	if err != nil || len(page.Items) != 1 || page.Items[0].Status != registry.StatusDeleted {
		t.Fatalf("versions with deleted: %+v, %v", page.Items, err)
	}
}
