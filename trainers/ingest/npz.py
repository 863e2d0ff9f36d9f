"""``.npz`` uploads (arrays ``x`` and ``y``): load safely, decide the modality from the shape, store.

``np.load`` is not used on uploads: each member's ``.npy`` header is read and checked against the bytes the
zip declares *before* any array memory is allocated, object arrays (which need pickle) are refused, and
only ``x`` and ``y`` are ever read.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from trainers.errors import DataError
from trainers.ingest.archive import check_members
from trainers.ingest.csv_tabular import ingest_table
from trainers.ingest.images import finish_images, to_uint8_images
from trainers.ingest.limits import IngestLimits
from trainers.ingest.result import IngestResult
from trainers.ingest.sequences import finish_sequences

_X_KEYS = ("x", "X")
_Y_KEYS = ("y", "Y")


def load_npz(path: Path, limits: IngestLimits, warnings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ``x`` and ``y`` arrays of an ``.npz`` upload.

    Raises:
        DataError: ``invalid-arrays`` when ``x``/``y`` are missing or hold Python objects,
            ``malformed-file`` when a member's header disagrees with its size, plus the archive checks.
    """
    from numpy.lib import format as npy_format

    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename.removesuffix(".npy"): info for info in check_members(zf, limits)}
            x_key = next((k for k in _X_KEYS if k in members), None)
            y_key = next((k for k in _Y_KEYS if k in members), None)
            if x_key is None or y_key is None:
                raise DataError(
                    "invalid-arrays",
                    f"The .npz must contain arrays named 'x' and 'y'; it contains {sorted(members)[:10]}.",
                    extra={"arrays": sorted(members)[:50]},
                )
            unused = sorted(set(members) - {x_key, y_key})
            if unused:
                warnings.append(f"Arrays other than x and y were ignored: {', '.join(unused[:10])}.")
            return (
                _read_npy(zf, members[x_key], npy_format),
                _read_npy(zf, members[y_key], npy_format),
            )
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataError("malformed-file", f"The .npz archive cannot be read: {exc}.") from exc


def load_npz_x(path: Path, limits: IngestLimits, warnings: list[str]) -> np.ndarray:
    """The ``x`` array of an ``.npz`` of inputs to predict (a ``y``, if there is one, is ignored).

    Raises:
        DataError: ``invalid-arrays`` when ``x`` is missing or holds Python objects, ``malformed-file`` when
            its header disagrees with its size, plus the archive checks.
    """
    from numpy.lib import format as npy_format

    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename.removesuffix(".npy"): info for info in check_members(zf, limits)}
            x_key = next((k for k in _X_KEYS if k in members), None)
            if x_key is None:
                raise DataError(
                    "invalid-arrays",
                    f"The .npz must contain an array named 'x'; it contains {sorted(members)[:10]}.",
                    extra={"arrays": sorted(members)[:50]},
                )
            unused = sorted(set(members) - {x_key, *_Y_KEYS})
            if unused:
                warnings.append(f"Arrays other than x were ignored: {', '.join(unused[:10])}.")
            return _read_npy(zf, members[x_key], npy_format)
    except (zipfile.BadZipFile, EOFError) as exc:
        raise DataError("malformed-file", f"The .npz archive cannot be read: {exc}.") from exc


def _read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, npy_format: Any) -> np.ndarray:
    name = info.filename
    with zf.open(info) as fh:
        try:
            version = npy_format.read_magic(fh)
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
        except ValueError as exc:
            raise DataError("malformed-file", f"Array {name!r} is not a valid .npy: {exc}.") from exc
        if dtype.hasobject:
            raise DataError(
                "invalid-arrays",
                f"Array {name!r} holds Python objects, which are refused (loading them would need pickle); "
                "save numbers or fixed-width strings.",
                extra={"array": name, "dtype": str(dtype)},
            )
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if fh.tell() + nbytes != info.file_size:
            raise DataError(
                "malformed-file",
                f"Array {name!r} declares shape {list(shape)} ({nbytes} bytes) but the archive holds "
                f"{info.file_size - fh.tell()} bytes of data.",
                extra={"array": name},
            )
        buffer = bytearray(nbytes)
        view = memoryview(buffer)
        filled = 0
        while filled < nbytes:
            # zf.open gives a ZipExtFile (a BufferedIOBase, which has readinto); typeshed says IO[bytes].
            got = fh.readinto(view[filled:])  # type: ignore[attr-defined]
            if not got:
                raise DataError("malformed-file", f"Array {name!r} is truncated.", extra={"array": name})
            filled += got
    array = np.frombuffer(buffer, dtype=dtype)
    return array.reshape(shape, order="F" if fortran else "C")


