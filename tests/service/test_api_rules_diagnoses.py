"""/v1/rules and /v1/diagnoses."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import advisor

pytestmark = pytest.mark.anyio

OVERFITTING = {
    "train_loss": [1.0, 0.8, 0.6, 0.45, 0.35, 0.27, 0.2, 0.15, 0.11, 0.08, 0.06, 0.04],
    "val_loss": [1.0, 0.82, 0.68, 0.6, 0.58, 0.6, 0.66, 0.74, 0.83, 0.93, 1.04, 1.15],
}


async def test_rules_returns_every_rule(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/rules")
    assert response.status_code == 200
    body = response.json()
    assert body["tables_version"] == advisor.TABLES_VERSION
    expected = [rule.id for rule in advisor.rules_catalog()]
    assert [rule["id"] for rule in body["rules"]] == expected
    assert len(expected) == len(set(expected)) > 0
    for rule in body["rules"]:
        assert rule["id"] and rule["section"]
        assert {"decides", "conditions", "description"} <= rule.keys()


async def test_rules_list_the_classical_pool_rules_with_their_conditions(client: httpx.AsyncClient) -> None:
    rules = {r["id"]: r for r in (await client.get("/v1/rules")).json()["rules"]}
    assert rules["forest.n_estimators"]["conditions"] == {"n_rows_lt": 100_000, "below": 300, "at_or_above": 100}
    assert rules["knn.n_neighbors"]["conditions"]["min"] == 5 and rules["knn.n_neighbors"]["conditions"]["max"] == 50
    assert rules["svm.C"]["stage"] == "svm" and rules["forest.class_weight"]["section"] == "§3"
    assert rules["data.scaling_distance"]["conditions"] == {"model": ["knn", "svm"], "value": "standard"}
    ranking = rules["family.ranking"]["conditions"]
    assert ranking["svm"] == {"n_rows_lt": 5_000} and ranking["knn"] == {"n_rows_lt": 20_000}


async def test_diagnoses_finds_overfitting(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/diagnoses", json=OVERFITTING)
    assert response.status_code == 200, response.text
    diagnoses = response.json()["diagnoses"]
    assert "overfitting" in [d["issue"] for d in diagnoses]
    assert all(d["rule_id"] and d["fixes"] for d in diagnoses)


async def test_healthy_curves_have_no_diagnosis(client: httpx.AsyncClient) -> None:
    healthy = {"train_loss": [1.0, 0.7, 0.5, 0.4], "val_loss": [1.0, 0.72, 0.53, 0.44]}
    response = await client.post("/v1/diagnoses", json=healthy)
    assert response.status_code == 200
    assert response.json()["diagnoses"] == []


@pytest.mark.parametrize(
    ("curves", "issue"),
    [
        ({"train_loss": [1.0, 0.8, 0.6], "val_loss": [1.0, 0.9, 0.8], "dead_relu_fraction": 0.6}, "dead_relus"),
        ({"train_loss": [1.0, 3.0, 40.0, None]}, "exploding_gradients"),
    ],
)
async def test_diagnoses_name_the_issue(client: httpx.AsyncClient, curves: dict[str, Any], issue: str) -> None:
    response = await client.post("/v1/diagnoses", json=curves)
    assert response.status_code == 200, response.text
    assert issue in [d["issue"] for d in response.json()["diagnoses"]]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"train_loss": [1.0, NaN, 0.5]}', 422),
        (b'{"train_loss": []}', 422),
        (b'{"train_loss": [1.0, 0.5], "val_loss": [1.0]}', 422),
        (b'{"train_loss": [1.0], "colour": 1}', 422),
        (b'{"train_loss": ', 400),
    ],
)
async def test_diagnoses_bad_input_is_a_problem(
    client: httpx.AsyncClient, assert_problem: Any, raw: bytes, status: int
) -> None:
    response = await client.post("/v1/diagnoses", content=raw, headers={"content-type": "application/json"})
    assert_problem(response, status)
