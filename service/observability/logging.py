"""Logging: one JSON object per line (or plain text), with the request and job ids of the current context.

``configure_logging(settings)`` installs one handler on the root logger; :func:`uvicorn_log_config` is the
``log_config`` for ``uvicorn.run`` that sends uvicorn's own and access logs through that same handler
(instead of uvicorn's coloured text). A JSON line has ``ts`` (ISO-8601, UTC), ``level``, ``logger``,
``message``, ``request_id`` and ``job_id`` when set, ``exc_info`` (the formatted traceback) when there is
one, and every ``extra=`` field whose value is JSON-safe. uvicorn's access lines also get ``client``,
``method``, ``path``, ``http_version`` and ``status``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from datetime import UTC, datetime
from typing import IO, Any

from service.observability.request_id import job_id, request_id
from service.settings import Settings

# Attributes every LogRecord has (plus what Formatter.format adds): never copied as extra fields.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
    "request_id",
    "job_id",
    "context",
}
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


def _json_safe(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > 8:
        return False
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v, depth + 1) for k, v in value.items())
    return False


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line (see the module docstring for the fields)."""
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            data["request_id"] = rid
        jid = getattr(record, "job_id", None) or job_id.get()
        if jid:
            data["job_id"] = jid
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc_info"] = record.exc_text
        if record.stack_info:
            data["stack_info"] = self.formatStack(record.stack_info)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            data.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in data and not key.startswith("_") and _json_safe(value):
                data[key] = value
        return json.dumps(data, ensure_ascii=False, default=str)


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``job_id`` and ``context`` (`` [request_id=… job_id=…]`` or empty) to records,
    for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Annotate ``record``; never drops it."""
        rid = getattr(record, "request_id", None) or request_id.get()
        jid = getattr(record, "job_id", None) or job_id.get()
        record.request_id, record.job_id = rid, jid
        parts = [f"request_id={rid}"] if rid else []
        if jid:
            parts.append(f"job_id={jid}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return True


class StderrHandler(logging.StreamHandler[IO[str]]):
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted (it may be
    replaced after logging is configured, e.g. by a test runner capturing output)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _: IO[str]) -> None:
        pass


def make_handler(log_format: str = "json", stream: IO[str] | None = None) -> logging.Handler:
    """The handler ``configure_logging`` installs: JSON lines, or text with the ids in brackets; to
    ``stream``, or to the current ``sys.stderr`` when None."""
    handler: logging.Handler = StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.set_name("advisor")
    return handler


def configure_logging(settings: Settings) -> logging.Handler:
    """Install the service's handler on the root logger at ``settings.log_level`` (replacing one an earlier
    call installed; other handlers are left alone) and return it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "advisor"]:
        root.removeHandler(old)
    handler = make_handler(settings.log_format)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """``log_config`` for ``uvicorn.run``: uvicorn's loggers keep no handler of their own and pass their
    records to the root logger, so they are formatted like every other line. Call
    :func:`configure_logging` first."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }
