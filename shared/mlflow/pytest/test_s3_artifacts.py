"""MLflow run artifacts on s3:// (MODELREG_MLFLOW_ARTIFACTS=s3, what the
AWS stack sets): `modelreg serve` on DynamoDB Local + MinIO hands runs and
logged models an s3:// artifact location under the bucket's runs/ prefix;
the real mlflow client (mlflow==3.17.2, boto3) writes there with its own
credentials, and register_model copies those objects into the version,
hashing them on the way."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import urllib.request

import pytest

mlflow = pytest.importorskip("mlflow")
sklearn = pytest.importorskip("sklearn")
boto3 = pytest.importorskip("boto3")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

PREFIX = "arts/"


@pytest.fixture
def s3srv(modelreg_factory, monkeypatch, tmp_path):
    from modelreg_fixtures import aws_backend_env
    env = aws_backend_env()
    if env is None:
        if os.environ.get("CI") == "true":
            pytest.fail("DynamoDB Local and MinIO are not running (CI=true: the suite must run on them)")
        pytest.skip("DynamoDB Local and MinIO are not running (scripts/test starts them)")
    env["MODELREG_MLFLOW_ARTIFACTS"] = "s3"
    env["MODELREG_S3_PREFIX"] = PREFIX
    s = modelreg_factory(env=env)
    s.bucket = env["MODELREG_S3_BUCKET"]
    s.publisher = s.token("ci", "publisher")
    for k, v in {
        "MLFLOW_TRACKING_URI": s.url, "MLFLOW_REGISTRY_URI": s.url, "MLFLOW_TRACKING_TOKEN": s.publisher,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        # The client's own S3 credentials (on AWS: its IAM role, and no
        # endpoint variable).
        "MLFLOW_S3_ENDPOINT_URL": os.environ["MODELREG_S3_ENDPOINT"],
        "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return s


def s3(srv):
    return boto3.client("s3", endpoint_url=os.environ["MODELREG_S3_ENDPOINT"])


def objects(srv, prefix):
    out = {}
    for page in s3(srv).get_paginator("list_objects_v2").paginate(Bucket=srv.bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            body = s3(srv).get_object(Bucket=srv.bucket, Key=o["Key"])["Body"].read()
            out[o["Key"][len(prefix):]] = hashlib.sha256(body).hexdigest()
    return out


def v1(srv, path):
    req = urllib.request.Request(srv.url + path, headers={"Authorization": "Bearer " + srv.admin_token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def test_log_model_to_s3_and_register(s3srv):
    srv = s3srv
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    with open("model.pkl", "wb") as f:
        pickle.dump(model, f)
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", 0.01)
        mlflow.log_metric("accuracy", 0.94)
        info = mlflow.sklearn.log_model(model, name="model")
        mlflow.log_artifact("model.pkl", artifact_path="extra")
    rid, eid = run.info.run_id, run.info.experiment_id
    base = f"s3://{srv.bucket}/{PREFIX}runs/"
    assert run.info.artifact_uri == f"{base}{eid}/{rid}/artifacts"
    assert mlflow.get_experiment(eid).artifact_location == f"{base}{eid}"
    lm = mlflow.get_logged_model(info.model_id)
    assert lm.artifact_location == f"{base}{eid}/models/{info.model_id}/artifacts"

    # The client wrote straight to MinIO, under the run prefix.
    run_files = objects(srv, f"{PREFIX}runs/{eid}/{rid}/artifacts/")
    assert run_files == {"extra/model.pkl": hashlib.sha256(open("model.pkl", "rb").read()).hexdigest()}
    model_files = objects(srv, f"{PREFIX}runs/{eid}/models/{info.model_id}/artifacts/")
    assert "MLmodel" in model_files and any(p.startswith("model.") for p in model_files), model_files

    mv = mlflow.register_model(f"runs:/{rid}/model", "S3Model")
    assert mv.status == "READY"
    got = v1(srv, "/v1/models/S3Model/versions/1")
    assert got["status"] == "READY"
    # The SHA-256 of each file is that of the bytes the client wrote.
    assert {a["path"]: a["sha256"] for a in got["artifacts"]} == model_files
    assert got["metrics"]["accuracy"]["value"] == 0.94 and got["params"] == {"learning_rate": "0.01"}
    assert got["lineage"]["run"]["run_id"] == rid
    # The version's own copies, under its keys.
    assert objects(srv, f"{PREFIX}S3Model/1/") == model_files

    client = MlflowClient()
    d = mlflow.artifacts.download_artifacts("models:/S3Model/1")
    for p, sum in model_files.items():
        with open(os.path.join(d, p), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sum, p
    client.set_registered_model_alias("S3Model", "champion", 1)
    loaded = mlflow.pyfunc.load_model("models:/S3Model@champion")
    assert list(loaded.predict(X[:20])) == list(model.predict(X[:20]))

    # A run artifact directory registers too (runs:/RUN/PATH, listed from S3).
    mv2 = client.create_model_version("S3Model", f"runs:/{rid}/extra", run_id=rid)
    assert mv2.status == "READY"
    got2 = v1(srv, "/v1/models/S3Model/versions/2")
    assert [(a["path"], a["sha256"]) for a in got2["artifacts"]] == [("model.pkl", run_files["extra/model.pkl"])]
    assert client.get_model_version_download_uri("S3Model", 2) == f"{run.info.artifact_uri}/extra"


def test_foreign_sources_refused(s3srv):
    srv = s3srv
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/a.txt")
    with mlflow.start_run() as other:
        mlflow.log_text("other", "notes/b.txt")
    rid = run.info.run_id
    client.create_registered_model("Foreign")
    s3(srv).put_object(Bucket=srv.bucket, Key=PREFIX + "Secret/1/weights.bin", Body=b"not yours")
    for source, run_id in [
        ("s3://some-other-bucket/runs/0/x/artifacts", rid),  # another bucket
        (f"s3://{srv.bucket}/{PREFIX}Secret/1/", None),  # our bucket, outside runs/
        (f"s3://{srv.bucket}/{PREFIX}Secret/1/", rid),
        (f"{other.info.artifact_uri}/notes", rid),  # another run's location
        (f"s3://{srv.bucket}/{PREFIX}runs/{run.info.experiment_id}/{rid}/artifacts/../../{other.info.run_id}/artifacts", rid),
    ]:
        with pytest.raises(MlflowException) as e:
            client.create_model_version("Foreign", source, run_id=run_id)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", (source, e.value.message)
    assert client.search_model_versions("name = 'Foreign'") == []
    # A model named runs would have its version keys under runs/, where
    # clients write.
    with pytest.raises(MlflowException) as e:
        client.create_registered_model("runs")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    # Its own location registers.
    mv = client.create_model_version("Foreign", f"{run.info.artifact_uri}/notes", run_id=rid)
    assert mv.status == "READY"
    assert [a["path"] for a in v1(srv, "/v1/models/Foreign/versions/1")["artifacts"]] == ["a.txt"]
