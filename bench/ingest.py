"""Ingest benchmark: profile a generated 1,000,000 x 30 numeric CSV (~250 MB), against pyarrow.

Reported as ratios measured in the same run, never as absolute seconds:

* time of ``trainers.ingest.ingest`` (sniff, hash, read, type, profile, write Parquet) divided by the time of
  a bare ``pyarrow.csv.read_csv`` of the same file (target: at most 2.5x);
* peak resident memory of the process doing the ingest divided by the file size (target: at most 3x).

``--http`` also measures the real path: the file uploaded to ``POST /v1/datasets`` of a server started
with ``advisor serve`` on a fresh data folder (streamed multipart body, so the client holds no copy), timed
from the first byte sent to the 201, against the same pyarrow baseline. The upload starts once the fresh server
is idle: its start-up work (the ML libraries it imports in the background, a second after it first answers) is
done once per process, not per upload, and a server that has been up for a while has done it. What the upload
costs in memory is the server's peak RSS (VmHWM) over its idle RSS just before it, compared with the file size:
the idle server (about 270 MB with the ML libraries loaded) holds that much whatever it is sent, so its total
peak over the file size says more about the file's size than about ingestion (it is printed beside it).

Each measurement runs in a fresh child process (so peak RSS is that run's own, and imports are paid before
the clock starts); baseline and ingest runs alternate and the fastest of each is kept, which makes the ratio
robust to other load on a shared machine.

    python bench/ingest.py                # full size
    python bench/ingest.py --rows 100000  # quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout first, not an installed copy
from bench.results import report

TIME_RATIO_TARGET = 2.5
RSS_RATIO_TARGET = 3.0
REPO = Path(__file__).resolve().parent.parent


def generate_csv(path: Path, *, rows: int = 1_000_000, features: int = 29, seed: int = 0) -> int:
    """Write ``features`` float columns (3 decimals, ~8 characters each) and a 0/1 ``target``; return the size."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    columns = {f"f{i}": np.round(rng.normal(scale=300.0, size=rows), 3) for i in range(features)}
    columns["target"] = rng.integers(0, 2, size=rows)
    pa_csv.write_csv(pa.table(columns), path)
    return path.stat().st_size


def _child(mode: str, csv_path: Path, work_dir: Path) -> None:
    """Run one measurement in this (child) process and print it as JSON."""
    import pyarrow.csv as pa_csv

    if mode == "ingest":
        sys.path.insert(0, str(REPO))
        from trainers.ingest import csv_tabular, ingest  # noqa: F401  (imported before the clock starts)

    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if mode == "baseline":
        table = pa_csv.read_csv(csv_path)
        rows = table.num_rows
    else:
        result = ingest(csv_path, filename="bench.csv", target="target", task=None, modality=None, work_dir=work_dir)
        rows = result.profile.n_rows
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"mode": mode, "seconds": seconds, "cpu_s": cpu, "peak_rss_bytes": peak, "rows": rows}))


