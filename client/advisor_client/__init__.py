"""Python client of the model-advisor service: ``Advisor`` (blocking) and ``AsyncAdvisor`` (asyncio).

Needs only httpx and pydantic. Errors the service answers (RFC 9457 problems) raise typed exceptions from
:mod:`advisor_client.errors`; the command line is :mod:`advisor_client.cli`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from advisor_client.aio import AsyncAdvisor, AsyncJobHandle, AsyncRaceHandle
from advisor_client.errors import (
    AdvisorError,
    BadRequest,
    ClientError,
    Conflict,
    ExplanationUnavailable,
    Forbidden,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationError,
    WaitTimeout,
)
from advisor_client.models import (
    Dataset,
    Explanation,
    Job,
    JobPage,
    ModelFile,
    Prediction,
    Race,
    RaceEntry,
    Recommendation,
)
from advisor_client.sync import Advisor, JobHandle, RaceHandle

__all__ = [
    "Advisor",
    "AdvisorError",
    "AsyncAdvisor",
    "AsyncJobHandle",
    "AsyncRaceHandle",
    "BadRequest",
    "ClientError",
    "Conflict",
    "Dataset",
    "Explanation",
    "ExplanationUnavailable",
    "Forbidden",
    "Job",
    "JobFailed",
    "JobHandle",
    "JobPage",
    "ModelFile",
    "NotFound",
    "PayloadTooLarge",
    "Prediction",
    "ProblemError",
    "Race",
    "RaceEntry",
    "RaceHandle",
    "RateLimited",
    "Recommendation",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
