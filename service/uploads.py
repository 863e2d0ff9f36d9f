"""Stream a multipart upload to disk with a hard size limit, never holding the file in memory.

Starlette's form parser spools file parts without a limit; here the limit is enforced on the raw body
while it streams (a declared ``Content-Length`` over the limit is refused before reading, and a chunked
body is counted as it arrives), and the file part goes straight into a file the caller owns.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser
from starlette.requests import Request

from service.errors import BadRequest, PayloadTooLarge

MAX_FIELD_BYTES = 64 * 1024  # text fields (target, name, ...) are short


@dataclass
class Upload:
    """The parsed form: text fields and, if a ``file`` part came, where it was written."""

    fields: dict[str, str] = field(default_factory=dict)
    file_path: Path | None = None
    filename: str | None = None
    size: int = 0
    sha256: str = ""  # of the file part, computed while it streamed in


def _disposition(raw: str) -> tuple[str | None, str | None]:
    """A part's field name and file name; an RFC 2231 ``name*=`` is decoded as the file name already is."""
    msg = Message()
    msg["content-disposition"] = raw
    name = msg.get_param("name", header="content-disposition")
    if isinstance(name, tuple):  # (charset, language, value)
        name = collapse_rfc2231_value(name)
    return name, msg.get_filename()


async def receive_multipart(request: Request, *, dest: Path, limit: int) -> Upload:
    """Parse ``multipart/form-data`` from ``request`` into ``dest`` (the ``file`` part) and text fields."""
    msg = Message()
    msg["content-type"] = request.headers.get("content-type", "")
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise BadRequest("A multipart/form-data body needs a boundary in its Content-Type.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The upload is {int(declared):,} bytes; the limit is {limit:,} bytes.", limit=limit)

    upload = Upload()
    state: dict[str, object] = {"headers": {}, "name": None, "is_file": False, "buf": bytearray(), "hdr": b""}
    out: list[IO[bytes]] = []
    digest = hashlib.sha256()
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        state["headers"] = {}
        state["buf"] = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        headers[header_field.decode("latin-1").lower()] = header_value.decode("utf-8", "replace")
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        headers = state["headers"]
        assert isinstance(headers, dict)
        name, filename = _disposition(headers.get("content-disposition", ""))
        state["name"] = name
        state["is_file"] = name == "file"
        if state["is_file"]:
            if upload.file_path is not None:
                raise BadRequest("Send one file per upload.")
            upload.filename = filename
            upload.file_path = dest
            out.append(dest.open("wb"))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["is_file"]:
            piece = data[start:end]
            out[-1].write(piece)
            digest.update(piece)
            upload.size += end - start
        else:
            buf = state["buf"]
            assert isinstance(buf, bytearray)
            buf.extend(data[start:end])
            if len(buf) > MAX_FIELD_BYTES:
                raise BadRequest(f"Form field {state['name']!r} is longer than {MAX_FIELD_BYTES} bytes.")

    def on_part_end() -> None:
        if state["is_file"]:
            out[-1].close()
        elif state["name"]:
            buf = state["buf"]
            assert isinstance(buf, bytearray)
            try:
                upload.fields[str(state["name"])] = buf.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadRequest(f"Form field {state['name']!r} is not UTF-8.") from exc
            if "\x00" in upload.fields[str(state["name"])]:
                raise BadRequest(f"Form field {state['name']!r} contains a NUL character.")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(f"The upload exceeds the limit of {limit:,} bytes.", limit=limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequest(f"The multipart body could not be parsed: {type(exc).__name__}.") from exc
    finally:
        for f in out:
            f.close()
    upload.sha256 = digest.hexdigest()
    return upload
