"""Liveness and readiness bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class HealthRead(BaseModel):
    """The process is up."""

    status: Literal["ok"] = "ok"


class ReadinessRead(BaseModel):
    """Every dependency answered; ``checks`` says what was checked."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]
