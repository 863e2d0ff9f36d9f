"""Recognise what an upload is, hash it, and guess how a CSV is written — stdlib only.

The file type comes from magic bytes first and the client's file name second: a name is a claim, the bytes
are a fact. The name is never used to build a path.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from trainers.errors import DataError
from trainers.ingest.limits import CSV_DELIMITERS, SNIFF_BYTES, UTF8_SCAN_CHUNK

FileFormat = Literal["csv", "parquet", "image-zip", "npz"]

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

# Formats people plausibly upload that we recognise but do not read, so the 415 can say what it saw.
_FOREIGN_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed data (upload the uncompressed file)"),
    (b"BZh", "bzip2-compressed data (upload the uncompressed file)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (upload the uncompressed file)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (use .zip)"),
    (b"Rar!", "a RAR archive (use .zip)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a single PNG image (upload a zip with one folder per class)"),
    (b"\xff\xd8\xff", "a single JPEG image (upload a zip with one folder per class)"),
    (b"\x93NUMPY", "a single .npy array (upload an .npz with arrays x and y)"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document (export as CSV)"),
    (b"SQLite format 3\x00", "an SQLite database (export as CSV or Parquet)"),
    (b"ARROW1", "an Arrow IPC file (use Parquet)"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
)

SUPPORTED_FORMATS = "CSV, Parquet, .npz (x, y) or a zip of PNG/JPEG images in one folder per class"


def detect_format(path: Path, filename: str | None = None) -> FileFormat:
    """Decide how to read ``path``: by magic bytes, then by the content of zips, then by the name.

    Raises:
        DataError: ``empty-file`` for zero bytes, ``unsupported-type`` for formats we recognise but do not
            read or binary content we cannot place, ``malformed-file`` for a damaged zip.
    """
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        raise DataError("empty-file", "The uploaded file is empty (0 bytes).")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    if head.startswith(b"PAR1"):
        return "parquet"
    for magic, what in _FOREIGN_MAGIC:
        if head.startswith(magic):
            raise DataError(
                "unsupported-type",
                f"The file is {what}; supported are {SUPPORTED_FORMATS}.",
                extra={"detected": what},
            )
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix in {".parquet", ".pq", ".npz", ".zip"}:
        # The name promises a binary container but the bytes are something else (often a truncated file).
        raise DataError(
            "malformed-file",
            f"The file is named '*{suffix}' but does not start with that format's signature.",
            extra={"extension": suffix},
        )
    if suffix in {".xlsx", ".xls", ".json", ".jsonl", ".h5", ".hdf5", ".feather", ".pkl", ".pickle"}:
        raise DataError(
            "unsupported-type",
            f"'{suffix}' files are not supported; supported are {SUPPORTED_FORMATS}.",
            extra={"extension": suffix},
        )
    return "csv"


def _zip_kind(path: Path) -> FileFormat:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [info.filename for info in zf.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError("malformed-file", f"The zip archive cannot be read: {exc}.") from exc
    if "[Content_Types].xml" in names:
        raise DataError(
            "unsupported-type",
            f"The file is an Office document (e.g. .xlsx); export it as CSV. Supported are {SUPPORTED_FORMATS}.",
            extra={"detected": "office-open-xml"},
        )
    if names and all(name.endswith(".npy") for name in names):
        return "npz"
    return "image-zip"


def find_invalid_utf8(path: Path, *, start: int = 0, chunk_size: int = UTF8_SCAN_CHUNK) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence in ``path`` (from ``start``), or ``None`` if valid.

    Decodes incrementally so a multi-byte character split across two chunks is not mistaken for an error.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = start
    with open(path, "rb") as fh:
        fh.seek(start)
        while True:
            chunk = fh.read(chunk_size)
            final = not chunk
            pending = len(decoder.getstate()[0])
            try:
                if not chunk.isascii() or pending:
                    decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # The decoder reports positions within (bytes held back from the last chunk + this chunk).
                return offset - pending + exc.start
            if final:
                return None
            offset += len(chunk)


def not_utf8_error(offset: int) -> DataError:
    """The ``not-utf8`` problem for a given byte offset."""
    return DataError(
        "not-utf8",
        f"The file is not valid UTF-8: the first invalid byte is at offset {offset}. "
        "Save it as UTF-8 (with or without BOM) and upload it again.",
        extra={"byte_offset": offset},
    )


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is written, as guessed from its first :data:`SNIFF_BYTES` bytes."""

    delimiter: str
    has_header: bool
    column_names: list[str]
    header_reason: str
    quotes_in_data: bool
    decimal_comma: bool
    has_bom: bool
    longest_line: int = 0
    renamed: dict[str, str] = field(default_factory=dict)


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
_DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+")


