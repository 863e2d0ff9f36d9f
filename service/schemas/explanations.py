"""Explanations of a trained model: its feature importance (the file stored beside the model)."""

from __future__ import annotations

from pydantic import Field

from trainers.explain import Contributions, FeatureImportance

__all__ = ["Contributions", "ImportanceRead"]


class ImportanceRead(FeatureImportance):
    """A job's feature importance on its validation rows, per original input column, largest first:
    ``permutation`` (every tabular model: how much the validation loss grows when the column is shuffled) and
    ``native`` (XGBoost/LightGBM gain, linear coefficients, forest impurity), each with a note where absent."""

    job_id: str
    model: str = Field(description="The job's model (its recommended name).")
