"""Read a stored dataset folder back into what the trainers take, and plan how a trainer consumes it.

Ingestion (:mod:`trainers.ingest`) leaves ``data.parquet`` (tables, texts) or ``data.npz`` (images
``x`` N×H×W×C uint8, sequences ``x`` N×T×F with ``lengths``; ``y`` class codes or values) beside a
``schema.json``. :func:`load_dataset` reads both; :func:`plan_inputs` decides, for one trainer and its
parameters, whether it gets a table (:func:`trainers.run.fit_and_evaluate`) or arrays
(:func:`trainers.torch.jobs.fit_and_evaluate_arrays`), and which advisory parameters were applied here
rather than by the trainer (``input_features="flattened_pixels"`` turns images into one column per pixel;
``input_features="tfidf"`` gives a text dataset's table, text kept as text, to a trainer that vectorizes it).

No SQL and no HTTP here: the job engine passes a folder and JSON parameters, and gets plain data back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from trainers.base import TrainerCapabilityError
from trainers.dataset_format import DATA_NPZ, DATA_PARQUET, SCHEMA_JSON
from trainers.errors import TrainerError

if TYPE_CHECKING:
    import pandas as pd

    from trainers.base import Trainer
    from trainers.torch.data import ArrayData

ARRAY_MODALITIES = frozenset({"image", "sequence"})
# Advisory ``input_features`` values a table-only trainer can take once the arrays are flattened here.
FLATTENED_INPUTS = {"image": "flattened_pixels", "sequence": "flattened_sequence"}


class DatasetFolderError(TrainerError):
    """The folder is not a dataset written by :mod:`trainers.ingest` (missing or unreadable files)."""

    kind = "integrity"


@dataclass
class LoadedDataset:
    """One stored dataset in memory.

    Tables and texts: ``frame`` (every stored column, the target included) and ``feature_columns``
    (for texts, the free-text ``text_columns`` among them).
    Images and sequences: ``x`` and ``y`` (class codes into ``classes``, or float values) and, for
    sequences, ``lengths``. ``notes`` say what loading changed (e.g. datetimes made numeric).
    """

    folder: Path
    schema: dict[str, Any]
    modality: str
    task: Literal["binary", "multiclass", "regression"]
    target: str
    classes: list[Any] | None
    frame: pd.DataFrame | None = None
    feature_columns: list[str] | None = None
    text_column: str | None = None
    text_columns: list[str] = field(default_factory=list)
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    lengths: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    # Feature columns whose text the upload read as dates with a format (name → strptime format).
    datetime_formats: dict[str, str] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Number of samples."""
        if self.frame is not None:
            return len(self.frame)
        assert self.x is not None
        return len(self.x)

    def flat_frame(self) -> tuple[pd.DataFrame, list[str]]:
        """Arrays as a table: one float column per pixel / time step × feature (``x0``, ``x1``...) plus
        the target decoded to its labels; returns the frame and the feature column names."""
        import pandas as pd

        if self.frame is not None:
            assert self.feature_columns is not None
            return self.frame, self.feature_columns
        assert self.x is not None and self.y is not None
        flat = self.x.reshape(len(self.x), -1)
        names = [f"x{i}" for i in range(flat.shape[1])]
        frame = pd.DataFrame(flat.astype(np.float32, copy=False), columns=names, copy=False)
        if self.classes is None:
            frame[self.target] = self.y.astype(np.float64)
        else:
            frame[self.target] = np.asarray(self.classes, dtype=object)[self.y]
        return frame, names

    def array_data(self) -> ArrayData:
        """The samples as :class:`~trainers.torch.data.ArrayData` for the deep-learning trainers."""
        from trainers.torch.data import make_array_data

        if self.modality == "text":
            assert self.frame is not None and self.text_column is not None
            texts = self.frame[self.text_column].astype("string").fillna("").to_numpy(dtype=object)
            return make_array_data(texts, self.frame[self.target].to_numpy(), self.task, "text", target=self.target)
        assert self.x is not None and self.y is not None
        modality: Literal["image", "sequence"] = "image" if self.modality == "image" else "sequence"
        x = self.x
        if modality == "sequence" and np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
            # Missing steps are stored as NaN; the sequence trainers take finite values (0 = padding).
            x = np.nan_to_num(x, nan=0.0)
        return make_array_data(x, self.y, self.task, modality, classes=self.classes, target=self.target)

    def sample_rows(self, index: np.ndarray) -> pd.DataFrame:
        """Feature values of the samples at positions ``index``, as a table model predicts from them."""
        frame, features = self.flat_frame()
        return frame.iloc[index][features].reset_index(drop=True)


