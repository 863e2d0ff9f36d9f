"""FastAPI dependencies, declared once as ``Annotated`` aliases.

All are ``async def``: FastAPI would run a plain ``def`` dependency on a worker thread.
There is no request-wide ``SessionDep``: routes are ``async`` and the database is reached through
``Database.run`` (one worker-thread hop per unit of work, one transaction each), so a session never
lives on the event loop.
"""

from __future__ import annotations

from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from service.db.session import Database
from service.errors import UnsupportedMediaType
from service.settings import Settings


async def get_database(request: Request) -> Database:
    """The database the app's lifespan opened."""
    db: Database = request.app.state.db
    return db


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


async def require_json(request: Request) -> None:
    """Refuse a body that is not JSON with 415, before the body is validated."""
    content_type = request.headers.get("content-type")
    if content_type == "application/json":  # nearly every request: no need to parse the header
        return
    if content_type is None:
        raise UnsupportedMediaType("Send the body as JSON with Content-Type: application/json.")
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (subtype == "json" or subtype.endswith("+json")):
        raise UnsupportedMediaType(
            f"Content-Type {message.get_content_type()} is not supported; send application/json."
        )


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
JSONBody = Depends(require_json)
