"""Every stored recommendation is reproduced byte for byte (see recommendation_corpus.py for the grid and how
to regenerate it when recommendations are meant to change)."""

from __future__ import annotations

import difflib
import json

import pytest
from recommendation_corpus import CORPUS, REGENERATE, cases, header, load, recommend

import advisor


@pytest.fixture(scope="module")
def stored() -> tuple[dict, list]:
    assert CORPUS.exists(), f"no stored corpus: run {REGENERATE}"
    return load()


def _first_difference(expected: str, got: str) -> str:
    a = json.dumps(json.loads(expected), indent=1).splitlines()
    b = json.dumps(json.loads(got), indent=1).splitlines()
    return "\n".join(list(difflib.unified_diff(a, b, "stored", "now", n=2, lineterm=""))[:40])


def test_corpus_matches_the_current_tables_and_portfolio(stored: tuple[dict, list]) -> None:
    head, _ = stored
    assert head == header(), (
        f"the corpus was stored for {head}, the advisor is now {header()}: if recommendations are meant to "
        f"change, run {REGENERATE} and review the diff"
    )


def test_corpus_covers_the_grid(stored: tuple[dict, list]) -> None:
    _, entries = stored
    assert [c for c, _ in entries] == list(cases())
    docs = [json.loads(out) for _, out in entries]
    assert {d["profile"]["modality"] for d in docs} == {"tabular", "image", "text", "sequence", "audio"}
    assert {d["family"] for d in docs} == {"classical", "deep_learning", "both"}
    assert any("Your own finished races changed this order" in d["decisions"][-1]["reason"] for d in docs)
    assert any(c.choices["epochs"].rule_id == "epochs.budget_cut" for c in _candidates(docs))


def _candidates(docs: list[dict]) -> list:
    return [
        advisor.Candidate.model_validate(c) for d in docs for c in d["candidates"] if c["family"] == "deep_learning"
    ]


def test_every_recommendation_is_byte_identical(stored: tuple[dict, list]) -> None:
    _, entries = stored
    for case, expected in entries:
        got = recommend(case).model_dump_json()
        assert got == expected, f"{case.name} changed:\n{_first_difference(expected, got)}"


def test_the_service_stores_the_same_bytes(stored: tuple[dict, list]) -> None:
    """The service's own JSON path (not pydantic's) writes exactly the advisor's document."""
    from service.services.recommendations import document_json

    _, entries = stored
    for case, expected in entries:
        got = document_json(recommend(case))
        assert got == expected, f"{case.name}: the stored document differs:\n{_first_difference(expected, got)}"
