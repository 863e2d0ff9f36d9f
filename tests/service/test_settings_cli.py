"""Settings from the environment, and the ``advisor`` console script."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from service import cli
from service.db import migrate
from service.settings import Settings, get_settings


def test_defaults_run_on_one_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("ADVISOR_DATA_DIR", "ADVISOR_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'advisor.db'}"
    assert settings.is_sqlite
    assert not (tmp_path / "data").exists()  # nothing is created or opened by reading settings


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("ADVISOR_PORT", "9001")
    settings = Settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'advisor.db'}"
    assert settings.port == 9001
    monkeypatch.setenv("ADVISOR_DATABASE_URL", "postgresql+psycopg://u:p@localhost/advisor")
    assert not Settings().is_sqlite


def test_advisor_migrate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "fresh"))
    monkeypatch.delenv("ADVISOR_DATABASE_URL", raising=False)
    monkeypatch.chdir("/")  # the packaged alembic config is found from any working directory
    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    with sqlite3.connect(tmp_path / "fresh" / "advisor.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (migrate.head_revision(),)


def test_serve_builds_the_openapi_document_before_it_listens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The body limit reads the document on an upload; built here, the first upload does not pay for it."""
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    assert cli._serve(Settings(data_dir=tmp_path, database_url=""), "127.0.0.1", 8123) == 0
    (app,) = served
    assert app.openapi_schema is not None  # type: ignore[attr-defined]
    assert "/v1/datasets" in app.openapi_schema["paths"]  # type: ignore[attr-defined]


def test_serve_arguments() -> None:
    parser = cli.build_parser(Settings())
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "8123"])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8123)
    assert parser.parse_args(["serve"]).port == 8000
    with pytest.raises(SystemExit):
        parser.parse_args([])
