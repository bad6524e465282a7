"""Tests of the Python webhook receiver (examples/webhook/receiver.py)."""

import hashlib
import hmac
import http.client
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import receiver  # noqa: E402

# The golden value of shared/webhook's Go test, computed with openssl:
# printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
GOLDEN = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
SECRET = b"whsec_test"
BODY = b'{"a":1}'


def sign(secret: bytes, t: int, body: bytes) -> str:
    return f"t={t},v1=" + hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def test_golden_signature_verifies():
    receiver.verify(SECRET, GOLDEN, BODY, now=1700000000 + 60)


@pytest.mark.parametrize("header,body,now,why", [
    (GOLDEN, BODY, 1700000000 + 301, "too old"),
    (GOLDEN, BODY, 1700000000 - 360, "too old"),
    (GOLDEN, b'{"a":2}', 1700000000, "does not match"),
    (GOLDEN, b'{"a": 1}', 1700000000, "does not match"),
    (sign(b"other", 1700000000, BODY), BODY, 1700000000, "does not match"),
    ("v1=abc", BODY, 1700000000, "malformed"),
    ("t=soon,v1=abc", BODY, 1700000000, "malformed"),
    ("", BODY, 1700000000, "malformed"),
])
def test_rejects(header, body, now, why):
    with pytest.raises(ValueError, match=why):
        receiver.verify(SECRET, header, body, now=now)


def test_rotation_any_v1_matches():
    receiver.verify(SECRET, sign(b"old", 1700000000, BODY) + ",v1=" + GOLDEN.split("v1=")[1], BODY, now=1700000000)


def test_receiver_dedupes_by_event_id_and_refuses_bad_signatures():
    got = []
    srv = receiver.Receiver(("127.0.0.1", 0), b"s3cret", got.append)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        def post(event_id, secret):
            body = b'{"model":"m","version":2}'
            c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=5)
            c.request("POST", "/", body, {"Content-Type": "application/json", "Modelreg-Event-Id": event_id,
                                          "Modelreg-Signature": sign(secret, int(time.time()), body)})
            return c.getresponse().status
        assert post("ev-1", b"s3cret") == 204
        assert post("ev-1", b"s3cret") == 204
        assert post("ev-2", b"wrong") == 401
        assert got == [{"model": "m", "version": 2}]
    finally:
        srv.shutdown()


def test_readme_shows_verify():
    src = (HERE / "receiver.py").read_text()
    fn = src[src.index("def verify("):src.index("class Receiver")].strip()
    readme = (HERE.parent.parent / "README.md").read_text()
    assert fn in readme, "README.md (Webhooks) does not show verify from examples/webhook/receiver.py as it is"
