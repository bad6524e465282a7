"""The Python client against a real `modelreg serve` (scripts/pytest fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import modelreg
from modelreg import lineage


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout with a remote, a requirements.txt and one commit, as cwd."""
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "t@example.com")
    git(r, "config", "user.name", "t")
    git(r, "remote", "add", "origin", "https://git.example.com/acme/churn.git")
    (r / "requirements.txt").write_text("scikit-learn==1.9.1\n")
    (r / "train.py").write_text("print('train')\n")
    git(r, "add", ".")
    git(r, "commit", "-q", "-m", "first")
    monkeypatch.chdir(r)
    for k in lineage.RUN_ID_VARS + ("SM_TRAINING_ENV", "SM_USER_ENTRY_POINT", "MODELREG_RUN_STARTED_AT",
                                    "GITHUB_SHA", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(k, raising=False)
    return r


def client(server, token=None, **kw) -> modelreg.Client:
    return modelreg.Client(server.url, token or server.admin_token, **kw)


def write(p: Path, size: int, seed: int = 1) -> Path:
    """Writes size pseudo-random bytes (fast: a repeated 1 MiB block with the
    offset folded in, so no two parts are equal)."""
    block = hashlib.sha256(str(seed).encode()).digest() * (1 << 15)
    with open(p, "wb") as f:
        off = 0
        while off < size:
            n = min(len(block), size - off)
            f.write(off.to_bytes(8, "big") + block[8:n] if n >= 8 else block[:n])
            off += n
    return p


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_register_creates_model_and_records_what_the_cli_records(modelreg_server, repo, monkeypatch):
    monkeypatch.setenv("TRAINING_JOB_NAME", "churn-train-2026-12-01")
    monkeypatch.setenv("MODELREG_RUN_STARTED_AT", "2020-01-02T03:04:05Z")
    (repo / "model.pkl").write_bytes(b"weights-1")
    d = repo / "extra"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "vocab.txt").write_text("a b c")
    (d / "config.json").write_text("{}")
    c = client(modelreg_server)
    with pytest.raises(modelreg.NotFound):
        c.get_model("churn")
    v = c.register("churn", artifacts=[repo / "model.pkl", d],
                   metrics={"auc": 0.91, "loss": (0.2, "validation")}, params={"depth": 5, "lr": 0.1},
                   tags={"team": "growth"}, dataset="s3://data/churn@2026-11", description="first")
    assert isinstance(v, modelreg.Version)
    assert (v.model, v.version, v.status, v.stage) == ("churn", 1, "READY", "None")
    assert v.metrics["auc"].value == 0.91 and v.metrics["loss"].source == "validation"
    assert v.params == {"depth": "5", "lr": "0.1"} and v.tags == {"team": "growth"}
    assert sorted(a.path for a in v.artifacts) == ["config.json", "model.pkl", "sub/vocab.txt"]
    assert {a.path: a.sha256 for a in v.artifacts}["model.pkl"] == hashlib.sha256(b"weights-1").hexdigest()
    assert c.get_model("churn").latest_version == 1
    # The same registration through the CLI records the same lineage.
    cli = json.loads(modelreg_server.cli("register", "churn", "--artifact", str(repo / "model.pkl"),
                                         "--dataset", "s3://data/churn@2026-11", "--output", "json",
                                         env={"TRAINING_JOB_NAME": "churn-train-2026-12-01",
                                              "MODELREG_RUN_STARTED_AT": "2020-01-02T03:04:05Z"}).stdout)
    got = c.get("churn", 1).lineage
    assert got["code"] == cli["lineage"]["code"] == {"repo": "https://git.example.com/acme/churn.git",
                                                     "commit": git(repo, "rev-parse", "HEAD")}
    assert got["data"] == cli["lineage"]["data"] == {"dataset_id": "s3://data/churn", "dataset_version": "2026-11"}
    assert got["environment"] == cli["lineage"]["environment"]
    assert got["environment"]["requirements_hash"] == "sha256:" + sha(repo / "requirements.txt")
    assert got["run"]["run_id"] == cli["lineage"]["run"]["run_id"] == "churn-train-2026-12-01"
    assert got["run"]["started_at"] == cli["lineage"]["run"]["started_at"] == "2020-01-02T03:04:05Z"
    assert "ended_at" in got["run"]


