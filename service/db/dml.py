"""Typed views of two things SQLAlchemy annotates more widely than they are at run time."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table

from service.db.base import Base


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched. ``Session.execute`` is annotated to return a ``Result``; for
    a DML statement it returns a ``CursorResult``, which is what carries ``rowcount``."""
    return cast("CursorResult[Any]", result).rowcount


def table(model: type[Base]) -> Table:
    """A mapped class's ``Table`` (``__table__`` is annotated as the wider ``FromClause``)."""
    found = model.__table__
    assert isinstance(found, Table), f"{model.__name__} is not mapped to a Table"
    return found
