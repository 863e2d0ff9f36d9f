"""The advisor's rule base, as data."""

from __future__ import annotations

from functools import cache

import advisor
from service.schemas.rules import RuleCatalogRead


@cache
def catalog() -> RuleCatalogRead:
    """Every rule with its id, section, conditions and description (fixed for the process)."""
    return RuleCatalogRead(tables_version=advisor.TABLES_VERSION, rules=advisor.rules_catalog())
