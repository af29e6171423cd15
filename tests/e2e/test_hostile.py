"""Hostile names stay text: stored verbatim, inert in the browser, neutralised in downloads; hostile files give problems or a commit on the Upload page; XSRF on; no secret printed."""

from __future__ import annotations

import csv
import http.server
import io
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from playwright.sync_api import expect

from relief_live import download, i18n, ingest
from relief_live.i18n import WORD_JOINER
from relief_live.store import Store
from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    ROOT,
    chromium_path,
    free_port,
    open_page,
    shot,
    start_server,
    stop_server,
    wait_ready,
)

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
    # On air means its feed is running: a minute of viewers (the server keeps it live for the test's length).
    ingest.ingest_bytes(store, "hostile_ticks.csv", _csv([["直播ID", "时间", "实时在线人数"],
                                                          ["hlive", f"{now - timedelta(minutes=1):%Y-%m-%d %H:%M}", "800"]]))
    ingest.ingest_bytes(store, "hostile_stock.csv", _csv(stock))
    ingest.ingest_bytes(store, "hostile_sales.csv", _csv(sales))


def test_hostile_names_are_stored_verbatim_and_inert_in_the_browser(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    server = start_server(tmp_path, load=False, env={"RELIEF_LIVE_SILENT_MINUTES": "60"})
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


class _Listener(http.server.ThreadingHTTPServer):
    """A web server on loopback that records every path asked of it: a page that fetches from it has drawn
    uploaded text as markup."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.asked.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _markup_names(port: int) -> dict[str, str]:
    return {
        "image": f"![px](http://127.0.0.1:{port}/md.png)",
        "link": f'<a href="http://127.0.0.1:{port}/x">X</a>',
        "big": '<span style="font-size:80px">big</span>',
        "markdown_link": f"[点我](http://127.0.0.1:{port}/md-link)",
    }


def _markup_on_page(page, port: int) -> list[str]:  # type: ignore[no-untyped-def]
    """Elements (HTML or SVG) that link to or load from the listener, or take the hostile style (text in a
    title attribute is text, and allowed)."""
    return page.evaluate("""(port) => [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
        .filter(a => (['href', 'xlink:href', 'src', 'srcset', 'action', 'poster'].includes(a.name) && a.value.includes(':' + port))
                     || (a.name === 'style' && a.value.replace(/ /g, '').includes('font-size:80px')))
        .map(a => el.tagName + ' ' + a.name + '=' + a.value))""", port)


def test_uploaded_markup_makes_no_request_and_no_link_on_any_page(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """Names from files are text on every page: a host named as a markdown image fetches nothing, a product
    written as a plotly <a href> is no link, a <span style> draws no huge text."""
    from playwright.sync_api import expect

    chromium_path()
    listener = _Listener()
    port = listener.server_address[1]
    names = _markup_names(port)
    server = start_server(tmp_path, load=False)
    try:
        now = datetime.now(ZoneInfo("Asia/Shanghai"))
        start, end = f"{now - timedelta(hours=1):%Y-%m-%d %H:%M}", f"{now + timedelta(hours=2):%Y-%m-%d %H:%M}"
        ingest.ingest_bytes(server.store, f"{names['markdown_link']}.csv", _csv([
            ["直播ID", "直播标题", "直播类型", "主播", "职务", "平台", "开播时间", "下播时间", "观看人次"],
            ["m0", names["image"], "干部直播", names["image"], names["markdown_link"], "抖音", start, end, "1000"],
            ["m1", names["link"], "达人直播", names["link"], "", "抖音", "2020-09-01 19:00", "2020-09-01 20:00", "10"]]))
        ingest.ingest_bytes(server.store, "stock.csv", _csv([
            ["村", "产品", "滞销数量", "单位", "统计日期", "单价", "带贫户数"],
            [names["big"], names["link"], "100", "斤", "2020-08-01", "5", "3"],
            [names["link"], names["big"], "100", "斤", "2020-08-01", "5", "3"]]))
        ingest.ingest_bytes(server.store, "sales.csv", _csv([
            ["订单编号", "下单时间", "商品名称", "村", "商品数量", "单位", "实付金额", "直播ID"],
            ["o1", f"{now - timedelta(minutes=30):%Y-%m-%d %H:%M}", names["link"], names["big"], "2", "斤", "10.00", "m0"],
            ["o2", f"{now - timedelta(minutes=20):%Y-%m-%d %H:%M}", names["big"], names["link"], "3", "斤", "15.00", "m0"],
            ["o3", "2020-09-01 19:30", names["link"], names["big"], "2", "斤", "10.00", "m1"]]))
        assert set(server.store.read("sessions")["host_name"]) == {names["image"], names["link"]}
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        fetched: list[str] = []
        page.on("request", lambda request: fetched.append(request.url) if f":{port}" in request.url else None)
        for path in ("", "live?session=m0", "live?session=m1", "villages", "hosts", "upload", "alerts"):
            open_page(page, f"{server.url}/{path}")
            if path not in ("upload", "alerts"):  # charts draw (and images load) after the script has run
                page.wait_for_selector(".js-plotly-plot .main-svg")
            page.wait_for_timeout(500)
            assert _markup_on_page(page, port) == [], path
            assert fetched == [] and listener.asked == [], path
        open_page(page, f"{server.url}/live?session=m0")
        page.wait_for_selector(".js-plotly-plot .main-svg")
        # The host line and the products on the chart axis show the names as written.
        shown = [text.replace(WORD_JOINER, "") for text in page.locator("[data-testid='stMarkdown']").all_inner_texts()]
        assert any(f"{names['image']} {names['markdown_link']}" in text for text in shown), shown
        ticks = page.locator(".js-plotly-plot .ytick text").all_text_contents()
        assert names["link"] in ticks and names["big"] in ticks, ticks

        # A staff upload (this browser is on the server's machine) of a file whose name and header are markup.
        open_page(page, f"{server.url}/upload")
        name = f"{names['image']}.csv"
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(files=[{
            "name": name, "mimeType": "text/csv",
            "buffer": _csv([["直播ID", "直播标题", "主播", "平台", "开播时间", "下播时间", names["link"]],
                            ["u1", "上传", "赵", "抖音", "2020-09-06 19:00", "2020-09-06 20:00", "x"]])}])
        shown_name = name.replace("://", WORD_JOINER + "://")  # how plain() keeps the address from linking
        page.get_by_text("Unknown headers (kept out):", exact=False).wait_for(timeout=20_000)
        unknown = page.get_by_text("Unknown headers (kept out):", exact=False).inner_text().replace(WORD_JOINER, "")
        assert unknown == f"Unknown headers (kept out): {names['link']}"
        page.locator("[data-testid='stSelectbox']").filter(has_text="Host kind").click()
        page.get_by_role("option", name="Cadre-hosted").click()
        page.get_by_role("button", name=f"Commit {shown_name}").wait_for(timeout=20_000)
        page.get_by_role("button", name=f"Commit {shown_name}").click()
        expect(page.get_by_text(f"{shown_name}: 1 rows stored as batch", exact=False)).to_have_count(1)
        wait_ready(page)
        page.wait_for_timeout(500)
        assert _markup_on_page(page, port) == []
        shot(page, "hostile_markup_upload")
        assert fetched == [] and listener.asked == []
        context.close()
    finally:
        stop_server(server)
        listener.shutdown()


UPLOAD = """\
直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,观看人次
r1,改名测试,干部直播,赵书记,快手,2020-09-06 19:00,2020-09-06 21:00,40
"""


def test_another_site_pointed_at_this_machine_gets_no_app_and_no_rights(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding, with neither a password nor OIDC: a page of attacker.example whose name now resolves to
    127.0.0.1 connects from loopback, as a browser on this machine does; it carries its own name in Host."""
    from playwright.sync_api import expect

    chromium_path()
    server = start_server(tmp_path)
    port = server.url.rsplit(":", 1)[1]
    rebound = browser.browser_type.launch(executable_path=chromium_path(), headless=True, args=[
        *CHROMIUM_ARGS, "--host-resolver-rules=MAP attacker.example 127.0.0.1"])
    try:
        batches = server.store.batches().height
        page = rebound.new_context().new_page()
        open_page(page, f"http://attacker.example:{port}/upload")
        expect(page.get_by_text(i18n.t("unknown_host", host="attacker.example:" + port), exact=False)).to_have_count(1)
        assert page.locator("[data-testid='stFileUploader']").count() == 0
        assert page.get_by_text(i18n.t("page_upload")).count() == 0  # no page at all, so no data to read
        assert page.get_by_text("Retract").count() == 0
        # Nor can that page open the app's websocket by this machine's address: another origin
        # (server.enableCORS, on in .streamlit/config.toml).
        opened = page.evaluate("""(url) => new Promise(done => {
            const socket = new WebSocket(url, ['streamlit']);
            socket.onmessage = () => done('message');
            socket.onclose = () => done('closed');
            setTimeout(() => done('open, no message'), 8000);
        })""", f"ws://127.0.0.1:{port}/_stcore/stream")
        assert opened == "closed"
        # The same browser by this machine's own address is staff (the server's machine, no password).
        open_page(page, f"http://127.0.0.1:{port}/upload")
        page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(files=[{
            "name": "local.csv", "mimeType": "text/csv", "buffer": UPLOAD.encode("utf-8")}])
        page.get_by_role("button", name="Commit local.csv").click()
        expect(page.get_by_text("local.csv: 1 rows stored as batch", exact=False)).to_have_count(1)
        assert server.store.batches().height == batches + 1
    finally:
        rebound.close()
        stop_server(server)
    assert "refused a browser that asked for 'attacker.example:" in server.log.read_text(errors="replace")


# Streamlit's page opens its websocket with the subprotocols ["streamlit", XSRF token, last session id]; this
# makes a fresh browser resume the session whose id it was given, as one read from a proxy's access log.
RESUME = """(stolen) => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
        constructor(url, protocols) {
            if (String(url).includes('_stcore/stream') && Array.isArray(protocols)) {
                protocols = [protocols[0], protocols[1], stolen];
            }
            super(url, protocols);
        }
    };
}"""


def test_a_session_id_from_the_proxy_log_gives_no_staff_rights(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """Password mode: staff sign in and upload (the upload's URL, in the proxy's log, holds the session id);
    another browser that resumes that session by its id has the session, not the staff member's cookie."""
    from playwright.sync_api import expect

    chromium_path()
    password = "e2e-staff-pass"
    server = start_server(tmp_path, env={"RELIEF_LIVE_STAFF_PASSWORD": password})
    try:
        staff = browser.new_context().new_page()
        logged: list[str] = []
        staff.on("request", lambda r: logged.append(r.url) if "/_stcore/upload_file/" in r.url else None)
        open_page(staff, f"{server.url}/upload?lang=zh")  # the session is Chinese: seen again when resumed
        staff.get_by_label(i18n.t("password", "zh")).fill(password)
        staff.get_by_role("button", name=i18n.t("sign_in", "zh")).click()
        uploader = staff.locator("[data-testid='stFileUploader'] input[type=file]")
        uploader.wait_for(state="attached", timeout=20_000)
        uploader.set_input_files(files=[{"name": "staff.csv", "mimeType": "text/csv", "buffer": UPLOAD.encode()}])
        staff.get_by_role("button", name=i18n.t("commit", "zh", name="staff.csv")).wait_for(timeout=20_000)
        session_id = logged[0].split("/_stcore/upload_file/")[1].split("/")[0]
        staff.context.close()  # the staff member goes; the session waits to be resumed

        batches = server.store.batches()
        intruder = browser.new_context()
        intruder.add_init_script(f"({RESUME})({session_id!r})")
        page = intruder.new_page()
        open_page(page, f"{server.url}/upload")
        # The intruder is in the staff member's session (its language, chosen there, is Chinese)…
        expect(page.get_by_role("heading", name=i18n.t("page_upload", "zh"))).to_have_count(1)
        # …but has no staff rights: no uploader, no retract, asked for the password.
        expect(page.get_by_text(i18n.t("upload_denied", "zh"))).to_have_count(1)
        assert page.locator("[data-testid='stFileUploader']").count() == 0
        assert page.get_by_text(i18n.t("retract", "zh")).count() == 0
        expect(page.get_by_label(i18n.t("password", "zh"))).to_have_count(1)
        assert server.store.batches().equals(batches)
        intruder.close()
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


def test_hostile_files_through_the_upload_page_give_problems_or_a_commit_never_a_traceback(
        tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """The hostile-file corpus (tests/hostile) chosen one by one in the Upload page's file chooser of a real
    browser: a refused file shows its problems and no Commit button, an accepted one its Commit button; no
    page shows a traceback, and nothing is stored until a Commit."""
    from tests.hostile import corpus, workbooks

    chromium_path()
    server = start_server(tmp_path, load=False)
    try:
        page = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
        for case in [c for c in corpus() + workbooks() if c.data]:
            path = tmp_path / case.name
            path.write_bytes(case.data)
            open_page(page, f"{server.url}/upload")  # a new session: the chooser holds this file alone
            page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(path))
            page.wait_for_timeout(300)  # the rerun the chosen file starts
            wait_ready(page)
            commit = page.get_by_role("button", name=f"Commit {case.name}")
            problems = page.get_by_text("Problems: nothing from this file is stored until they are fixed")
            if case.refused:
                expect(problems).to_have_count(1, timeout=30_000)
                assert commit.count() == 0, case.name
            else:
                expect(commit).to_have_count(1, timeout=30_000)
                assert problems.count() == 0, case.name
            assert page.locator("[data-testid='stException']").count() == 0, case.name
        shot(page, "hostile_upload_last")
        assert server.store.batches().height == 0
        page.context.close()
    finally:
        stop_server(server)