def _read_schema(folder: Path) -> dict[str, Any]:
    path = folder / SCHEMA_JSON
    if not path.is_file():
        raise DatasetFolderError(f"{folder} has no {SCHEMA_JSON}")
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetFolderError(f"unreadable {SCHEMA_JSON}: {exc}") from exc
    for key in ("modality", "task", "target"):
        if key not in schema:
            raise DatasetFolderError(f"{SCHEMA_JSON} has no {key!r}")
    return schema


def verify_files(folder: Path, expected_sha256: Mapping[str, str]) -> None:
    """Check every file of a stored dataset against the SHA-256 recorded when it was stored, before any is
    parsed: only files the service wrote itself are ever loaded."""
    from trainers.artifacts import sha256_file

    if SCHEMA_JSON not in expected_sha256:
        raise DatasetFolderError(f"no SHA-256 is recorded for {SCHEMA_JSON}")
    for name, digest in expected_sha256.items():
        path = folder / name
        if path.parent != folder or not path.is_file():
            raise DatasetFolderError(f"{folder} has no file {name!r}")
        if sha256_file(path) != digest:
            raise DatasetFolderError(f"{name} does not match the SHA-256 recorded when the dataset was stored")


def load_dataset(folder: str | Path, *, expected_sha256: Mapping[str, str] | None = None) -> LoadedDataset:
    """Load a dataset folder written by :func:`trainers.ingest.ingest`.

    With ``expected_sha256`` (file name → hex digest, recorded when the dataset was stored) every file is
    verified first, and a data file that is not listed is refused.

    Tables keep the columns ingestion marked as features (identifiers, empty and constant columns
    stay out); datetime features become seconds since the epoch, since the trainers take numbers.
    Raises :class:`DatasetFolderError` if the folder is not a stored dataset.
    """
    folder = Path(folder)
    if expected_sha256 is not None:
        verify_files(folder, expected_sha256)
    schema = _read_schema(folder)
    modality, task, target = str(schema["modality"]), schema["task"], str(schema["target"])
    classes = schema.get("classes")
    data = LoadedDataset(folder=folder, schema=schema, modality=modality, task=task, target=target, classes=classes)
    file = folder / str(schema.get("file") or (DATA_NPZ if schema.get("format") == "npz" else DATA_PARQUET))
    if file.parent != folder or not file.is_file():
        raise DatasetFolderError(f"{folder} has no data file {file.name!r}")
    if expected_sha256 is not None and file.name not in expected_sha256:
        raise DatasetFolderError(f"no SHA-256 is recorded for the data file {file.name!r}")
    if file.suffix == ".npz":
        with np.load(file, allow_pickle=False) as npz:
            data.x, data.y = npz["x"], npz["y"]
            data.lengths = npz["lengths"] if "lengths" in npz.files else None
        return data
    _load_table(data, file)
    return data


