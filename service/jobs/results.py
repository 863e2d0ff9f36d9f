"""Result shaping: what the training process reported → what the job stores (its :class:`JobResult` document
and MLflow-style metric rows). No database, no process: the attempt writes what this returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.jobs.messages import ResultMessage, RunError
from service.jobs.stored import BaselineOutcome, JobResult, ModelZip
from trainers.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class Shaped:
    """What an attempt that ended with a model writes: the job's result document and its metric rows."""

    result: JobResult
    metric_rows: list[dict[str, Any]]


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX), or as it is when outside it."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def shape(
    *,
    job_id: str,
    model: ResultMessage,
    baseline: ResultMessage | None,
    baseline_error: RunError | None,
    baseline_spec: dict[str, Any] | None,
    stop_reason: str | None,
    artifacts_root: Path,
    out_dir: Path,
    now_ms: int,
) -> Shaped:
    """The stored result of an attempt that has a model (and maybe a baseline)."""
    train = model.result
    # Stored relative to the artifacts folder, so the folder may move (another mount, a restored backup).
    where = relative(Path(train.artifact.directory), artifacts_root)
    train = train.model_copy(update={"artifact": train.artifact.model_copy(update={"directory": where})})
    zip_file = model.zip.file if model.zip else "model.zip"
    summary = baseline_summary(baseline_spec, baseline, baseline_error, stop_reason)
    document = JobResult(
        model=train,
        zip=ModelZip(
            path=relative(out_dir / zip_file, artifacts_root),
            sha256=model.zip.sha256 if model.zip else None,
            size_bytes=model.zip.size if model.zip else None,
        ),
        device=model.device,
        run_info=model.run_info,
        sample_predictions=model.sample_predictions,
        notes=model.notes,
        baseline=summary,
        lift_over_baseline=lift(train.metrics, summary.metrics) if summary and summary.metrics else None,
    )
    rows = metric_rows(job_id, "model", train.model_dump(mode="json"), model.round_times, now_ms)
    if baseline is not None:
        rows += metric_rows(job_id, "baseline", baseline.result.model_dump(mode="json"), baseline.round_times, now_ms)
    return Shaped(document, rows)


def baseline_summary(
    spec: dict[str, Any] | None,
    baseline: ResultMessage | None,
    error: RunError | None,
    stop_reason: str | None,
) -> BaselineOutcome | None:
    """The baseline beside the model: its scores, or why there are none."""
    if not spec:
        return None
    name, trainer = spec.get("model") or spec["trainer"], spec["trainer"]
    if baseline is not None:
        b = baseline.result
        return BaselineOutcome(
            model=name,
            trainer=trainer,
            metrics=b.metrics,
            metric_notes=b.metric_notes,
            timings=b.timings,
            params=b.params,
        )
    if error is not None:
        message = error.message
        if error.type == "stopped":
            message = (
                "not trained: the time budget was spent"
                if error.reason == "time_budget"
                else "not trained: the job was cancelled"
            )
        return BaselineOutcome(model=name, trainer=trainer, error={"type": error.type, "message": message})
    why = {"cancelled": "the job was cancelled", "time_budget": "the time budget was spent"}.get(
        str(stop_reason), "the model's training did not finish"
    )
    return BaselineOutcome(model=name, trainer=trainer, error={"type": "skipped", "message": f"not trained: {why}"})


def lift(model: dict[str, dict[str, Any]], baseline: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How much better the model scores than the baseline, per split and metric (positive = better;
    for losses this is baseline − model)."""
    out: dict[str, Any] = {}
    for split, values in model.items():
        base = baseline.get(split) or {}
        part: dict[str, float] = {}
        for name, value in (values or {}).items():
            other = base.get(name)
            if value is None or other is None:
                continue
            diff = value - other if name in HIGHER_IS_BETTER else other - value
            part[name] = round(float(diff), 10)
        if part:
            out[split] = part
    return out


def metric_rows(
    job_id: str, run: str, result: dict[str, Any], round_times: list[int], now_ms: int
) -> list[dict[str, Any]]:
    """MLflow-style rows: final scores at step 0 and every learning-curve value per round."""
    rows: list[dict[str, Any]] = []
    for split, values in (result.get("metrics") or {}).items():
        for name, value in (values or {}).items():
            rows.append(
                {"job_id": job_id, "run": run, "key": f"{split}.{name}", "value": value, "step": 0, "timestamp": now_ms}
            )
    curves = result.get("curves") or {}
    history: dict[str, dict[str, list[float | None]]] = curves.get("history") or {}
    if not history and curves.get("train_loss") is not None:
        loss = str(curves.get("loss_name") or "loss")
        history = {"train": {loss: curves["train_loss"]}}
        if curves.get("val_loss") is not None:
            history["valid"] = {loss: curves["val_loss"]}
    for part, series in history.items():
        for name, values in series.items():
            for step, value in enumerate(values):
                stamp = round_times[step] if step < len(round_times) else now_ms
                rows.append(
                    {
                        "job_id": job_id,
                        "run": run,
                        "key": f"{part}.{name}",
                        "value": value,
                        "step": step,
                        "timestamp": stamp,
                    }
                )
    return rows
