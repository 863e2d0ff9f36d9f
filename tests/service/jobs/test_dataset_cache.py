"""A warm training process keeps the last small dataset it parsed; every job still verifies the files."""

from __future__ import annotations

from pathlib import Path

import pytest
from _job_fixtures import breast_cancer

from service.jobs.dataset_cache import DatasetCache
from trainers.datasets import DatasetFolderError


@pytest.fixture()
def stored(tmp_path: Path) -> tuple[str, dict[str, str]]:
    from trainers.ingest import ingest, sha256_file

    source = tmp_path / "bc.csv"
    breast_cancer().to_csv(source, index=False)
    folder = tmp_path / "dataset"
    result = ingest(source, filename=source.name, target="target", task=None, modality=None, work_dir=folder)
    return str(folder), {name: sha256_file(folder / name) for name in result.files}


def test_the_next_job_on_the_same_files_gets_its_own_copy_of_the_parse(stored: tuple[str, dict[str, str]]) -> None:
    folder, digests = stored
    cache = DatasetCache()
    first = cache.load(folder, digests)
    first.frame[first.feature_columns[0]] = -1.0  # a trainer that changes what it is given
    first.notes.append("this job's own note")
    second = cache.load(folder, digests)
    second.frame.iloc[0, 1] = -2.0  # a copy: writable, and its own
    third = cache.load(folder, digests)
    assert cache.hits == 2
    assert (third.frame.iloc[:, 0] != -1.0).all() and third.frame.iloc[0, 1] != -2.0
    assert "this job's own note" not in third.notes
    assert third.feature_columns == first.feature_columns and third.n_rows == 569


def test_changed_files_are_refused_even_when_their_parse_is_kept(stored: tuple[str, dict[str, str]]) -> None:
    folder, digests = stored
    cache = DatasetCache()
    cache.load(folder, digests)
    data_file = next(Path(folder) / name for name in digests if name.endswith(".parquet"))
    data_file.write_bytes(data_file.read_bytes() + b"\0")
    with pytest.raises(DatasetFolderError, match="does not match"):
        cache.load(folder, digests)


def test_large_or_unhashed_datasets_are_not_kept(stored: tuple[str, dict[str, str]]) -> None:
    folder, digests = stored
    small = DatasetCache(max_bytes=0)
    small.load(folder, digests)
    small.load(folder, digests)
    unhashed = DatasetCache()
    unhashed.load(folder, None)
    unhashed.load(folder, None)
    assert small.hits == 0 and unhashed.hits == 0
