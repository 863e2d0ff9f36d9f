"""A corpus of bad uploads, generated in code so the repository holds no binary test files.

Each :class:`BadInput` writes one file and says how ingestion must refuse it (HTTP status, problem slug,
and optionally machine-readable fields of the problem). Generators are small and deterministic.
"""

from __future__ import annotations

import gzip
import io
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainers.ingest.limits import IngestLimits


@dataclass(frozen=True)
class BadInput:
    """One bad upload: how to write it, what to pass to ``ingest`` and the expected refusal."""

    id: str
    write: Callable[[Path], None]
    status: int
    slug: str
    filename: str = "upload.csv"
    kwargs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    limits: IngestLimits | None = None


def _text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content.encode(encoding))


def _bytes(content: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(content)


def _table(rows: int = 40, *, target: Callable[[int], object] = lambda i: i % 2, sep: str = ",") -> str:
    lines = [sep.join(["a", "b", "churn"])]
    lines += [sep.join([str(i), str(i * 0.5 % 7), str(target(i))]) for i in range(rows)]
    return "\n".join(lines) + "\n"


def _png(size: tuple[int, int] = (8, 8), value: int = 128) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", size, value).save(buf, format="PNG")
    return buf.getvalue()


def _zip(members: dict[str, bytes], *, symlink: str | None = None, compression: int = zipfile.ZIP_STORED):
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            if symlink is not None:
                info = zipfile.ZipInfo(symlink)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, "/etc/passwd")

    return write


def _zip_raw_name(name: str, data: bytes) -> Callable[[Path], None]:
    """A member whose stored name is exactly ``name`` (ZipInfo would not strip it, but be explicit)."""

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as zf:
            info = zipfile.ZipInfo("placeholder.png")
            info.filename = name
            info.orig_filename = name
            zf.writestr(info, data)

    return write


def _ragged(path: Path) -> None:
    lines = ["a,b,churn"] + [f"{i},{i},{i % 2}" for i in range(50)]
    lines[31] = "1,2"  # line 32 of the file (the header is line 1)
    path.write_text("\n".join(lines) + "\n")


def _latin1_late(path: Path) -> None:
    # The bad byte sits beyond the 64 KiB the sniffer decodes, so the reader's fallback must locate it.
    rows = [f"{i},{i % 3},label{i % 2}" for i in range(9000)]
    body = ("a,b,churn\n" + "\n".join(rows) + "\n").encode()
    path.write_bytes(body + "9001,2,caf\xe9\n".encode("latin-1"))


def _npz(**arrays: Any) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)

    return write


def _object_npz(path: Path) -> None:
    x = np.empty(30, dtype=object)
    x[:] = [{"a": i} for i in range(30)]
    with open(path, "wb") as fh:
        np.savez(fh, x=x, y=np.arange(30) % 2)  # numpy pickles object arrays; ingest must refuse them


def _long_sequences_inconsistent(path: Path) -> None:
    lines = ["id,time,v,label"]
    for sid in range(25):
        for t in range(4):
            label = sid % 2 if not (sid == 7 and t == 2) else 1 - sid % 2
            lines.append(f"{sid},{t},{sid + t * 0.1},{label}")
    path.write_text("\n".join(lines) + "\n")


_LATIN1_OFFSET = len(b"a,b,churn\n1,2,caf")

