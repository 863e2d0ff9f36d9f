"""Random forest, extra trees, k-NN and SVM trainers: real data, mixed columns, exact artifacts, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _fixtures_classical import assert_learned, mixed_frame, prepared, small_params

from trainers.artifacts import ArtifactError, load_artifact
from trainers.base import TrainerCapabilityError, TrainerParamError
from trainers.metrics import constant_loss
from trainers.registry import get_trainer
from trainers.run import fit_and_evaluate
from trainers.spec import TrainSpec

POOL = ("sklearn_random_forest", "sklearn_extra_trees", "sklearn_knn", "sklearn_svm")


def _sklearn_dataset(name: str) -> pd.DataFrame:
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(as_frame=True).frame


@pytest.mark.parametrize("name", ["sklearn_random_forest", "sklearn_extra_trees"])
def test_forest_beats_a_constant_on_real_regression_data(name: str, tmp_path: Path) -> None:
    islp = pytest.importorskip("ISLP")  # the datasets extra
    frame = islp.load_data("Auto").reset_index(drop=True)
    frame["origin"] = frame["origin"].map({1: "america", 2: "europe", 3: "japan"})  # a categorical column
    spec = TrainSpec(trainer=name, params=small_params(name, "regression"), seed=0)
    result = fit_and_evaluate(spec, frame, "mpg", "regression", None, None, tmp_path)
    # An untuned forest scored R² 0.91 on this table in the peer figures; the mean scores 0.
    assert result.metrics["test"]["r2"] > 0.8
    assert result.metrics["validation"]["rmse"] < 0.5 * result.curves.baseline_loss


@pytest.mark.parametrize("name", POOL)
def test_iris_is_learned(name: str, tmp_path: Path) -> None:
    frame = _sklearn_dataset("iris")
    spec = TrainSpec(
        trainer=name,
        params=small_params(name, "multiclass", n_neighbors=7)
        if name == "sklearn_knn"
        else small_params(name, "multiclass"),
        seed=0,
    )
    result = fit_and_evaluate(spec, frame, "target", "multiclass", None, None, tmp_path)
    codes = frame["target"].to_numpy()
    assert result.metrics["test"]["accuracy"] >= 0.85
    assert result.metrics["test"]["log_loss"] < 0.5 * constant_loss("multiclass", codes, codes, 3)


@pytest.mark.parametrize("name", POOL)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_categorical_and_missing_columns_are_encoded(name: str, task: str) -> None:
    frame = mixed_frame(task)
    train, valid, test = prepared(frame, "label", task)
    assert train.X["x1"].isna().any() and train.X["color"].isna().any()
    trainer = get_trainer(name)(small_params(name, task), seed=0).fit(train, valid)
    pre = trainer.model_.named_steps["preprocess"]
    n_features_out = pre.transform(
        np.column_stack([train.X[c].cat.codes if c == "color" else train.X[c] for c in train.X.columns]).astype(float)
    ).shape[1]
    # x1, x2, x3, flag; indicators for the two numeric columns with NaN; 3 one-hot colours.
    assert n_features_out == 4 + 2 + 3
    scaled = "scale" in dict(pre.named_transformers_["numeric"].steps)
    assert scaled == (name in ("sklearn_knn", "sklearn_svm"))
    out = trainer.predict_output(test.X)
    assert np.isfinite(out).all()
    assert_learned(task, out, test.y, correlation=0.8, over_majority=0.1)


@pytest.mark.parametrize("name", POOL)
@pytest.mark.parametrize("task", ["binary", "regression"])
def test_save_load_gives_identical_predictions_and_refuses_tampering(name: str, task: str, tmp_path: Path) -> None:
    train, valid, test = prepared(mixed_frame(task), "label", task)
    trainer = get_trainer(name)(small_params(name, task), seed=4, n_threads=1).fit(train, valid)
    info = trainer.save(tmp_path / "m")
    assert info.format == "skops" and "model.skops" in info.files
    loaded = load_artifact(tmp_path / "m", n_threads=2, expected_sha256=info.sha256)
    np.testing.assert_array_equal(loaded.predict_output(test.X), trainer.predict_output(test.X))
    jobs = loaded.model_.get_params().get("model__n_jobs")
    if name == "sklearn_knn":
        assert jobs == 2  # the loading process's thread count
    elif name != "sklearn_svm":
        assert jobs == 1  # forests predict on one thread: the same sums in the same order
    (tmp_path / "m" / "model.skops").write_bytes((tmp_path / "m" / "model.skops").read_bytes() + b"x")
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_artifact(tmp_path / "m")


@pytest.mark.parametrize("name", POOL)
def test_fits_are_deterministic_from_the_seed(name: str) -> None:
    train, valid, test = prepared(mixed_frame("binary"), "label", "binary")
    cls = get_trainer(name)
    a = cls(small_params(name, "binary"), seed=7).fit(train, valid).predict_output(test.X)
    b = cls(small_params(name, "binary"), seed=7).fit(train, valid).predict_output(test.X)
    np.testing.assert_array_equal(a, b)
    if name in ("sklearn_random_forest", "sklearn_extra_trees"):  # the seed drives the trees
        c = cls(small_params(name, "binary"), seed=8).fit(train, valid).predict_output(test.X)
        assert not np.array_equal(a, c)


def test_estimators_receive_the_parameters_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.ensemble import RandomForestClassifier

    fit_threads: list[int] = []
    original_fit = RandomForestClassifier.fit

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        fit_threads.append(self.n_jobs)
        return original_fit(self, *args, **kwargs)

    monkeypatch.setattr(RandomForestClassifier, "fit", spy)
    train, valid, _ = prepared(mixed_frame("binary"), "label", "binary")
    rf = get_trainer("sklearn_random_forest")(
        {
            "n_estimators": 20,
            "max_features": 0.5,
            "min_samples_leaf": 3,
            "max_depth": 4,
            "max_samples": 0.8,
            "class_weight": {"yes": 2.0, "no": 1.0},
            "criterion": "entropy",
        },
        seed=5,
        n_threads=2,
    ).fit(train, valid)
    est = rf.model_.named_steps["model"]
    yes = train.schema.classes.index("yes")
    assert (est.n_estimators, est.max_features, est.min_samples_leaf, est.max_depth, est.max_samples) == (
        20,
        0.5,
        3,
        4,
        0.8,
    )
    assert est.class_weight == {yes: 2.0, 1 - yes: 1.0} and est.criterion == "entropy"
    assert fit_threads == [2]  # trees grown on n_threads; prediction then runs on one
    assert (est.n_jobs, est.random_state, est.bootstrap) == (1, 5, True)
    et = get_trainer("sklearn_extra_trees")({"n_estimators": 10}, n_threads=1).fit(train, valid)
    assert et.model_.named_steps["model"].bootstrap is False
    assert et.model_.named_steps["model"].max_features == "sqrt"

    knn = get_trainer("sklearn_knn")({"n_neighbors": 9, "weights": "distance", "p": 1}, n_threads=2).fit(train, valid)
    est = knn.model_.named_steps["model"]
    assert (est.n_neighbors, est.weights, est.p, est.algorithm, est.n_jobs) == (9, "distance", 1.0, "brute", 2)

    svm = get_trainer("sklearn_svm")({"C": 3.0, "gamma": 0.2, "class_weight": "balanced"}, seed=2).fit(train, valid)
    cal = svm.model_.named_steps["model"]
    assert (cal.estimator.C, cal.estimator.gamma, cal.estimator.kernel) == (3.0, 0.2, "rbf")
    assert cal.estimator.class_weight == "balanced" and cal.method == "sigmoid" and cal.cv == 5

    rtrain, rvalid, _ = prepared(mixed_frame("regression"), "label", "regression")
    svr = get_trainer("sklearn_svm")({"epsilon": 0.3, "C": 2.0}).fit(rtrain, rvalid)
    ttr = svr.model_.named_steps["model"]
    assert (ttr.regressor.epsilon, ttr.regressor.C) == (0.3, 2.0)
    # The target is standardized, so epsilon is in standard deviations of the target.
    assert ttr.transformer_.scale_[0] == pytest.approx(np.std(rtrain.y))
    rf_reg = get_trainer("sklearn_random_forest")({"n_estimators": 5}).fit(rtrain, rvalid)
    assert rf_reg.model_.named_steps["model"].max_features == 1.0  # scikit-learn's regression default


def _bad_cases() -> list[tuple[str, str, dict[str, Any], str]]:
    return [
        ("sklearn_random_forest", "binary", {"n_estimators": 0}, "n_estimators"),
        ("sklearn_random_forest", "binary", {"n_estimators": 10.5}, "n_estimators"),
        ("sklearn_random_forest", "binary", {"max_features": "half"}, "max_features"),
        ("sklearn_random_forest", "binary", {"max_features": 1.5}, "max_features"),
        ("sklearn_random_forest", "binary", {"max_features": 0}, "max_features"),
        ("sklearn_random_forest", "binary", {"min_samples_leaf": 0}, "min_samples_leaf"),
        ("sklearn_random_forest", "regression", {"min_samples_leaf": []}, "min_samples_leaf"),
        ("sklearn_random_forest", "regression", {"min_samples_leaf": [1, 0]}, "min_samples_leaf"),
        ("sklearn_extra_trees", "regression", {"min_samples_leaf": [1, 2.5]}, "min_samples_leaf"),
        ("sklearn_extra_trees", "regression", {"min_samples_leaf": list(range(1, 10))}, "min_samples_leaf"),
        ("sklearn_random_forest", "binary", {"max_depth": 0}, "max_depth"),
        ("sklearn_random_forest", "binary", {"class_weight": "heavy"}, "class_weight"),
        ("sklearn_random_forest", "regression", {"class_weight": "balanced"}, "class_weight"),
        ("sklearn_random_forest", "regression", {"criterion": "gini"}, "criterion"),
        ("sklearn_random_forest", "binary", {"bootstrap": "yes"}, "bootstrap"),
        ("sklearn_extra_trees", "binary", {"max_samples": 0.5}, "max_samples"),  # no bootstrap by default
        ("sklearn_extra_trees", "binary", {"imputation": "native"}, "imputation"),
        ("sklearn_extra_trees", "binary", {"learning_rate": 0.1}, "learning_rate"),
        ("sklearn_knn", "binary", {"n_neighbors": 0}, "n_neighbors"),
        ("sklearn_knn", "binary", {"weights": "gaussian"}, "weights"),
        ("sklearn_knn", "regression", {"p": 0.5}, "p"),
        ("sklearn_knn", "binary", {"scaling": "log"}, "scaling"),
        ("sklearn_knn", "binary", {"input_features": "tfidf"}, "input_features"),
        ("sklearn_svm", "binary", {"C": 0}, "C"),
        ("sklearn_svm", "binary", {"gamma": "wide"}, "gamma"),
        ("sklearn_svm", "binary", {"gamma": -1.0}, "gamma"),
        ("sklearn_svm", "binary", {"epsilon": 0.1}, "epsilon"),
        ("sklearn_svm", "regression", {"epsilon": -0.1}, "epsilon"),
        ("sklearn_svm", "regression", {"class_weight": "balanced"}, "class_weight"),
        ("sklearn_svm", "binary", {"kernel": "linear"}, "kernel"),
        ("sklearn_svm", "binary", {"max_iter": 0}, "max_iter"),
    ]


@pytest.mark.parametrize(("name", "task", "params", "key"), _bad_cases())
def test_bad_parameters_are_refused_naming_the_key(name: str, task: str, params: dict[str, Any], key: str) -> None:
    with pytest.raises(TrainerParamError) as exc:
        get_trainer(name).check_params(params, task)
    assert exc.value.key == key


def test_data_the_model_cannot_use_is_refused_with_a_reason() -> None:
    train, valid, _ = prepared(mixed_frame("binary", n=40), "label", "binary")
    with pytest.raises(TrainerParamError) as exc:
        get_trainer("sklearn_knn")({"n_neighbors": 500}).fit(train, valid)
    assert exc.value.key == "n_neighbors" and "training split has" in exc.value.reason
    lonely = train.y.copy()
    lonely[:] = 0
    lonely[0] = 1  # one row of the second class: calibration folds cannot be stratified
    from trainers.spec import TrainData

    one = TrainData(train.X, lonely, train.schema)
    with pytest.raises(TrainerCapabilityError, match="at least 2 training rows per class"):
        get_trainer("sklearn_svm")({}).fit(one, valid)


def test_advisor_params_for_the_new_candidates_train_on_real_regression_data(tmp_path: Path) -> None:
    from advisor import DatasetProfile, recommend

    islp = pytest.importorskip("ISLP")  # the datasets extra
    frame = islp.load_data("Auto").reset_index(drop=True)
    rec = recommend(DatasetProfile(modality="tabular", task="regression", n_rows=len(frame), n_features=7))
    scores = {}
    for cand in rec.candidates:
        if cand.trainer not in POOL:
            continue
        spec = TrainSpec(trainer=cand.trainer, params=cand.params())
        result = fit_and_evaluate(spec, frame, "mpg", "regression", None, None, tmp_path / cand.trainer)
        scores[cand.model] = result.metrics["test"]["r2"]
    assert set(scores) == {"random_forest", "extra_trees", "svm", "knn"}
    # Untuned peers: linear 0.84, random forest 0.91, LightGBM 0.92 on this table (R² on their own split).
    assert all(r2 > 0.75 for r2 in scores.values()), scores


@pytest.mark.parametrize("n_rows", [60, 600, 3_000, 12_000, 250_000])
@pytest.mark.parametrize(
    "kw",
    [
        {"task": "binary"},
        {"task": "binary", "minority_share": 0.03},
        {"task": "multiclass", "n_classes": 4},
        {"task": "regression", "target_outlier_share": 0.2},
    ],
)
def test_every_recommended_value_is_accepted_by_its_trainer(n_rows: int, kw: dict[str, Any]) -> None:
    from advisor import DatasetProfile, recommend

    rec = recommend(DatasetProfile(modality="tabular", n_rows=n_rows, n_features=9, missing_share=0.1, **kw))
    for cand in [*rec.candidates, rec.baseline]:
        cls = get_trainer(cand.trainer)
        cls.check(kw["task"])
        cls.check_params(cand.params(), kw["task"])
