"""Proxied multipart uploads of large run artifacts, and the soft deletion
and restoration of runs and experiments, driven by the real mlflow client
(mlflow==3.17.2) on both backends."""

from __future__ import annotations

import hashlib
import os
import urllib.request

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.entities import ViewType  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository  # noqa: E402
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

PART = 5 << 20  # S3's least part size (MinIO enforces it too)


@pytest.fixture
def multipart(monkeypatch, tmp_path):
    """The client set to send files of 5 MiB or more in 5 MiB parts, and a
    file of three parts (the last one short)."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    data = os.urandom(2 * PART + 12345)
    f = tmp_path / "weights.bin"
    f.write_bytes(data)
    calls: dict[str, list] = {"create": [], "complete": [], "abort": []}
    for op in calls:
        name = f"{op}_multipart_upload"
        orig = getattr(HttpArtifactRepository, name)

        def spy(self, *a, _orig=orig, _op=op, **k):
            out = _orig(self, *a, **k)
            calls[_op].append(out)
            return out
        monkeypatch.setattr(HttpArtifactRepository, name, spy)
    return f, data, calls


def artifact_sha(srv, run, path):
    """The SHA-256 the server recorded for a run file (its download's
    X-Modelreg-SHA256 header)."""
    uri = run.info.artifact_uri.removeprefix("mlflow-artifacts:/")
    req = urllib.request.Request(f"{srv.url}/api/2.0/mlflow-artifacts/artifacts/{uri}/{path}",
                                 headers={"Authorization": "Bearer " + srv.publisher})
    with urllib.request.urlopen(req, timeout=30) as r:
        h = hashlib.sha256()
        for block in iter(lambda: r.read(1 << 20), b""):
            h.update(block)
        return r.headers["X-Modelreg-SHA256"], h.hexdigest()


@pytest.mark.mlflow2
def test_multipart_upload(srv, multipart, tmp_path):
    f, data, calls = multipart
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f), "big")
        mlflow.log_artifact(str(f))  # at the run's root too
    assert len(calls["create"]) == 2 and len(calls["complete"]) == 2 and not calls["abort"]
    assert len(calls["create"][0].credentials) == 3
    client = MlflowClient()
    assert [(x.path, x.file_size) for x in client.list_artifacts(run.info.run_id, "big")] == [("big/weights.bin", len(data))]
    assert ("weights.bin", False, len(data)) in [(x.path, x.is_dir, x.file_size) for x in client.list_artifacts(run.info.run_id)]
    out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="big/weights.bin", dst_path=str(tmp_path / "dl"))
    with open(out, "rb") as got:
        assert got.read() == data
    recorded, streamed = artifact_sha(srv, run, "big/weights.bin")
    assert recorded == streamed == hashlib.sha256(data).hexdigest()
    # Sent again, it replaces the file.
    f.write_bytes(data[::-1])
    client.log_artifact(run.info.run_id, str(f), "big")
    out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="big/weights.bin", dst_path=str(tmp_path / "dl2"))
    with open(out, "rb") as got:
        assert got.read() == data[::-1]
    assert artifact_sha(srv, run, "big/weights.bin")[0] == hashlib.sha256(data[::-1]).hexdigest()


def test_multipart_abort(srv, multipart, monkeypatch):
    """A part that fails makes the client abort: nothing is stored, and the
    upload is gone (completing it is refused)."""
    f, data, calls = multipart
    orig = HttpArtifactRepository._upload_part

    def flaky(credential, local_file, size, start_byte):
        if credential.part_number == 2:
            raise OSError("connection reset (test)")
        return orig(credential, local_file, size, start_byte)
    monkeypatch.setattr(HttpArtifactRepository, "_upload_part", staticmethod(flaky))
    client = MlflowClient()
    run = client.create_run("0")
    with pytest.raises(MlflowException, match="Failed to upload at least one part"):
        client.log_artifact(run.info.run_id, str(f), "big")
    assert len(calls["create"]) == 1 and len(calls["abort"]) == 1 and not calls["complete"]
    assert client.list_artifacts(run.info.run_id, "big") == []
    repo = get_artifact_repository(run.info.artifact_uri)
    from mlflow.entities.multipart_upload import MultipartUploadPart
    parts = [MultipartUploadPart(part_number=n, etag="", url=None) for n in (1, 2, 3)]
    with pytest.raises(Exception) as e:
        repo.complete_multipart_upload(str(f), calls["create"][0].upload_id, parts, "big")
    assert "404" in str(e.value) or "RESOURCE_DOES_NOT_EXIST" in str(e.value)
    assert client.list_artifacts(run.info.run_id, "big") == []


def test_multipart_refusals(srv, multipart):
    f, data, calls = multipart
    client = MlflowClient()
    run = client.create_run("0")
    repo = get_artifact_repository(run.info.artifact_uri)
    # A reader may not upload.
    os.environ["MLFLOW_TRACKING_TOKEN"] = srv.token("reader-mpu", "reader")
    try:
        with pytest.raises(Exception, match="403|PERMISSION_DENIED"):
            repo.create_multipart_upload(str(f), 3, "big")
    finally:
        os.environ["MLFLOW_TRACKING_TOKEN"] = srv.publisher
    with pytest.raises(Exception, match="400|INVALID_PARAMETER_VALUE"):
        repo.create_multipart_upload(str(f), 0, "big")
    other = get_artifact_repository(run.info.artifact_uri.replace(run.info.run_id, "0" * 32))
    with pytest.raises(Exception, match="404|RESOURCE_DOES_NOT_EXIST"):
        other.create_multipart_upload(str(f), 3, "big")


@pytest.mark.mlflow2
def test_delete_restore_runs_and_experiments(srv):
    client = MlflowClient()
    eid = client.create_experiment("lifecycle")
    runs = [client.create_run(eid).info.run_id for _ in range(3)]
    client.delete_run(runs[0])
    assert client.get_run(runs[0]).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as e:
        client.log_param(runs[0], "p", "1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    ids = lambda view: sorted(r.info.run_id for r in client.search_runs([eid], run_view_type=view))  # noqa: E731
    assert ids(ViewType.ACTIVE_ONLY) == sorted(runs[1:])
    assert ids(ViewType.DELETED_ONLY) == [runs[0]]
    assert ids(ViewType.ALL) == sorted(runs)
    client.restore_run(runs[0])
    assert client.get_run(runs[0]).info.lifecycle_stage == "active"
    client.log_param(runs[0], "p", "1")

    with pytest.raises(MlflowException) as e:
        client.delete_experiment("0")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    client.delete_run(runs[2])
    client.delete_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "deleted"
    assert ids(ViewType.ACTIVE_ONLY) == []
    assert ids(ViewType.DELETED_ONLY) == sorted(runs)
    names = lambda view: [x.name for x in client.search_experiments(view_type=view)]  # noqa: E731
    assert "lifecycle" not in names(ViewType.ACTIVE_ONLY)
    assert names(ViewType.DELETED_ONLY) == ["lifecycle"]
    assert sorted(names(ViewType.ALL)) == ["Default", "lifecycle"]
    with pytest.raises(MlflowException) as e:
        client.create_run(eid)
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException):
        mlflow.set_experiment("lifecycle")  # the client refuses a deleted experiment
    with pytest.raises(MlflowException) as e:
        client.delete_experiment(eid)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.restore_experiment(eid)
    assert client.get_experiment(eid).lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == sorted(runs)  # MLflow restores every run of the experiment
    with pytest.raises(MlflowException) as e:
        client.restore_experiment(eid)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
