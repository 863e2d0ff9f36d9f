"""Rows to predict, read in the forms uploads take and shaped the way the model's training data was.

Over 500 lines on purpose: one reader per input form (table, image, sequence, text, JSON values) sharing
the same checks against :class:`ModelInput`; split per form, the shared checks would have to be imported
back by each.

The service passes a file (or JSON values) and what the model expects (:class:`ModelInput`, from the loaded
model and its dataset's stored details). What comes back is what ``predict_output`` takes: a frame for table
models, uint8 N×H×W×C images, float32 N×T×F sequences or a 1-D array of texts, with ids where the input names
its samples (image file names, sequence ids) and warnings saying what was changed. Each step repeats what
ingestion and the job did to the training data:

* images from PNG/JPEG (a single file, a zip, base64 in JSON) are converted to the model's channels and
  resized bilinearly to its size, as ingestion resizes a zip's images to their common size; image arrays
  (``.npz``, nested JSON lists) are never resized at training, so another size is refused naming the
  expected one;
* long-format sequence tables are pivoted, zero-padded at the end or cut to the training length, as
  ingestion does; missing and non-finite values become 0, as the job gives them to the trainer;
* texts are the training text column read as strings, missing ones empty;
* a table model trained on flattened images or sequences takes the arrays flattened the same way.

No model is loaded and no torch is imported here; every problem is a :class:`~trainers.errors.DataError`.
"""

from __future__ import annotations

import base64
import binascii
import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from trainers.errors import DataError
from trainers.ingest.archive import check_members, read_member
from trainers.ingest.limits import DEFAULT_LIMITS, IngestLimits
from trainers.ingest.sniff import detect_format

if TYPE_CHECKING:
    import pandas as pd

_PNG, _JPEG = b"\x89PNG", b"\xff\xd8\xff"
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
ARRAY_SOURCES = frozenset({"image", "sequence"})


@dataclass(frozen=True)
class ModelInput:
    """What one model takes.

    ``modality`` is what ``predict_output`` reads (``tabular``, ``image``, ``sequence``, ``text``); ``source``
    the modality of the dataset it was trained on (``image`` for a table model on flattened pixels).
    """

    modality: str
    source: str
    columns: list[str] | None = None
    image_size: tuple[int, int, int] | None = None
    steps: int | None = None
    features: int | None = None
    sequence_columns: Mapping[str, Any] | None = None
    text_column: str | None = None

    @property
    def flatten(self) -> bool:
        """A table model that was trained on images or sequences flattened to one column per value."""
        return self.modality == "tabular" and self.source in ARRAY_SOURCES

    @property
    def reads(self) -> str:
        """The kind of samples the inputs must hold (``image`` for a table model on flattened pixels)."""
        return self.source if self.flatten else self.modality

    def describe(self) -> str:
        """The expected sample, in words (for problem details)."""
        if self.reads == "image" and self.image_size:
            return "images of {}×{}×{} (H×W×C)".format(*self.image_size)
        if self.reads == "sequence" and self.steps is not None:
            return f"sequences of {self.steps} steps × {self.features} features"
        if self.reads == "text":
            return f"texts (column {self.text_column!r})" if self.text_column else "texts"
        return f"rows with the columns {', '.join(self.columns or [])}"


def _image_size(size: Sequence[Any] | None) -> tuple[int, int, int] | None:
    """A stored ``[H, W, C]`` as ints (``None`` when absent)."""
    if not size:
        return None
    h, w, c = (int(v) for v in size)
    return h, w, c


def model_input(model: Any, dataset_modality: str, details: Mapping[str, Any]) -> ModelInput:
    """What ``model`` takes, from the model itself and its dataset's stored ``details``."""
    spec: dict[str, Any] = model.input_spec()
    modality = "sequence" if spec["modality"] == "audio" else str(spec["modality"])
    sequence_columns = details.get("sequence_columns")
    if modality == "tabular":
        source = dataset_modality if dataset_modality in ARRAY_SOURCES else "tabular"
        size = details.get("image_size") if source == "image" else None
        steps = details.get("sequence_length") if source == "sequence" else None
        features = details.get("n_channels") if source == "sequence" else None
        return ModelInput(
            modality="tabular",
            source=source,
            columns=list(model.schema_.feature_names),
            image_size=_image_size(size),
            steps=int(steps) if steps is not None else None,
            features=int(features) if features is not None else None,
            sequence_columns=sequence_columns,
        )
    size = spec.get("image_size")
    return ModelInput(
        modality=modality,
        source=modality,
        image_size=_image_size(size),
        steps=spec.get("steps"),
        features=spec.get("features"),
        sequence_columns=sequence_columns,
        text_column=details.get("text_column"),
    )