BAD_INPUTS: list[BadInput] = [
    BadInput("empty-file", _bytes(b""), 400, "empty-file", kwargs={"target": "churn"}),
    BadInput("whitespace-only", _text("\n \n\t\n"), 400, "empty-file", kwargs={"target": "churn"}),
    BadInput("header-only", _text("a,b,churn\n"), 400, "empty-file", kwargs={"target": "churn"}),
    BadInput("ragged-csv", _ragged, 400, "malformed-csv", kwargs={"target": "churn"}, extra={"line": 32}),
    BadInput(
        "latin1-in-sample",
        _text("a,b,churn\n1,2,café\n", encoding="latin-1"),
        400,
        "not-utf8",
        kwargs={"target": "churn"},
        extra={"byte_offset": _LATIN1_OFFSET},
    ),
    BadInput("latin1-beyond-sample", _latin1_late, 400, "not-utf8", kwargs={"target": "churn"}),
    BadInput("utf16", _text("a,b,churn\n1,2,3\n", encoding="utf-16"), 400, "not-utf8", extra={"byte_offset": 0}),
    BadInput(
        "missing-target-near-miss",
        _text(_table()),
        422,
        "missing-target",
        kwargs={"target": "Churn "},
        extra={"closest": ["churn"]},
    ),
    BadInput("no-target-given", _text(_table()), 422, "missing-target"),
    BadInput(
        "single-class", _text(_table(target=lambda i: "yes")), 422, "single-class-target", kwargs={"target": "churn"}
    ),
    BadInput(
        "too-few-rows", _text(_table(rows=10)), 422, "too-few-rows", kwargs={"target": "churn"}, extra={"minimum": 20}
    ),
    BadInput(
        "too-few-after-nan-targets",
        _text(_table(rows=25, target=lambda i: "" if i % 3 == 0 else i % 2)),
        422,
        "too-few-rows",
        kwargs={"target": "churn"},
        extra={"dropped_nan_target_rows": 9, "rows": 16},
    ),
    BadInput(
        "class-with-one-row",
        _text(_table(target=lambda i: "rare" if i == 0 else ("a" if i % 2 else "b"))),
        422,
        "too-few-rows",
        kwargs={"target": "churn"},
        extra={"minimum_per_class": 2},
    ),
    BadInput(
        "regression-on-labels",
        _text(_table(target=lambda i: "ab"[i % 2])),
        422,
        "invalid-task",
        kwargs={"target": "churn", "task": "regression"},
    ),
    BadInput("unknown-task", _text(_table()), 422, "invalid-task", kwargs={"target": "churn", "task": "ranking"}),
    BadInput(
        "image-modality-for-csv",
        _text(_table()),
        422,
        "invalid-modality",
        kwargs={"target": "churn", "modality": "image"},
    ),
    BadInput(
        "audio-modality", _text(_table()), 422, "invalid-modality", kwargs={"target": "churn", "modality": "audio"}
    ),
    BadInput(
        "target-only",
        _text("churn\n" + "\n".join(str(i % 2) for i in range(40)) + "\n"),
        422,
        "no-features",
        kwargs={"target": "churn"},
    ),
    BadInput(
        "sequence-label-changes",
        _long_sequences_inconsistent,
        422,
        "malformed-sequence",
        kwargs={"target": "label"},
        extra={"id": "7"},
    ),
    BadInput("zip-dotdot", _zip_raw_name("../evil.png", _png()), 400, "unsafe-archive", filename="x.zip"),
    BadInput(
        "zip-nested-dotdot", _zip_raw_name("cats/../../evil.png", _png()), 400, "unsafe-archive", filename="x.zip"
    ),
    BadInput("zip-absolute", _zip_raw_name("/tmp/evil.png", _png()), 400, "unsafe-archive", filename="x.zip"),
    BadInput(
        "zip-symlink", _zip({"cats/a.png": _png()}, symlink="cats/link.png"), 400, "unsafe-archive", filename="x.zip"
    ),
    BadInput(
        "zip-bomb",
        _zip({"cats/a.png": bytes(8 << 20)}, compression=zipfile.ZIP_DEFLATED),
        413,
        "archive-bomb",
        filename="x.zip",
    ),
    BadInput(
        "zip-too-big-unpacked",
        _zip({"cats/a.png": _png(), "dogs/b.png": _png()}),
        413,
        "archive-bomb",
        filename="x.zip",
        limits=IngestLimits(max_uncompressed_bytes=100),
    ),
    BadInput(
        "image-too-many-pixels",
        _zip({"cats/a.png": _png((64, 64)), "dogs/b.png": _png()}),
        413,
        "archive-bomb",
        filename="x.zip",
        limits=IngestLimits(max_image_pixels=1000),
    ),
    BadInput(
        "zip-no-images",
        _zip({"notes/readme.txt": b"hello", "data/a.csv": b"a,b\n1,2\n"}),
        422,
        "no-images",
        filename="x.zip",
    ),
    BadInput("zip-images-at-root", _zip({"a.png": _png(), "b.png": _png()}), 422, "invalid-layout", filename="x.zip"),
    BadInput(
        "zip-single-class",
        _zip({f"cats/{i}.png": _png() for i in range(25)}),
        422,
        "single-class-target",
        filename="x.zip",
    ),
    BadInput("zip-broken", _bytes(b"PK\x03\x04" + b"\x00" * 60), 400, "malformed-file", filename="x.zip"),
    BadInput(
        "office-document",
        _zip({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}),
        415,
        "unsupported-type",
        filename="book.xlsx",
    ),
    BadInput("binary-garbage", _bytes(bytes(range(256)) * 4), 415, "unsupported-type", filename="blob.bin"),
    BadInput("gzip", _bytes(gzip.compress(b"a,b\n1,2\n")), 415, "unsupported-type", filename="data.csv.gz"),
    BadInput("single-png", _bytes(_png()), 415, "unsupported-type", filename="cat.png"),
    BadInput("json-by-name", _text('{"a": 1}'), 415, "unsupported-type", filename="data.json"),
    BadInput("truncated-parquet", _bytes(b"PAR1" + b"\x01" * 100), 400, "malformed-file", filename="d.parquet"),
    BadInput("parquet-name-csv-bytes", _text(_table()), 400, "malformed-file", filename="d.parquet"),
    BadInput("npz-object-array", _object_npz, 422, "invalid-arrays", filename="d.npz"),
    BadInput("npz-without-y", _npz(x=np.zeros((30, 4)), labels=np.zeros(30)), 422, "invalid-arrays", filename="d.npz"),
    BadInput("npz-length-mismatch", _npz(x=np.zeros((30, 4)), y=np.zeros(29)), 422, "invalid-arrays", filename="d.npz"),
    BadInput(
        "npz-5d", _npz(x=np.zeros((30, 2, 2, 2, 2)), y=np.arange(30) % 2), 422, "invalid-arrays", filename="d.npz"
    ),
]