def test_lineage_detection_dirty_tree_and_training_systems(repo, monkeypatch):
    (repo / "train.py").write_text("changed\n")
    monkeypatch.setenv("SM_TRAINING_ENV", json.dumps({"job_name": "sm-job-7", "user_entry_point": "train.py"}))
    got = lineage.detect()
    assert got["code"]["dirty"] is True and got["run"]["run_id"] == "sm-job-7"
    assert got["code"]["entry_point"] == "train.py"
    monkeypatch.setenv("MLFLOW_RUN_ID", "abc123")
    assert lineage.detect()["run"]["run_id"] == "abc123"
    monkeypatch.setenv("GITHUB_RUN_ID", "999")
    assert lineage.detect()["run"]["run_id"] == "abc123"  # the CLI's order: MLflow before GitHub
    monkeypatch.setenv("TRAINING_JOB_NAME", "tj")
    assert lineage.detect()["run"]["run_id"] == "tj"
    assert lineage.detect(no_git=True)["code"] == {"entry_point": "train.py"}


def test_a_missing_file_registers_nothing(modelreg_server, repo):
    c = client(modelreg_server)
    with pytest.raises(FileNotFoundError):
        c.register("m", artifacts=[repo / "nope.bin"])
    with pytest.raises(modelreg.NotFound):
        c.get_model("m")


def test_errors_mirror_the_api_codes(modelreg_server, repo):
    c = client(modelreg_server)
    c.create_model("m")
    with pytest.raises(modelreg.Conflict) as e:
        c.create_model("m")
    assert e.value.status == 409 and e.value.code == "conflict"
    with pytest.raises(modelreg.Invalid):
        c.register("m", metrics={"bad name!": 1.0})
    assert c.get_model("m").latest_version == 0  # nothing changed
    with pytest.raises(modelreg.NotFound):
        c.register("absent", create=False)
    reader = client(modelreg_server, modelreg_server.token("rita", "reader"))
    with pytest.raises(modelreg.Forbidden):
        reader.register("m")
    with pytest.raises(modelreg.Unauthenticated):
        client(modelreg_server, "mr_not_a_token").get_model("m")


def test_multipart_upload_progress_and_verified_download(proxied, repo, tmp_path):
    server, proxy = proxied
    big = write(tmp_path / "big.bin", 40 << 20)  # 3 parts of 16 MiB
    seen = []
    c = client(server, parallel=3)
    v = c.register("big", artifacts=[big], progress=lambda done, total: seen.append((done, total)))
    assert v.status == "READY" and v.artifacts[0].sha256 == sha(big)
    puts = [r for r in proxy.requests if r[0] == "PUT"]
    assert len(puts) == 3 and sorted(r[3] for r in puts) == [8 << 20, 16 << 20, 16 << 20]
    assert seen[-1] == (40 << 20, 40 << 20) and all(t == 40 << 20 for _, t in seen)
    # Writes carried Idempotency-Keys; reads did not.
    posts = [r for r in proxy.requests if r[0] == "POST"]
    assert posts and all(r[2].get("Idempotency-Key") for r in posts)
    assert not any(r[2].get("Idempotency-Key") for r in proxy.requests if r[0] == "GET")
    out = c.download("big", 1, tmp_path / "dl")
    assert out == [(tmp_path / "dl" / "big.bin").resolve()] and sha(out[0]) == sha(big)


