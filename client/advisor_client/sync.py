"""The blocking client: :class:`Advisor`, with :class:`JobHandle` and :class:`RaceHandle` to follow work."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from advisor_client import _core
from advisor_client._core import Call, Flow, Sleep, identifier
from advisor_client.errors import AdvisorError, JobFailed, NotFound, TransportError, WaitTimeout, raise_for_problem
from advisor_client.models import (
    Dataset,
    Explanation,
    Job,
    JobPage,
    ModelFile,
    Prediction,
    Race,
    Recommendation,
)
from advisor_client.progress import ProgressBar
from advisor_client.sse import events

T = TypeVar("T")


class Advisor:
    """A client of a model-advisor service.

    >>> advisor = Advisor("http://127.0.0.1:8000", api_key="adv_...")
    >>> job = advisor.train("churn.csv", target="churn")
    >>> job.wait(progress=True).metrics

    ``url`` defaults to ``ADVISOR_URL`` (else http://127.0.0.1:8000), ``api_key`` to ``ADVISOR_API_KEY``.
    Errors the service answers raise :class:`~advisor_client.errors.ProblemError` subclasses.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = _core.resolve_url(url)
        self._http = httpx.Client(
            base_url=self.url,
            headers=_core.base_headers(_core.resolve_key(api_key)),
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Advisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _send(self, call: Call) -> httpx.Response:
        extra: dict[str, Any] = {} if call.timeout is ... else {"timeout": call.timeout}
        try:
            response = self._http.request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                files=call.files,
                data=call.data,
                headers=call.headers,
                **extra,
            )
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc
        raise_for_problem(response)
        return response

    def _run(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # -- datasets and recommendations -------------------------------------------------------------------------

    def upload(
        self,
        data: Any,
        target: str | None = None,
        *,
        task: str | None = None,
        modality: str | None = None,
        name: str | None = None,
        progress: bool = False,
    ) -> Dataset:
        """Upload a dataset: a path (CSV, Parquet, a zip of class folders, an .npz), a DataFrame (sent as CSV),
        bytes or a binary file; ``target`` names the column to predict. The same bytes again return the
        stored dataset."""
        return self._run(
            _core.upload_flow(data, target=target, task=task, modality=modality, name=name, progress=progress)
        )

    def dataset(self, dataset_id: str) -> Dataset:
        return self._run(_core.get_flow(f"/v1/datasets/{dataset_id}", Dataset))

    def recommend(
        self,
        data: Any = None,
        target: str | None = None,
        *,
        dataset_id: str | None = None,
        profile: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        progress: bool = False,
    ) -> Recommendation:
        """A recommendation for ``data`` (uploaded first), a stored dataset, or a described ``profile``."""
        return self._run(
            _core.recommend_flow(
                data, target, dataset_id=dataset_id, profile=profile, constraints=constraints, progress=progress
            )
        )

    # -- training -----------------------------------------------------------------------------------------------

    def train(self, data: Any = None, target: str | None = None, **options: Any) -> JobHandle:
        """Queue a training job and return its handle (``.wait()`` follows it).

        ``data`` (a path or DataFrame, uploaded first) or ``dataset_id=``; without ``recommendation_id`` or
        ``spec`` a recommendation is made and its ``candidate`` (default: the first) trained. Other options:
        ``constraints``, ``seed``, ``time_budget_s``, ``train_baseline``, ``callback_url``,
        ``idempotency_key``, ``progress`` (the upload's bar).
        """
        return JobHandle(self, self._run(_core.train_flow(data, target, **options)))

    def race(self, data: Any = None, target: str | None = None, **options: Any) -> RaceHandle:
        """Race a recommendation's ``top_k`` candidates and its baseline; return the race's handle.

        ``data`` or ``dataset_id=``; options: ``recommendation_id``, ``constraints``, ``top_k`` (default: the
        service's), ``seed``, ``time_budget_s`` (of the whole race), ``callback_url``, ``progress`` (the upload's bar).
        """
        return RaceHandle(self, self._run(_core.race_flow(data, target, **options)))

    def get_job(self, job_id: str) -> Job:
        return self._run(_core.get_flow(f"/v1/jobs/{job_id}", Job))

    def job(self, job: Any) -> JobHandle:
        """A handle on an existing job (an id, a :class:`Job`)."""
        return JobHandle(self, job if isinstance(job, Job) else self.get_job(identifier(job, "job")))

    def jobs(
        self, *, status: str | None = None, dataset_id: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        """A page of jobs, newest first (``next_cursor`` gets the next page)."""
        return self._run(_core.jobs_flow(status=status, dataset_id=dataset_id, limit=limit, cursor=cursor))

    def cancel(self, job: Any) -> Job:
        return self._run(_core.cancel_flow(identifier(job, "job")))

    def get_race(self, race_id: str) -> Race:
        return self._run(_core.get_flow(f"/v1/races/{race_id}", Race))

    def race_handle(self, race: Any) -> RaceHandle:
        """A handle on an existing race (an id, a :class:`Race`)."""
        return RaceHandle(self, race if isinstance(race, Race) else self.get_race(identifier(race, "race")))

    # -- using a model -----------------------------------------------------------------------------------------

    def predict(self, job: Any, data: Any, *, batch: bool = False) -> Prediction:
        """Predict with a job's model: rows (a list of dicts), ``{"inputs": [...]}``, a path or a DataFrame.
        A large input becomes a batch prediction on the server; this waits for it and returns all rows."""
        return self._run(_core.predict_flow(identifier(job, "job"), data, batch=batch))

    def explain(self, job: Any, data: Any, *, batch: bool = False) -> Explanation:
        """Predictions with per-row contributions (``explain=true``); raises
        :class:`~advisor_client.errors.ExplanationUnavailable` when the server gives none."""
        return self._run(_core.explain_flow(identifier(job, "job"), data, batch=batch))

    def download_model(self, job: Any, path: str | Path | None = None, *, format: str = "zip") -> ModelFile:
        """Download a job's model (``format``: zip or onnx) to ``path`` (a file or a folder; default: the
        server's file name in the current folder); the download's SHA-256 is checked against the server's."""
        job_id = identifier(job, "job")
        try:
            with self._http.stream("GET", f"/v1/jobs/{job_id}/model", params={"format": format}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_problem(response)
                target = _target_path(path, _core.download_name(response, f"{job_id}.{format}"))
                digest = hashlib.sha256()
                with target.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc
        return _model_file(target, digest.hexdigest(), response)

    # -- following a job ---------------------------------------------------------------------------------------

    def _follow(self, job_id: str, bar: ProgressBar | None, deadline: float | None) -> Job:
        """Read the job's event stream until its ``end`` event (reconnecting if the stream drops)."""
        failures = 0
        while True:
            try:
                with self._http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/events",
                    headers={"Accept": "text/event-stream"},
                    timeout=httpx.Timeout(self._http.timeout.connect, read=_read_timeout(deadline)),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise_for_problem(response)
                    for event in events(response.iter_lines()):
                        if event.event == "progress" and bar is not None:
                            bar.update(*_core.progress_view(event.json()))
                        elif event.event == "end":
                            return Job.model_validate(event.json())
                        elif event.event == "error":
                            raise NotFound(status=404, title="Resource not found", detail=event.json()["detail"])
                        _check_deadline(deadline, job_id)
            except (httpx.TransportError, httpx.StreamError) as exc:
                _check_deadline(deadline, job_id)
                failures += 1
                if failures > 5:
                    raise TransportError(f"lost the event stream of job {job_id}: {exc}") from exc
                time.sleep(min(2.0, 0.2 * 2**failures))
            else:
                # The stream ended without an end event (a proxy cut it): look, then follow again.
                job = self.get_job(job_id)
                if job.done:
                    return job
                _check_deadline(deadline, job_id)


class JobHandle:
    """A training job being followed: ``job`` is its latest known state."""

    def __init__(self, advisor: Advisor, job: Job) -> None:
        self.advisor = advisor
        self.job = job

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> str:
        return self.job.status

    def __repr__(self) -> str:
        return f"JobHandle(id={self.id!r}, status={self.status!r}, model={self.job.model!r})"

    def refresh(self) -> Job:
        self.job = self.advisor.get_job(self.id)
        return self.job

    def wait(self, progress: bool = True, *, timeout: float | None = None, raise_on_failure: bool = False) -> Job:
        """Follow the job's Server-Sent Events until it ends, drawing a progress bar with an ETA on stderr;
        return the whole job (metrics, curves, diagnosis). ``raise_on_failure``: raise
        :class:`~advisor_client.errors.JobFailed` if it failed or was cancelled."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(f"job {self.id[:8]}", enabled=progress)
        if not self.job.done:
            bar.update(*_core.progress_view(self.job.model_dump()))
            self.job = self.advisor._follow(self.id, bar, deadline)
        self.refresh()  # the end event leaves the curves out; the job's own answer has everything
        bar.update(1.0 if self.job.succeeded else bar.fraction, self.job.status)
        bar.close(self.job.status)
        if raise_on_failure and not self.job.succeeded:
            raise JobFailed(self.job)
        return self.job

    def cancel(self) -> Job:
        self.job = self.advisor.cancel(self.id)
        return self.job

    def predict(self, data: Any, *, batch: bool = False) -> Prediction:
        return self.advisor.predict(self.id, data, batch=batch)

    def explain(self, data: Any, *, batch: bool = False) -> Explanation:
        return self.advisor.explain(self.id, data, batch=batch)

    def download_model(self, path: str | Path | None = None, *, format: str = "zip") -> ModelFile:
        return self.advisor.download_model(self.id, path, format=format)


class RaceHandle:
    """A race being followed: ``race`` is its latest known state."""

    def __init__(self, advisor: Advisor, race: Race) -> None:
        self.advisor = advisor
        self.race = race

    @property
    def id(self) -> str:
        return self.race.id

    @property
    def status(self) -> str:
        return self.race.status

    def __repr__(self) -> str:
        return f"RaceHandle(id={self.id!r}, status={self.status!r}, jobs={len(self.race.job_ids)})"

    def refresh(self) -> Race:
        self.race = self.advisor.get_race(self.id)
        return self.race

    def wait(self, progress: bool = True, *, timeout: float | None = None) -> Race:
        """Follow the race's jobs (each one's Server-Sent Events, one after another) until the race has
        finished, with one progress bar over all of them; return the race with its leaderboard."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(f"race {self.id[:8]}", enabled=progress)
        ended: set[str] = set()
        while not self.refresh().done:
            _check_deadline(deadline, self.id)
            statuses = {e.job_id: e.status for e in self.race.leaderboard if e.job_id}
            ended |= {j for j, s in statuses.items() if s in ("succeeded", "failed", "cancelled")}
            pending = [j for j in self.race.job_ids if j not in ended]
            if not pending:
                time.sleep(0.5)  # the ensemble entry starts once the others ended
                continue
            job_id = pending[0]
            sub = _RaceBar(bar, done=len(ended), total=max(len(self.race.job_ids), 1), job_id=job_id)
            self.advisor._follow(job_id, sub, deadline)  # type: ignore[arg-type]
            ended.add(job_id)
        bar.update(1.0, "finished")
        bar.close("finished")
        return self.race

    def best_job(self) -> JobHandle | None:
        """A handle on the leaderboard's first entry (None before any entry is scored)."""
        winner = self.race.winner
        return None if winner is None or winner.job_id is None else self.advisor.job(winner.job_id)


class _RaceBar:
    """Maps one job's progress onto the race's bar: (jobs ended + this job's fraction) / jobs."""

    def __init__(self, bar: ProgressBar, *, done: int, total: int, job_id: str) -> None:
        self.bar, self.done, self.total, self.job_id = bar, done, total, job_id

    def update(self, fraction: float | None, text: str = "", eta_s: float | None = None) -> None:
        overall = (self.done + (fraction or 0.0)) / self.total
        self.bar.update(overall, f"job {self.done + 1}/{self.total} {self.job_id[:8]} {text}")


def _read_timeout(deadline: float | None) -> float | None:
    # The server sends a keep-alive comment every 15 s; 60 s of silence is a dead connection.
    return 60.0 if deadline is None else max(1.0, min(60.0, deadline - time.monotonic()))


def _check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise WaitTimeout(f"{what} has not ended within the timeout")


def _target_path(path: str | Path | None, name: str) -> Path:
    if path is None:
        return Path(name)
    target = Path(path)
    return target / name if target.is_dir() else target


def _model_file(target: Path, sha256: str, response: httpx.Response) -> ModelFile:
    expected = response.headers.get("x-content-sha256")
    if expected and expected != "None" and expected != sha256:
        target.unlink(missing_ok=True)
        raise AdvisorError(f"the download's SHA-256 {sha256} is not the server's {expected}")
    return ModelFile(
        path=str(target),
        size_bytes=target.stat().st_size,
        sha256=sha256,
        artifact_format=response.headers.get("x-artifact-format"),
    )
