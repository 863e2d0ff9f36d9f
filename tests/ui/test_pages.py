"""The dashboard over HTTP: pages, forms and their CSRF checks, keys and tenants, the upload, what page scripts
read, and where its code and its scripts come from. No training runs here (``workers=0``: jobs stay queued)."""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _ui_fixtures import csv_bytes, make_key, table, ui_settings
from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from service.ui import plotly_js

UI_DIR = Path(__file__).resolve().parents[2] / "service" / "ui"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A small JSON limit: the upload must still pass (it streams under the upload limit, as /v1/datasets does).
    return ui_settings(tmp_path, workers=0, max_json_bytes=2048)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def _csrf(client: TestClient, path: str = "/ui/datasets") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


def _upload(client: TestClient, token: str | None, frame: Any = None, **fields: str) -> Any:
    headers = {"X-CSRF-Token": token} if token else {}
    body = csv_bytes(table(80) if frame is None else frame)
    return client.post(
        "/ui/data/datasets",
        files={"file": ("tiny.csv", body, "text/csv")},
        data={"target": "y", **fields},
        headers=headers,
    )


def _dataset(client: TestClient) -> str:
    response = _upload(client, _csrf(client))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_keyless_pages_need_no_login_and_carry_the_security_headers(client: TestClient) -> None:
    assert client.get("/ui").headers["location"] == "/ui/datasets"
    page = client.get("/ui/datasets")
    assert page.status_code == 200 and "No datasets yet" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "default-src 'self'" in csp
    cookie = page.headers["set-cookie"].lower()
    assert "advisor_csrf=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    # Keyless: the login page has nothing to ask and sends the browser on.
    assert client.get("/ui/login?next=/ui/jobs").headers["location"] == "/ui/jobs"


def test_the_upload_needs_the_csrf_token_streams_past_the_json_limit_and_profiles(client: TestClient) -> None:
    refused = _upload(client, None)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert _upload(client, "forged").status_code == 403
    token = _csrf(client)
    created = _upload(client, token)
    assert created.status_code == 201, created.text  # the CSV is larger than max_json_bytes (2048)
    assert len(csv_bytes(table(80))) > 2048
    body = created.json()
    assert body["created"] is True and body["url"] == f"/ui/datasets/{body['id']}"
    again = _upload(client, token)
    assert again.status_code == 200 and again.json() == {**body, "created": False}
    page = client.get(body["url"])
    assert page.status_code == 200
    for text in ("colour", "categorical", "numeric", "target", "n_rows", "Race this dataset", "Warnings"):
        assert text in page.text
    assert "tiny.csv" in client.get("/ui/datasets").text
    # A refused upload answers the API's problem, which the form shows.
    bad = _upload(client, token, target="nope")
    assert bad.status_code in (400, 422) and "nope" in bad.json()["detail"]


def test_a_recommendation_shows_every_value_with_its_rule_section_reason_and_marks(client: TestClient) -> None:
    dataset = _dataset(client)
    assert client.post(f"/ui/datasets/{dataset}/recommend").status_code == 403  # no CSRF token
    made = client.post(f"/ui/datasets/{dataset}/recommend", data={"csrf_token": _csrf(client)})
    assert made.status_code == 303
    location = made.headers["location"]
    assert location.startswith("/ui/recommendations/") and location.endswith(f"?dataset={dataset}")
    page = client.get(location).text
    rec = client.get(f"/v1/recommendations/{location.split('/')[-1].split('?')[0]}").json()
    decisions = rec["assumptions"] + rec["decisions"]
    for candidate in [*rec["candidates"], rec["baseline"]]:
        decisions += list(candidate["choices"].values())
    text = html.unescape(page)
    for d in decisions:
        assert d["rule_id"] in text and d["reason"] in text and d["section"] in text, d
    assert page.count('<span class="mark assumed" title=') == sum(d["assumed"] for d in decisions) > 0
    assert page.count('<span class="mark extrapolated" title=') == sum(d["extrapolated"] for d in decisions) > 0
    assert page.count('action="/ui/recommendations/') == len(rec["candidates"]) + 1  # a Train button each