@dataclass
class Inputs:
    """Samples ready for ``predict_output`` (``data``), their ids when the input names them, and warnings."""

    data: Any
    ids: list[str] | None = None
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.data)


# -- files ----------------------------------------------------------------------------------------------------
def read_file(path: Path, filename: str | None, spec: ModelInput, limits: IngestLimits = DEFAULT_LIMITS) -> Inputs:
    """Read an uploaded file of samples to predict: CSV/Parquet (tables, texts, long-format sequences),
    ``.npz`` with ``x``, a zip of PNG/JPEG images or a single PNG/JPEG."""
    warnings: list[str] = []
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith((_PNG, _JPEG)):
        _expect(spec, "image", "a PNG/JPEG image")
        name = PurePosixPath(filename or "image").name
        image, resized = _decode(path.read_bytes(), name, spec, limits)
        if resized:
            warnings.append(_resized_warning(1, spec))
        return _finish(image[None], [name], spec, warnings)
    fmt = detect_format(path, filename)
    if fmt == "image-zip":
        _expect(spec, "image", "a zip of images")
        x, ids = _zip_images(path, spec, limits, warnings)
        return _finish(x, ids, spec, warnings)
    if fmt == "npz":
        from trainers.ingest.npz import load_npz_x

        x = load_npz_x(path, limits, warnings)
        if spec.reads == "tabular":
            return Inputs(_npz_table(x), None, warnings)
        return _finish(_npz_samples(x, spec, warnings), None, spec, warnings)
    from trainers.ingest.csv_tabular import read_csv, read_parquet

    known = _known_columns(spec)
    table = read_parquet(path) if fmt == "parquet" else read_csv(path, target=None, known_columns=known)[0]
    if spec.reads == "sequence" and not spec.flatten:
        x, ids = _long_sequences(table, spec, warnings)
        return _finish(x, ids, spec, warnings)
    if spec.reads == "image" and not spec.flatten:
        raise DataError(
            "unsupported-type",
            "Images to predict come as a PNG/JPEG file, a zip of them, an .npz with x, or JSON; not as a table.",
        )
    frame = table.to_pandas()
    if spec.modality == "text":
        return Inputs(texts_from_frame(frame, spec, warnings), None, warnings)
    return Inputs(frame, None, warnings)


def _known_columns(spec: ModelInput) -> list[str]:
    if spec.modality == "text":
        return [spec.text_column] if spec.text_column else []
    if spec.reads == "sequence" and spec.sequence_columns:
        cols = spec.sequence_columns
        return [str(cols.get("id")), str(cols.get("time")), *[str(c) for c in cols.get("features") or []]]
    return list(spec.columns or [])


def _expect(spec: ModelInput, kind: str, what: str) -> None:
    if spec.reads != kind:
        raise DataError(
            "invalid-modality",
            f"The model takes {spec.describe()}; {what} cannot be predicted with it.",
            extra={"expected": spec.reads},
        )


def _finish(x: np.ndarray, ids: list[str] | None, spec: ModelInput, warnings: list[str]) -> Inputs:
    """Arrays as the model takes them: as they are, or flattened into the columns a table model learned."""
    if spec.modality == "text":
        return Inputs(x, ids, warnings)
    if not x.flags.writeable:  # an array read straight from an upload's buffer; torch wants its own memory
        x = x.copy()
    if not spec.flatten:
        if spec.modality == "sequence":
            x = _finite_sequences(x, warnings)
        return Inputs(x, ids, warnings)
    import pandas as pd

    flat = x.reshape(len(x), -1).astype(np.float32, copy=False)
    columns = spec.columns or []
    if flat.shape[1] != len(columns):
        raise DataError(
            "invalid-arrays",
            f"The model takes {len(columns)} values per sample; the input has {flat.shape[1]}.",
            extra={"expected_values": len(columns)},
        )
    return Inputs(pd.DataFrame(flat, columns=[f"x{i}" for i in range(flat.shape[1])], copy=False), ids, warnings)


