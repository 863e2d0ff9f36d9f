"""Learn the advisor's portfolio: which model family (and which of a few configurations) wins on which data.

Over 500 lines on purpose: one runnable experiment (the corpus, the configurations, the cross-validation,
the leave-one-dataset-out evaluation) kept in one file so that one command reproduces the learned file.

One command re-learns everything::

    python bench/learn_portfolio.py                 # writes advisor/data/portfolio.json
    python bench/learn_portfolio.py --evaluate      # leave-one-dataset-out table of the written portfolio

For each of the 61 datasets of :mod:`bench.realdata` (the development set and the meta-training corpus), and
only on its 80% train part (subsampled to ``MAX_ROWS`` rows, seeded), every family × configuration below is
scored by seeded k-fold cross-validation (stratified for classification) with the peers' metric: ROC AUC for
binary (second class in sorted order positive), accuracy for multiclass, R² for regression. The 20% test part
is never read. Preprocessing follows the service's trainers: features typed by ``trainers.preprocess.
prepare_frame``; XGBoost and LightGBM take categories and missing values natively; the scikit-learn families get
median imputation with missing-value indicators and a one-hot encoding of the categorical columns, plus
standard scaling for the linear, k-NN and SVM families. Every library runs on one thread.

The meta-features of a dataset are its :class:`advisor.DatasetProfile` measured exactly as an upload is
(``trainers.profiling.measure`` on the train part written as CSV), so recommendation-time features match.

``--evaluate`` ranks each dataset with itself excluded (``advisor.portfolio.rank(..., exclude=[name])``) and
reports the CV regret of the top-1 / best-of-top-3 family+configuration against that dataset's best CV score,
beside static orders (always LightGBM, and the single family that is best on average over all datasets).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from advisor import TABLES_VERSION  # noqa: E402
from bench.realdata import ALL, RealDataset, select  # noqa: E402

OUT = ROOT / "advisor" / "data" / "portfolio.json"
MAX_ROWS = 3_000  # rows of the train part used for learning (seeded sample)
FOLDS = 3
SEED = 0
FORMAT_VERSION = 1
COMMAND = "python bench/learn_portfolio.py"
METRIC = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
CLASSIFICATION = ("binary", "multiclass")
ALL_TASKS = ("binary", "multiclass", "regression")

# Boosting rounds are fixed here (no inner early stopping): small learning rate, enough rounds for these sizes.
_LGB_BASE = {
    "learning_rate": 0.05,
    "n_estimators": 300,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
}
_XGB_BASE = {
    "learning_rate": 0.05,
    "n_estimators": 300,
    "max_depth": 6,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 1.0,
    "reg_lambda": 1.0,
    "tree_method": "hist",
}

# Random forest and extra trees are tried in the same shapes (sklearn's parameter names for both).
_FOREST_CONFIGS = [
    ("default", {"n_estimators": 200, "max_features": "sqrt", "min_samples_leaf": 1}),
    ("half_features", {"n_estimators": 200, "max_features": 0.5, "min_samples_leaf": 1}),
    ("smooth", {"n_estimators": 200, "max_features": "sqrt", "min_samples_leaf": 5}),
]

# Advisor model name → (trainer name, tasks, configurations in order). Parameters use each trainer's vocabulary:
# LightGBM/XGBoost their native names, the scikit-learn families the estimator's.
FAMILIES: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "trainer": "lightgbm",
        "tasks": ALL_TASKS,
        "configs": [
            ("default", _LGB_BASE),
            ("small_leaves", {**_LGB_BASE, "num_leaves": 7, "min_child_samples": 5}),
            ("large_leaves", {**_LGB_BASE, "num_leaves": 63, "min_child_samples": 10, "learning_rate": 0.1}),
            ("conservative", {**_LGB_BASE, "num_leaves": 15, "min_child_samples": 50}),
        ],
    },
    "xgboost": {
        "trainer": "xgboost",
        "tasks": ALL_TASKS,
        "configs": [
            ("default", _XGB_BASE),
            ("shallow", {**_XGB_BASE, "max_depth": 3}),
            ("deep", {**_XGB_BASE, "max_depth": 9, "min_child_weight": 3.0}),
        ],
    },
    "random_forest": {
        "trainer": "sklearn_random_forest",
        "tasks": ALL_TASKS,
        "configs": _FOREST_CONFIGS,
    },
    "extra_trees": {
        "trainer": "sklearn_extra_trees",
        "tasks": ALL_TASKS,
        "configs": _FOREST_CONFIGS,
    },
    "knn": {
        "trainer": "sklearn_knn",
        "tasks": ALL_TASKS,
        "configs": [
            ("k5", {"n_neighbors": 5, "weights": "uniform"}),
            ("k15", {"n_neighbors": 15, "weights": "uniform"}),
            ("k15_distance", {"n_neighbors": 15, "weights": "distance"}),
        ],
    },
    "svm": {
        "trainer": "sklearn_svm",
        "tasks": ALL_TASKS,
        "configs": [
            ("C1", {"C": 1.0, "kernel": "rbf", "gamma": "scale"}),
            ("C10", {"C": 10.0, "kernel": "rbf", "gamma": "scale"}),
            ("C0.1", {"C": 0.1, "kernel": "rbf", "gamma": "scale"}),
        ],
    },
    "logistic_regression": {
        "trainer": "sklearn_logistic",
        "tasks": CLASSIFICATION,
        "configs": [("C1", {"C": 1.0}), ("C0.1", {"C": 0.1}), ("C10", {"C": 10.0})],
    },
    "ridge_regression": {
        "trainer": "sklearn_ridge",
        "tasks": ("regression",),
        "configs": [("alpha1", {"alpha": 1.0}), ("alpha10", {"alpha": 10.0}), ("alpha0.1", {"alpha": 0.1})],
    },
}


# -- fitting --------------------------------------------------------------------------------------------
def _sk_matrix(X: pd.DataFrame) -> tuple[np.ndarray, list[int], list[int], list[int]]:
    """Numeric columns as floats, categoricals as level codes (NaN = missing); the index lists and level counts."""
    cols, num, cat, n_levels = [], [], [], []
    for i, c in enumerate(X.columns):
        s = X[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy(np.float64)
            codes[codes < 0] = np.nan
            cols.append(codes)
            cat.append(i)
            n_levels.append(len(s.cat.categories))
        else:
            cols.append(s.to_numpy(np.float64))
            num.append(i)
    return np.column_stack(cols), num, cat, n_levels


def _sk_preprocessor(X: pd.DataFrame, scale: bool) -> tuple[Any, np.ndarray]:
    """The service's scikit-learn preprocessing: impute + indicators (+ scaling) for numbers, one-hot for categories."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    m, num, cat, n_levels = _sk_matrix(X)
    parts: list[tuple[str, Any, list[int]]] = []
    if num:
        steps: list[tuple[str, Any]] = [
            ("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True))
        ]
        if scale:
            steps.append(("scale", StandardScaler()))
        parts.append(("numeric", Pipeline(steps), num))
    if cat:
        levels = [np.arange(n, dtype=np.float64) for n in n_levels]
        # Missing (NaN) and unseen levels encode as all zeros, as in the service's linear baselines.
        parts.append(("categorical", OneHotEncoder(categories=levels, handle_unknown="ignore"), cat))
    return ColumnTransformer(parts, remainder="drop", sparse_threshold=0.0), m


def _estimator(family: str, params: dict[str, Any], task: str) -> Any:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.svm import SVC, SVR

    reg = task == "regression"
    if family == "random_forest":
        return (RandomForestRegressor if reg else RandomForestClassifier)(**params, n_jobs=1, random_state=SEED)
    if family == "extra_trees":
        return (ExtraTreesRegressor if reg else ExtraTreesClassifier)(**params, n_jobs=1, random_state=SEED)
    if family == "knn":
        return (KNeighborsRegressor if reg else KNeighborsClassifier)(**params, n_jobs=1)
    if family == "svm":
        return SVR(**params) if reg else SVC(**params, random_state=SEED)
    if family == "logistic_regression":
        return LogisticRegression(**params, max_iter=2000)
    if family == "ridge_regression":
        return Ridge(**params)
    raise KeyError(family)


def _score(task: str, y: np.ndarray, out: np.ndarray) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task == "regression":
        return float(r2_score(y, out))
    if task == "binary":
        return float(roc_auc_score(y, out))  # out: a score for class 1 (the second in sorted order)
    return float(accuracy_score(y, out))


def _fit_predict(
    family: str,
    params: dict[str, Any],
    task: str,
    n_classes: int,
    Xtr: pd.DataFrame,
    ytr: np.ndarray,
    Xva: pd.DataFrame,
) -> np.ndarray:
    """Fit on (Xtr, ytr) and return what ``_score`` needs on Xva (a score of class 1, labels, or values)."""
    if family == "lightgbm":
        import lightgbm as lgb

        p = {k: v for k, v in params.items() if k != "n_estimators"}
        obj = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[task]
        p |= {"objective": obj, "num_threads": 1, "seed": SEED, "verbosity": -1}
        if task == "multiclass":
            p["num_class"] = n_classes
        booster = lgb.train(p, lgb.Dataset(Xtr, ytr), num_boost_round=params["n_estimators"])
        pred = booster.predict(Xva)
        return pred.argmax(axis=1) if task == "multiclass" else pred
    if family == "xgboost":
        import xgboost as xgb

        p = {k: v for k, v in params.items() if k != "n_estimators"}
        obj = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}[task]
        p |= {"objective": obj, "nthread": 1, "seed": SEED, "verbosity": 0}
        if task == "multiclass":
            p["num_class"] = n_classes
        dtr = xgb.DMatrix(Xtr, ytr, enable_categorical=True)
        booster = xgb.train(p, dtr, num_boost_round=params["n_estimators"])
        pred = booster.predict(xgb.DMatrix(Xva, enable_categorical=True))
        return pred.argmax(axis=1) if task == "multiclass" else pred

    from sklearn.pipeline import Pipeline

    scale = family in ("knn", "svm", "logistic_regression", "ridge_regression")
    pre, mtr = _sk_preprocessor(Xtr, scale)
    mva = _sk_matrix(Xva)[0]
    pipe = Pipeline([("preprocess", pre), ("model", _estimator(family, params, task))])
    pipe.fit(mtr, ytr)
    if task == "binary":
        model = pipe[-1]
        if hasattr(model, "predict_proba") and family != "svm":
            proba = pipe.predict_proba(mva)
            classes = list(model.classes_)
            return proba[:, classes.index(1)] if 1 in classes else np.zeros(len(mva))
        return pipe.decision_function(mva)
    return pipe.predict(mva)


