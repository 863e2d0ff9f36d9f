"""The web dashboard at ``/ui``: server-rendered pages over the same service functions as the API.

``install(app)`` mounts it: the pages and data routes (:mod:`service.ui.routes`), its own static files, and
Plotly's JavaScript served from the installed ``plotly`` package (nothing is loaded from another host).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.staticfiles import StaticFiles

from service.ui import routes, views

UPLOAD_PATH = f"{routes.DATA}/datasets"
PLOTLY_PATH = f"{routes.PREFIX}/vendor/plotly.min.js"


@cache
def plotly_js() -> Path | None:
    """plotly.min.js as the ``plotly`` wheel ships it (its package data), or None if plotly is not installed."""
    try:
        found = resources.files("plotly") / "package_data" / "plotly.min.js"
    except ModuleNotFoundError:
        return None
    path = Path(str(found))
    return path if path.is_file() else None


async def _plotly(_: object) -> Response:
    path = plotly_js()
    if path is None:
        return PlainTextResponse("plotly is not installed: pip install plotly", status_code=503)
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})


def install(app: FastAPI) -> None:
    """Mount the dashboard on ``app`` at ``/ui``."""
    app.include_router(routes.router)
    app.add_route(PLOTLY_PATH, _plotly, methods=["GET"], include_in_schema=False)
    app.mount(f"{routes.PREFIX}/static", StaticFiles(directory=views.STATIC_DIR), name="ui-static")
    # The upload streams to disk under the upload limit, like POST /v1/datasets (service.body_limit).
    upload_paths: set[str] = getattr(app.state, "upload_paths", set())
    app.state.upload_paths = upload_paths | {UPLOAD_PATH}
