"""The engine's chains specialized to a candidate's shape (advisor.chains._SPECIALIZED) decide as the full chains.

The stored corpus (test_recommendation_corpus) proves byte identity over 390 inputs; these tests check the
mechanism itself: a fresh engine state and a warmed one give the same documents, a test that reads the data's
numbers stays in the plan, and one that reads only the shape is taken out.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from advisor import Constraints, DatasetProfile, chains, policy, recommend
from advisor.recommendation import Decision
from advisor.rules.base import Context

SEQUENCE = DatasetProfile(modality="sequence", task="regression", n_rows=5_000, sequence_length=200)
OTHERS = [
    DatasetProfile(modality="sequence", task="regression", n_rows=90, sequence_length=20_000),
    DatasetProfile(modality="image", task="multiclass", n_rows=800, n_classes=10, image_size=(224, 224, 3)),
    DatasetProfile(modality="tabular", task="binary", n_rows=50_000, n_features=40, minority_share=0.05),
]


@pytest.fixture
def fresh_shapes(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[object, ...], object]:
    shapes: dict[tuple[object, ...], object] = {}
    monkeypatch.setattr(chains, "_SPECIALIZED", shapes)
    return shapes


@pytest.mark.parametrize("profile", [SEQUENCE, *OTHERS], ids=lambda p: f"{p.modality}-{p.task}-{p.n_rows}")
def test_a_shapes_plan_decides_as_the_full_chains(
    fresh_shapes: dict[tuple[object, ...], object], profile: DatasetProfile
) -> None:
    constraints = Constraints(time_budget_s=60)
    first = recommend(profile, constraints).model_dump_json()  # every shape probed on its way
    assert fresh_shapes
    assert recommend(profile, constraints).model_dump_json() == first  # every candidate on its shape's plan
    # a shape learned from another profile of the same modality and task decides this one as well
    for other in OTHERS:
        recommend(other, Constraints(compute="ample", gpu_available=True))
    assert recommend(profile, constraints).model_dump_json() == first


def _chain(key: str, profile: DatasetProfile, arch: str) -> list[tuple[bool, Callable[[Context], Decision]]]:
    """The 'key' chain of the deep-learning plan for (profile's shape, arch, no transfer): per step left in it,
    (whether it is tested, its decide)."""
    recommend(profile)
    shape = (id(policy.DEEP_LEARNING), "deep_learning", arch, arch, False, profile.modality, profile.task)
    _, plan, _ = chains._SPECIALIZED[shape]
    steps = dict((k, s) for k, s, _, _ in plan)[key]
    return [(applies is not None, decide) for applies, decide, _ in steps]


def test_tests_that_read_only_the_shape_are_resolved_and_those_that_read_numbers_stay(
    fresh_shapes: dict[tuple[object, ...], object],
) -> None:
    # the hidden activation depends on the architecture alone: the LSTM's plan holds just its rule, untested,
    # and its Decision is made once for every LSTM on sequences
    [(tested, decide)] = _chain("hidden_activation", SEQUENCE, "lstm")
    ctx = Context(profile=SEQUENCE, constraints=Constraints(), family="deep_learning", arch="lstm", model="lstm")
    decision = decide(ctx)
    assert not tested and decision.rule_id == "activation.hidden_tanh"
    assert _chain("hidden_activation", OTHERS[0], "lstm")[0][1](ctx) is decision
    # the epoch budget cut reads the estimated time against the budget: it stays, tested, before the planned epochs
    epochs = _chain("epochs", SEQUENCE, "lstm")
    assert [tested for tested, _ in epochs] == [True, False]


def test_a_probe_records_what_a_test_reads() -> None:
    ctx = Context(profile=SEQUENCE, constraints=Constraints(), arch="lstm", model="lstm", family="deep_learning")
    reads: set[str] = set()
    probe = chains._probe(ctx, reads)
    assert probe.arch == "lstm" and probe.is_classification is False
    assert reads == {"arch", "profile.task"}  # the property itself is not a read, the field it reads is
    assert probe.profile.n_rows == 5_000
    assert "profile.n_rows" in reads and not reads <= chains._SHAPE_READS
    # a rule that set an attribute would set it on the real context (and its result would not count as constant)
    reads.clear()
    probe.model = "transformer"
    assert ctx.model == "transformer" and reads == {"model"}


def test_checklist_lines_are_written_once_per_shape_unless_they_read_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from advisor import engine

    monkeypatch.setattr(engine, "_CHECKLISTS", {})
    cold = recommend(SEQUENCE).checklist  # the shape's first top candidate: probed
    warm = recommend(SEQUENCE).checklist  # on the shape's plan
    smaller = SEQUENCE.model_copy(update={"n_rows": 4_000})
    small = recommend(smaller).checklist  # the same shape (sequence regression, LightGBM first), fewer rows
    assert [c.rule_id for c in warm] == [c.rule_id for c in cold] == [c.rule_id for c in small]
    assert warm == cold
    lines = {c.rule_id: (c, s) for c, s in zip(warm, small, strict=True)}
    # the split line reads the row count: written for each recommendation
    split, split_small = lines["checklist.split"]
    assert "3,500 / 750 / 750" in split.detail and "2,800 / 600 / 600" in split_small.detail
    # the monitoring line reads nothing: one line for every candidate of the shape
    monitor, monitor_small = lines["checklist.monitor"]
    assert monitor is monitor_small
