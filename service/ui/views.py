"""Rendering: the templates, the headers every page carries, and the small reshaping pages need."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.responses import HTMLResponse, Response

from service.schemas.datasets import DatasetRead
from service.schemas.explanations import ImportanceRead
from service.schemas.jobs import JobRead
from service.ui import session
from trainers.explain import ColumnScore

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

# Everything a page uses comes from this service: scripts only from its own files (none inline), data from
# its own endpoints. Plotly sets inline styles, hence 'unsafe-inline' for styles alone.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: ``digits`` significant digits, '—' for none."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def plain(value: Any) -> str:
    """A decision's value as text (lists and dicts compactly)."""
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {plain(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
_env.filters["fmt"] = fmt
_env.filters["plain"] = plain


def page(request: Request, template: str, context: dict[str, Any], *, status_code: int = 200) -> Response:
    """Render ``template`` with the CSRF token and the security headers; sets the CSRF cookie when new."""
    body = _env.get_template(template).render(
        request=request, csrf_token=session.csrf_token(request), logged_in=bool(session.session_key(request)), **context
    )
    response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
    session.ensure_csrf_cookie(response, request)
    return response


def invalid_form(request: Request, exc: ValidationError) -> Response:
    """A form whose values the API's request model refuses: 422 with the reasons."""
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors())
    return page(request, "error.html", {"title": "Invalid form", "status": 422, "detail": detail}, status_code=422)


def columns(dataset: DatasetRead) -> list[dict[str, Any]]:
    """The dataset's columns as measured at upload (name, kind, role, type, missing), for its table."""
    found = dataset.details.get("columns")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def metric_table(job: JobRead) -> dict[str, Any]:
    """Metrics as rows (metric) × columns (split, then the baseline's splits and the lift)."""
    splits = list((job.metrics or {}).keys())
    names: list[str] = []
    for values in (job.metrics or {}).values():
        names += [n for n in values if n not in names]
    baseline = (job.baseline.metrics if job.baseline else None) or {}
    rows = []
    for name in names:
        rows.append(
            {
                "name": name,
                "values": [(job.metrics or {}).get(s, {}).get(name) for s in splits],
                "sd": ((job.validation or {}).get("sd") or {}).get(name),
                "baseline": [baseline.get(s, {}).get(name) for s in splits],
                "lift": [((job.lift_over_baseline or {}).get(s) or {}).get(name) for s in splits],
            }
        )
    return {"splits": splits, "rows": rows, "has_baseline": bool(baseline)}


def feature_importance(importance: ImportanceRead | None) -> list[dict[str, Any]] | None:
    """The job's stored feature importance (``GET /v1/jobs/{id}/importance``) as named series, largest first:
    permutation importance (the validation loss's growth when a column is shuffled) and the model's own."""
    if importance is None:
        return None
    groups: list[tuple[str, list[ColumnScore]]] = []
    if importance.permutation is not None:
        groups.append((f"permutation ({importance.permutation.metric} increase)", importance.permutation.columns))
    if importance.native is not None:
        groups.append((f"native ({importance.native.kind})", importance.native.columns))
    return [
        {"method": method, "features": [c.column for c in ranked], "values": [c.value for c in ranked]}
        for method, columns in groups
        for ranked in [sorted(columns, key=lambda c: abs(c.value), reverse=True)[:30]]
        if ranked
    ] or None


def static_version() -> str:
    """Changes whenever a static file changes, so browsers fetch the new one (cache busting)."""
    newest = max((p.stat().st_mtime_ns for p in STATIC_DIR.iterdir() if p.is_file()), default=0)
    return format(newest, "x")[-8:]
