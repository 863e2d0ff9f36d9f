"""Learning-curve diagnosis."""

from __future__ import annotations

import advisor
from service.schemas.diagnoses import DiagnosisList


def diagnose(*, curves: advisor.Curves) -> DiagnosisList:
    """The §10 training issues the curves show."""
    return DiagnosisList(diagnoses=advisor.diagnose(curves))
