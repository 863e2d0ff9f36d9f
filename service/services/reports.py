"""A job's model report: one self-contained HTML page a person can send on (``GET /v1/jobs/{id}/report``).

It shows the recipe and the reason for each choice (the recommendation's decisions: value, rule, cheatsheet
section, reason), the learning curves, the metrics against the baseline, the feature importance and the race the
job came from. Everything is read through the same service functions the API routes answer with (jobs, datasets,
recommendations, races, explanations), never from the database directly; the charts are inline SVG drawn here and
the styles are inline, so the page loads nothing from anywhere.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from service.db.session import Database
from service.errors import ServiceError
from service.schemas.explanations import ImportanceRead
from service.schemas.jobs import JobRead
from service.schemas.races import RaceRead
from service.schemas.recommendations import RecommendationRead, recommendation_json
from service.services import datasets as datasets_service
from service.services import explanations
from service.services import jobs as jobs_service
from service.services import races as races_service
from service.services import recommendations as recommendations_service
from service.services.charts import PALETTE, Series, bar_chart, line_chart, number
from service.settings import Settings
from service.views import jobs as job_views

TEMPLATE = "report.html"
# The importance chart shows the strongest columns; the table below it lists every one.
IMPORTANCE_BARS = 20


@cache
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = number
    env.filters["value"] = _value
    return env


def _value(value: Any) -> str:
    """A decision's or parameter's value as a person reads it (JSON for lists and mappings)."""
    if isinstance(value, float):
        return number(value, 6)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def _finite(values: Any) -> list[float | None]:
    out: list[float | None] = []
    for v in values or []:
        try:
            f = float(v)
        except (TypeError, ValueError):
            out.append(None)
            continue
        out.append(f if math.isfinite(f) else None)
    return out


def curve_charts(job: JobRead) -> list[Any]:
    """The loss chart (train, validation, the constant predictor's loss) and the metric chart, if recorded."""
    curves = job.curves or {}
    charts = []
    loss = [
        Series("train", _finite(curves.get("train_loss")), PALETTE[0]),
        Series("validation", _finite(curves.get("val_loss")), PALETTE[1]),
    ]
    n = max(len(s.values) for s in loss)
    if curves.get("baseline_loss") is not None and n:
        loss.append(Series("constant predictor", [float(curves["baseline_loss"])] * n, "#777", dashed=True))
    name = str(curves.get("loss_name") or "loss")
    if n:
        charts.append(line_chart(loss, title=f"Learning curves: {name}", y_label=name, marker_x=job.best_iteration))
    metric = curves.get("metric_name")
    if metric and (curves.get("train_metric") or curves.get("val_metric")):
        series = [
            Series("train", _finite(curves.get("train_metric")), PALETTE[0]),
            Series("validation", _finite(curves.get("val_metric")), PALETTE[1]),
        ]
        charts.append(
            line_chart(series, title=f"Learning curves: {metric}", y_label=str(metric), marker_x=job.best_iteration)
        )
    return charts


def metric_rows(job: JobRead) -> list[dict[str, Any]]:
    """One row per metric: validation (± sd over folds), test, the baseline's and the lift over it."""
    metrics = job.metrics or {}
    sd = (job.validation or {}).get("sd") or {}
    baseline = (job.baseline.metrics if job.baseline is not None else None) or {}
    lift = job.lift_over_baseline or {}
    names: list[str] = []
    for part in (metrics.get("validation") or {}, metrics.get("test") or {}):
        names += [m for m in part if m not in names]
    rows = []
    for m in names:
        rows.append(
            {
                "metric": m,
                "validation": (metrics.get("validation") or {}).get(m),
                "validation_sd": sd.get(m),
                "test": (metrics.get("test") or {}).get(m),
                "baseline_validation": (baseline.get("validation") or {}).get(m),
                "baseline_test": (baseline.get("test") or {}).get(m),
                "lift_test": (lift.get("test") or {}).get(m),
            }
        )
    return rows


def importance_charts(importance: ImportanceRead | None) -> list[Any]:
    """Bars of the strongest columns: permutation importance, and the model's own."""
    if importance is None:
        return []
    charts = []
    if importance.permutation is not None:
        p = importance.permutation
        items = [(c.column, c.value, c.sd) for c in p.columns[:IMPORTANCE_BARS]]
        charts.append(
            bar_chart(
                items,
                title=f"Permutation importance ({p.n_rows} validation rows, {p.n_repeats} shuffles)",
                value_label=f"increase of the validation {p.metric} when the column is shuffled",
            )
        )
    if importance.native is not None:
        nat = importance.native
        items = [(c.column, c.value, None) for c in nat.columns[:IMPORTANCE_BARS]]
        charts.append(
            bar_chart(items, title=f"The model's own importance: {nat.kind}", value_label=nat.kind, color=PALETTE[2])
        )
    return charts


def importance_rows(importance: ImportanceRead | None) -> list[dict[str, Any]]:
    """Every column with its permutation importance (± sd) and native importance, in permutation order."""
    if importance is None:
        return []
    perm = {c.column: c for c in importance.permutation.columns} if importance.permutation else {}
    native = {c.column: c.value for c in importance.native.columns} if importance.native else {}
    order = [c.column for c in importance.permutation.columns] if importance.permutation else []
    order += [c.column for c in importance.native.columns if c.column not in perm] if importance.native else []
    order += [c for c in importance.columns if c not in perm and c not in native]
    return [
        {
            "column": c,
            "permutation": perm[c].value if c in perm else None,
            "sd": perm[c].sd if c in perm else None,
            "native": native.get(c),
        }
        for c in order
    ]


def recipe(job: JobRead, recommendation: RecommendationRead | None) -> dict[str, Any] | None:
    """The candidate the job trained with its decisions, and the recommendation's own decisions and assumptions."""
    if recommendation is None:
        return None
    candidate = None
    if job.candidate == 0:
        candidate = recommendation.baseline
    elif job.candidate is not None and 1 <= job.candidate <= len(recommendation.candidates):
        candidate = recommendation.candidates[job.candidate - 1]
    return {
        "recommendation": recommendation,
        "candidate": candidate,
        "choices": list(candidate.choices.values()) if candidate is not None else [],
        "others": [c for c in recommendation.candidates if candidate is None or c.rank != candidate.rank],
    }


async def _optional(call: Any) -> tuple[Any, str | None]:
    """A service call's answer, or None and the problem's detail (a missing or unreadable part of the page)."""
    try:
        return await call, None
    except ServiceError as exc:
        return None, exc.detail


async def _recommendation(db: Database, tenant_id: str, id: str) -> RecommendationRead:
    row = await recommendations_service.get(db=db, tenant_id=tenant_id, id=id)
    return RecommendationRead.model_validate_json(
        recommendation_json(id=row.id, created_at=row.created_at, document=row.document)
    )


async def report(*, db: Database, settings: Settings, tenant_id: str, id: str) -> str:
    """The HTML report of the tenant's job ``id`` (404 if unknown); parts that do not exist yet (a running job's
    metrics, a model without importance) say why in place."""
    job = job_views.to_read(await jobs_service.get(db=db, tenant_id=tenant_id, id=id))
    dataset, dataset_note = None, None
    if job.dataset_id:
        found, dataset_note = await _optional(datasets_service.get(db=db, tenant_id=tenant_id, id=job.dataset_id))
        dataset = datasets_service.to_read(found) if found is not None else None
    recommendation, recommendation_note = None, None
    if job.recommendation_id:
        try:
            recommendation, recommendation_note = await _optional(_recommendation(db, tenant_id, job.recommendation_id))
        except ValidationError:
            recommendation_note = "The stored recommendation no longer reads as this version's schema."
    importance, importance_note = await _optional(
        explanations.importance(db=db, settings=settings, tenant_id=tenant_id, id=id)
    )
    race: RaceRead | None = None
    race_note = None
    if job.race_id:
        race, race_note = await _optional(races_service.get(db=db, tenant_id=tenant_id, id=job.race_id))
    context = {
        "job": job,
        "dataset": dataset,
        "dataset_note": dataset_note,
        "recipe": recipe(job, recommendation),
        "recommendation_note": recommendation_note,
        "metric_rows": metric_rows(job),
        "curve_charts": curve_charts(job),
        "importance": importance,
        "importance_note": importance_note,
        "importance_charts": importance_charts(importance),
        "importance_rows": importance_rows(importance),
        "race": race,
        "race_note": race_note,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return str(_environment().get_template(TEMPLATE).render(**context))