def _load_table(data: LoadedDataset, file: Path) -> None:
    import pandas as pd
    import pyarrow.parquet as pq

    from trainers.preprocess import temporal_seconds

    columns = data.schema.get("columns") or []
    table = pq.read_table(file)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    features: list[str] = []
    text_columns: list[str] = []
    for col in columns:
        name, kind = col.get("name"), col.get("kind")
        if col.get("role") != "feature" or name not in frame.columns:
            continue
        if kind == "text":
            text_columns.append(name)
            continue
        if kind == "datetime" or pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            seconds = temporal_seconds(frame[name])
            if seconds is None:  # a datetime column stored as text: read as ingestion typed it
                seconds = temporal_seconds(pd.Series(pd.to_datetime(frame[name], utc=True)))
            frame[name] = seconds
            if col.get("datetime_format"):
                data.datetime_formats[name] = str(col["datetime_format"])
            data.notes.append(
                f"datetime column {name!r} was given to the model as seconds (since 1970-01-01 UTC for dates, "
                "since midnight for times of day)"
            )
        features.append(name)
    if not columns:  # a schema without column roles: every column but the target
        features = [c for c in frame.columns if c != data.target]
    data.text_column = data.schema.get("text_column") or (text_columns[0] if text_columns else None)
    if data.modality == "text":
        text_column = data.text_column
        if (
            not text_columns
            and text_column is not None
            and text_column in frame.columns
            and text_column not in features
        ):
            text_columns = [text_column]
        features = features + text_columns  # a table trainer reads them as text (TF-IDF) or as categories
        data.text_columns = text_columns
    elif text_columns:
        data.notes.append(f"free-text column(s) {', '.join(text_columns)} were left out of a tabular model")
    data.frame = frame
    data.feature_columns = features


@dataclass(frozen=True)
class InputPlan:
    """How one trainer consumes a dataset: ``kind`` ``"frame"`` or ``"arrays"``, the parameters to
    hand the trainer (advisory keys applied here removed), and ``flatten`` for arrays made a table."""

    kind: Literal["frame", "arrays"]
    params: dict[str, Any]
    modality: str
    flatten: bool = False
    note: str | None = None
    text: bool = False  # the frame's text columns stay text (TF-IDF inside the trainer's pipeline)


def plan_inputs(trainer: type[Trainer], modality: str, params: Mapping[str, Any]) -> InputPlan:
    """Decide how ``trainer`` reads a ``modality`` dataset with ``params``.

    A table-only trainer takes images and sequences flattened (``input_features`` =
    ``flattened_pixels`` / ``flattened_sequence``, or unset), and a text dataset's table with
    ``input_features="tfidf"`` when it declares ``TEXT_FEATURES`` (its pipeline turns the text column into
    TF-IDF weights). Raises :class:`~trainers.base.TrainerCapabilityError` with the reason when it cannot.
    """
    params = dict(params)
    requested = params.get("input_features")
    table_only = trainer.MODALITIES.issubset({"tabular"})
    if modality in trainer.MODALITIES and requested not in FLATTENED_INPUTS.values():
        # A trainer that declares images, sequences or text takes them as arrays; tables stay frames.
        kind: Literal["frame", "arrays"] = "frame" if modality == "tabular" else "arrays"
        return InputPlan(kind=kind, params=params, modality=modality)
    if table_only and modality in ARRAY_MODALITIES and requested in (None, FLATTENED_INPUTS[modality]):
        params.pop("input_features", None)
        return InputPlan(
            kind="frame",
            params=params,
            modality="tabular",
            flatten=True,
            note=f"{modality} samples were flattened into one column per value ({FLATTENED_INPUTS[modality]})",
        )
    if requested == "tfidf" and modality == "text" and trainer.TEXT_FEATURES:
        params.pop("input_features", None)
        return InputPlan(
            kind="frame",
            params=params,
            modality="tabular",
            text=True,
            note="the text was given to the model as TF-IDF weights of its words and word pairs",
        )
    if requested == "tfidf":
        if modality != "text":
            raise TrainerCapabilityError(f"TF-IDF features are built from text, not {modality} data")
        raise TrainerCapabilityError(f"{trainer.NAME} does not build TF-IDF features from text")
    raise TrainerCapabilityError(
        f"{trainer.NAME} trains on {', '.join(sorted(trainer.MODALITIES))} data, not {modality}"
        + (f" with input_features={requested!r}" if requested is not None else "")
    )
