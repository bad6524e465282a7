"""Lineage detection, as the modelreg CLI does it.

``detect`` fills the API's lineage object from the git checkout around the
current directory and the environment of common training systems (a
SageMaker training job, GitHub Actions, MLflow, CodeBuild). ``dvc_lineage``
reads a DVC ``.dvc`` file (and optionally ``dvc.lock``); ``wandb_artifact``
parses a Weights & Biases artifact reference. Both return tags under the
names the CLI uses (``dvc.*``, ``wandb.artifact``), so a version registered
either way reads the same.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

RUN_ID_VARS = ("TRAINING_JOB_NAME", "MLFLOW_RUN_ID", "GITHUB_RUN_ID", "CODEBUILD_BUILD_ID")


def _git(*args: str, cwd: Optional[str] = None) -> str:
    try:
        p = subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, check=False)
    except OSError:
        return ""
    return p.stdout.strip() if p.returncode == 0 else ""


def _sha256_file(path: PathLike) -> str:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return ""


def rfc3339(t: _dt.datetime) -> str:
    """Formats t (naive means UTC) as RFC 3339 with a Z, whole seconds."""
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return t.replace(microsecond=0).isoformat() + "Z"


def detect(files: Iterable[PathLike] = (), *, no_git: bool = False, env: Optional[Dict[str, str]] = None,
           cwd: Optional[str] = None) -> Dict[str, Any]:
    """Returns the lineage the CLI's ``register`` would record here: git
    repo, commit and dirty flag; the requirements.txt hash; the run id from
    TRAINING_JOB_NAME, MLFLOW_RUN_ID, GITHUB_RUN_ID or CODEBUILD_BUILD_ID
    (a SageMaker job's SM_TRAINING_ENV job name too); the SageMaker entry
    point (SM_USER_ENTRY_POINT); the run's start (MODELREG_RUN_STARTED_AT)
    and end (the newest artifact's modification time)."""
    e = os.environ if env is None else env
    code: Dict[str, Any] = {}
    envl: Dict[str, Any] = {}
    run: Dict[str, Any] = {}
    if not no_git:
        top = _git("rev-parse", "--show-toplevel", cwd=cwd)
        if top:
            code["commit"] = _git("rev-parse", "HEAD", cwd=cwd)
            code["repo"] = _git("config", "--get", "remote.origin.url", cwd=cwd) or top
            if _git("status", "--porcelain", "--untracked-files=no", cwd=cwd):
                code["dirty"] = True
            h = _sha256_file(os.path.join(top, "requirements.txt"))
            if h:
                envl["requirements_hash"] = "sha256:" + h
        elif e.get("GITHUB_SHA") and e.get("GITHUB_REPOSITORY"):
            # A GitHub Actions job without a checkout still knows its commit.
            code["commit"] = e["GITHUB_SHA"]
            code["repo"] = e.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/") + "/" + e["GITHUB_REPOSITORY"]
    if "requirements_hash" not in envl:
        h = _sha256_file(os.path.join(cwd or ".", "requirements.txt"))
        if h:
            envl["requirements_hash"] = "sha256:" + h
    for k in RUN_ID_VARS:
        if e.get(k):
            run["run_id"] = e[k]
            break
    sm: Dict[str, Any] = {}
    if e.get("SM_TRAINING_ENV"):
        try:
            sm = json.loads(e["SM_TRAINING_ENV"])
        except ValueError:
            sm = {}
    if "run_id" not in run and sm.get("job_name"):
        run["run_id"] = str(sm["job_name"])
    entry = e.get("SM_USER_ENTRY_POINT") or sm.get("user_entry_point") or ""
    if entry:
        code["entry_point"] = entry
    started = e.get("MODELREG_RUN_STARTED_AT", "")
    start_t: Optional[_dt.datetime] = None
    if started:
        start_t = _parse_rfc3339(started)
        run["started_at"] = rfc3339(start_t)
    mtimes = []
    for f in files:
        try:
            mtimes.append(os.stat(f).st_mtime)
        except OSError:
            pass
    if mtimes:
        newest = _dt.datetime.fromtimestamp(int(max(mtimes)), _dt.timezone.utc)
        if start_t is None or newest >= start_t:
            run["ended_at"] = rfc3339(newest)
    return {"code": code, "data": {}, "run": run, "environment": envl}


def _parse_rfc3339(s: str) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"MODELREG_RUN_STARTED_AT {s!r}: want RFC 3339, e.g. 2026-11-24T09:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


def merge(base: Dict[str, Any], extra: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Returns base with extra's fields laid over it, section by section."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k].update(v)
        else:
            out[k] = v
    return out


# --- DVC ---------------------------------------------------------------

def _scalar(s: str) -> Any:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        inner = s[1:-1]
        return inner.replace("''", "'") if s[0] == "'" else json.loads(s)
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~", ""):
        return None
    return s


def parse_yaml(text: str) -> Any:
    """Parses the block-style YAML subset DVC writes (.dvc files and
    dvc.lock): nested mappings, sequences of mappings or scalars, plain
    and quoted scalars. Raises ValueError on anything else."""
    lines: List[Tuple[int, str]] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip()))
    pos = 0

    def block(indent: int) -> Any:
        nonlocal pos
        if pos >= len(lines):
            return None
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            seq: List[Any] = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("-"):
                rest = lines[pos][1][1:].strip()
                if not rest:
                    pos += 1
                    seq.append(block(lines[pos][0]) if pos < len(lines) and lines[pos][0] > indent else None)
                    continue
                # "- key: value" opens a mapping whose keys sit at indent+2.
                inner = indent + 2
                lines[pos] = (inner, rest)
                if _is_key(rest):
                    seq.append(mapping(inner))
                else:
                    seq.append(_scalar(rest))
                    pos += 1
            return seq
        return mapping(indent)

    def mapping(indent: int) -> Dict[str, Any]:
        nonlocal pos
        m: Dict[str, Any] = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            line = lines[pos][1]
            if not _is_key(line):
                raise ValueError(f"unsupported YAML line: {line!r}")
            k, _, v = line.partition(":")
            k = _scalar(k)
            pos += 1
            if v.strip():
                m[str(k)] = _scalar(v)
            elif pos < len(lines) and (lines[pos][0] > indent or
                                       (lines[pos][0] == indent and lines[pos][1].startswith("-"))):
                m[str(k)] = block(lines[pos][0])
            else:
                m[str(k)] = None
        return m

    def _is_key(s: str) -> bool:
        return re.match(r"^(?:'[^']*'|\"[^\"]*\"|[^'\"\s][^:]*?):(?:\s|$)", s) is not None

    out = block(lines[0][0]) if lines else None
    if pos != len(lines):
        raise ValueError(f"unsupported YAML at line {lines[pos][1]!r}")
    return out


def _read_dvc_config(repo: Path) -> Dict[str, Dict[str, str]]:
    conf: Dict[str, Dict[str, str]] = {}
    for name in ("config", "config.local"):
        p = repo / ".dvc" / name
        if not p.is_file():
            continue
        section = ""
        for raw in p.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().strip("'")
                conf.setdefault(section, {})
                continue
            k, sep, v = line.partition("=")
            if sep:
                conf.setdefault(section, {})[k.strip()] = v.strip()
    return conf


def _find_dvc_root(start: Path) -> Optional[Path]:
    for d in [start, *start.parents]:
        if (d / ".dvc").is_dir():
            return d
    return None


def _tag_key(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.:/-]", "_", s)[:128]


@dataclass
class DvcLineage:
    """What a .dvc file (and dvc.lock) say about a version: the tracked
    output, the remote it is pushed to, its location there (``source``,
    when a remote is configured), the pipeline's dependencies (path →
    ``md5:HASH``), and the tags and data lineage recorded for them."""

    path: str
    md5: str
    size: int
    remote: str = ""
    remote_url: str = ""
    source: str = ""
    deps: Dict[str, str] = field(default_factory=dict)

    def tags(self) -> Dict[str, str]:
        """The version tags: dvc.path, dvc.md5, dvc.size, dvc.remote and one
        ``dvc.dep:PATH`` per pipeline dependency."""
        t = {"dvc.path": self.path, "dvc.md5": self.md5, "dvc.size": str(self.size)}
        if self.remote_url:
            t["dvc.remote"] = f"{self.remote}={self.remote_url}"
        for p, h in sorted(self.deps.items()):
            t[_tag_key("dvc.dep:" + p)] = h
        return t

    def data(self) -> Dict[str, str]:
        """The data lineage: the first pipeline dependency that is not code,
        as dataset id (its path) and version (its hash)."""
        for p, h in sorted(self.deps.items()):
            if not p.endswith(_CODE_SUFFIXES):
                return {"dataset_id": p, "dataset_version": h}
        return {}


_CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".R", ".jl", ".scala", ".java", ".go", ".yaml", ".yml",
                  ".toml", ".cfg", ".ini", ".json", ".txt")


