"""Column types that behave the same on SQLite and PostgreSQL, plus id and clock helpers."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import zstandard
from pydantic import BaseModel
from sqlalchemy import JSON, DateTime, Dialect, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """``end - start`` in seconds, rounded to milliseconds; None when either is unknown."""
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def new_id() -> str:
    """A UUIDv7 string: random, but sorts by creation time (ms), which keeps B-tree inserts local."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 64 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return str(uuid.UUID(int=value))


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone-aware type: ``DateTime(timezone=True)`` silently drops the offset, so values
    are converted to UTC before they are written and get ``tzinfo=UTC`` attached when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # every zstd frame starts with it; a zlib stream starts with 0x78, JSON text with '{'
_CODECS = threading.local()  # zstd contexts are not thread safe: one compressor and one decompressor per thread


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    codecs: tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor] | None = getattr(_CODECS, "pair", None)
    if codecs is None:
        # The frame records the document's size, so reading it back needs no length of its own.
        codecs = _CODECS.pair = (
            zstandard.ZstdCompressor(level=CompactText.LEVEL, write_content_size=True),
            zstandard.ZstdDecompressor(),
        )
    return codecs


class CompactText(TypeDecorator[str]):
    """Large text (a stored recommendation) that SQLite keeps compressed; always read back as text.

    On SQLite the value is written as one zstd frame into the same TEXT column (SQLite stores a value with its own
    type, so no migration): a 22 KB document becomes about 5.6 KB, which is most of the cost of storing it (WAL
    pages and checkpoints). Why zstd: at level 1 it writes a smaller frame than zlib's fastest level (5.6 against
    5.9 KB on the benchmark's document) in about a quarter of the time (roughly 40 against 150 µs on a 2-core
    machine), on the writer thread of every stored recommendation. Rows written before stay as they were and read
    as they are: zlib streams (the earlier format) and plain text. PostgreSQL compresses large text itself (TOAST),
    so there the value is stored as plain text.
    """

    impl = Text
    cache_ok = True
    LEVEL = 1  # zstd's fastest regular level

    def process_bind_param(self, value: str | bytes | None, dialect: Dialect) -> str | bytes | None:
        """Text, or the same text already encoded as UTF-8 (a new document, as orjson wrote it)."""
        if value is None:
            return None
        if dialect.name != "sqlite":
            return value.decode("utf-8") if isinstance(value, bytes) else value
        return _zstd()[0].compress(value if isinstance(value, bytes) else value.encode("utf-8"))

    def process_result_value(self, value: str | bytes | None, dialect: Dialect) -> str | None:
        if isinstance(value, bytes):
            if value.startswith(ZSTD_MAGIC):
                return _zstd()[1].decompress(value).decode("utf-8")
            return zlib.decompress(value).decode("utf-8")  # written before zstd
        return value


def dumps_strict(value: Any) -> str:
    """JSON text for a database column: NaN/Infinity raise ``ValueError`` (PostgreSQL rejects them,
    SQLite would store them), so a non-finite number must be turned into null plus a reason upstream."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)


class StrictJSON(TypeDecorator[Any]):
    """A JSON column (JSONB on PostgreSQL) that refuses NaN and Infinity on write."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        # Fail at flush with a clear error rather than at the driver (PostgreSQL) or never (SQLite).
        # The engine's json_serializer is strict too; this check keeps the type safe on any engine.
        if value is not None:
            dumps_strict(value)
        return value


class ModelJSON(StrictJSON):
    """A JSON column holding one pydantic model: validated on every write, read back as that model.

    A plain dict is validated too (so nothing unchecked reaches the column); a row that no longer validates
    raises on read rather than handing on a half-understood document.
    """

    cache_ok = True

    def __init__(self, model: type[BaseModel]) -> None:
        super().__init__()
        self.model = model

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        document = value if isinstance(value, self.model) else self.model.model_validate(value)
        return super().process_bind_param(document.model_dump(mode="json"), dialect)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else self.model.model_validate(value)

    def copy_value(self, value: Any) -> Any:
        return value  # the models are frozen: nothing to copy
