"""How should a booster treat an imbalanced binary target? Class weighting and early stopping, measured.

    python bench/imbalance_study.py                          # the corpus's binary tables, minority cut to 5%
    python bench/imbalance_study.py --share 0.03 --draws 3   # rarer, more draws

None of the 61 tables of :mod:`bench.realdata` has a minority class under the 10% at which the advisor's §3
imbalance rules weight it (``lightgbm.is_unbalance``, ``xgboost.scale_pos_weight``). So this study makes such
tables from the ones the project may learn from: each binary table of :data:`bench.realdata.ALL` with enough
minority rows keeps all of its majority rows and a seeded sample of its minority rows, so that they are
``--share`` of the rows; a stratified 80/20 split of that table; the 80% split again 70/15 (train / validation,
as the service splits) for early stopping. Each booster is fitted with the advisor's parameters for such a
table (learning rate 0.05, up to 2,000 rounds, 50 rounds of patience) three ways, and scored by ROC AUC on the
20% (the forests, which do not early-stop, the first two ways only):

- ``none``: no class weights;
- ``weighted``: the minority class weighted by majority / minority count (``is_unbalance``, ``scale_pos_weight``),
  early stopping on the *unweighted* validation log loss;
- ``weighted+wv``: the same weights, and the validation rows weighted the same way, so that early stopping
  watches the loss being minimised.

It prints each fit's held-out ROC AUC and its early-stopped round count, then the mean AUC and the mean rank
per way (1 = best of the three, per booster). From these figures the advisor leaves the boosters' classes
unweighted (``advisor/rules/class_weights.py``), and :mod:`trainers.classical.lightgbm_trainer` weights its
validation rows when ``is_unbalance`` is given all the same (its ``unbalance_weights``).

Figures (``--share 0.05``, 20 fits; ``--share 0.02``, 14 fits), mean held-out ROC AUC: LightGBM none 0.886 / 0.888,
weighted 0.870 / 0.868, weighted+wv 0.887 / 0.870; XGBoost none 0.860 / 0.872, weighted 0.850 / 0.813, weighted+wv
0.805 / 0.742; the forests (balanced class weights or none, no early stopping to weigh): random forest none
0.886 / 0.873, weighted 0.888 / 0.881; extra trees none 0.883 / 0.863, weighted 0.880 / 0.867, so they keep the
§3 weights.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.learn_portfolio import _LGB_BASE as _LGB_PORTFOLIO  # noqa: E402
from bench.learn_portfolio import _XGB_BASE as _XGB_PORTFOLIO  # noqa: E402
from bench.realdata import RealDataset, select  # noqa: E402

# The portfolio's default booster configurations (the advisor's values), with room for early stopping to choose.
ROUNDS = 2000
_LGB_BASE = {k: v for k, v in _LGB_PORTFOLIO.items() if k != "n_estimators"}
_XGB_BASE = {**_XGB_PORTFOLIO, "n_estimators": ROUNDS}

WAYS = ("none", "weighted", "weighted+wv")
FORESTS = ("sklearn_random_forest", "sklearn_extra_trees")
# the advisor's forest parameters for a table of a few thousand rows
FOREST_PARAMS: dict[str, Any] = {
    "n_estimators": 300,
    "max_features": "sqrt",
    "min_samples_leaf": 1,
    "max_depth": None,
    "imputation": {"numeric": "median", "categorical": "most_frequent", "add_indicator": False},
    "scaling": "none",
}
MIN_MINORITY_ROWS = 40  # fewer and the 20% test part holds under 8 minority rows: its AUC is noise


def imbalanced(ds: RealDataset, share: float, seed: int) -> pd.DataFrame | None:
    """``ds`` with its minority class sampled down to ``share`` of the rows (None when too few would be left)."""
    df = ds.load()
    y = df[ds.target].astype(str)
    minority = y.value_counts().idxmin()
    pos, neg = df[y == minority], df[y != minority]
    n_pos = min(len(pos), round(share / (1 - share) * len(neg)))
    if n_pos < MIN_MINORITY_ROWS:
        return None
    out = pd.concat([neg, pos.sample(n_pos, random_state=seed)])
    return out.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def fit_ways(df: pd.DataFrame, target: str, seed: int) -> dict[str, tuple[float, int]]:
    """Each booster × way: (held-out ROC AUC, early-stopped best round)."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    import trainers.classical  # noqa: F401  (registers the trainers)
    from trainers.classical.lightgbm_trainer import unbalance_weights
    from trainers.preprocess import apply_schema, prepare_frame
    from trainers.registry import get_trainer
    from trainers.spec import TrainData

    train, test = train_test_split(df, test_size=0.2, random_state=seed, stratify=df[target])
    X, y, schema = prepare_frame(train, target, None, "binary")
    assert schema.classes is not None
    Xt = apply_schema(test, schema)
    yt = np.array([schema.classes.index(str(v)) for v in test[target]])
    # 70 / 15 of the whole, as the service's default split
    Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.15 / 0.85, stratify=y, random_state=seed)
    wv = unbalance_weights(ya, yv)
    ratio = float(wv.max())
    out: dict[str, tuple[float, int]] = {}
    for way in WAYS:
        weighted, valid_weight = way != "none", (wv if way == "weighted+wv" else None)
        params: dict[str, Any] = {
            **_LGB_BASE,
            "objective": "binary",
            "verbose": -1,
            "seed": 0,
            "num_threads": 1,
        }
        if weighted:
            params["is_unbalance"] = True
        dtrain = lgb.Dataset(Xa, ya)
        dvalid = lgb.Dataset(Xv, yv, weight=valid_weight, reference=dtrain)
        booster = lgb.train(
            params, dtrain, ROUNDS, valid_sets=[dvalid], callbacks=[lgb.early_stopping(50, verbose=False)]
        )
        auc = roc_auc_score(yt, booster.predict(Xt, num_iteration=booster.best_iteration))
        out[f"lightgbm {way}"] = (float(auc), int(booster.best_iteration))
        model = xgb.XGBClassifier(
            **_XGB_BASE,
            early_stopping_rounds=50,
            eval_metric="logloss",
            enable_categorical=True,
            n_jobs=1,
            random_state=0,
            **({"scale_pos_weight": ratio} if weighted else {}),
        )
        model.fit(
            Xa,
            ya,
            eval_set=[(Xv, yv)],
            sample_weight_eval_set=[valid_weight] if valid_weight is not None else None,
            verbose=False,
        )
        auc = roc_auc_score(yt, model.predict_proba(Xt)[:, 1])
        out[f"xgboost {way}"] = (float(auc), int(model.best_iteration))
    # The forests, through the service's own trainers (encoding, imputation), on the train + validation rows:
    # with or without balanced class weights (no early stopping to weigh).
    whole = TrainData(X, y, schema)
    for name in FORESTS:
        for way in WAYS[:2]:
            forest = get_trainer(name)({**FOREST_PARAMS, "class_weight": "balanced" if way == "weighted" else None})
            forest.fit(whole, whole)
            auc = roc_auc_score(yt, forest.predict_proba(Xt)[:, 1])
            out[f"{name} {way}"] = (float(auc), 0)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the study; prints one row per fit, then the means and ranks. Returns 1 when no table qualified."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="all", help="dev, corpus, all or comma-separated names (binary ones used)")
    ap.add_argument("--share", type=float, default=0.05, help="the minority class's share after sampling")
    ap.add_argument("--draws", type=int, default=2, help="seeded draws of the minority rows per table")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    rows: list[dict[str, Any]] = []
    for ds in select(args.datasets):
        if ds.task != "binary":
            continue
        for seed in range(args.draws):
            df = imbalanced(ds, args.share, seed)
            if df is None:
                print(f"{ds.name}: under {MIN_MINORITY_ROWS} minority rows at {args.share:.0%}, left out")
                break
            fits = fit_ways(df, ds.target, seed)
            rows.append({"dataset": ds.name, "draw": seed, **{k: v[0] for k, v in fits.items()}})
            print(
                f"{ds.name} draw {seed} ({len(df)} rows): "
                + "  ".join(f"{k} {a:.4f} ({r})" for k, (a, r) in fits.items())
            )
    if not rows:
        return 1
    table = pd.DataFrame(rows)
    print(f"\n{len(table)} fits, minority {args.share:.0%}; held-out ROC AUC mean, and mean rank within each model:")
    for model in ("lightgbm", "xgboost", *FORESTS):
        cols = [c for c in (f"{model} {w}" for w in WAYS) if c in table]
        ranks = table[cols].rank(axis=1, ascending=False).mean()
        for c in cols:
            print(f"  {c:22s} {table[c].mean():.4f}  rank {ranks[c]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
