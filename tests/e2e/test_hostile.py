"""Hostile names stay text: stored verbatim, inert in the browser, neutralised in downloads; XSRF on; no secret printed."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from relief_live import download, ingest
from relief_live.store import Store
from tests.e2e.conftest import ROOT, chromium_path, open_page, shot, start_server, stop_server

pytestmark = pytest.mark.e2e

HOSTILE = [
    "<script>window.__xss = 'script'</script>",
    "<img src=x onerror=\"window.__xss = 'img'; alert(1)\">",
    "**bold** [link](javascript:alert(1)) `code`",
    "=HYPERLINK(\"http://127.0.0.1/\",\"点我\")",
    "'; DROP TABLE sales; --",
    "\u202eevil\u202c村",  # right-to-left override
    "零\u200b宽\u200d村",  # zero-width space and joiner
    "长" * 10_000,
]


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def load_hostile(store: Store) -> None:
    sessions = [["直播ID", "直播标题", "直播类型", "主播", "平台", "开播时间", "下播时间", "观看人次"]]
    stock = [["村", "产品", "滞销数量", "单位", "统计日期", "单价", "带贫户数"]]
    sales = [["订单编号", "下单时间", "商品名称", "村", "商品数量", "单位", "实付金额", "直播ID"]]
    for i, name in enumerate(HOSTILE):
        sessions.append([f"h{i}", name, "干部直播", name, "抖音", f"2020-09-0{i % 9 + 1} 19:00", f"2020-09-0{i % 9 + 1} 20:00", "1000"])
        stock.append([name, name, "100", "斤", "2020-08-01", "5", "3"])
        sales.append([f"ho{i}", f"2020-09-0{i % 9 + 1} 19:30", name, name, "2", "斤", "10.00", f"h{i}"])
    # One of them on air now, so the overview's live-now list shows a hostile title and host name.
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    sessions.append(["hlive", HOSTILE[2], "干部直播", HOSTILE[1], "抖音", f"{now - timedelta(hours=1):%Y-%m-%d %H:%M}",
                     f"{now + timedelta(hours=2):%Y-%m-%d %H:%M}", "1000"])
    ingest.ingest_bytes(store, "hostile_sessions.csv", _csv(sessions))
    ingest.ingest_bytes(store, "hostile_stock.csv", _csv(stock))
    ingest.ingest_bytes(store, "hostile_sales.csv", _csv(sales))


def test_hostile_names_are_stored_verbatim_and_inert_in_the_browser(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    server = start_server(tmp_path, load=False)
    try:
        load_hostile(server.store)
        assert sorted(server.store.read("stock")["village"].to_list()) == sorted(HOSTILE)
        assert sorted(server.store.read("sessions")["title"].to_list()) == sorted([*HOSTILE, HOSTILE[2]])
        dialogs: list[str] = []
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        for path in ("", "live?session=h0", "live?session=h1", "villages", "hosts", "upload"):
            open_page(page, f"{server.url}/{path}")
            assert page.evaluate("() => window.__xss === undefined"), path
            assert page.locator("script:text('__xss')").count() == 0, path
        open_page(page, f"{server.url}/villages")
        assert page.get_by_text("<img src=x", exact=False).count() >= 1  # shown as text, not as an image
        open_page(page, server.url)  # the overview's village tables are plain HTML (ui.small_table)
        assert page.locator("[data-testid='stHtml'] td").get_by_text("<img src=x", exact=False).count() >= 1
        # The live-now row: the markdown title and the <img> host name are shown as the text they are.
        title = page.locator("[data-testid='stHtml'] b").get_by_text(HOSTILE[2], exact=True)
        assert title.count() == 1
        assert "<img src=x" in title.locator("xpath=..").inner_text()  # the host name beside it, as text
        assert page.locator("a[href^='javascript']").count() == 0
        shot(page, "hostile_villages")
        assert dialogs == []
        context.close()
    finally:
        stop_server(server)


def test_downloads_neutralise_formulas_but_keep_the_text() -> None:
    frame = pl.DataFrame({"village": HOSTILE, "qty": list(range(len(HOSTILE)))})
    text = download.to_csv(frame).decode("utf-8-sig")
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert cells[3] == "'" + HOSTILE[3]  # =HYPERLINK(...) opens as text
    assert [c for i, c in enumerate(cells) if i != 3] == [h for i, h in enumerate(HOSTILE) if i != 3]
    xlsx = pl.read_excel(io.BytesIO(download.to_xlsx(frame)))
    assert xlsx["village"][3] == "'" + HOSTILE[3]


def test_xsrf_protection_is_on_and_no_secret_is_printed(tmp_path: Path) -> None:
    chromium_path()
    password = "s3cret-staff-pass"
    server = start_server(tmp_path, env={"RELIEF_LIVE_STAFF_PASSWORD": password})
    try:
        # An upload posted from another site, without Streamlit's XSRF cookie and token, is refused.
        request = urllib.request.Request(f"{server.url}/_stcore/upload_file/session/file", method="PUT",
                                         data=b"x", headers={"Content-Type": "application/octet-stream"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        config = subprocess.run([sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True,
                                text=True, timeout=60).stdout
        assert "enableXsrfProtection = true" in config
    finally:
        stop_server(server)
    assert password not in server.log.read_text(errors="replace")
    url = "postgresql://staff:hunter2-db-pass@127.0.0.1:1/nowhere"
    assert "hunter2" not in repr(Store(url))
    cli = subprocess.run([sys.executable, "-m", "relief_live", "batches", "--help"], cwd=ROOT, capture_output=True,
                         text=True, env={"RELIEF_LIVE_DB": url, "PATH": "/usr/bin:/bin"})
    assert "hunter2" not in cli.stdout + cli.stderr
