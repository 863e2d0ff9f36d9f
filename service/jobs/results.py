"""Result shaping: what the training process reported → what the job stores (its result, artifact and device
columns, and MLflow-style metric rows). No database, no process: the attempt writes what this returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.jobs.messages import ResultMessage, RunError
from trainers.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class Shaped:
    """What an attempt that ended with a model writes: the job's columns and its metric rows."""

    values: dict[str, Any]
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
    result: dict[str, Any] = model.result.model_dump(mode="json")
    model_dir = Path(result["artifact"]["directory"])
    zip_info = model.zip.model_dump() if model.zip else {}
    artifact = {
        "trainer": result["artifact"]["trainer"],
        "format": result["artifact"]["format"],
        "sha256": result["artifact"]["sha256"],
        "files": result["artifact"]["files"],
        "library_versions": result["artifact"]["library_versions"],
        "path": relative(model_dir, artifacts_root),
        "zip_path": relative(out_dir / str(zip_info.get("file", "model.zip")), artifacts_root),
        "zip_sha256": zip_info.get("sha256"),
        "size_bytes": zip_info.get("size"),
        "partial": bool(result.get("partial")),
    }
    summary = baseline_summary(baseline_spec, baseline, baseline_error, stop_reason)
    stored = {
        "trainer": result["trainer"],
        "task": result["task"],
        "trained_params": result["params"],
        "derived_params": result.get("derived_params") or {},
        "metrics": result["metrics"],
        "metric_notes": result.get("metric_notes") or {},
        "curves": result["curves"],
        "diagnosis": result.get("diagnosis") or [],
        "best_iteration": result.get("best_iteration"),
        "n_rounds": result.get("n_rounds"),
        "partial": bool(result.get("partial")),
        "partial_reason": result.get("partial_reason"),
        "split": result.get("split"),
        "validation": result.get("validation"),
        "n_rows_dropped": result.get("n_rows_dropped", 0),
        "timings": result.get("timings") or {},
        "library_versions": result.get("library_versions") or {},
        "sample_predictions": model.sample_predictions,
        "run_info": model.run_info,
        "notes": model.notes,
        "baseline": summary,
        "lift_over_baseline": lift(result["metrics"], summary["metrics"])
        if summary and summary.get("metrics")
        else None,
    }
    rows = metric_rows(job_id, "model", result, model.round_times, now_ms)
    if baseline is not None:
        rows += metric_rows(job_id, "baseline", baseline.result.model_dump(mode="json"), baseline.round_times, now_ms)
    values = {
        "result": stored,
        "artifact": artifact,
        "device": model.device.model_dump(mode="json") if model.device else None,
    }
    return Shaped(values, rows)


def baseline_summary(
    spec: dict[str, Any] | None,
    baseline: ResultMessage | None,
    error: RunError | None,
    stop_reason: str | None,
) -> dict[str, Any] | None:
    """The baseline beside the model: its scores, or why there are none."""
    if not spec:
        return None
    summary: dict[str, Any] = {
        "model": spec.get("model") or spec["trainer"],
        "trainer": spec["trainer"],
        "metrics": None,
        "error": None,
    }
    if baseline is not None:
        b = baseline.result.model_dump(mode="json")
        summary.update(
            metrics=b["metrics"],
            metric_notes=b.get("metric_notes") or {},
            timings=b.get("timings") or {},
            params=b.get("params"),
        )
    elif error is not None:
        message = error.message
        if error.type == "stopped":
            message = (
                "not trained: the time budget was spent"
                if error.reason == "time_budget"
                else "not trained: the job was cancelled"
            )
        summary["error"] = {"type": error.type, "message": message}
    else:
        why = {"cancelled": "the job was cancelled", "time_budget": "the time budget was spent"}.get(
            str(stop_reason), "the model's training did not finish"
        )
        summary["error"] = {"type": "skipped", "message": f"not trained: {why}"}
    return summary


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
