"""Every bench in bench/ runs at its smallest setting and reports its figures, so a bench that breaks fails the
suite (as bench/scale.py once did, stopping at the tenant's concurrent-jobs quota). Whether a figure meets its
target is not checked here: at these sizes the figures mean nothing. ``make bench`` runs them properly."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import run_all  # noqa: E402

SMOKE = [b for b in run_all.BENCHES if b.own_smoke_test is None]


def test_every_bench_script_is_listed() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")}
    listed = {b.name for b in run_all.BENCHES}
    assert scripts - run_all.NOT_BENCHES == listed, "add the new bench to bench/run_all.py's BENCHES"
    for bench in run_all.BENCHES:
        if bench.own_smoke_test:
            assert (ROOT / bench.own_smoke_test).is_file(), bench.own_smoke_test


@pytest.fixture(scope="module")
def smallest_runs() -> Iterator[dict[str, Future[run_all.Outcome]]]:
    """Every bench at its smallest setting, several at once: most of their time is process start-up, servers
    becoming ready and polling, so the whole set takes about as long as the slowest few."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {b.name: pool.submit(run_all.run_one, b, smallest=True, timeout=240, echo=False) for b in SMOKE}
        yield futures


@pytest.mark.parametrize("bench", SMOKE, ids=[b.name for b in SMOKE])
def test_bench_runs_at_its_smallest_setting(
    bench: run_all.Bench, smallest_runs: dict[str, Future[run_all.Outcome]]
) -> None:
    outcome = smallest_runs[bench.name].result()
    if outcome.skipped is not None:
        pytest.skip(f"{bench.name}: {outcome.skipped}")
    assert outcome.error is None, f"{bench.name}: {outcome.error}"
    assert outcome.rows, f"{bench.name} reported no figure"
    for row in outcome.rows:
        assert row["figure"] and row["target"] and row["ok"] in (True, False, None), row


def test_the_summary_table_says_pass_miss_skip_and_error() -> None:
    outcomes = [
        run_all.Outcome("a", rows=[{"figure": "f", "value": 1.5, "unit": "x", "target": "<= 2x", "ok": True}]),
        run_all.Outcome("b", rows=[{"figure": "g", "value": 3, "unit": "ms", "target": "< 1 ms", "ok": False}]),
        run_all.Outcome("c", skipped="GPU only: no CUDA device on this machine"),
        run_all.Outcome("d", error="exit status 1: boom"),
    ]
    text = run_all.table(outcomes)
    assert "pass" in text and "MISS" in text and "skip: GPU only" in text and "ERROR: exit status 1" in text
