"""The local data folder: where uploads land while they are checked, and where datasets are kept.

Layout under ``settings.data_dir``::

    tmp/<random>/          one folder per upload in progress (removed whatever happens)
    datasets/<fingerprint>/  a normalized dataset, written once, moved into place atomically

Names in these paths are ids and hashes the service made; a user's file name never becomes a path.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Storage:
    """Paths and atomic moves inside the data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir
        self.tmp_root = data_dir / "tmp"
        self.datasets_root = data_dir / "datasets"

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A fresh private folder for one upload; deleted when the block ends, success or not."""
        self.tmp_root.mkdir(parents=True, exist_ok=True)
        path = self.tmp_root / uuid.uuid4().hex
        path.mkdir()
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def dataset_dir(self, fingerprint: str) -> Path:
        """Where the dataset with this fingerprint lives (hex only, so it cannot escape the root)."""
        if not fingerprint.isalnum():
            raise ValueError("a fingerprint is a hex digest")
        return self.datasets_root / fingerprint

    def relative(self, path: Path) -> str:
        """``path`` relative to the data folder, as stored in the database."""
        return path.relative_to(self.root).as_posix()

    def resolve(self, relative: str) -> Path:
        """The absolute path of a stored relative path, refusing anything outside the data folder."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"stored path {relative!r} points outside the data folder")
        return path

    def publish(self, work_dir: Path, fingerprint: str) -> Path:
        """Move a checked work folder to its final place in one rename; returns the final path.

        If another request published the same fingerprint first, its folder is kept (same content).
        """
        final = self.dataset_dir(fingerprint)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(work_dir, final)
        except OSError:
            if not final.exists():
                raise
        return final

    def remove(self, relative: str | None) -> None:
        """Delete a stored folder (missing is fine)."""
        if relative:
            shutil.rmtree(self.resolve(relative), ignore_errors=True)
