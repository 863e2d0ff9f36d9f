"""Learning-curve diagnosis responses (the request body is ``advisor.Curves``)."""

from __future__ import annotations

from pydantic import BaseModel

from advisor import Diagnosis


class DiagnosisList(BaseModel):
    """Training issues found in the curves (empty when none), with the cheatsheet's fixes."""

    diagnoses: list[Diagnosis]