def test_failed_parts_are_retried(proxied, repo, tmp_path):
    server, proxy = proxied
    big = write(tmp_path / "big.bin", 33 << 20, seed=2)
    failed = set()

    def fault(method, path, headers):
        if method == "PUT" and path not in failed:
            failed.add(path)  # every part fails once: a reset, then a 503
            return "reset" if len(failed) % 2 else 503
        return None

    proxy.fault = fault
    v = client(server).register("retry", artifacts=[big])
    assert v.status == "READY" and len(failed) == 3
    assert len([r for r in proxy.requests if r[0] == "PUT"]) == 6


def test_a_failed_upload_is_resumed_sending_only_missing_parts(proxied, repo, tmp_path):
    server, proxy = proxied
    big = write(tmp_path / "big.bin", 48 << 20, seed=3)
    proxy.fault = lambda m, p, h: 503 if m == "PUT" and "part=2" in p.replace("%3D", "=") else None
    c = client(server, retries=1)
    with pytest.raises(modelreg.UploadIncomplete) as e:
        c.register("resume", artifacts=[big])
    assert e.value.version == 1
    assert c.get("resume", 1).status != "READY"
    proxy.fault = None
    before = len(proxy.requests)
    v = c.resume("resume", 1, [big])
    assert v.status == "READY" and v.artifacts[0].sha256 == sha(big)
    sent = [r for r in proxy.requests[before:] if r[0] == "PUT"]
    assert 1 <= len(sent) < 3  # only what the server had not received
    assert c.resume("resume", 1, [big]).status == "READY"  # again: nothing to do


def test_a_write_retried_after_a_lost_answer_registers_once(proxied, repo):
    server, proxy = proxied
    c = client(server)
    c.create_model("idem")
    dropped = []

    def fault(method, path, headers):
        if method == "POST" and path.endswith("/versions") and not dropped:
            dropped.append(headers["Idempotency-Key"])
            return "drop"
        return None

    proxy.fault = fault
    v = c.register("idem")
    assert v.version == 1 and c.get_model("idem").latest_version == 1
    keys = [r[2]["Idempotency-Key"] for r in proxy.requests if r[0] == "POST" and r[1].endswith("/versions")]
    assert keys == [dropped[0], dropped[0]]


def test_a_tampered_download_is_refused_and_leaves_no_file(modelreg_server, repo, tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"A" * 4096)
    c = client(modelreg_server)
    c.register("t", artifacts=[f])
    stored = [p for p in (modelreg_server.data_dir / "artifacts").rglob("*")
              if p.is_file() and p.stat().st_size == 4096 and p.read_bytes() == b"A" * 4096]
    assert stored, "the stored artifact was not found under the data directory"
    stored[0].write_bytes(b"B" * 4096)
    with pytest.raises(modelreg.ChecksumMismatch):
        c.download("t", 1, tmp_path / "dl")
    assert not (tmp_path / "dl" / "m.bin").exists() and not (tmp_path / "dl" / "m.bin.partial").exists()


