"""DVC and W&B lineage on a real DVC repository made here with the dvc CLI
(dvc init, dvc add, a local remote, dvc push, dvc repro), through the CLI
(--dvc, --dvc-lock, --wandb-artifact) and the Python client (dvc_file=,
dvc_lock=, wandb_artifact=), which must record the same."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

import modelreg
from modelreg import lineage


def run(cwd: Path, *args: str) -> str:
    env = dict(os.environ, DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    p = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(args)}:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def dvc(cwd: Path, *args: str) -> str:
    # dvc lives in its own virtualenv (scripts/test.d/requirements-dvc.txt:
    # its omegaconf pins an antlr4 runtime that breaks moto's Step
    # Functions parser); scripts/test names its python in MODELREG_DVC_PYTHON.
    return run(cwd, os.environ.get("MODELREG_DVC_PYTHON", sys.executable), "-m", "dvc", *args)


@pytest.fixture(scope="module")
def dvc_repo(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("dvc")
    r = top / "repo"
    r.mkdir()
    run(r, "git", "init", "-q", "-b", "main")
    dvc(r, "init", "-q")
    (r / "data").mkdir()
    (r / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (r / "featurize.py").write_text("open('features.csv','w').write(open('data/train.csv').read().upper())\n")
    (r / "models").mkdir()
    (r / "models" / "model.pkl").write_bytes(b"\x80\x04trained-weights" * 100)
    dvc(r, "add", "-q", "models/model.pkl")
    dvc(r, "stage", "add", "-q", "-n", "featurize", "-d", "data/train.csv", "-d", "featurize.py",
        "-o", "features.csv", f"{sys.executable} featurize.py")
    dvc(r, "repro", "-q")
    dvc(r, "remote", "add", "-d", "store", "../dvcstore")
    dvc(r, "push", "-q")
    run(r, "git", "add", ".")
    run(r, "git", "commit", "-q", "-m", "dvc")
    return r


def md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_dvc_lineage_reads_what_dvc_wrote(dvc_repo):
    d = lineage.dvc_lineage(dvc_repo / "models" / "model.pkl.dvc", dvc_repo / "dvc.lock")
    assert (d.path, d.md5, d.size) == ("models/model.pkl", md5(dvc_repo / "models" / "model.pkl"),
                                 (dvc_repo / "models" / "model.pkl").stat().st_size)
    assert d.remote == "store" and d.remote_url == str((dvc_repo.parent / "dvcstore").resolve())
    pushed = Path(urlparse(d.source).path)
    assert pushed.is_file() and md5(pushed) == d.md5  # dvc push put it exactly there
    assert d.deps == {"data/train.csv": "md5:" + md5(dvc_repo / "data" / "train.csv"),
                      "featurize.py": "md5:" + md5(dvc_repo / "featurize.py")}
    assert d.data() == {"dataset_id": "data/train.csv", "dataset_version": d.deps["data/train.csv"]}


def test_cli_and_client_record_the_same_dvc_and_wandb_lineage(modelreg_server, dvc_repo, monkeypatch):
    monkeypatch.chdir(dvc_repo)
    args = ["--dvc", "models/model.pkl.dvc", "--dvc-lock", "dvc.lock", "--wandb-artifact", "acme/churn/raw:v3"]
    cli = json.loads(modelreg_server.cli("register", "churn", *args, "--output", "json").stdout)
    c = modelreg.Client(modelreg_server.url, modelreg_server.admin_token)
    v = c.register("churn", dvc_file="models/model.pkl.dvc", dvc_lock="dvc.lock", wandb_artifact="acme/churn/raw:v3")
    assert cli["status"] == v.status == "READY"  # the DVC remote's copy is the source
    assert v.tags == cli["tags"]
    assert v.tags["dvc.md5"] == md5(dvc_repo / "models" / "model.pkl")
    assert v.tags["wandb.artifact"] == "acme/churn/raw:v3"
    assert v.lineage["source_uri"] == cli["lineage"]["source_uri"]
    assert Path(urlparse(v.lineage["source_uri"]).path).is_file()
    assert v.lineage["data"] == cli["lineage"]["data"] == {
        "dataset_id": "data/train.csv", "dataset_version": "md5:" + md5(dvc_repo / "data" / "train.csv")}
    assert v.lineage["code"]["commit"] == cli["lineage"]["code"]["commit"]


def test_dvc_with_artifacts_uploads_and_only_tags(modelreg_server, dvc_repo, monkeypatch):
    monkeypatch.chdir(dvc_repo)
    c = modelreg.Client(modelreg_server.url, modelreg_server.admin_token)
    v = c.register("up", artifacts=["models/model.pkl"], dvc_file="models/model.pkl.dvc", dataset="given@1")
    assert v.status == "READY" and [a.path for a in v.artifacts] == ["model.pkl"]
    assert "source_uri" not in v.lineage and v.tags["dvc.path"] == "models/model.pkl"
    assert v.lineage["data"] == {"dataset_id": "given", "dataset_version": "1"}


def test_w_and_b_only_and_bad_references(modelreg_server, dvc_repo, monkeypatch, tmp_path):
    monkeypatch.chdir(dvc_repo)
    c = modelreg.Client(modelreg_server.url, modelreg_server.admin_token)
    v = c.register("wb", source="s3://b/wb", wandb_artifact="acme/churn/train-data:latest")
    assert v.lineage["data"] == {"dataset_id": "wandb:acme/churn/train-data", "dataset_version": "latest"}
    for bad in ["acme/train-data:v3", "acme/churn/train data:v3", "acme/churn/data"]:
        with pytest.raises(ValueError):
            c.register("wb", source="s3://b/wb", wandb_artifact=bad)
        p = modelreg_server.cli("register", "wb", "--source", "s3://b/wb", "--wandb-artifact", bad, check=False)
        assert p.returncode != 0 and "wandb-artifact" in p.stderr
    broken = tmp_path / "broken.dvc"
    broken.write_text("outs:\n- path: x\n")
    with pytest.raises(ValueError):
        c.register("wb", source="s3://b/wb", dvc_file=broken)
    assert modelreg_server.cli("register", "wb", "--dvc", str(broken), check=False).returncode != 0
    assert c.get_model("wb").latest_version == 1  # nothing else was registered