def test_race_and_train_forms_job_page_cancel_and_events(client: TestClient) -> None:
    dataset = _dataset(client)
    token = _csrf(client)
    invalid = client.post(f"/ui/datasets/{dataset}/race", data={"csrf_token": token, "top_k": "99"})
    assert invalid.status_code == 422 and "top_k" in invalid.text
    raced = client.post(f"/ui/datasets/{dataset}/race", data={"csrf_token": token, "top_k": "1"})
    assert raced.status_code == 303 and raced.headers["location"].startswith("/ui/races/")
    race_page = client.get(raced.headers["location"])
    assert race_page.status_code == 200
    for text in ('id="leaderboard"', 'id="race-verdict"', "running", "Race this dataset", "queued", "baseline"):
        assert text in race_page.text
    assert client.get(raced.headers["location"] + "/board").text.startswith(
        '<div id="race-board" data-status="running"'
    )

    rec_id = client.post(f"/ui/datasets/{dataset}/recommend", data={"csrf_token": token}).headers["location"]
    rec_id = rec_id.split("/")[-1].split("?")[0]
    trained = client.post(
        f"/ui/recommendations/{rec_id}/train", data={"csrf_token": token, "dataset_id": dataset, "candidate": "0"}
    )
    assert trained.status_code == 303
    job_url = trained.headers["location"]
    job_id = job_url.split("/")[-1]
    page = client.get(job_url)
    assert page.status_code == 200 and 'id="cancel-button"' in page.text and "queued" in page.text
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page.text, re.S)
    assert data is not None and job_id in data.group(1)
    assert client.get(f"/ui/data/jobs/{job_id}").json()["status"] == "queued"
    # No model yet: the evaluation says why, as the API does.
    unavailable = client.get(f"/ui/data/jobs/{job_id}/evaluation")
    assert unavailable.status_code == 409 and "no model yet" in unavailable.json()["detail"]
    assert client.get(f"/v1/jobs/{job_id}/evaluation").status_code == 409

    assert client.post(f"{job_url}/cancel").status_code == 403
    assert client.post(f"{job_url}/cancel", data={"csrf_token": token}).status_code == 303
    with client.stream("GET", f"/ui/data/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.iter_text())
    assert "event: end" in text and '"status": "cancelled"' in text
    done = client.get(job_url).text
    assert "cancelled" in done and "cancel-button" not in done
    assert "Feature importance isn't available for this job." in html.unescape(done)
    assert job_id in client.get("/ui/jobs").text and job_id in client.get(f"/ui/datasets/{dataset}").text


def test_keys_login_cookie_and_tenant_isolation(client: TestClient, settings: Settings) -> None:
    acme, other = make_key(settings, "acme"), make_key(settings, "other")
    # Keys exist now: pages ask for a login, data endpoints answer 401 as the API does.
    assert client.get("/ui/datasets").headers["location"] == "/ui/login?next=/ui/datasets"
    assert client.get("/ui/data/jobs/x").status_code == 401
    token = _csrf(client, "/ui/login")
    assert client.post("/ui/login", data={"key": acme}).status_code == 403  # no CSRF token
    wrong = client.post("/ui/login", data={"key": "adv_wrong", "csrf_token": token})
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text
    # An outside `next` is not followed.
    logged = client.post("/ui/login", data={"key": acme, "csrf_token": token, "next": "//evil.example/x"})
    assert logged.status_code == 303 and logged.headers["location"] == "/ui/"
    cookie = logged.headers["set-cookie"].lower()
    assert (
        "advisor_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
    )
    dataset = _dataset(client)
    tenant = client.get("/v1/tenant", headers={"Authorization": f"Bearer {acme}"}).json()
    assert tenant["id"] in client.get("/ui/datasets").text  # the page names the tenant it shows
    trained = client.post(f"/ui/datasets/{dataset}/race", data={"csrf_token": _csrf(client), "top_k": "1"}).headers[
        "location"
    ]
    race_id = trained.split("/")[-1]
    job_id = client.get(f"/v1/races/{race_id}", headers={"Authorization": f"Bearer {acme}"}).json()["job_ids"][0]

    # Another tenant's key sees none of it.
    client.cookies.clear()
    token = _csrf(client, "/ui/login")
    assert client.post("/ui/login", data={"key": other, "csrf_token": token}).status_code == 303
    assert "tiny.csv" not in client.get("/ui/datasets").text
    for path in (f"/ui/datasets/{dataset}", f"/ui/races/{race_id}", f"/ui/jobs/{job_id}"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/ui/data/jobs/{job_id}/evaluation").status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/evaluation", headers={"Authorization": f"Bearer {other}"}).status_code == 404

    # Logging out forgets the key.
    out = client.post("/ui/logout", data={"csrf_token": _csrf(client)})
    assert out.status_code == 303 and 'advisor_session=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/ui/datasets").headers["location"].startswith("/ui/login")


def test_plotly_is_served_from_the_installed_package_and_nothing_from_another_host(client: TestClient) -> None:
    path = plotly_js()
    assert path is not None and path.parts[-3:] == ("plotly", "package_data", "plotly.min.js")
    served = client.get("/ui/vendor/plotly.min.js")
    assert served.status_code == 200 and served.content == path.read_bytes()
    assert served.headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/ui.js").status_code == 200
    for file in [*UI_DIR.glob("templates/*.html"), *UI_DIR.glob("static/*")]:
        text = file.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), file
        assert "<script>" not in text, file  # no inline code: the CSP forbids it


def test_the_dashboard_reads_no_database_directly() -> None:
    """Pages go through the service functions the API calls: no repository, ORM model or SQL in service/ui."""
    forbidden = ("service.repositories", "service.db.models", "sqlalchemy")
    for file in UI_DIR.glob("*.py"):
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.startswith(forbidden)], (file, names)
