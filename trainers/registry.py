"""The one registry of trainers: typed, loud about duplicates and unknown names, lazy about imports.

Built-in trainers are listed here as ``"module:Class"`` strings so that ``import trainers`` loads no ML
library; :func:`get_trainer` imports the module on first use, and the module's
``@register_trainer(name)`` decorator swaps the string for the class.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from trainers.errors import TrainerError

if TYPE_CHECKING:
    from trainers.base import Trainer

T = TypeVar("T", bound="type[Trainer]")

# The one list of built-in trainers: where each lives, in the order `available_trainers()` reports. The
# per-package lists (trainers.classical.CLASSICAL_TRAINERS, trainers.torch.TORCH_TRAINERS) are read from it.
_BUILTIN: dict[str, str] = {
    "xgboost": "trainers.classical.xgboost_trainer:XGBoostTrainer",
    "lightgbm": "trainers.classical.lightgbm_trainer:LightGBMTrainer",
    "sklearn_logistic": "trainers.classical.sklearn_baselines:LogisticRegressionTrainer",
    "sklearn_ridge": "trainers.classical.sklearn_baselines:RidgeRegressionTrainer",
    "sklearn_linear": "trainers.classical.sklearn_baselines:LinearRegressionTrainer",
    "sklearn_random_forest": "trainers.classical.sklearn_forests:RandomForestTrainer",
    "sklearn_extra_trees": "trainers.classical.sklearn_forests:ExtraTreesTrainer",
    "sklearn_knn": "trainers.classical.sklearn_neighbors:KNeighborsTrainer",
    "sklearn_svm": "trainers.classical.sklearn_svm:SVMTrainer",
    # Built by a race from its finished entries (never requested directly): see trainers.ensemble.
    "ensemble": "trainers.ensemble:EnsembleTrainer",
    # torch loads only on get_trainer.
    "torch_mlp": "trainers.torch.trainers:TorchMLPTrainer",
    "torch_cnn": "trainers.torch.trainers:TorchCNNTrainer",
    "torch_lstm": "trainers.torch.trainers:TorchLSTMTrainer",
    "torch_transformer": "trainers.torch.trainers:TorchTransformerTrainer",
}

_registry: dict[str, str | type[Trainer]] = dict(_BUILTIN)
_lock = threading.RLock()


class TrainerRegistryError(TrainerError, KeyError):
    """An unknown or duplicate trainer name."""

    kind = "unknown"

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


def _path_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_trainer(name: str) -> Callable[[T], T]:
    """Class decorator registering a :class:`~trainers.base.Trainer` under ``name``.

    Raises :class:`TrainerRegistryError` if ``name`` is taken by another class. Re-registering the
    class a lazy entry points to (its module being imported) just resolves that entry.
    """

    def decorator(cls: T) -> T:
        with _lock:
            current = _registry.get(name)
            target = current if isinstance(current, str) or current is None else _path_of(current)
            if current is not None and target != _path_of(cls):
                raise TrainerRegistryError(f"trainer name {name!r} is already registered to {target}")
            if getattr(cls, "NAME", name) != name:
                raise TrainerRegistryError(f"{cls.__qualname__}.NAME is {cls.NAME!r}, registered as {name!r}")
            _registry[name] = cls
        return cls

    return decorator


def unregister_trainer(name: str) -> None:
    """Remove ``name`` (for tests); raises :class:`TrainerRegistryError` if it is not registered."""
    with _lock:
        if name not in _registry:
            raise TrainerRegistryError(f"no trainer named {name!r}")
        del _registry[name]


def get_trainer(name: str) -> type[Trainer]:
    """The trainer class registered as ``name``, importing its module on first use."""
    with _lock:
        entry = _registry.get(name)
        if entry is None:
            known = ", ".join(sorted(_registry)) or "none"
            raise TrainerRegistryError(f"no trainer named {name!r}; registered: {known}")
        if not isinstance(entry, str):
            return entry
    # Import outside the lock: the module's @register_trainer takes the lock, and another thread importing
    # the same module directly would otherwise hold the import lock while waiting for ours (a deadlock seen
    # between a request thread and the job engine's warm-up thread).
    module = entry.partition(":")[0]
    importlib.import_module(module)  # runs @register_trainer, which replaces the string
    with _lock:
        resolved = _registry.get(name)
    if not isinstance(resolved, type):
        raise TrainerRegistryError(f"importing {module} did not register a trainer named {name!r}")
    return resolved


def builtin_trainers(package: str) -> dict[str, str]:
    """The built-in trainers whose modules live in ``package`` (``"trainers.torch"``): name → ``module:Class``."""
    prefix = f"{package}."
    return {name: path for name, path in _BUILTIN.items() if path.startswith(prefix)}


def available_trainers() -> list[str]:
    """Registered names, without importing any trainer module."""
    with _lock:
        return list(_registry)
