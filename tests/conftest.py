"""Shared fixtures: stores on SQLite and (with RELIEF_LIVE_TEST_PG) PostgreSQL, and file helpers."""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from relief_live.store import Store

PG_URL = os.environ.get("RELIEF_LIVE_TEST_PG")

# Property tests check results, never speed: hypothesis's 200 ms deadline per example would fail them on a
# busy machine. Speed is measured in bench/.
settings.register_profile("relief-live", deadline=None)
settings.load_profile("relief-live")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CI") and not PG_URL:
        raise pytest.UsageError("CI must set RELIEF_LIVE_TEST_PG: the store tests run on PostgreSQL too")


def sqlite_store(tmp_path: Path, name: str = "store") -> Store:
    store = Store(f"sqlite:///{tmp_path / name}.sqlite3")
    store.create()
    return store


def pg_store() -> tuple[Store, str]:
    """A store in a fresh PostgreSQL schema of its own, and that schema's name."""
    if not PG_URL:
        pytest.skip("RELIEF_LIVE_TEST_PG is not set (no local PostgreSQL); CI sets it")
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    store = Store(f"{PG_URL}{sep}options=-csearch_path%3D{schema_name}")
    store.create()
    return store, schema_name


def _drop_pg_schema(name: str) -> None:
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store on each backend."""
    if request.param == "sqlite":
        s = sqlite_store(tmp_path)
        yield s
        s.dispose()
        return
    s, name = pg_store()
    yield s
    s.dispose()
    _drop_pg_schema(name)


@pytest.fixture
def pg() -> Iterator[Store]:
    """A fresh, empty PostgreSQL store (skipped without RELIEF_LIVE_TEST_PG)."""
    s, name = pg_store()
    yield s
    s.dispose()
    _drop_pg_schema(name)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Store]:
    s = sqlite_store(tmp_path)
    yield s
    s.dispose()


def workbook_bytes(sheets: dict[str, list[list]]) -> bytes:
    """An XLSX workbook of the given sheets (title -> rows, the first row its headers), as a spreadsheet writes it."""
    import io

    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    for title, rows in sheets.items():
        sheet = book.add_worksheet(title)
        for i, row in enumerate(rows):
            sheet.write_row(i, 0, row)
    book.close()
    return buffer.getvalue()


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """A dedented inline CSV as bytes in `encoding` ('utf-8-sig' for a BOM)."""
    return textwrap.dedent(text).lstrip("\n").encode(encoding)


@pytest.fixture
def write(tmp_path: Path):
    """Write an inline CSV (dedented) to tmp_path/name and return the path."""

    def _write(name: str, text: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else csv_bytes(text, encoding))
        return path

    return _write
