"""The TF-IDF linear baseline of text jobs: the text column stays text and the scikit-learn Pipeline turns it
into TF-IDF weights, so the saved artifact predicts from raw strings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainers.artifacts import load_artifact
from trainers.base import TrainerCapabilityError, TrainerParamError
from trainers.classical.sklearn_baselines import LogisticRegressionTrainer, RidgeRegressionTrainer
from trainers.datasets import plan_inputs
from trainers.registry import get_trainer
from trainers.run import PREDICTION_FILES, fit_and_evaluate
from trainers.spec import TrainSpec

GOOD = ["good", "great", "tasty", "fresh", "lovely"]
BAD = ["bad", "awful", "stale", "bland", "soggy"]
FILLER = ["the", "food", "was", "and", "service", "place", "really", "quite", "very", "our", "table", "we"]


def reviews(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Short generated reviews: the label is in one or two sentiment words among filler, plus a noise column."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        positive = bool(i % 2)
        words = [*rng.choice(FILLER, size=7), *rng.choice(GOOD if positive else BAD, size=int(rng.integers(1, 3)))]
        rng.shuffle(words)
        rows.append({"review": " ".join(words), "stars": float(rng.normal()), "label": "pos" if positive else "neg"})
    return pd.DataFrame(rows)


def test_logistic_on_text_learns_saves_and_predicts_from_raw_strings(tmp_path: Path) -> None:
    frame = reviews()
    # refit_all=False: the saved model is the one the test split scored, so its predictions can be compared.
    spec = TrainSpec(trainer="sklearn_logistic", params={"C": 1.0, "max_iter": 1000}, seed=0, refit_all=False)
    result = fit_and_evaluate(
        spec, frame, "label", "binary", ["review", "stars"], None, tmp_path, text_columns=["review"]
    )
    assert result.metrics["test"]["accuracy"] >= 0.9  # a constant model would score 0.5

    model = LogisticRegressionTrainer.load(result.artifact.directory, expected_sha256=result.artifact.sha256)
    assert [c.kind for c in model.schema_.columns] == ["text", "numeric"]
    vectorizer = model.model_.named_steps["preprocess"].named_transformers_["text_0"]
    assert type(vectorizer).__name__ == "TfidfVectorizer" and vectorizer.ngram_range == (1, 2)
    assert vectorizer.sublinear_tf and vectorizer.max_features is not None
    assert any(" " in term for term in vectorizer.vocabulary_)  # bigrams are in the vocabulary

    raw = pd.DataFrame({"review": ["the food was great and fresh", "awful stale food", None], "stars": [0.0, 0.0, 0.0]})
    labels = np.asarray(model.schema_.classes)[model.predict(raw)]
    assert list(labels[:2]) == ["pos", "neg"]
    assert np.isfinite(model.predict_proba(raw)).all()  # a missing text reads as ""
    again = load_artifact(result.artifact.directory)
    np.testing.assert_array_equal(again.predict_proba(raw), model.predict_proba(raw))

    # The reloaded artifact reproduces, from the raw text, the test predictions the run scored.
    directory = Path(result.artifact.directory)
    test_index = np.load(directory / PREDICTION_FILES["test_index"], allow_pickle=False)
    test_pred = np.load(directory / PREDICTION_FILES["test_pred"], allow_pickle=False)
    rows = frame.iloc[test_index][["review", "stars"]].reset_index(drop=True)
    np.testing.assert_allclose(model.predict_proba(rows), test_pred, rtol=1e-5, atol=1e-6)


def test_ridge_on_text_regression(tmp_path: Path) -> None:
    frame = reviews(240, seed=1)
    frame["score"] = np.where(frame["label"] == "pos", 4.0, 1.0) + np.random.default_rng(2).normal(0, 0.2, len(frame))
    spec = TrainSpec(trainer="sklearn_ridge", params={"alpha": 1.0}, seed=0)
    result = fit_and_evaluate(spec, frame, "score", "regression", ["review"], None, tmp_path, text_columns=["review"])
    assert result.metrics["test"]["r2"] > 0.6
    model = RidgeRegressionTrainer.load(result.artifact.directory)
    out = model.predict(pd.DataFrame({"review": ["great tasty food", "bland soggy food"]}))
    assert out[0] > 3.0 > 2.0 > out[1]


def test_text_columns_and_tfidf_are_refused_where_they_cannot_be_used(tmp_path: Path) -> None:
    logistic, forest = get_trainer("sklearn_logistic"), get_trainer("sklearn_random_forest")
    plan = plan_inputs(logistic, "text", {"C": 1.0, "input_features": "tfidf"})
    assert plan.kind == "frame" and plan.text and plan.modality == "tabular" and "input_features" not in plan.params
    assert plan.note is not None and "TF-IDF" in plan.note
    logistic.check_params({"input_features": "tfidf"}, "binary")  # the advisory value is accepted
    with pytest.raises(TrainerCapabilityError, match="sklearn_random_forest does not build TF-IDF"):
        plan_inputs(forest, "text", {"input_features": "tfidf"})
    with pytest.raises(TrainerCapabilityError, match="built from text, not image"):
        plan_inputs(logistic, "image", {"input_features": "tfidf"})
    with pytest.raises(TrainerCapabilityError, match="input_features='bag_of_chars'"):
        plan_inputs(logistic, "text", {"input_features": "bag_of_chars"})
    with pytest.raises(TrainerParamError, match="input_features"):
        forest.check_params({"input_features": "tfidf"}, "binary")
    with pytest.raises(TrainerCapabilityError, match="sklearn_linear does not build TF-IDF"):
        plan_inputs(get_trainer("sklearn_linear"), "text", {"input_features": "tfidf"})
    spec = TrainSpec(trainer="sklearn_random_forest", params={}, seed=0)
    with pytest.raises(TrainerCapabilityError, match="free-text"):
        fit_and_evaluate(spec, reviews(60), "label", "binary", ["review"], None, tmp_path, text_columns=["review"])


def test_a_text_baseline_has_no_onnx_export(tmp_path: Path) -> None:
    from trainers.export.onnx import NotConvertible

    spec = TrainSpec(trainer="sklearn_logistic", params={}, seed=0)
    result = fit_and_evaluate(spec, reviews(80), "label", "binary", ["review"], None, tmp_path, text_columns=["review"])
    model = load_artifact(result.artifact.directory)
    with pytest.raises(NotConvertible, match="TF-IDF"):
        model.to_onnx()
