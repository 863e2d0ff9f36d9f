"""Where a job's time goes: stamps from both processes merged into milliseconds per stage."""

from __future__ import annotations

import time

from service.jobs.stages import Stamps, breakdown


def test_breakdown_orders_stamps_by_time_and_sums_repeated_stages() -> None:
    stamps = [("start", 10.0), ("handoff", 10.003), ("claim", 10.001), ("heartbeat", 10.004), ("heartbeat", 10.010)]
    ms = breakdown(stamps)
    assert ms.keys() == {"claim", "handoff", "heartbeat"}
    assert round(ms["claim"], 6) == 1.0 and round(ms["handoff"], 6) == 2.0
    assert round(ms["heartbeat"], 6) == 7.0  # 1 ms + 6 ms


def test_stamps_record_the_moment_each_stage_ended() -> None:
    stamp = Stamps()
    stamp("a")
    time.sleep(0.002)
    stamp("b")
    assert [name for name, _ in stamp.items] == ["a", "b"]
    assert breakdown(stamp.items)["b"] >= 2.0
    assert breakdown([]) == {} and breakdown([("only", 1.0)]) == {}
