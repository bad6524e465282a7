"""modelreg: the Python client of the modelreg model registry.

    import modelreg
    client = modelreg.Client()          # MODELREG_URL, MODELREG_TOKEN, MODELREG_AUTH
    v = client.register("churn", artifacts=["model.pkl"], metrics={"auc": 0.91})
    client.promote("churn", v.version, "Staging")
"""

from .client import Client, collect_artifacts
from .errors import (APIError, ChecksumMismatch, Conflict, Forbidden, InsufficientStorage, Internal, Invalid,
                     KeyReused, ModelregError, NotFound, NotImplementedByServer, PromotionNotApproved, TooLarge,
                     Unauthenticated, Unavailable, UploadIncomplete, VerificationFailed, VerificationTimeout)
from .models import Alias, Approval, Artifact, Comparison, HistoryEntry, Metric, Model, Transition, Version
from .transfer import FileChanged, PartFailed

__all__ = [
    "Client", "collect_artifacts", "APIError", "ChecksumMismatch", "Conflict", "FileChanged", "Forbidden",
    "InsufficientStorage", "Internal", "Invalid", "KeyReused", "ModelregError", "NotFound",
    "NotImplementedByServer", "PartFailed", "PromotionNotApproved", "TooLarge", "Unauthenticated", "Unavailable",
    "UploadIncomplete", "VerificationFailed", "VerificationTimeout", "Alias", "Approval", "Artifact", "Comparison",
    "HistoryEntry", "Metric", "Model", "Transition", "Version",
]
__version__ = "0.1.0"
