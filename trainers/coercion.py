"""How a written cell is read as a boolean (or, in a known format, as a date): one reading for uploads and for
prediction rows.

An upload types a two-valued text column as boolean when its values are one of the pairs in
:data:`BOOLEAN_PAIRS` (``yes``/``no``, ``true``/``false``, ``y``/``n``, ``t``/``f``, any case).
Prediction rows for such a column may come from another tool, or be typed by hand, so they are read
with the whole vocabulary (:data:`TRUE_WORDS`/:data:`FALSE_WORDS`, plus ``1``/``0``) whatever pair
the upload used: ``"Yes"``, ``"y"``, ``"TRUE"``, ``1`` and ``True`` all mean true.

:func:`parse_booleans` is the only place that turns text into booleans; ingestion
(:mod:`trainers.ingest.columns`) and prediction (:func:`trainers.preprocess.coerce_column`) both call it.
Columnar (Arrow compute kernels), never a loop over rows.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Pairs an upload recognises as a boolean column (a column holding only one pair's words, any case).
BOOLEAN_PAIRS: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"true"}), frozenset({"false"})),
    (frozenset({"yes"}), frozenset({"no"})),
    (frozenset({"y"}), frozenset({"n"})),
    (frozenset({"t"}), frozenset({"f"})),
)
# Everything accepted as a boolean once a column is known to be boolean (lower case, trimmed).
TRUE_WORDS: frozenset[str] = frozenset({"true", "yes", "y", "t", "1", "1.0"})
FALSE_WORDS: frozenset[str] = frozenset({"false", "no", "n", "f", "0", "0.0"})


def boolean_pair(distinct: set[str]) -> frozenset[str] | None:
    """The true-words of the :data:`BOOLEAN_PAIRS` entry that covers ``distinct`` (lower-cased, trimmed
    values of a column), or ``None`` when the column is not a boolean written as words."""
    for true_set, false_set in BOOLEAN_PAIRS:
        if distinct and distinct <= true_set | false_set:
            return true_set
    return None


def parse_booleans(
    column: pa.Array | pa.ChunkedArray,
    true_words: frozenset[str] = TRUE_WORDS,
    false_words: frozenset[str] = FALSE_WORDS,
) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Read a text column as booleans (trimmed, any case).

    Returns ``(values, unreadable)``: ``values`` is a boolean column (missing where the input is missing
    or not a known word) and ``unreadable`` the input values that are present but not known words.
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column])
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    folded = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    is_true = pc.is_in(folded, value_set=pa.array(sorted(true_words), pa.string()))
    is_false = pc.is_in(folded, value_set=pa.array(sorted(false_words), pa.string()))
    known = pc.or_(is_true, is_false)
    # is_in maps null to false: known-false-or-missing is the missing mask plus the unreadable values.
    values = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
    unreadable = column.filter(pc.and_(pc.invert(known), pc.is_valid(column)))
    return values, unreadable


def parse_datetimes(text: pa.ChunkedArray | pa.Array, fmt: str) -> pa.ChunkedArray | pa.Array:
    """Timestamps (seconds, no time zone) of ``text`` written in the strptime format ``fmt``, surrounding spaces
    ignored; null where a value does not match. The one date reader of uploads (:mod:`trainers.ingest.columns`)
    and of prediction rows (:func:`trainers.preprocess.coerce_column`), so both give a model the same seconds."""
    return pc.strptime(pc.utf8_trim_whitespace(text), format=fmt, unit="s", error_is_null=True)
