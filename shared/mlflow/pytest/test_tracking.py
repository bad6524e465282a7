"""The tracking subset of `modelreg serve` (experiments, runs, logged models,
the mlflow-artifacts proxy) and registration from runs, driven only by the
real mlflow client (mlflow==3.17.2)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
import urllib.request

import pytest

mlflow = pytest.importorskip("mlflow")
sklearn = pytest.importorskip("sklearn")
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

MLFLOW3 = int(mlflow.__version__.split(".")[0]) >= 3


@pytest.fixture
def trained(tmp_path, monkeypatch):
    """A tiny model on scikit-learn's iris data, pickled to model.pkl in
    the working directory (the snippet logs that file)."""
    monkeypatch.chdir(tmp_path)
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    with open("model.pkl", "wb") as f:
        pickle.dump(model, f)
    return model, X


def v1(srv, path):
    req = urllib.request.Request(srv.url + path, headers={"Authorization": "Bearer " + srv.admin_token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


@pytest.mark.mlflow2
def test_issue_snippet_verbatim(srv, trained):
    model, X = trained
    # ---- the issue's snippet, unchanged ----
    import mlflow
    from mlflow.tracking import MlflowClient
    with mlflow.start_run() as run:
        mlflow.log_param("learning_rate", 0.01)
        mlflow.log_metric("accuracy", 0.94)
        mlflow.sklearn.log_model(model, "model")
        mlflow.log_artifact("model.pkl")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "ChurnPredictionModel")
    client = MlflowClient()
    client.transition_model_version_stage(name="ChurnPredictionModel", version=1, stage="Staging")
    client.transition_model_version_stage(name="ChurnPredictionModel", version=1, stage="Production", archive_existing_versions=True)
    # ---- end of the snippet ----

    mv = client.get_model_version("ChurnPredictionModel", 1)
    assert mv.status == "READY" and mv.run_id == run.info.run_id
    if MLFLOW3:  # log_model made a logged model; 2.x logs it under the run
        assert mv.source.startswith("models:/m-")
    else:
        assert mv.source == f"mlflow-artifacts:/0/{run.info.run_id}/artifacts/model"
    # Production waits for a second person.
    assert mv.current_stage == "Staging"
    approval = mv.tags["modelreg.pending_approval"]
    srv.cli("approvals", "approve", approval, "--comment", "ok", token=srv.token("alice", "approver"))
    deadline = time.time() + 20
    while client.get_model_version("ChurnPredictionModel", 1).current_stage != "Production":
        assert time.time() < deadline, "never reached Production"
        time.sleep(0.1)

    # The version's own record: files verified, training metrics, params, lineage.
    got = v1(srv, "/v1/models/ChurnPredictionModel/versions/1")
    assert got["status"] == "READY"
    paths = {a["path"] for a in got["artifacts"]}
    assert "MLmodel" in paths and any(p.startswith("model.") for p in paths), paths
    assert got["metrics"]["accuracy"]["value"] == 0.94 and got["metrics"]["accuracy"]["source"] == "training"
    assert got["params"] == {"learning_rate": "0.01"}
    assert got["lineage"]["run"]["run_id"] == run.info.run_id
    assert got["lineage"]["code"]["entry_point"]  # mlflow.source.name

    # The run and its artifacts as logged.
    r = client.get_run(run.info.run_id)
    assert r.info.status == "FINISHED" and r.data.params == {"learning_rate": "0.01"} and r.data.metrics == {"accuracy": 0.94}
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == (["model.pkl"] if MLFLOW3 else ["model", "model.pkl"])
    back = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model.pkl")
    assert open(back, "rb").read() == open("model.pkl", "rb").read()

    # download_artifacts and pyfunc return what was logged.
    d = mlflow.artifacts.download_artifacts("models:/ChurnPredictionModel/1")
    assert "MLmodel" in os.listdir(d)
    for a in got["artifacts"]:
        with open(os.path.join(d, a["path"]), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == a["sha256"], a["path"]
    client.set_registered_model_alias("ChurnPredictionModel", "champion", 1)
    loaded = mlflow.pyfunc.load_model("models:/ChurnPredictionModel@champion")
    assert list(loaded.predict(X[:20])) == list(model.predict(X[:20]))


def test_rename_keeps_files(srv, trained):
    """A renamed model's versions download and load by the new name: the
    files stay where they were written."""
    model, X = trained
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, "model")
    client = MlflowClient()
    mlflow.register_model(info.model_uri, "Before")
    client.set_registered_model_alias("Before", "champion", 1)
    os.environ["MLFLOW_TRACKING_TOKEN"] = srv.admin_token
    client.rename_registered_model("Before", "After")
    mv = client.get_model_version("After", 1)
    assert mv.name == "After" and mv.status == "READY"
    d = mlflow.artifacts.download_artifacts("models:/After/1")
    assert "MLmodel" in os.listdir(d)
    loaded = mlflow.pyfunc.load_model("models:/After@champion")
    assert list(loaded.predict(X[:20])) == list(model.predict(X[:20]))
    with pytest.raises(MlflowException) as e:
        mlflow.artifacts.download_artifacts("models:/Before/1")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.mlflow2
def test_register_runs_artifact_path_with_lineage(srv, trained):
    """A model logged as run artifacts (log_artifacts of an MLmodel
    directory) registers from runs:/RUN/PATH; the git commit MLflow tagged
    becomes the version's lineage."""
    model, _ = trained
    mlflow.set_experiment("churn-training")
    os.makedirs("export", exist_ok=True)
    mlflow.sklearn.save_model(model, "export/model", pip_requirements=["scikit-learn"])
    with mlflow.start_run() as run:
        mlflow.set_tag("mlflow.source.git.commit", "0123456789abcdef0123456789abcdef01234567")
        mlflow.log_metrics({"f1": 0.9, "auc": 0.97})
        mlflow.log_params({"C": "1.0", "solver": "lbfgs"})
        mlflow.log_artifacts("export/model", artifact_path="exported")
    exp = mlflow.get_experiment_by_name("churn-training")
    assert exp.experiment_id != "0" and run.info.experiment_id == exp.experiment_id
    mv = mlflow.register_model(f"runs:/{run.info.run_id}/exported", "Exported")
    assert mv.status == "READY"
    got = v1(srv, "/v1/models/Exported/versions/1")
    assert got["lineage"]["code"]["commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert got["params"] == {"C": "1.0", "solver": "lbfgs"}
    assert set(got["metrics"]) == {"f1", "auc"}
    assert "MLmodel" in {a["path"] for a in got["artifacts"]}


def test_tracking_errors(srv, trained):
    client = MlflowClient()
    with pytest.raises(MlflowException) as e:
        client.get_run("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    eid = client.create_experiment("dup")
    with pytest.raises(MlflowException) as e:
        client.create_experiment("dup")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    run = client.create_run(eid)
    client.log_param(run.info.run_id, "p", "1")
    with pytest.raises(MlflowException) as e:
        client.log_param(run.info.run_id, "p", "2")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    client.set_terminated(run.info.run_id)
    client.create_registered_model("Nothing")
    with pytest.raises(MlflowException) as e:
        client.create_model_version("Nothing", f"runs:/{run.info.run_id}/nothing", run_id=run.info.run_id)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE" and "no artifacts" in e.value.message
    with pytest.raises(MlflowException) as e:
        client.create_model_version("Nothing", "models:/m-missing")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions("name = 'Nothing'") == []
