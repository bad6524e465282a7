"""Serves predictions from the current Production version of a model and
switches when Production changes, two ways:

- the registry's signed webhook (POST /webhook): the body is verified
  against ``Modelreg-Signature: t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret,
  t + "." + body))``, timestamps older than 5 minutes are refused, and each
  ``Modelreg-Event-Id`` is acted on once; a valid event makes the app look
  up Production at once;
- polling ``GET /v1/models/{name}/stages/Production`` with If-None-Match
  every POLL_SECONDS (a 304 costs no download), so a missed webhook only
  delays the switch.

Settings (environment): MODELREG_URL, MODELREG_TOKEN (a reader token
is enough), MODEL_NAME, WEBHOOK_SECRET (webhook off when unset),
POLL_SECONDS (default 10), MODEL_CACHE (download directory).

    uvicorn examples.serving.app:app --port 8000

The models are scikit-learn pickles from our own registry: unpickling runs
code, so only load artifacts from a registry you trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import pickle
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, AsyncIterator, List, Optional

from fastapi import FastAPI, HTTPException, Request

import modelreg

MAX_SKEW = 300  # seconds: webhook timestamps older than this are refused


def verify_signature(secret: str, header: str, body: bytes, now: Optional[float] = None) -> int:
    """Checks a Modelreg-Signature header for body; returns its timestamp.
    Raises ValueError (malformed, stale or wrong signature)."""
    fields: dict = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        fields.setdefault(k, []).append(v)
    try:
        t = int(fields["t"][0])
    except (KeyError, ValueError):
        raise ValueError("signature header has no t=") from None
    if abs((time.time() if now is None else now) - t) > MAX_SKEW:
        raise ValueError("signature timestamp is older than 5 minutes")
    want = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(want, v) for v in fields.get("v1", [])):
        raise ValueError("signature does not match")
    return t


class Follower:
    """Holds the loaded Production model and replaces it when Production
    changes. Thread-safe: requests read ``current`` while a poll swaps it."""

    def __init__(self, client: modelreg.Client, name: str, cache: Path) -> None:
        self.client, self.name, self.cache = client, name, cache
        self.etag = ""
        self.current: Optional[tuple] = None  # (version number, model)
        self.lock = threading.Lock()
        self.seen_events: "OrderedDict[str, None]" = OrderedDict()
        self.wake = threading.Event()

    def check(self) -> bool:
        """Looks Production up (If-None-Match: the last ETag); loads a new
        version. Returns whether it switched."""
        with self.lock:
            try:
                v, etag = self.client.stage_if_changed(self.name, self.etag)
            except modelreg.NotFound:
                return False
            if v is None or (self.current and self.current[0] == v.version):
                self.etag = etag or self.etag
                return False
            files = self.client.download(self.name, v.version, self.cache / str(v.version))
            pkl = [f for f in files if f.suffix == ".pkl"]
            model = pickle.loads(pkl[0].read_bytes())
            self.current = (v.version, model)
            self.etag = etag
            return True

    def event_once(self, event_id: str) -> bool:
        """Records an event id; False if it was seen (a redelivery)."""
        with self.lock:
            if event_id in self.seen_events:
                return False
            self.seen_events[event_id] = None
            while len(self.seen_events) > 10000:
                self.seen_events.popitem(last=False)
            return True

    def run(self, interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.check()
            except Exception as e:  # keep serving the loaded model; retry next round
                print(f"serving: Production lookup failed: {e}", flush=True)
            self.wake.wait(interval)
            self.wake.clear()


def create_app() -> FastAPI:
    """Builds the app from the environment."""
    name = os.environ["MODEL_NAME"]
    secret = os.environ.get("WEBHOOK_SECRET", "")
    interval = float(os.environ.get("POLL_SECONDS", "10"))
    cache = Path(os.environ.get("MODEL_CACHE") or tempfile.mkdtemp(prefix="modelreg-serving-"))
    follower = Follower(modelreg.Client(), name, cache)
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=follower.run, args=(interval, stop), daemon=True).start()
        yield
        stop.set()
        follower.wake.set()

    app = FastAPI(title=f"{name} (Production)", lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict:
        cur = follower.current
        return {"model": name, "version": cur[0] if cur else None}

    @app.post("/predict")
    def predict(rows: List[List[float]]) -> dict:
        cur = follower.current
        if cur is None:
            raise HTTPException(503, "no Production version loaded yet")
        version, model = cur
        return {"version": version, "predictions": [int(p) for p in model.predict(rows)]}

    @app.post("/webhook")
    async def webhook(request: Request) -> dict:
        if not secret:
            raise HTTPException(404, "webhook not configured")
        body = await request.body()
        try:
            verify_signature(secret, request.headers.get("Modelreg-Signature", ""), body)
        except ValueError as e:
            raise HTTPException(401, str(e)) from None
        event_id = request.headers.get("Modelreg-Event-Id", "")
        if not event_id:
            raise HTTPException(400, "Modelreg-Event-Id is missing")
        if follower.event_once(event_id):
            follower.wake.set()  # look Production up now
            return {"accepted": True, "duplicate": False}
        return {"accepted": True, "duplicate": True}

    app.state.follower = follower
    return app


app: Any = create_app() if os.environ.get("MODEL_NAME") else None
