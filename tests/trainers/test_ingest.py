"""Ingestion of good uploads: real bundled data sets (scikit-learn) and generated data, every modality."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn import datasets

from advisor.profile import DatasetProfile
from trainers.errors import DataError
from trainers.ingest import MIN_ROWS, sha256_file
from trainers.ingest.limits import CLASSIFICATION_MAX_DISTINCT
from trainers.profiling import measure


def _schema(sandbox) -> dict[str, Any]:
    return json.loads((sandbox.work_dir / "schema.json").read_text())


def _columns(result) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.details["columns"]}


def _csv_bytes(frame: pd.DataFrame, **kwargs: Any) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode(kwargs.pop("encoding", "utf-8"))


# --- real data sets, every tabular format ------------------------------------------------------------


def test_breast_cancer_csv_with_a_saved_index(sandbox) -> None:
    frame = datasets.load_breast_cancer(as_frame=True).frame
    path = sandbox.upload("bc.csv", frame.to_csv(index=True))  # the nameless index column pandas writes

    result = sandbox.run(path, filename="bc.csv", target="target")

    assert (result.modality, result.task, result.target) == ("tabular", "binary", "target")
    assert "2 distinct values" in result.task_reason
    profile = result.profile
    assert isinstance(profile, DatasetProfile)
    assert (profile.n_rows, profile.n_features, profile.n_classes) == (569, 30, 2)
    assert profile.minority_share == pytest.approx(212 / 569, abs=1e-6)
    assert profile.missing_share == 0.0 and profile.label_format == "integer"
    assert result.details["class_counts"] == {"0": 212, "1": 357}
    assert result.details["feature_types"]["identifier"] == 1
    assert _columns(result)["column_1"]["role"] == "ignored"
    assert any("look like identifiers" in w and "column_1" in w for w in result.warnings)
    assert sorted(result.files) == ["data.parquet", "schema.json"]
    assert {p.name for p in sandbox.work_dir.iterdir()} == set(result.files)
    stored = pq.read_table(sandbox.work_dir / "data.parquet")
    assert stored.num_rows == 569 and "target" in stored.column_names
    assert result.details["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.details["n_rows_original"] == 569 and result.details["format"] == "csv"
    # the stored Parquet was hashed as it was written (the service records it without reading the file again)
    assert result.file_sha256 == {"data.parquet": sha256_file(sandbox.work_dir / "data.parquet")}


def test_iris_parquet_is_multiclass_with_ordered_classes(sandbox) -> None:
    frame = datasets.load_iris(as_frame=True).frame
    path = sandbox.uploads / "iris"
    frame.to_parquet(path)

    result = sandbox.run(path, filename="iris.parquet", target="target")

    assert result.task == "multiclass" and result.details["format"] == "parquet"
    assert (result.profile.n_classes, result.profile.minority_share) == (3, pytest.approx(1 / 3, abs=1e-6))
    schema = _schema(sandbox)
    assert schema["classes"] == [0, 1, 2] and schema["label_encoding"] == "index into classes"
    roles = {c["name"]: c["role"] for c in schema["columns"]}
    assert roles["target"] == "target" and list(roles.values()).count("feature") == 4


def test_diabetes_semicolon_decimal_comma_with_bom_is_regression(sandbox) -> None:
    frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
    data = b"\xef\xbb\xbf" + frame.to_csv(index=False, sep=";", decimal=",").encode()
    path = sandbox.upload("diabetes.csv", data)

    result = sandbox.run(path, filename="diabetes.csv", target="target")

    assert result.task == "regression" and "regression" in result.task_reason
    assert result.details["csv"] == {
        "delimiter": ";",
        "has_header": True,
        "header_reason": "the first row names the target column 'target'",
        "bom": True,
        "decimal_comma": True,
    }
    assert result.profile.n_features == 10 and result.profile.n_classes is None
    assert 0 <= result.profile.target_outlier_share < 0.05
    # decimal commas were parsed as numbers, not left as text
    assert _columns(result)["bmi"]["kind"] == "numeric"


@pytest.mark.parametrize(("sep", "name"), [("\t", "tab"), ("|", "pipe"), (",", "comma")])
def test_delimiters_are_sniffed(sandbox, sep: str, name: str) -> None:
    frame = datasets.load_wine(as_frame=True).frame
    path = sandbox.upload(f"wine-{name}.csv", frame.to_csv(index=False, sep=sep))
    result = sandbox.run(path, target="target")
    assert result.details["csv"]["delimiter"] == sep
    assert (result.task, result.profile.n_features, result.profile.n_rows) == ("multiclass", 13, 178)


def test_headerless_csv_gets_generated_names(sandbox) -> None:
    frame = datasets.load_iris(as_frame=True).frame
    path = sandbox.upload("iris.csv", frame.to_csv(index=False, header=False))
    result = sandbox.run(path, target="column_5")
    assert result.details["csv"]["has_header"] is False
    assert any("No header row" in w for w in result.warnings)
    assert result.task == "multiclass" and result.profile.n_rows == 150


def test_a_type_change_after_the_typed_sample_falls_back_to_whole_file_inference(sandbox) -> None:
    # ~1.5 MB of integers, then one decimal: the first MiB says int64, the whole file says double.
    n = 150_000
    lines = ["a,b,y"] + [f"{i},{i % 7},{i % 2}" for i in range(n)] + ["1.5,3,0"]
    path = sandbox.upload("late-float.csv", "\n".join(lines) + "\n")
    result = sandbox.run(path, target="y")
    assert result.profile.n_rows == n + 1
    assert _columns(result)["a"]["dtype"] == "double"


def test_duplicate_and_empty_header_names_are_renamed(sandbox) -> None:
    lines = ["a,a,,y"] + [f"{i},{i * 2},{i % 5},{i % 2}" for i in range(40)]
    path = sandbox.upload("dups.csv", "\n".join(lines) + "\n")
    result = sandbox.run(path, target="y")
    assert list(_columns(result)) == ["a", "a.1", "column_3", "y"]
    assert any("renamed" in w for w in result.warnings)


def test_unique_id_with_time_is_an_ordinary_table(sandbox) -> None:
    frame = pd.DataFrame({"id": range(50), "time": range(50), "x": np.arange(50) * 0.3, "y": np.arange(50) % 2})
    path = sandbox.upload("t.csv", frame.to_csv(index=False))
    result = sandbox.run(path, target="y")
    assert result.modality == "tabular" and _columns(result)["id"]["kind"] == "identifier"


def test_details_are_strict_json(sandbox) -> None:
    path = sandbox.upload("mixed.csv", _mixed_frame().to_csv(index=False))
    result = sandbox.run(path, target="churn")
    json.dumps(result.details, allow_nan=False)
    json.dumps(result.profile.model_dump(), allow_nan=False)


# --- target task inference -----------------------------------------------------------------------------


def _frame_with_target(values: Any, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "y": values})


@pytest.mark.parametrize(
    ("values", "expected", "reason_part"),
    [
        (np.arange(200) % 2 == 0, "binary", "true/false"),
        (np.array(["red", "green", "blue", "grey"])[np.arange(200) % 4], "multiclass", "text labels"),
        (np.array(["yes", "no"])[np.arange(200) % 2], "binary", "text labels"),
        (np.arange(200) % 5, "multiclass", "class labels"),
        (np.arange(200) % 2 + 1, "binary", "exactly 2"),
        (np.array([0.5, 1.5])[np.arange(200) % 2], "binary", "exactly 2"),
        (np.arange(200) % 60, "regression", f"more than {CLASSIFICATION_MAX_DISTINCT}"),
        (np.arange(40) % 10, "regression", "of rows, above"),  # 10 values over 40 rows: amounts, not labels
        (np.linspace(0, 1, 200), "regression", "non-integer"),
    ],
    ids=["bool", "strings-4", "strings-2", "int-5", "int-1-2", "float-2", "int-60", "int-dense", "float"],
)
def test_task_inference(sandbox, values: Any, expected: str, reason_part: str) -> None:
    frame = _frame_with_target(values, len(values))
    path = sandbox.uploads / "t.parquet"
    frame.to_parquet(path)
    result = sandbox.run(path, target="y")
    assert result.task == expected, result.task_reason
    assert reason_part in result.task_reason


def test_task_override_is_honoured_and_explained(sandbox) -> None:
    path = sandbox.uploads / "t.parquet"
    _frame_with_target(np.arange(200) % 5, 200).to_parquet(path)
    result = sandbox.run(path, target="y", task="regression")
    assert result.task == "regression"
    assert result.task_reason.startswith("Task 'regression' was requested. Without it:")


def test_multiclass_override_on_two_classes_is_refused(sandbox) -> None:
    path = sandbox.uploads / "t.parquet"
    _frame_with_target(np.arange(100) % 2, 100).to_parquet(path)
    with pytest.raises(DataError) as caught:
        sandbox.run(path, target="y", task="multiclass")
    assert caught.value.type_slug == "invalid-task" and "use task 'binary'" in caught.value.detail


def test_identifier_like_target_is_too_many_classes(sandbox) -> None:
    n = 1200
    path = sandbox.uploads / "t.parquet"
    _frame_with_target([f"user-{i}" for i in range(n)], n).to_parquet(path)
    with pytest.raises(DataError) as caught:
        sandbox.run(path, target="y")
    assert (caught.value.kind, caught.value.type_slug) == ("data", "too-many-classes")
    assert sandbox.work_files() == set()


# --- column types, identifiers, missing values -----------------------------------------------------------


def _mixed_frame(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "customerID": [f"{i:04d}-{chr(65 + i % 26)}X" for i in range(n)],
            "user_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 90, size=n),
            "income": rng.normal(50_000, 10_000, size=n),
            "plan": rng.choice(["basic", "plus", "pro"], size=n),
            "paperless": rng.choice(["Yes", "No"], size=n),
            "is_senior": rng.integers(0, 2, size=n),
            "signup": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%d/%m/%Y"),
            "constant": np.full(n, 7),
            "empty": [None] * n,
            "churn": rng.choice(["No", "Yes"], size=n, p=[0.75, 0.25]),
        }
    )


def test_column_types_and_ignored_columns(sandbox) -> None:
    path = sandbox.upload("mixed.csv", _mixed_frame().to_csv(index=False))
    result = sandbox.run(path, target="churn")

    kinds = {name: (c["kind"], c["role"]) for name, c in _columns(result).items()}
    assert kinds == {
        "customerID": ("identifier", "ignored"),
        "user_id": ("identifier", "ignored"),
        "age": ("numeric", "feature"),
        "income": ("numeric", "feature"),
        "plan": ("categorical", "feature"),
        "paperless": ("boolean", "feature"),
        "is_senior": ("boolean", "feature"),
        "signup": ("datetime", "feature"),
        "constant": ("numeric", "ignored"),
        "empty": ("empty", "ignored"),
        "churn": ("categorical", "target"),
    }
    assert result.details["feature_types"] == {
        "numeric": 3,
        "categorical": 1,
        "boolean": 2,
        "datetime": 1,
        "text": 0,
        "identifier": 2,
        "empty": 1,
    }
    assert "2 column(s) look like identifiers and will be ignored: customerID, user_id." in result.warnings
    assert result.profile.n_features == 6 and result.profile.n_categorical_features == 1
    assert _columns(result)["signup"]["datetime_format"] == "%d/%m/%Y"
    stored = pq.read_table(sandbox.work_dir / "data.parquet")
    assert pa.types.is_timestamp(stored.schema.field("signup").type)
    assert pa.types.is_boolean(stored.schema.field("paperless").type)
    assert _columns(result)["paperless"]["true_values"] == ["yes"]


def test_nan_and_inf_features_are_counted_and_stored_as_missing(sandbox) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(100, 3))
    x[[1, 5, 9], 0] = np.nan
    x[[2, 3], 1] = np.inf
    x[4, 2] = -np.inf
    # Written with Arrow: pandas would turn NaN into null on the way, and we want real NaN bytes here.
    table = pa.table({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": np.arange(100) % 2})
    path = sandbox.uploads / "nan.parquet"
    pq.write_table(table, path)

    result = sandbox.run(path, target="y")

    assert result.details["nonfinite_feature_cells"] == 6
    assert any("6 NaN/infinite value(s)" in w for w in result.warnings)
    assert result.profile.missing_share == pytest.approx(6 / 300, abs=1e-6)
    stored = pq.read_table(sandbox.work_dir / "data.parquet")
    assert [stored[c].null_count for c in "abc"] == [3, 2, 1]


def test_nan_targets_are_dropped_and_counted(sandbox) -> None:
    n = 120
    y = (np.arange(n) % 3).astype(float)
    y[::10] = np.nan
    frame = pd.DataFrame({"a": np.arange(n) * 0.5, "y": y})
    path = sandbox.upload("nan-target.csv", frame.to_csv(index=False))

    result = sandbox.run(path, target="y")

    assert result.details["dropped_nan_target_rows"] == 12
    assert result.details["n_rows_original"] == n and result.profile.n_rows == n - 12
    assert "Dropped 12 row(s) with no value for the target 'y'." in result.warnings
    assert pq.read_table(sandbox.work_dir / "data.parquet").num_rows == n - 12


def test_minimum_rows_constant_is_the_boundary(sandbox) -> None:
    frame = pd.DataFrame({"a": np.arange(MIN_ROWS) * 1.5, "y": np.arange(MIN_ROWS) % 2})
    path = sandbox.upload("min.csv", frame.to_csv(index=False))
    assert sandbox.run(path, target="y").profile.n_rows == MIN_ROWS


# --- text ------------------------------------------------------------------------------------------------


def _reviews(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    words = np.array(["the", "food", "was", "great", "awful", "service", "slow", "fast", "tasty", "bland", "price"])
    reviews = [" ".join(rng.choice(words, size=rng.integers(8, 30))) + f" visit {i}" for i in range(n)]
    return pd.DataFrame({"review": reviews, "score": rng.choice(["positive", "negative"], size=n)})


def test_long_free_text_makes_a_text_dataset(sandbox) -> None:
    frame = _reviews()
    path = sandbox.upload("reviews.csv", frame.to_csv(index=False))

    result = sandbox.run(path, target="score")

    assert result.modality == "text" and result.task == "binary"
    assert result.details["text_column"] == "review"
    assert "review" in result.details["modality_reason"]
    expected_tokens = frame["review"].str.split().str.len().mean()
    assert result.profile.text_length == round(expected_tokens)
    assert result.profile.n_features is None
    assert _schema(sandbox)["text_column"] == "review"


def test_text_can_be_read_as_tabular_on_request(sandbox) -> None:
    path = sandbox.upload("reviews.csv", _reviews().to_csv(index=False))
    result = sandbox.run(path, target="score", modality="tabular")
    assert result.modality == "tabular" and result.details["feature_types"]["text"] == 1


# --- sequences -------------------------------------------------------------------------------------------


def test_sequence_npz(sandbox) -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 50, 3)).astype(np.float32)
    x[0, 0, 0] = np.nan
    y = np.arange(60) % 3
    path = sandbox.uploads / "seq.npz"
    np.savez(path, x=x, y=y)

    result = sandbox.run(path, filename="seq.npz")

    assert (result.modality, result.task) == ("sequence", "multiclass")
    assert result.profile.sequence_length == 50 and result.profile.n_rows == 60
    assert result.details["nonfinite_feature_cells"] == 1
    with np.load(sandbox.work_dir / "data.npz", allow_pickle=False) as stored:
        assert stored["x"].shape == (60, 50, 3) and stored["x"].dtype == np.float32
        assert stored["y"].tolist() == y.tolist()
        assert stored["lengths"].tolist() == [50] * 60


def test_long_format_csv_is_pivoted_with_padding(sandbox) -> None:
    rows = []
    for sid in range(30):
        steps = 6 if sid != 3 else 4  # one short sequence, padded
        steps = 8 if sid == 5 else steps  # one long one, truncated
        rows += [{"id": f"s{sid}", "time": t, "v1": sid + t / 10, "v2": -t, "label": sid % 2} for t in range(steps)]
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter
    path = sandbox.upload("long.csv", frame.to_csv(index=False))

    result = sandbox.run(path, target="label")

    assert (result.modality, result.task) == ("sequence", "binary")
    assert result.profile.sequence_length == 6 and result.profile.n_rows == 30
    assert any("1 zero-padded at the end, 1 truncated" in w for w in result.warnings)
    with np.load(sandbox.work_dir / "data.npz", allow_pickle=False) as stored:
        x, ids, lengths = stored["x"], stored["ids"].tolist(), stored["lengths"].tolist()
    i = ids.index("s3")
    assert lengths[i] == 4 and x[i, 3].tolist() == pytest.approx([3.3, -3.0]) and x[i, 4].tolist() == [0.0, 0.0]
    j = ids.index("s12")
    assert x[j, :, 0].tolist() == pytest.approx([12 + t / 10 for t in range(6)])


# --- images ----------------------------------------------------------------------------------------------


def _png(size: tuple[int, int], color: tuple[int, int, int], mode: str = "RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(buf, format="PNG")
    return buf.getvalue()


def test_image_folder_zip(sandbox) -> None:
    path = sandbox.uploads / "pets.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(12):
            zf.writestr(f"pets/cats/{i:02d}.png", _png((16, 12), (200, 10, 10)))
            zf.writestr(f"pets/dogs/{i:02d}.png", _png((16, 12), (10, 10, 200)))
        zf.writestr("pets/dogs/odd.png", _png((20, 20), (10, 10, 200)))  # resized to 12 x 16
        zf.writestr("__MACOSX/pets/._x.png", b"junk")
        zf.writestr("pets/README.txt", b"about")

    result = sandbox.run(path, filename="pets.zip")

    assert (result.modality, result.task, result.target) == ("image", "binary", "label")
    assert result.profile.image_size == (12, 16, 3) and result.profile.n_rows == 25
    assert result.details["class_counts"] == {"cats": 12, "dogs": 13}
    assert any("1 image(s) were resized" in w for w in result.warnings)
    assert any("1 file(s) in the archive are not PNG/JPEG" in w for w in result.warnings)
    with np.load(sandbox.work_dir / "data.npz", allow_pickle=False) as stored:
        x, y = stored["x"], stored["y"]
    assert x.shape == (25, 12, 16, 3) and x.dtype == np.uint8
    assert y.tolist() == [0] * 12 + [1] * 13
    assert x[0, 0, 0].tolist() == [200, 10, 10]
    assert _schema(sandbox)["classes"] == ["cats", "dogs"]


def test_digits_npz_are_greyscale_images(sandbox) -> None:
    digits = datasets.load_digits()
    path = sandbox.uploads / "digits.npz"
    np.savez_compressed(path, x=digits.images, y=digits.target)

    result = sandbox.run(path, filename="digits.npz")

    assert (result.modality, result.task) == ("image", "multiclass")
    assert result.profile.image_size == (8, 8, 1) and result.profile.n_classes == 10
    with np.load(sandbox.work_dir / "data.npz", allow_pickle=False) as stored:
        assert stored["x"].dtype == np.uint8
        assert stored["x"][..., 0].tolist() == digits.images.astype(np.uint8).tolist()


def test_two_dimensional_npz_is_tabular(sandbox) -> None:
    data = datasets.load_breast_cancer()
    path = sandbox.uploads / "bc.npz"
    np.savez(path, x=data.data, y=data.target)
    result = sandbox.run(path, filename="bc.npz")
    assert (result.modality, result.task, result.profile.n_features) == ("tabular", "binary", 30)


def test_one_hot_labels_become_class_ids(sandbox) -> None:
    y = np.eye(3)[np.arange(90) % 3]
    path = sandbox.uploads / "oh.npz"
    np.savez(path, x=np.random.default_rng(5).integers(0, 255, size=(90, 6, 6), dtype=np.uint8), y=y)
    result = sandbox.run(path)
    assert result.profile.n_classes == 3 and any("one-hot" in w for w in result.warnings)


# --- plumbing --------------------------------------------------------------------------------------------


def test_sha256_file_streams_and_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    data = np.random.default_rng(6).bytes(3 << 20)
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=1 << 16) == hashlib.sha256(data).hexdigest()


def test_measure_returns_only_the_profile_and_cleans_up(sandbox) -> None:
    path = sandbox.upload("iris.csv", datasets.load_iris(as_frame=True).frame.to_csv(index=False))
    profile = measure(path, target="target")
    assert profile.task == "multiclass" and profile.n_rows == 150
    assert sandbox.written_elsewhere() == set()


def test_importing_the_data_layer_is_cheap() -> None:
    code = (
        "import json, sys, trainers, trainers.ingest, trainers.errors, trainers.profiling;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert loaded.isdisjoint({"pyarrow", "PIL", "pandas", "numpy", "torch", "fastapi", "sqlalchemy", "celery"})


def _panel(n_ids: int = 30, steps: int = 4) -> pd.DataFrame:
    """Repeated measures: columns named id and time, ids repeating, a response that changes over time."""
    rows = [
        {"id": i, "time": 6 * t, "y": float((i + t) % 3), "sec": i % 2}
        for i in range(1, n_ids + 1)
        for t in range(steps)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("target", ["y", "time", "id"])
def test_an_id_and_time_table_is_read_row_by_row_when_it_is_not_one_sequence_per_id(sandbox, target: str) -> None:
    # The target changes within an id (repeated measures), or is the id or time column itself: each row is one
    # example, and a warning says why the table was not pivoted into sequences.
    path = sandbox.upload("panel.csv", _panel().to_csv(index=False))

    result = sandbox.run(path, target=target, task="regression")

    assert result.modality == "tabular" and result.profile.n_rows == 120
    assert any("each row was read as one example" in w and "modality='tabular'" in w for w in result.warnings)


def test_an_id_and_time_table_with_one_label_per_id_is_still_read_as_sequences(sandbox) -> None:
    frame = _panel()
    frame["label"] = frame["id"] % 2  # constant within each id
    path = sandbox.upload("long.csv", frame.drop(columns=["y"]).to_csv(index=False))

    result = sandbox.run(path, target="label")

    assert (result.modality, result.task) == ("sequence", "binary") and result.profile.n_rows == 30
    assert not any("each row was read" in w for w in result.warnings)


def test_asking_for_sequences_with_the_time_column_as_target_says_how_to_predict_it(sandbox) -> None:
    path = sandbox.upload("panel.csv", _panel().to_csv(index=False))
    with pytest.raises(DataError) as caught:
        sandbox.run(path, target="time", modality="sequence")
    assert caught.value.type_slug == "invalid-modality" and "modality='tabular'" in caught.value.detail


# -- dates written as text ------------------------------------------------------------------------------------
def _read_dates(values: list[str | None]) -> tuple[list[Any], str] | None:
    from trainers.ingest.columns import _datetime_strings

    found = _datetime_strings(pa.chunked_array([pa.array(values, type=pa.string())]))
    return None if found is None else (found[0].to_pylist(), found[1])


def test_two_digit_years_are_read_in_their_century() -> None:
    import datetime as dt

    # strptime's %Y takes "20" as the year 20, which no nanosecond timestamp holds: every entry failed to train.
    found = _read_dates(["8/6/20 18:57", "8/7/20 9:05", None, "12/31/19 23:59"])
    assert found is not None
    stamps, fmt = found
    assert fmt == "%m/%d/%y %H:%M"
    assert stamps == [
        dt.datetime(2020, 8, 6, 18, 57),
        dt.datetime(2020, 8, 7, 9, 5),
        None,
        dt.datetime(2019, 12, 31, 23, 59),
    ]


def test_the_format_that_reads_the_most_dates_wins() -> None:
    # Month first: 2 of 40 days past the 12th. Day-first read 38 of 40 (95%, enough alone) and lost those two.
    values = [*[f"{m}/{d}/2021" for m in range(1, 11) for d in (1, 5, 9, 12)][:38], "3/13/2021", "4/28/2021"]
    found = _read_dates(values)
    assert found is not None and found[1] == "%m/%d/%Y"
    assert None not in found[0]
    # Ties go to the first format listed (day first), as before.
    tied = _read_dates(["1/2/2021", "3/4/2021"])
    assert tied is not None and tied[1] == "%d/%m/%Y"
