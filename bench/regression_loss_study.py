"""Which §3 regression loss should a booster fit? MSE, Huber and MAE measured on the corpus's regression tables.

    python bench/regression_loss_study.py                 # every regression table of bench.realdata
    python bench/regression_loss_study.py --datasets dev/sm_randhie,corpus/AER_Affairs

The advisor picks a booster's regression loss from the §3 table by the share of targets outside Tukey's fences
(``target_outlier_share``): MSE under 1%, Huber up to 10%, MAE above. A race selects and reports on RMSE and R²,
which score the conditional *mean*; MAE fits the conditional median, and Huber with a small δ nearly so. Where
the noise is symmetric the two agree and a robust loss only keeps gross outliers from steering the trees. Where
one target value holds a large share of the rows (a count with many zeros), the median sits on that value:
Tukey's fences then call the ordinary values off it outliers, and a robust loss pulls every prediction towards it.

For each regression table: the fixed 80/20 split of :mod:`bench.realdata` (the race-quality split), the 80% split
again 70/15 for early stopping (as the service splits), each booster with the portfolio's default configuration
(learning rate 0.05, up to 2,000 rounds, 50 rounds of patience on the loss's own metric) and each loss, its scale
from the training target as :func:`trainers.classical.boosting.scaled_loss_params` sets it. It prints the held-out
R² of each fit, with the table's outlier share and the share of its most common target value, and the advisor's
loss for it.

Figures (the 16 tables, held-out R², LightGBM / XGBoost; the loss the advisor gave before ``loss.point_mass`` in
brackets):

- the three tables whose most common value holds ≥ 25% of the rows: ``sm_randhie`` (31% zeros; [Huber]) MSE
  0.183 / 0.195 against Huber 0.100 / 0.107 and MAE 0.051 / 0.077; ``sm_fair`` (67%; [MAE]) MSE 0.046 / 0.051
  against MAE −0.095 / −0.096; ``AER_Affairs`` (74%; [MAE]) MSE 0.090 / 0.032 against MAE −0.140 / −0.069. The
  robust loss is worse than predicting the mean (R² < 0) on two of them, and MSE is better on all six fits.
- the other 13 (no value on more than 13% of the rows): the advisor's robust loss against MSE is mixed and
  small either way (Huber ahead on ``ISLR_College`` 0.874 / 0.935 against 0.854 / 0.901 and on ``modeldata_biomass``,
  MSE ahead on ``ISLR_Wage`` 0.331 / 0.330 against 0.309 / 0.317), so the §3 outlier rule stands for them.

Checked on five count tables nothing learns from (``--datasets checks``' last five; four with a point mass):
``AER_DoctorVisits`` (80% zeros; MAE → MSE) 0.062 / −0.015 → 0.136 / 0.117; ``Ecdat_Doctor`` (51%; Huber → MSE)
0.016 / 0.034 → 0.036 / 0.047; ``AER_RecreationDemand`` (64%; MAE → MSE) 0.229 / 0.219 → 0.272 / 0.237;
``pscl_bioChemists`` (31%; Huber → MSE) 0.032 / −0.029 → 0.060 / 0.048: all eight fits better. The fifth,
``AER_NMES1988`` (16% at one value, so Huber as before), does better with MSE too (0.097 / 0.081 against
0.057 / 0.044): counts may want MSE below the 25% mark as well; the corpus has no such table to learn it from.
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
from trainers.ingest.target import mode_share, outlier_share  # noqa: E402  (as ingest measures a profile)

ROUNDS = 2000
PATIENCE = 50
_LGB_BASE = {k: v for k, v in _LGB_PORTFOLIO.items() if k != "n_estimators"}
_XGB_BASE = {k: v for k, v in _XGB_PORTFOLIO.items() if k != "n_estimators"}
LOSSES = ("mse", "huber", "mae")
_LGB = {"mse": ("regression", "l2"), "huber": ("huber", "huber"), "mae": ("regression_l1", "l1")}
_XGB = {
    "mse": ("reg:squarederror", "rmse"),
    "huber": ("reg:pseudohubererror", "mphe"),
    "mae": ("reg:absoluteerror", "mae"),
}


def fit_losses(ds: RealDataset, seed: int = 0) -> dict[str, float]:
    """Each booster × loss: held-out R² on the race-quality split's 20%."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split

    from trainers.classical.boosting import scaled_loss_params
    from trainers.preprocess import apply_schema, prepare_frame

    train, test = ds.split()
    X, y, schema = prepare_frame(train, ds.target, None, "regression")
    Xt = apply_schema(test, schema)
    yt = test[ds.target].to_numpy(dtype=np.float64)
    Xa, Xv, ya, yv = train_test_split(X, y, test_size=0.15 / 0.85, random_state=seed)
    out: dict[str, float] = {}
    for loss in LOSSES:
        objective, metric = _LGB[loss]
        params: dict[str, Any] = {**_LGB_BASE, "objective": objective, "metric": metric, "verbose": -1, "seed": 0}
        scaled_loss_params(params, ya, {"huber": "alpha"})
        params["num_threads"] = 1
        dtrain = lgb.Dataset(Xa, ya)
        booster = lgb.train(
            params,
            dtrain,
            ROUNDS,
            valid_sets=[lgb.Dataset(Xv, yv, reference=dtrain)],
            callbacks=[lgb.early_stopping(PATIENCE, verbose=False)],
        )
        out[f"lightgbm {loss}"] = float(r2_score(yt, booster.predict(Xt, num_iteration=booster.best_iteration)))
        objective, metric = _XGB[loss]
        xparams: dict[str, Any] = {**_XGB_BASE, "objective": objective}
        scaled_loss_params(xparams, ya, {"reg:pseudohubererror": "huber_slope"}, frozenset({"reg:pseudohubererror"}))
        model = xgb.XGBRegressor(
            **xparams,
            n_estimators=ROUNDS,
            early_stopping_rounds=PATIENCE,
            eval_metric=metric,
            enable_categorical=True,
            n_jobs=1,
            random_state=0,
        )
        model.fit(Xa, ya, eval_set=[(Xv, yv)], verbose=False)
        out[f"xgboost {loss}"] = float(r2_score(yt, model.predict(Xt)))
    return out


