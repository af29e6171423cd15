"""The dashboard in headless Chromium: pages, upload, share links, live refresh, Chinese, kiosk, rights."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

import polars as pl
import pytest
from playwright.sync_api import expect

from relief_live import metrics, ui
from relief_live.live import LiveFrames, now
from relief_live.store import Store
from tests import dashboard_data
from tests.e2e.conftest import (
    ROOT,
    Server,
    choose,
    chromium_path,
    open_page,
    shot,
    sidebar_text,
    start_server,
    stop_server,
    wait_ready,
)
from tests.latin import LATIN_ALLOWED, latin_words

pytestmark = pytest.mark.e2e

ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


def totals(store: Store) -> dict:
    _, f = LiveFrames(store).refresh()
    return metrics.build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], now=now()).totals


def metric(page, label: str) -> str:  # type: ignore[no-untyped-def]
    card = page.locator("[data-testid='stMetric']").filter(has=page.get_by_text(label, exact=True))
    return card.locator("[data-testid='stMetricValue']").inner_text().strip()


def share_link(page) -> str:  # type: ignore[no-untyped-def]
    """The sidebar's share link as shown, checked to point where it says."""
    link = page.locator("[data-testid='stSidebar'] a.share-link")
    shown = link.inner_text().strip()
    assert link.get_attribute("href") == shown
    return shown


@pytest.mark.parametrize(("path", "title", "charts"), [
    ("", "Overview", 2), ("live", "Live session", 3), ("villages", "Villages", 1), ("hosts", "Hosts", 2)])
def test_each_page_loads_with_charts_and_no_error(server: Server, page, path: str, title: str, charts: int) -> None:
    open_page(page, f"{server.url}/{path}")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
    assert page.locator("h1").first.inner_text() == title
    assert page.locator(".js-plotly-plot").count() >= charts
    assert page.locator(ERRORS).count() == 0
    chart_title = page.locator(".js-plotly-plot .gtitle").first.text_content()
    assert chart_title  # every chart has a title
    shot(page, f"page_{path or 'overview'}")


CUT_SHORT = """() => [...document.querySelectorAll("[data-testid='stMetricValue'], [data-testid='stMetricValue'] *")]
    .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"""


@pytest.mark.parametrize("path", ["", "live?session=live1", "?kiosk=1", "live?session=live1&kiosk=1"])
def test_kpi_numbers_are_never_cut_short_on_a_laptop_screen(server: Server, browser, path: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1100, "height": 800}, locale="en-US")
    page = context.new_page()
    open_page(page, f"{server.url}/{path}")
    expect(page.locator("[data-testid='stMetricValue']")).to_have_count(5)
    assert page.evaluate(CUT_SHORT) == []  # no "9,250 …": every card shows its whole number
    if "kiosk" in path:  # the wall screen's GMV is its large counter
        gmv = page.locator(".wall-gmv")
        assert gmv.evaluate("e => e.scrollWidth <= e.clientWidth + 1") and gmv.inner_text().endswith("元")
    else:
        assert metric(page, "GMV").endswith("元")
    context.close()


