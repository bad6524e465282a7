"""Exceptions that mirror the registry's API error codes.

Every error answer of the API is ``{"error": {"code", "message"}}``; the
client raises the subclass of :class:`APIError` named after its code, so
callers write ``except modelreg.NotFound:`` rather than compare statuses.
"""

from __future__ import annotations

from typing import Any, Dict, Type


class ModelregError(Exception):
    """Base class of every error this package raises."""


class APIError(ModelregError):
    """An error answer of the registry: ``status`` (HTTP), ``code`` (the
    API's error code, e.g. ``not_found``) and ``message``."""

    code = ""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code
        self.message = message


class Invalid(APIError):
    """400 ``invalid``: the request is malformed or breaks a rule."""


class Unauthenticated(APIError):
    """401 ``unauthenticated``: no or unknown credentials."""


class Forbidden(APIError):
    """403 ``forbidden``: the caller's role does not allow it."""


class NotFound(APIError):
    """404 ``not_found``."""


class Conflict(APIError):
    """409 ``conflict``: the state does not allow it, or someone changed it first."""


class TooLarge(APIError):
    """413 ``too_large``."""


class KeyReused(APIError):
    """422 ``idempotency_key_reused``: the same Idempotency-Key with a different request."""


class Internal(APIError):
    """500 ``internal``."""


class NotImplementedByServer(APIError):
    """501 ``not_implemented``."""


class Unavailable(APIError):
    """503 ``unavailable``: retry later."""


class InsufficientStorage(APIError):
    """507 ``insufficient_storage``: the server's disk is full."""


class ChecksumMismatch(ModelregError):
    """A downloaded file's size or SHA-256 differs from what the registry recorded."""


class PromotionNotApproved(ModelregError):
    """``promote(..., wait=...)``: the approval ended other than APPROVED
    (``approval`` holds it)."""

    def __init__(self, approval: object, status: str) -> None:
        super().__init__(f"promotion was {status}")
        self.approval = approval
        self.status = status


class UploadIncomplete(ModelregError):
    """A version is registered but its upload did not finish; ``resume``
    finishes it. ``version`` is the number, ``cause`` the failure."""

    def __init__(self, model: str, version: int, cause: BaseException) -> None:
        super().__init__(f"{model} version {version} is registered but its upload did not finish: {cause}; "
                         f"finish it with Client.resume({model!r}, {version}, paths)")
        self.model = model
        self.version = version
        self.cause = cause


class VerificationFailed(ModelregError):
    """The registry read a completed upload back and it did not match what
    was declared (or the registration was abandoned): the version is FAILED. ``version`` is the FAILED
    :class:`~modelreg.Version`, ``reason`` the server's ``status_reason``."""

    def __init__(self, version: Any) -> None:
        self.version = version
        self.reason = getattr(version, "status_reason", "") or "no reason given"
        super().__init__(f"{version.model} version {version.version} is FAILED: {self.reason}")


class VerificationTimeout(ModelregError, TimeoutError):
    """A version was still VERIFYING when the wait's ``timeout`` ran out;
    ``version`` is the last one seen. The verification goes on on the
    server: ``Client.wait_verified`` (or ``resume``) waits again."""

    def __init__(self, version: Any, timeout: float) -> None:
        self.version = version
        self.timeout = timeout
        super().__init__(f"{version.model} version {version.version} is still VERIFYING after {timeout:g} s; "
                         f"wait again with Client.wait_verified({version.model!r}, {version.version})")


_BY_CODE: Dict[str, Type[APIError]] = {
    "invalid": Invalid,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "too_large": TooLarge,
    "idempotency_key_reused": KeyReused,
    "internal": Internal,
    "not_implemented": NotImplementedByServer,
    "unavailable": Unavailable,
    "insufficient_storage": InsufficientStorage,
}

_BY_STATUS: Dict[int, Type[APIError]] = {
    400: Invalid, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: TooLarge, 422: KeyReused, 500: Internal, 501: NotImplementedByServer,
    503: Unavailable, 507: InsufficientStorage,
}


def error_for(status: int, code: str, message: str) -> APIError:
    """Returns the exception for an error answer (by code, else by status)."""
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status, APIError)
    return cls(status, code, message)
