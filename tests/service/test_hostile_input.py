"""Hostile request bodies and parameters: each is answered with a 4xx problem, never a 500.

Two body parsers are covered: FastAPI's own (``json.loads``; /v1/recommendations, /v1/jobs) and the routes
that validate the raw body with ``model_validate_json`` (JSON on /v1/datasets and on predictions).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _testdb import database_url
from fastapi import FastAPI

from service.main import create_app
from service.settings import Settings

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
PROFILE = b'{"modality": "tabular", "task": "binary", "n_rows": %s}'
# One route per body parser.
RECOMMEND = "/v1/recommendations"
REGISTER = "/v1/datasets"
PREDICT = "/v1/jobs/some-job/predictions"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url(tmp_path), workers=0, worker_prewarm=False)


def _body(url: str, n_rows: bytes) -> bytes:
    """A body for ``url`` whose one number is ``n_rows`` (a row's cell for predictions)."""
    if url == RECOMMEND:
        return b'{"profile": ' + PROFILE % n_rows + b"}"
    if url == REGISTER:
        return b'{"name": "d", "profile": ' + PROFILE % n_rows + b"}"
    return b'{"rows": [{"a": %s}]}' % n_rows


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"])
async def test_non_finite_numbers_are_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str, literal: bytes
) -> None:
    body = assert_problem(await client.post(url, content=_body(url, literal), headers=JSON), 422)
    assert body["type"].endswith("invalid-input") and body["errors"]


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
async def test_an_integer_of_5000_digits_is_400(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str
) -> None:
    body = assert_problem(await client.post(url, content=_body(url, b"9" * 5000), headers=JSON), 400)
    assert body["type"].endswith("malformed-request")


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
async def test_a_huge_integer_within_the_parser_limit_is_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str
) -> None:
    assert_problem(await client.post(url, content=_body(url, b"9" * 4000), headers=JSON), 422)


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
async def test_100k_levels_of_nesting_are_400(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str, opener: bytes
) -> None:
    body = assert_problem(await client.post(url, content=opener * 100_000, headers=JSON), 400)
    assert body["type"].endswith("malformed-request")


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
async def test_invalid_utf8_is_400(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str
) -> None:
    content = _body(url, b"10").replace(b'"binary"', b'"bin\xff\xfeary"').replace(b'"a"', b'"\xc3\x28"')
    assert b"\xff" in content or b"\xc3\x28" in content
    body = assert_problem(await client.post(url, content=content, headers=JSON), 400)
    assert body["type"].endswith("malformed-request")


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
@pytest.mark.parametrize("content", [b'"a string"', b"42", b"null", b"[]", b"true"])
async def test_a_body_that_is_not_an_object_is_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str, content: bytes
) -> None:
    assert_problem(await client.post(url, content=content, headers=JSON), 422)


@pytest.mark.parametrize("url", [RECOMMEND, REGISTER, PREDICT])
async def test_unknown_fields_are_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str
) -> None:
    content = _body(url, b"10")[:-1] + b', "unexpected": 1}'
    body = assert_problem(await client.post(url, content=content, headers=JSON), 422)
    assert any(e["type"] == "extra_forbidden" for e in body["errors"])


async def test_spec_params_nested_within_the_parser_limit_are_422_not_500(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    # json.loads accepts 900 levels; serializing or storing them would fail later (it was a 500).
    for opener, closer in ((b'{"a":', b"}"), (b"[", b"]")):
        params = opener * 900 + b"1" + closer * 900
        content = b'{"dataset_id": "d", "spec": {"trainer": "xgboost", "params": {"p": ' + params + b"}}}"
        body = assert_problem(await client.post("/v1/jobs", content=content, headers=JSON), 422)
        assert body["errors"][0]["loc"] == ["body", "spec", "params"]


async def test_prediction_cells_must_be_scalars(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    for cell in (b'{"x": 1}', b"[1, 2]", b'"' + b"x" * 10_001 + b'"'):
        content = b'{"rows": [{"a": ' + cell + b"}]}"
        assert_problem(await client.post(PREDICT, content=content, headers=JSON), 422)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/datasets/%00",
        "/v1/jobs/%00",
        "/v1/races/a%20b",
        "/v1/recommendations/x%0Ay",
        "/v1/jobs?dataset_id=%00",
        "/v1/jobs/abc/metrics?key=%00",
    ],
)
async def test_ids_and_keys_with_control_characters_are_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]], url: str
) -> None:
    assert_problem(await client.get(url), 422)