def advisor_loss(ds: RealDataset) -> tuple[str, str, float, float]:
    """The advisor's §3 loss for the table's profile as the service measures it, the loss the outlier share alone
    calls for (the rule before ``loss.point_mass``), its outlier share and its mode share."""
    from advisor.rules.output_loss import regression_loss_of

    train, _ = ds.split()
    y = train[ds.target].to_numpy(dtype=np.float64)
    outliers, mode = outlier_share(y), mode_share(y)
    return regression_loss_of(outliers, mode), regression_loss_of(outliers, None), outliers, mode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="all", help="dev, corpus, all or comma-separated names")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    tables = [ds for ds in select(args.datasets) if ds.task == "regression"]
    header = f"{'dataset':28s} {'outliers':>8s} {'mode':>5s} {'before':>7s} {'advisor':>7s} " + " ".join(
        f"{b[:4] + ' ' + loss:>10s}" for b in ("xgboost", "lightgbm") for loss in LOSSES
    )
    print(header)
    rows = []
    for ds in tables:
        loss, before, outliers, mode = advisor_loss(ds)
        scores = fit_losses(ds)
        rows.append({"dataset": ds.name, "advisor": loss, "before": before, **scores})
        cells = " ".join(f"{scores[f'{b} {loss_}']:10.4f}" for b in ("xgboost", "lightgbm") for loss_ in LOSSES)
        print(f"{ds.name:28s} {outliers:8.3f} {mode:5.2f} {before:>7s} {loss:>7s} {cells}", flush=True)
    frame = pd.DataFrame(rows)
    print()
    for booster in ("xgboost", "lightgbm"):
        chosen = np.mean([r[f"{booster} {r['advisor']}"] for r in rows])
        before = np.mean([r[f"{booster} {r['before']}"] for r in rows])
        means = ", ".join(f"{loss} {frame[f'{booster} {loss}'].mean():.4f}" for loss in LOSSES)
        print(
            f"{booster}: mean held-out R² with the advisor's loss {chosen:.4f} (the outlier rule alone: {before:.4f});"
            f" with one loss everywhere: {means}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
