"""How numbers read in the reasons: the counts most reasons quote, formatted once."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096, typed=True)
def thousands(n: int) -> str:
    """``f"{n:,}"``: a recommendation quotes its row count and the size gates in about ten reasons, and
    formatting an int with separators costs as much as building a Decision; each value is formatted once."""
    return f"{n:,}"