# -- images ---------------------------------------------------------------------------------------------------
def pixels(x: np.ndarray, spec: ModelInput, warnings: list[str], where: str = "x") -> np.ndarray:
    """An image array as uint8 N×H×W×C of exactly the model's size (refused otherwise, naming it).

    The value rules are ingestion's: uint8 as is, booleans ×255, floats in [0, 1] ×255, numbers in [0, 255]
    rounded; channels-first arrays are transposed. Values outside those ranges are refused: ingestion scales
    them by the whole dataset's minimum and maximum, which a prediction batch cannot reproduce.
    """
    if x.dtype.kind not in "biuf":
        raise DataError("invalid-arrays", f"{where} must hold numbers, not {x.dtype}.", extra={"dtype": str(x.dtype)})
    h, w, c = spec.image_size or (0, 0, 0)
    if x.ndim == 3 and c == 1:
        x = x[..., None]
    elif x.ndim == 4 and x.shape[-1] != c and x.shape[1] == c and list(x.shape[2:]) == [h, w]:
        warnings.append("The image array looked channels-first (N x C x H x W) and was transposed to N x H x W x C.")
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    if list(x.shape[1:]) != [h, w, c]:
        raise DataError(
            "invalid-arrays",
            f"{where} must hold images of {h}×{w}×{c} (H×W×C) like the training data; got shape "
            f"{list(x.shape)}. Image arrays are not resized (PNG/JPEG files are).",
            extra={"expected_shape": ["N", h, w, c], "shape": list(x.shape)},
        )
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    values = x.astype(np.float32, copy=False)
    if not np.isfinite(values).all():
        raise DataError("invalid-arrays", f"{where} holds NaN or infinite pixel values.")
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1 and np.issubdtype(x.dtype, np.floating):
        values = values * 255.0
    elif not (lo >= 0 and hi <= 255):
        raise DataError(
            "invalid-arrays",
            f"Pixel values of {where} span [{lo:g}, {hi:g}]; send 0-255 or floats in 0-1.",
            extra={"min": lo, "max": hi},
        )
    return np.rint(values).astype(np.uint8)


def _resized_warning(n: int, spec: ModelInput) -> str:
    h, w, _ = spec.image_size or (0, 0, 0)
    return f"{n} image(s) were resized to the training size {h}x{w} (height x width)."


def _decode(data: bytes, name: str, spec: ModelInput, limits: IngestLimits) -> tuple[np.ndarray, bool]:
    """One PNG/JPEG as H×W×C uint8 in the model's channels and size; whether it was resized."""
    from PIL import Image

    from trainers.ingest.images import read_image_header

    if read_image_header(Image, data, limits, name) is None:
        raise DataError("malformed-file", f"{name!r} cannot be decoded as a PNG or JPEG image.", extra={"image": name})
    h, w, c = spec.image_size or (0, 0, 0)
    with Image.open(io.BytesIO(data)) as source:
        img = source.convert(_MODES.get(c, "RGB"))
        resized = img.size != (w, h)
        if resized:
            img = img.resize((w, h), Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8).reshape(h, w, c), resized


def _zip_images(
    path: Path, spec: ModelInput, limits: IngestLimits, warnings: list[str]
) -> tuple[np.ndarray, list[str]]:
    """Every PNG/JPEG of a zip, in name order (any folder layout); ids are the member names."""
    from trainers.ingest.images import IMAGE_SUFFIXES, is_junk

    h, w, c = spec.image_size or (0, 0, 0)
    with zipfile.ZipFile(path) as zf:
        members = [m for m in check_members(zf, limits) if not is_junk(PurePosixPath(m.filename))]
        images = sorted(
            (m for m in members if PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES), key=lambda m: m.filename
        )
        if not images:
            raise DataError("no-images", "The archive contains no PNG or JPEG images to predict.")
        if len(images) * h * w * c > limits.max_decoded_bytes:
            raise DataError(
                "archive-bomb",
                f"{len(images)} images of {h}x{w}x{c} would take more than {limits.max_decoded_bytes} bytes.",
                extra={"maximum_decoded_bytes": limits.max_decoded_bytes},
            )
        if len(images) < len(members):
            warnings.append(f"{len(members) - len(images)} file(s) in the archive are not PNG/JPEG and were ignored.")
        x = np.empty((len(images), h, w, c), dtype=np.uint8)
        budget, resized = limits.max_uncompressed_bytes, 0
        for i, info in enumerate(images):
            data = read_member(zf, info, budget)
            budget -= len(data)
            x[i], changed = _decode(data, info.filename, spec, limits)
            resized += changed
    if resized:
        warnings.append(_resized_warning(resized, spec))
    return x, [m.filename for m in images]


