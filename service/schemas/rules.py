"""The rule base as data."""

from __future__ import annotations

from pydantic import BaseModel

from advisor import RuleInfo


class RuleCatalogRead(BaseModel):
    """Every rule the advisor applies, in order, and the version of the tables they read."""

    tables_version: str
    rules: list[RuleInfo]
