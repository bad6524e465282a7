"""Fixtures of the MLflow suites: a `modelreg serve` (modelreg_fixtures)
with the MLflow client's environment pointing at it."""

from __future__ import annotations

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402


@pytest.fixture
def srv(modelreg_server, monkeypatch):
    """A server with MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN (a
    publisher) pointing at it."""
    s = modelreg_server
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
