"""Robust regression losses are applied in the target's units: a price-like target with ~6% gross outliers gets
Huber from the advisor, and every recommended regression entry then beats the mean predictor, near a default
booster. With the libraries' δ = 1 the XGBoost entry diverged (test R² about -5e9) and LightGBM's stayed at the
mean (R² 0.00)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from advisor import recommend
from trainers.classical.boosting import MAD_TO_SD, target_scale
from trainers.ingest import ingest
from trainers.run import fit_and_evaluate
from trainers.spec import TrainSpec


def price_frame(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Log-normal prices around 20,000 driven by three features; ~6% luxury listings (a fourth feature) cost
    six times as much: gross outliers by Tukey's fences, but real ones a model can learn."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    log_price = np.log(20_000) + 0.3 * x[:, 0] + 0.2 * x[:, 1] - 0.15 * x[:, 2] * x[:, 0] + rng.normal(0, 0.05, n)
    price = np.exp(log_price)
    price[x[:, 3] > 1.55] *= 6.0
    return pd.DataFrame(
        {"size": x[:, 0], "quality": x[:, 1], "age": x[:, 2], "luxury_score": x[:, 3], "price": price.round(0)}
    )


def _r2(
    trainer: str, params: dict[str, Any], frame: pd.DataFrame, out: Path, target: str = "price"
) -> tuple[float, dict[str, Any]]:
    spec = TrainSpec(trainer=trainer, params=params, n_threads=1)
    result = fit_and_evaluate(spec, frame, target, "regression", None, None, out)
    r2 = result.metrics["test"]["r2"]
    assert r2 is not None
    return r2, result.derived_params


def _upload(frame: pd.DataFrame, tmp_path: Path, name: str, target: str) -> Any:
    """``frame`` written as CSV and ingested as a user's upload would be (task and modality inferred)."""
    frame.to_csv(tmp_path / name, index=False)
    return ingest(tmp_path / name, filename=name, target=target, task=None, modality=None, work_dir=tmp_path / "d")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return price_frame()


def test_every_recommended_regression_entry_beats_the_mean_on_a_heavy_tailed_price(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    uploaded = _upload(frame, tmp_path, "prices.csv", "price")
    share = uploaded.profile.target_outlier_share
    assert share is not None and 0.01 <= share < 0.10  # the §3 "Balanced → Huber" band (advisor/tables.py)
    rec = recommend(uploaded.profile)
    entries = {c.trainer: c for c in [*rec.candidates, rec.baseline]}
    assert entries["xgboost"].params()["objective"] == "reg:pseudohubererror"
    assert entries["lightgbm"].params()["objective"] == "huber"
    assert "δ" in entries["xgboost"].choices["objective"].reason
    assert entries["xgboost"].choices["objective"].rule_id == "xgboost.objective"

    defaults = {t: _r2(t, {}, frame, tmp_path / f"default_{t}")[0] for t in ("xgboost", "lightgbm")}
    assert min(defaults.values()) > 0.85  # the signal is learnable: the comparison below means something
    scores: dict[str, float] = {}
    for trainer, entry in entries.items():
        r2, derived = _r2(trainer, entry.params(), frame, tmp_path / trainer)
        scores[trainer] = r2
        if trainer == "xgboost":
            assert derived["huber_slope"] > 1_000 and derived["base_score"] > 10_000
        if trainer == "lightgbm":
            assert derived["alpha"] > 1_000
    assert all(r2 > 0 for r2 in scores.values()), scores
    for booster in ("xgboost", "lightgbm"):
        assert scores[booster] > defaults[booster] - 0.05, (scores, defaults)


def test_an_explicit_delta_is_kept_and_recorded_as_given(frame: pd.DataFrame, tmp_path: Path) -> None:
    params = {"objective": "huber", "alpha": 5_000.0, "n_estimators": 20}
    _, derived = _r2("lightgbm", params, frame, tmp_path / "lgb")
    assert derived == {}
    _, derived = _r2("lightgbm", {"objective": "fair", "n_estimators": 20}, frame, tmp_path / "fair")
    # from the training split only: close to, not equal to, the whole column's scale
    whole = target_scale(frame["price"].to_numpy())
    assert set(derived) == {"fair_c"} and 0.9 * whole < derived["fair_c"] < 1.1 * whole
    _, derived = _r2("xgboost", {"objective": "reg:squarederror", "n_estimators": 5}, frame, tmp_path / "mse")
    assert derived == {}


def test_target_scale_is_a_robust_sd_with_fallbacks() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(100.0, 15.0, 20_000)
    y[:1000] = 1e7  # 5% gross outliers move the s.d. by orders of magnitude, not the MAD
    assert 12.0 < target_scale(y) < 18.0 and np.std(y) > 1e6
    mostly_zero = np.r_[np.zeros(90), np.full(10, 50.0)]  # MAD 0: falls back to the s.d.
    assert target_scale(mostly_zero) == pytest.approx(float(np.std(mostly_zero)))
    assert target_scale(np.full(10, 3.0)) == 1.0
    assert abs(MAD_TO_SD - 1 / 0.6745) < 1e-3


def visits_frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Doctor visits in a year: about two thirds of people have none, whoever they are; for the others a Poisson count
    whose mean grows with two features. A zero-inflated count, as three regression tables of the corpus are
    (bench/regression_loss_study.py): for nearly everyone the median is 0, while the mean is not."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    counts = rng.poisson(np.exp(1.2 + 0.6 * x[:, 0] + 0.4 * x[:, 1]))
    any_visit = rng.random(n) < 0.35 + 0.1 * np.tanh(x[:, 2])
    visits = np.where(any_visit, counts, 0)
    return pd.DataFrame({"age": x[:, 0], "income": x[:, 1], "health": x[:, 2], "visits": visits})


def test_a_count_with_many_zeros_gets_mse_and_every_entry_beats_the_mean(tmp_path: Path) -> None:
    frame = visits_frame()
    profile = _upload(frame, tmp_path, "visits.csv", "visits").profile
    assert profile.task == "regression"
    # Tukey's fences find "outliers" (the ordinary counts off the zeros), which alone would call for Huber or MAE
    assert profile.target_outlier_share is not None and profile.target_outlier_share >= 0.01
    assert profile.target_mode_share is not None and profile.target_mode_share >= 0.25
    rec = recommend(profile)
    entries = {c.trainer: c for c in [*rec.candidates, rec.baseline]}
    assert entries["xgboost"].params()["objective"] == "reg:squarederror"
    assert entries["lightgbm"].params()["objective"] == "regression"
    assert "loss.point_mass" in entries["xgboost"].choices["objective"].reason

    def r2(trainer: str, params: dict[str, Any], name: str) -> float:
        return _r2(trainer, params, frame, tmp_path / name, target="visits")[0]

    scores = {trainer: r2(trainer, entry.params(), trainer) for trainer, entry in entries.items()}
    assert all(score > 0 for score in scores.values()), sorted(scores.items())
    # what the outlier rule alone gave the boosters fits the zeros (the median), well behind the mean's fit
    robust = {**entries["lightgbm"].params(), "objective": "regression_l1", "metric": "l1"}
    assert r2("lightgbm", robust, "lightgbm_l1") < scores["lightgbm"] - 0.05, scores


def test_mode_share_is_the_most_common_values_share() -> None:
    from trainers.ingest.target import mode_share

    assert mode_share(np.r_[np.zeros(6), np.arange(1.0, 5.0)]) == pytest.approx(0.6)
    assert mode_share(np.arange(10.0)) == pytest.approx(0.1)
    assert mode_share(np.array([])) == 0.0
