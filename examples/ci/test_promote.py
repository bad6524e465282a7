"""examples/ci: promote.sh against a real `modelreg serve`, and promote.yml
checked against the script's subcommands and outputs."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import yaml

from modelreg_fixtures import modelreg_bin

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "promote.sh"
MODEL = "fraud_model"


def script_commands() -> dict[str, list[str]]:
    """promote.sh commands: subcommand -> its argument spec."""
    out = subprocess.run(["bash", str(SCRIPT), "commands"], capture_output=True, text=True, check=True).stdout
    cmds = {}
    for line in out.splitlines():
        name, *args = line.split()
        cmds[name] = args
    return cmds


def script_outputs() -> dict[str, set[str]]:
    """The step outputs each subcommand writes (its `output NAME` calls)."""
    text = SCRIPT.read_text()
    arms = re.split(r"\n  ([a-z]+)\)\n", text)
    outs = {}
    for name, body in zip(arms[1::2], arms[2::2]):
        outs[name] = set(re.findall(r"\boutput (\w+) ", body.split("\n    ;;")[0]))
    return outs


def run(server, token, *args, env=None, check=True):
    e = dict(os.environ)
    e.update({"MODELREG_URL": server.url, "MODELREG_TOKEN": token, "MODELREG": modelreg_bin()})
    e.update(env or {})
    p = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f"promote.sh {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def outputs(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def wait_stage(server, version: int, stage: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        v = json.loads(server.cli("versions", MODEL, str(version), "--output", "json").stdout)
        if v["stage"] == stage:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"version {version} is {v['stage']}, want {stage}")
        time.sleep(0.1)


def test_promote_script_end_to_end(modelreg_factory, tmp_path):
    """The workflow's steps, as a publisher: register with lineage, Staging,
    checks, request Production (an approver approves); a second version the
    same way; then the rollback job returns Production to the first, which
    the policy lets publishers do. The history records each step with its
    actor, and the step outputs reach GITHUB_OUTPUT."""
    s = modelreg_factory()
    ci = s.token("ci", "publisher")
    alice = s.token("alice", "approver")
    s.cli("models", "create", MODEL)
    s.cli("policy", MODEL, "set", "--rollback-role", "publisher", "--metric", "accuracy>=0.9")

    gh_out = tmp_path / "github_output"
    env = {"GITHUB_SHA": "4f1c2e9d8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d", "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_REPOSITORY": "acme/fraud", "GITHUB_RUN_ID": "7001", "GITHUB_OUTPUT": str(gh_out)}
    versions = []
    for i, acc in enumerate(["0.93", "0.95"]):
        art = tmp_path / f"model{i}.bin"
        art.write_bytes(os.urandom(4096))
        out = outputs(run(s, ci, "register", MODEL, str(art), f"accuracy={acc}", env=env).stdout)
        v = int(out["version"])
        versions.append(v)
        assert outputs(run(s, ci, "staging", MODEL, str(v), env=env).stdout) == {"stage": "Staging"}
        assert outputs(run(s, ci, "check", MODEL, str(v), str(tmp_path / "check"), env=env).stdout) == {"checked": "1"}
        assert (tmp_path / "check" / art.name).read_bytes() == art.read_bytes()
        approval = outputs(run(s, ci, "production", MODEL, str(v), env=env).stdout)["approval_id"]
        s.cli("approvals", "approve", approval, "--comment", "looks good", token=alice)
        wait_stage(s, v, "Production")
    v1, v2 = versions
    wait_stage(s, v1, "Archived")

    got = json.loads(s.cli("versions", MODEL, str(v2), "--output", "json").stdout)
    assert got["lineage"]["code"]["commit"] == env["GITHUB_SHA"]
    assert got["lineage"]["code"]["repo"] == "https://github.com/acme/fraud"
    assert got["lineage"]["run"]["run_id"] == "gha-7001"
    assert got["created_by"] == "ci"

    # The manual rollback job, with the publisher token.
    out = outputs(run(s, ci, "rollback", MODEL, "latency regression", "", env=env).stdout)
    assert out == {"version": str(v1)}
    wait_stage(s, v1, "Production")
    wait_stage(s, v2, "Archived")

    lines = gh_out.read_text().splitlines()
    assert lines.count(f"version={v1}") == 2 and f"version={v2}" in lines and "checked=1" in lines
    assert sum(1 for line in lines if line.startswith("approval_id=")) == 2

    hist = json.loads(s.cli("history", MODEL, "--output", "json").stdout)
    entries = hist["items"] if isinstance(hist, dict) else hist
    moves = [(e.get("version"), e.get("to"), e.get("actor"), bool(e.get("rollback")))
             for e in reversed(entries) if e.get("action") == "version.stage_changed"]
    assert (v1, "Staging", "ci", False) in moves and (v2, "Staging", "ci", False) in moves, moves
    assert [m[:2] for m in moves if m[1] == "Production"] == [(v1, "Production"), (v2, "Production"), (v1, "Production")], moves
    rb = [m for m in moves if m[3]]
    # The rollback moves v1 back in and v2 out, both by the publisher.
    assert sorted(m[:3] for m in rb) == [(v1, "Production", "ci"), (v2, "Archived", "ci")], moves
    # The promotions were the approver's decision.
    assert (v2, "Production", "alice", False) in moves, moves


def test_rollback_refused_without_policy(modelreg_factory, tmp_path):
    """Without rollback_role publisher the publisher's rollback job fails
    (exit 5, not authorized) and Production stays."""
    s = modelreg_factory()
    ci = s.token("ci", "publisher")
    alice = s.token("alice", "approver")
    s.cli("models", "create", MODEL)
    for i in range(2):
        art = tmp_path / f"m{i}.bin"
        art.write_bytes(os.urandom(64))
        v = outputs(run(s, ci, "register", MODEL, str(art), "accuracy=0.9").stdout)["version"]
        run(s, ci, "staging", MODEL, v)
        a = outputs(run(s, ci, "production", MODEL, v).stdout)["approval_id"]
        s.cli("approvals", "approve", a, token=alice)
        wait_stage(s, int(v), "Production")
    p = run(s, ci, "rollback", MODEL, "try", check=False)
    assert p.returncode == 5, (p.returncode, p.stderr)
    wait_stage(s, 2, "Production")


def test_script_refuses_bad_calls(modelreg_server):
    for args, want in [((), "usage"), (("deploy",), "unknown command"), (("staging", MODEL), "usage: promote.sh staging MODEL VERSION")]:
        p = run(modelreg_server, modelreg_server.admin_token, *args, check=False)
        assert p.returncode == 2 and want in p.stderr, (args, p.returncode, p.stderr)


def test_workflow_matches_script():
    """promote.yml: every step that calls promote.sh names one of its
    subcommands with an argument count the subcommand takes; every step
    output it reads is one that step's subcommand writes; the promote job
    runs register → staging → check → production in that order on push,
    and a rollback job runs only by hand (workflow_dispatch)."""
    wf = yaml.safe_load((HERE / "promote.yml").read_text())
    triggers = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers and "workflow_dispatch" in triggers
    cmds, outs = script_commands(), script_outputs()
    assert set(outs) >= set(cmds) - {"commands"}
    seen: dict[str, list[str]] = {}
    for job_name, job in wf["jobs"].items():
        step_cmd: dict[str, str] = {}
        for step in job["steps"]:
            run_text = step.get("run", "")
            for ref_step, ref_out in re.findall(r"steps\.(\w+)\.outputs\.(\w+)", run_text):
                assert ref_step in step_cmd, f"{job_name}: {ref_step} used before it runs"
                assert ref_out in outs[step_cmd[ref_step]], f"{job_name}: {ref_step} ({step_cmd[ref_step]}) writes no {ref_out}"
            for line in run_text.splitlines():
                if "examples/ci/promote.sh" not in line:
                    continue
                words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}", "X", line))
                i = words.index("examples/ci/promote.sh")
                sub, args = words[i + 1], words[i + 2:]
                assert sub in cmds, f"{job_name}: unknown subcommand {sub}"
                spec = cmds[sub]
                required = [a for a in spec if not a.startswith("[")]
                variadic = any(a.endswith("...]") for a in spec)
                assert len(args) >= len(required) and (variadic or len(args) <= len(spec)), \
                    f"{job_name}: promote.sh {sub} {args} does not fit {spec}"
                seen.setdefault(job_name, []).append(sub)
                if "id" in step:
                    step_cmd[step["id"]] = sub
    assert seen["promote"] == ["register", "staging", "check", "production"], seen
    assert seen["rollback"] == ["rollback"], seen
    assert "workflow_dispatch" in wf["jobs"]["rollback"]["if"] and "push" in wf["jobs"]["promote"]["if"]
    for job in wf["jobs"].values():
        assert all("secrets." not in str(step.get("run", "")) for step in job["steps"]), "secrets only through env"
    assert wf["env"]["MODELREG_URL"] == "${{ secrets.MODELREG_URL }}"
    assert wf["env"]["MODELREG_TOKEN"] == "${{ secrets.MODELREG_TOKEN }}"
