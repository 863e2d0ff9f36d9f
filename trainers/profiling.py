"""Profile a data file in one call, for scripts and notebooks: :func:`measure`.

It runs :func:`trainers.ingest.ingest` into a temporary folder and keeps only the
:class:`~advisor.profile.DatasetProfile` (assembled by :func:`trainers.ingest.finish.build_profile`).
The service calls ``ingest`` itself, since it keeps what ingestion writes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from advisor.profile import DatasetProfile
from trainers.ingest import ingest


def measure(
    src_path: Path,
    *,
    target: str | None = None,
    task: str | None = None,
    modality: str | None = None,
    filename: str | None = None,
) -> DatasetProfile:
    """Profile a data file in one call (for scripts and notebooks; the service calls ``ingest`` itself).

    The normalised copy that ingestion writes goes to a private temporary folder that is removed on return.

    Raises:
        trainers.errors.DataError: when the file cannot be used (see :mod:`trainers.errors`).
    """
    with tempfile.TemporaryDirectory(prefix="advisor-measure-") as tmp:
        result = ingest(
            Path(src_path),
            filename=filename if filename is not None else Path(src_path).name,
            target=target,
            task=task,
            modality=modality,
            work_dir=Path(tmp),
        )
    return result.profile
