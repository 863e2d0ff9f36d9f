"""The user commands against a live server, as a person or a script runs them: ``advisor recommend | train |
race | predict | jobs | show`` (the service's console script) and the same commands of the client alone.

Most commands run in this process (``service.cli.main``, what the console script calls: each new Python
process would import the service again); the console script itself runs as a process where that matters.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Live, advisor_command

from advisor_client import Advisor
from service.cli import main


def _env(live: Live) -> dict[str, str]:
    return {**live.env, "ADVISOR_URL": live.url, "ADVISOR_API_KEY": live.key}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def advisor(live: Live, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """``advisor ARGS...`` in this process, against the live server (ADVISOR_URL / ADVISOR_API_KEY)."""
    monkeypatch.setenv("ADVISOR_URL", live.url)
    monkeypatch.setenv("ADVISOR_API_KEY", live.key)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def _ok(result: Ran) -> Ran:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


def test_recommend_prints_a_table_or_json(live: Live, advisor: Callable[..., Ran]) -> None:
    shown = _ok(advisor("recommend", str(live.csv), "--target", "diagnosis"))
    assert shown.stdout.startswith("recommendation ") and "rank  model" in shown.stdout
    assert "rule" in shown.stdout and "sklearn_logistic" in shown.stdout  # the baseline's row
    assert "upload [" in shown.stderr and "100%" in shown.stderr  # the upload's progress bar
    scripted = _ok(advisor("recommend", str(live.csv), "--target", "diagnosis", "--json", "--no-progress"))
    body = json.loads(scripted.stdout)
    assert body["candidates"][0]["rank"] == 1 and body["baseline"]["trainer"] == "sklearn_logistic"
    assert scripted.stderr == ""


def test_train_wait_then_jobs_show_and_predict(live: Live, advisor: Callable[..., Ran], tmp_path: Path) -> None:
    trained = _ok(
        advisor(
            "train", str(live.csv), "--target", "diagnosis", "--candidate", "0", "--time-budget", "60", "--wait",
            "--json",
        )
    )  # fmt: skip
    job = json.loads(trained.stdout)
    assert job["status"] == "succeeded" and job["model"] == "logistic_regression"
    assert f"job {job['id'][:8]} [" in trained.stderr and "succeeded" in trained.stderr

    listed = _ok(advisor("jobs"))
    assert listed.stdout.splitlines()[0].split()[:3] == ["job", "status", "model"]
    assert job["id"] in listed.stdout
    assert job["id"] in [j["id"] for j in json.loads(_ok(advisor("jobs", "--json")).stdout)["items"]]

    shown = _ok(advisor("show", job["id"]))
    assert shown.stdout.startswith(f"job {job['id']}  succeeded") and "roc_auc" in shown.stdout

    out = tmp_path / "out.csv"
    predicted = _ok(advisor("predict", job["id"], str(live.new_csv), "-o", str(out)))
    assert "5 predictions written" in predicted.stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 and {"mean radius", "prediction", "proba_benign", "proba_malignant"} <= set(rows[0])
    assert all(r["prediction"] in ("benign", "malignant") for r in rows)
    assert all(abs(float(r["proba_benign"]) + float(r["proba_malignant"]) - 1) < 1e-6 for r in rows)


def test_race_wait_prints_the_leaderboard(live: Live, advisor: Callable[..., Ran]) -> None:
    raced = _ok(
        advisor("race", str(live.csv), "--target", "diagnosis", "--top-k", "1", "--time-budget", "10", "--wait")
    )
    lines = raced.stdout.splitlines()
    assert lines[0].startswith("race ") and "finished" in lines[0] and "roc_auc" in lines[0]
    assert any(line.startswith("#  model") for line in lines) and "(baseline)" in raced.stdout
    assert "race " in raced.stderr and "finished" in raced.stderr


def _why_it_ended(proc: subprocess.Popen[str]) -> str:
    """The command's exit status and what it printed on stderr, once it has ended (exit 3: the server refused)."""
    if proc.poll() is None or proc.stderr is None:
        return "still running"
    return f"exited {proc.returncode}: {proc.stderr.read()}"


def test_a_cancelled_job_exits_non_zero(live: Live, tmp_path: Path) -> None:
    env = _env(live)
    command = [sys.executable, "-m", "service.cli", "train", str(live.csv), "--target", "diagnosis"]
    command += ["--candidate", "1", "--time-budget", "120", "--seed", "7", "--wait", "--json", "--no-progress"]
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Advisor(live.url, live.key) as advisor:
            deadline = time.monotonic() + 120
            while not (active := [j for j in advisor.jobs(limit=100).items if getattr(j, "seed", None) == 7]):
                assert time.monotonic() < deadline and proc.poll() is None, _why_it_ended(proc)
                # Every list is a request on the same key as the command's own (600 a minute): polling no faster
                # than this leaves the command most of them on a loaded machine.
                time.sleep(0.5)
            advisor.cancel(active[0].id)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    job = json.loads(stdout)
    assert job["status"] == "cancelled" and job["id"] == active[0].id
    shown = advisor_command("show", job["id"], env=env, cwd=tmp_path)
    assert shown.returncode == 1 and "cancelled" in shown.stdout


def test_refusals_and_unreachable_servers_have_their_exit_codes(
    live: Live, advisor: Callable[..., Ran], tmp_path: Path
) -> None:
    refused = advisor("show", "no-such-job")
    assert refused.returncode == 3 and "404" in refused.stderr and "no-such-job" in refused.stderr
    scripted = advisor("show", "no-such-job", "--json")
    assert scripted.returncode == 3 and json.loads(scripted.stdout)["type"] == "urn:model-advisor:problem:not-found"
    invalid = advisor("race", str(live.csv), "--target", "diagnosis", "--top-k", "99", "--no-progress")
    assert invalid.returncode == 3 and "top_k" in invalid.stderr
    unreachable = advisor("jobs", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 4 and "cannot reach" in unreachable.stderr
    missing_file = advisor("recommend", str(tmp_path / "nope.csv"), "--target", "y")
    assert missing_file.returncode == 4 and "no such file" in missing_file.stderr
    assert advisor("train").returncode == 2  # usage: no data


def test_the_client_alone_has_the_same_commands(live: Live, tmp_path: Path) -> None:
    env = {k: v for k, v in live.env.items() if not k.startswith("ADVISOR_")}
    command = [sys.executable, "-m", "advisor_client.cli", "jobs", "--url", live.url, "--api-key", live.key, "--json"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "items" in json.loads(result.stdout)
    helped = subprocess.run(
        [sys.executable, "-m", "advisor_client.cli", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and helped.stdout.startswith("usage: advisor-client")
    assert all(name in helped.stdout for name in ("recommend", "train", "race", "predict", "jobs", "show"))
    assert "serve" not in helped.stdout  # the operator commands stay with the server
