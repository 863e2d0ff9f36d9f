"""Zip archives from strangers: refuse unsafe paths and bombs *before* inflating anything.

Nothing is ever extracted to disk: members are read into memory one at a time, and the amount inflated is
capped while reading, because a member's declared size in the central directory is the attacker's claim.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import PurePosixPath

from trainers.errors import DataError
from trainers.ingest.limits import IngestLimits

_READ_CHUNK = 1 << 20


def check_members(zf: zipfile.ZipFile, limits: IngestLimits) -> list[zipfile.ZipInfo]:
    """The archive's file members, after refusing unsafe names and bomb-like sizes.

    Raises:
        DataError: ``unsafe-archive`` for absolute paths, ``..`` components, symlinks or encryption;
            ``archive-bomb`` when the declared sizes exceed ``limits``.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise DataError(
            "archive-bomb",
            f"The archive has {len(infos)} entries; at most {limits.max_members} are accepted.",
            extra={"members": len(infos), "maximum": limits.max_members},
        )
    total = 0
    files: list[zipfile.ZipInfo] = []
    for info in infos:
        _check_name(info)
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise DataError(
                "unsafe-archive",
                f"Member {info.filename!r} is encrypted; upload an unencrypted archive.",
                extra={"member": info.filename},
            )
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise DataError(
                "archive-bomb",
                f"The archive expands to more than {limits.max_uncompressed_bytes} bytes.",
                extra={"maximum_uncompressed_bytes": limits.max_uncompressed_bytes},
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_compression_ratio and info.file_size > 1 << 16:
            raise DataError(
                "archive-bomb",
                f"Member {info.filename!r} compresses {ratio:.0f}:1, above the accepted "
                f"{limits.max_compression_ratio:.0f}:1; this looks like a decompression bomb.",
                extra={
                    "member": info.filename,
                    "ratio": round(ratio, 1),
                    "maximum_ratio": limits.max_compression_ratio,
                },
            )
        files.append(info)
    return files


def _check_name(info: zipfile.ZipInfo) -> None:
    # zipfile sanitises names only in extract(); we never extract, but a name with '..' or a leading '/'
    # is a sign of a hostile archive, so it is refused outright rather than silently cleaned.
    name = info.orig_filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    problem = None
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problem = "is an absolute path"
    elif ".." in parts:
        problem = "climbs out of the archive with '..'"
    elif stat.S_ISLNK(info.external_attr >> 16):
        problem = "is a symbolic link"
    elif "\x00" in name:
        problem = "contains a NUL byte"
    if problem:
        raise DataError(
            "unsafe-archive",
            f"Archive member {info.orig_filename!r} {problem}; such archives are refused.",
            extra={"member": info.orig_filename},
        )


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    """Inflate one member, refusing to produce more than its declared size or the remaining ``budget``."""
    cap = min(info.file_size, budget)
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_READ_CHUNK):
                out += chunk
                if len(out) > cap:
                    raise DataError(
                        "archive-bomb",
                        f"Member {info.filename!r} inflates beyond its declared size or the size limit.",
                        extra={"member": info.filename},
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise DataError(
            "malformed-file",
            f"Archive member {info.filename!r} cannot be read: {exc}.",
            extra={"member": info.filename},
        ) from exc
    return bytes(out)
