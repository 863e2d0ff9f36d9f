"""Opaque cursors for keyset pagination over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from service.errors import InvalidInput


class _Keyed(Protocol):
    created_at: datetime
    id: str


T = TypeVar("T", bound=_Keyed)


@dataclass(frozen=True)
class Cursor:
    """The last item of a page; the next page starts strictly after it."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        """URL-safe base64 of ``[created_at, id]`` (clients must treat it as opaque)."""
        raw = json.dumps([self.created_at.astimezone(UTC).isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        """Parse a cursor from a previous page; ``InvalidInput`` (422) if it is not one."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            created_at, id_ = json.loads(raw)
            when = datetime.fromisoformat(created_at)
            if when.tzinfo is None or not isinstance(id_, str) or len(id_) > 64 or not id_.isprintable():
                raise ValueError("bad cursor fields")
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                "The cursor is not one this service returned.",
                errors=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "cursor_invalid"}],
            ) from exc
        return cls(created_at=when.astimezone(UTC), id=id_)


def after_key(cursor: str | None) -> tuple[datetime, str] | None:
    """The ``(created_at, id)`` a page starts after, from the previous page's cursor (None: the first page)."""
    if not cursor:
        return None
    after = Cursor.decode(cursor)
    return after.created_at, after.id


def page(rows: Sequence[T], limit: int) -> tuple[list[T], str | None]:
    """Rows read with ``limit + 1`` → the page and the next page's cursor (None when that extra row is absent)."""
    if len(rows) <= limit:
        return list(rows), None
    kept = list(rows[:limit])
    return kept, Cursor(created_at=kept[-1].created_at, id=kept[-1].id).encode()


__all__ = ["Cursor", "after_key", "page"]
