"""The MLflow-client workload of issue 10 against `mlflow server` (SQLite
backend) and against `modelreg serve`, in one run (scripts/bench mlflow).

For each server: create 500 versions sequentially and 500 from 16 threads,
2,000 get-version, and search a page of 100 at 1,000 and at 5,000 versions
(BENCH_MLFLOW_SCALE < 1 shrinks every count). Prints ops/s, p99 latency and
server CPU per operation (user+system of the server's process tree from
/proc), then the ratios modelreg/mlflow.

Both servers are measured the same way: the same client (its retries off,
MLFLOW_HTTP_REQUEST_MAX_RETRIES=0, so a refused request is seen, not
hidden behind a back-off), the same phases, the CPU of the whole process
tree (mlflow server's uvicorn workers are its children). A refused request
(mlflow server on SQLite answers 503 TEMPORARILY_UNAVAILABLE, "database is
locked", under concurrent writers) is counted per phase and left out of
ops/s and CPU per op, but its latency is in the p99. The versions that
fill the model searched at 1,000 and 5,000 are retried until created, so
the searches see the full count. mlflow server runs with
BENCH_MLFLOW_WORKERS uvicorn workers (default 4, its own default).

Usage: MODELREG_BIN=… python bench_mlflow.py   (the venv with mlflow)
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
from mlflow.tracking import MlflowClient  # noqa: E402

# create_model_version logs a line per call ("Waiting up to 300 seconds…").
logging.getLogger("mlflow").setLevel(logging.WARNING)

SCALE = float(os.environ.get("BENCH_MLFLOW_SCALE", "1"))
TICK = os.sysconf("SC_CLK_TCK")
WORKERS = int(os.environ.get("BENCH_MLFLOW_WORKERS", "4"))


def n(x: int) -> int:
    return max(1, int(x * SCALE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_cpu(pid: int) -> float:
    """User+system seconds of pid and its descendants."""
    kids: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(parts[1]), []).append(int(d))
        stats[int(d)] = (int(parts[11]) + int(parts[12])) / TICK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats.get(p, 0.0)
        todo.extend(kids.get(p, []))
    return total


def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"{url} did not come up")
            time.sleep(0.2)


def p99(lat: list[float]) -> float:
    s = sorted(lat)
    return s[min(len(s) - 1, int(len(s) * 0.99))] * 1000


def phase(name, pid, fn, ops: int, threads: int = 1):
    lat: list[float] = []
    errors: list[str] = []

    def one(i):
        t = time.perf_counter()
        try:
            fn(i)
        except Exception as e:  # a refused request (mlflow server: 503 under load) counts, not stops
            errors.append(type(e).__name__ + ": …" + str(e)[-160:])  # the cause is at the end
        return time.perf_counter() - t

    cpu0, t0 = tree_cpu(pid), time.perf_counter()
    if threads == 1:
        lat = [one(i) for i in range(ops)]
    else:
        with cf.ThreadPoolExecutor(threads) as ex:
            lat = list(ex.map(one, range(ops)))
    wall, cpu = time.perf_counter() - t0, tree_cpu(pid) - cpu0
    ok = max(ops - len(errors), 1)
    r = {"ops_s": ok / wall, "p99_ms": p99(lat), "cpu_ms_op": cpu / ok * 1000, "errors": len(errors)}
    print(f"  {name:28s} {ops:6d} ops  {r['ops_s']:9.1f} ops/s  p99 {r['p99_ms']:8.2f} ms  cpu {r['cpu_ms_op']:7.3f} ms/op  errors {len(errors)}"
          + (f" (first: {errors[0]})" if errors else ""), flush=True)
    return r


def workload(label: str, url: str, pid: int) -> dict:
    print(f"== {label} ({url})", flush=True)
    c = MlflowClient(tracking_uri=url, registry_uri=url)
    res = {}
    c.create_registered_model("bench-seq")
    c.create_registered_model("bench-par")
    c.create_registered_model("bench-big")
    src = "s3://bench-bucket/model"
    res["create_seq"] = phase("create version, 1 thread", pid, lambda i: c.create_model_version("bench-seq", src), n(500))
    res["create_16"] = phase("create version, 16 threads", pid, lambda i: c.create_model_version("bench-par", src), n(500), 16)
    top = n(500)
    res["get"] = phase("get version", pid, lambda i: c.get_model_version("bench-seq", random.randint(1, top)), n(2000))
    # A model of 1,000 versions, then 5,000: a page of 100 of it.
    refused: list[int] = []

    def fill(i):
        for attempt in range(100):
            try:
                c.create_model_version("bench-big", src)
                return
            except Exception:
                refused.append(1)
                time.sleep(0.05 * (attempt + 1))
        raise RuntimeError("a filling version was refused 100 times")
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(fill, range(n(1000))))
    res["search_1k"] = phase("search page of 100 @1k", pid, lambda i: c.search_model_versions("name = 'bench-big'", max_results=100), n(200))
    with cf.ThreadPoolExecutor(16) as ex:
        list(ex.map(fill, range(n(4000))))
    res["search_5k"] = phase("search page of 100 @5k", pid, lambda i: c.search_model_versions("name = 'bench-big'", max_results=100), n(200))
    print(f"  filling bench-big to {n(5000)} versions (16 threads): {len(refused)} refused and retried", flush=True)
    return res


def main() -> int:
    work = tempfile.mkdtemp(prefix="bench-mlflow-")
    print(f"== load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs); "
          f"mlflow server --workers {WORKERS}", flush=True)
    procs = []
    try:
        port = free_port()
        # Create the schema first: uvicorn's workers would each migrate a
        # fresh database at once, and the losers die on their first request.
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
        TrackingStore(f"sqlite:///{work}/mlflow.db", f"{work}/mlflow-artifacts")
        RegistryStore(f"sqlite:///{work}/mlflow.db")
        ml = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{work}/mlflow.db", "--serve-artifacts",
                               "--artifacts-destination", f"{work}/mlflow-artifacts", "--workers", str(WORKERS)],
                              stdout=open(f"{work}/mlflow.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(ml)
        token = "mr_bench_admin_token_0123456789abcdef"
        env = dict(os.environ, MODELREG_ADMIN_TOKEN=token, MODELREG_LOG_LEVEL="warn")
        mr = subprocess.Popen([os.environ["MODELREG_BIN"], "serve", "--addr", "127.0.0.1:0", "--data-dir", f"{work}/modelreg"],
                              stdout=subprocess.PIPE, stderr=open(f"{work}/modelreg.log", "w"), text=True, env=env)
        procs.append(mr)
        line = mr.stdout.readline()
        while "listening on" not in line:
            line = mr.stdout.readline()
            if not line:
                raise RuntimeError("modelreg serve did not start")
        mr_url = line.split("listening on ")[1].split()[0]
        ml_url = f"http://127.0.0.1:{port}"
        try:
            wait_http(ml_url + "/health", timeout=900)
        except RuntimeError:
            print(open(f"{work}/mlflow.log").read()[-3000:])
            raise
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        # Every worker answers before the clock starts.
        warm = MlflowClient(tracking_uri=ml_url, registry_uri=ml_url)
        ok, deadline = 0, time.time() + 300
        while ok < 4 * WORKERS:
            try:
                warm.search_registered_models(max_results=1)
                ok += 1
            except Exception:
                if time.time() > deadline:
                    print(open(f"{work}/mlflow.log").read()[-3000:])
                    raise
                time.sleep(0.5)
        a = workload("mlflow server (SQLite)", ml_url, ml.pid)
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
        b = workload("modelreg serve (SQLite)", mr_url, mr.pid)
        print("== modelreg / mlflow server")
        for k in a:
            print(f"  {k:12s} ops/s x{b[k]['ops_s'] / a[k]['ops_s']:6.1f}   p99 x{b[k]['p99_ms'] / a[k]['p99_ms']:6.3f}   cpu/op x{b[k]['cpu_ms_op'] / max(a[k]['cpu_ms_op'], 1e-9):6.3f}"
                  f"   refused: mlflow {a[k]['errors']}, modelreg {b[k]['errors']}")
        print(f"== load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, 15) if p is procs[0] else p.terminate()
                except ProcessLookupError:
                    pass
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
