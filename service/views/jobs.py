"""The API's views of job rows: :func:`to_read` (``JobRead``) and :func:`run_read` (what really ran).

Pure functions of a row: the services (GET /v1/jobs...) and the webhook outbox (a job's summary, built in the
transaction that ends the job) both import them from here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advisor import tables as advisor_tables
from service.db.models import Job
from service.jobs import states
from service.jobs.stored import JobResult
from service.schemas.jobs import (
    MAX_TIME_BUDGET_S,
    JobArtifact,
    JobBackboneRead,
    JobBaseline,
    JobEstimates,
    JobProgress,
    JobRatios,
    JobRead,
    JobRunRead,
)

PREFIX = "/v1/jobs"


def time_budget_reason(job: Job) -> str | None:
    source = job.time_budget_source
    if source == "request":
        return "the request's time_budget_s"
    if source == "recommendation":
        return (
            f"the time budget recommendation {job.recommendation_id} was made for (its constraints' "
            "time_budget_s); the request gave none"
        )
    if source == "recommendation_capped":
        return (
            f"recommendation {job.recommendation_id}'s time budget, capped at {MAX_TIME_BUDGET_S:g} s (the most "
            "a job may run); the request gave none"
        )
    if source == "default":
        return "the service default (job_default_time_budget_s): neither the request nor a recommendation gave one"
    return None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end`` (ms precision); None when either is unknown."""
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _ratio(actual: float | None, estimate: float | None) -> float | None:
    if actual is None or estimate is None or estimate <= 0:
        return None
    return round(actual / estimate, 3)


def _round_unit(trainer: str) -> str:
    if trainer.startswith("torch_"):
        return "epochs"
    if trainer in ("xgboost", "lightgbm"):
        return "boosting_rounds"
    return "fits"


def _estimates(params: dict[str, Any]) -> JobEstimates | None:
    """The §13 estimates the advisor put in the job's params (absent for classical and hand-written specs)."""
    mem = params.get("memory_estimate") if isinstance(params.get("memory_estimate"), dict) else None
    tim = params.get("time_estimate") if isinstance(params.get("time_estimate"), dict) else None
    if mem is None and tim is None:
        return None
    mem, tim = mem or {}, tim or {}
    return JobEstimates(
        backbone=mem.get("backbone") if isinstance(mem.get("backbone"), str) else None,
        parameters=_int(mem.get("parameters")),
        trainable_parameters=_int(mem.get("trainable_parameters")),
        memory_bytes=_int(mem.get("total_bytes")),
        device=tim.get("device") if isinstance(tim.get("device"), str) else None,
        seconds_per_epoch=_num(tim.get("seconds_per_epoch")),
        max_epochs=_int(tim.get("max_epochs")),
        seconds_upper_bound=_num(tim.get("total_seconds_upper_bound")),
    )


def _backbone(record: Any) -> JobBackboneRead | None:
    if not isinstance(record, dict) or not record.get("used"):
        return None
    served = advisor_tables.SERVED_BACKBONES.get(str(record["used"]))
    return JobBackboneRead(
        recommended=str(record.get("requested") or record["used"]),
        used=str(record["used"]),
        used_name=served.name if served else None,
        reason=record.get("reason"),
        source=record.get("source"),
    )


def run_read(job: Job, result: JobResult | None) -> JobRunRead | None:
    """What really ran (from the stored result and run info) beside the recommendation's estimates."""
    if result is None:
        return None
    info = result.run_info  # free-form: what the trainer measured (torch: parameters, device memory, backbone)
    device = info.get("device") or (result.device.device if result.device else None)
    rounds = result.model.n_rounds
    seconds = _num(info.get("train_seconds"))
    if seconds is None:
        seconds = _num(result.model.timings.get("fit_s"))
    per_round = round(seconds / rounds, 4) if seconds is not None and rounds else None
    start = None
    if _int(info.get("peak_memory_bytes")) is not None:  # CUDA: what the tensors took on the device
        peak, measure = _int(info.get("peak_memory_bytes")), info.get("peak_memory_measure")
    else:
        peak, measure, start = (
            _int(info.get("peak_rss_bytes")),
            info.get("peak_rss_measure"),
            _int(info.get("rss_at_start_bytes")),
        )
    estimates = _estimates(job.params or {})
    ratios = None
    notes: list[str] = []
    params = _int(info.get("parameters"))
    if estimates is not None:
        ratios = JobRatios(
            parameters=_ratio(params, estimates.parameters),
            memory=_ratio(peak, estimates.memory_bytes),
            memory_growth=_ratio(
                peak - start if peak is not None and start is not None else None, estimates.memory_bytes
            ),
            seconds_per_epoch=_ratio(per_round, estimates.seconds_per_epoch),
            seconds=_ratio(seconds, estimates.seconds_upper_bound),
        )
        if peak is not None and device == "cpu":
            notes.append(
                "the CPU peak is the whole training process's RSS (Python, libraries, data and the network), "
                "while the §13 estimate counts the network's parameters, gradients, optimizer state and "
                "activations only"
            )
        if estimates.device and device and {"gpu": "cuda"}.get(estimates.device, estimates.device) != device:
            notes.append(f"the time estimate is for the {estimates.device}; the job ran on the {device}")
    return JobRunRead(
        trainer=result.model.trainer or job.trainer,
        device=device,
        backbone=_backbone(info.get("backbone")),
        parameters=params,
        trainable_parameters=_int(info.get("trainable_parameters")),
        rounds_run=rounds,
        round_unit=_round_unit(job.trainer),  # type: ignore[arg-type]
        seconds=round(seconds, 3) if seconds is not None else None,
        seconds_per_round=per_round,
        peak_memory_bytes=peak,
        memory_at_start_bytes=start,
        peak_memory_measure=measure,
        dead_relu_fraction=result.model.curves.dead_relu_fraction,
        estimates=estimates,
        ratios=ratios,
        notes=notes,
    )