def test_upload_page_loads_for_a_local_browser(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/upload")
    assert page.locator("h1").first.inner_text() == "Upload"
    # Widgets load their code lazily: wait for the uploader rather than count it at once.
    expect(page.locator("[data-testid='stFileUploader']"), sidebar_text(page)).to_have_count(1)
    assert page.locator(ERRORS).count() == 0
    shot(page, "page_upload")


SESSIONS_CSV = """直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,成交订单数,成交金额(元)
up1,上传测试场,干部直播,赵书记,快手,2020-09-06 19:00:00,2020-09-06 21:00:00,40,"100,000.00"
"""


def test_a_csv_uploaded_through_the_file_chooser_shows_in_the_numbers(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    server = start_server(tmp_path)
    try:
        before = totals(server.store)
        page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
        open_page(page, f"{server.url}/upload")  # the server's first session, on a deep link
        # Regression: with a pages/ folder, a server's first session on a deep link ran the page file alone.
        assert page.get_by_text("Page not found").count() == 0
        expect(page.locator("[data-testid='stSidebar']").get_by_text("Language")).to_have_count(1)
        csv = tmp_path / "场次_上传.csv"
        csv.write_text(SESSIONS_CSV, encoding="gb18030")  # as Excel on Chinese Windows saves it
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(csv))
        commit = page.get_by_role("button", name=f"Commit {csv.name}")
        commit.wait_for(timeout=20_000)
        assert page.get_by_text("Detected kind: sessions").count() == 1
        shot(page, "upload_preview")
        commit.click()
        page.get_by_text(f"{csv.name}: 1 rows stored as batch").wait_for(timeout=20_000)
        after = totals(server.store)
        assert after["gmv"] == before["gmv"] + 10_000_000
        open_page(page, server.url)
        assert metric(page, "GMV") == ui.money(after["gmv"], "en")
        assert metric(page, "Orders") == f"{before['orders'] + 40:,}"
        open_page(page, f"{server.url}/hosts")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        labels = page.locator(".js-plotly-plot").first.locator(".ytick text").all_text_contents()
        assert "赵书记" in labels
        page.context.close()
    finally:
        stop_server(server)


TRENDS_CSV = """时间,实时在线人数,成交订单数
2020-09-06 19:01:00,1200,3
2020-09-06 19:02:00,1500,4
"""


def test_files_dropped_together_are_listed_checked_and_imported_at_once_each_keeping_its_message(
        tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    server = start_server(tmp_path)
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="zh-CN").new_page()
        open_page(page, f"{server.url}/upload?lang=zh")
        sessions, trends = tmp_path / "场次.csv", tmp_path / "分钟走势.csv"
        sessions.write_text(SESSIONS_CSV, encoding="gb18030")
        trends.write_text(TRENDS_CSV, encoding="utf-8")
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files([str(sessions), str(trends)])
        # The minute trend names no session: one is chosen from those stored, by title, host and start.
        expect(page.get_by_text("待补充信息")).to_have_count(1, timeout=30_000)
        expect(page.get_by_text("已检查：可导入")).to_have_count(1)
        choose(page, page.locator("[data-testid='stSelectbox']").filter(has_text="这些数据所属的场次"),
               "县长带你看紫金 · 李县长 · ")
        import_all = page.get_by_role("button", name="全部导入（2 个文件）")
        import_all.wait_for(timeout=30_000)
        shot(page, "upload_list_checked")
        import_all.click()
        for name, rows in ((sessions.name, 1), (trends.name, 2)):  # both messages stay, each on its file
            expect(page.get_by_text(f"{name}：已导入 {rows} 行，批次", exact=False)).to_have_count(1, timeout=30_000)
        wait_ready(page)
        assert page.get_by_text("已检查：可导入").count() == 0
        for name in (sessions.name, trends.name):  # each Commit button replaced by its result
            assert page.get_by_role("button", name=f"导入 {name}", exact=True).count() == 0
        expect(page.get_by_role("button", name="从列表移除已导入的文件")).to_have_count(1)
        assert page.get_by_role("button", name="全部导入", exact=False).count() == 0
        assert page.locator(ERRORS).count() == 0
        shot(page, "upload_list_imported")
        ticks = server.store.read("ticks").filter(pl.col("batch") == server.store.last_batch())
        assert ticks["session_id"].to_list() == ["cadre1", "cadre1"]
        assert "up1" in server.store.read("sessions")["session_id"].to_list()
        page.context.close()
    finally:
        stop_server(server)


def test_a_share_link_opened_in_a_fresh_browser_shows_the_same_view(server: Server, browser, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/villages")
    choose(page, page.locator("[data-testid='stMultiSelect']").first, "紫金县")
    page.keyboard.press("Escape")
    wait_ready(page)
    page.wait_for_function("() => location.search.includes('county=')")
    link = share_link(page)
    assert link == f"{server.url}/villages?county={quote('紫金县')}"
    bars = page.locator(".js-plotly-plot .ytick text").all_text_contents()
    assert bars and all(label.split(" · ")[0] in ("紫金村", "新田村") for label in bars)

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    open_page(other, link)
    other.wait_for_selector(".js-plotly-plot .main-svg")
    assert other.locator("[data-testid='stMultiSelect']").first.get_by_text("紫金县").count() == 1
    assert other.locator(".js-plotly-plot .ytick text").all_text_contents() == bars
    assert other.locator(".js-plotly-plot .bartext").all_text_contents() == \
        page.locator(".js-plotly-plot .bartext").all_text_contents()
    shot(other, "share_link_villages")
    fresh.close()


EVERY_VIEW = ["", "overview", "live?session=live1", "villages", "hosts", "alerts", "upload", "?lang=zh",
              "live?session=live1&lang=zh", "?kiosk=1", "live?session=live1&kiosk=1"]


def test_no_page_asks_anything_of_a_host_but_the_app_s_own(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    """Where programme staff work, foreign hosts (Google's fonts and icons among them) are blocked: every request
    of every page, in both languages and on the wall screen, goes to the app's own server or stays inline."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    for view in EVERY_VIEW:
        open_page(page, f"{server.url}/{view}")
        page.locator("h1, .wall-gmv").first.wait_for()
        page.wait_for_timeout(1_500)  # charts, icons and fonts load after the script has run
    context.close()
    own = urlparse(server.url).netloc
    assert len(requests) > 50  # the recording saw the pages' scripts, styles, fonts and websocket
    assert any(urlparse(url).path.endswith((".woff2", ".woff", ".ttf")) for url in requests)  # fonts: served here
    assert sorted({url for url in requests if urlparse(url).scheme not in ("data", "blob")
                   and urlparse(url).netloc != own}) == []


@pytest.mark.parametrize(("locale", "path", "title"), [
    ("zh-CN", "", "总览"), ("zh-CN", "villages", "帮扶村"), ("zh-CN", "?lang=en", "Overview"), ("en-US", "", "Overview")])
def test_a_link_without_lang_opens_in_the_browser_s_language(server: Server, browser, locale: str, path: str,
                                                              title: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale=locale)  # Chromium sends it as Accept-Language
    page = context.new_page()
    open_page(page, f"{server.url}/{path}")
    assert page.locator("h1").first.inner_text() == title
    context.close()


VISIBLE_TEXT = """() => {
    const walker = document.createTreeWalker(document.querySelector("[data-testid='stApp']"), NodeFilter.SHOW_TEXT);
    const out = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        // icon ligatures (drawn by the icon font) and the share link (an address) are not words
        if (!el || el.closest("[data-testid='stIconMaterial'], a.share-link, script, style")) continue;
        if (getComputedStyle(el).fontFamily.includes("Material Symbols")) continue;
        if (!el.getClientRects().length) continue;
        out.push(node.textContent);
    }
    return out.join(" ");
}"""


def test_every_page_in_chinese_shows_no_english_words(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 2000}, locale="zh-CN")
    page = context.new_page()
    found = {}
    for view in ("", "live?session=live1", "villages", "hosts", "alerts", "upload", "?kiosk=1"):
        open_page(page, f"{server.url}/{view}")
        page.locator("h1, .wall-gmv").first.wait_for()
        page.wait_for_timeout(1_500)  # charts draw after the script has run
        words = latin_words(page.evaluate(VISIBLE_TEXT)) - LATIN_ALLOWED
        if words:
            found[view or "/"] = sorted(words)
    context.close()
    assert found == {}


SIDEBAR_PAGES = [("Overview", ""), ("Live session", "live?session=live1"), ("Villages", "villages"),
                 ("Hosts", "hosts"), ("Alerts", "alerts"), ("Upload", "upload")]


@pytest.mark.parametrize("start", ["", "overview", "hosts"])
def test_every_page_s_share_link_copied_from_the_sidebar_opens_that_page(server: Server, browser, page,
                                                                         start: str) -> None:  # type: ignore[no-untyped-def]
    """Each page reached through the sidebar, from the root, from /overview (a link written by hand) and from
    another page: its share link opened in a fresh browser shows the same page, never "Page not found"."""
    open_page(page, f"{server.url}/{start}")
    assert page.get_by_text("Page not found").count() == 0
    nav = page.locator("[data-testid='stSidebarNav'] a")
    assert [text.splitlines()[-1] for text in nav.all_inner_texts()] == [title for title, _ in SIDEBAR_PAGES]
    for title, path in SIDEBAR_PAGES:
        nav.filter(has_text=title).first.click()
        wait_ready(page)
        link = share_link(page)
        assert link == f"{server.url}/{path}".rstrip("/")
        fresh = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        other = fresh.new_page()
        open_page(other, link)
        assert other.get_by_text("Page not found").count() == 0, link
        assert other.locator("h1").first.inner_text() == title
        fresh.close()
    # Where the Overview's share link was copied on /overview itself, it says so and opens the Overview.
    open_page(page, f"{server.url}/overview")
    assert page.locator("h1").first.inner_text() == "Overview" and share_link(page) == f"{server.url}/overview"


def test_a_share_link_keeps_the_session_and_the_language(server: Server, browser, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/live?session=tv1&lang=zh")
    link = share_link(page)
    assert link.startswith(f"{server.url}/live?") and "session=tv1" in link and "lang=zh" in link
    gmv = metric(page, "成交额")
    fresh = browser.new_context()
    other = fresh.new_page()
    open_page(other, link)
    assert other.locator("input[role='combobox']").first.input_value().startswith("扶贫好物 第1期")
    assert metric(other, "成交额") == gmv
    fresh.close()


def _append_ticks(db: str, start, minutes: range, path: Path) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """A background writer: the CLI ingests a growing trend export, one new minute a second."""
    lines = "".join(dashboard_data.tick_line(start + timedelta(minutes=m), 6000 + m, 2, 100) for m in minutes)
    script = f"""
import pathlib, subprocess, sys, time
path = pathlib.Path({str(path)!r})
lines = {lines!r}.splitlines(keepends=True)
head = "时间,实时在线人数,成交订单数,成交金额\\n"
for i in range(1, len(lines) + 1):
    path.write_text(head + "".join(lines[:i]), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "relief_live", "ingest", str(path), "--session-id", "live1",
                    "--db", {db!r}], check=True, capture_output=True)
    time.sleep(1)
"""
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)


def test_a_live_chart_gains_points_while_ticks_are_appended_without_a_reload(server: Server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/live?session=live1")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    count = "() => document.querySelector('.js-plotly-plot').data[0].x.length"
    before = page.evaluate(count)
    updated = page.get_by_text("updated ").inner_text()
    page.evaluate("() => { window.__not_reloaded = true; }")
    start = server.store.read("sessions").filter(pl.col("session_id") == "live1")["started_at"][0]
    writer = _append_ticks(server.db, start, range(30, 34), tmp_path / "trend_live1.csv")
    try:
        page.wait_for_function(f"() => document.querySelector('.js-plotly-plot').data[0].x.length >= {before + 4}",
                               timeout=40_000)
    finally:
        writer.wait(30)
    assert writer.returncode == 0
    assert page.evaluate("() => window.__not_reloaded === true")
    assert page.get_by_text("updated ").inner_text() != updated
    assert page.evaluate("() => Math.max(...document.querySelector('.js-plotly-plot').data[0].y)") >= 6033
    shot(page, "live_after_ticks")


def test_chinese_labels_and_language_kept_across_pages(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/?lang=zh")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    assert page.locator("h1").first.inner_text() == "总览"
    assert metric(page, "订单数")
    assert page.locator(".js-plotly-plot .gtitle").first.text_content().startswith("按主播类型的每日成交额")
    shot(page, "overview_zh")
    page.locator("[data-testid='stSidebarNav']").get_by_text("帮扶村").click()
    page.wait_for_url("**/villages**")
    wait_ready(page)
    assert page.locator("h1").first.inner_text() == "帮扶村"
    page.wait_for_function("() => location.search.includes('lang=zh')")
    shot(page, "villages_zh")


def test_the_wall_screen_fills_one_dark_1920x1080_screen_with_no_controls(server: Server, browser) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    page = context.new_page()
    open_page(page, f"{server.url}/live?session=live1&kiosk=1")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    page.wait_for_timeout(1_000)
    assert page.evaluate("() => document.querySelector(\"[data-testid='stMain']\").scrollHeight") <= 1080  # no scrolling
    assert page.evaluate("() => getComputedStyle(document.querySelector(\"[data-testid='stApp']\")).backgroundColor") \
        == "rgb(14, 17, 23)"
    main = page.locator("[data-testid='stMain']")
    assert main.locator("button, input, select, textarea, [data-testid='stSelectbox']").count() == 0  # no controls
    assert main.get_by_text("演示数据").count() == 0  # no banner (this store is not the demo, but no page text either)
    gmv = page.locator(".wall-gmv")
    assert float(gmv.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 80
    assert gmv.inner_text() == ui.money(totals_of_session(server.store, "live1"), "zh")
    assert page.locator(".js-plotly-plot").count() == 2  # the minute curve and the top products
    assert main.get_by_text("当前在线人数").count() == 1
    # The data's age is shown: "最新数据 N 秒前", or N minutes once the module's earlier tests have taken that long
    # since live1's last tick was stored (this server's data is written once, at its start; see conftest.server).
    assert main.get_by_text(re.compile(r"最新数据 \d+ (秒|分钟)前")).first.is_visible()
    board = main.locator("table")  # the village board: the villages with most value left
    assert board.locator("tbody tr").count() == 3 and board.locator("th").first.inner_text() == "村"
    shot(page, "wall_live")
    context.close()


def totals_of_session(store: Store, session_id: str) -> int:
    _, f = LiveFrames(store).refresh()
    sessions = metrics.build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], now=now()).sessions
    return sessions.filter(pl.col("session_id") == session_id)["gmv"][0]


def test_kiosk_hides_the_sidebar(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/?kiosk=1")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    assert not page.locator("[data-testid='stHeader']").is_visible()
    expect(page.locator("[data-testid='stMetricValue']")).to_have_count(5)
    shot(page, "overview_kiosk")


def _lan_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_browser_on_another_machine_cannot_upload_until_staff_sign_in(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    address = _lan_address()
    if address is None:
        pytest.fail("this machine has no non-loopback address to stand for another machine")
    server = start_server(tmp_path, address="0.0.0.0", env={"RELIEF_LIVE_STAFF_PASSWORD": "e2e-staff"})
    try:
        page = browser.new_context().new_page()
        url = server.url.replace("0.0.0.0", address)
        open_page(page, f"{url}/upload")
        expect(page.get_by_text("Uploading and retracting need staff rights.")).to_have_count(1)
        assert page.locator("[data-testid='stFileUploader']").count() == 0
        page.get_by_label("Staff password").fill("e2e-staff")
        page.get_by_role("button", name="Sign in").click()
        page.locator("[data-testid='stFileUploader']").wait_for(timeout=20_000)
        page.context.close()
    finally:
        stop_server(server)


def test_no_password_and_no_oidc_means_only_the_server_machine_uploads(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    address = _lan_address()
    if address is None:
        pytest.fail("this machine has no non-loopback address to stand for another machine")
    server = start_server(tmp_path, address="0.0.0.0", load=False)
    try:
        context = browser.new_context()
        page = context.new_page()
        open_page(page, server.url.replace("0.0.0.0", address) + "/upload")
        expect(page.get_by_text("View only: uploads are allowed only from the server's own machine.")).to_have_count(1)
        expect(page.get_by_text(f"This browser connects from {address}."), sidebar_text(page)).to_have_count(1)
        assert page.locator("[data-testid='stFileUploader']").count() == 0
        open_page(page, server.url.replace("0.0.0.0", "127.0.0.1") + "/upload")
        expect(page.locator("[data-testid='stFileUploader']"), sidebar_text(page)).to_have_count(1)
        context.close()
    finally:
        stop_server(server)


def test_first_run_shows_the_demo_marked_as_demo_and_staff_clear_it_after_a_confirmation(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server(tmp_path, load=False, env={"RELIEF_LIVE_AUTO_DEMO": "1"})
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_page(page, server.url, timeout=90_000)
        page.wait_for_selector(".js-plotly-plot .main-svg")
        expect(page.get_by_text("Demo data: a seeded sample programme, not real sales.")).to_have_count(1)
        expect(page.get_by_role("button", name="Clear demo data")).to_have_count(1)  # local browser, nothing configured
        shot(page, "demo_overview")
        for path in ("live", "villages", "hosts"):
            open_page(page, f"{server.url}/{path}")
            page.wait_for_selector(".js-plotly-plot .main-svg")
            assert page.locator(ERRORS).count() == 0
            shot(page, f"demo_{path}")
        open_page(page, f"{server.url}/?kiosk=1")  # the wall screen: nothing to click, least of all this
        assert page.get_by_role("button", name="Clear demo data").count() == 0
        open_page(page, f"{server.url}/?kiosk=0")
        page.get_by_role("button", name="Clear demo data").click()  # asks before it deletes
        expect(page.get_by_text("Clear the demo programme (", exact=False)).to_have_count(1)
        assert server.store.batches()["retracted"].sum() == 0
        page.get_by_role("button", name="Yes, clear the demo data").click()
        expect(page.get_by_text("Demo data: a seeded sample programme, not real sales.")).to_have_count(0)
        assert server.store.is_empty()
        page.context.close()
    finally:
        stop_server(server)


def test_a_table_downloads_as_csv_and_xlsx_when_its_button_is_clicked(server: Server, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server.url}/villages")
    csv_button = page.locator("[data-testid='stDownloadButton'] button").filter(has_text="CSV").first
    xlsx_button = page.locator("[data-testid='stDownloadButton'] button").filter(has_text="Excel").first
    expect(csv_button).to_be_visible()
    with page.expect_download() as csv_download:
        csv_button.click()  # the files are made on the click, not on every run of the page
    text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    assert csv_download.value.suggested_filename == "villages.csv"
    assert text.splitlines()[0].startswith("County,Village,Product")
    assert len(text.splitlines()) == 1 + 3  # the three village products of the store
    wait_ready(page)
    with page.expect_download() as xlsx_download:
        xlsx_button.click()
    frame = pl.read_excel(xlsx_download.value.path())
    assert frame.height == 3 and frame.columns[:3] == ["County", "Village", "Product"]


def test_a_first_visit_and_a_retraction_say_what_they_wait_for_while_the_store_is_read_and_the_report_computed(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    # On a big store the first visit after a restart waits seconds (17 s at 10M order lines): first for the
    # read of every row, then for the report. Here both wait on gate files (tests/e2e/gated), so the page
    # can be looked at in each state; the read and the report themselves are the real ones.
    read_gate, report_gate = tmp_path / "read.gate", tmp_path / "report.gate"
    read_gate.touch()
    report_gate.touch()
    gated = str(ROOT / "tests" / "e2e" / "gated")
    server = start_server(tmp_path, env={"PYTHONPATH": os.pathsep.join([gated, str(ROOT)]),
                                         "RELIEF_LIVE_TEST_GATES": os.pathsep.join([str(read_gate), str(report_gate)])})
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{server.url}/?lang=zh")
        expect(page.get_by_text("正在读取已存数据")).to_be_visible()
        assert page.locator("[data-testid='stMetric']").count() == 0
        shot(page, "first_visit_reading")
        read_gate.unlink()
        expect(page.get_by_text("正在按全部订单计算指标")).to_be_visible()
        expect(page.get_by_text("正在读取已存数据")).to_have_count(0)
        assert page.locator("[data-testid='stMetric']").count() == 0
        report_gate.unlink()
        wait_ready(page)
        page.wait_for_selector(".js-plotly-plot .main-svg")
        expect(page.get_by_text("正在按全部订单计算指标")).to_have_count(0)
        expected = totals(server.store)
        assert metric(page, "成交额") == ui.money(expected["gmv"], "zh")
        assert page.locator(ERRORS).count() == 0
        # A second visitor is not kept waiting: the rows and the report are held, so with both gates shut
        # again its page still completes (a read or a report would wait on them until open_page times out).
        read_gate.touch()
        report_gate.touch()
        again = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_page(again, server.url)
        assert metric(again, "GMV") == ui.money(expected["gmv"], "en")
        again.context.close()
        page.context.close()  # its overview refreshes itself (a session is live): the next visit makes the re-read
        # A retraction makes the next refresh read every row again, and compute the report again: both said.
        batches = server.store.batches()
        server.store.retract(batches.filter((pl.col("kind") == "ticks") & ~pl.col("retracted"))["batch"][0])
        after = totals(server.store)
        assert after["gmv"] != expected["gmv"]  # the page must show a new number, not the held one
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{server.url}/?lang=zh")
        expect(page.get_by_text("有批次已撤回：正在重新读取已存数据")).to_be_visible()
        read_gate.unlink()
        expect(page.get_by_text("正在按全部订单计算指标")).to_be_visible()
        report_gate.unlink()
        wait_ready(page)
        expect(page.get_by_text("有批次已撤回")).to_have_count(0)
        assert metric(page, "成交额") == ui.money(after["gmv"], "zh")
        page.context.close()
    finally:
        stop_server(server)
