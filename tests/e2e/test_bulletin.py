"""The 通报 / Bulletin button in a real browser: the PDF it downloads names the period it shows."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import fastexcel
import pypdf
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, open_page, wait_ready

pytestmark = pytest.mark.e2e


def last_week() -> tuple[str, str]:
    """Monday and Sunday of the last complete week in Shanghai (the test store's sessions reach today)."""
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday.isoformat(), (monday + timedelta(days=6)).isoformat()


def test_the_overview_s_bulletin_button_downloads_the_pdf_of_last_week(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, server.url)
    page.get_by_role("button", name="Bulletin").click()
    start, end = last_week()
    expect(page.get_by_text(f"Period: {start} to {end}")).to_be_visible()
    with page.expect_download(timeout=60_000) as download:
        page.locator("[data-testid='stDownloadButton'] button").filter(has_text="PDF").click()
    assert download.value.suggested_filename == f"bulletin-week-{start}-{end}.pdf"
    first = pypdf.PdfReader(io.BytesIO(Path(download.value.path()).read_bytes())).pages[0].extract_text()
    assert f"Period: {start} to {end}" in first and "Relief livestream sales: weekly bulletin" in first


def test_the_villages_page_s_bulletin_is_of_its_chosen_county(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/villages?lang=zh&county={quote('紫金县')}")  # the county chosen, in the URL
    page.get_by_role("button", name="通报").click()
    page.get_by_text("上月").click()
    wait_ready(page)
    expect(page.get_by_text("范围：紫金县")).to_be_visible()
    with page.expect_download(timeout=60_000) as download:
        page.locator("[data-testid='stDownloadButton'] button").filter(has_text="XLSX").click()
    assert download.value.suggested_filename.startswith("bulletin-month-")
    assert download.value.suggested_filename.endswith("-紫金县.xlsx")
    sheets = fastexcel.read_excel(download.value.path())
    villages = sheets.load_sheet_by_name("分村").to_polars()
    assert sorted(villages.get_column("村")) == ["新田村", "紫金村"]
