"""What the sync and async clients share: the requests each operation makes, written once as "flows".

A flow is a generator: it yields a :class:`Call` (an HTTP request to make) or a :class:`Sleep`, is sent the
``httpx.Response`` back, and returns the operation's result. :class:`~advisor_client.Advisor` runs flows with
an ``httpx.Client``, :class:`~advisor_client.AsyncAdvisor` with an ``httpx.AsyncClient``; only the streaming
parts (Server-Sent Events, model downloads) are written twice.
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from advisor_client import __version__
from advisor_client.errors import AdvisorError, ExplanationUnavailable
from advisor_client.models import Dataset, Explanation, Job, JobPage, Prediction, Race, Recommendation
from advisor_client.progress import ProgressBar, format_bytes

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = f"model-advisor-client/{__version__}"

T = TypeVar("T")


@dataclass(slots=True)
class Call:
    """One request of a flow; an error status raises the typed problem before the flow sees it."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    files: Any = None
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | object | None = ...  # ...: the client's default


@dataclass(slots=True)
class Sleep:
    seconds: float


Flow = Generator[Call | Sleep, httpx.Response | None, T]


def resolve_url(url: str | None) -> str:
    """The service's base URL: the argument, else ``ADVISOR_URL``, else the local default."""
    return (url or os.environ.get("ADVISOR_URL") or DEFAULT_URL).rstrip("/")


def resolve_key(api_key: str | None) -> str | None:
    """The API key: the argument, else ``ADVISOR_API_KEY``, else none (a keyless local service)."""
    return api_key if api_key is not None else (os.environ.get("ADVISOR_API_KEY") or None)


def base_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/problem+json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def identifier(thing: Any, what: str = "id") -> str:
    """The id of a string id, a model (``.id``) or a handle (``.id``)."""
    if isinstance(thing, str):
        return thing
    value = getattr(thing, "id", None)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a {what} (a string, or an object with .id), got {type(thing).__name__}")


# -- uploads ------------------------------------------------------------------------------------------------------


def is_dataframe(obj: Any) -> bool:
    """A pandas (or pandas-like) DataFrame, recognised without importing pandas."""
    return hasattr(obj, "to_csv") and hasattr(obj, "columns") and not isinstance(obj, (str, bytes, os.PathLike))


class _CountingReader:
    """A binary file wrapper that reports how far it has been read (the upload's progress)."""

    def __init__(self, raw: IO[bytes], size: int | None, on_read: Callable[[int, int | None], None] | None) -> None:
        self._raw = raw
        self._size = size
        self._on_read = on_read

    def read(self, n: int = -1) -> bytes:
        chunk = self._raw.read(n)
        if self._on_read is not None:
            self._on_read(self._raw.tell(), self._size)
        return chunk

    def __getattr__(self, name: str) -> Any:  # fileno, seek, tell: how httpx learns the length
        return getattr(self._raw, name)


@dataclass(slots=True)
class UploadFile:
    """A file ready to send as ``file`` of a multipart form; ``close()`` when the request is done."""

    filename: str
    reader: Any
    content_type: str
    size: int | None
    _owned: IO[bytes] | None = None

    def field(self) -> tuple[str, Any, str]:
        return (self.filename, self.reader, self.content_type)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()