def sniff_csv(path: Path, *, target: str | None = None, known_columns: Collection[str] = ()) -> CsvDialect:
    """Guess delimiter (comma, semicolon, tab, pipe), header presence and column names of a CSV file.

    Header rule: a first row that names the requested target or one of ``known_columns`` (a model's
    features, for prediction rows), or that has no numeric cell, is a header. Ambiguous all-text files
    are read as having a header, which is by far the common case.

    Raises:
        DataError: ``not-utf8`` (with the byte offset) when the sample does not decode,
            ``unsupported-type`` for binary content, ``empty-file`` when there is no text at all.
    """
    raw, bom_len = _read_sample(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise not_utf8_error(bom_len + exc.start) from exc
    if not text.strip():
        raise DataError("empty-file", "The file contains no data (only whitespace).")

    delimiter, rows = _pick_delimiter(text)
    if not rows:
        raise DataError("malformed-csv", "The CSV file is malformed: no delimiter splits its first rows into fields.")
    first = [cell.strip() for cell in rows[0]]
    if target is not None and target in first:
        has_header, reason = True, f"the first row names the target column '{target}'"
    elif known_columns and not set(known_columns).isdisjoint(first):
        has_header, reason = True, "the first row names columns the model was trained on"
    elif any(_NUMBER.fullmatch(cell) for cell in first if cell):
        has_header, reason = False, "the first row contains numbers"
    else:
        has_header, reason = True, "the first row contains no numbers"

    width = max((len(r) for r in rows), key=[len(r) for r in rows].count)
    raw_names = first if has_header else [""] * width
    names, renamed = _clean_names(raw_names)

    body_start = text.find("\n") + 1 if has_header else 0
    data_cells = [cell.strip() for row in rows[1 if has_header else 0 :] for cell in row]
    n_comma = sum(1 for cell in data_cells if _DECIMAL_COMMA.fullmatch(cell))
    n_point = sum(1 for cell in data_cells if _DECIMAL_POINT.fullmatch(cell))
    return CsvDialect(
        delimiter=delimiter,
        has_header=has_header,
        column_names=names,
        header_reason=reason,
        quotes_in_data='"' in text[body_start:],
        decimal_comma=delimiter != "," and n_comma > 0 and n_point == 0,
        has_bom=bom_len > 0,
        longest_line=max(len(line) for line in raw.split(b"\n")),
        renamed=renamed,
    )


def _read_sample(path: Path) -> tuple[bytes, int]:
    """The first complete lines of the file (BOM removed) and the length of the removed BOM."""
    with open(path, "rb") as fh:
        raw = fh.read(SNIFF_BYTES)
        # A header wider than the sample (thousands of columns): keep reading up to a sane cap.
        while b"\n" not in raw and len(raw) < 64 * SNIFF_BYTES:
            more = fh.read(SNIFF_BYTES)
            if not more:
                break
            raw += more
        at_eof = not fh.read(1)
    if raw.startswith(_UTF16_BOMS):
        raise DataError(
            "not-utf8",
            "The file is UTF-16 encoded (byte-order mark at offset 0); save it as UTF-8 and upload it again.",
            extra={"byte_offset": 0, "encoding": "utf-16"},
        )
    if b"\x00" in raw:
        raise DataError(
            "unsupported-type",
            f"The file looks binary (it contains NUL bytes) and is not a format we read; "
            f"supported are {SUPPORTED_FORMATS}.",
            extra={"byte_offset": raw.index(b"\x00")},
        )
    bom_len = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    raw = raw[bom_len:]
    if not at_eof and b"\n" in raw:
        # Drop the partial last line so the sample never ends inside a multi-byte character or a row.
        raw = raw[: raw.rindex(b"\n") + 1]
    return raw, bom_len


def _pick_delimiter(text: str) -> tuple[str, list[list[str]]]:
    """The delimiter under which most sampled rows have the same number (> 1) of fields."""
    best: tuple[float, int, int] | None = None
    best_delim, best_rows = ",", []
    for rank, delim in enumerate(CSV_DELIMITERS):
        try:
            # newline="": a bare "\r" ends a row, as in Arrow's reader (else the csv module refuses the sample).
            rows = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if row]
        except csv.Error:
            continue  # e.g. a whole wide line as one field beyond the csv module's field limit
        if not rows:
            continue
        widths = [len(row) for row in rows]
        mode = max(set(widths), key=widths.count)
        consistency = widths.count(mode) / len(widths)
        score = (consistency, mode, -rank) if mode > 1 else (0.0, 1, -rank)
        if best is None or score > best:
            best, best_delim, best_rows = score, delim, rows
    return best_delim, best_rows


def _clean_names(raw: list[str]) -> tuple[list[str], dict[str, str]]:
    """Give empty header cells a name and make duplicates unique (``name.1``), as pandas does."""
    names: list[str] = []
    renamed: dict[str, str] = {}
    seen: set[str] = set()
    for i, name in enumerate(raw):
        new = name or f"column_{i + 1}"
        k = 1
        while new in seen:
            new = f"{name or 'column'}.{k}"
            k += 1
        if new != name and name:
            renamed[f"{name} (column {i + 1})"] = new
        seen.add(new)
        names.append(new)
    return names, renamed
