"""Artifact transfer: hashing, parallel part uploads and verified downloads.

Files are never held whole in memory, nor mapped (a mapped file that
shrinks kills the interpreter with SIGBUS): they are read with positional
reads (os.preadv, which releases the GIL) into a few small reused buffers.
Hashing reads the file once: each 256 KiB block goes to the whole-file
digest and to its part's digest, computed by two threads side by side
(hashlib releases the GIL while it hashes). A part is sent from its
worker's 1 MiB buffer, one read and one socket write at a time. A file
that changes size while it is read raises FileChanged.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import queue
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union, cast

import requests

from .errors import APIError, ChecksumMismatch, ModelregError, error_for

BLOCK = 1 << 20
# HASH_BLOCK is how much one read and one hash update take while hashing:
# small enough to stay in the CPU's cache between the read and the two
# digests that consume it, large enough that Python's per-block cost is
# noise; it divides every part size (whole MiB). HASH_BUFFERS blocks are in
# flight between the reader and the two hashers. SEND_BLOCK is how much one
# read and one socket write take while a part is sent.
HASH_BLOCK = 256 << 10
HASH_BUFFERS = 16
SEND_BLOCK = 1 << 20
SINGLE_PART_MAX = 16 << 20
DEFAULT_PART_SIZE = 16 << 20
MAX_PARTS = 10000

#: progress(done_bytes, total_bytes), called from worker threads; done goes
#: back down when a failed attempt's bytes are taken back before a retry.
Progress = Callable[[int, int], None]
#: What register/upload/resume accept as ``progress``: a Progress, or a
#: callable(done, total, phase) that is also told the phase, "upload" while
#: parts go up and "verifying" (done == total) after each look at a version
#: the server verifies in the background.
ProgressCallback = Union[Callable[[int, int], None], Callable[[int, int, str], None]]


class Phases:
    """Reports a ProgressCallback's phases: ``upload`` is the Progress the
    transfers call, ``verifying(done, total)`` tells a callback that takes
    a phase that the server is verifying (a two-argument callback hears of
    bytes only)."""

    def __init__(self, progress: Optional[ProgressCallback]) -> None:
        self._cb: Any = progress
        self._phased = False
        if progress is not None:
            try:
                inspect.signature(progress).bind(0, 0, "upload")
                self._phased = True
            except (TypeError, ValueError):
                pass
        self.upload: Optional[Progress] = None
        if progress is not None:
            self.upload = (lambda d, t: self._cb(d, t, "upload")) if self._phased else cast(Progress, progress)

    def verifying(self, done: int, total: int) -> None:
        if self._phased:
            self._cb(done, total, "verifying")


def part_size(size: int) -> int:
    """The registry's default part size for a file of size bytes
    (registry.PartSize): one part up to 16 MiB, else 16 MiB grown in whole
    MiB until the file fits in 10,000 parts."""
    if size <= SINGLE_PART_MAX:
        return max(size, 1)
    ps = DEFAULT_PART_SIZE
    least = (size + MAX_PARTS - 1) // MAX_PARTS
    if least > ps:
        ps = (least + BLOCK - 1) // BLOCK * BLOCK
    return ps


class FileChanged(ModelregError):
    """A local file changed size while it was hashed or uploaded (not
    retried: the registry would refuse what it now holds)."""


class _Reader:
    """Positional reads of one file (shared by threads: each read says
    where). The size is taken when it is opened; a read that finds the
    file shorter raises FileChanged."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.size = os.fstat(self._fd).st_size
        self._local = threading.local()
        self._files: List[Any] = []

    def read_into(self, buf: memoryview, off: int) -> None:
        """Fills buf with the file's bytes from offset off."""
        got = 0
        want = len(buf)
        while got < want:
            if _preadv is not None:
                n = _preadv(self._fd, [buf[got:]], off + got)
            else:  # no preadv (Windows, old macOS): a private file per thread
                f = getattr(self._local, "f", None)
                if f is None:
                    f = self._local.f = open(self.path, "rb", buffering=0)
                    self._files.append(f)
                f.seek(off + got)
                n = f.readinto(buf[got:]) or 0
            if n <= 0:
                raise FileChanged(f"{self.path} is shorter than the {self.size} bytes it had when the upload began "
                                  f"(it changed while it was read)")
            got += n

    def check(self) -> None:
        """Raises FileChanged if the file's size changed since it was opened."""
        now = os.fstat(self._fd).st_size
        if now != self.size:
            raise FileChanged(f"{self.path} changed size while it was uploaded ({self.size} bytes, now {now})")

    def close(self) -> None:
        for f in self._files:
            f.close()
        os.close(self._fd)

    def __enter__(self) -> "_Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_preadv = getattr(os, "preadv", None)


