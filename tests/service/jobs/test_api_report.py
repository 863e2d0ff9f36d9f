"""GET /v1/jobs/{id}/report through the real app: one self-contained HTML page (nothing loaded from anywhere) with
the recipe and its reasons, learning curves, metrics, feature importance and the race the job came from."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from _job_fixtures import breast_cancer, upload_frame, wait_for
from fastapi.testclient import TestClient
from test_api_explain import problem

from service.main import create_app
from service.settings import Settings

URL = "/v1/jobs"


@pytest.fixture(scope="module")
def client(engine_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(engine_settings)) as c:
        yield c


class _Page(HTMLParser):
    """Collects every URL-bearing attribute, every tag, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "srcset", "data") and value:
                self.urls.append((tag, name, value))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _self_contained(html: str) -> _Page:
    page = _page(html)
    assert page.urls == [], page.urls  # no link, image, script or stylesheet from anywhere
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", html), "a load from elsewhere"
    return page


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"{URL}/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(done, timeout=240)


@pytest.fixture(scope="module")
def recommended_job(client: TestClient) -> dict[str, Any]:
    """A job trained from a recommendation's first candidate, with its baseline."""
    dataset_id = upload_frame(client, breast_cancer(), "target", "breast_cancer.csv")
    rec = client.post("/v1/recommendations", json={"dataset_id": dataset_id})
    assert rec.status_code in (200, 201), rec.text
    response = client.post(
        URL, json={"dataset_id": dataset_id, "recommendation_id": rec.json()["id"], "time_budget_s": 120}
    )
    assert response.status_code == 202, response.text
    job = _wait(client, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    return job


@pytest.fixture(scope="module")
def race(client: TestClient) -> dict[str, Any]:
    """A small race (top 1 candidate + the baseline) on breast cancer."""
    dataset_id = upload_frame(client, breast_cancer().sample(300, random_state=0), "target", "bc300.csv")
    response = client.post(f"/v1/datasets/{dataset_id}/race", json={"top_k": 1, "time_budget_s": 120})
    assert response.status_code in (201, 202), response.text
    race_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/v1/races/{race_id}").json()
        return body if body["status"] == "finished" else None

    return wait_for(finished, timeout=300)


def test_the_report_of_a_recommended_job(client: TestClient, recommended_job: dict[str, Any]) -> None:
    job_id = recommended_job["id"]
    response = client.get(f"{URL}/{job_id}/report")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    html = response.text
    page = _self_contained(html)
    text = " ".join(page.text)
    # The recipe with its reasons: every choice of the trained candidate names its rule and cheatsheet section.
    rec = client.get(f"/v1/recommendations/{recommended_job['recommendation_id']}").json()
    candidate = rec["candidates"][recommended_job["candidate"] - 1]
    assert candidate["summary"] in text
    for decision in candidate["choices"].values():
        assert decision["rule_id"] in text and decision["section"] in text
    # Learning curves and importance bars are inline SVG; metrics and the baseline are in a table.
    assert html.count("<svg") >= 2 and "Learning curves" in text and "Permutation importance" in text
    for metric, value in recommended_job["metrics"]["test"].items():
        if value is not None:
            assert metric in text
    assert recommended_job["baseline"]["model"] in text
    importance = client.get(f"{URL}/{job_id}/importance").json()
    assert importance["permutation"]["columns"][0]["column"] in text
    assert "not in a race" in text


def test_the_report_of_a_race_entry_shows_the_leaderboard(client: TestClient, race: dict[str, Any]) -> None:
    entries = [e for e in race["leaderboard"] if e["job_id"] and e["status"] == "succeeded"]
    assert entries, race
    entry = entries[0]
    html = client.get(f"{URL}/{entry['job_id']}/report").text
    text = " ".join(_self_contained(html).text)
    assert race["id"] in text and race["verdict"] in text and "this job" in text
    for e in race["leaderboard"]:
        assert e["model"] in text


def test_a_report_escapes_what_it_shows(client: TestClient) -> None:
    """Column names come from uploads: shown as text, never as markup."""
    frame = breast_cancer().iloc[:, [0, 1, 2, -1]].copy()
    frame.columns = ["<img src=x onerror=alert(1)>", "b&c", "plain", "target"]
    dataset_id = upload_frame(client, frame, "target", "hostile.csv")
    response = client.post(
        URL,
        json={
            "dataset_id": dataset_id,
            "spec": {"trainer": "sklearn_logistic", "params": {"C": 1.0}},
            "train_baseline": False,
        },
    )
    job = _wait(client, response.json()["id"])
    assert job["status"] == "succeeded", job["error"]
    html = client.get(f"{URL}/{job['id']}/report").text
    page = _self_contained(html)
    assert "img" not in page.tags
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "b&amp;c" in html
    assert "explicit specification" in " ".join(page.text)


def test_report_problems(client: TestClient) -> None:
    problem(client.get(f"{URL}/nosuchjob/report"), 404, "not-found")
