"""The code that runs inside a training process (spawned, never forked; no database, no HTTP).

The runner talks to it over a pipe in JSON (never pickle), one message per ``send_bytes``; the messages
are the typed unions of :mod:`service.jobs.messages` (``job``, ``stop``, ``exit`` in; ``ready``,
``progress``, ``result`` / ``error`` for the ``model`` run and then for the ``baseline`` run, and ``done`` out).

A process serves jobs one after another (the ML libraries stay imported between them); the parent kills
it to stop native code that does not return, and replaces it. If the parent goes away (the pipe
closes) the process exits at once instead of training for nobody.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import queue
import signal
import threading
import time
import traceback
import zipfile
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

from service.jobs.dataset_cache import DATASETS
from service.jobs.memory import current_rss, peak_rss, reset_peak_rss
from service.jobs.messages import (
    ChildMessage,
    DeviceRecord,
    DoneMessage,
    ErrorMessage,
    ExitMessage,
    JobMessage,
    ProgressMessage,
    ReadyMessage,
    ResultMessage,
    RunError,
    RunSpec,
    StopMessage,
    ZipInfo,
    encode,
    parent_message,
)
from service.jobs.stages import Stamps
from trainers.base import Trainer
from trainers.callbacks import Callbacks
from trainers.errors import TrainerError

# What a warm process imports before its first job: the table path and the trainers every job uses
# (each job also trains a linear baseline). Torch and LightGBM load on first use.
PRELOAD = (
    "pandas",
    "pyarrow.parquet",
    "trainers.run",
    "trainers.datasets",
    "trainers.classical.xgboost_trainer",
    "trainers.classical.sklearn_baselines",
    "sklearn.metrics",
)
MODEL_ZIP = "model.zip"
SAMPLE_ROWS = 5
PROGRESS_INTERVAL_S = 0.25
BASELINE_SHARE = 0.1  # of the time budget, kept for the baseline when a job trains one
# Fixed member time in the zip, so the same files always give the same archive (and SHA-256).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


__all__ = ["child_main", "decode", "encode", "run_job", "trainer_class"]


def decode(data: bytes) -> dict[str, Any]:
    """The message in ``data``."""
    message: dict[str, Any] = json.loads(data)
    return message


def finite(value: Any) -> float | None:
    """``value`` as a float, None when missing or not finite."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def json_safe(value: Any) -> Any:
    """Nested lists/dicts/numpy values as plain JSON values; NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return json_safe(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


# -- device -------------------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name from the driver's /proc files, without loading CUDA; None if none."""
    root = Path("/proc/driver/nvidia/gpus")
    try:
        boards = sorted(root.iterdir())
    except OSError:
        return None
    for board in boards:
        try:
            for line in (board / "information").read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            continue
    return "NVIDIA GPU" if boards else None


