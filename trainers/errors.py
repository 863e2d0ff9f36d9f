"""One family of errors for the trainers: :class:`TrainerError`, each with a :data:`ErrorKind`.

Every exception the trainers raise on purpose derives from :class:`TrainerError` and says what kind of
problem it is; nothing here knows HTTP. The service chooses a status from the kind (and renders a
:class:`DataError` as RFC 9457 ``application/problem+json`` with ``type = <base>/problems/{type_slug}``).

A :class:`DataError` is always the *user's* problem (a malformed file, a missing column, an archive that is
unsafe); anything else that escapes ingestion is a bug and must surface as a 500. Its kind and title are
looked up from :data:`PROBLEM_TYPES` by slug, so every raise site agrees on them and the list of data problems
is readable in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

ErrorKind = Literal[
    "malformed",  # the bytes are broken: an empty file, a bad CSV, not UTF-8, an unsafe or damaged archive
    "too_large",  # bigger than allowed once unpacked
    "unsupported",  # a file format, task, modality, device or export this code does not handle
    "data",  # readable data that cannot be used as asked: no target, too few rows, columns that do not fit
    "config",  # a parameter unknown to the trainer or with a value it cannot apply
    "unknown",  # no trainer is registered under that name
    "stopped",  # training stopped by its time budget or a cancel
    "integrity",  # a stored artifact or dataset is missing, tampered with, or holds refused types
    "state",  # used out of order: predicting before fit or load
]


class TrainerError(Exception):
    """Base of every error the trainers raise on purpose; ``kind`` says which kind of problem it is."""

    kind: ClassVar[ErrorKind] = "data"


@dataclass(frozen=True)
class ProblemType:
    """A stable kind of data problem: its kind and a short title shared by every occurrence."""

    kind: ErrorKind
    title: str


# malformed: the bytes themselves are broken; too_large: too big once unpacked; unsupported: a format we do not
# read; data: a readable file that cannot be used as asked (wrong target, too small, contradicting overrides).
PROBLEM_TYPES: dict[str, ProblemType] = {
    "empty-file": ProblemType("malformed", "The file is empty"),
    "malformed-csv": ProblemType("malformed", "The CSV file is malformed"),
    "malformed-file": ProblemType("malformed", "The file is damaged or not what its type says"),
    "not-utf8": ProblemType("malformed", "The text is not UTF-8"),
    "unsafe-archive": ProblemType("malformed", "The archive contains unsafe paths"),
    "archive-bomb": ProblemType("too_large", "The archive expands too much"),
    "unsupported-type": ProblemType("unsupported", "Unsupported file type"),
    "missing-target": ProblemType("data", "The target column is missing"),
    "single-class-target": ProblemType("data", "The target has a single value"),
    "too-many-classes": ProblemType("data", "The target has too many classes"),
    "too-few-rows": ProblemType("data", "Too few rows to train on"),
    "no-features": ProblemType("data", "No usable feature columns"),
    "invalid-task": ProblemType("data", "The requested task does not fit the target"),
    "invalid-modality": ProblemType("data", "The requested modality does not fit the data"),
    "invalid-arrays": ProblemType("data", "The arrays do not have the expected shape or type"),
    "invalid-layout": ProblemType("data", "The archive is not laid out as one folder per class"),
    "no-images": ProblemType("data", "The archive contains no images"),
    "malformed-sequence": ProblemType("data", "The sequences are inconsistent"),
}


class DataError(TrainerError):
    """A user-caused problem with an uploaded dataset or with samples sent for prediction.

    Attributes:
        type_slug: short stable identifier (a key of :data:`PROBLEM_TYPES`), e.g. ``"malformed-csv"``.
        kind: the slug's kind (``malformed``, ``too_large``, ``unsupported`` or ``data``).
        title: short summary, the same for every occurrence of this slug.
        detail: one sentence about *this* occurrence (line number, byte offset, closest names, minimum...).
        extra: machine-readable fields backing the detail, e.g. ``{"line": 17}``; JSON-serialisable.
    """

    def __init__(self, type_slug: str, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        # An unknown slug is a programming error: fail loudly rather than invent a kind.
        problem = PROBLEM_TYPES[type_slug]
        super().__init__(detail)
        self.type_slug = type_slug
        self.kind = problem.kind  # type: ignore[misc]  # per instance: the slug decides it
        self.title = problem.title
        self.detail = detail
        self.extra: dict[str, Any] = dict(extra or {})

    def __repr__(self) -> str:
        return f"DataError({self.type_slug!r}, {self.detail!r}, extra={self.extra!r})"
