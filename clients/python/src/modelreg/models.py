"""The registry's resources as dataclasses, decoded from the /v1 JSON.

Each keeps the whole answer in ``raw`` so fields added by a newer server
are not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Metric:
    """One metric of a version: its value and where it was measured
    (``training``, ``validation``, ``production``…)."""

    value: float
    source: str = ""
    recorded_at: str = ""


@dataclass
class Artifact:
    """A file of a version: registry path, size in bytes, lowercase-hex SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass
class Version:
    """A model version (``GET /v1/models/{name}/versions/{v}``)."""

    model: str
    version: int
    status: str
    stage: str
    metrics: Dict[str, Metric] = field(default_factory=dict)
    params: Dict[str, str] = field(default_factory=dict)
    tags: Dict[str, str] = field(default_factory=dict)
    lineage: Dict[str, Any] = field(default_factory=dict)
    artifacts: List[Artifact] = field(default_factory=list)
    description: str = ""
    upload_id: str = ""
    #: why a FAILED version failed (its files did not match what was declared)
    status_reason: str = ""
    created_by: str = ""
    created_at: str = ""
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Version":
        """Decodes the API's version object."""
        return cls(
            model=d.get("model", ""), version=int(d.get("version", 0)), status=d.get("status", ""),
            stage=d.get("stage", ""),
            metrics={k: Metric(float(m.get("value", 0)), m.get("source", ""), m.get("recorded_at", ""))
                     for k, m in (d.get("metrics") or {}).items()},
            params=dict(d.get("params") or {}), tags=dict(d.get("tags") or {}),
            lineage=dict(d.get("lineage") or {}),
            artifacts=[Artifact(a["path"], int(a["size"]), a["sha256"]) for a in (d.get("artifacts") or [])],
            description=d.get("description", ""), upload_id=d.get("upload_id", ""),
            status_reason=d.get("status_reason", ""),
            created_by=d.get("created_by", ""), created_at=d.get("created_at", ""), raw=d,
        )


@dataclass
class Model:
    """A registered model."""

    name: str
    description: str = ""
    latest_version: int = 0
    production_version: int = 0
    tags: Dict[str, str] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Model":
        """Decodes the API's model object."""
        return cls(name=d.get("name", ""), description=d.get("description", ""),
                   latest_version=int(d.get("latest_version", 0)),
                   production_version=int(d.get("production_version", 0)),
                   tags=dict(d.get("tags") or {}), raw=d)


@dataclass
class Alias:
    """An alias (``champion``…) and the version it points at."""

    model: str
    alias: str
    version: int
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Alias":
        """Decodes the API's alias object."""
        return cls(model=d.get("model", ""), alias=d.get("alias", ""), version=int(d.get("version", 0)), raw=d)


@dataclass
class Approval:
    """A request to move a version to Production and its decision."""

    id: str
    model: str
    version: int
    status: str
    target_stage: str = ""
    requested_by: str = ""
    decided_by: str = ""
    comment: str = ""
    reason: str = ""
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Approval":
        """Decodes the API's approval object."""
        return cls(id=d.get("id", ""), model=d.get("model", ""), version=int(d.get("version", 0)),
                   status=d.get("status", ""), target_stage=d.get("target_stage", ""),
                   requested_by=d.get("requested_by", ""), decided_by=d.get("decided_by", ""),
                   comment=d.get("comment", ""), reason=d.get("reason", ""), raw=d)


@dataclass
class Transition:
    """The answer to ``promote``: the moved ``version`` for a direct move,
    or the ``approval`` a move to Production waits for (then ``version`` is
    the version after the decision when ``wait`` was given)."""

    version: Optional[Version] = None
    approval: Optional[Approval] = None


@dataclass
class HistoryEntry:
    """One audit-trail record."""

    id: str
    model: str
    action: str
    actor: str
    at: str
    version: int = 0
    from_stage: str = ""
    to_stage: str = ""
    reason: str = ""
    rollback: bool = False
    details: Dict[str, str] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "HistoryEntry":
        """Decodes the API's audit entry."""
        return cls(id=d.get("id", ""), model=d.get("model", ""), action=d.get("action", ""),
                   actor=d.get("actor", ""), at=d.get("at", ""), version=int(d.get("version", 0)),
                   from_stage=d.get("from", ""), to_stage=d.get("to", ""), reason=d.get("reason", ""),
                   rollback=bool(d.get("rollback", False)), details=dict(d.get("details") or {}), raw=d)


@dataclass
class Comparison:
    """Versions side by side: per metric the values (by version number) and
    the best versions, per parameter the values and whether they differ;
    ``ranking`` orders the versions on ``by`` when it was given."""

    model: str
    versions: List[Version]
    metrics: Dict[str, Dict[str, Any]]
    params: Dict[str, Dict[str, Any]]
    by: str = ""
    ranking: List[int] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Comparison":
        """Decodes the API's comparison; version keys become ints."""
        def row(r: Dict[str, Any]) -> Dict[str, Any]:
            out = dict(r)
            out["values"] = {int(k): v for k, v in (r.get("values") or {}).items()}
            return out
        return cls(model=d.get("model", ""), versions=[Version.from_json(v) for v in d.get("versions") or []],
                   metrics={r["name"]: row(r) for r in d.get("metrics") or []},
                   params={r["name"]: row(r) for r in d.get("params") or []},
                   by=d.get("by", ""), ranking=list(d.get("ranking") or []), raw=d)
