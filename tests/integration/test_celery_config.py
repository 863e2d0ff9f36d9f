"""The Celery wiring without a broker: settings chosen for long jobs, routing, worker arguments, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import cli
from service.jobs.celery_app import celery_config, longest_job_s, make_celery, worker_argv
from service.jobs.routing import TASK_NAME, queue_kind, route
from service.settings import Settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, queue="celery", broker_url="redis://127.0.0.1:1/0", **values)


def test_settings_for_long_jobs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    conf = celery_config(settings)
    assert conf["task_serializer"] == "json" and conf["accept_content"] == ["json"]
    assert conf["result_backend"] is None and conf["task_ignore_result"] is True
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["worker_cancel_long_running_tasks_on_connection_loss"] is False
    # backstops sit above the longest job, never below it
    assert conf["task_time_limit"] > longest_job_s(settings) >= 86400
    assert conf["broker_transport_options"]["visibility_timeout"] >= conf["task_time_limit"]
    assert [q.name for q in conf["task_queues"]] == ["cpu", "gpu"]
    app = make_celery(settings)
    assert TASK_NAME in app.tasks


def test_a_broker_url_is_required_for_celery(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="broker_url"):
        Settings(data_dir=tmp_path, queue="celery")


def test_torch_jobs_go_to_gpu_only_when_gpu_workers_exist(tmp_path: Path) -> None:
    off = _settings(tmp_path)
    on = _settings(tmp_path, gpu_queue_enabled=True, broker_queue_prefix="team-")
    assert queue_kind("gpu", off) == "cpu" and queue_kind("cpu", off) == "cpu"
    assert route("gpu", on) == "team-gpu" and route("cpu", on) == "team-cpu"


@pytest.mark.parametrize(
    ("cores", "threads_per_job", "processes", "threads"),
    [(8, 1, 8, 1), (8, 2, 4, 2), (3, 2, 1, 2), (2, 1, 2, 1), (1, 2, 1, 1), (1, 1, 1, 1)],
)
def test_cpu_workers_fill_the_cores_without_oversubscribing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cores: int,
    threads_per_job: int,
    processes: int,
    threads: int,
) -> None:
    import service.jobs.celery_app as celery_app

    monkeypatch.setattr(celery_app, "available_cores", lambda: cores)
    settings = _settings(tmp_path, threads_per_job=threads_per_job)
    argv, run, pool, concurrency = worker_argv(settings, queues="cpu", concurrency=None, pool=None)
    assert (pool, concurrency, run.threads_per_job) == ("prefork", processes, threads)
    assert f"--concurrency={processes}" in argv
    assert concurrency * run.threads_per_job <= cores  # jobs × threads never exceed the machine's cores


def test_worker_arguments(tmp_path: Path) -> None:
    settings = _settings(tmp_path, threads_per_job=1)
    argv, _run, pool, concurrency = worker_argv(settings, queues="gpu", concurrency=None, pool=None)
    assert pool == "threads" and concurrency == 1 and "--queues=gpu" in argv
    with pytest.raises(SystemExit):
        worker_argv(settings, queues="tpu", concurrency=None, pool=None)


def test_cli_has_the_scale_out_commands(tmp_path: Path) -> None:
    parser = cli.build_parser(_settings(tmp_path))
    assert parser.parse_args(["serve", "--no-migrate"]).no_migrate is True
    args = parser.parse_args(["worker", "--queues", "gpu", "--concurrency", "1"])
    assert (args.queues, args.concurrency) == ("gpu", 1)
    assert parser.parse_args(["worker-ping", "--any"]).any is True


class _RecordedProcess:
    """Stands in for a spawned training process: records the environment it was given."""

    started: list[dict[str, str]] = []

    def __init__(self, *, preload: bool = True, env: dict[str, str] | None = None) -> None:
        self.started.append(dict(env or {}))

    def kill(self) -> int | None:
        return 0


def test_celery_prewarmed_processes_get_the_child_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.jobs import process, tasks

    monkeypatch.setattr(process, "TrainingProcess", _RecordedProcess)
    monkeypatch.setattr(_RecordedProcess, "started", [])
    settings = _settings(tmp_path, job_omp_wait_policy="PASSIVE", worker_prewarm=True)
    make_celery(settings)  # registers the task and this process's worker state
    try:
        tasks.prewarm(1)  # what a prefork child does on worker_process_init
        state = tasks._process_state()
        assert state.take_process() is not None
        state.give_back(None)  # a killed process is replaced right away
        assert _RecordedProcess.started == [process.child_env(state.settings)] * 2
        assert _RecordedProcess.started[0]["OMP_WAIT_POLICY"] == "PASSIVE"
    finally:
        tasks._process_state().close()
