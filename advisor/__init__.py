"""The advisor: the neural-networks cheatsheet as an explainable, deterministic rule engine.

Pure domain code: standard library and pydantic only (no web, database, queue or ML library).

Public API::

    recommend(profile, constraints) -> Recommendation
    rules_catalog() -> list[RuleInfo]
    diagnose(curves) -> list[Diagnosis]
"""

from advisor.diagnose import diagnose
from advisor.diagnosis import Curves, Diagnosis
from advisor.engine import RuleInfo, recommend, rules_catalog
from advisor.profile import Constraints, DatasetProfile
from advisor.recommendation import Candidate, ChecklistItem, Decision, Recommendation
from advisor.tables import TABLES_VERSION

__all__ = [
    "TABLES_VERSION",
    "Candidate",
    "ChecklistItem",
    "Constraints",
    "Curves",
    "DatasetProfile",
    "Decision",
    "Diagnosis",
    "Recommendation",
    "RuleInfo",
    "diagnose",
    "recommend",
    "rules_catalog",
]
