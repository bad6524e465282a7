"""pytest fixtures that run a real `modelreg serve` for the Python suites.

scripts/test loads this plug-in (`-p modelreg_fixtures`, with this folder on
PYTHONPATH) for every suite in scripts/test.d/pytest-suites, and sets
MODELREG_BIN to a modelreg binary it built. By hand:

    go build -o /tmp/modelreg ./cmd/modelreg
    MODELREG_BIN=/tmp/modelreg PYTHONPATH=scripts/pytest \\
        _tools/venv/bin/python -m pytest -p modelreg_fixtures DIR

Fixtures:
    modelreg_server   a server for one test (fresh data directory)
    modelreg_factory  start(*extra_args, env=None) -> Server, for tests that
                      need their own flags or several servers

A Server has .url, .data_dir, .admin_token, .token(name, role, groups=()),
.cli(*args) (runs the modelreg CLI against it and returns the completed
process), .restart() and .stop(). Servers are stopped at the end of the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, Sequence

import pytest

_LISTENING = re.compile(r"modelreg listening on (\S+)")


def modelreg_bin() -> str:
    """The modelreg binary the suites run: $MODELREG_BIN or `modelreg` on PATH."""
    b = os.environ.get("MODELREG_BIN") or shutil.which("modelreg")
    if not b:
        pytest.fail("MODELREG_BIN is not set and modelreg is not on PATH "
                    "(go build -o /tmp/modelreg ./cmd/modelreg)")
    return b


class Server:
    """A `modelreg serve` process on a free loopback port."""

    def __init__(self, data_dir: Path, args: Sequence[str], env: dict[str, str] | None):
        self.data_dir = data_dir
        self.args = list(args)
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log: list[str] = []
        self.start()

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server and waits until it prints its URL."""
        cmd = [modelreg_bin(), "serve", "--addr", "127.0.0.1:0",
               "--data-dir", str(self.data_dir), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=self.env)
        found = threading.Event()

        def pump(p: subprocess.Popen[str]) -> None:
            assert p.stdout is not None
            for line in p.stdout:
                self.log.append(line.rstrip("\n"))
                m = _LISTENING.search(line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()

        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        if not found.wait(timeout):
            self.stop()
            raise RuntimeError("modelreg serve did not start:\n" + "\n".join(self.log))

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def cli(self, *args: str, token: str | None = None, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Runs `modelreg ARGS` against this server (admin token by default)."""
        e = dict(self.env)
        e.update({"MODELREG_URL": self.url, "MODELREG_TOKEN": token or self.admin_token,
                  "MODELREG_DATA_DIR": str(self.data_dir)})
        if env:
            e.update(env)
        p = subprocess.run([modelreg_bin(), *args], capture_output=True, text=True, env=e)
        if check and p.returncode != 0:
            raise AssertionError(f"modelreg {' '.join(args)} exited {p.returncode}:\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p

    def token(self, name: str, role: str, groups: Sequence[str] = ()) -> str:
        """Adds a token and returns it once the server accepts it (a running
        server reloads the tokens file within about a second)."""
        args = ["tokens", "add", name, "--role", role]
        for g in groups:
            args += ["--group", g]
        tok = self.cli(*args).stdout.strip().splitlines()[-1]
        deadline = time.monotonic() + 10
        while True:
            req = urllib.request.Request(self.url + "/v1/models?limit=1",
                                         headers={"Authorization": "Bearer " + tok})
            try:
                urllib.request.urlopen(req, timeout=5).close()
                return tok
            except urllib.error.HTTPError as e:
                if e.code != 401 or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stops the server (SIGKILL with sig=signal.SIGKILL) and waits for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        """Stops and starts the server on the same data (it gets a new port)."""
        self.stop()
        self.start()


@pytest.fixture
def modelreg_factory() -> Iterator:
    servers: list[Server] = []
    dirs: list[str] = []

    def start(*args: str, env: dict[str, str] | None = None, data_dir: Path | None = None) -> Server:
        if data_dir is None:
            d = tempfile.mkdtemp(prefix="modelreg-pytest-")
            dirs.append(d)
            data_dir = Path(d)
        s = Server(data_dir, args, env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)


def aws_backend_env() -> dict[str, str] | None:
    """The environment that makes `modelreg serve` keep its records in
    DynamoDB Local and its artifacts in MinIO (a fresh table and bucket,
    created by the server), or None when scripts/test did not start them
    (MODELREG_DYNAMODB_ENDPOINT, MODELREG_S3_ENDPOINT)."""
    if not (os.environ.get("MODELREG_DYNAMODB_ENDPOINT") and os.environ.get("MODELREG_S3_ENDPOINT")):
        return None
    suffix = os.urandom(4).hex()
    return {
        "MODELREG_STORE": "dynamodb", "MODELREG_ARTIFACTS": "s3", "MODELREG_CREATE_RESOURCES": "true",
        "MODELREG_DYNAMODB_TABLE": "pytest-" + suffix, "MODELREG_S3_BUCKET": "pytest-" + suffix,
        "AWS_ACCESS_KEY_ID": os.environ.get("MODELREG_S3_ACCESS_KEY", ""),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("MODELREG_S3_SECRET_KEY", ""),
        "AWS_REGION": "us-east-1",
    }


@pytest.fixture
def modelreg_server(modelreg_factory) -> Server:
    return modelreg_factory()