def _md5_of(entry: Dict[str, Any]) -> str:
    # DVC 3 writes "md5: HASH" with "hash: md5"; DVC 2 wrote "md5" alone;
    # cloud versioned remotes add etag/version_id, which stay unrecorded.
    v = entry.get("md5")
    if not v and isinstance(entry.get("hash"), str) and entry.get(entry["hash"]):
        v = entry.get(entry["hash"])
    return str(v or "")


def dvc_lineage(dvc_file: PathLike, lock_file: Optional[PathLike] = None) -> DvcLineage:
    """Reads a .dvc file: its (single) output's path, md5 and size; the
    repository's default remote from .dvc/config (and config.local), whose
    location of the output (DVC 3's files/md5/XX/REST layout) becomes the
    source; with lock_file (dvc.lock), every stage's dependency hashes.
    Raises ValueError naming the file when it is not what DVC writes."""
    dvc_path = Path(dvc_file)
    try:
        doc = parse_yaml(dvc_path.read_text())
    except OSError as e:
        raise ValueError(f"--dvc {dvc_file}: {e}") from None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise ValueError(f"--dvc {dvc_file}: want a .dvc file with one entry under outs (written by dvc add)")
    out = outs[0]
    md5 = _md5_of(out)
    if not out.get("path") or not re.fullmatch(r"[0-9a-f]{32}(\.dir)?", md5):
        raise ValueError(f"--dvc {dvc_file}: its output has no path or no md5 (run dvc add or dvc commit)")
    size = out.get("size")
    lin = DvcLineage(path=str(out["path"]), md5=md5, size=int(size) if isinstance(size, int) else 0)
    root = _find_dvc_root(dvc_path.resolve().parent)
    if root is not None:
        rel = os.path.relpath(dvc_path.resolve().parent / lin.path, root)
        lin.path = Path(rel).as_posix()
        conf = _read_dvc_config(root)
        remote = conf.get("core", {}).get("remote", "")
        url = conf.get(f'remote "{remote}"', {}).get("url", "") if remote else ""
        if url:
            lin.remote = remote
            if "://" not in url:
                url = str((root / ".dvc" / url).resolve()) if not os.path.isabs(url) else url
            lin.remote_url = url
            loc = "files/md5/" + md5[:2] + "/" + md5[2:]
            lin.source = (url.rstrip("/") + "/" + loc) if "://" in url else Path(url, loc).as_uri()
    if lock_file is not None:
        lin.deps = dvc_lock_deps(lock_file)
    return lin


