"""The modelreg client: ``Client`` talks to the registry's /v1 API."""

from __future__ import annotations

import logging
import os
import secrets
import time
import unicodedata
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from . import lineage as _lineage
from .errors import (APIError, Conflict, ModelregError, NotFound, PromotionNotApproved, UploadIncomplete,
                     VerificationFailed, VerificationTimeout)
from .models import Alias, Approval, Comparison, HistoryEntry, Model, Transition, Version
from .transfer import (LocalFile, Phases, ProgressCallback, Transfers, backoff, decode_error, prepare_file,
                       retryable_status)

PathLike = Union[str, "os.PathLike[str]"]
log = logging.getLogger("modelreg")

#: How long register/upload/resume wait for a VERIFYING version by default,
#: and the longest pause between two looks at it.
VERIFY_TIMEOUT = 3600.0
VERIFY_POLL_MAX = 5.0

MetricValue = Union[float, int, Tuple[float, str]]


class _BigBlocks(HTTPAdapter):
    """Sends request bodies in 1 MiB writes (urllib3's default is 16 KiB),
    so a part upload is not bound by Python's per-write cost."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = 1 << 20
        super().init_poolmanager(*args, **kwargs)


def _esc(s: str) -> str:
    return quote(s, safe="")


class Client:
    """A client of one registry.

    ``url`` and ``token`` default to MODELREG_URL and MODELREG_TOKEN;
    ``auth`` to MODELREG_AUTH: ``"bearer"`` (the default, with the token;
    ``"token"`` is the same, as the Go CLI names it) or ``"sigv4"`` (every API request signed with botocore's default
    credentials, for the registry behind API Gateway; ``region`` defaults
    to AWS_REGION). requests honours REQUESTS_CA_BUNDLE, SSL_CERT_FILE
    (CURL_CA_BUNDLE) and the proxy variables. Every write carries an
    Idempotency-Key and is retried with the same key on network failures
    and 5xx answers, so a retry never registers twice.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, auth: Optional[str] = None, *,
                 region: Optional[str] = None, retries: int = 4, timeout: float = 600.0,
                 parallel: int = 4, signer: Any = None) -> None:
        self.url = (url or os.environ.get("MODELREG_URL") or "").rstrip("/")
        if not self.url:
            raise ValueError("no registry URL: pass url= or set MODELREG_URL")
        self.token = token if token is not None else os.environ.get("MODELREG_TOKEN", "")
        self.auth = (auth or os.environ.get("MODELREG_AUTH") or "bearer").lower()
        if self.auth == "token":  # the Go CLI's name for the same thing
            self.auth = "bearer"
        if self.auth not in ("bearer", "sigv4"):
            raise ValueError(f"auth {self.auth!r}: want 'bearer' (or 'token') or 'sigv4'")
        self.signer = signer
        if self.auth == "sigv4" and signer is None:
            from .sigv4 import Signer
            self.signer = Signer(region=region)
        self.retries = retries
        self.timeout = timeout
        self.parallel = parallel
        self.user_agent = "modelreg-python/0.1"
        self._session = self._new_session()
        self._transfers = Transfers(self._new_session, retries, timeout)

    def _new_session(self) -> requests.Session:
        s = requests.Session()
        cert = os.environ.get("SSL_CERT_FILE")
        if cert and not os.environ.get("REQUESTS_CA_BUNDLE") and not os.environ.get("CURL_CA_BUNDLE"):
            s.verify = cert
        a = _BigBlocks(pool_connections=4, pool_maxsize=max(16, self.parallel if hasattr(self, "parallel") else 16))
        s.mount("http://", a)
        s.mount("https://", a)
        return s

    # --- the API call -------------------------------------------------

    def _request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
                 body: Any = None, headers: Optional[Mapping[str, str]] = None,
                 ok: Sequence[int] = ()) -> requests.Response:
        """Sends one API request and returns the answer (status < 300 or in
        ok); raises the APIError subclass of its error code otherwise."""
        import json as _json
        payload = b"" if body is None else _json.dumps(body, separators=(",", ":")).encode()
        h: Dict[str, str] = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = "application/json"
        if method != "GET":
            h["Idempotency-Key"] = secrets.token_hex(16)
        if headers:
            h.update(headers)
        url = self.url + path
        if query:
            q = requests.models.RequestEncodingMixin._encode_params(
                {k: v for k, v in query.items() if v not in (None, "")})
            if q:
                url += "?" + q
        for attempt in range(self.retries + 1):
            send = dict(h)
            if self.auth == "sigv4":
                send = self.signer.sign(method, url, send, payload)
            elif self.token:
                send["Authorization"] = "Bearer " + self.token
            status = 0
            try:
                resp = self._session.request(method, url, data=payload or None, headers=send, timeout=self.timeout)
                status = resp.status_code
                if status < 300 or status in ok:
                    return resp
                err: BaseException = decode_error(resp)
            except requests.RequestException as e:
                err = e
            if attempt >= self.retries or (status and not retryable_status(status)):
                raise err
            time.sleep(backoff(attempt + 1))
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        r = self._request(method, path, **kw)
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    def _list(self, path: str, query: Dict[str, Any]) -> List[Dict[str, Any]]:
        items: List[Dict[str, Any]] = []
        token = ""
        while True:
            page = self._json("GET", path, query={**query, "page_token": token})
            items.extend(page.get("items") or [])
            token = page.get("next_page_token") or ""
            if not token:
                return items

    @staticmethod
    def _vpath(name: str, version: int) -> str:
        return f"/v1/models/{_esc(name)}/versions/{int(version)}"

    # --- models and versions -------------------------------------------

    def create_model(self, name: str, *, description: str = "", owner: str = "",
                     tags: Optional[Mapping[str, str]] = None) -> Model:
        """Creates a model. Conflict if it exists."""
        return Model.from_json(self._json("POST", "/v1/models", body={
            "name": name, "description": description, "owner": owner, "tags": dict(tags or {})}))

    def get_model(self, name: str) -> Model:
        """Returns a model. NotFound."""
        return Model.from_json(self._json("GET", "/v1/models/" + _esc(name)))

    def get(self, name: str, version: int) -> Version:
        """Returns a version. NotFound."""
        return Version.from_json(self._json("GET", self._vpath(name, version)))

    def versions(self, name: str, *, stage: str = "", status: str = "", tag: str = "") -> List[Version]:
        """Returns every version of a model (newest first), optionally of one
        stage, status or tag (KEY or KEY=VALUE)."""
        return [Version.from_json(v) for v in
                self._list(f"/v1/models/{_esc(name)}/versions", {"stage": stage, "status": status, "tag": tag})]

    def register(self, name: str, *, artifacts: Iterable[PathLike] = (), source: Optional[str] = None,
                 metrics: Optional[Mapping[str, MetricValue]] = None, params: Optional[Mapping[str, Any]] = None,
                 tags: Optional[Mapping[str, str]] = None, dataset: Optional[str] = None,
                 description: Optional[str] = None, lineage: Optional[Mapping[str, Any]] = None,
                 progress: Optional[ProgressCallback] = None, dvc_file: Optional[PathLike] = None,
                 dvc_lock: Optional[PathLike] = None, wandb_artifact: Optional[str] = None,
                 no_git: bool = False, create: bool = True, wait: bool = True,
                 timeout: float = VERIFY_TIMEOUT) -> Version:
        """Registers the next version of model name and uploads its artifacts
        (files, or directories whose files go up under their relative
        paths), or records an external ``source`` URI instead. A missing
        model is created, as the CLI does (``create=False`` raises NotFound).

        ``metrics`` maps a name to a value or ``(value, source)`` (source
        ``training`` or ``validation``); ``params`` values become strings;
        ``dataset`` is ``ID[@VERSION]``. Lineage is detected as the CLI
        does (git, SageMaker, GitHub Actions, MLflow run ids; see
        ``modelreg.lineage.detect``) and ``lineage`` is laid over it.
        ``dvc_file``/``dvc_lock`` record DVC lineage (the output's location
        in the DVC remote becomes the source when no artifacts are given)
        and ``wandb_artifact`` a W&B artifact reference (ENTITY/PROJECT/NAME:VERSION).

        Files are hashed before anything is registered, so a missing file
        registers nothing. If the upload fails the version stays registered
        with its session open: UploadIncomplete says so and ``resume``
        finishes it. ``progress(done, total)`` follows the upload (a
        callback ``progress(done, total, phase)`` is also told the phase).

        Files too large for the server to verify within the request are
        verified in the background: the version is VERIFYING, and with
        ``wait`` (the default) this polls it, with backoff, until it is
        READY (returned), FAILED (VerificationFailed with the server's
        reason) or ``timeout`` seconds went by (VerificationTimeout; the
        server goes on, ``wait_verified`` waits again). ``wait=False``
        returns the VERIFYING version at once."""
        files = collect_artifacts(artifacts)
        if source and files:
            raise ValueError("give artifacts or source, not both")
        extra_tags: Dict[str, str] = {}
        lin = _lineage.detect([f for f, _ in files], no_git=no_git)
        if dataset:
            ds_id, _, ds_ver = dataset.partition("@")
            lin["data"].update({"dataset_id": ds_id, **({"dataset_version": ds_ver} if ds_ver else {})})
        if dvc_file is not None:
            d = _lineage.dvc_lineage(dvc_file, dvc_lock)
            extra_tags.update(d.tags())
            if not dataset:
                lin["data"].update(d.data())
            if not source and not files and d.source:
                source = d.source
        elif dvc_lock is not None:
            raise ValueError("dvc_lock needs dvc_file")
        if wandb_artifact:
            w = _lineage.wandb_artifact(wandb_artifact)
            extra_tags["wandb.artifact"] = wandb_artifact
            if not dataset and not lin["data"].get("dataset_id"):
                lin["data"].update({"dataset_id": f"wandb:{w['entity']}/{w['project']}/{w['name']}",
                                    "dataset_version": w["alias"]})
        lin = _lineage.merge(lin, lineage)
        prepared = [prepare_file(local, reg) for local, reg in files]
        body: Dict[str, Any] = {"lineage": lin}
        if source:
            body["source"] = source
        if description:
            body["description"] = description
        if metrics:
            body["metrics"] = {k: _metric(v) for k, v in metrics.items()}
        if params:
            body["params"] = {k: str(v) for k, v in params.items()}
        all_tags = {**extra_tags, **dict(tags or {})}
        if all_tags:
            body["tags"] = all_tags
        path = f"/v1/models/{_esc(name)}/versions"
        try:
            v = Version.from_json(self._json("POST", path, body=body))
        except NotFound:
            if not create:
                raise
            try:
                self.create_model(name)
            except Conflict:
                pass  # a concurrent first registration created it
            v = Version.from_json(self._json("POST", path, body=body))
        if not prepared:
            return v
        phases = Phases(progress)
        try:
            v, sent = self._upload_new(name, v.version, prepared, phases)
        except (OSError, requests.RequestException, ModelregError, ValueError) as e:
            raise UploadIncomplete(name, v.version, e) from e
        # The upload is complete: a failed or timed-out verification is not
        # an incomplete upload (resume cannot change it).
        return self._wait_verified(v, wait, timeout, phases, sent)

    def upload(self, name: str, version: int, artifacts: Iterable[PathLike], *,
               progress: Optional[ProgressCallback] = None, wait: bool = True,
               timeout: float = VERIFY_TIMEOUT) -> Version:
        """Opens an upload session for a registered version's files, sends
        them in parallel parts and completes it: the version becomes READY,
        or VERIFYING and then, waited for as ``register`` does, READY."""
        prepared = [prepare_file(local, reg) for local, reg in collect_artifacts(artifacts)]
        phases = Phases(progress)
        v, sent = self._upload_new(name, version, prepared, phases)
        return self._wait_verified(v, wait, timeout, phases, sent)

    def _upload_new(self, name: str, version: int, files: List[LocalFile], phases: Phases) -> Tuple[Version, int]:
        ticket = self._json("POST", self._vpath(name, version) + "/uploads",
                            body={"files": [f.spec() for f in files]})
        return self._send_and_complete(name, version, ticket, {f.path: f.local for f in files}, phases)

    def resume(self, name: str, version: int, artifacts: Iterable[PathLike], *,
               progress: Optional[ProgressCallback] = None, wait: bool = True,
               timeout: float = VERIFY_TIMEOUT) -> Version:
        """Finishes a version's open upload: fresh URLs for the parts not yet
        received (``…/uploads/{id}/refresh``), those parts sent, the session
        completed, a VERIFYING version waited for as ``register`` does. A
        READY version is returned as it is, a VERIFYING one waited for, a
        FAILED one raises VerificationFailed; Conflict when the version has
        no open upload."""
        v = self.get(name, version)
        phases = Phases(progress)
        if v.status in ("READY", "VERIFYING", "FAILED"):
            return self._wait_verified(v, wait, timeout, phases, sum(a.size for a in v.artifacts))
        if not v.upload_id:
            raise Conflict(409, "conflict", f"{name} version {version} has no open upload to resume")
        ticket = self._json("POST", self._vpath(name, version) + f"/uploads/{_esc(v.upload_id)}/refresh", body={})
        local = {reg: loc for loc, reg in collect_artifacts(artifacts)}
        v, sent = self._send_and_complete(name, version, ticket, local, phases)
        return self._wait_verified(v, wait, timeout, phases, sent)

    def _send_and_complete(self, name: str, version: int, ticket: Dict[str, Any], local: Dict[str, str],
                           phases: Phases) -> Tuple[Version, int]:
        sent = self._transfers.upload_parts(ticket, local, self.parallel, phases.upload)
        v = Version.from_json(self._json(
            "POST", self._vpath(name, version) + f"/uploads/{_esc(ticket['upload_id'])}/complete", body={}))
        return v, sent

    def wait_verified(self, name: str, version: int, *, timeout: float = VERIFY_TIMEOUT,
                      progress: Optional[ProgressCallback] = None) -> Version:
        """Waits for a version the server verifies in the background
        (VERIFYING) to end and returns it READY; a version in any other
        status is returned at once, except FAILED. Raises
        VerificationFailed with the server's reason when it is (or ends)
        FAILED, VerificationTimeout after ``timeout`` seconds."""
        v = self.get(name, version)
        return self._wait_verified(v, True, timeout, Phases(progress), sum(a.size for a in v.artifacts))

    def _wait_verified(self, v: Version, wait: bool, timeout: float, phases: Phases, total: int) -> Version:
        """Polls v while it is VERIFYING (backoff from 0.25 s growing by
        half up to VERIFY_POLL_MAX, never past the deadline)."""
        if v.status == "VERIFYING" and wait:
            log.info("%s version %d: the server verifies its files (SHA-256) in the background", v.model, v.version)
            start = time.monotonic()
            deadline = start + timeout
            delay = 0.25
            phases.verifying(total, total)
            while v.status == "VERIFYING":
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VerificationTimeout(v, timeout)
                time.sleep(min(delay, left))
                delay = min(delay * 1.5, VERIFY_POLL_MAX)
                v = self.get(v.model, v.version)
                if v.status == "VERIFYING":
                    phases.verifying(total, total)
            log.info("%s version %d: %s after %.1f s of verification", v.model, v.version, v.status,
                     time.monotonic() - start)
        if v.status == "FAILED":
            raise VerificationFailed(v)
        return v

    def download(self, name: str, version: int, dest: PathLike, *, path: str = "",
                 progress: Optional[Callable[[int], None]] = None) -> List[Path]:
        """Downloads a READY version's files (or the one at ``path``) under
        dest, verifying each file's size and SHA-256 while it streams; a
        file appears only once verified (ChecksumMismatch otherwise).
        Returns the local paths."""
        d = self._json("GET", self._vpath(name, version) + "/download", query={"path": path})
        out: List[Path] = []
        root = Path(dest).resolve()
        for link in d.get("files") or []:
            target = (root / link["path"]).resolve()
            if root not in target.parents:
                raise ValueError(f"artifact path {link['path']!r} leaves {root}")
            self._transfers.download(link, str(target), progress)
            out.append(target)
        return out

    # --- stages, aliases, metrics ----------------------------------------

    def stage(self, name: str, stage: str = "Production", *, at: Optional[str] = None) -> Version:
        """Returns the version in a stage (or in Production at time ``at``,
        RFC 3339). NotFound when the stage is empty."""
        return Version.from_json(self._json("GET", f"/v1/models/{_esc(name)}/stages/{_esc(stage)}",
                                            query={"at": at}))

    def stage_if_changed(self, name: str, etag: str = "", stage: str = "Production") -> Tuple[Optional[Version], str]:
        """Polls a stage with If-None-Match: returns (None, etag) while it is
        unchanged (304), else (version, new etag). NotFound when empty."""
        r = self._request("GET", f"/v1/models/{_esc(name)}/stages/{_esc(stage)}",
                          headers={"If-None-Match": etag} if etag else None, ok=(304,))
        if r.status_code == 304:
            return None, etag
        return Version.from_json(r.json()), r.headers.get("ETag", "")

    def alias(self, name: str, alias: str, version: Optional[int] = None) -> Union[Alias, Version]:
        """With version: points alias at it and returns the Alias. Without:
        returns the Version the alias points at. NotFound."""
        if version is not None:
            return Alias.from_json(self._json("PUT", f"/v1/models/{_esc(name)}/aliases/{_esc(alias)}",
                                              body={"version": int(version)}))
        return Version.from_json(self._json("GET", f"/v1/models/{_esc(name)}/aliases/{_esc(alias)}")["version"])

    def delete_alias(self, name: str, alias: str) -> None:
        """Removes an alias. NotFound."""
        self._json("DELETE", f"/v1/models/{_esc(name)}/aliases/{_esc(alias)}")

    def push_metrics(self, name: str, version: int, metrics: Mapping[str, float], *,
                     source: str = "production") -> Version:
        """Records metrics measured after deployment (source ``production``
        by default) and returns the version."""
        return Version.from_json(self._json("POST", self._vpath(name, version) + "/metrics",
                                            body={"metrics": {k: float(v) for k, v in metrics.items()},
                                                  "source": source}))

    def compare(self, name: str, versions: Sequence[int], *, by: str = "") -> Comparison:
        """Sets versions side by side; ``by`` ranks them on a metric."""
        return Comparison.from_json(self._json("GET", f"/v1/models/{_esc(name)}/compare", query={
            "versions": ",".join(str(int(v)) for v in versions), "by": by}))

    # --- promotion ---------------------------------------------------------

    def promote(self, name: str, version: int, to: str, *, reason: str = "",
                wait: Union[bool, float] = False, poll: float = 1.0) -> Transition:
        """Moves a version to a stage. A direct move (Staging, Archived,
        None) returns the moved version; Production returns the approval it
        waits for. With ``wait`` (True: an hour, or seconds) it waits for the
        decision: APPROVED returns the version too, any other end raises
        PromotionNotApproved, and TimeoutError if still pending."""
        r = self._request("POST", self._vpath(name, version) + "/transitions", body={"to": to, "reason": reason})
        d = r.json()
        if r.status_code != 202:
            return Transition(version=Version.from_json(d))
        a = self.approval(d["approval_id"])
        if not wait:
            return Transition(approval=a)
        limit = 3600.0 if wait is True else float(wait)
        deadline = time.monotonic() + limit
        while a.status == "PENDING":
            if time.monotonic() > deadline:
                raise TimeoutError(f"approval {a.id} still pending after {limit:g} s")
            time.sleep(poll)
            a = self.approval(a.id)
        if a.status != "APPROVED":
            raise PromotionNotApproved(a, a.status)
        return Transition(version=self.get(name, version), approval=a)

    def approvals(self, *, status: str = "PENDING", model: str = "") -> List[Approval]:
        """Lists approvals (PENDING by default; status="" for all)."""
        return [Approval.from_json(a) for a in self._list("/v1/approvals", {"status": status, "model": model})]

    def approval(self, approval_id: str) -> Approval:
        """Returns an approval. NotFound."""
        return Approval.from_json(self._json("GET", "/v1/approvals/" + _esc(approval_id)))

    def approve(self, approval_id: str, comment: str = "") -> Approval:
        """Approves (approver role; not your own request). Forbidden, Conflict."""
        return Approval.from_json(self._json("POST", f"/v1/approvals/{_esc(approval_id)}/approve",
                                             body={"comment": comment}))

    def reject(self, approval_id: str, comment: str = "") -> Approval:
        """Rejects an approval. Forbidden, Conflict."""
        return Approval.from_json(self._json("POST", f"/v1/approvals/{_esc(approval_id)}/reject",
                                             body={"comment": comment}))

    def cancel(self, approval_id: str, comment: str = "") -> Approval:
        """Cancels an approval (its requester or an admin)."""
        return Approval.from_json(self._json("POST", f"/v1/approvals/{_esc(approval_id)}/cancel",
                                             body={"comment": comment}))

    def rollback(self, name: str, *, to: int = 0, reason: str) -> Version:
        """Returns Production to version ``to`` (0: the previous Production
        version), recorded as a rollback with reason; returns the version now
        in Production."""
        body: Dict[str, Any] = {"reason": reason}
        if to:
            body["to"] = int(to)
        return Version.from_json(self._json("POST", f"/v1/models/{_esc(name)}/rollback", body=body))

    def history(self, name: str, version: int = 0) -> List[HistoryEntry]:
        """A model's audit trail (one version's when version > 0), newest first."""
        return [HistoryEntry.from_json(e) for e in
                self._list(f"/v1/models/{_esc(name)}/history", {"version": version or None})]


