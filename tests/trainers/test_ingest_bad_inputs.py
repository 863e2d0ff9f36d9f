"""Every bad upload in the corpus is refused with the right status and problem, and leaves nothing behind."""

from __future__ import annotations

import pytest
from corpus import BAD_INPUTS, BadInput

from service.services.datasets import DATA_PROBLEM_STATUS
from trainers.errors import PROBLEM_TYPES, DataError, TrainerError


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_is_refused_cleanly(case: BadInput, sandbox) -> None:
    path = sandbox.uploads / "upload.bin"
    case.write(path)

    with pytest.raises(DataError) as caught:
        sandbox.run(path, filename=case.filename, limits=case.limits, **case.kwargs)

    error = caught.value
    assert (DATA_PROBLEM_STATUS[error.kind], error.type_slug) == (case.status, case.slug), error.detail
    assert isinstance(error, TrainerError) and not hasattr(error, "status")  # the service picks the status
    assert error.title == PROBLEM_TYPES[case.slug].title
    assert error.detail and error.detail.endswith("."), "detail must be one human sentence"
    assert {k: error.extra.get(k) for k in case.extra} == case.extra
    # Nothing half-stored: no file in the work folder, nothing anywhere else, the upload untouched.
    assert sandbox.work_files() == set()
    assert sandbox.written_elsewhere() == set()
    assert [p.name for p in sandbox.uploads.iterdir()] == ["upload.bin"]


def test_corpus_covers_every_problem_type_the_data_layer_can_raise() -> None:
    covered = {case.slug for case in BAD_INPUTS}
    # too-many-classes is exercised in test_ingest.py (it needs > 1000 classes).
    assert set(PROBLEM_TYPES) - covered == {"too-many-classes"}


def test_every_problem_type_has_a_4xx_status_chosen_by_the_service() -> None:
    assert {DATA_PROBLEM_STATUS[p.kind] for p in PROBLEM_TYPES.values()} <= {400, 413, 415, 422}
    # The statuses the API has always answered with, slug by slug.
    assert {slug: DATA_PROBLEM_STATUS[p.kind] for slug, p in PROBLEM_TYPES.items()} == {
        "empty-file": 400,
        "malformed-csv": 400,
        "malformed-file": 400,
        "not-utf8": 400,
        "unsafe-archive": 400,
        "archive-bomb": 413,
        "unsupported-type": 415,
        "missing-target": 422,
        "single-class-target": 422,
        "too-many-classes": 422,
        "too-few-rows": 422,
        "no-features": 422,
        "invalid-task": 422,
        "invalid-modality": 422,
        "invalid-arrays": 422,
        "invalid-layout": 422,
        "no-images": 422,
        "malformed-sequence": 422,
    }


def test_unknown_slug_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        DataError("no-such-problem", "x")


def test_malformed_csv_names_the_line_even_far_into_a_big_file(sandbox) -> None:
    lines = ["a,b,c"] + [f"{i},{i},{i % 2}" for i in range(200_000)]
    lines[150_000] = "1,2,3,4"
    path = sandbox.upload("big.csv", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as caught:
        sandbox.run(path, filename="big.csv", target="c")
    assert caught.value.type_slug == "malformed-csv"
    assert caught.value.extra["line"] == 150_001
    assert "line 150001" in caught.value.detail


def test_a_bare_carriage_return_inside_a_row_is_named(sandbox) -> None:
    # pandas' to_csv writes a text value's "\r" unquoted when lines end with "\n"; every reader ends the row there.
    import pandas as pd

    text = [f"tweet {i % 20}" for i in range(300)]
    text[120] = "first part\rsecond part"
    frame = pd.DataFrame({"text": text, "likes": [i % 13 for i in range(300)], "retweets": [i % 7 for i in range(300)]})
    path = sandbox.upload("tweets.csv", frame.to_csv(index=False))
    assert b"\nfirst part\rsecond part," in path.read_bytes()  # written unquoted
    with pytest.raises(DataError) as caught:
        sandbox.run(path, filename="tweets.csv", target="retweets")
    assert caught.value.type_slug == "malformed-csv"
    assert "1 carriage return(s) (\\r) stand alone" in caught.value.detail
    assert caught.value.detail.endswith("and upload again.")


def test_a_malformed_csv_without_carriage_returns_gets_no_such_hint(sandbox) -> None:
    path = sandbox.upload("ragged.csv", "a,b,c\n" + "1,2,3\n" * 50 + "1,2,3,4\n")
    with pytest.raises(DataError) as caught:
        sandbox.run(path, filename="ragged.csv", target="c")
    assert caught.value.type_slug == "malformed-csv" and "carriage" not in caught.value.detail


def test_latin1_offset_is_exact_beyond_the_sniffed_sample(sandbox) -> None:
    path = sandbox.uploads / "late.csv"
    next(c for c in BAD_INPUTS if c.id == "latin1-beyond-sample").write(path)
    expected = path.read_bytes().index(b"\xe9")
    with pytest.raises(DataError) as caught:
        sandbox.run(path, filename="late.csv", target="churn")
    assert caught.value.extra["byte_offset"] == expected
    assert str(expected) in caught.value.detail
