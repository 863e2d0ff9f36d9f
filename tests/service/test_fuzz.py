"""Schemathesis against the app's own OpenAPI schema, in process, the way the CLI runs it.

Every phase (examples, coverage, fuzzing, and stateful sequences that follow the links inferred from
``Location`` headers and the schema) and every check that fits this API; the run must send at least 1,000
requests and get no 5xx and no check failure. Deterministic: a fixed seed, derandomized, no example database.

Checks: all of Schemathesis' except ``positive_data_acceptance``, which expects every schema-valid request to
be accepted and cannot hold here: uploads are random bytes (not a CSV, Parquet, zip or .npz), cursors are
opaque, and some rules span fields (exactly one of ``profile`` / ``dataset_id``, curves of equal length).
``negative_data_rejection`` also accepts 413: an invalid body over the size limit is refused for its size.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from _testdb import database_url
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine import from_schema as engine_for
from schemathesis.python import asgi
from starlette.types import Receive, Scope, Send

from service.db.session import Database
from service.services import tenants
from service.settings import Settings

MIN_REQUESTS = 1_000
MAX_EXAMPLES = 12  # per operation and phase: about 1,400 requests per auth mode
SEED = 20_240_601

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
    "use_after_free",
    "ensure_resource_availability",
)
NEGATIVE_REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
PHASES = ("examples", "coverage", "fuzzing", "stateful")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No training processes (jobs stay queued) and no rate limit in the way of a fast client.
    return Settings(
        data_dir=tmp_path,
        database_url=database_url(tmp_path),
        workers=0,
        worker_prewarm=False,
        rate_limit_per_minute=1_000_000,
        rate_limit_burst=1_000_000,
    )


@pytest.fixture(params=["keyed", "keyless"])
def api_key(request: pytest.FixtureRequest, migrated: Settings) -> str | None:
    """Keyed: a key of its own tenant, so the fuzzer also checks that requests without it are refused. Keyless:
    no key exists, the single-machine default, where the document must say that the key is optional."""
    if request.param == "keyless":
        return None
    db = Database.from_url(migrated.database_url)
    try:
        return db.call(tenants.create_key, tenant="fuzz", name="schemathesis").key
    finally:
        db.dispose()


class _Tally:
    """The app, counting every response it starts by method, path and status."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.responses: Counter[tuple[str, str, int]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.responses[(scope["method"], scope["path"], message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counted)

    @property
    def total(self) -> int:
        return sum(self.responses.values())

    def statuses(self) -> Counter[int]:
        counts: Counter[int] = Counter()
        for (_, _, status), n in self.responses.items():
            counts[status] += n
        return counts

    def count(self, method: str, path: str, status: int) -> int:
        pattern = re.compile(path)
        return sum(n for (m, p, s), n in self.responses.items() if m == method and s == status and pattern.fullmatch(p))


@pytest.fixture
def tally(app: FastAPI) -> Iterator[_Tally]:
    """The wrapped app; its lifespan (started by Schemathesis on the first request) is stopped afterwards."""
    wrapped = _Tally(app)
    try:
        yield wrapped
    finally:
        asgi.shutdown_lifespans()


