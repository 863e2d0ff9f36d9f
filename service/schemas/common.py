"""Bounds shared by request fields: ids, one-line text, and free-form JSON values.

Every string that reaches the database is bounded and free of control characters (PostgreSQL refuses NUL
in text and JSON), and a free-form JSON value is finite, shallow and small, so nothing a client sends can
fail later, while it is serialized or stored, as a 500.
"""

from __future__ import annotations

import math
from typing import Any

# Stored ids are UUIDs; an id outside this alphabet names nothing (422 instead of a query that cannot match).
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
# One line of text without control characters.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"

MAX_JSON_DEPTH = 16
MAX_JSON_NODES = 10_000
MAX_JSON_STRING = 10_000


def check_plain_json(value: Any, *, what: str) -> Any:
    """Return ``value`` if it is plain JSON (dicts with string keys, lists, strings, finite numbers, bools,
    None) nested at most ``MAX_JSON_DEPTH`` deep, with at most ``MAX_JSON_NODES`` values and no NUL in its
    strings; raise ``ValueError`` naming ``what`` otherwise. Iterative: any depth is refused without recursion.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_JSON_NODES:
            raise ValueError(f"{what} has more than {MAX_JSON_NODES} values")
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or len(key) > MAX_JSON_STRING or "\x00" in key:
                    raise ValueError(f"{what} has a key that is not a short string without NUL")
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if len(item) > MAX_JSON_STRING or "\x00" in item:
                raise ValueError(f"{what} has a string longer than {MAX_JSON_STRING} characters or with NUL")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{what} must hold finite numbers only")
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) >= 2**63:
                raise ValueError(f"{what} has an integer outside the 64-bit range")
        elif item is not None and not isinstance(item, bool):
            raise ValueError(f"{what} must be plain JSON")
    return value
