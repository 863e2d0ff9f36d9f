"""The asyncio client: :class:`AsyncAdvisor`, the twin of :class:`~advisor_client.Advisor` (same methods,
awaited), with :class:`AsyncJobHandle` and :class:`AsyncRaceHandle`."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from advisor_client import _core
from advisor_client._core import Call, Flow, Sleep, identifier
from advisor_client.errors import JobFailed, NotFound, TransportError, raise_for_problem
from advisor_client.models import Dataset, Explanation, Job, JobPage, ModelFile, Prediction, Race, Recommendation
from advisor_client.progress import ProgressBar
from advisor_client.sse import aevents
from advisor_client.sync import _check_deadline, _model_file, _RaceBar, _read_timeout, _target_path

T = TypeVar("T")


class AsyncAdvisor:
    """The async client; ``async with AsyncAdvisor(url, api_key) as advisor: await advisor.train(...)``."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = _core.resolve_url(url)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=_core.base_headers(_core.resolve_key(api_key)),
            timeout=timeout,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAdvisor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> httpx.Response:
        extra: dict[str, Any] = {} if call.timeout is ... else {"timeout": call.timeout}
        try:
            response = await self._http.request(
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

    async def _run(self, flow: Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def upload(
        self,
        data: Any,
        target: str | None = None,
        *,
        task: str | None = None,
        modality: str | None = None,
        name: str | None = None,
        progress: bool = False,
    ) -> Dataset:
        return await self._run(
            _core.upload_flow(data, target=target, task=task, modality=modality, name=name, progress=progress)
        )

    async def dataset(self, dataset_id: str) -> Dataset:
        return await self._run(_core.get_flow(f"/v1/datasets/{dataset_id}", Dataset))

    async def recommend(
        self,
        data: Any = None,
        target: str | None = None,
        *,
        dataset_id: str | None = None,
        profile: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        progress: bool = False,
    ) -> Recommendation:
        return await self._run(
            _core.recommend_flow(
                data, target, dataset_id=dataset_id, profile=profile, constraints=constraints, progress=progress
            )
        )

    async def train(self, data: Any = None, target: str | None = None, **options: Any) -> AsyncJobHandle:
        return AsyncJobHandle(self, await self._run(_core.train_flow(data, target, **options)))

    async def race(self, data: Any = None, target: str | None = None, **options: Any) -> AsyncRaceHandle:
        return AsyncRaceHandle(self, await self._run(_core.race_flow(data, target, **options)))

    async def get_job(self, job_id: str) -> Job:
        return await self._run(_core.get_flow(f"/v1/jobs/{job_id}", Job))

    async def job(self, job: Any) -> AsyncJobHandle:
        return AsyncJobHandle(self, job if isinstance(job, Job) else await self.get_job(identifier(job, "job")))

    async def jobs(
        self, *, status: str | None = None, dataset_id: str | None = None, limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        return await self._run(_core.jobs_flow(status=status, dataset_id=dataset_id, limit=limit, cursor=cursor))

    async def cancel(self, job: Any) -> Job:
        return await self._run(_core.cancel_flow(identifier(job, "job")))

    async def get_race(self, race_id: str) -> Race:
        return await self._run(_core.get_flow(f"/v1/races/{race_id}", Race))

    async def race_handle(self, race: Any) -> AsyncRaceHandle:
        return AsyncRaceHandle(self, race if isinstance(race, Race) else await self.get_race(identifier(race, "race")))

    async def predict(self, job: Any, data: Any, *, batch: bool = False) -> Prediction:
        return await self._run(_core.predict_flow(identifier(job, "job"), data, batch=batch))

    async def explain(self, job: Any, data: Any, *, batch: bool = False) -> Explanation:
        return await self._run(_core.explain_flow(identifier(job, "job"), data, batch=batch))

    async def download_model(self, job: Any, path: str | Path | None = None, *, format: str = "zip") -> ModelFile:
        job_id = identifier(job, "job")
        try:
            async with self._http.stream("GET", f"/v1/jobs/{job_id}/model", params={"format": format}) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise_for_problem(response)
                target = _target_path(path, _core.download_name(response, f"{job_id}.{format}"))
                digest = hashlib.sha256()
                with target.open("wb") as out:
                    async for chunk in response.aiter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
        except httpx.TransportError as exc:
            raise TransportError(f"cannot reach {self.url}: {exc}") from exc
        return _model_file(target, digest.hexdigest(), response)

    async def _follow(self, job_id: str, bar: Any, deadline: float | None) -> Job:
        failures = 0
        while True:
            try:
                async with self._http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/events",
                    headers={"Accept": "text/event-stream"},
                    timeout=httpx.Timeout(self._http.timeout.connect, read=_read_timeout(deadline)),
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        raise_for_problem(response)
                    async for event in aevents(response.aiter_lines()):
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
                await asyncio.sleep(min(2.0, 0.2 * 2**failures))
            else:
                job = await self.get_job(job_id)
                if job.done:
                    return job
                _check_deadline(deadline, job_id)


class AsyncJobHandle:
    """A training job being followed (async); ``job`` is its latest known state."""

    def __init__(self, advisor: AsyncAdvisor, job: Job) -> None:
        self.advisor = advisor
        self.job = job

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def status(self) -> str:
        return self.job.status

    def __repr__(self) -> str:
        return f"AsyncJobHandle(id={self.id!r}, status={self.status!r}, model={self.job.model!r})"

    async def refresh(self) -> Job:
        self.job = await self.advisor.get_job(self.id)
        return self.job

    async def wait(self, progress: bool = True, *, timeout: float | None = None, raise_on_failure: bool = False) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(f"job {self.id[:8]}", enabled=progress)
        if not self.job.done:
            bar.update(*_core.progress_view(self.job.model_dump()))
            self.job = await self.advisor._follow(self.id, bar, deadline)
        await self.refresh()
        bar.update(1.0 if self.job.succeeded else bar.fraction, self.job.status)
        bar.close(self.job.status)
        if raise_on_failure and not self.job.succeeded:
            raise JobFailed(self.job)
        return self.job

    async def cancel(self) -> Job:
        self.job = await self.advisor.cancel(self.id)
        return self.job

    async def predict(self, data: Any, *, batch: bool = False) -> Prediction:
        return await self.advisor.predict(self.id, data, batch=batch)

    async def explain(self, data: Any, *, batch: bool = False) -> Explanation:
        return await self.advisor.explain(self.id, data, batch=batch)

    async def download_model(self, path: str | Path | None = None, *, format: str = "zip") -> ModelFile:
        return await self.advisor.download_model(self.id, path, format=format)


class AsyncRaceHandle:
    """A race being followed (async); ``race`` is its latest known state."""

    def __init__(self, advisor: AsyncAdvisor, race: Race) -> None:
        self.advisor = advisor
        self.race = race

    @property
    def id(self) -> str:
        return self.race.id

    @property
    def status(self) -> str:
        return self.race.status

    async def refresh(self) -> Race:
        self.race = await self.advisor.get_race(self.id)
        return self.race

    async def wait(self, progress: bool = True, *, timeout: float | None = None) -> Race:
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = ProgressBar(f"race {self.id[:8]}", enabled=progress)
        ended: set[str] = set()
        while not (await self.refresh()).done:
            _check_deadline(deadline, self.id)
            statuses = {e.job_id: e.status for e in self.race.leaderboard if e.job_id}
            ended |= {j for j, s in statuses.items() if s in ("succeeded", "failed", "cancelled")}
            pending = [j for j in self.race.job_ids if j not in ended]
            if not pending:
                await asyncio.sleep(0.5)
                continue
            job_id = pending[0]
            sub = _RaceBar(bar, done=len(ended), total=max(len(self.race.job_ids), 1), job_id=job_id)
            await self.advisor._follow(job_id, sub, deadline)
            ended.add(job_id)
        bar.update(1.0, "finished")
        bar.close("finished")
        return self.race

    async def best_job(self) -> AsyncJobHandle | None:
        winner = self.race.winner
        return None if winner is None or winner.job_id is None else await self.advisor.job(winner.job_id)
