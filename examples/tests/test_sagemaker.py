"""examples/sagemaker: register_from_sagemaker with a SageMaker training
job's environment, signed with SigV4, through a handler that verifies each
signature with aws-sdk-go-v2's signer (clients/python/tests/testdata/
sigv4sign) and passes verified requests on to a real modelreg serve."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "sagemaker"))

import register_model  # noqa: E402

import modelreg  # noqa: E402

CREDS = {"access_key": "ASIAEXAMPLEJOBROLE", "secret_key": "job/role+secret", "session_token": "job-session",
         "region": "eu-west-1", "service": "execute-api"}


@pytest.fixture
def gateway(modelreg_server, tmp_path):
    out = tmp_path / "sigv4sign"
    subprocess.run([shutil.which("go") or "go", "build", "-o", str(out), "./clients/python/tests/testdata/sigv4sign"],
                   cwd=ROOT, check=True)
    tok = modelreg_server.token("sagemaker-job", "publisher")
    p = subprocess.Popen([str(out), "-verify", "127.0.0.1:0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdin and p.stdout
    p.stdin.write(json.dumps({**CREDS, "upstream": modelreg_server.url, "upstream_token": tok}))
    p.stdin.close()
    url = p.stdout.readline().strip()
    yield url
    p.terminate()
    p.wait(timeout=10)


def test_a_training_job_registers_its_model_dir_with_sigv4(gateway, modelreg_server, tmp_path, monkeypatch):
    model_dir = tmp_path / "opt" / "ml" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "model.joblib").write_bytes(b"weights" * 1000)
    (model_dir / "code").mkdir()
    (model_dir / "code" / "inference.py").write_text("def predict(x): return x\n")
    env = {"SM_MODEL_DIR": str(model_dir), "TRAINING_JOB_NAME": "churn-2026-12-01-09-30",
           "SM_CHANNEL_TRAIN": "/opt/ml/input/data/train",
           "SM_TRAINING_ENV": json.dumps({"job_name": "churn-2026-12-01-09-30", "user_entry_point": "train.py",
                                          "current_instance_type": "ml.m5.xlarge"}),
           "MODELREG_URL": gateway, "AWS_ACCESS_KEY_ID": CREDS["access_key"],
           "AWS_SECRET_ACCESS_KEY": CREDS["secret_key"], "AWS_SESSION_TOKEN": CREDS["session_token"],
           "AWS_REGION": CREDS["region"], "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    v = register_model.register_from_sagemaker("churn", metrics={"auc": (0.93, "validation")}, params={"epochs": 3})
    assert v.status == "READY" and sorted(a.path for a in v.artifacts) == ["code/inference.py", "model.joblib"]
    assert v.lineage["run"]["run_id"] == "churn-2026-12-01-09-30" and v.lineage["code"]["entry_point"] == "train.py"
    assert v.tags == {"sagemaker.channel.train": "/opt/ml/input/data/train", "sagemaker.instance_type": "ml.m5.xlarge"}
    assert v.created_by == "sagemaker-job"  # it reached the registry through the verifier
    # The same with a wrong secret is refused by the verifier: nothing registered.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "stolen-but-wrong")
    with pytest.raises(modelreg.Forbidden):
        register_model.register_from_sagemaker("churn")
    assert modelreg.Client(modelreg_server.url, modelreg_server.admin_token).get_model("churn").latest_version == 1