async def test_a_cursor_with_a_nul_in_its_id_is_422(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    import base64

    cursor = base64.urlsafe_b64encode(b'["2024-01-01T00:00:00+00:00","a\\u0000b"]').decode().rstrip("=")
    assert_problem(await client.get("/v1/datasets", params={"cursor": cursor}), 422)


# -- the JSON body limit (service.body_limit) --------------------------------------------------------
LIMIT = 1_000


@pytest.fixture
async def small_limit_client(
    tmp_path: Path, settings: Settings, open_client: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    from service.db import migrate

    small = settings.model_copy(update={"max_json_bytes": LIMIT})
    migrate.upgrade(small.database_url)
    app: FastAPI = create_app(small)
    async with open_client(app) as client:
        yield client


def _big_recommendation() -> bytes:
    # Valid JSON, padded with spaces past the limit.
    return b'{"profile": ' + PROFILE % b"10" + b" " * LIMIT + b"}"


async def test_json_over_the_limit_with_content_length_is_413(
    small_limit_client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    body = assert_problem(await small_limit_client.post(RECOMMEND, content=_big_recommendation(), headers=JSON), 413)
    assert body["type"] == "urn:model-advisor:problem:payload-too-large" and body["limit"] == LIMIT


async def test_json_over_the_limit_without_content_length_is_413(
    small_limit_client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    content = _big_recommendation()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 256):
            yield content[start : start + 256]

    for url in (RECOMMEND, REGISTER):  # FastAPI's parser and a route reading request.body() itself
        response = await small_limit_client.post(url, content=chunks(), headers=JSON)
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)


async def test_json_longer_than_its_content_length_is_413(
    small_limit_client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    content = _big_recommendation()
    request = small_limit_client.build_request("POST", RECOMMEND, content=content, headers=JSON)
    request.headers["content-length"] = "100"
    assert_problem(await small_limit_client.send(request), 413)


async def test_json_within_the_limit_and_uploads_past_it_are_not_413(small_limit_client: httpx.AsyncClient) -> None:
    ok = await small_limit_client.post(RECOMMEND, content=b'{"profile": ' + PROFILE % b"10" + b"}", headers=JSON)
    assert ok.status_code == 201, ok.text
    # Multipart bodies are left to max_upload_bytes: this one is refused for its content, not its size.
    csv = b"a,y\n" + b"1,0\n2,1\n" * 500
    upload = await small_limit_client.post(REGISTER, files={"file": ("d.csv", csv)}, data={"target": "y"})
    assert upload.status_code != 413 and upload.status_code < 500, upload.text


async def test_multipart_to_a_json_route_is_held_to_the_json_limit(
    small_limit_client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    # Only the upload routes stream multipart to disk; elsewhere FastAPI would read it whole before a 415.
    response = await small_limit_client.post(RECOMMEND, files={"file": ("d.csv", b"x" * (2 * LIMIT))})
    assert_problem(response, 413)


# -- what the OpenAPI says about errors --------------------------------------------------------------
async def test_openapi_documents_errors_as_problem_json(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)
            if path.startswith("/v1/"):
                assert {"401", "429"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "422"} <= set(operation["responses"]), (method, path)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


async def test_405_allows_every_method_of_the_path(
    client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    response = await client.put("/v1/datasets/abc")
    assert_problem(response, 405)
    assert response.headers["allow"] == "DELETE, GET, HEAD"


async def test_json_rows_over_the_limit_are_told_the_file_upload_takes_more(
    small_limit_client: httpx.AsyncClient, assert_problem: Callable[..., dict[str, Any]]
) -> None:
    # Predictions take JSON rows or a file: the 413 says how to send more (a recommendation takes JSON only).
    rows = b'{"rows": [' + b",".join(b'{"a": 1}' for _ in range(200)) + b"]}"
    body = assert_problem(
        await small_limit_client.post("/v1/jobs/some-job/predictions", content=rows, headers=JSON), 413
    )
    assert "as a file (multipart/form-data: CSV or Parquet)" in body["detail"]
    body = assert_problem(await small_limit_client.post(RECOMMEND, content=_big_recommendation(), headers=JSON), 413)
    assert "as a file" not in body["detail"]