def _cv_scores(
    family: str, params: dict[str, Any], task: str, X: pd.DataFrame, y: np.ndarray, n_classes: int
) -> tuple[float | None, float]:
    """Mean CV score (None if a fold failed) and mean fit seconds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (
        KFold(FOLDS, shuffle=True, random_state=SEED)
        if task == "regression"
        else StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    )
    scores, secs = [], []
    for tr, va in splitter.split(X, y):
        t0 = time.perf_counter()
        try:
            out = _fit_predict(
                family,
                params,
                task,
                n_classes,
                X.iloc[tr].reset_index(drop=True),
                y[tr],
                X.iloc[va].reset_index(drop=True),
            )
            scores.append(_score(task, y[va], out))
        except Exception as exc:  # one failing configuration is recorded as None, the others go on
            print(f"    {family} failed: {type(exc).__name__}: {exc}", flush=True)
            return None, 0.0
        secs.append(time.perf_counter() - t0)
    return float(np.mean(scores)), float(np.mean(secs))


# -- meta-features ----------------------------------------------------------------------------------
META_FIELDS = (
    "task",
    "n_rows",
    "n_features",
    "n_classes",
    "minority_share",
    "missing_share",
    "n_categorical_features",
    "target_outlier_share",
)


def meta_features(ds: RealDataset, train: pd.DataFrame) -> dict[str, Any]:
    """The dataset's profile as the service measures an upload of its train part (CSV)."""
    from trainers.profiling import measure

    with tempfile.TemporaryDirectory(prefix="portfolio-") as tmp:
        path = Path(tmp) / "train.csv"
        train.to_csv(path, index=False)
        profile = measure(path, target=ds.target, task=ds.task, filename="train.csv")
    return {k: getattr(profile, k) for k in META_FIELDS}


