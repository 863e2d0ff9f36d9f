"""POST/GET /v1/recommendations: storage, pagination and the answers to bad input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

URL = "/v1/recommendations"


async def test_create_returns_201_location_and_get_returns_the_same(
    client: httpx.AsyncClient, profile: dict[str, Any], constraints: dict[str, Any]
) -> None:
    created = await client.post(URL, json={"profile": profile, "constraints": constraints})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{URL}/{body['id']}"
    assert created.headers["content-type"] == "application/json"
    for key in (
        "id",
        "created_at",
        "family",
        "tables_version",
        "candidates",
        "baseline",
        "checklist",
        "decisions",
        "assumptions",
        "warnings",
        "profile",
        "constraints",
    ):
        assert key in body
    assert body["created_at"].endswith("Z")
    fetched = await client.get(created.headers["location"])
    assert fetched.status_code == 200
    assert fetched.content == created.content


async def test_stored_document_is_the_advisors_json(client: httpx.AsyncClient, profile: dict[str, Any]) -> None:
    import advisor

    created = (await client.post(URL, json={"profile": profile})).json()
    expected = advisor.recommend(advisor.DatasetProfile(**profile), advisor.Constraints()).model_dump(mode="json")
    assert {k: v for k, v in created.items() if k not in ("id", "created_at")} == expected


@pytest.mark.parametrize(
    ("n_rows", "task", "models", "trainers"),
    [
        (
            600,
            "binary",
            ["random_forest", "extra_trees", "lightgbm", "xgboost", "svm", "knn"],
            ["sklearn_random_forest", "sklearn_extra_trees", "lightgbm", "xgboost", "sklearn_svm", "sklearn_knn"],
        ),
        (
            8_000,
            "regression",
            ["lightgbm", "xgboost", "random_forest", "extra_trees", "knn"],
            ["lightgbm", "xgboost", "sklearn_random_forest", "sklearn_extra_trees", "sklearn_knn"],
        ),
        (
            50_000,
            "binary",
            ["lightgbm", "xgboost", "random_forest", "extra_trees"],
            ["lightgbm", "xgboost", "sklearn_random_forest", "sklearn_extra_trees"],
        ),
    ],
)
async def test_tabular_recommendations_rank_the_classical_pool(
    client: httpx.AsyncClient, n_rows: int, task: str, models: list[str], trainers: list[str]
) -> None:
    import advisor
    from advisor.portfolio import default_portfolio

    profile = {"modality": "tabular", "task": task, "n_rows": n_rows, "n_features": 8}
    body = (await client.post(URL, json={"profile": profile})).json()
    assert body["family"] == "classical"
    # The pool's size gates decide which models; the packaged portfolio's evidence decides their order.
    assert sorted(c["model"] for c in body["candidates"]) == sorted(models)
    by_model = dict(zip(models, trainers, strict=True))
    assert all(c["trainer"] == by_model[c["model"]] for c in body["candidates"])
    expected = advisor.recommend(advisor.DatasetProfile(**profile), portfolio=default_portfolio())
    assert [c["model"] for c in body["candidates"]] == [c.model for c in expected.candidates]
    assert [c["rank"] for c in body["candidates"]] == list(range(1, len(models) + 1))
    assert all(c["evidence"] for c in body["candidates"])
    ranking = next(d for d in body["decisions"] if d["rule_id"] == "family.ranking")
    assert ranking["value"] == [c["model"] for c in body["candidates"]] and "ordered by evidence" in ranking["reason"]
    baseline = "ridge_regression" if task == "regression" else "logistic_regression"
    assert body["baseline"]["model"] == baseline


async def test_constraints_are_optional(client: httpx.AsyncClient, profile: dict[str, Any]) -> None:
    without = await client.post(URL, json={"profile": profile})
    empty = await client.post(URL, json={"profile": profile, "constraints": {}})
    assert without.status_code == empty.status_code == 201, without.text
    strip = ("id", "created_at")
    assert {k: v for k, v in without.json().items() if k not in strip} == {
        k: v for k, v in empty.json().items() if k not in strip
    }


async def test_list_walks_pages_newest_first(client: httpx.AsyncClient, profile: dict[str, Any]) -> None:
    ids = []
    for n in range(5):
        response = await client.post(URL, json={"profile": {**profile, "n_rows": 800 + n}})
        ids.append(response.json()["id"])
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get(URL, params=params)
        assert page.status_code == 200, page.text
        data = page.json()
        assert len(data["items"]) <= 2
        seen += [item["id"] for item in data["items"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    assert [item["profile"]["n_rows"] for item in (await client.get(URL)).json()["items"]] == [804, 803, 802, 801, 800]


async def test_list_empty_and_default_limit(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "not-a-cursor"}])
async def test_list_rejects_bad_query(client: httpx.AsyncClient, assert_problem: Any, params: dict[str, Any]) -> None:
    body = assert_problem(await client.get(URL, params=params), 422)
    assert body["errors"][0]["loc"][0] == "query"


async def test_unknown_id_is_404_problem(client: httpx.AsyncClient, assert_problem: Any) -> None:
    body = assert_problem(await client.get(f"{URL}/does-not-exist"), 404)
    assert body["instance"] == f"{URL}/does-not-exist"


def _mutate(profile: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"profile": {**profile, **changes}}


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"n_rows": -5}, ["body", "profile", "n_rows"]),
        ({"n_rows": 0}, ["body", "profile", "n_rows"]),
        ({"modality": "smell"}, ["body", "profile", "modality"]),
        ({"n_rows": "many"}, ["body", "profile", "n_rows"]),
        ({"colour": "blue"}, ["body", "profile", "colour"]),
        ({"n_classes": None}, ["body", "profile"]),  # multiclass needs n_classes
    ],
)
async def test_invalid_profile_is_422_with_field_path(
    client: httpx.AsyncClient, profile: dict[str, Any], assert_problem: Any, change: dict[str, Any], loc: list[str]
) -> None:
    body = assert_problem(await client.post(URL, json=_mutate(profile, **change)), 422)
    assert loc in [e["loc"] for e in body["errors"]], body
    assert all(e["msg"] for e in body["errors"])


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"constraints": {}}, ["body"]),  # no profile
        ({"profile": "PROFILE", "extra": 1}, ["body", "extra"]),
        ({"profile": "PROFILE", "constraints": {"deployment": "moon"}}, ["body", "constraints", "deployment"]),
        ({"profile": "PROFILE", "constraints": {"gpu": True}}, ["body", "constraints", "gpu"]),
    ],
)
async def test_invalid_request_is_422_with_field_path(
    client: httpx.AsyncClient, profile: dict[str, Any], assert_problem: Any, payload: dict[str, Any], loc: list[str]
) -> None:
    payload = {k: profile if v == "PROFILE" else v for k, v in payload.items()}
    body = assert_problem(await client.post(URL, json=payload), 422)
    assert loc in [e["loc"] for e in body["errors"]], body


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["n_rows", "minority_share"])
async def test_nan_in_body_is_422_not_500(
    client: httpx.AsyncClient, assert_problem: Any, token: str, field: str
) -> None:
    raw = (
        '{"profile": {"modality": "tabular", "task": "binary", "n_rows": 100, "n_features": 3, '
        f'"{field}": {token}}}}}'
    )
    response = await client.post(URL, content=raw.encode(), headers={"content-type": "application/json"})
    body = assert_problem(response, 422)
    assert ["body", "profile", field] in [e["loc"] for e in body["errors"]], body


async def test_nan_in_an_extra_field_is_422(client: httpx.AsyncClient, assert_problem: Any) -> None:
    raw = b'{"profile": {"modality": "tabular", "task": "binary", "n_rows": 100}, "weird": NaN}'
    response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "weird"]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"modality=image", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b"hello", {"content-type": "text/plain"}, 415),
        (b'{"profile": {}}', {}, 415),  # no content type at all
        (b'{"profile": ', {"content-type": "application/json"}, 400),
        (b"\xff\xfe", {"content-type": "application/json"}, 400),
        (b"", {"content-type": "application/json"}, 422),
        (b"[1, 2]", {"content-type": "application/json"}, 422),
    ],
)
async def test_non_json_body_is_a_4xx_problem(
    client: httpx.AsyncClient, assert_problem: Any, content: bytes, headers: dict[str, str], status: int
) -> None:
    assert_problem(await client.post(URL, content=content, headers=headers), status)


async def test_method_not_allowed_is_a_problem(client: httpx.AsyncClient, assert_problem: Any) -> None:
    assert_problem(await client.delete(URL), 405)
