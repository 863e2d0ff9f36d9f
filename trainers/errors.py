"""Errors the data layer raises for bad user input.

A :class:`DataError` is always the *user's* problem (a malformed file, a missing column, an archive that is
unsafe); anything else that escapes ingestion is a bug and must surface as a 500. The service renders a
``DataError`` as RFC 9457 ``application/problem+json`` with ``type = <base>/problems/{type_slug}``; this
module only supplies the slug, the status, a title and a human detail.

Status and title are looked up from :data:`PROBLEM_TYPES` by slug, so every raise site agrees on them and the
list of problems the API can answer with is readable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProblemType:
    """A stable kind of data problem: HTTP status and a short title shared by every occurrence."""

    status: int
    title: str


# 400: the bytes themselves are broken; 413: too big once unpacked; 415: a format we do not read;
# 422: a readable file that cannot be used as asked (wrong target, too small, contradicting overrides).
PROBLEM_TYPES: dict[str, ProblemType] = {
    "empty-file": ProblemType(400, "The file is empty"),
    "malformed-csv": ProblemType(400, "The CSV file is malformed"),
    "malformed-file": ProblemType(400, "The file is damaged or not what its type says"),
    "not-utf8": ProblemType(400, "The text is not UTF-8"),
    "unsafe-archive": ProblemType(400, "The archive contains unsafe paths"),
    "archive-bomb": ProblemType(413, "The archive expands too much"),
    "unsupported-type": ProblemType(415, "Unsupported file type"),
    "missing-target": ProblemType(422, "The target column is missing"),
    "single-class-target": ProblemType(422, "The target has a single value"),
    "too-many-classes": ProblemType(422, "The target has too many classes"),
    "too-few-rows": ProblemType(422, "Too few rows to train on"),
    "no-features": ProblemType(422, "No usable feature columns"),
    "invalid-task": ProblemType(422, "The requested task does not fit the target"),
    "invalid-modality": ProblemType(422, "The requested modality does not fit the data"),
    "invalid-arrays": ProblemType(422, "The arrays do not have the expected shape or type"),
    "invalid-layout": ProblemType(422, "The archive is not laid out as one folder per class"),
    "no-images": ProblemType(422, "The archive contains no images"),
    "malformed-sequence": ProblemType(422, "The sequences are inconsistent"),
}


class DataError(Exception):
    """A user-caused problem with an uploaded dataset.

    Attributes:
        type_slug: short stable identifier (a key of :data:`PROBLEM_TYPES`), e.g. ``"malformed-csv"``.
        status: HTTP status the service answers with (400, 413, 415 or 422).
        title: short summary, the same for every occurrence of this slug.
        detail: one sentence about *this* occurrence (line number, byte offset, closest names, minimum...).
        extra: machine-readable fields backing the detail, e.g. ``{"line": 17}``; JSON-serialisable.
    """

    def __init__(self, type_slug: str, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        # An unknown slug is a programming error: fail loudly rather than invent a status.
        problem = PROBLEM_TYPES[type_slug]
        super().__init__(detail)
        self.type_slug = type_slug
        self.status = problem.status
        self.title = problem.title
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})

    def __repr__(self) -> str:
        return f"DataError({self.type_slug!r}, {self.detail!r}, extra={self.extra!r})"