# -- learning -------------------------------------------------------------------------------------------
def learn_one(ds: RealDataset) -> dict[str, Any]:
    """Meta-features and the CV score of every family × configuration of one dataset (train part only)."""
    from trainers.preprocess import prepare_frame

    train, _test = ds.split()  # the test part is dropped here and never read
    features = meta_features(ds, train)
    if len(train) > MAX_ROWS:
        stratify = train[ds.target] if ds.task != "regression" else None
        from sklearn.model_selection import train_test_split

        train, _ = train_test_split(train, train_size=MAX_ROWS, random_state=SEED, stratify=stratify)
        train = train.reset_index(drop=True)
    X, y, schema = prepare_frame(train, ds.target, None, ds.task)
    n_classes = len(schema.classes or [])
    scores: dict[str, list[float | None]] = {}
    seconds: dict[str, float] = {}
    for family, spec in FAMILIES.items():
        if ds.task not in spec["tasks"]:
            continue
        row, total = [], 0.0
        for _name, params in spec["configs"]:
            s, sec = _cv_scores(family, params, ds.task, X, y, n_classes)
            row.append(None if s is None else round(s, 5))
            total += sec
        scores[family] = row
        seconds[family] = round(total / len(spec["configs"]), 3)
    return {
        "dataset": ds.name,
        "metric": METRIC[ds.task],
        "features": features,
        "scores": scores,
        "fit_seconds": seconds,
    }


