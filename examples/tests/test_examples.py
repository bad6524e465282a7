"""examples/train and examples/serving against a real `modelreg serve`:
train registers two versions and requests Production; a second token
approves; the serving app follows Production by polling with an ETag and
by the signed webhook, and goes back after `modelreg rollback`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import modelreg

ROOT = Path(__file__).resolve().parents[2]
MODEL = "breast-cancer"
ROWS = [[14.0] * 30, [20.0] * 30]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = cond()
            if got:
                return got
        except (requests.RequestException, modelreg.NotFound):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        time.sleep(0.1)


def env_for(server, token: str, **extra: str) -> dict:
    e = dict(os.environ, MODELREG_URL=server.url, MODELREG_TOKEN=token,
             PYTHONPATH=str(ROOT / "clients" / "python" / "src"))
    e.update(extra)
    return e


@pytest.fixture
def trained(modelreg_server):
    """Runs examples/train and approves its Production request."""
    return train(modelreg_server)


def train(modelreg_server):
    """Runs examples/train against modelreg_server and approves its
    Production request; returns (publisher client, approver client, the
    Production version, the other version)."""
    pub = modelreg_server.token("trainer", "publisher")
    approver = modelreg.Client(modelreg_server.url, modelreg_server.token("ann", "approver"))
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "train" / "train.py"), MODEL], cwd=ROOT,
                       env=env_for(modelreg_server, pub), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    c = modelreg.Client(modelreg_server.url, pub)
    v = [c.get(MODEL, n) for n in out["versions"]]
    assert len(v) == 2 and v[0].params["C"] != v[1].params["C"]
    assert v[0].metrics["auc"].value != v[1].metrics["auc"].value
    assert v[0].lineage["data"]["dataset_id"] == "sklearn:breast_cancer"
    assert v[0].lineage["data"]["dataset_version"].startswith("sha256:")
    assert v[0].lineage["code"].get("commit") and all(x.artifacts for x in v)
    best = c.get(MODEL, out["best"])
    assert best.metrics["auc"].value == max(x.metrics["auc"].value for x in v)
    assert out["approval_id"] and c.approval(out["approval_id"]).status == "PENDING"
    approver.approve(out["approval_id"], "reviewed")
    wait_for(lambda: c.stage(MODEL).version == out["best"], 30, "Production")
    other = [n for n in out["versions"] if n != out["best"]][0]
    return c, approver, out["best"], other


def serve(server, tmp_path, **env: str):
    port = free_port()
    reader = server.token("svc", "reader")
    p = subprocess.Popen([sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(ROOT / "examples" / "serving"),
                          "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                         env=env_for(server, reader, MODEL_NAME=MODEL, MODEL_CACHE=str(tmp_path / "cache"), **env))
    return p, f"http://127.0.0.1:{port}"


def serving_version(url: str) -> int:
    r = requests.post(url + "/predict", json=ROWS, timeout=5)
    return r.json()["version"] if r.status_code == 200 else 0


def promote_approved(c, approver, version: int) -> None:
    c.promote(MODEL, version, "Staging", reason="candidate")
    t = c.promote(MODEL, version, "Production", reason="switch")
    approver.approve(t.approval.id, "ok")


def test_serving_follows_production_by_polling_and_rollback(modelreg_server, trained, tmp_path):
    c, approver, best, other = trained
    p, url = serve(modelreg_server, tmp_path, POLL_SECONDS="0.5")
    try:
        wait_for(lambda: serving_version(url) == best, 60, "serving the first Production version")
        r = requests.post(url + "/predict", json=ROWS, timeout=5).json()
        assert len(r["predictions"]) == 2
        promote_approved(c, approver, other)
        wait_for(lambda: serving_version(url) == other, 20, "serving the promoted version")
        modelreg_server.cli("rollback", MODEL, "--reason", "regression")
        wait_for(lambda: serving_version(url) == best, 20, "serving the old version after rollback")
    finally:
        p.terminate()
        p.wait(timeout=20)


def sign(secret: str, body: bytes, t: int) -> str:
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_serving_switches_on_a_signed_webhook(modelreg_server, trained, tmp_path):
    c, approver, best, other = trained
    secret = "whsec_example_0123456789"
    # Polling is effectively off: only the webhook can make it look again.
    p, url = serve(modelreg_server, tmp_path, POLL_SECONDS="3600", WEBHOOK_SECRET=secret)
    try:
        wait_for(lambda: serving_version(url) == best, 60, "serving the first Production version")
        promote_approved(c, approver, other)
        wait_for(lambda: c.stage(MODEL).version == other, 20, "Production moved")
        body = json.dumps({"detail-type": "Model Version Stage Changed",
                           "detail": {"model": MODEL, "version": other, "to": "Production"}}).encode()
        now = int(time.time())
        hook = url + "/webhook"
        bad = [({"Modelreg-Signature": sign("wrong", body, now), "Modelreg-Event-Id": "e1"}, 401),
               ({"Modelreg-Signature": sign(secret, body, now - 301), "Modelreg-Event-Id": "e1"}, 401),
               ({"Modelreg-Signature": f"t={now}", "Modelreg-Event-Id": "e1"}, 401),
               ({"Modelreg-Event-Id": "e1"}, 401)]
        for headers, status in bad:
            assert requests.post(hook, data=body, headers=headers, timeout=5).status_code == status
        tampered = body.replace(b"Production", b"Staging")
        assert requests.post(hook, data=tampered, headers={"Modelreg-Signature": sign(secret, body, now),
                                                           "Modelreg-Event-Id": "e1"}, timeout=5).status_code == 401
        assert serving_version(url) == best  # nothing valid arrived: no switch
        ok = {"Modelreg-Signature": sign(secret, body, now), "Modelreg-Event-Id": "e1"}
        assert requests.post(hook, data=body, headers=ok, timeout=5).json() == {"accepted": True, "duplicate": False}
        wait_for(lambda: serving_version(url) == other, 20, "serving the version the webhook announced")
        assert requests.post(hook, data=body, headers=ok, timeout=5).json()["duplicate"] is True
    finally:
        p.terminate()
        p.wait(timeout=20)


def test_serving_follows_the_registrys_real_webhook(modelreg_factory, tmp_path):
    """A deploy target pointing at the app's /webhook route, the secret
    shared: the registry's own signed deliveries (not requests signed by
    the test) make the app switch on a promotion and back on a rollback,
    with polling off; each delivery is recorded SUCCEEDED."""
    server = modelreg_factory("--allow-private-webhooks")
    c, approver, best, other = train(server)
    secret = "whsec_serving_real_0123456789"
    p, url = serve(server, tmp_path, POLL_SECONDS="3600", WEBHOOK_SECRET=secret)
    try:
        wait_for(lambda: serving_version(url) == best, 60, "serving the first Production version")
        server.cli("deploy-targets", MODEL, "add", "webhook", url + "/webhook", "--secret-env", "SERVING_HOOK_SECRET",
                   env={"SERVING_HOOK_SECRET": secret})
        promote_approved(c, approver, other)
        wait_for(lambda: serving_version(url) == other, 30, "serving the version the registry's webhook announced")
        server.cli("rollback", MODEL, "--reason", "regression")
        wait_for(lambda: serving_version(url) == best, 30, "serving the old version after the rollback's webhook")

        def deployments():
            return json.loads(server.cli("deployments", MODEL, "--output", "json").stdout)
        ds = wait_for(lambda: (lambda d: d if len(d) == 2 and all(x["status"] == "SUCCEEDED" for x in d) else None)(deployments()),
                      20, "two SUCCEEDED deployments")
        assert [d["version"] for d in ds] == [best, other], ds
        assert [d["previous_version"] for d in ds] == [other, best], ds
    finally:
        p.terminate()
        p.wait(timeout=20)