def _seed(app: _Tally, api_key: str | None) -> dict[str, str]:
    """Resources that exist before the run (an uploaded dataset, a recommendation, a queued job, a race): a
    generated body cannot be a valid CSV, so without them no job or race route would get past its 404."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    csv = "a,b,y\n" + "".join(f"{i % 7},{i * 3 % 11},{i % 2}\n" for i in range(60))
    with asgi.get_client(app) as client:
        dataset = client.post(
            "/v1/datasets", files={"file": ("seed.csv", csv.encode())}, data={"target": "y"}, headers=headers
        )
        assert dataset.status_code == 201, dataset.text
        ids = {"datasets": dataset.json()["id"]}
        recommendation = client.post("/v1/recommendations", json={"dataset_id": ids["datasets"]}, headers=headers)
        assert recommendation.status_code == 201, recommendation.text
        ids["recommendations"] = recommendation.json()["id"]
        body = {"dataset_id": ids["datasets"], "recommendation_id": ids["recommendations"]}
        job = client.post("/v1/jobs", json=body, headers=headers)
        assert job.status_code == 202, job.text
        ids["jobs"] = job.json()["id"]
        race = client.post(f"/v1/datasets/{ids['datasets']}/race", json={"top_k": 1}, headers=headers)
        assert race.status_code == 202, race.text
        ids["races"] = race.json()["id"]
    return ids


def _config(api_key: str | None, ids: dict[str, str]) -> SchemathesisConfig:
    # Half of the ids and body references drawn from the seeded resources, half generated.
    def known(kind: str) -> dict[str, Any]:
        return {"dictionary": kind, "probability": 0.5}

    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "request-timeout": 10,
            "generation": {"deterministic": True, "database": "none", "max-examples": MAX_EXAMPLES},
            "phases": {name: {"enabled": True} for name in PHASES}
            | {"examples": {"enabled": True, "fill-missing": True}},
            "checks": {
                **{name: {"enabled": True} for name in CHECKS},
                "negative_data_rejection": {"enabled": True, "expected-statuses": NEGATIVE_REJECTED},
                "positive_data_acceptance": {"enabled": False},
            },
            **({"auth": {"openapi": {"apiKey": {"bearer": api_key}}}} if api_key else {}),
            "dictionaries": {kind: {"values": [id_]} for kind, id_ in ids.items()},
            "operations": [
                {"include-path-regex": "^/v1/datasets/", "parameters": {"path.id": known("datasets")}},
                {"include-path-regex": "^/v1/recommendations/", "parameters": {"path.id": known("recommendations")}},
                {"include-path-regex": "^/v1/jobs/", "parameters": {"path.id": known("jobs")}},
                {"include-path-regex": "^/v1/races/", "parameters": {"path.id": known("races")}},
                {
                    "include-path-regex": "^/v1/(jobs|recommendations)$",
                    "parameters": {
                        "body.dataset_id": known("datasets"),
                        "body.recommendation_id": known("recommendations"),
                    },
                },
                # A queued job's event stream stays open after its first event (progress): read that one. The
                # `retry:` line before it carries no data, so Schemathesis does not count it as an event; waiting
                # for a second would hold each such stream until the request timeout.
                {"include-path": "/v1/jobs/{id}/events", "max-stream-events": 1},
            ],
        }
    )


def _failures(event: events.ScenarioFinished) -> Iterator[str]:
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE:
                continue
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            status = interaction.response.status_code if interaction and interaction.response else None
            title = check.failure_info.failure.title if check.failure_info else ""
            yield (
                f"[{event.phase.value}] {recorder.label}: {check.name} ({title}) "
                f"{case.method} {case.formatted_path} -> {status}"
            )


def test_fuzz_finds_no_server_error_and_no_schema_violation(tally: _Tally, api_key: str | None) -> None:
    started = time.monotonic()
    ids = _seed(tally, api_key)
    schema = schemathesis.openapi.from_asgi("/openapi.json", tally, config=_config(api_key, ids))
    failures: list[str] = []
    errors: list[str] = []
    phases: dict[str, Status] = {}
    for event in engine_for(schema).execute():
        if isinstance(event, events.ScenarioFinished) and event.status == Status.FAILURE:
            failures.extend(_failures(event))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.PhaseFinished):
            phases[event.phase.name.value] = event.status
    elapsed = time.monotonic() - started
    statuses = tally.statuses()
    print(
        f"\nschemathesis: {tally.total} requests in {elapsed:.1f} s, statuses {dict(sorted(statuses.items()))}, "
        f"phases {phases}"
    )

    assert not errors, errors
    assert sorted(set(failures)) == []
    assert {name: phases.get(name) for name in PHASES} == dict.fromkeys(PHASES, Status.SUCCESS)
    assert not [status for status in statuses if status >= 500], statuses
    assert tally.total >= MIN_REQUESTS
    # Resources were created, read and deleted: the id routes were tested past their 404.
    uuid = "[0-9a-f-]{36}"
    for method, path, status in [
        ("POST", "/v1/recommendations", 201),
        ("GET", f"/v1/recommendations/{uuid}", 200),
        ("POST", "/v1/datasets", 201),
        ("GET", f"/v1/datasets/{uuid}", 200),
        ("DELETE", f"/v1/datasets/{uuid}", 204),
        ("GET", f"/v1/jobs/{uuid}", 200),
        ("POST", f"/v1/jobs/{uuid}/cancel", 200),
        ("GET", f"/v1/races/{uuid}", 200),
    ]:
        assert tally.count(method, path, status) > 0, (method, path, status)