def learn(datasets: list[RealDataset]) -> dict[str, Any]:
    """The whole portfolio document."""
    from threadpoolctl import threadpool_limits

    evidence = []
    t_all = time.perf_counter()
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, ds in enumerate(datasets, 1):
            t0 = time.perf_counter()
            row = learn_one(ds)
            evidence.append(row)
            best = max((s for v in row["scores"].values() for s in v if s is not None), default=float("nan"))
            print(
                f"[{i:2d}/{len(datasets)}] {ds.name:34s} best CV {best:.4f}  {time.perf_counter() - t0:6.1f} s",
                flush=True,
            )
    print(f"learned from {len(datasets)} datasets in {time.perf_counter() - t_all:.0f} s", flush=True)
    return {
        "version": FORMAT_VERSION,
        "created": dt.date.today().isoformat(),
        "tables_version": TABLES_VERSION,
        "command": COMMAND,
        "protocol": {
            "folds": FOLDS,
            "seed": SEED,
            "max_rows": MAX_ROWS,
            "stratified": "classification",
            "metrics": METRIC,
            "higher_is_better": True,
            "data": "the 80% train part of bench.realdata's fixed split; the 20% test part is never read",
        },
        "datasets": [ds.name for ds in datasets],
        "families": [
            {
                "model": fam,
                "trainer": spec["trainer"],
                "tasks": list(spec["tasks"]),
                "configs": [{"name": n, "params": p} for n, p in spec["configs"]],
            }
            for fam, spec in FAMILIES.items()
        ],
        "evidence": evidence,
    }


# -- leave-one-dataset-out ---------------------------------------------------------------------------
LINEAR = ("logistic_regression", "ridge_regression")  # one "linear" family across tasks, for the static orders


def _best(row: Any, family: str) -> float | None:
    names = LINEAR if family == "linear" else (family,)
    vals = [s for f in names for s in row.scores.get(f, []) if s is not None]
    return max(vals) if vals else None


def _pair_score(row: Any, family: str, index: int) -> float | None:
    names = LINEAR if family in (*LINEAR, "linear") else (family,)
    for f in names:
        if f in row.scores:
            return row.scores[f][index]
    return None


