"""The suite tests the client from this tree (src/ on sys.path), so it
runs in the project's shared virtualenv without installing it there."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import socket  # noqa: E402

import pytest  # noqa: E402

from faultproxy import FaultProxy  # noqa: E402


@pytest.fixture
def proxied(modelreg_factory):
    """A server whose API and signed artifact URLs go through a FaultProxy:
    returns (server, proxy)."""
    p = FaultProxy()
    # serve prints its public URL (the proxy's), so it listens on a port
    # chosen here; the later --addr overrides the fixture's.
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    s = modelreg_factory("--addr", f"127.0.0.1:{port}", "--public-url", p.url)
    p.upstream = f"http://127.0.0.1:{port}"
    yield s, p
    p.close()
