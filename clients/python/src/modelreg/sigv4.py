"""AWS Signature Version 4 for the registry behind API Gateway's IAM
authorizer, with botocore (optional: ``pip install 'modelreg[sigv4]'``).

Presigned artifact URLs carry their own signature and are never signed
again; only /v1 API requests are.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional

SERVICE = "execute-api"


def _botocore() -> Any:
    try:
        import botocore.auth  # noqa: F401
        import botocore.awsrequest  # noqa: F401
        import botocore.session
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("auth='sigv4' needs botocore: pip install 'modelreg[sigv4]'") from e
    return botocore


def default_region(session: Any = None) -> str:
    """The region to sign for: MODELREG_AWS_REGION, AWS_REGION,
    AWS_DEFAULT_REGION, then the botocore profile's region."""
    for k in ("MODELREG_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        if os.environ.get(k):
            return os.environ[k]
    if session is not None:
        r = session.get_config_variable("region")
        if r:
            return str(r)
    raise ValueError("auth='sigv4' needs a region: set AWS_REGION (or MODELREG_AWS_REGION)")


class Signer:
    """Signs requests with botocore's default credential chain (environment,
    profile, container or instance role: inside a SageMaker training job,
    the job's execution role), refreshing them as botocore does."""

    def __init__(self, region: Optional[str] = None, credentials: Any = None, service: str = SERVICE) -> None:
        bc = _botocore()
        session = bc.session.get_session() if credentials is None or region is None else None
        self.region = region or default_region(session)
        self.service = service
        self._credentials = credentials if credentials is not None else session.get_credentials()
        if self._credentials is None:
            raise ValueError("auth='sigv4': botocore found no AWS credentials")

    def sign(self, method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> Dict[str, str]:
        """Returns headers plus Authorization, X-Amz-Date and (for temporary
        credentials) X-Amz-Security-Token for this request. Content-Length
        is signed when there is a body, as aws-sdk-go-v2 does."""
        bc = _botocore()
        h = dict(headers)
        if body:
            h["Content-Length"] = str(len(body))
        creds = self._credentials
        if hasattr(creds, "get_frozen_credentials"):
            creds = creds.get_frozen_credentials()
        req = bc.awsrequest.AWSRequest(method=method, url=url, data=body or None, headers=h)
        bc.auth.SigV4Auth(creds, self.service, self.region).add_auth(req)
        return dict(req.headers.items())
