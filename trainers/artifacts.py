"""Model artifacts in safe formats only, with SHA-256 digests checked before anything is parsed.

Formats: XGBoost UBJSON (``.ubj``), LightGBM text (``.txt``), scikit-learn through skops (``.skops``)
loaded with an explicit list of trusted types. Nothing is ever pickled or unpickled.

Layout of an artifact directory::

    model.ubj | model.txt | model.skops   the model
    schema.json                            FeatureSchema: columns, types, category levels, classes
    meta.json                              trainer, params, seed, best iteration, partial flag, curves
    *.npy                                  validation and test predictions (trainers.run), allow_pickle=False
    manifest.json                          format, library versions, SHA-256 of every file above
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainers.errors import TrainerError
from trainers.registry import get_trainer
from trainers.spec import ArtifactInfo

if TYPE_CHECKING:
    from trainers.base import Trainer

MANIFEST_FILE = "manifest.json"

# Types skops does not trust by default that a scikit-learn baseline legitimately contains. Loading
# refuses any other untrusted type, so a crafted file cannot make skops build an arbitrary object.
SKOPS_TRUSTED_TYPES: frozenset[str] = frozenset({"numpy.dtype"})


class ArtifactError(TrainerError):
    """An artifact is incomplete, tampered with, or holds something we refuse to load."""

    kind = "integrity"


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (1 MiB) so memory stays flat whatever the file size."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk_size):
            h.update(block)
    return h.hexdigest()


def combined_sha256(files: dict[str, str]) -> str:
    """One digest over ``name → digest`` pairs, independent of their order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]}\n".encode())
    return h.hexdigest()


def library_versions(modules: Iterable[str]) -> dict[str, str]:
    """``{module: __version__}`` for the given import names (plus Python)."""
    versions = {"python": sys.version.split()[0]}
    for name in modules:
        try:
            mod = sys.modules.get(name) or import_module(name)
        except ImportError:
            continue
        versions[name] = str(getattr(mod, "__version__", "unknown"))
    return versions


def _plain_name(name: str) -> str:
    if not name or Path(name).name != name or name in (".", ".."):
        raise ArtifactError(f"artifact file name {name!r} is not a plain file name")
    return name


def write_manifest(
    directory: Path, *, trainer: str, fmt: str, files: list[str], versions: dict[str, str]
) -> ArtifactInfo:
    """Hash ``files`` (names inside ``directory``), write ``manifest.json`` and describe the artifact."""
    digests = {_plain_name(f): sha256_file(directory / f) for f in files}
    info = ArtifactInfo(
        trainer=trainer,
        format=fmt,
        directory=str(directory),
        files=digests,
        sha256=combined_sha256(digests),
        library_versions=versions,
    )
    manifest = {
        "trainer": trainer,
        "format": fmt,
        "files": digests,
        "sha256": info.sha256,
        "library_versions": versions,
    }
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, sort_keys=True, indent=1), encoding="utf-8")
    return info


def extend_manifest(directory: Path, info: ArtifactInfo, files: list[str]) -> ArtifactInfo:
    """Rewrite ``directory``'s manifest to list ``files`` (written there) beside what ``info`` lists."""
    names = sorted({*info.files, *files})
    return write_manifest(directory, trainer=info.trainer, fmt=info.format, files=names, versions=info.library_versions)


def read_manifest(directory: Path, *, expected_sha256: str | None = None) -> ArtifactInfo:
    """Read and verify ``manifest.json``: every listed file exists and matches its SHA-256.

    ``expected_sha256`` (stored elsewhere, e.g. with the job) must equal the combined digest, so a
    rewritten manifest is caught too. Raises :class:`ArtifactError`.
    """
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST_FILE} in {directory}")
    try:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        files = {_plain_name(k): str(v) for k, v in raw["files"].items()}
        trainer, fmt, versions = str(raw["trainer"]), str(raw["format"]), dict(raw["library_versions"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArtifactError(f"unreadable {MANIFEST_FILE}: {exc}") from exc
    combined = combined_sha256(files)
    if combined != raw.get("sha256"):
        raise ArtifactError("manifest digest does not match its file list")
    if expected_sha256 is not None and combined != expected_sha256:
        raise ArtifactError("artifact digest differs from the expected one")
    for name, digest in files.items():
        file = directory / name
        if not file.is_file():
            raise ArtifactError(f"artifact file {name} is missing")
        if sha256_file(file) != digest:
            raise ArtifactError(f"artifact file {name} does not match its SHA-256")
    return ArtifactInfo(
        trainer=trainer,
        format=fmt,
        directory=str(directory),
        files=files,
        sha256=combined,
        library_versions=versions,
    )


def load_artifact(directory: str | Path, *, n_threads: int = 1, expected_sha256: str | None = None) -> Trainer:
    """Load any registered trainer's artifact (verified first); the manifest names the trainer."""
    directory = Path(directory)
    info = read_manifest(directory, expected_sha256=expected_sha256)
    return get_trainer(info.trainer).load(directory, n_threads=n_threads, expected_sha256=info.sha256)


def _skops_io() -> Any:
    """Import ``skops.io`` without letting it import torch.

    At import, skops lists scikit-learn's estimators with ``all_estimators()``, which imports every
    sklearn subpackage, including the array-API shim ``sklearn.externals.array_api_compat.torch``:
    where torch is installed that costs ~7 s and drags torch into a process that trains a linear
    model. Masking that one shim for the duration of the import (``pkgutil`` skips packages that
    fail to import) leaves the trusted-type lists unchanged: torch holds no sklearn estimator.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    shim = "sklearn.externals.array_api_compat.torch"
    masked = shim not in sys.modules
    if masked:
        sys.modules[shim] = None  # type: ignore[assignment]  # None in sys.modules = ImportError
    try:
        return import_module("skops.io")
    finally:
        if masked and sys.modules.get(shim, 0) is None:
            del sys.modules[shim]


def skops_dump(obj: Any, path: Path, *, extra_trusted: frozenset[str] = frozenset()) -> None:
    """Write a scikit-learn object with skops, refusing to save anything we would not load back.

    ``extra_trusted`` names the few types one trainer's model needs beyond :data:`SKOPS_TRUSTED_TYPES`
    (e.g. ``sklearn.tree._tree.Tree`` for forests); the same set must be passed to :func:`skops_load`.
    """
    sio = _skops_io()
    data = sio.dumps(obj)
    untrusted = set(sio.get_untrusted_types(data=data)) - SKOPS_TRUSTED_TYPES - extra_trusted
    if untrusted:
        raise ArtifactError(f"refusing to save types outside the trusted list: {sorted(untrusted)}")
    path.write_bytes(data)


def skops_load(path: Path, *, extra_trusted: frozenset[str] = frozenset()) -> Any:
    """Load a skops file, trusting only skops' defaults plus :data:`SKOPS_TRUSTED_TYPES` and the caller's
    explicit ``extra_trusted`` types (a trainer's own short list, never anything read from the file)."""
    sio = _skops_io()

    data = path.read_bytes()
    found = set(sio.get_untrusted_types(data=data))
    refused = found - SKOPS_TRUSTED_TYPES - extra_trusted
    if refused:
        raise ArtifactError(f"{path.name} holds untrusted types: {sorted(refused)}")
    return sio.loads(data, trusted=sorted(found))