def to_read(job: Job, *, include_curves: bool = True) -> JobRead:
    """The API view of a job row."""
    result = job.result
    base = f"{PREFIX}/{job.id}"
    artifact = None
    if result is not None:
        model = result.model
        artifact = JobArtifact(
            format=model.artifact.format,
            sha256=model.artifact.sha256,
            zip_sha256=result.zip.sha256,
            size_bytes=result.zip.size_bytes,
            files=model.artifact.files,
            partial=model.partial,
            url=f"{base}/model",
        )
    baseline = None
    if result is not None and result.baseline is not None:
        b = result.baseline
        baseline = JobBaseline(model=b.model, trainer=b.trainer, metrics=b.metrics, error=b.error)
    elif job.baseline_spec and job.baseline_spec.get("unavailable"):
        spec = job.baseline_spec
        baseline = JobBaseline(
            model=spec["model"], trainer=spec["trainer"], error={"type": "unavailable", "message": spec["unavailable"]}
        )
    timings: dict[str, float | None] = {
        "queued_s": seconds_between(
            job.queued_at,
            job.started_at if job.started_at and job.queued_at and job.started_at >= job.queued_at else None,
        ),
        "train_s": seconds_between(job.started_at, job.finished_at),
        "total_s": seconds_between(job.created_at, job.finished_at),
    }
    for key, value in (result.model.timings if result is not None else {}).items():
        timings[f"model_{key}"] = value
    links = {"self": base, "events": f"{base}/events", "metrics": f"{base}/metrics"}
    if job.status in states.ACTIVE:
        links["cancel"] = f"{base}/cancel"
    if artifact is not None:
        links["model"] = artifact.url
    return JobRead(
        id=job.id,
        status=job.status,
        attempt=job.attempt,
        max_attempts=job.max_attempts,
        created_at=job.created_at,
        updated_at=job.updated_at,
        dataset_id=job.dataset_id,
        recommendation_id=job.recommendation_id,
        candidate=job.candidate,
        model=job.model,
        trainer=job.trainer,
        params=job.params,
        seed=job.seed,
        time_budget_s=job.time_budget_s,
        time_budget_source=job.time_budget_source,  # type: ignore[arg-type]
        time_budget_reason=time_budget_reason(job),
        queue=job.queue,
        cancel_requested=job.cancel_requested,
        progress=JobProgress.model_validate(job.progress) if job.progress else None,
        baseline=baseline,
        artifact=artifact,
        run=run_read(job, result),
        error=job.error,
        history=job.history or [],
        timings=timings,
        links=links,
        callback_url=job.callback_url,
        race_id=job.race_id,
        **({} if result is None else _result_fields(result, include_curves)),
    )


def _result_fields(result: JobResult, include_curves: bool) -> dict[str, Any]:
    """The fields of ``JobRead`` a stored result fills (a job without one leaves their defaults)."""
    model = result.model
    return {
        "derived_params": model.derived_params,
        "metrics": model.metrics,
        "metric_notes": model.metric_notes,
        "lift_over_baseline": result.lift_over_baseline,
        "curves": model.curves.model_dump(mode="json") if include_curves else None,
        "diagnosis": model.diagnosis or [],
        "partial": model.partial,
        "partial_reason": model.partial_reason,
        "validation": model.validation.model_dump(mode="json") if model.validation else None,
        "best_iteration": model.best_iteration,
        "n_rounds": model.n_rounds,
        "sample_predictions": result.sample_predictions,
        "device": result.device.model_dump(mode="json") if result.device else None,
        "notes": result.notes,
    }
