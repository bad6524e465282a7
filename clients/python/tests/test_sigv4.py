"""SigV4: the client's botocore signature equals aws-sdk-go-v2's v4 signer
(testdata/sigv4sign, a Go program built here) for the same request, time
and credentials, and a client with auth="sigv4" passes a handler that
verifies signatures with the Go signer."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest

botocore = pytest.importorskip("botocore")  # the project's venv has it (moto)
from botocore.credentials import Credentials  # noqa: E402

import modelreg  # noqa: E402
from modelreg.sigv4 import Signer  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
WHEN = dt.datetime(2026, 12, 1, 9, 30, 15)


@pytest.fixture(scope="module")
def sigv4sign(tmp_path_factory) -> str:
    go = shutil.which("go")
    assert go, "go is needed to build the reference signer"
    out = str(tmp_path_factory.mktemp("sigv4") / "sigv4sign")
    subprocess.run([go, "build", "-o", out, "./clients/python/tests/testdata/sigv4sign"], cwd=ROOT, check=True)
    return out


def go_sign(binary: str, **req) -> dict:
    p = subprocess.run([binary], input=json.dumps(req), capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


CASES = [
    ("GET", "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/models/churn/stages/Production", {}, "", ""),
    ("GET", "https://api.example.com/v1/approvals?status=PENDING&model=churn&page_token=a%2Bb%3D", {}, "", "tok/en+1"),
    ("POST", "https://api.example.com/v1/models/churn/versions",
     {"Content-Type": "application/json", "Idempotency-Key": "0123abcd", "Accept": "application/json"},
     '{"metrics":{"auc":{"value":0.91}},"description":"ünïcode"}', "FQoGZXIvYXdzEJr//////////session"),
    ("PUT", "https://api.example.com/v1/models/a%20b/aliases/champion", {"Content-Type": "application/json"},
     '{"version":2}', ""),
    ("DELETE", "https://api.example.com/v1/models/churn/aliases/old", {}, "", ""),
]


@pytest.mark.parametrize("method,url,headers,body,token", CASES)
def test_signature_equals_aws_sdk_go_v2(sigv4sign, monkeypatch, method, url, headers, body, token):
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: WHEN)
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token or None)
    py = Signer(region="eu-west-1", credentials=creds).sign(method, url, headers, body.encode())
    go = go_sign(sigv4sign, method=method, url=url, headers=headers, body=body, time=WHEN.isoformat() + "Z",
                 access_key=creds.access_key, secret_key=creds.secret_key, session_token=token,
                 region="eu-west-1", service="execute-api")
    assert py["Authorization"] == go["Authorization"]
    assert py["X-Amz-Date"] == go["X-Amz-Date"] == "20261201T093015Z"
    assert py.get("X-Amz-Security-Token") == go.get("X-Amz-Security-Token")
    signed = py["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert ("content-length" in signed) == bool(body) and "host" in signed


@pytest.fixture
def verifier(sigv4sign):
    creds = {"access_key": "AKIDVERIFY", "secret_key": "secret/verify+key", "session_token": "sess",
             "region": "us-east-1", "service": "execute-api"}
    p = subprocess.Popen([sigv4sign, "-verify", "127.0.0.1:0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    assert p.stdin and p.stdout
    p.stdin.write(json.dumps(creds))
    p.stdin.close()
    url = p.stdout.readline().strip()
    yield url, creds
    p.terminate()
    p.wait(timeout=10)


def test_client_requests_pass_a_verifying_handler(verifier):
    url, c = verifier
    good = Credentials(c["access_key"], c["secret_key"], c["session_token"])
    client = modelreg.Client(url, auth="sigv4", signer=Signer(region="us-east-1", credentials=good))
    client.create_model("churn", description="signed")  # POST with a body
    client.get_model("churn")  # GET
    client.approvals(model="churn")  # GET with a query
    bad = Credentials(c["access_key"], "not-the-secret", c["session_token"])
    other = modelreg.Client(url, auth="sigv4", signer=Signer(region="us-east-1", credentials=bad))
    with pytest.raises(modelreg.Forbidden):
        other.get_model("churn")
    wrong_region = modelreg.Client(url, auth="sigv4", signer=Signer(region="eu-west-1", credentials=good))
    with pytest.raises(modelreg.Forbidden):
        wrong_region.create_model("churn")


def test_sigv4_reads_botocore_default_credentials(monkeypatch, verifier):
    url, c = verifier
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", c["access_key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", c["secret_key"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", c["session_token"])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("MODELREG_AUTH", "sigv4")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    modelreg.Client(url).get_model("churn")
