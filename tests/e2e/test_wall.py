"""The wall screen in headless Chromium: its GMV counter rolling to each new figure, its line of firing alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import expect

from relief_live import i18n, ingest, metrics, wall
from relief_live.alerts import board, record
from relief_live.live import LiveFrames, now
from relief_live.store import Store
from tests import dashboard_data
from tests.e2e.conftest import shot, start_server, stop_server

pytestmark = pytest.mark.e2e

# The translation of an element's transform (0 while the alert line is still), and whether the counter's rolling
# digits or its text are what shows.
SHIFT = "() => new DOMMatrix(getComputedStyle(document.querySelector('.wall-ticker-text')).transform).m41"
OPACITY = "s => getComputedStyle(document.querySelector(s)).opacity"


def session_gmv(store: Store, session_id: str) -> int:
    _, f = LiveFrames(store).refresh()
    sessions = metrics.build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], now=now()).sessions
    return sessions.filter(pl.col("session_id") == session_id)["gmv"][0]


def alert_line(store: Store, lang: str) -> str:
    firing = record.alerts(store, firing_only=True).filter(pl.col("muted") == 0)
    return "  ·  ".join(f"{board.title(a['rule'], lang)}{board._COLON[lang]}{board.line(a, lang)}"
                        for a in firing.iter_rows(named=True))


def test_the_wall_counter_rolls_to_each_new_gmv_and_the_alert_line_scrolls_only_when_too_long(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path)
    try:
        context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
        page = context.new_page()
        # (not open_page: the wall's parts refresh every 2 s, so on a loaded machine its script is seldom idle)
        page.goto(f"{server.url}/live?session=live1&kiosk=1&lang=zh")
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
        gmv = page.locator(".wall-gmv")
        before = session_gmv(server.store, "live1")
        expect(gmv).to_have_text(i18n.money(before, "zh"))

        # The firing alerts, as the store holds them, on one line; it fits 1920 px, so it stays still.
        ticker = page.locator(".wall-ticker-text")
        expect(ticker).to_have_count(1)
        line = alert_line(server.store, "zh")
        assert line and ticker.text_content() == line
        still = [page.evaluate(SHIFT)]
        for _ in range(3):
            page.wait_for_timeout(700)
            still.append(page.evaluate(SHIFT))
        assert still == [0, 0, 0, 0]

        # A new minute of the trend export, with sales in it: at the next refresh the figure rolls from the old
        # GMV to the new one, then reads as money() writes it.
        ticks = "时间,实时在线人数,成交订单数,成交金额\n" + dashboard_data.tick_line(datetime.now(UTC), 3000, 6, 360)
        ingest.ingest_bytes(server.store, "ticks_wall.csv", ticks.encode(), session_id="live1", by="test")
        after = session_gmv(server.store, "live1")
        assert after > before and wall._figure(i18n.money(after, "zh"))[1:] == wall._figure(i18n.money(before, "zh"))[1:]
        page.wait_for_selector(".wall-gmv-rolling", timeout=20_000)
        assert page.evaluate(OPACITY, ".wall-roll") == "1"  # the rolling digits show
        shot(page, "wall_rolling")
        expect(gmv).to_have_text(i18n.money(after, "zh"))
        # (the next refresh, the figure unchanged, draws it without the rolling digits)
        page.wait_for_function("() => { const roll = document.querySelector('.wall-roll');"
                               " return !roll || getComputedStyle(roll).opacity === '0'; }",
                               timeout=wall.ROLL_SECONDS * 1000 + 5_000)
        assert page.evaluate(OPACITY, ".wall-gmv-text") == "1"  # the end: the figure is the text itself
        assert gmv.inner_text() == i18n.money(after, "zh")
        assert page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight") <= 1080
        shot(page, "wall_rolled")

        # On a narrower screen the same line is longer than its box: it scrolls, as far as it overflows.
        page.set_viewport_size({"width": 400, "height": 1080})
        overflow = page.evaluate("() => document.querySelector('.wall-ticker-text').offsetWidth"
                                 " - document.querySelector('.wall-ticker').clientWidth")
        assert overflow > 0
        page.wait_for_function(f"() => ({SHIFT})() < -20", timeout=30_000)
        assert -overflow - 40 <= page.evaluate(SHIFT) < 0
        shot(page, "wall_ticker_scrolling")
        context.close()
    finally:
        stop_server(server)
