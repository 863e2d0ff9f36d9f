"""A tenant's finished races as evidence for its next recommendations (:mod:`advisor.portfolio`'s ``extra``).

Each finished race on a table becomes one evidence row: the dataset's profile as its meta-features, and each
raced model's cross-validated score on the portfolio's metric for the task (ROC AUC for binary, accuracy for
multiclass, R² for regression; higher is better for all three). The rows compete with the portfolio's own
datasets for the "most similar" places, so a tenant's history moves a ranking only where its data resembles the
new dataset, and the recommendation says when it did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from advisor import DatasetProfile
from advisor.portfolio import EvidenceRow, MetaFeatures
from service.db.models import Dataset, Job, Race
from service.jobs import states

# The races read per recommendation: the newest ones, enough to matter, few enough to stay cheap.
MAX_RACES = 20
METRIC_OF_TASK = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
_NOT_EVIDENCE = frozenset({"ensemble"})  # a combination of the entries, not a family


def _row(race: Race, dataset: Dataset, jobs: list[Job]) -> EvidenceRow | None:
    if dataset.modality != "tabular" or not jobs or not all(states.is_terminal(j.status) for j in jobs):
        return None
    try:
        features = MetaFeatures.of(DatasetProfile.model_validate(dataset.profile))
    except ValueError:
        return None
    metric = METRIC_OF_TASK.get(features.task)
    scores: dict[str, list[float | None]] = {}
    for job in jobs:
        if job.status != states.SUCCEEDED or job.trainer in _NOT_EVIDENCE or job.model is None:
            continue
        value: Any = job.result.model.metrics.get("validation", {}).get(metric) if job.result and metric else None
        if isinstance(value, int | float):
            best = scores.get(job.model, [None])[0]
            scores[job.model] = [float(value) if best is None else max(best, float(value))]
    if metric is None or len(scores) < 2:  # one scored family says nothing about the others
        return None
    return EvidenceRow(dataset=f"your race {race.id}", metric=metric, features=features, scores=scores, source="tenant")


def tenant_history(*, session: Session, tenant_id: str, limit: int = MAX_RACES) -> tuple[EvidenceRow, ...]:
    """The tenant's newest finished races on tables, as evidence rows (newest first)."""
    races = session.execute(
        select(Race, Dataset)
        .join(Dataset, Dataset.id == Race.dataset_id)
        .where(Race.tenant_id == tenant_id, Dataset.modality == "tabular")
        .order_by(Race.created_at.desc(), Race.id.desc())
        .limit(limit)
    ).all()
    if not races:
        return ()
    ids = [race.id for race, _ in races]
    children: dict[str, list[Job]] = {race_id: [] for race_id in ids}
    for job in session.scalars(select(Job).where(Job.race_id.in_(ids), Job.tenant_id == tenant_id)):
        if job.race_id is not None:  # always: the query selects these races' jobs
            children[job.race_id].append(job)
    rows = (_row(race, dataset, children[race.id]) for race, dataset in races)
    return tuple(row for row in rows if row is not None)
