"""Image datasets: a zip with one folder per class, or image arrays from an ``.npz``; stored as uint8 NHWC.

Images are decoded with Pillow straight from memory (nothing is extracted to disk). Each image's header
is read first — cheap, no pixels — so sizes and colour modes are known before a single pixel is decoded,
and the decoded array is allocated once at its final size.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from trainers.dataset_format import DATA_NPZ, SCHEMA_JSON, SCHEMA_VERSION
from trainers.errors import DataError
from trainers.ingest.archive import check_members, read_member
from trainers.ingest.finish import build_profile, encode_target, write_npz
from trainers.ingest.limits import IngestLimits
from trainers.ingest.result import IngestResult, write_json
from trainers.ingest.target import TargetAnalysis, mode_share, outlier_share

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
_PIL_FORMATS = frozenset({"PNG", "JPEG", "MPO"})  # MPO: multi-picture JPEG as written by many cameras
_GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


def is_junk(path: PurePosixPath) -> bool:
    """Files that archivers add behind the user's back (macOS resource forks, Finder and Explorer caches)."""
    return "__MACOSX" in path.parts or path.name.startswith("._") or path.name in {".DS_Store", "Thumbs.db"}


def ingest_image_zip(
    path: Path,
    *,
    task: str | None,
    work_dir: Path,
    limits: IngestLimits,
    details: dict[str, Any],
    warnings: list[str],
) -> IngestResult:
    """Read a zip laid out as ``<class>/<image>.png|jpg`` into ``data.npz`` (x: N x H x W x C uint8, y).

    The class of an image is the name of the folder that directly contains it. Images whose size differs
    from the most common one are resized to it (bilinear) with a warning.

    Raises:
        DataError: ``unsafe-archive``, ``archive-bomb``, ``no-images``, ``invalid-layout`` and the target
            problems (``single-class-target``, ``too-few-rows``).
    """
    from PIL import Image

    with zipfile.ZipFile(path) as zf:
        members = check_members(zf, limits)
        candidates = [m for m in members if not is_junk(PurePosixPath(m.filename))]
        images = sorted(
            (m for m in candidates if PurePosixPath(m.filename).suffix.lower() in IMAGE_SUFFIXES),
            key=lambda m: m.filename,
        )
        others = len(candidates) - len(images)
        if not images:
            raise DataError(
                "no-images",
                f"The archive contains no PNG or JPEG images ({others} other file(s)); expected one folder "
                "per class, e.g. cats/001.png.",
                extra={"other_files": others},
            )
        at_root = [m.filename for m in images if len(PurePosixPath(m.filename).parts) < 2]
        if at_root:
            raise DataError(
                "invalid-layout",
                f"{len(at_root)} image(s) are at the top of the archive (e.g. {at_root[0]!r}); put each image "
                "in a folder named after its class.",
                extra={"examples": at_root[:5]},
            )
        if others:
            warnings.append(f"{others} file(s) in the archive are not PNG/JPEG images and were ignored.")

        raw: list[bytes] = []
        labels: list[str] = []
        headers: list[tuple[int, int, str]] = []
        unreadable: list[str] = []
        budget = limits.max_uncompressed_bytes
        for info in images:
            data = read_member(zf, info, budget)
            budget -= len(data)
            header = read_image_header(Image, data, limits, info.filename)
            if header is None:
                unreadable.append(info.filename)
                continue
            raw.append(data)
            headers.append(header)
            labels.append(PurePosixPath(info.filename).parts[-2])

    if unreadable:
        warnings.append(
            f"{len(unreadable)} file(s) could not be decoded as PNG/JPEG and were skipped: "
            + ", ".join(unreadable[:5])
            + ("..." if len(unreadable) > 5 else "")
        )
    if not raw:
        raise DataError(
            "no-images",
            f"None of the {len(images)} image file(s) in the archive could be decoded.",
            extra={"unreadable": unreadable[:20]},
        )

    (height, width), _ = Counter((h, w) for h, w, _ in headers).most_common(1)[0]
    channels = 1 if all(mode in _GRAY_MODES for _, _, mode in headers) else 3
    n = len(raw)
    if n * height * width * channels > limits.max_decoded_bytes:
        raise DataError(
            "archive-bomb",
            f"{n} images of {height}x{width}x{channels} would take more than {limits.max_decoded_bytes} bytes "
            "once decoded.",
            extra={"maximum_decoded_bytes": limits.max_decoded_bytes},
        )
    x = np.empty((n, height, width, channels), dtype=np.uint8)
    resized = 0
    for i, data in enumerate(raw):
        with Image.open(io.BytesIO(data)) as source:
            img = source.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), Image.Resampling.BILINEAR)
                resized += 1
            x[i] = np.asarray(img, dtype=np.uint8).reshape(height, width, channels)
        raw[i] = b""  # release the compressed bytes as we go
    if resized:
        warnings.append(f"{resized} image(s) were resized to the most common size {height}x{width} (height x width).")

    details["source"] = "image-folders"
    return finish_images(
        x,
        pa.chunked_array([pa.array(labels, pa.string())]),
        target="label",
        task=task,
        work_dir=work_dir,
        details=details | {"images_resized": resized, "images_unreadable": len(unreadable)},
        warnings=warnings,
        compress=True,
    )


