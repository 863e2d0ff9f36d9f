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
from service.schemas.jobs import JobRead
from service.ui import session

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


def _pairs(value: Any) -> list[tuple[str, float]] | None:
    """``{feature: number}`` or ``[{feature|name, importance|value|mean}]`` as (name, value) pairs."""
    if isinstance(value, dict) and value and all(isinstance(v, int | float) for v in value.values()):
        return [(str(k), float(v)) for k, v in value.items()]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        pairs = []
        for item in value:
            name = item.get("feature", item.get("name"))
            number = next((item[k] for k in ("importance", "value", "mean", "score") if k in item), None)
            if name is None or not isinstance(number, int | float):
                return None
            pairs.append((str(name), float(number)))
        return pairs
    return None


def feature_importance(job: JobRead) -> list[dict[str, Any]] | None:
    """The job's feature importance, if the job carries one, as named series of (feature, value) sorted by
    value: one series for a flat mapping or list, one per method for ``{method: mapping-or-list}``."""
    found = job.model_dump().get("feature_importance")
    if not found:
        return None
    flat = _pairs(found)
    if flat is not None:
        groups = [("importance", flat)]
    elif isinstance(found, dict):
        groups = []
        for method, value in found.items():
            inner = value.get("features", value.get("values")) if isinstance(value, dict) else None
            pairs = _pairs(value) or _pairs(inner)
            if pairs:
                groups.append((str(method), pairs))
    else:
        groups = []
    return [
        {"method": method, "features": [n for n, _ in ranked], "values": [v for _, v in ranked]}
        for method, pairs in groups
        for ranked in [sorted(pairs, key=lambda p: abs(p[1]), reverse=True)[:30]]
    ] or None


def static_version() -> str:
    """Changes whenever a static file changes, so browsers fetch the new one (cache busting)."""
    newest = max((p.stat().st_mtime_ns for p in STATIC_DIR.iterdir() if p.is_file()), default=0)
    return format(newest, "x")[-8:]