def test_stages_aliases_metrics_compare_promotion_rollback_history(modelreg_server, repo):
    c = client(modelreg_server, modelreg_server.token("pat", "publisher"))
    approver = client(modelreg_server, modelreg_server.token("ann", "approver"))
    v1 = c.register("p", source="s3://b/p/1", metrics={"auc": 0.80}, params={"depth": 3})
    v2 = c.register("p", source="s3://b/p/2", metrics={"auc": 0.90}, params={"depth": 5})
    cmp = c.compare("p", [1, 2], by="auc")
    assert cmp.ranking == [2, 1] and cmp.metrics["auc"]["values"] == {1: 0.80, 2: 0.90}
    assert cmp.params["depth"]["differs"] is True
    t = c.promote("p", v2.version, "Staging", reason="better auc")
    assert t.version is not None and t.version.stage == "Staging" and c.stage("p", "Staging").version == 2
    assert isinstance(c.alias("p", "champion", 2), modelreg.Alias)
    assert c.alias("p", "champion").version == 2
    # Production waits for a second person's approval.
    c.promote("p", v1.version, "Staging", reason="baseline")
    t = c.promote("p", v1.version, "Production", reason="baseline")
    assert t.approval is not None and t.approval.status == "PENDING"
    assert [a.id for a in c.approvals(model="p")] == [t.approval.id]
    approver.approve(t.approval.id, "ok")
    deadline = time.monotonic() + 30
    while True:
        try:
            if c.stage("p").version == 1:
                break
        except modelreg.NotFound:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.1)
    result = {}

    def approve_when_pending():
        while True:
            pending = approver.approvals(model="p")
            if pending:
                result["approved"] = approver.approve(pending[0].id, "ship it")
                return
            time.sleep(0.05)

    th = threading.Thread(target=approve_when_pending)
    th.start()
    t = c.promote("p", 2, "Production", reason="auc 0.90", wait=60, poll=0.1)
    th.join()
    assert t.approval.status == "APPROVED" and t.version.version == 2
    assert c.stage("p").version == 2
    v = c.push_metrics("p", 2, {"latency_ms": 12.5})
    assert v.metrics["latency_ms"].value == 12.5 and v.metrics["latency_ms"].source == "production"
    back = approver.rollback("p", reason="regression")
    assert back.version == 1 and c.stage("p").version == 1
    h = c.history("p")
    assert any(e.rollback for e in h) and h[0].at >= h[-1].at
    assert all(e.version == 2 for e in c.history("p", 2))


def test_a_rejected_promotion_raises(modelreg_server, repo):
    c = client(modelreg_server, modelreg_server.token("pat", "publisher"))
    approver = client(modelreg_server, modelreg_server.token("ann", "approver"))
    c.register("r", source="s3://b/r/1")
    c.promote("r", 1, "Staging", reason="try")
    with pytest.raises(modelreg.Forbidden):  # not one's own request
        c.approve(c.promote("r", 1, "Production", reason="self").approval.id)
    for a in c.approvals(model="r"):
        c.cancel(a.id, "not needed")

    def reject():
        while not approver.approvals(model="r"):
            time.sleep(0.05)
        approver.reject(approver.approvals(model="r")[0].id, "no")

    th = threading.Thread(target=reject)
    th.start()
    with pytest.raises(modelreg.PromotionNotApproved) as e:
        c.promote("r", 1, "Production", reason="try", wait=60, poll=0.1)
    th.join()
    assert e.value.status == "REJECTED"


def test_client_reads_the_environment(monkeypatch, modelreg_server):
    monkeypatch.setenv("MODELREG_URL", modelreg_server.url)
    monkeypatch.setenv("MODELREG_TOKEN", modelreg_server.admin_token)
    monkeypatch.delenv("MODELREG_AUTH", raising=False)
    c = modelreg.Client()
    c.create_model("env")
    assert c.get_model("env").name == "env"
    monkeypatch.delenv("MODELREG_URL")
    with pytest.raises(ValueError):
        modelreg.Client()
    with pytest.raises(ValueError):
        modelreg.Client("http://x", auth="basic")
    # MODELREG_AUTH=token, as the Go CLI spells it, is the bearer token too.
    monkeypatch.setenv("MODELREG_AUTH", "token")
    assert modelreg.Client(modelreg_server.url).auth == "bearer"


def test_stage_if_changed_polls_with_the_etag(modelreg_server, repo):
    c = client(modelreg_server)
    c.register("poll", source="s3://b/poll/1")
    c.promote("poll", 1, "Staging")
    v, tag = c.stage_if_changed("poll", stage="Staging")
    assert v is not None and v.version == 1 and tag
    assert c.stage_if_changed("poll", tag, stage="Staging") == (None, tag)
    c.register("poll", source="s3://b/poll/2")
    c.promote("poll", 2, "Staging")
    v, tag2 = c.stage_if_changed("poll", tag, stage="Staging")
    assert v is not None and v.version == 2 and tag2 != tag
