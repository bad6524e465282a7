package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/modelreg/modelreg/shared/httpapi"
)

func writeDVCFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDVCLineage reads files as DVC 3 writes them (the pytest suite
// clients/python/tests/test_dvc.py does it on a repository made by the
// dvc CLI): tags, the remote location as source, the lock's deps.
func TestDVCLineage(t *testing.T) {
	root := t.TempDir()
	writeDVCFile(t, filepath.Join(root, ".dvc", "config"), "[core]\n    remote = store\n['remote \"store\"']\n    url = ../../dvcstore\n")
	writeDVCFile(t, filepath.Join(root, "models", "model.pkl.dvc"), "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  size: 1234\n  hash: md5\n  path: model.pkl\n")
	writeDVCFile(t, filepath.Join(root, "dvc.lock"), "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n    - path: data/train.csv\n      hash: md5\n      md5: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n      size: 10\n    - path: train.py\n      hash: md5\n      md5: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n      size: 5\n")
	var in httpapi.RegisterRequest
	if err := applyExternalLineage(&in, filepath.Join(root, "models", "model.pkl.dvc"), filepath.Join(root, "dvc.lock"), "acme/churn/train-data:v3", false, false); err != nil {
		t.Fatal(err)
	}
	store := filepath.Clean(filepath.Join(root, "..", "dvcstore"))
	want := map[string]string{
		"dvc.path": "models/model.pkl", "dvc.md5": "0123456789abcdef0123456789abcdef", "dvc.size": "1234",
		"dvc.remote": "store=" + store, "dvc.dep:data/train.csv": "md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"dvc.dep:train.py": "md5:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "wandb.artifact": "acme/churn/train-data:v3",
	}
	for k, v := range want {
		if in.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, in.Tags[k], v)
		}
	}
	if len(in.Tags) != len(want) {
		t.Errorf("tags = %v", in.Tags)
	}
	if src := "file://" + filepath.ToSlash(store) + "/files/md5/01/23456789abcdef0123456789abcdef"; in.Source != src {
		t.Errorf("source = %q, want %q", in.Source, src)
	}
	if in.Lineage.Data.DatasetID != "data/train.csv" || in.Lineage.Data.DatasetVersion != "md5:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("data lineage = %+v (the W&B artifact must not replace the DVC dataset)", in.Lineage.Data)
	}

	// Uploading artifacts: no source; --dataset given: the dataset stays.
	in = httpapi.RegisterRequest{Tags: map[string]string{"dvc.md5": "mine"}}
	in.Lineage.Data.DatasetID = "given"
	if err := applyExternalLineage(&in, filepath.Join(root, "models", "model.pkl.dvc"), "", "", true, true); err != nil {
		t.Fatal(err)
	}
	if in.Source != "" || in.Lineage.Data.DatasetID != "given" || in.Tags["dvc.md5"] != "mine" {
		t.Errorf("with --artifact and --dataset: source %q, dataset %q, tag %q", in.Source, in.Lineage.Data.DatasetID, in.Tags["dvc.md5"])
	}
}

func TestDVCLineageRefusesWhatDVCDoesNotWrite(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"two outs":   "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: a\n- md5: 0123456789abcdef0123456789abcdef\n  path: b\n",
		"no md5":     "outs:\n- path: a\n",
		"bad md5":    "outs:\n- md5: xyz\n  path: a\n",
		"not yaml":   "outs: [\n",
		"no outs":    "deps: []\n",
		"empty path": "outs:\n- md5: 0123456789abcdef0123456789abcdef\n",
	}
	for name, content := range cases {
		p := filepath.Join(dir, name+".dvc")
		writeDVCFile(t, p, content)
		if err := applyExternalLineage(&httpapi.RegisterRequest{}, p, "", "", false, false); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := applyExternalLineage(&httpapi.RegisterRequest{}, "", filepath.Join(dir, "dvc.lock"), "", false, false); err == nil {
		t.Error("--dvc-lock without --dvc accepted")
	}
	writeDVCFile(t, filepath.Join(dir, "ok.dvc"), "outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: a\n")
	writeDVCFile(t, filepath.Join(dir, "dvc.lock"), "schema: '2.0'\n")
	if err := applyExternalLineage(&httpapi.RegisterRequest{}, filepath.Join(dir, "ok.dvc"), filepath.Join(dir, "dvc.lock"), "", false, false); err == nil {
		t.Error("a dvc.lock without stages accepted")
	}
}

func TestWandbArtifact(t *testing.T) {
	for ref, ok := range map[string]bool{
		"acme/churn/train-data:v3": true, "acme/churn/train-data:latest": true, "a-b/c.d/e_f:prod": true,
		"acme/churn/train-data": false, "acme/train-data:v3": false, "acme/churn/x/y:v3": false,
		"acme/churn/train data:v3": false, "/churn/data:v3": false, "acme/churn/data:": false, "": false,
	} {
		e, p, n, a, err := parseWandbArtifact(ref)
		if (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", ref, err, ok)
		}
		if ref == "acme/churn/train-data:v3" && (e != "acme" || p != "churn" || n != "train-data" || a != "v3") {
			t.Errorf("%q parsed as %s %s %s %s", ref, e, p, n, a)
		}
	}
	var in httpapi.RegisterRequest
	if err := applyExternalLineage(&in, "", "", "acme/churn/train-data:v3", false, false); err != nil {
		t.Fatal(err)
	}
	if in.Lineage.Data.DatasetID != "wandb:acme/churn/train-data" || in.Lineage.Data.DatasetVersion != "v3" || in.Tags["wandb.artifact"] != "acme/churn/train-data:v3" {
		t.Errorf("W&B lineage = %+v, tags %v", in.Lineage.Data, in.Tags)
	}
}
