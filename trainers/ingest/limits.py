"""Named thresholds of the data layer, each with the reason it has the value it has.

Kept in one module so that a reviewer can see every magic number ingestion relies on, and so that tests and
the service can override the resource limits (:class:`IngestLimits`) without monkeypatching.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- Sizes a training run needs -----------------------------------------------------------------------
MIN_ROWS = 20
"""Fewest labelled rows we accept: below this no held-out score means anything."""

MIN_ROWS_PER_CLASS = 2
"""A class needs at least two rows to appear on both sides of a stratified train/validation split."""

MAX_CLASSES = 1_000
"""More distinct labels than this is almost always an identifier or a continuous value chosen as target."""

# --- Target task inference -----------------------------------------------------------------------------
CLASSIFICATION_MAX_DISTINCT = 20
"""An integer target with at most this many distinct values may be a class label ..."""

CLASSIFICATION_MAX_DISTINCT_RATIO = 0.1
"""... provided there are at least 10 rows per distinct value on average; otherwise it is a count/amount."""

# --- Column type inference -----------------------------------------------------------------------------
TEXT_MIN_MEAN_CHARS = 30
"""Strings this long on average are free text rather than category labels."""

TEXT_MIN_MEAN_TOKENS = 4.0
"""... and must read as several words: long unique tokens without spaces are hashes/URLs, i.e. identifiers."""

TEXT_MIN_DISTINCT_RATIO = 0.5
"""Free text rarely repeats; a long string that repeats a lot is a category with a long name."""

IDENTIFIER_MIN_UNIQUE_RATIO = 0.99
"""A column whose values are (almost) all distinct carries no pattern a model could learn from."""

DATETIME_MIN_PARSE_SHARE = 0.95
"""Share of sampled non-missing strings that must parse with one format for a column to be a datetime."""

DATETIME_SAMPLE = 1_000
"""Strings tried per column when looking for a datetime format (a full parse happens only on success)."""

# --- CSV sniffing --------------------------------------------------------------------------------------
SNIFF_BYTES = 64 * 1024
"""Bytes read from the start of a text file to guess delimiter and header."""

CSV_DELIMITERS = (",", ";", "\t", "|")

UTF8_SCAN_CHUNK = 1 << 20


@dataclass(frozen=True)
class IngestLimits:
    """Resource bounds that protect the server from hostile or accidental huge inputs.

    The upload size itself is enforced by the service while streaming; these bound what an upload may
    *expand to* (archives, decoded images).
    """

    max_uncompressed_bytes: int = 4 * 1024**3
    """Sum of the declared uncompressed sizes of an archive's members."""

    max_compression_ratio: float = 200.0
    """Uncompressed/compressed size of one member; PNG/JPEG barely compress, zeros compress ~1000x."""

    max_members: int = 1_000_000
    """Archive entries; each costs a header parse even when skipped."""

    max_image_pixels: int = 40_000_000
    """Pixels of one image (Pillow's own bomb check only starts at 89 M)."""

    max_decoded_bytes: int = 4 * 1024**3
    """Size of the decoded N x H x W x C uint8 array built from an image archive."""


DEFAULT_LIMITS = IngestLimits()