def _content_type(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    known = {".csv": "text/csv", ".parquet": "application/vnd.apache.parquet", ".npz": "application/octet-stream"}
    return known.get(suffix) or mimetypes.guess_type(filename)[0] or "application/octet-stream"


def open_upload(
    data: Any, *, name: str | None = None, on_read: Callable[[int, int | None], None] | None = None
) -> UploadFile:
    """``data`` as a file to upload: a path (CSV, Parquet, zip, npz, PNG/JPEG), a DataFrame (sent as CSV),
    bytes, or a binary file object."""
    if is_dataframe(data):
        raw: IO[bytes] = io.BytesIO(data.to_csv(index=False).encode())
        filename = name or "dataframe.csv"
        owned = None
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise AdvisorError(f"no such file: {path}")
        raw = owned = path.open("rb")
        filename = name or path.name
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw, owned = io.BytesIO(bytes(data)), None
        filename = name or "data.csv"
    elif hasattr(data, "read"):
        raw, owned = data, None
        filename = name or Path(str(getattr(data, "name", "data.csv"))).name
    else:
        raise TypeError(f"cannot upload a {type(data).__name__}: give a path, a DataFrame, bytes or a binary file")
    size: int | None
    try:
        size = os.fstat(raw.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        try:
            here = raw.tell()
            size = raw.seek(0, os.SEEK_END) - here
            raw.seek(here)
        except (AttributeError, OSError, io.UnsupportedOperation):
            size = None
    return UploadFile(filename, _CountingReader(raw, size, on_read), _content_type(filename), size, owned)


def upload_bar(label: str, enabled: bool) -> tuple[ProgressBar, Callable[[int, int | None], None]]:
    """A progress bar for an upload and the callback that moves it."""
    bar = ProgressBar(label, enabled=enabled)

    def on_read(done: int, total: int | None) -> None:
        text = f"sent {format_bytes(done)}" + (f" / {format_bytes(total)}" if total else "")
        bar.update(done / total if total else None, text)

    return bar, on_read


def _form(**values: Any) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


# -- flows --------------------------------------------------------------------------------------------------------


def _json(response: httpx.Response | None) -> Any:
    assert response is not None
    return response.json()


def upload_flow(
    data: Any,
    *,
    target: str | None,
    task: str | None = None,
    modality: str | None = None,
    name: str | None = None,
    progress: bool = False,
) -> Flow[Dataset]:
    bar, on_read = upload_bar("upload", progress)
    file = open_upload(data, name=name, on_read=on_read)
    try:
        response = yield Call(
            "POST",
            "/v1/datasets",
            files={"file": file.field()},
            data=_form(target=target, task=task, modality=modality, name=name),
            timeout=None,
        )
    finally:
        file.close()
    bar.close("uploaded")
    return Dataset.model_validate(_json(response))


def dataset_flow(
    data: Any, target: str | None, dataset_id: str | None, progress: bool, **upload: Any
) -> Flow[Dataset | str]:
    """The dataset an operation works on: ``dataset_id``, a :class:`Dataset`, or ``data`` uploaded now."""
    if dataset_id is not None:
        if data is not None:
            raise TypeError("give data or dataset_id, not both")
        return dataset_id
    if isinstance(data, Dataset):
        return data
    if data is None:
        raise TypeError("give data (a path or a DataFrame) or dataset_id")
    return (yield from upload_flow(data, target=target, progress=progress, **upload))


def recommend_flow(
    data: Any = None,
    target: str | None = None,
    *,
    dataset_id: str | None = None,
    profile: Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> Flow[Recommendation]:
    body: dict[str, Any] = {}
    if profile is not None:
        if data is not None or dataset_id is not None:
            raise TypeError("give profile, data or dataset_id: one of them")
        body["profile"] = dict(profile)
    else:
        dataset = yield from dataset_flow(data, target, dataset_id, progress)
        body["dataset_id"] = identifier(dataset, "dataset")
    if constraints:
        body["constraints"] = dict(constraints)
    response = yield Call("POST", "/v1/recommendations", json=body)
    return Recommendation.model_validate(_json(response))


def train_flow(
    data: Any = None,
    target: str | None = None,
    *,
    dataset_id: str | None = None,
    recommendation_id: str | None = None,
    candidate: int | str | None = None,
    spec: Mapping[str, Any] | None = None,
    constraints: Mapping[str, Any] | None = None,
    seed: int = 0,
    time_budget_s: float | None = None,
    train_baseline: bool = True,
    callback_url: str | None = None,
    idempotency_key: str | None = None,
    progress: bool = False,
) -> Flow[Job]:
    dataset = yield from dataset_flow(data, target, dataset_id, progress)
    dataset_key = identifier(dataset, "dataset")
    if recommendation_id is None and spec is None:
        recommendation = yield from recommend_flow(dataset_id=dataset_key, constraints=constraints)
        recommendation_id = recommendation.id
    body: dict[str, Any] = {"dataset_id": dataset_key, "seed": seed, "train_baseline": train_baseline}
    optional = {
        "recommendation_id": recommendation_id,
        "candidate": candidate,
        "spec": dict(spec) if spec is not None else None,
        "time_budget_s": time_budget_s,
        "callback_url": callback_url,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    response = yield Call("POST", "/v1/jobs", json=body, headers=headers)
    return Job.model_validate(_json(response))


def race_flow(
    data: Any = None,
    target: str | None = None,
    *,
    dataset_id: str | None = None,
    recommendation_id: str | None = None,
    constraints: Mapping[str, Any] | None = None,
    top_k: int | None = None,
    seed: int = 0,
    time_budget_s: float | None = None,
    callback_url: str | None = None,
    progress: bool = False,
) -> Flow[Race]:
    dataset = yield from dataset_flow(data, target, dataset_id, progress)
    body: dict[str, Any] = {"seed": seed}
    optional = {
        "top_k": top_k,
        "recommendation_id": recommendation_id,
        "constraints": dict(constraints) if constraints else None,
        "time_budget_s": time_budget_s,
        "callback_url": callback_url,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    response = yield Call("POST", f"/v1/datasets/{identifier(dataset, 'dataset')}/race", json=body)
    return Race.model_validate(_json(response))


def get_flow(path: str, model: type[T], params: dict[str, Any] | None = None) -> Flow[T]:
    response = yield Call("GET", path, params={k: v for k, v in (params or {}).items() if v is not None})
    return model.model_validate(_json(response))  # type: ignore[attr-defined,no-any-return]


def jobs_flow(
    *, status: str | None = None, dataset_id: str | None = None, limit: int = 20, cursor: str | None = None
) -> Flow[JobPage]:
    params = {"status": status, "dataset_id": dataset_id, "limit": limit, "cursor": cursor}
    return (yield from get_flow("/v1/jobs", JobPage, params))


def cancel_flow(job_id: str) -> Flow[Job]:
    response = yield Call("POST", f"/v1/jobs/{job_id}/cancel")
    return Job.model_validate(_json(response))


def _prediction_call(job_id: str, data: Any, params: dict[str, Any]) -> tuple[Call, UploadFile | None]:
    path = f"/v1/jobs/{job_id}/predictions"
    if isinstance(data, Mapping) and ("rows" in data or "inputs" in data):
        return Call("POST", path, params=params, json=dict(data)), None
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes, bytearray)):
        rows = list(data)
        if rows and all(isinstance(r, Mapping) for r in rows):
            return Call("POST", path, params=params, json={"rows": [dict(r) for r in rows]}), None
        return Call("POST", path, params=params, json={"inputs": rows}), None
    file = open_upload(data)
    return Call("POST", path, params=params, files={"file": file.field()}, timeout=None), file


def _batch_result(batch: dict[str, Any], lines: str, job_id: str) -> dict[str, Any]:
    """A finished batch prediction as the body a direct prediction would have had."""
    records = [json.loads(line) for line in lines.splitlines() if line.strip()]
    records.sort(key=lambda r: r.get("row", 0))
    body: dict[str, Any] = {
        "job_id": job_id,
        "task": batch.get("task") or "",
        "n_rows": len(records),
        "predictions": [r.get("prediction") for r in records],
        "classes": batch.get("classes"),
        "warnings": batch.get("warnings") or [],
        "batch_id": batch.get("id"),
    }
    if any("probabilities" in r for r in records):
        body["probabilities"] = [r.get("probabilities") for r in records]
    if any("id" in r for r in records):
        body["ids"] = [r.get("id") for r in records]
    for key in ("contributions",):
        if any(key in r for r in records):
            body[key] = [r.get(key) for r in records]
    return body


def predict_body_flow(job_id: str, data: Any, *, batch: bool = False, explain: bool = False) -> Flow[dict[str, Any]]:
    """The prediction answer's body; a batch prediction (202) is polled until it ends and its result read."""
    params: dict[str, Any] = {}
    if batch:
        params["mode"] = "batch"
    if explain:
        params["explain"] = "true"
    call, file = _prediction_call(job_id, data, params)
    try:
        response = yield call
    finally:
        if file is not None:
            file.close()
    assert response is not None
    if response.status_code != 202:
        body: dict[str, Any] = response.json()
        return body
    location = response.headers.get("location") or f"/v1/jobs/{job_id}/predictions/{response.json()['id']}"
    while True:
        status = _json((yield Call("GET", location)))
        if status["status"] == "succeeded":
            break
        if status["status"] == "failed":
            error = status.get("error") or {}
            raise AdvisorError(f"batch prediction {status['id']} failed: {error.get('detail') or error}")
        yield Sleep(float(response.headers.get("retry-after") or 1))
    result = yield Call("GET", status.get("result_url") or f"{location}/result", timeout=None)
    assert result is not None
    return _batch_result(status, result.text, job_id)


def predict_flow(job_id: str, data: Any, *, batch: bool = False) -> Flow[Prediction]:
    body = yield from predict_body_flow(job_id, data, batch=batch)
    return Prediction.model_validate(body)


def explain_flow(job_id: str, data: Any, *, batch: bool = False) -> Flow[Explanation]:
    body = yield from predict_body_flow(job_id, data, batch=batch, explain=True)
    if "contributions" not in body:
        raise ExplanationUnavailable(
            "the server answered without per-row contributions: it does not support explain=true"
        )
    return Explanation.model_validate(body)


# -- job progress -------------------------------------------------------------------------------------------------


def progress_view(payload: Mapping[str, Any]) -> tuple[float | None, str, float | None]:
    """(fraction, text, server ETA) of a job's ``progress`` event (or of a job)."""
    status = str(payload.get("status") or "")
    progress = payload.get("progress") or {}
    if hasattr(progress, "model_dump"):
        progress = progress.model_dump()
    fraction = progress.get("fraction")
    current, total = progress.get("current") or 0, progress.get("total") or 0
    if fraction is None and total:
        fraction = current / total
    if status == "queued":
        fraction = 0.0
    parts = [status]
    if progress.get("phase") and progress.get("phase") != status:
        parts.append(str(progress["phase"]))
    if total:
        parts.append(f"{current}/{total}")
    metrics = progress.get("metrics") or {}
    shown = [f"{k}={v:.4g}" for k, v in list(metrics.items())[:2] if isinstance(v, (int, float))]
    text = " ".join(parts) + (("  " + " ".join(shown)) if shown else "")
    return fraction, text, progress.get("eta_s")


def download_name(response: httpx.Response, fallback: str) -> str:
    """The file name of a Content-Disposition header, made safe for the current folder."""
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename" and value:
            name = Path(value.strip().strip('"')).name
            if name and name not in (".", ".."):
                return name
    return fallback
