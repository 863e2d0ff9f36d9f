"""/v1/datasets through the real app: uploads, dedup, metadata-only, errors with nothing left behind."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from sklearn.datasets import load_breast_cancer, load_iris

from service.main import create_app
from service.settings import Settings

pytestmark = pytest.mark.anyio


def breast_cancer_csv() -> bytes:
    frame = load_breast_cancer(as_frame=True).frame
    return frame.to_csv(index=False).encode()


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def upload(client: httpx.AsyncClient, content: bytes, filename: str = "data.csv", **fields: str):
    return await client.post("/v1/datasets", files={"file": (filename, content)}, data=fields)


async def test_upload_profile_dedup_recommend_delete(client: httpx.AsyncClient, settings: Settings) -> None:
    r = await upload(client, breast_cancer_csv(), "cancer.csv", target="target", name="cancer")
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/datasets/{body['id']}"
    assert body["modality"] == "tabular" and body["task"] == "binary" and body["trainable"] is True
    assert body["profile"]["n_rows"] == 569 and body["profile"]["n_features"] == 30
    assert body["profile"]["feature_types"]["numeric"] == 30
    assert 0.3 < body["profile"]["minority_share"] < 0.4
    assert len(body["sha256"]) == 64
    stored = settings.data_dir / "datasets"
    assert any(p.name == "data.parquet" for p in _files(stored))
    # Every stored file's SHA-256 is recorded: jobs verify them before parsing anything.
    hashes = body["details"]["file_sha256"]
    assert set(hashes) == {"data.parquet", "schema.json"}
    for path in _files(stored):
        assert hashlib.sha256(path.read_bytes()).hexdigest() == hashes[path.name]

    # the same bytes and options are recognised, not stored twice
    again = await upload(client, breast_cancer_csv(), "other-name.csv", target="target")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert len(list(stored.iterdir())) == 1

    rec = await client.post("/v1/recommendations", json={"dataset_id": body["id"]})
    assert rec.status_code == 201, rec.text
    assert rec.json()["family"] == "classical"
    assert rec.json()["profile"]["n_rows"] == 569

    got = await client.get(f"/v1/datasets/{body['id']}")
    assert got.status_code == 200 and got.json()["id"] == body["id"]
    listing = await client.get("/v1/datasets")
    assert [d["id"] for d in listing.json()["items"]] == [body["id"]]

    deleted = await client.delete(f"/v1/datasets/{body['id']}")
    assert deleted.status_code == 204
    assert (await client.get(f"/v1/datasets/{body['id']}")).status_code == 404
    assert _files(stored) == []
    # the stored recommendation survives, detached from the dataset
    assert (await client.get(f"/v1/recommendations/{rec.json()['id']}")).status_code == 200


async def test_metadata_only_dataset(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/datasets",
        json={
            "name": "described",
            "profile": {
                "modality": "image",
                "task": "multiclass",
                "n_rows": 800,
                "n_classes": 10,
                "image_size": [64, 64, 3],
            },
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["trainable"] is False and r.json()["source"] == "metadata"
    rec = await client.post("/v1/recommendations", json={"dataset_id": r.json()["id"]})
    assert rec.status_code == 201 and rec.json()["family"] == "deep_learning"
    bad = await client.post(
        "/v1/datasets", json={"name": "x", "profile": {"modality": "tabular", "task": "binary", "n_rows": -1}}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"][:3] == ["body", "profile", "n_rows"]


async def test_recommendation_for_unknown_dataset_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/recommendations", json={"dataset_id": "nope"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_pagination(client: httpx.AsyncClient) -> None:
    frame = load_iris(as_frame=True).frame
    ids = []
    for i in range(3):
        content = frame.sample(100 + i, random_state=i).to_csv(index=False).encode()
        r = await upload(client, content, target="target")
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    page = (await client.get("/v1/datasets", params={"limit": 2})).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (await client.get("/v1/datasets", params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [d["id"] for d in page["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


BAD_UPLOADS = [
    ("empty", b"", "e.csv", {"target": "y"}, 400, "empty-file"),
    ("ragged", b"a,b,y\n1,2,0\n3,4,1,9,9\n5,6,0\n", "r.csv", {"target": "y"}, 400, "malformed-csv"),
    ("latin1", "a,b,y\n1,caf\u00e9,0\n".encode("latin-1") * 30, "l.csv", {"target": "y"}, 400, "not-utf8"),
    ("missing-target", b"a,b,churn\n" + b"1,2,0\n3,4,1\n" * 20, "m.csv", {"target": "churnn"}, 422, "missing-target"),
    ("single-class", b"a,y\n" + b"1,0\n2,0\n" * 20, "s.csv", {"target": "y"}, 422, "single-class-target"),
    ("too-few-rows", b"a,y\n1,0\n2,1\n3,0\n", "f.csv", {"target": "y"}, 422, "too-few-rows"),
    ("unsafe-zip", _zip({"../evil/a.png": b"x"}), "u.zip", {}, 400, "unsafe-archive"),
    ("zip-bomb", _zip({"cls/a.png": b"\0" * (50 * 1024 * 1024)}), "b.zip", {}, 413, "archive-bomb"),
    ("no-images", _zip({"cls/readme.txt": b"hello"}), "n.zip", {}, 422, "no-images"),
    ("unsupported", bytes(range(256)) * 8, "x.bin", {}, 415, "unsupported-type"),
]


@pytest.mark.parametrize(
    ("case", "content", "filename", "fields", "status", "slug"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS]
)
async def test_bad_uploads_leave_nothing_behind(
    client: httpx.AsyncClient,
    settings: Settings,
    case: str,
    content: bytes,
    filename: str,
    fields: dict[str, str],
    status: int,
    slug: str,
) -> None:
    r = await upload(client, content, filename, **fields)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"].endswith(slug) and problem["detail"]
    assert (await client.get("/v1/datasets")).json()["items"] == []
    assert _files(settings.data_dir / "datasets") == [] and _files(settings.data_dir / "tmp") == []


async def test_problem_details_name_the_line_and_the_closest_column(client: httpx.AsyncClient) -> None:
    ragged = await upload(client, b"a,b,y\n1,2,0\n3,4,1,9,9\n5,6,0\n", "r.csv", target="y")
    assert "3" in ragged.json()["detail"]
    missing = await upload(client, b"a,b,churn\n" + b"1,2,0\n3,4,1\n" * 20, "m.csv", target="churnn")
    assert "churn" in missing.json()["detail"]


async def test_the_same_png_zip_layout_is_accepted(client: httpx.AsyncClient) -> None:
    members = {f"{cls}/{i}.png": _png() for cls in ("a", "b") for i in range(15)}
    r = await upload(client, _zip(members), "imgs.zip")
    assert r.status_code == 201, r.text
    assert r.json()["modality"] == "image" and r.json()["profile"]["image_size"] == [8, 8, 1]


@pytest.fixture
async def small_limit_client(tmp_path: Path, migrated: Settings, open_client) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(migrated.model_copy(update={"max_upload_bytes": 4096}))
    async with open_client(app) as c:
        yield c


async def test_upload_over_the_limit_is_413_with_or_without_content_length(
    small_limit_client: httpx.AsyncClient, settings: Settings
) -> None:
    big = b"a,y\n" + b"1,0\n" * 5000
    r = await upload(small_limit_client, big, "big.csv", target="y")
    assert r.status_code == 413 and r.json()["type"].endswith("payload-too-large")

    boundary = "xyzzy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="target"\r\n\r\ny\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    r = await small_limit_client.post(
        "/v1/datasets", content=chunks(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert r.status_code == 413
    assert _files(settings.data_dir / "tmp") == [] and _files(settings.data_dir / "datasets") == []


async def test_wrong_content_type_and_missing_file(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/datasets", content=b"hello", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = await client.post("/v1/datasets", files={"other": ("a.csv", b"a,y\n")}, data={"target": "y"})
    assert r.status_code == 400
    r = await client.post("/v1/datasets", files={"file": ("a.csv", b"a,y\n1,0\n")}, data={"colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["detail"]