def ingest_npz(
    path: Path,
    *,
    target: str | None,
    task: str | None,
    modality: str | None,
    work_dir: Path,
    limits: IngestLimits,
    details: dict[str, Any],
    warnings: list[str],
) -> IngestResult:
    """Store arrays ``x`` (N x D, N x H x W[x C] or N x T x F) and ``y`` as the matching modality.

    Without a requested modality: 2-D ``x`` is tabular, 4-D is images, 3-D is images when uint8 or square
    (H == W) and sequences otherwise.
    """
    x, y = load_npz(path, limits, warnings)
    if target not in (None, "y", "Y"):
        warnings.append(f"The target of an .npz is always its array 'y'; the given target {target!r} was ignored.")
    if x.dtype.kind not in "biuf":
        raise DataError(
            "invalid-arrays", f"x must hold numbers, not {x.dtype}.", extra={"array": "x", "dtype": str(x.dtype)}
        )
    if x.ndim < 2 or len(x) != len(y):
        raise DataError(
            "invalid-arrays",
            f"x must have one row per label: x has shape {list(x.shape)}, y has shape {list(y.shape)}.",
            extra={"x_shape": list(x.shape), "y_shape": list(y.shape)},
        )
    labels = _labels(y, warnings)
    chosen, why = _modality(x, modality)
    details["modality_reason"] = why
    details["arrays"] = {"x": {"shape": list(x.shape), "dtype": str(x.dtype)}, "y": {"shape": list(y.shape)}}

    if chosen == "tabular":
        columns: dict[str, np.ndarray | pa.ChunkedArray] = {f"x{i}": x[:, i] for i in range(x.shape[1])}
        # pa.table takes NumPy and chunked columns; the stub names sequences and arrays only.
        table = pa.table(columns | {"y": labels})  # type: ignore[arg-type]
        return ingest_table(
            table, target="y", task=task, modality="tabular", work_dir=work_dir, details=details, warnings=warnings
        )
    if chosen == "image":
        details["source"] = "npz"
        return finish_images(
            to_uint8_images(x, warnings),
            labels,
            target="y",
            task=task,
            work_dir=work_dir,
            details=details,
            warnings=warnings,
            compress=True,
        )
    x3 = x[..., None] if x.ndim == 2 else x
    if x3.ndim != 3:
        raise DataError(
            "invalid-arrays",
            f"Sequences must be N x T x F (or N x T); got shape {list(x.shape)}.",
            extra={"shape": list(x.shape)},
        )
    return finish_sequences(
        x3.astype(np.float32, copy=False),
        labels,
        lengths=None,
        ids=None,
        target="y",
        task=task,
        work_dir=work_dir,
        details=details,
        warnings=warnings,
    )


def _modality(x: np.ndarray, requested: str | None) -> tuple[str, str]:
    shape = "x".join(str(d) for d in x.shape)
    if requested is not None:
        allowed = {2: ("tabular", "sequence"), 3: ("image", "sequence"), 4: ("image",)}.get(x.ndim, ())
        if requested not in allowed:
            raise DataError(
                "invalid-modality",
                f"An array x of shape {shape} cannot be read as modality {requested!r}"
                + (f"; possible: {', '.join(allowed)}." if allowed else "."),
                extra={"modality": requested, "shape": list(x.shape)},
            )
        return requested, "requested"
    if x.ndim == 2:
        return "tabular", f"x is 2-D ({shape}): one feature vector per row"
    if x.ndim == 4:
        return "image", f"x is 4-D ({shape}): N x H x W x C images"
    if x.ndim == 3:
        if x.dtype == np.uint8:
            return "image", f"x is 3-D uint8 ({shape}): greyscale images (pass modality='sequence' otherwise)"
        if x.shape[1] == x.shape[2]:
            return (
                "image",
                f"x is 3-D with square slices ({shape}): greyscale images (pass modality='sequence' otherwise)",
            )
        return "sequence", f"x is 3-D ({shape}): N x T x F sequences (pass modality='image' otherwise)"
    raise DataError(
        "invalid-arrays",
        f"x must be 2-D (tabular), 3-D (sequences or greyscale images) or 4-D (images); got {x.ndim}-D.",
        extra={"shape": list(x.shape)},
    )


def _labels(y: np.ndarray, warnings: list[str]) -> pa.ChunkedArray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    elif y.ndim == 2 and y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all():
        warnings.append("y was one-hot encoded and was converted to integer class ids.")
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise DataError(
            "invalid-arrays",
            f"y must be 1-D (one label per row) or one-hot; got shape {list(y.shape)}.",
            extra={"y_shape": list(y.shape)},
        )
    if y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8", errors="replace")
    if y.dtype.kind not in "biufU":
        raise DataError(
            "invalid-arrays", f"y must hold numbers or strings, not {y.dtype}.", extra={"dtype": str(y.dtype)}
        )
    return pa.chunked_array([pa.array(y)])
