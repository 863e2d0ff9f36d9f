"""Scale-out through Celery: 1 vs 2 ``advisor worker`` processes behind a real ``advisor serve``.

For each worker count, on a fresh PostgreSQL database (SQLite if PostgreSQL is not reachable) and a
queue prefix of its own on the local Redis (or ``--broker amqp://…``):

* dispatch latency: one job at a time on idle workers, from sending ``POST /v1/jobs`` to the job being
  ``running`` (the runner's claim); client, API and workers share this machine's clock. Target: median < 150 ms.
* throughput: ``--jobs`` tiny jobs (XGBoost, 5 rounds, scikit-learn's breast cancer table) posted from 4
  client threads; jobs/s from the first POST to the last job's end. Target: 2 workers ≥ 1.7× 1 worker.
* exactly once: every job succeeded with attempt 1 and one history entry; none missing from the listing.
* where the cores go during the throughput run (``bench/cpu_share.py``, from ``/proc``): CPU seconds and ms per
  job of the API server, the workers (Celery and the runner), the training processes, this run's PostgreSQL
  backends, the broker, the bench client, and the rest of the machine (other users), and the idle share. A single
  worker is latency-bound (part of a core idles while its job waits on the database, the broker and the hand-off);
  two are CPU-bound, so the 2-vs-1 ratio also depends on how many cores the rest of the machine takes meanwhile.

Each worker process runs one job at a time with one thread (``--concurrency 1``, ``threads_per_job=1``).
Usage: ``python bench/scale.py [--jobs 500] [--latency-jobs 30] [--broker redis://127.0.0.1:6379/0]``
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from cpu_share import CpuShare, database_name, server_pids
from dispatch import TINY, _epoch, _started_epoch, serve, upload, wait_terminal

from bench.results import report

PG_SERVER = os.environ.get("ADVISOR_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ADVISOR = str(Path(sys.executable).with_name("advisor"))


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# The API and the workers this bench starts import this checkout's code, not whichever copy is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p
)


@contextmanager
def database(tmp: Path) -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards), or a SQLite file if PostgreSQL is down."""
    if not _reachable(5432):
        print("PostgreSQL not reachable on 127.0.0.1:5432: using SQLite")
        yield f"sqlite:///{tmp / 'advisor.db'}"
        return
    from sqlalchemy import create_engine, text

    name = f"advisor_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def workers(count: int, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [
        subprocess.Popen(
            [ADVISOR, "worker", "--queues", "cpu", "--concurrency", "1"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=None,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)


def measure(count: int, args: argparse.Namespace, frame: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, database(Path(tmp)) as url:
        env = {
            "ADVISOR_QUEUE": "celery",
            "ADVISOR_BROKER_URL": args.broker,
            "ADVISOR_DATABASE_URL": url,
            "ADVISOR_BROKER_QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:8]}-",
            "ADVISOR_THREADS_PER_JOB": "1",
            "ADVISOR_WORKERS": "0",
            "ADVISOR_DATA_DIR": tmp,
            "ADVISOR_LOG_LEVEL": "warning",
            # Every job of the bench belongs to one tenant: its quotas (20 running by default) would hold the
            # throughput run back at the 21st job. Raised for the API and the workers alike.
            "ADVISOR_TENANT_MAX_CONCURRENT_JOBS": str(max(100, 4 * args.jobs)),
            "ADVISOR_TENANT_MAX_QUEUED_JOBS": str(max(1_000, 4 * args.jobs)),
        }
        # The API does not pre-import the trainers (ADVISOR_WORKER_PREWARM=false): the warm-up jobs below do,
        # and the background pre-import can deadlock with a request's get_trainer (reported; see the notes).
        with serve(Path(tmp), **env, ADVISOR_WORKER_PREWARM="false") as client, workers(count, env) as procs:
            dataset = upload(client, frame, "target", "breast_cancer")
            body = {"dataset_id": dataset, "spec": {"trainer": "xgboost", "params": TINY}, "train_baseline": False}
            # warm-up: every worker's training process imports its libraries
            warm = [client.post("/v1/jobs", json=body).json()["id"] for _ in range(2 * count)]
            for job_id in warm:
                wait_terminal(client, job_id)

            to_running: list[float] = []
            for _ in range(args.latency_jobs):
                sent = time.time()
                job = wait_terminal(client, client.post("/v1/jobs", json=body).json()["id"], poll_s=0.02)
                assert job["status"] == "succeeded", job["error"]
                to_running.append((_started_epoch(job) - sent) * 1000)

            roots = {"api server": server_pids(), f"{count} worker(s)": [p.pid for p in procs]}
            with CpuShare(lambda: roots, database_name(url)) as cpu:
                first = time.perf_counter()
                with ThreadPoolExecutor(4) as pool:
                    ids = list(pool.map(lambda _: client.post("/v1/jobs", json=body).json()["id"], range(args.jobs)))
                posted = time.perf_counter() - first
                jobs = [wait_terminal(client, job_id, poll_s=0.2) for job_id in ids]
            cpu.report(args.jobs, f"{count} worker(s), {args.jobs} jobs")
            finished = max(_epoch(j["created_at"]) + float(j["timings"]["total_s"] or 0) for j in jobs)
            elapsed = finished - min(_epoch(j["created_at"]) for j in jobs)
            listed: set[str] = set()
            cursor = None
            while True:
                page = client.get(
                    "/v1/jobs", params={"dataset_id": dataset, "limit": 100, **({"cursor": cursor} if cursor else {})}
                ).json()
                listed |= {j["id"] for j in page["items"]}
                cursor = page["next_cursor"]
                if cursor is None:
                    break
    if args.broker.startswith("redis"):  # leave no bindings of this run's queue names behind
        import redis

        client = redis.Redis.from_url(args.broker)
        for key in client.scan_iter(f"*{env['ADVISOR_BROKER_QUEUE_PREFIX']}*"):
            client.delete(key)
    return {
        "workers": count,
        "latency_ms": to_running,
        "elapsed_s": elapsed,
        "posted_s": posted,
        "throughput": args.jobs / elapsed,
        "failed": sum(j["status"] != "succeeded" for j in jobs),
        "twice": sum(j["attempt"] != 1 or len(j["history"]) != 1 for j in jobs),
        "lost": len(set(ids) - listed),
        "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--latency-jobs", type=int, default=30)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure (the speed-up needs 1 and 2)")
    parser.add_argument("--broker", default=os.environ.get("ADVISOR_BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    results = [measure(int(count), args, frame) for count in args.workers.split(",")]
    for r in results:
        lat = r["latency_ms"]
        q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else lat
        print(
            f"{r['workers']} worker(s) [{r['backend']}, {args.broker.split(':', 1)[0]}]: "
            f"dispatch POST -> running median {statistics.median(lat):.1f} ms, p95 {q[-1]:.1f} ms "
            f"(target < 150 ms); {args.jobs} jobs in {r['elapsed_s']:.1f} s = {r['throughput']:.2f} jobs/s "
            f"(posted in {r['posted_s']:.1f} s); lost {r['lost']}, run twice {r['twice']}, failed {r['failed']}"
        )
        latency = statistics.median(lat)
        report(f"{r['workers']} worker(s): dispatch POST -> running, median", latency, "< 150 ms", latency < 150, "ms")
        report(f"{r['workers']} worker(s): tiny jobs per second", r["throughput"], "-", None, "jobs/s")
        report(
            f"{r['workers']} worker(s): jobs lost, run twice or failed",
            r["lost"] + r["twice"] + r["failed"],
            "0",
            r["lost"] + r["twice"] + r["failed"] == 0,
        )
    by_count = {r["workers"]: r for r in results}
    if 1 in by_count and 2 in by_count:
        speedup = by_count[2]["throughput"] / by_count[1]["throughput"]
        print(f"speed-up 2 vs 1 worker: {speedup:.2f}x (target >= 1.7x) on {os.cpu_count()} cores")
        report("throughput 2 workers / 1 worker", speedup, ">= 1.7x", speedup >= 1.7, "x")


if __name__ == "__main__":
    main()