def describe_host() -> dict[str, Any]:
    """What this process can train on."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "gpu": gpu_name(), "platform": platform.platform()}


def device_record(
    host: Mapping[str, Any],
    trainer: type,
    params: Mapping[str, Any],
    n_threads: int,
    run_info: Mapping[str, Any] | None,
) -> DeviceRecord:
    """The device a run used and, when a GPU was there but unused, why."""
    used = "cpu"
    gpu = host.get("gpu")
    reason: str | None = None
    if run_info and run_info.get("device"):
        used = "cuda" if str(run_info["device"]).startswith("cuda") else str(run_info["device"])
        if used == "cuda":
            gpu = run_info.get("device_name") or gpu
    if used == "cpu":
        if gpu is None:
            reason = "no GPU on this worker"
        elif not getattr(trainer, "SUPPORTS_GPU", False):
            reason = f"{getattr(trainer, 'NAME', trainer)} trains on the CPU only"
        elif run_info and run_info.get("notes"):
            reason = "; ".join(str(n) for n in run_info["notes"] if "device" in str(n)) or "the trainer chose the CPU"
        else:
            reason = f"the job's parameters ask for device {params.get('device', 'cpu')!r}"
    return DeviceRecord(device=used, cpu=host.get("cpu"), gpu=gpu, gpu_unused_reason=reason, threads=n_threads)


# -- callbacks ----------------------------------------------------------------------------------
class ProgressCallbacks(Callbacks):
    """Sends throttled progress to the parent, records when each round ended, and stops on request."""

    def __init__(
        self,
        send: Callable[[ChildMessage], None],
        job_id: str,
        stop: threading.Event,
        reasons: dict[str, str],
        phase: str,
    ) -> None:
        self._send = send
        self._job_id = job_id
        self._stop = stop
        self._reasons = reasons
        self.phase = phase
        self.total = 0
        self.current = 0
        self.round_times: list[int] = []
        self._last = 0.0

    def _emit(self, metrics: Mapping[str, float] | None = None) -> None:
        self._last = time.monotonic()
        self._send(
            ProgressMessage(
                job_id=self._job_id,
                phase=self.phase,
                current=self.current,
                total=self.total,
                metrics={k: finite(v) for k, v in metrics.items()} if metrics else None,
            )
        )

    def on_start(self, total: int) -> None:
        self.total = int(total)
        self._emit()

    def on_round(self, round: int, metrics: Mapping[str, float]) -> None:
        self.current = round + 1
        self.round_times.append(time.time_ns() // 1_000_000)
        if time.monotonic() - self._last >= PROGRESS_INTERVAL_S:
            self._emit(metrics)

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def stop_reason(self) -> Any:
        return self._reasons.get(self._job_id, "cancelled")

    def on_end(self) -> None:
        self._emit()


# -- one job ------------------------------------------------------------------------------------
def trainer_class(name: str) -> type[Trainer]:
    """The registered trainer ``name`` (the registry imports a torch trainer's module on first use)."""
    from trainers.registry import get_trainer

    return get_trainer(name)


ZIP_LEVEL = 1


def zip_artifact(directory: Path, files: list[str], out: Path) -> str:
    """Write exactly ``files`` (and the manifest) of ``directory`` into a deterministic zip; its SHA-256."""
    from trainers.artifacts import MANIFEST_FILE, sha256_file

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted({*files, MANIFEST_FILE}):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            # zlib level 1: a forest's 300 MB of tree arrays pack 2.4 times faster than at the default level 6,
            # into a zip about 7% larger.
            setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", ZIP_LEVEL)
            info.external_attr = 0o644 << 16
            with (directory / name).open("rb") as src, zf.open(info, "w") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    return sha256_file(out)


def _sample_predictions(model_dir: Path, sha256: str, data: Any, plan: Any, n_threads: int) -> dict[str, Any]:
    """Reload the saved model (checking it loads) and predict the first rows, for the job record."""
    import numpy as np

    from trainers.artifacts import load_artifact

    model = load_artifact(model_dir, n_threads=n_threads, expected_sha256=sha256)
    index = np.arange(min(SAMPLE_ROWS, data.n_rows))
    rows = data.sample_rows(index) if plan.kind == "frame" else data.array_data().subset(index)
    output = model.predict_output(rows)
    return {"row_index": index.tolist(), "output": json_safe(np.asarray(output))}


def _fit(
    msg: JobMessage,
    run: RunSpec,
    data: Any,
    out_dir: Path,
    callbacks: ProgressCallbacks,
    time_budget_s: float | None,
) -> tuple[Any, dict[str, Any], Any, type]:
    from trainers.datasets import plan_inputs
    from trainers.spec import TrainSpec

    cls = trainer_class(run.trainer)
    plan = plan_inputs(cls, data.modality, run.params)
    spec = TrainSpec(
        trainer=run.trainer,
        params=plan.params,
        seed=msg.seed,
        time_budget_s=time_budget_s,
        n_threads=msg.n_threads,
    )
    if run.trainer == "ensemble":  # a race's ensemble entry: built from its finished entries' files
        from trainers.ensemble import Member, fit_ensemble

        members = [Member(m.job_id, Path(m.directory), m.sha256) for m in msg.members]
        frame, features = data.flat_frame() if plan.flatten else (data.frame, data.feature_columns)
        result = fit_ensemble(
            spec, frame, data.target, data.task, features, members, out_dir, datetime_formats=data.datetime_formats
        )
        run_info: dict[str, Any] = {}
    elif plan.kind == "frame":
        from trainers.run import fit_and_evaluate

        frame, features = data.flat_frame() if plan.flatten else (data.frame, data.feature_columns)
        text = data.text_columns if plan.text else ()
        result = fit_and_evaluate(
            spec,
            frame,
            data.target,
            data.task,
            features,
            callbacks,
            out_dir,
            text_columns=text,
            datetime_formats=data.datetime_formats,
        )
        run_info = {}
    else:
        from trainers.torch.jobs import fit_and_evaluate_arrays

        result, run_info = fit_and_evaluate_arrays(spec, data.array_data(), callbacks, out_dir)
    return result, json_safe(dict(run_info or {})), plan, cls


def _error(run: Literal["model", "baseline"], job_id: str, exc: BaseException) -> ErrorMessage:
    from trainers.callbacks import TrainingStopped

    kind = "stopped" if isinstance(exc, TrainingStopped) else type(exc).__name__
    error: dict[str, Any] = {"type": kind, "message": str(exc) or type(exc).__name__}
    if isinstance(exc, TrainingStopped):
        error["reason"] = exc.reason
    if isinstance(exc, TrainerError):  # the family's errors name what they are about (a parameter, a column)
        for attr in ("key", "column", "reason"):
            value = getattr(exc, attr, None)
            if isinstance(value, str):
                error.setdefault(attr, value)
    if not isinstance(exc, TrainingStopped):
        error["traceback"] = "".join(traceback.format_exception(exc, limit=-4))[-2000:]
    return ErrorMessage(run=run, job_id=job_id, error=RunError(**error))


def run_job(
    msg: JobMessage,
    send: Callable[[ChildMessage], None],
    stop: threading.Event,
    reasons: dict[str, str],
    host: Mapping[str, Any],
) -> None:
    """Train the job's model and then its baseline; every outcome goes back as a message."""
    received = time.monotonic()
    stamp = Stamps()
    stamp("handoff")  # the runner's "send" to here: the pipe, the listener's decoding, the queue
    job_id = msg.job_id
    out_dir = Path(msg.out_dir)
    budget = msg.time_budget_s
    send(ProgressMessage(job_id=job_id, phase="loading"))
    model_ok = False
    data = None
    try:
        data = DATASETS.load(msg.dataset_dir, msg.dataset_sha256)
        stamp("load")
        if msg.dataset_sha256 is None:
            data.notes.append(
                "the dataset was stored before its files were hashed: it was read without a SHA-256 "
                "check (upload it again to have it checked)"
            )
        callbacks = ProgressCallbacks(send, job_id, stop, reasons, "training")
        # The baseline's share: a model that uses its whole budget still leaves time for the comparison.
        left = budget * (1.0 - BASELINE_SHARE if msg.baseline else 1.0) - (time.monotonic() - received)
        if left <= 0:
            from trainers.callbacks import TrainingStopped

            raise TrainingStopped("time_budget")
        rss_reset, rss_start = reset_peak_rss(), current_rss()
        result, run_info, plan, cls = _fit(msg, msg.model, data, out_dir / "model", callbacks, left)
        run_info.update(peak_rss(rss_reset, rss_start))
        stamp("fit")
        callbacks.phase = "saving"
        send(ProgressMessage(job_id=job_id, phase="saving", current=callbacks.current, total=callbacks.total))
        artifact = result.artifact
        sample = _sample_predictions(Path(artifact.directory), artifact.sha256, data, plan, msg.n_threads)
        stamp("sample_predictions")
        # Files in sub-folders (an ensemble's member copies, each verified by its own manifest) travel too.
        model_dir = Path(artifact.directory)
        nested = sorted(
            p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file() and p.parent != model_dir
        )
        zip_sha = zip_artifact(model_dir, [*artifact.files, *nested], out_dir / MODEL_ZIP)
        stamp("zip")
        notes = [*data.notes, *([plan.note] if plan.note else [])]
        send(
            ResultMessage(
                run="model",
                job_id=job_id,
                result=result,
                round_times=callbacks.round_times,
                run_info=run_info,
                sample_predictions=sample,
                zip=ZipInfo(file=MODEL_ZIP, sha256=zip_sha, size=(out_dir / MODEL_ZIP).stat().st_size),
                device=device_record(host, cls, plan.params, msg.n_threads, run_info),
                notes=notes,
            )
        )
        stamp("result_sent")
        model_ok = True
    except Exception as exc:  # every failure is reported; the parent decides what it means
        send(_error("model", job_id, exc))

    baseline = msg.baseline
    if model_ok and baseline is not None:
        left = budget - (time.monotonic() - received)
        try:
            from trainers.callbacks import TrainingStopped

            if stop.is_set():
                raise TrainingStopped(reasons.get(job_id, "cancelled"))  # type: ignore[arg-type]
            if left < 1.0:
                raise TrainingStopped("time_budget")
            callbacks = ProgressCallbacks(send, job_id, stop, reasons, "baseline")
            result, run_info, _, _ = _fit(msg, baseline, data, out_dir / "baseline", callbacks, left)
            send(ResultMessage(run="baseline", job_id=job_id, result=result, round_times=callbacks.round_times))
        except Exception as exc:
            send(_error("baseline", job_id, exc))
        stamp("baseline")
    del data
    stamp("done")
    send(DoneMessage(job_id=job_id, stamps=stamp.items))


# -- process entry point ------------------------------------------------------------------------
def child_main(conn: Connection, preload: bool = True, env: Mapping[str, str] | None = None) -> None:
    """Entry point of a spawned training process: announce readiness, then serve jobs until told to exit.

    ``env`` is applied before any ML library loads (OpenMP reads ``OMP_WAIT_POLICY`` once, at load).
    """
    os.environ.update(env or {})
    # Ctrl-C on `advisor serve` reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(message: ChildMessage) -> None:
        data = encode(message)
        with send_lock:
            conn.send_bytes(data)

    if preload:
        import importlib

        for module in PRELOAD:
            # An optional library missing: the job that needs it will say so.
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
    host = describe_host()
    jobs: queue.Queue[JobMessage | None] = queue.Queue()
    stop = threading.Event()
    reasons: dict[str, str] = {}
    current: list[str | None] = [None]

    def listen() -> None:
        while True:
            try:
                msg = parent_message(decode(conn.recv_bytes()))
            except (EOFError, OSError):
                os._exit(3)  # the parent is gone: nobody is waiting for this training
            if isinstance(msg, JobMessage):
                # Jobs come one at a time (the next only after "done"), so the listener owns "current".
                stop.clear()
                reasons.clear()
                current[0] = msg.job_id
                jobs.put(msg)
            elif isinstance(msg, StopMessage):
                if msg.job_id == current[0]:
                    reasons[msg.job_id] = msg.reason
                    stop.set()
            elif isinstance(msg, ExitMessage):
                jobs.put(None)
                return

    threading.Thread(target=listen, name="advisor-child-listen", daemon=True).start()
    send(ReadyMessage(pid=os.getpid(), host=host))
    while (msg := jobs.get()) is not None:
        run_job(msg, send, stop, reasons, host)
    conn.close()
