"""``JobRead.run``: what ran, from a stored result, beside the §13 estimates the job's params carry."""

from __future__ import annotations

from typing import Any

from _job_fixtures import stored_result

from advisor import Constraints, DatasetProfile, recommend
from service.db.models import Job
from service.jobs.messages import DeviceRecord
from service.jobs.stored import JobResult
from service.views.jobs import run_read
from trainers.spec import CurveSet


def _transfer_params() -> dict[str, Any]:
    profile = DatasetProfile(modality="image", task="multiclass", n_rows=5000, n_classes=10, image_size=(224, 224, 3))
    cand = recommend(profile, Constraints(gpu_available=True, compute="ample")).candidates[0]
    assert cand.choices["transfer"].value["pretrained_model"] == "ResNet50"
    return cand.params()


def _job(params: dict[str, Any], trainer: str = "torch_cnn") -> Job:
    return Job(id="j1", trainer=trainer, params=params, recommendation_id="r1")


def _stored(
    trainer: str, n_rounds: int, fit_s: float, run_info: dict[str, Any], device: str, dead_relu: float | None = None
) -> JobResult:
    base = stored_result({})
    curves = CurveSet(loss_name="loss", train_loss=[1.0], dead_relu_fraction=dead_relu)
    model = base.model.model_copy(
        update={"trainer": trainer, "n_rounds": n_rounds, "timings": {"fit_s": fit_s}, "curves": curves}
    )
    return base.model_copy(
        update={"model": model, "run_info": run_info, "device": DeviceRecord(device=device, threads=1)}
    )


def test_a_substituted_backbone_on_the_gpu_is_shown_beside_the_estimate_for_it() -> None:
    params = _transfer_params()
    est = params["memory_estimate"]
    stored = _stored(
        "torch_cnn",
        4,
        9.0,
        {
            "device": "cuda",
            "parameters": est["parameters"],
            "trainable_parameters": 1_000_000,
            "train_seconds": 8.0,
            "peak_memory_bytes": est["total_bytes"] // 2,
            "peak_memory_measure": "cuda max_memory_allocated",
            "peak_rss_bytes": 3 * 2**30,
            "backbone": {
                "requested": "ResNet50",
                "used": "efficientnet-lite0",
                "reason": "not on this machine",
                "source": "package:efficientnet-lite-pytorch",
            },
        },
        "cuda",
        dead_relu=0.25,
    )
    run = run_read(_job(params), stored)
    assert run is not None and run.device == "cuda" and run.round_unit == "epochs" and run.rounds_run == 4
    assert run.backbone is not None and (run.backbone.recommended, run.backbone.used_name) == (
        "ResNet50",
        "EfficientNet-Lite0",
    )
    assert run.backbone.reason == "not on this machine"
    # The estimate counted the backbone that ran: parameters agree, and CUDA's peak (not the RSS) is compared.
    assert run.estimates is not None and run.estimates.backbone == "EfficientNet-Lite0"
    assert run.ratios is not None and run.ratios.parameters == 1.0
    assert run.peak_memory_bytes == est["total_bytes"] // 2 and run.ratios.memory == 0.5
    assert run.ratios.memory_growth is None and run.memory_at_start_bytes is None
    assert run.seconds == 8.0 and run.seconds_per_round == 2.0
    assert run.ratios.seconds_per_epoch == round(2.0 / params["time_estimate"]["seconds_per_epoch"], 3)
    assert run.dead_relu_fraction == 0.25 and run.notes == []


def test_a_classical_job_has_no_estimate_and_counts_boosting_rounds() -> None:
    run_info = {
        "peak_rss_bytes": 400 * 2**20,
        "rss_at_start_bytes": 300 * 2**20,
        "peak_rss_measure": "training process RSS peak (VmHWM) since the job started",
    }
    stored = _stored("xgboost", 37, 0.5, run_info, "cpu")
    run = run_read(Job(id="j2", trainer="xgboost", params={"max_depth": 6}), stored)
    assert run is not None and run.round_unit == "boosting_rounds" and run.rounds_run == 37
    assert run.device == "cpu" and run.seconds == 0.5 and run.parameters is None
    assert run.peak_memory_bytes == 400 * 2**20 and run.memory_at_start_bytes == 300 * 2**20
    assert run.estimates is None and run.ratios is None
    assert run_read(Job(id="j3", trainer="xgboost", params={}), None) is None  # no result yet: nothing ran
