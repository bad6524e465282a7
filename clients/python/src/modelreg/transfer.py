"""Artifact transfer: hashing, parallel part uploads and verified downloads.

Files are read in 1 MiB blocks and never held whole in memory. hashlib
releases the GIL while it hashes, so the whole-file digest and the part
digests are computed by threads side by side, as the Go CLI does.
"""

from __future__ import annotations

import hashlib
import inspect
import mmap
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import requests

from .errors import APIError, ChecksumMismatch, ModelregError, error_for

BLOCK = 1 << 20
# HASH_BLOCK is how much one hash update takes: large, so the hashing
# threads hand the GIL over rarely; SEND_BLOCK how much one socket write.
HASH_BLOCK = 64 << 20
SEND_BLOCK = 4 << 20
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
            self.upload = (lambda d, t: self._cb(d, t, "upload")) if self._phased else progress

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


class _Mapped:
    """A file mapped read-only into memory (no copy: pages come from the
    page cache as they are hashed or sent), or empty for an empty file.
    Hashing and sending from the mapping cost about half the CPU of read()
    into buffers. The file must not shrink while mapped."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self.size = os.fstat(self._fd).st_size
        self._mm: Optional[mmap.mmap] = None
        if self.size:
            self._mm = mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ)
            if hasattr(self._mm, "madvise"):
                self._mm.madvise(mmap.MADV_SEQUENTIAL)
            self.view = memoryview(self._mm)
        else:
            self.view = memoryview(b"")

    def check(self, path: str) -> None:
        """Raises OSError if the file's size changed since it was mapped."""
        if os.stat(path).st_size != self.size:
            raise OSError(f"{path} changed size while it was uploaded")

    def close(self) -> None:
        """Unmaps the file; while a failed request's traceback still holds
        a slice, the mapping is left to the garbage collector instead."""
        try:
            self.view.release()
            if self._mm is not None:
                self._mm.close()
        except BufferError:
            pass
        os.close(self._fd)


def _digest(view: memoryview) -> str:
    h = hashlib.sha256()
    for off in range(0, len(view), HASH_BLOCK):
        h.update(view[off:off + HASH_BLOCK])  # releases the GIL for the whole block
    return h.hexdigest()


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
    in one sequential pass and of each part alongside (two at a time), by
    threads (hashlib releases the GIL while it hashes)."""
    if not os.path.isfile(local):
        raise ValueError(f"{local} is not a regular file")
    m = _Mapped(local)
    try:
        size = m.size
        ps = part_size(size)
        n = 1 if size == 0 else (size + ps - 1) // ps
        with ThreadPoolExecutor(max_workers=3) as ex:
            whole = ex.submit(_digest, m.view)
            parts = [ex.submit(_digest, m.view[i * ps:min(size, (i + 1) * ps)]) for i in range(n)] if n > 1 else []
            return LocalFile(local=local, path=reg_path, size=size, sha256=whole.result(), part_size=ps,
                             part_sha256=[p.result() for p in parts])
    finally:
        m.close()


class _Body:
    """A part's bytes as the request body: a length (so it goes with a
    Content-Length, as presigned PUTs need) and SEND_BLOCK slices of the
    mapped file, each counted as it is handed to the socket."""

    def __init__(self, view: memoryview, on_send: Callable[[int], None]) -> None:
        self._view = view
        self._on_send = on_send

    def __len__(self) -> int:
        return len(self._view)

    def __iter__(self) -> Iterator[memoryview]:
        for off in range(0, len(self._view), SEND_BLOCK):
            chunk = self._view[off:off + SEND_BLOCK]
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
                self._send_part(local[path], maps[path], part, add, stop)
            except BaseException as e:
                stop.set()
                raise PartFailed(f"part {part['number']} of {path}: {e}") from e

        if not jobs:
            return 0
        maps: Dict[str, _Mapped] = {}
        try:
            for path, _ in jobs:
                if path not in maps:
                    maps[path] = _Mapped(local[path])
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
            for m in maps.values():
                m.close()

    def _send_part(self, local: str, m: _Mapped, part: Dict[str, Any], add: Callable[[int], None],
                   stop: threading.Event) -> None:
        size = int(part["size"])
        off = int(part.get("offset", 0))
        if off + size > m.size:
            raise OSError(f"{local} is {m.size} bytes, shorter than the upload expects")
        for attempt in range(self.retries + 1):
            sent = [0]

            def counted(n: int) -> None:
                sent[0] += n
                add(n)

            m.check(local)
            body = _Body(m.view[off:off + size], counted)
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
