"""Fixtures of the MLflow suites: a `modelreg serve` (modelreg_fixtures)
with the MLflow client's environment pointing at it."""

from __future__ import annotations

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "mlflow2: also run with the newest 2.x client (scripts/test: -m mlflow2)")


@pytest.fixture(params=["sqlite+filesystem", "dynamodb+s3"])
def srv(request, modelreg_factory, monkeypatch):
    """A server with MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN (a
    publisher) pointing at it: once on the embedded backends, once on
    DynamoDB Local + MinIO (skipped when scripts/test did not start them;
    a failure in CI)."""
    import os
    from modelreg_fixtures import aws_backend_env
    env = None
    if request.param == "dynamodb+s3":
        env = aws_backend_env()
        if env is None:
            if os.environ.get("CI") == "true":
                pytest.fail("DynamoDB Local and MinIO are not running (CI=true: the suite must run on them)")
            pytest.skip("DynamoDB Local and MinIO are not running (scripts/test starts them)")
    s = modelreg_factory(env=env)
    s.publisher = s.token("ci", "publisher")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", s.url)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", s.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", s.publisher)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    return s


@pytest.fixture
def client(srv):
    return MlflowClient(tracking_uri=srv.url, registry_uri=srv.url)