def dvc_lock_deps(lock_file: PathLike) -> Dict[str, str]:
    """Returns every stage's dependencies in a dvc.lock as path → md5:HASH."""
    try:
        doc = parse_yaml(Path(lock_file).read_text())
    except OSError as e:
        raise ValueError(f"--dvc-lock {lock_file}: {e}") from None
    stages = doc.get("stages") if isinstance(doc, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise ValueError(f"--dvc-lock {lock_file}: no stages (want the dvc.lock that dvc repro writes)")
    deps: Dict[str, str] = {}
    for st in stages.values():
        for d in (st or {}).get("deps") or []:
            h = _md5_of(d)
            if d.get("path") and h:
                deps[str(d["path"])] = "md5:" + h
    return deps


# --- Weights & Biases ----------------------------------------------------

_WANDB_PART = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_WANDB_RE = re.compile(rf"^({_WANDB_PART})/({_WANDB_PART})/({_WANDB_PART}):(v\d+|latest|[A-Za-z0-9][A-Za-z0-9_.-]*)$")


def wandb_artifact(ref: str) -> Dict[str, str]:
    """Parses ``entity/project/name:ALIAS`` (ALIAS v3, latest or another
    alias) and returns entity, project, name and alias. Nothing is fetched
    from W&B. Raises ValueError for anything else."""
    m = _WANDB_RE.match(ref)
    if not m:
        raise ValueError(f"--wandb-artifact {ref!r}: want ENTITY/PROJECT/NAME:VERSION, e.g. acme/churn/train-data:v3")
    return {"entity": m.group(1), "project": m.group(2), "name": m.group(3), "alias": m.group(4)}
