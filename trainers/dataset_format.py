"""What a stored dataset folder holds: :mod:`trainers.ingest` writes it, :mod:`trainers.datasets` reads it.

One data file (``data.parquet`` for tables and texts, ``data.npz`` for images and sequences) beside a
``schema.json`` that describes it; ``SCHEMA_VERSION`` is the version of that ``schema.json``. (A trained
model's feature schema is another document, versioned by :data:`trainers.spec.FEATURE_SCHEMA_VERSION`.)
"""

from __future__ import annotations

SCHEMA_VERSION = 1
SCHEMA_JSON = "schema.json"
DATA_PARQUET = "data.parquet"
DATA_NPZ = "data.npz"