def _metric(v: MetricValue) -> Dict[str, Any]:
    if isinstance(v, tuple):
        return {"value": float(v[0]), "source": v[1]}
    return {"value": float(v)}


def collect_artifacts(args: Iterable[PathLike]) -> List[Tuple[str, str]]:
    """Expands artifact arguments as the CLI does: a file goes up under its
    base name, a directory's regular files (links followed) under their
    '/'-separated NFC paths relative to it. Returns (local, registry path)."""
    out: List[Tuple[str, str]] = []
    seen: Dict[str, str] = {}

    def add(local: str, reg: str) -> None:
        reg = unicodedata.normalize("NFC", reg.replace(os.sep, "/"))
        if reg in seen:
            raise ValueError(f"{seen[reg]} and {local} would both be stored as {reg}")
        seen[reg] = local
        out.append((local, reg))

    for a in args:
        a = os.fspath(a)
        if not os.path.exists(a):
            raise FileNotFoundError(f"artifact {a}: no such file or directory")
        if not os.path.isdir(a):
            add(a, os.path.basename(a))
            continue
        before = len(seen)
        for dirpath, dirnames, filenames in os.walk(a):
            dirnames.sort()
            for fn in sorted(filenames):
                p = os.path.join(dirpath, fn)
                if os.path.isfile(p):
                    add(p, os.path.relpath(p, a))
        if len(seen) == before:
            raise ValueError(f"artifact directory {a} holds no files")
    return out
