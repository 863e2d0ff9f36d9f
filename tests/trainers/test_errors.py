"""The trainers raise one family of errors, each with a kind; HTTP statuses are chosen in the service only."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from trainers.artifacts import ArtifactError
from trainers.base import NotFittedError, TrainerCapabilityError, TrainerParamError
from trainers.callbacks import TrainingStopped
from trainers.datasets import DatasetFolderError
from trainers.errors import DataError, ErrorKind, TrainerError
from trainers.export.onnx import NotConvertible
from trainers.export.xgboost_trees import Unsupported
from trainers.preprocess import SchemaMismatch
from trainers.registry import TrainerRegistryError, get_trainer

ROOT = Path(__file__).resolve().parents[2] / "trainers"
BUILTIN_ROOTS = {"Exception", "BaseException", "ValueError", "KeyError", "RuntimeError", "TypeError", "LookupError"}


def test_every_trainer_error_has_a_kind() -> None:
    kinds = {
        ArtifactError: "integrity",
        DatasetFolderError: "integrity",
        NotFittedError: "state",
        TrainerCapabilityError: "unsupported",
        TrainerParamError: "config",
        TrainingStopped: "stopped",
        NotConvertible: "unsupported",
        Unsupported: "unsupported",
        SchemaMismatch: "data",
        TrainerRegistryError: "unknown",
    }
    assert all(issubclass(cls, TrainerError) for cls in kinds)
    assert {cls: cls.kind for cls in kinds} == kinds
    assert set(kinds.values()) | {"malformed", "too_large"} == set(get_args(ErrorKind))
    assert DataError("archive-bomb", "x.").kind == "too_large" and DataError("too-few-rows", "x.").kind == "data"


def test_no_exception_in_trainers_stands_outside_the_family() -> None:
    outside = []
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name != "TrainerError":
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & BUILTIN_ROOTS and "TrainerError" not in bases:
                    outside.append(f"{path.relative_to(ROOT.parent)}:{node.name}")
    assert outside == []


def test_the_registry_error_is_still_a_key_error() -> None:
    try:
        get_trainer("no_such_trainer")
    except KeyError as exc:  # callers that caught KeyError keep working
        assert isinstance(exc, TrainerError) and exc.kind == "unknown" and "no_such_trainer" in str(exc)
