"""Prediction inputs read from an ``.npz``: a table model's rows and a sequence model's arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainers.errors import DataError
from trainers.predict_inputs import ModelInput, read_file


def _npz(tmp_path: Path, x: np.ndarray) -> Path:
    path = tmp_path / "inputs.npz"
    np.savez(path, x=x)
    return path


def test_a_table_model_reads_npz_rows_as_numbered_columns(tmp_path: Path) -> None:
    spec = ModelInput(modality="tabular", source="tabular", columns=["a", "b"])
    inputs = read_file(_npz(tmp_path, np.arange(6, dtype=np.float64).reshape(3, 2)), "inputs.npz", spec)
    assert isinstance(inputs.data, pd.DataFrame)
    assert list(inputs.data.columns) == ["x0", "x1"]
    assert inputs.data.to_numpy().tolist() == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    with pytest.raises(DataError, match="N x D numbers"):
        read_file(_npz(tmp_path, np.zeros((2, 3, 4))), "inputs.npz", spec)


def test_a_sequence_model_reads_npz_arrays(tmp_path: Path) -> None:
    spec = ModelInput(modality="sequence", source="sequence", steps=4, features=1)
    inputs = read_file(_npz(tmp_path, np.ones((2, 4, 1), dtype=np.float32)), "inputs.npz", spec)
    assert isinstance(inputs.data, np.ndarray)
    assert inputs.data.shape == (2, 4, 1)
