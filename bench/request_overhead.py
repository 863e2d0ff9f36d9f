"""Benchmark: what access control and observability cost per request, in-process (no network).

    .venv/bin/python bench/request_overhead.py [--requests 2000] [--rounds 5]

Calls the ASGI app directly (a minimal scope, no HTTP client or server in the loop) and prints the median
time per request of each case, and its ratio to the baseline run in the same process, interleaved over
rounds (machine load drifts):

- baseline: GET /healthz of a bare FastAPI app with that one route (no middleware of ours, no auth);
- middleware: GET /healthz through the whole app (request id, metrics, body limit, error handling);
- route: GET /v1/rules with authentication overridden (the route's own cost, the reference for the next two);
- keyless: GET /v1/rules with no key while none exists (one read: is there an active key?);
- key: GET /v1/rules with a key (one read: the key and its tenant; then the rate limiter).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI

from bench.results import report
from service.auth import authenticate
from service.db import migrate
from service.db.session import Database
from service.main import create_app
from service.services import tenants
from service.services.tenants import ANONYMOUS, Principal
from service.settings import Settings


async def _anonymous() -> Principal:
    return ANONYMOUS


async def _healthz() -> dict[str, str]:
    return {"status": "ok"}


def _scope(path: str, headers: list[tuple[bytes, bytes]], app: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def _call(app: Any, scope: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


async def _per_request(app: Any, scope: dict[str, Any], n: int) -> float:
    assert await _call(app, scope) == 200, scope["path"]
    start = time.perf_counter()
    for _ in range(n):
        await _call(app, scope)
    return (time.perf_counter() - start) / n


async def main_async(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keyless_dir, key_dir = Path(tmp, "keyless"), Path(tmp, "key")
        settings = {
            name: Settings(data_dir=d, workers=0, worker_prewarm=False, rate_limit_per_minute=10**6)
            for name, d in (("keyless", keyless_dir), ("key", key_dir))
        }
        for s in settings.values():
            s.data_dir.mkdir(parents=True)
            migrate.upgrade(s.database_url)
        db = Database.from_url(settings["key"].database_url)
        key = db.call(tenants.create_key, tenant="bench").key
        db.dispose()
        apps = {name: create_app(s) for name, s in settings.items()}
        apps["route"] = create_app(settings["keyless"])
        apps["route"].dependency_overrides[authenticate] = _anonymous
        async with (
            apps["keyless"].router.lifespan_context(apps["keyless"]),
            apps["key"].router.lifespan_context(apps["key"]),
            apps["route"].router.lifespan_context(apps["route"]),
        ):
            app = apps["keyless"]
            bare = FastAPI()
            bare.get("/healthz")(_healthz)
            cases = {
                "baseline": (bare, _scope("/healthz", [], bare)),
                "middleware": (app, _scope("/healthz", [], app)),
                "route": (apps["route"], _scope("/v1/rules", [], apps["route"])),
                "keyless": (app, _scope("/v1/rules", [], app)),
                "key": (apps["key"], _scope("/v1/rules", [(b"authorization", f"Bearer {key}".encode())], apps["key"])),
            }
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(rounds):
                for name, (target, scope) in cases.items():
                    times[name].append(await _per_request(target, scope, n))
    base = statistics.median(times["baseline"])
    print(f"in-process ASGI calls, {n} requests × {rounds} interleaved rounds; median µs per request")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:11} {median * 1e6:8.1f} µs   {median / base:5.2f}x baseline")
        if name != "baseline":
            report(f"GET through {name} / bare FastAPI route", median / base, "-", None, "x")
    route = statistics.median(times["route"])
    for name in ("keyless", "key"):
        extra = statistics.median(times[name]) - route
        print(
            f"  authentication ({name}): +{extra * 1e6:.0f} µs, {statistics.median(times[name]) / route:.2f}x "
            "the route without it"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main_async(args.requests, args.rounds))


if __name__ == "__main__":
    main()