def read_image_header(image_module: Any, data: bytes, limits: IngestLimits, name: str) -> tuple[int, int, str] | None:
    """Height, width and mode from the image header only; ``None`` when it is not a readable PNG/JPEG."""
    try:
        with image_module.open(io.BytesIO(data)) as img:
            if img.format not in _PIL_FORMATS:
                return None
            width, height = img.size
            mode = img.mode
    except (OSError, SyntaxError, ValueError, image_module.DecompressionBombError):
        return None
    if width * height > limits.max_image_pixels:
        raise DataError(
            "archive-bomb",
            f"Image {name!r} is {width}x{height} pixels, above the limit of {limits.max_image_pixels}.",
            extra={"member": name, "maximum_pixels": limits.max_image_pixels},
        )
    return height, width, mode


def to_uint8_images(x: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Bring an image array to N x H x W x C uint8 (channels last), saying what was changed.

    Accepts N x H x W (grey), N x H x W x C and channels-first N x C x H x W with C in 1, 3, 4. Floats in
    [0, 1] are scaled by 255, values already in [0, 255] are rounded, anything else is min-max scaled.
    """
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim == 4 and x.shape[-1] not in (1, 3, 4) and x.shape[1] in (1, 3, 4):
        warnings.append("The image array looked channels-first (N x C x H x W) and was transposed to N x H x W x C.")
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    elif x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(
            "invalid-arrays",
            f"Images must be N x H x W or N x H x W x C with C in 1, 3, 4; got shape {list(x.shape)}.",
            extra={"shape": list(x.shape)},
        )
    if x.dtype == np.uint8:
        return x
    if x.dtype == np.bool_:
        return x.astype(np.uint8) * 255
    values = x.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    n_bad = int(values.size - np.count_nonzero(finite))
    if n_bad:
        warnings.append(f"{n_bad} NaN/infinite pixel value(s) were set to 0.")
        values = np.where(finite, values, 0.0)
    lo, hi = float(values.min()), float(values.max())
    if lo >= 0 and hi <= 1 and np.issubdtype(x.dtype, np.floating):
        values = values * 255.0
    elif not (lo >= 0 and hi <= 255):
        warnings.append(f"Pixel values span [{lo:g}, {hi:g}] and were min-max scaled to [0, 255].")
        values = (values - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.rint(values).astype(np.uint8)


def finish_images(
    x: np.ndarray,
    labels: pa.ChunkedArray,
    *,
    target: str,
    task: str | None,
    work_dir: Path,
    details: dict[str, Any],
    warnings: list[str],
    compress: bool,
) -> IngestResult:
    """Validate image labels, write ``data.npz`` + ``schema.json`` and build the profile."""
    keep, y, analysis, dropped = encode_target(labels, target=target, task=task, warnings=warnings)
    if keep is not None:
        x = x[keep]
    _, height, width, channels = x.shape
    write_npz(work_dir / DATA_NPZ, compress=compress, x=x, y=y)
    write_json(
        work_dir / SCHEMA_JSON,
        {
            "schema_version": SCHEMA_VERSION,
            "format": "npz",
            "file": DATA_NPZ,
            "modality": "image",
            "task": analysis.task,
            "target": target,
            "classes": analysis.classes,
            "label_encoding": None if analysis.classes is None else "index into classes",
            "arrays": {
                "x": {"shape": list(x.shape), "dtype": "uint8", "layout": "NHWC"},
                "y": {"shape": list(y.shape), "dtype": str(y.dtype)},
            },
        },
    )
    profile = build_profile(
        modality="image",
        task=analysis.task,
        n_rows=len(x),
        class_counts=analysis.class_counts,
        target_outlier_share=outlier_share(y) if analysis.task == "regression" else None,
        target_mode_share=mode_share(y) if analysis.task == "regression" else None,
        missing_share=0.0,
        image_size=(int(height), int(width), int(channels)),
    )
    details.update(
        {
            "n_rows_original": len(x) + dropped,
            "dropped_nan_target_rows": dropped,
            "nonfinite_feature_cells": 0,
            "image_size": [int(height), int(width), int(channels)],
            "class_counts": _class_counts(analysis),
        }
    )
    return IngestResult(
        modality="image",
        task=analysis.task,
        task_reason=analysis.reason,
        target=target,
        profile=profile,
        details=details,
        warnings=warnings,
        files=[DATA_NPZ, SCHEMA_JSON],
    )


def _class_counts(analysis: TargetAnalysis) -> dict[str, int] | None:
    if analysis.classes is None or analysis.class_counts is None:
        return None
    return {str(c): int(n) for c, n in zip(analysis.classes, analysis.class_counts, strict=True)}