# -- sequences ------------------------------------------------------------------------------------------------
def _finite_sequences(x: np.ndarray, warnings: list[str]) -> np.ndarray:
    bad = ~np.isfinite(x)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        warnings.append(f"{n_bad} missing or non-finite value(s) were given to the model as 0, as in training.")
        x = np.where(bad, np.float32(0.0), x)
    return x.astype(np.float32, copy=False)


def _sequence_array(x: np.ndarray, spec: ModelInput, where: str) -> np.ndarray:
    """N×T or N×T×F numbers as float32 N×T×F with the model's feature count and length (refused otherwise)."""
    if x.dtype.kind not in "biuf":
        raise DataError("invalid-arrays", f"{where} must hold numbers, not {x.dtype}.", extra={"dtype": str(x.dtype)})
    if x.ndim == 2 and spec.features == 1:
        x = x[..., None]
    if x.ndim != 3 or x.shape[1:] != (spec.steps, spec.features):
        raise DataError(
            "invalid-arrays",
            f"{where} must hold sequences of {spec.steps} steps × {spec.features} features (N×T×F) like the "
            f"training data; got shape {list(x.shape)}.",
            extra={"expected_shape": ["N", spec.steps, spec.features], "shape": list(x.shape)},
        )
    return x.astype(np.float32, copy=False)


def _fit_length(rows: Sequence[np.ndarray], spec: ModelInput, warnings: list[str]) -> np.ndarray:
    """Sequences of any length brought to the training length: zero-padded at the end or cut after it."""
    steps, features = int(spec.steps or 0), int(spec.features or 0)
    x = np.zeros((len(rows), steps, features), dtype=np.float32)
    shorter = longer = 0
    for i, r in enumerate(rows):
        n = min(len(r), steps)
        x[i, :n] = r[:n]
        shorter += len(r) < steps
        longer += len(r) > steps
    if shorter or longer:
        warnings.append(
            f"Sequences were brought to the training length {steps}: {shorter} zero-padded at the end, "
            f"{longer} truncated."
        )
    return x


def _long_sequences(table: Any, spec: ModelInput, warnings: list[str]) -> tuple[np.ndarray, list[str]]:
    """A long-format table (id, time, features...) pivoted as ingestion pivots it, at the training length."""
    from trainers.ingest.sequences import long_format_columns, numeric_columns, pivot_long

    cols = spec.sequence_columns or {}
    names = table.column_names
    if cols.get("id") in names and cols.get("time") in names:
        id_col, time_col = str(cols["id"]), str(cols["time"])
    else:
        found = long_format_columns(table, "sequence")
        assert found is not None  # long_format_columns raises when asked for sequences and none fit
        id_col, time_col = found
    trained = [str(c) for c in cols.get("features") or []]
    if trained:
        missing = [c for c in trained if c not in names]
        if missing:
            raise DataError(
                "no-features",
                f"The sequences lack the feature column(s) {', '.join(map(repr, missing))} the model was trained on.",
                extra={"columns": missing},
            )
        features = trained
        extra = [c for c in names if c not in (id_col, time_col, *features)]
        if extra:
            warnings.append(f"Column(s) the model does not use were ignored: {', '.join(map(repr, extra[:10]))}.")
    else:
        features, _ = numeric_columns(table, [c for c in names if c not in (id_col, time_col)])
    if len(features) != spec.features:
        raise DataError(
            "no-features",
            f"The model takes {spec.features} feature(s) per step; the table has {len(features)} numeric "
            f"column(s) besides {id_col!r} and {time_col!r}.",
            extra={"expected_features": spec.features, "columns": features[:50]},
        )
    pivot = pivot_long(table, id_col=id_col, time_col=time_col, feature_names=features, steps=spec.steps)
    if pivot.dropped_no_id:
        warnings.append(f"Dropped {pivot.dropped_no_id} row(s) without a sequence id.")
    if not len(pivot.x):
        raise DataError("empty-file", "The table holds no sequence to predict.")
    shorter = int(np.count_nonzero(pivot.lengths < pivot.steps))
    longer = int(np.count_nonzero(pivot.lengths > pivot.steps))
    if shorter or longer:
        warnings.append(
            f"Sequences were brought to the training length {pivot.steps}: {shorter} zero-padded at the end, "
            f"{longer} truncated."
        )
    return pivot.x, [str(v) for v in pivot.ids]