@dataclass
class LocalFile:
    """A file prepared for upload: local path and the spec sent to the registry."""

    local: str
    path: str
    size: int
    sha256: str
    part_size: int
    part_sha256: List[str] = field(default_factory=list)

    def spec(self) -> Dict[str, Any]:
        """The FileSpec of the upload-session request."""
        s: Dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256, "part_size": self.part_size}
        if self.part_sha256:
            s["part_sha256"] = self.part_sha256
        return s


def prepare_file(local: str, reg_path: str) -> LocalFile:
    """Hashes local for upload under reg_path: the SHA-256 of the whole file
    and of each part, from one sequential read of the file (each block goes
    to both digests, hashed by two threads side by side)."""
    if not os.path.isfile(local):
        raise ValueError(f"{local} is not a regular file")
    with _Reader(local) as r:
        size = r.size
        ps = part_size(size)
        n = 1 if size == 0 else (size + ps - 1) // ps
        whole, parts = _hash_file(r, ps, n)
        r.check()
        return LocalFile(local=local, path=reg_path, size=size, sha256=whole, part_size=ps,
                         part_sha256=parts if n > 1 else [])


def _hash_file(r: _Reader, ps: int, n: int) -> Tuple[str, List[str]]:
    """The whole-file digest and the n part digests of r's file. This thread
    reads blocks into HASH_BUFFERS reused buffers and hands each to a
    thread that feeds the whole-file digest and one that feeds the part
    digests; a buffer is read into again once both are done with it."""
    size = r.size
    # Blocks must not straddle two parts: part sizes are whole MiB, but a
    # part size that is not a multiple of HASH_BLOCK gets smaller blocks.
    blk = HASH_BLOCK if n == 1 or ps % HASH_BLOCK == 0 else math.gcd(ps, HASH_BLOCK)
    free: "queue.Queue[bytearray]" = queue.Queue()
    for _ in range(min(HASH_BUFFERS, max(1, (size + blk - 1) // blk))):
        free.put(bytearray(blk))
    to_whole: "queue.Queue[Optional[Tuple[int, memoryview, bytearray]]]" = queue.Queue()
    to_parts: "queue.Queue[Optional[Tuple[int, memoryview, bytearray]]]" = queue.Queue()
    users: Dict[int, int] = {}
    lock = threading.Lock()

    def done_with(buf: bytearray) -> None:
        with lock:
            users[id(buf)] -= 1
            last = users[id(buf)] == 0
        if last:
            free.put(buf)

    whole = hashlib.sha256()
    digests: List[str] = []
    failed: List[BaseException] = []

    def consume(q: "queue.Queue[Optional[Tuple[int, memoryview, bytearray]]]",
                use: Callable[[int, memoryview], None]) -> None:
        # A failure is kept for the reader, and the blocks still come back,
        # so the reader never waits for a buffer that will not be freed.
        while True:
            it = q.get()
            if it is None:
                return
            if not failed:
                try:
                    use(it[0], it[1])
                except BaseException as e:
                    failed.append(e)
            done_with(it[2])

    part = hashlib.sha256()  # the digest being fed,
    part_end = min(ps, size)  # and where its part ends

    def feed_part(off: int, view: memoryview) -> None:
        nonlocal part, part_end
        part.update(view)
        if off + len(view) == part_end:
            digests.append(part.hexdigest())
            part, part_end = hashlib.sha256(), min(part_end + ps, size)

    threads = [threading.Thread(target=consume, args=(to_whole, lambda off, view: whole.update(view)), daemon=True),
               threading.Thread(target=consume, args=(to_parts, feed_part), daemon=True)]
    for t in threads:
        t.start()
    try:
        for off in range(0, size, blk):
            if failed:
                break
            buf = free.get()
            view = memoryview(buf)[:min(blk, size - off)]
            r.read_into(view, off)
            with lock:
                users[id(buf)] = 2
            to_whole.put((off, view, buf))
            to_parts.put((off, view, buf))
    finally:
        to_whole.put(None)
        to_parts.put(None)
        for t in threads:
            t.join()
    if failed:
        raise failed[0]
    if size == 0:
        digests.append(whole.hexdigest())
    return whole.hexdigest(), digests


_send_buffers = threading.local()


def _send_buffer() -> memoryview:
    """This thread's SEND_BLOCK buffer for sending parts."""
    b = getattr(_send_buffers, "b", None)
    if b is None or len(b) != SEND_BLOCK:
        b = _send_buffers.b = memoryview(bytearray(SEND_BLOCK))
    return b


class _Body:
    """A part's bytes as the request body: a length (so it goes with a
    Content-Length, as presigned PUTs need) and SEND_BLOCK blocks read into
    the sending thread's buffer, each counted as it is handed to the socket
    (http.client writes one whole before it asks for the next, so the
    buffer is reused safely)."""

    def __init__(self, r: _Reader, off: int, size: int, on_send: Callable[[int], None]) -> None:
        self._r = r
        self._off = off
        self._size = size
        self._on_send = on_send

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[memoryview]:
        buf = _send_buffer()
        end = self._off + self._size
        for off in range(self._off, end, SEND_BLOCK):
            chunk = buf[:min(SEND_BLOCK, end - off)]
            self._r.read_into(chunk, off)
            yield chunk
            self._on_send(len(chunk))


def retryable_status(status: int) -> bool:
    """Whether an answer with this status may be retried."""
    return status in (429, 500, 502, 503, 504)


def backoff(attempt: int) -> float:
    """Seconds before retry attempt (1-based): 0.2, 0.4, … at most 5."""
    return min(0.2 * (2 ** min(attempt - 1, 5)), 5.0)


def decode_error(resp: requests.Response) -> APIError:
    """The exception for an error answer (the API's JSON error or a plain body)."""
    try:
        body = resp.json()
        err = body["error"]
        return error_for(resp.status_code, str(err.get("code", "")), str(err.get("message", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = (resp.text or "").strip()[:2000] or resp.reason or ""
        return error_for(resp.status_code, f"http_{resp.status_code}", text)


def _redact(url: str) -> str:
    return url.split("?", 1)[0]


class Transfers:
    """Sends parts and fetches files with a session per thread."""

    def __init__(self, new_session: Callable[[], requests.Session], retries: int, timeout: float) -> None:
        self._new_session = new_session
        self._local = threading.local()
        self.retries = retries
        self.timeout = timeout

    def _session(self) -> requests.Session:
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = self._new_session()
        return s

    def upload_parts(self, ticket: Dict[str, Any], local: Dict[str, str], parallel: int,
                     progress: Optional[Progress]) -> int:
        """PUTs every part listed in ticket from the local files (by registry
        path), parallel at a time, each exactly as presigned. A failed part
        is retried with backoff; when one still fails the others stop and
        the error names it. The session stays open for ``resume``. Returns
        the bytes the parts hold."""
        jobs = []
        for f in ticket.get("files") or []:
            if f.get("parts") and f["path"] not in local:
                raise ValueError(f"upload {ticket.get('upload_id')} needs {f['path']}, which was not given")
            for p in f.get("parts") or []:
                jobs.append((f["path"], p))
        total = sum(int(p["size"]) for _, p in jobs)
        lock = threading.Lock()
        done = [0]
        stop = threading.Event()

        def add(n: int) -> None:
            with lock:
                done[0] += n
                d = done[0]
            if progress:
                progress(d, total)

        def run(path: str, part: Dict[str, Any]) -> None:
            if stop.is_set():
                return
            try:
                self._send_part(readers[path], part, add, stop)
            except BaseException as e:
                stop.set()
                raise PartFailed(f"part {part['number']} of {path}: {e}") from e

        if not jobs:
            return 0
        readers: Dict[str, _Reader] = {}
        try:
            for path, _ in jobs:
                if path not in readers:
                    readers[path] = _Reader(local[path])
            with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(jobs)))) as ex:
                futs = [ex.submit(run, path, p) for path, p in jobs]
                wait(futs, return_when=FIRST_EXCEPTION)
                stop_err = next((f.exception() for f in futs if f.done() and f.exception()), None)
                if stop_err is not None:
                    for f in futs:
                        f.cancel()
                    raise stop_err
            return total
        finally:
            for r in readers.values():
                r.close()

    def _send_part(self, r: _Reader, part: Dict[str, Any], add: Callable[[int], None],
                   stop: threading.Event) -> None:
        size = int(part["size"])
        off = int(part.get("offset", 0))
        if off + size > r.size:
            raise FileChanged(f"{r.path} is {r.size} bytes, shorter than the upload expects")
        for attempt in range(self.retries + 1):
            sent = [0]

            def counted(n: int) -> None:
                sent[0] += n
                add(n)

            r.check()
            body = _Body(r, off, size, counted)
            status = 0
            try:
                resp = self._session().request(part["method"], part["url"], data=body if size else b"",
                                               headers=dict(part.get("headers") or {}), timeout=self.timeout)
                status = resp.status_code
                if status < 300:
                    resp.close()
                    return
                err: BaseException = decode_error(resp)
            except requests.RequestException as e:
                err = ConnectionError(f"{part['method']} {_redact(part['url'])}: {type(e).__name__}")
            add(-sent[0])
            if attempt >= self.retries or stop.is_set() or (status and not retryable_status(status)):
                raise err
            time.sleep(backoff(attempt + 1))

    def download(self, link: Dict[str, Any], dest: str, progress: Optional[Callable[[int], None]]) -> None:
        """Fetches one file to dest, verifying size and SHA-256 while it
        streams; dest appears only once verified (written to dest.partial,
        then renamed). Network failures and 5xx answers are retried."""
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        tmp = dest + ".partial"
        for attempt in range(self.retries + 1):
            got = 0
            status = 0
            try:
                with self._session().get(link["url"], stream=True, timeout=self.timeout) as resp:
                    status = resp.status_code
                    if status != 200:
                        raise decode_error(resp)
                    h = hashlib.sha256()
                    with open(tmp, "wb") as out:
                        for chunk in resp.iter_content(BLOCK):
                            out.write(chunk)
                            h.update(chunk)
                            got += len(chunk)
                            if progress:
                                progress(len(chunk))
                if got != int(link["size"]):
                    raise ChecksumMismatch(f"{link['path']}: got {got} bytes, want {link['size']}")
                if h.hexdigest() != link["sha256"]:
                    raise ChecksumMismatch(f"{link['path']}: sha256 {h.hexdigest()}, registry recorded {link['sha256']}")
                os.replace(tmp, dest)
                return
            except (requests.RequestException, APIError) as e:
                if progress and got:
                    progress(-got)
                retry = isinstance(e, requests.RequestException) or retryable_status(status)
                if attempt >= self.retries or not retry:
                    _remove(tmp)
                    if isinstance(e, requests.RequestException):
                        raise ConnectionError(f"GET {_redact(link['url'])}: {type(e).__name__}") from None
                    raise
                time.sleep(backoff(attempt + 1))
            except BaseException:
                _remove(tmp)
                raise


class PartFailed(ModelregError):
    """A part that still failed after its retries (the message names it;
    ``__cause__`` is the last failure)."""


def _remove(p: str) -> None:
    try:
        os.remove(p)
    except OSError:
        pass