def evaluate(path: Path, k: int | None = None) -> dict[str, float]:
    """Rank every dataset with itself excluded; print the regret table and return the summary means."""
    from advisor.portfolio import DEFAULT_K, Portfolio, rank

    pf = Portfolio.model_validate_json(path.read_text())
    fams = [f.model for f in pf.families if f.model not in LINEAR] + ["linear"]
    # The single family best on average (mean regret over all datasets) — a static order in hindsight.
    mean_regret: dict[str, list[float]] = {f: [] for f in fams}
    for row in pf.evidence:
        top = max(s for f in row.scores for s in row.scores[f] if s is not None)
        for f in fams:
            b = _best(row, f)
            if b is not None:
                mean_regret[f].append(top - b)
    best_single = min((f for f in fams if mean_regret[f]), key=lambda f: (np.mean(mean_regret[f]), f))

    # The single family + configuration best on average over all datasets, in hindsight (a fixed choice).
    pair_regret: dict[tuple[str, int], list[float]] = {}
    for fam in pf.families:
        for i in range(len(fam.configs)):
            for row in pf.evidence:
                top = max(s for f in row.scores for s in row.scores[f] if s is not None)
                got = _pair_score(row, fam.model, i)
                if got is not None:
                    key = ("linear" if fam.model in LINEAR else fam.model, i)
                    pair_regret.setdefault(key, []).append(top - got)
    complete = {p: v for p, v in pair_regret.items() if len(v) == len(pf.evidence)}
    best_pair = min(complete, key=lambda p: (np.mean(complete[p]), p))
    pair_name = f"{best_pair[0]}/{best_pair[1]}"

    cols = ["top1", "top3", "lightgbm(default)", f"fixed {pair_name}", f"{best_single}(best cfg)", "random"]
    table: dict[str, list[float]] = {c: [] for c in cols}
    print(f"{'dataset':34s} {'best':>7s} " + " ".join(f"{c:>20s}" for c in cols))
    for row in pf.evidence:
        top = max(s for f in row.scores for s in row.scores[f] if s is not None)
        ranked = rank(row.features, pf, exclude=[row.dataset], k=k or DEFAULT_K)
        lgb = row.scores["lightgbm"][0]
        picks = []
        for ev in ranked[:3]:
            s = row.scores[ev.model][ev.config_index]
            picks.append(top - (s if s is not None else -1.0))
        if not picks:  # no other dataset of this task: fall back to the static choice
            picks = [top - lgb if lgb is not None else 1.0]
        single = _best(row, best_single)
        # Expected regret of a family drawn uniformly, each at its default (first) configuration.
        defaults = [v[0] for v in row.scores.values() if v and v[0] is not None]
        fixed = _pair_score(row, best_pair[0], best_pair[1])
        vals = [
            picks[0],
            min(picks),
            top - lgb if lgb is not None else 1.0,
            top - fixed if fixed is not None else 1.0,
            top - single if single is not None else 1.0,
            float(np.mean([top - d for d in defaults])),
        ]
        for c, v in zip(cols, vals, strict=True):
            table[c].append(v)
        print(
            f"{row.dataset:34s} {top:7.4f} "
            + " ".join(f"{v:20.4f}" for v in vals)
            + (f"   top1={ranked[0].model}/{ranked[0].config}" if ranked else "   (no evidence: lightgbm)")
        )
    summary = {c: float(np.mean(v)) for c, v in table.items()}
    print(f"{'MEAN REGRET':34s} {'':7s} " + " ".join(f"{summary[c]:20.4f}" for c in cols))
    wins = {c: sum(v <= 0.005 for v in table[c]) for c in cols}
    print(f"{'within 0.005 of best':34s} {'':7s} " + " ".join(f"{wins[c]:20d}" for c in cols))
    print(
        f"(k={k or DEFAULT_K} nearest; best single family over all datasets, in hindsight: {best_single}; "
        f"n={len(pf.evidence)}; 'random' = mean over families at their first configuration)"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    """Learn (default) or evaluate the portfolio."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=None, help="comma-separated names or groups (default: all 61)")
    ap.add_argument("--out", type=Path, default=OUT, help="where to write the portfolio (default: %(default)s)")
    ap.add_argument("--evaluate", action="store_true", help="leave-one-dataset-out table of --out; learns nothing")
    ap.add_argument("--k", type=int, default=None, help="neighbours for --evaluate (default: the advisor's)")
    args = ap.parse_args(argv)
    if args.evaluate:
        evaluate(args.out, args.k)
        return 0
    datasets = select(args.datasets) if args.datasets else list(ALL)
    outside = [d.name for d in datasets if d not in ALL]
    if outside:  # the checks group and anything else outside the 61 is never learned from
        ap.error(f"the portfolio learns only from the development set and the meta-training corpus: {outside}")
    doc = learn(datasets)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
