"""Classical trainers: XGBoost, LightGBM, scikit-learn linear baselines, forests, k-NN and SVMs.

| registered name    | class                        | module              | tasks                       |
|--------------------|------------------------------|---------------------|-----------------------------|
| ``xgboost``        | ``XGBoostTrainer``           | ``xgboost_trainer`` | binary, multiclass, regression |
| ``lightgbm``       | ``LightGBMTrainer``          | ``lightgbm_trainer``| binary, multiclass, regression |
| ``sklearn_logistic`` | ``LogisticRegressionTrainer`` | ``sklearn_baselines`` | binary, multiclass        |
| ``sklearn_ridge``  | ``RidgeRegressionTrainer``   | ``sklearn_baselines`` | regression                |
| ``sklearn_linear`` | ``LinearRegressionTrainer``  | ``sklearn_baselines`` | regression                |
| ``sklearn_random_forest`` | ``RandomForestTrainer`` | ``sklearn_forests`` | binary, multiclass, regression |
| ``sklearn_extra_trees`` | ``ExtraTreesTrainer``   | ``sklearn_forests``   | binary, multiclass, regression |
| ``sklearn_knn``    | ``KNeighborsTrainer``        | ``sklearn_neighbors`` | binary, multiclass, regression |
| ``sklearn_svm``    | ``SVMTrainer``               | ``sklearn_svm``       | binary, multiclass, regression |

The scikit-learn trainers share one preprocessing Pipeline and artifact code (``sklearn_common``).

Each module registers its class with ``@register_trainer`` when imported. Importing this package
imports none of them (each pulls in a heavy library); ``trainers.registry.get_trainer(name)`` or
attribute access here (``trainers.classical.XGBoostTrainer``) imports the one needed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from trainers.registry import builtin_trainers

# Both read from the registry (the one list of trainers): registered names, and class name → module.
_PATHS = builtin_trainers("trainers.classical")
CLASSICAL_TRAINERS = tuple(_PATHS)
_CLASSES = {path.partition(":")[2]: path.partition(":")[0] for path in _PATHS.values()}

__all__ = ["CLASSICAL_TRAINERS", *_CLASSES]


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        return getattr(import_module(_CLASSES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