def _run_child(mode: str, csv_path: Path, work_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(csv_path), str(work_dir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure_direct(csv_path: Path, *, repeats: int = 3, scratch: Path) -> dict[str, float]:
    """Time ``ingest()`` in-process against ``pyarrow.csv.read_csv`` on the same file; best of ``repeats``."""
    size = csv_path.stat().st_size
    baseline: list[dict[str, float]] = []
    direct: list[dict[str, float]] = []
    for i in range(repeats):
        baseline.append(_run_child("baseline", csv_path, scratch))
        work_dir = scratch / f"work-{i}"
        direct.append(_run_child("ingest", csv_path, work_dir))
        parquet = work_dir / "data.parquet"
        stored = parquet.stat().st_size
        for f in work_dir.iterdir():
            f.unlink()
        work_dir.rmdir()
    base_s = min(r["seconds"] for r in baseline)
    ingest_s = min(r["seconds"] for r in direct)
    peak = max(r["peak_rss_bytes"] for r in direct)
    return {
        "file_bytes": size,
        "rows": direct[0]["rows"],
        "pyarrow_read_csv_s": base_s,
        "ingest_s": ingest_s,
        "time_ratio": ingest_s / base_s,
        "pyarrow_cpu_s": min(r["cpu_s"] for r in baseline),
        "ingest_cpu_s": min(r["cpu_s"] for r in direct),
        "ingest_peak_rss_bytes": peak,
        "baseline_peak_rss_bytes": max(r["peak_rss_bytes"] for r in baseline),
        "rss_ratio": peak / size,
        "parquet_bytes": stored,
        "all_ingest_s": [round(r["seconds"], 3) for r in direct],
        "all_pyarrow_s": [round(r["seconds"], 3) for r in baseline],
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss(pid: int) -> int:
    return _status_bytes(pid, "VmHWM")


def _rss(pid: int) -> int:
    return _status_bytes(pid, "VmRSS")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pid: int, *, window_s: float = 0.5, busy_share: float = 0.05, cap_s: float = 60.0) -> float:
    """Wait until a fresh server has finished its start-up work (importing the ML libraries and building what it
    builds once, a second or more after it answers /healthz): a long-running server did that once, not per
    upload, and it would otherwise land in the timed upload. Idle: under ``busy_share`` of a core over two
    ``window_s`` windows in a row. Returns the seconds waited."""
    start = time.monotonic()
    quiet = 0
    last = _cpu_seconds(pid)
    while quiet < 2 and time.monotonic() - start < cap_s:
        time.sleep(window_s)
        now = _cpu_seconds(pid)
        quiet = quiet + 1 if now - last < busy_share * window_s else 0
        last = now
    return time.monotonic() - start


def _upload_once(port: int, csv_path: Path) -> float:
    import httpx

    boundary = "benchboundary7a1f"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="target"\r\n\r\ntarget\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body():  # streamed: the client never holds the file
        yield head
        with open(csv_path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
        yield tail

    length = len(head) + csv_path.stat().st_size + len(tail)
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "content-length": str(length)}
    start = time.perf_counter()
    r = httpx.post(f"http://127.0.0.1:{port}/v1/datasets", content=body(), headers=headers, timeout=600)
    seconds = time.perf_counter() - start
    if r.status_code != 201:
        raise RuntimeError(f"upload answered {r.status_code}: {r.text[:300]}")
    return seconds


def measure_http(csv_path: Path, *, repeats: int, scratch: Path) -> dict[str, float]:
    """Upload + profile through the HTTP API vs ``pyarrow.csv.read_csv``; a fresh server per upload."""
    import httpx

    size = csv_path.stat().st_size
    http_s: list[float] = []
    peaks: list[int] = []
    idle: list[int] = []
    baseline: list[float] = []
    for i in range(repeats):
        baseline.append(_run_child("baseline", csv_path, scratch)["seconds"])
        port = _free_port()
        data_dir = scratch / f"server-{i}"
        env = {**os.environ, "ADVISOR_DATA_DIR": str(data_dir), "ADVISOR_WORKERS": "0", "ADVISOR_LOG_LEVEL": "warning"}
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "advisor"), "serve", "--port", str(port)], env=env, cwd=REPO
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            _wait_idle(server.pid)
            idle.append(_rss(server.pid))
            http_s.append(_upload_once(port, csv_path))
            peaks.append(_peak_rss(server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "http_s": min(http_s),
        "pyarrow_s": min(baseline),
        "time_ratio": min(http_s) / min(baseline),
        "server_peak_rss_bytes": max(peaks),
        "server_idle_rss_bytes": min(idle),
        "rss_ratio": max(p - i for p, i in zip(peaks, idle, strict=True)) / size,
        "total_rss_ratio": max(peaks) / size,
        "all_http_s": [round(x, 2) for x in http_s],
        "all_pyarrow_s": [round(x, 2) for x in baseline],
    }


def main(argv: list[str] | None = None) -> int:
    """Generate the CSV, measure, print the figures; exit 1 with ``--check`` when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--http", action="store_true", help="also upload through the HTTP API of a real server")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CSV", "WORK_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        scratch = Path(tmp)
        csv_path = scratch / "bench.csv"
        t0 = time.perf_counter()
        size = generate_csv(csv_path, rows=args.rows)
        print(f"generated {args.rows:,} x 30 CSV, {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s")
        figures = measure_direct(csv_path, repeats=args.repeats, scratch=scratch)
        http = measure_http(csv_path, repeats=args.repeats, scratch=scratch) if args.http else None

    time_ok = figures["time_ratio"] <= TIME_RATIO_TARGET
    rss_ok = figures["rss_ratio"] <= RSS_RATIO_TARGET
    print(f"cpus: {os.cpu_count()}")
    print(
        f"pyarrow.csv.read_csv: {figures['pyarrow_read_csv_s']:.2f} s   ingest(): {figures['ingest_s']:.2f} s   "
        f"ratio {figures['time_ratio']:.2f}x (target <= {TIME_RATIO_TARGET}x) {'PASS' if time_ok else 'FAIL'}"
    )
    print(
        f"peak RSS of ingest: {figures['ingest_peak_rss_bytes'] / 1e6:.0f} MB = {figures['rss_ratio']:.2f}x the "
        f"file (target <= {RSS_RATIO_TARGET}x) {'PASS' if rss_ok else 'FAIL'}; bare read_csv peaked at "
        f"{figures['baseline_peak_rss_bytes'] / 1e6:.0f} MB"
    )
    print(
        f"CPU time (user+sys): pyarrow {figures['pyarrow_cpu_s']:.2f} s, ingest {figures['ingest_cpu_s']:.2f} s "
        f"({figures['ingest_cpu_s'] / figures['pyarrow_cpu_s']:.2f}x)"
    )
    print(f"stored Parquet: {figures['parquet_bytes'] / 1e6:.0f} MB")
    print(f"all runs (s): ingest {figures['all_ingest_s']}, pyarrow {figures['all_pyarrow_s']}")
    report("ingest() time / pyarrow read_csv", figures["time_ratio"], f"<= {TIME_RATIO_TARGET}x", time_ok, "x")
    report("ingest() peak RSS / file size", figures["rss_ratio"], f"<= {RSS_RATIO_TARGET}x", rss_ok, "x")
    if http is not None:
        h_time_ok = http["time_ratio"] <= TIME_RATIO_TARGET
        h_rss_ok = http["rss_ratio"] <= RSS_RATIO_TARGET
        time_ok, rss_ok = time_ok and h_time_ok, rss_ok and h_rss_ok
        print(
            f"HTTP upload+profile: {http['http_s']:.2f} s vs pyarrow {http['pyarrow_s']:.2f} s = "
            f"{http['time_ratio']:.2f}x (target <= {TIME_RATIO_TARGET}x) {'PASS' if h_time_ok else 'FAIL'}; "
            f"server RSS added by the upload {http['rss_ratio']:.2f}x the file (target <= {RSS_RATIO_TARGET}x) "
            f"{'PASS' if h_rss_ok else 'FAIL'}: idle {http['server_idle_rss_bytes'] / 1e6:.0f} MB, peak "
            f"{http['server_peak_rss_bytes'] / 1e6:.0f} MB = {http['total_rss_ratio']:.2f}x the file in all"
        )
        print(f"all HTTP runs (s): {http['all_http_s']}, pyarrow {http['all_pyarrow_s']}")
        report("HTTP upload time / pyarrow read_csv", http["time_ratio"], f"<= {TIME_RATIO_TARGET}x", h_time_ok, "x")
        report("server peak RSS over idle / file size", http["rss_ratio"], f"<= {RSS_RATIO_TARGET}x", h_rss_ok, "x")
    return 0 if (time_ok and rss_ok) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