# -- npz and JSON ---------------------------------------------------------------------------------------------
def _npz_samples(x: np.ndarray, spec: ModelInput, warnings: list[str]) -> np.ndarray:
    """``x`` as the images, sequences or texts ``spec`` reads (a table model's rows: :func:`_npz_table`)."""
    if spec.reads == "image":
        return pixels(x, spec, warnings, "x")
    if spec.reads == "sequence":
        return _sequence_array(x, spec, "x")
    if x.ndim != 1 or x.dtype.kind not in "US":  # texts
        raise DataError("invalid-arrays", f"x must be a 1-D array of texts; got {x.dtype} of shape {list(x.shape)}.")
    return np.asarray(
        [str(v) for v in (np.char.decode(x, "utf-8", "replace") if x.dtype.kind == "S" else x)], dtype=object
    )


def _npz_table(x: np.ndarray) -> pd.DataFrame:
    """``x`` as a table model's rows: N×D numbers, columns ``x0``, ``x1``..."""
    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise DataError(
            "invalid-arrays",
            f"x must be N x D numbers for a table model; got {x.dtype} of shape {list(x.shape)}.",
            extra={"shape": list(x.shape)},
        )
    import pandas as pd

    return pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])


def read_json(values: Sequence[Any], spec: ModelInput) -> Inputs:
    """JSON ``inputs``: images as nested lists (H×W or H×W×C) or base64 PNG/JPEG strings, texts as strings,
    sequences as nested lists (T or T×F; other lengths are padded or cut to the training length)."""
    warnings: list[str] = []
    kind = spec.reads
    if kind == "tabular":
        raise DataError("invalid-arrays", 'This model takes table rows: send {"rows": [{column: value, ...}, ...]}.')
    if kind == "text":
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise DataError(
                "invalid-arrays", f"inputs[{bad}] must be a string: the model takes texts.", extra={"index": bad}
            )
        return Inputs(np.asarray(list(values), dtype=object), None, warnings)
    if kind == "image":
        images = np.empty((len(values), *(spec.image_size or (0, 0, 0))), dtype=np.uint8)
        resized = 0
        for i, v in enumerate(values):
            if isinstance(v, str):
                images[i], changed = _decode(_base64(v, i), f"inputs[{i}]", spec, DEFAULT_LIMITS)
                resized += changed
            else:
                images[i] = pixels(_numbers(v, i)[None], spec, warnings, f"inputs[{i}]")[0]
        if resized:
            warnings.append(_resized_warning(resized, spec))
        return _finish(images, None, spec, warnings)
    rows: list[np.ndarray] = []
    for i, v in enumerate(values):
        arr = _numbers(v, i)
        arr = arr[:, None] if arr.ndim == 1 and spec.features == 1 else arr
        if arr.ndim != 2 or arr.shape[1] != spec.features or not len(arr):
            raise DataError(
                "invalid-arrays",
                f"inputs[{i}] must be a sequence of steps with {spec.features} value(s) each; got shape "
                f"{list(arr.shape)}.",
                extra={"index": i, "expected_features": spec.features, "shape": list(arr.shape)},
            )
        rows.append(arr)
    return _finish(_fit_length(rows, spec, warnings), None, spec, warnings)


def _numbers(value: Any, index: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            "invalid-arrays",
            f"inputs[{index}] must be nested lists of numbers of one shape (no nulls, no ragged rows).",
            extra={"index": index},
        ) from exc
    return arr


def _base64(text: str, index: int) -> bytes:
    data = text.split(",", 1)[1] if text.startswith("data:") else text  # a data: URL
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataError(
            "invalid-arrays", f"inputs[{index}] is a string but not base64 PNG/JPEG.", extra={"index": index}
        ) from exc


def texts_from_frame(frame: Any, spec: ModelInput, warnings: list[str]) -> np.ndarray:
    """The text column of rows (the training one, or the only column), as strings; missing ones empty."""
    column = spec.text_column
    if column not in frame.columns:
        if len(frame.columns) != 1:
            raise DataError(
                "no-features",
                f"The rows need the text column {column!r} the model was trained on; they have "
                f"{', '.join(map(repr, list(frame.columns)[:10]))}.",
                extra={"column": column, "columns": [str(c) for c in frame.columns[:50]]},
            )
        column = frame.columns[0]
    extra = [str(c) for c in frame.columns if c != column]
    if extra:
        warnings.append(f"Column(s) the model does not use were ignored: {', '.join(map(repr, extra[:10]))}.")
    return frame[column].astype("string").fillna("").to_numpy(dtype=object)
