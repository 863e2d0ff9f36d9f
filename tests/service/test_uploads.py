"""A multipart part's Content-Disposition: the field name and the file name it carries."""

from __future__ import annotations

import pytest

from service.uploads import _disposition


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('form-data; name="file"; filename="rows.csv"', ("file", "rows.csv")),
        ("form-data; name=target", ("target", None)),
        ("form-data; name*=utf-8''t%C3%A9st", ("tést", None)),  # RFC 2231, decoded like filename*
        ("form-data", (None, None)),
        ("", (None, None)),
    ],
)
def test_disposition_reads_name_and_filename(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert _disposition(raw) == expected
