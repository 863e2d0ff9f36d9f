"""The client's parts that need no server: the event-stream parser, the progress bar, the problem → exception
mapping of whatever a server (or a proxy in front of it) answers, the CLI's tables, and its import boundary."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import httpx
import pytest
from conftest import REPO

from advisor_client import errors
from advisor_client.cli import table
from advisor_client.progress import ProgressBar, format_seconds
from advisor_client.sse import events


def test_sse_events_follow_the_event_stream_format() -> None:
    stream = [
        "retry: 2000",
        "",
        ": keep-alive",
        "",
        "event: progress",
        'data: {"status": "running",',
        'data:  "progress": {"current": 3}}',
        "",
        "data: unnamed",
        "id: 7",
        "",
        "event: end\r\n",
        'data: {"id": "j"}\r\n',
        "\r\n",
    ]
    got = list(events(stream))
    assert [e.event for e in got] == ["progress", "message", "end"]
    assert got[0].json() == {"status": "running", "progress": {"current": 3}}
    assert got[1].data == "unnamed" and got[1].id == "7"
    assert got[2].json() == {"id": "j"}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_percent_phase_and_eta() -> None:
    tty = _Tty()
    bar = ProgressBar("job abc", stream=tty, width=10)
    bar.update(0.5, "running training 5/10", eta_s=65)
    bar.update(1.0, "running saving")
    bar.close("succeeded")
    text = tty.getvalue()
    assert "\rjob abc [#####.....]  50%  running training 5/10  elapsed 0:00  eta 1:05" in text
    assert "[##########] 100%  succeeded" in text and text.endswith("\n")
    assert bar.render(None, "queued").startswith("job abc [??????????]   ?%  queued")

    log = io.StringIO()  # not a terminal: a line when the phase changes, not one per update
    plain = ProgressBar("job abc", stream=log, width=10)
    for i in range(50):
        plain.update(i / 100, f"running {i}/100")
    plain.close("succeeded")
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("job abc [") and "succeeded" in lines[-1]
    assert "\r" not in log.getvalue()

    silent = io.StringIO()
    ProgressBar("x", stream=silent, enabled=False).update(0.5, "running")
    assert silent.getvalue() == ""


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (None, -1, 5, 65, 3725)] == ["--:--", "--:--", "0:05", "1:05", "1:02:05"]


def _response(
    status: int, body: object, media_type: str = "application/problem+json", **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = httpx.Request("GET", "http://advisor.test/v1/jobs/x")
    return httpx.Response(status, content=content, headers={"content-type": media_type, **headers}, request=request)


@pytest.mark.parametrize(
    ("status", "cls", "family"),
    [
        (400, errors.BadRequest, errors.ClientError),
        (401, errors.Unauthorized, errors.ClientError),
        (404, errors.NotFound, errors.ClientError),
        (409, errors.Conflict, errors.ClientError),
        (413, errors.PayloadTooLarge, errors.ClientError),
        (415, errors.UnsupportedMediaType, errors.ClientError),
        (422, errors.ValidationError, errors.ClientError),
        (429, errors.RateLimited, errors.ClientError),
        (418, errors.ClientError, errors.ProblemError),
        (500, errors.ServerError, errors.ProblemError),
        (503, errors.ServiceUnavailable, errors.ServerError),
    ],
)
def test_each_status_has_its_exception(status: int, cls: type[errors.ProblemError], family: type) -> None:
    problem = errors.from_response(_response(status, {"type": "urn:x", "title": "T", "status": status, "detail": "d"}))
    assert type(problem) is cls and isinstance(problem, family) and isinstance(problem, errors.AdvisorError)
    assert (problem.status, problem.type, problem.title, problem.detail) == (status, "urn:x", "T", "d")


def test_a_problem_keeps_its_extension_members() -> None:
    body = {
        "type": "urn:model-advisor:problem:rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": "retry in 7 s.",
        "instance": "/v1/jobs",
        "retry_after_s": 7,
    }
    problem = errors.from_response(_response(429, body, **{"Retry-After": "7"}))
    assert isinstance(problem, errors.RateLimited)
    assert problem.retry_after == 7 and problem.retry_after_s == 7 and problem.instance == "/v1/jobs"
    assert problem.to_dict() == body
    with pytest.raises(AttributeError):
        _ = problem.no_such_member
    field = {"loc": ["body", "top_k"], "msg": "too big", "type": "x"}
    invalid = errors.from_response(
        _response(422, {"title": "Invalid input", "status": 422, "detail": "bad", "errors": [field]})
    )
    assert invalid.errors[0]["loc"] == ["body", "top_k"] and "body.top_k: too big" in str(invalid)


def test_a_non_problem_error_still_becomes_a_typed_exception() -> None:
    proxy = errors.from_response(_response(502, b"<html>Bad Gateway</html>", media_type="text/html"))
    assert isinstance(proxy, errors.ServerError) and proxy.status == 502 and proxy.title == "Bad Gateway"
    assert "Bad Gateway" in proxy.detail and proxy.type == "about:blank"
    errors.raise_for_problem(_response(200, {"ok": True}, media_type="application/json"))  # no error: returns
    with pytest.raises(errors.NotFound):
        errors.raise_for_problem(_response(404, {"title": "Resource not found", "status": 404, "detail": "no"}))


def test_tables_pad_columns_and_right_align_numbers() -> None:
    text = table([["a", 1.23456, None], ["bbb", 10, True]], ["name", "score", "ok"])
    assert text.splitlines() == [
        "name  score  ok",
        "----  -----  ---",
        "a     1.235  -",
        "bbb      10  yes",
    ]


def test_the_client_loads_nothing_of_the_server() -> None:
    code = (
        "import json, sys; import advisor_client.cli; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "client")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    forbidden = {"service", "trainers", "advisor", "torch", "xgboost", "numpy", "pandas", "fastapi", "sqlalchemy"}
    assert set(json.loads(out.stdout)) & forbidden == set()
