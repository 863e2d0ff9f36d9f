"""Dispatch latency and throughput of the embedded job engine, through a real ``advisor serve``.

* latency: on an idle server, the time from sending ``POST /v1/jobs`` to the job being ``running``
  (the runner's claim: ``started_at`` in the row; client and server share this machine's clock),
  one job at a time. Target: median < 100 ms.
* throughput: ``--jobs`` tiny jobs (XGBoost, 5 rounds, on scikit-learn's breast cancer table) posted
  from 4 client threads as fast as the API takes them; jobs/s from the first POST to the last job's end,
  and a check that every job ran exactly once (attempt 1, one history entry, one set of metric rows) and
  none was lost.

Usage: ``python bench/dispatch.py [--jobs 500] [--latency-jobs 30]``
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from bench.results import report

TINY = {"objective": "binary:logistic", "n_estimators": 5, "max_depth": 3}
TERMINAL = {"succeeded", "failed", "cancelled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(data_dir: Path, **env: str) -> Iterator[httpx.Client]:
    """``advisor serve`` on a fresh data dir in a subprocess; yields a client once /readyz answers."""
    port = _free_port()
    environ = {**os.environ, "ADVISOR_DATA_DIR": str(data_dir), "ADVISOR_LOG_LEVEL": "warning", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("advisor serve did not become ready")
            time.sleep(0.2)
        yield client
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def upload(client: httpx.Client, frame: Any, target: str, name: str) -> str:
    """Upload a table as Parquet; returns the dataset id."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    response = client.post(
        "/v1/datasets",
        files={"file": (f"{name}.parquet", buffer.getvalue(), "application/octet-stream")},
        data={"target": target},
    )
    response.raise_for_status()
    return str(response.json()["id"])


def wait_terminal(client: httpx.Client, job_id: str, poll_s: float = 0.05, timeout: float = 3600) -> dict[str, Any]:
    """Poll the job until it ends."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']}")
        time.sleep(poll_s)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _started_epoch(job: dict[str, Any]) -> float:
    # created_at + queued_s is the claim time; the last attempt's start is the first for these jobs.
    return _epoch(job["created_at"]) + float(job["timings"]["queued_s"] or 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--latency-jobs", type=int, default=30)
    args = parser.parse_args()
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp)) as client:
        dataset = upload(client, frame, "target", "breast_cancer")
        body = {"dataset_id": dataset, "spec": {"trainer": "xgboost", "params": TINY}, "train_baseline": False}
        wait_terminal(client, client.post("/v1/jobs", json=body).json()["id"])  # warm-up (process start)

        # -- latency: one job at a time on an idle server ------------------------------------------
        to_running: list[float] = []
        post_ms: list[float] = []
        for _ in range(args.latency_jobs):
            sent = time.time()
            t0 = time.perf_counter()
            response = client.post("/v1/jobs", json=body)
            post_ms.append((time.perf_counter() - t0) * 1000)
            job = wait_terminal(client, response.json()["id"], poll_s=0.02)
            assert job["status"] == "succeeded", job["error"]
            to_running.append((_started_epoch(job) - sent) * 1000)

        # -- throughput: many jobs at once ---------------------------------------------------------
        first = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            ids = list(pool.map(lambda _: client.post("/v1/jobs", json=body).json()["id"], range(args.jobs)))
        posted = time.perf_counter()
        jobs = [wait_terminal(client, job_id, poll_s=0.2) for job_id in ids]
        finished = max(_epoch(j["created_at"]) + float(j["timings"]["total_s"] or 0) for j in jobs)
        elapsed = finished - _epoch(min(jobs, key=lambda j: j["created_at"])["created_at"])
        statuses = {s: sum(j["status"] == s for j in jobs) for s in {j["status"] for j in jobs}}
        twice = [j["id"] for j in jobs if j["attempt"] != 1 or len(j["history"]) != 1]
        listed = set()
        cursor = None
        while True:
            page = client.get(
                "/v1/jobs", params={"dataset_id": dataset, "limit": 100, **({"cursor": cursor} if cursor else {})}
            ).json()
            listed |= {j["id"] for j in page["items"]}
            cursor = page["next_cursor"]
            if cursor is None:
                break
        lost = set(ids) - listed
        sample = ids[len(ids) // 2]
        rows = client.get(f"/v1/jobs/{sample}/metrics", params={"key": "train.logloss"}).json()["items"]

    q = statistics.quantiles(to_running, n=20) if len(to_running) >= 2 else to_running
    print(
        f"latency POST -> running, {args.latency_jobs} jobs one at a time: "
        f"median {statistics.median(to_running):.1f} ms, p95 {q[-1]:.1f} ms (target: median < 100 ms); "
        f"POST round trip median {statistics.median(post_ms):.1f} ms"
    )
    print(
        f"throughput: {args.jobs} tiny jobs in {elapsed:.1f} s = {args.jobs / elapsed:.1f} jobs/s "
        f"(all posted in {posted - first:.1f} s); statuses {statuses}"
    )
    print(
        f"exactly once: lost {len(lost)}, run more than once {len(twice)}, "
        f"metric rows of one job {len(rows)} (expected {TINY['n_estimators']})"
    )
    latency = statistics.median(to_running)
    report("dispatch POST -> running, median", latency, "< 100 ms", latency < 100, "ms")
    report("tiny jobs per second (embedded engine)", args.jobs / elapsed, "-", None, "jobs/s")
    report("jobs lost or run twice", len(lost) + len(twice), "0", not lost and not twice)


if __name__ == "__main__":
    main()
