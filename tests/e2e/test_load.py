"""A bounded load test: 50 viewers on a live session page of one app server, over loopback, for 45 s.

The viewers are Streamlit websocket clients (tests/e2e/viewers.py) that ask for the page and rerun its
live fragment on the server's timer, as an open tab does; one real Chromium tab watches beside them.
While they watch, a writer ingests a new minute of ticks every 3 s, so each refresh has new rows to show.
No viewer sees an error, refreshes keep their interval, the browser's chart gains the new minutes, and
the server's CPU and memory go to tests/artifacts/load.json (and, through `make bench`, bench/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from relief_live import ingest
from relief_live.store import Store
from tests import dashboard_data
from tests.e2e import viewers
from tests.e2e.conftest import ARTIFACTS, chromium_path, open_page, shot, start_server, stop_server

pytestmark = pytest.mark.e2e
VIEWERS = int(os.environ.get("RELIEF_LIVE_LOAD_VIEWERS", "50"))
SECONDS = 45
REFRESH = 5
NEW_MINUTE_EVERY = 3
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"
POINTS = "() => document.querySelector('.js-plotly-plot').data[0].x.length"


def _writer(db: str, stop: threading.Event, written: list[int]) -> None:
    """Ingests one more minute of live1's ticks every few seconds, as `watch` would during a broadcast."""
    store = Store(db)
    start = store.read("sessions").filter(pl.col("session_id") == "live1")["started_at"][0]
    head = "时间,实时在线人数,成交订单数,成交金额\n"
    lines = ""
    minute = 30
    while not stop.wait(NEW_MINUTE_EVERY):
        lines += dashboard_data.tick_line(start + timedelta(minutes=minute), 7000 + minute, 3, 300)
        ingest.ingest_bytes(store, "trend_live1.csv", (head + lines).encode(), session_id="live1", by="load")
        written.append(minute)
        minute += 1


def run_load(tmp: Path, browser, *, count: int = VIEWERS, seconds: float = SECONDS) -> dict:  # type: ignore[no-untyped-def]
    """The scenario: one server, `count` websocket viewers and one browser tab on live1, a writer adding ticks."""
    server = start_server(tmp, env={"RELIEF_LIVE_REFRESH_SECONDS": str(REFRESH)})
    stop, written = threading.Event(), []
    try:
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        open_page(page, f"{server.url}/live?session=live1")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        points_before = page.evaluate(POINTS)
        usage = viewers.Usage(server.process.pid)
        usage.start()
        writer = threading.Thread(target=_writer, args=(server.db, stop, written), daemon=True)
        writer.start()
        seen: list[viewers.Viewer] = []
        crowd = threading.Thread(target=lambda: seen.extend(
            viewers.watch(server.url, "live", "session=live1", viewers=count, seconds=seconds)))
        crowd.start()
        updates: list[str] = []
        while crowd.is_alive():
            text = page.get_by_text("updated ").first.inner_text()
            if not updates or updates[-1] != text:
                updates.append(text)
            time.sleep(0.5)
        crowd.join()
        stop.set()
        writer.join(30)
        usage.stop()
        page.wait_for_function(f"() => document.querySelector('.js-plotly-plot').data[0].x.length >= "
                               f"{points_before + len(written)}", timeout=3 * REFRESH * 1000)
        shot(page, "load_browser_tab")
        result = viewers.summary(seen) | {
            "seconds": seconds, "refresh": REFRESH, "minutes_written": len(written),
            "browser_updates": len(updates) - 1, "browser_points_gained": page.evaluate(POINTS) - points_before,
            "browser_errors": page.locator(ERRORS).count(),
            "server_cpu_share": round(usage.cpu_share, 3), "server_peak_mb": usage.peak_mb, "cores": os.cpu_count(),
        }
        page.context.close()
    finally:
        stop.set()
        stop_server(server)
    return result


def test_fifty_viewers_on_a_live_session_keep_their_refresh_interval(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    result = run_load(tmp_path, browser)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "load.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    assert result["viewers"] == VIEWERS and result["pages_loaded"] == VIEWERS
    assert result["errors"] == [] and result["browser_errors"] == 0
    assert result["interval"] == REFRESH
    expected = SECONDS // REFRESH
    assert result["refreshes_min"] >= expected - 3, result  # every viewer kept refreshing to the end
    assert result["gap_median"] < REFRESH * 1.2, result  # at the interval the page asked for
    assert result["gap_p95"] < REFRESH * 2, result
    assert result["minutes_written"] >= SECONDS // NEW_MINUTE_EVERY - 2
    assert result["browser_updates"] >= expected - 3, result  # the real tab refreshed on time too
    assert result["browser_points_gained"] >= result["minutes_written"]  # and showed every new minute
