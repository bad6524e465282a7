"""A receiver of modelreg's deploy webhooks, with the standard library only.

It checks the Modelreg-Signature header, rejects timestamps older than 5
minutes, and ignores a delivery whose Modelreg-Event-Id it has seen
(delivery is at least once). README.md ("Webhooks") shows verify; the tests
in this folder run it.

    MODELREG_WEBHOOK_SECRET=... python receiver.py 9000
"""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: bytes, header: str, body: bytes, now: float | None = None) -> None:
    """Raise ValueError unless header ("t=UNIX,v1=HEX") signs the raw body
    with secret (HMAC-SHA256 of t + "." + body) within 5 minutes of now."""
    ts, sigs = "", []
    for part in header.split(","):
        k, _, v = part.strip().partition("=")
        if k == "t":
            ts = v
        elif k == "v1":
            sigs.append(v)
    if not ts.isdigit() or not sigs:
        raise ValueError("malformed signature header")
    if abs((time.time() if now is None else now) - int(ts)) > 300:
        raise ValueError("signature timestamp too old (or in the future)")
    want = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(s, want) for s in sigs):
        raise ValueError("signature does not match")


class Receiver(ThreadingHTTPServer):
    """Accepts verified deliveries once per event id; deploy(payload) is
    what it does with a new version."""

    def __init__(self, addr, secret: bytes, deploy):
        super().__init__(addr, _Handler)
        self.secret, self.deploy = secret, deploy
        self.seen: set[str] = set()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            verify(self.server.secret, self.headers.get("Modelreg-Signature", ""), body)
        except ValueError as e:
            self.send_error(401, str(e))
            return
        event_id = self.headers.get("Modelreg-Event-Id", "")
        with self.server.lock:
            new = event_id not in self.server.seen
            self.server.seen.add(event_id)
        if new:
            self.server.deploy(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    secret = os.environ["MODELREG_WEBHOOK_SECRET"].encode()
    Receiver(("127.0.0.1", port), secret, lambda p: print("deploy", p, flush=True)).serve_forever()
