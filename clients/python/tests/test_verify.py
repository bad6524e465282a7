"""Background verification (VERIFYING) against a real `modelreg serve
--verify-async-bytes`: uploads holding more bytes than the threshold are
answered 202 with the version VERIFYING and verified by the server in the
background; the client waits for READY or raises on FAILED."""

from __future__ import annotations

import dataclasses
import json

import pytest

import modelreg
from modelreg import client as client_module
from test_client import client, sha, write

# 5 MiB: a 20 MiB file (two parts: 16 + 4 MiB) is over it, 1 MiB is not.
THRESHOLD = str(5 << 20)


@pytest.fixture
def verifying(modelreg_factory):
    """A server that verifies uploads of more than 5 MiB in the background."""
    return modelreg_factory("--verify-async-bytes", THRESHOLD)


def test_register_and_upload_wait_for_the_verification(verifying, tmp_path):
    big = write(tmp_path / "model.bin", 20 << 20, seed=11)
    seen = []
    c = client(verifying)
    v = c.register("ver", artifacts=[big], no_git=True,
                   progress=lambda done, total, phase: seen.append((phase, done, total)))
    assert v.status == "READY" and v.artifacts[0].sha256 == sha(big)
    phases = [p for p, _, _ in seen]
    assert "verifying" in phases and phases.index("verifying") > phases.index("upload")
    assert all(p == "verifying" for p in phases[phases.index("verifying"):])  # no bytes after
    assert all((d, t) == (20 << 20, 20 << 20) for p, d, t in seen if p == "verifying")
    hist = json.loads(verifying.cli("history", "ver", "1", "--output", "json").stdout)
    assert "version.verify_started" in json.dumps(hist)

    # upload to a registered version waits the same way; a two-argument
    # progress hears of bytes only.
    c.register("ver", no_git=True)
    two = []
    v = c.upload("ver", 2, [big], progress=lambda done, total: two.append((done, total)))
    assert v.status == "READY" and two[-1] == (20 << 20, 20 << 20)

    # Under the threshold complete verifies at once: no verifying phase.
    small = write(tmp_path / "small.bin", 1 << 20, seed=12)
    seen.clear()
    v = c.register("ver", artifacts=[small], no_git=True,
                   progress=lambda done, total, phase: seen.append((phase, done, total)))
    assert v.status == "READY" and seen and all(p == "upload" for p, _, _ in seen)


def test_a_failed_verification_raises_with_the_server_reason(verifying, tmp_path, monkeypatch):
    big = write(tmp_path / "model.bin", 20 << 20, seed=13)
    real = client_module.prepare_file

    def lying(local, reg):
        # Every part with its right digest (so each PUT is accepted), the
        # whole file declared with a wrong one: only the server's
        # background read-back can tell.
        return dataclasses.replace(real(local, reg), sha256="0" * 64)

    monkeypatch.setattr(client_module, "prepare_file", lying)
    c = client(verifying)
    with pytest.raises(modelreg.VerificationFailed) as e:
        c.register("bad", artifacts=[big], no_git=True)
    assert not isinstance(e.value, modelreg.UploadIncomplete)
    assert e.value.version.status == "FAILED" and "sha256" in e.value.reason
    assert "sha256" in str(e.value) and "bad version 1" in str(e.value)
    got = c.get("bad", 1)
    assert got.status == "FAILED" and got.status_reason == e.value.reason
    # Neither resume nor a new wait can make it READY: both say why.
    with pytest.raises(modelreg.VerificationFailed):
        c.resume("bad", 1, [big])
    with pytest.raises(modelreg.VerificationFailed):
        c.wait_verified("bad", 1)


def test_wait_false_returns_the_verifying_version(verifying, tmp_path):
    big = write(tmp_path / "model.bin", 20 << 20, seed=14)
    c = client(verifying)
    v = c.register("nowait", artifacts=[big], no_git=True, wait=False)
    assert v.status == "VERIFYING" and v.version == 1
    v = c.wait_verified("nowait", 1, timeout=120)
    assert v.status == "READY" and v.artifacts[0].sha256 == sha(big)
    assert c.wait_verified("nowait", 1).status == "READY"  # READY: returned at once
    c.register("nowait", no_git=True)
    assert c.upload("nowait", 2, [big], wait=False).status == "VERIFYING"
    assert c.resume("nowait", 2, [big]).status == "READY"  # resume of a VERIFYING version waits


def test_the_wait_is_bounded_by_its_timeout(verifying, tmp_path):
    big = write(tmp_path / "model.bin", 20 << 20, seed=15)
    c = client(verifying)
    with pytest.raises(modelreg.VerificationTimeout) as e:
        c.register("slow", artifacts=[big], no_git=True, timeout=0)
    assert isinstance(e.value, TimeoutError) and not isinstance(e.value, modelreg.UploadIncomplete)
    assert e.value.version.status == "VERIFYING" and e.value.version.version == 1
    assert "wait_verified('slow', 1)" in str(e.value)
    # The server went on verifying; waiting again finds it READY.
    assert c.wait_verified("slow", 1, timeout=120).status == "READY"
