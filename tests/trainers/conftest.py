"""Fixtures for the data-layer tests: an upload folder, a work folder, and a watched system temp folder."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from trainers.ingest import IngestResult, ingest
from trainers.ingest.limits import DEFAULT_LIMITS, IngestLimits


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@dataclass
class IngestSandbox:
    """Where an upload lives, where ingest may write, and a check that it wrote nowhere else."""

    root: Path
    uploads: Path
    work_dir: Path
    system_tmp: Path

    def upload(self, name: str, data: bytes | str) -> Path:
        """Write an upload under a neutral name, as the service does (the client's name never is a path)."""
        path = self.uploads / f"upload-{len(list(self.uploads.iterdir()))}"
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def run(
        self,
        path: Path,
        *,
        filename: str | None = None,
        target: str | None = None,
        task: str | None = None,
        modality: str | None = None,
        limits: IngestLimits | None = None,
    ) -> IngestResult:
        return ingest(
            path,
            filename=filename,
            target=target,
            task=task,
            modality=modality,
            work_dir=self.work_dir,
            limits=limits or DEFAULT_LIMITS,
        )

    def written_elsewhere(self) -> set[str]:
        """Paths created outside the work folder and the uploads (system temp included)."""
        outside = {
            p
            for p in _listing(self.root)
            if not p.startswith(("uploads", "work", "system-tmp")) and p not in {"uploads", "work", "system-tmp"}
        }
        return outside | {f"system-tmp/{p}" for p in _listing(self.system_tmp)}

    def work_files(self) -> set[str]:
        return _listing(self.work_dir) if self.work_dir.exists() else set()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IngestSandbox:
    """Isolated folders; ``tempfile`` is pointed at a watched folder so stray temp files are caught."""
    system_tmp = tmp_path / "system-tmp"
    uploads = tmp_path / "uploads"
    for folder in (system_tmp, uploads):
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    return IngestSandbox(root=tmp_path, uploads=uploads, work_dir=tmp_path / "work", system_tmp=system_tmp)
