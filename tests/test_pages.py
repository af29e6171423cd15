"""Every page through Streamlit's AppTest: empty and loaded stores, URL state, rights, upload and retract."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from relief_live import auth, i18n
from relief_live.store import Store
from tests import dashboard_data
from tests.conftest import csv_bytes
from tests.dashboard_data import SHANGHAI

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["views/overview.py", "views/live.py", "views/villages.py", "views/hosts.py", "views/upload.py"]
PASSWORD = "s3cret-staff"


BROWSER = bytes(range(32)).hex()  # the token of Streamlit's XSRF cookie in the browser these tests stand for


@pytest.fixture(autouse=True)
def browser_cookie(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AppTest has no browser, so no cookies: each test stands for one browser holding Streamlit's XSRF cookie
    (change it to stand for another browser), with a throttle of its own."""
    cookies = {auth.XSRF_COOKIE: BROWSER}
    monkeypatch.setattr(auth, "_cookies", lambda: dict(cookies))
    monkeypatch.setattr(auth, "THROTTLE", auth.Throttle())
    return cookies


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'loaded.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    return url


@pytest.fixture
def loaded(loaded_db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RELIEF_LIVE_DB", loaded_db)
    # The store is written once for the module (live1's latest tick a minute before): an hour's silence limit
    # keeps live1 on air while the module's tests run.
    monkeypatch.setenv("RELIEF_LIVE_SILENT_MINUTES", "60")
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    monkeypatch.delenv("RELIEF_LIVE_STAFF_PASSWORD", raising=False)
    return loaded_db


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    monkeypatch.delenv("RELIEF_LIVE_STAFF_PASSWORD", raising=False)
    return Store(url)


def app(page: str = "views/overview.py", *, params: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None, password: str | None = None) -> AppTest:
    """The dashboard run on `page`; with `password`, signed in (sidebar form) on the first page first."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    for name, value in (secrets or {}).items():
        at.secrets[name] = value
    for name, value in (params or {}).items():
        at.query_params[name] = value
    at.run()
    if password is not None:
        _sign_in(at, password)
    if page != "views/overview.py":
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def share_link(at: AppTest) -> str:
    """The address the sidebar's share link points to."""
    shown = next(h.value for h in at.sidebar.html if "share-link" in h.value)
    return re.search(r'href="([^"]*)"', shown)[1]  # type: ignore[index]


def html_tables(at: AppTest) -> list[list[list[str]]]:
    """The plain tables of a page (ui.small_table), as rows of cell texts, the header row first."""
    tables = []
    for element in at.main.html:
        if "<table" in element.value:
            rows = re.findall(r"<tr>(.*?)</tr>", element.value)
            tables.append([[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r)]
                           for r in rows])
    return tables


@pytest.mark.parametrize("page", PAGES)
def test_page_on_an_empty_store_says_so(empty: Store, page: str) -> None:
    at = app(page)
    assert not at.error
    shown = [e.value for e in at.info]
    if page == "views/upload.py":
        assert i18n.t("no_history") in [c.value for c in at.main.caption]
    elif page in ("views/live.py", "views/hosts.py"):
        assert shown == [i18n.t("no_sessions")]
    else:
        assert shown == [i18n.t("empty_store")]


@pytest.mark.parametrize("page", PAGES[:4])
def test_page_on_a_loaded_store_draws_charts(loaded: str, page: str) -> None:
    at = app(page)
    assert not at.error
    assert charts(at) >= 1


def test_overview_numbers(loaded: str) -> None:
    from relief_live import metrics
    from relief_live.live import LiveFrames, now

    _, f = LiveFrames(Store(loaded)).refresh()
    report = metrics.build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], now=now())
    at = app()
    cards = {m.label: m.value for m in at.metric}
    assert cards["GMV"] == f"{report.totals['gmv'] / 100:,.0f} 元"
    assert cards["Orders"] == f"{report.totals['orders']:,}"
    assert cards["Unsold stock sold (value)"] == f"{report.totals['value_sell_through'] * 100:.1f}%"
    badges = [m.value for m in at.markdown if "-badge[" in m.value]
    assert badges == [":red-badge[:material/radio_button_checked: LIVE]"]  # live1, and only it, is on air


def test_live_page_picks_the_live_session_first_and_puts_it_in_the_url(loaded: str) -> None:
    at = app("views/live.py")
    assert at.selectbox(key="qp_session").value == "live1"
    assert at.query_params["session"] == "live1"
    assert at.caption[0].value.startswith("updated ")


def test_query_params_become_widget_state(loaded: str) -> None:
    at = app("views/live.py", params={"session": "tv1"})
    assert at.selectbox(key="qp_session").value == "tv1"
    assert at.metric[0].value.endswith("元")
    at = app("views/villages.py", params={"county": "紫金县", "status": "on_track"})
    assert at.multiselect(key="qp_county").value == ["紫金县"]
    assert at.multiselect(key="qp_status").value == ["on_track"]
    shown = at.dataframe[0].value
    assert set(shown["county"]) == {"紫金县"} and set(shown["status"]) == {"on track"}
    at = app("views/hosts.py", params={"rank": "gpm", "host_kind": "cadre"})
    assert at.selectbox(key="qp_rank").value == "gpm"
    assert at.multiselect(key="qp_host_kind").value == ["cadre"]
    assert list(at.dataframe[0].value["host_name"]) == ["李县长"]


def test_a_bad_param_falls_back_to_the_default(loaded: str) -> None:
    at = app("views/hosts.py", params={"rank": "nonsense", "lang": "fr"})
    assert at.selectbox(key="qp_rank").value == "gmv"
    assert at.title[0].value == "Hosts"


def test_choosing_a_filter_writes_the_url_and_the_share_link(loaded: str) -> None:
    at = app("views/hosts.py")
    at.selectbox(key="qp_rank").set_value("conversion").run()
    assert at.query_params["rank"] == "conversion"


def test_the_share_link_carries_the_url_params(loaded: str) -> None:
    at = app(params={"lang": "zh"})
    assert share_link(at) == "?lang=zh"  # AppTest has no browser address; the browser test checks it


def test_chinese(loaded: str) -> None:
    at = app(params={"lang": "zh"})
    assert at.title[0].value == "总览"
    assert [m.label for m in at.metric] == ["成交额", "订单数", "观看人数", "滞销货值售出比例", "带动农户数"]
    assert "lang=zh" in share_link(at)
    at = app("views/villages.py", params={"lang": "zh"})
    assert at.multiselect(key="qp_county").label == "县区"


def test_kiosk_has_no_sidebar_controls(loaded: str) -> None:
    at = app(params={"kiosk": "1"})
    assert len(at.sidebar.radio) == 0 and len(at.sidebar.code) == 0
    assert charts(at) >= 1


def test_viewer_without_rights_sees_no_upload_control(loaded: str) -> None:
    # AppTest's browser is not on the server's machine and nothing is configured: view only.
    at = app("views/upload.py")
    assert len(at.file_uploader) == 0
    assert at.info[0].value == i18n.t("upload_denied")
    assert len(at.checkbox) == 0 and not [b for b in at.button if "Retract" in b.label]
    assert len(at.dataframe[0].value) == Store(loaded).batches().height  # the history is visible


def _sign_in(at: AppTest, password: str) -> AppTest:
    at.sidebar.text_input(key="staff_password").input(password)
    next(b for b in at.sidebar.button if b.label == "Sign in").click()
    return at.run()


def test_wrong_password_is_refused(loaded: str) -> None:
    at = app(secrets={"staff_password": PASSWORD}, password="guess")
    assert at.sidebar.error[0].value == i18n.t("wrong_password")
    at.switch_page("views/upload.py").run()
    assert len(at.file_uploader) == 0


def test_a_session_resumed_by_another_browser_has_no_staff_rights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  browser_cookie: dict[str, str]) -> None:
    """The session id is in every upload's URL (and so in a proxy's log): another browser that resumes the
    session gets its state, but not the signed-in browser's cookie, so no upload, retract or demo clearing."""
    url = f"sqlite:///{tmp_path / 'takeover.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    assert len(at.file_uploader) == 1 and at.button(key="retract_go")
    browser_cookie[auth.XSRF_COOKIE] = bytes(32).hex()  # the same session, driven by another browser
    at.run()
    assert len(at.file_uploader) == 0 and at.info[0].value == i18n.t("upload_denied")
    assert not [b for b in at.button if b.key == "retract_go"]
    assert at.sidebar.text_input(key="staff_password")  # asked to sign in
    browser_cookie[auth.XSRF_COOKIE] = BROWSER  # back in the browser that signed in
    at.run()
    assert len(at.file_uploader) == 1


def test_sign_in_waits_after_five_wrong_passwords(loaded: str, caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_connection", lambda: ("203.0.113.9", {}))  # AppTest's client has no address
    at = app(secrets={"staff_password": PASSWORD})
    for _ in range(auth.FREE_FAILURES - 1):
        _sign_in(at, "guess")
        assert at.sidebar.error[0].value == i18n.t("wrong_password")
    _sign_in(at, "guess")
    assert at.sidebar.error[0].value == f"{i18n.t('wrong_password')} {i18n.t('sign_in_wait', seconds=1)}"
    _sign_in(at, PASSWORD)  # at once: even the right password waits its turn
    assert at.sidebar.error[0].value == i18n.t("sign_in_wait", seconds=1)
    at.switch_page("views/upload.py").run()
    assert len(at.file_uploader) == 0
    assert any(f"from '203.0.113.9' ({auth.FREE_FAILURES} in a row" in r.getMessage() for r in caplog.records)


BAD_SALES = """\
    订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID
    x1,2020-09-06 19:01:00,芒果,百色村,2,斤,20.00,tv1
    x2,2020-09-06 19:02:00,芒果,百色村,abc,斤,20.00,tv1
"""
GOOD_SESSIONS = """\
    直播ID,直播标题,主播,平台,开播时间,下播时间,成交订单数,成交金额
    up1,上传测试场,赵书记,快手,2020-09-06 19:00:00,2020-09-06 21:00:00,10,"12,345.60"
"""


def test_staff_upload_shows_problems_then_commits_a_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'upload.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    assert len(at.file_uploader) == 1

    at.file_uploader[0].set_value(("orders.csv", csv_bytes(BAD_SALES), "text/csv")).run()
    assert at.error[0].value == i18n.t("problems")
    problems = next(d.value for d in at.dataframe if "Line" in d.value.columns)
    first = problems.iloc[0]
    assert (first["Line"], first["Column"], first["Value"], first["Problem"]) == (3, "商品数量", "abc", "is not a number")
    assert not [b for b in at.button if b.label.startswith("Commit")]

    at.file_uploader[0].set_value(("sessions_up.csv", csv_bytes(GOOD_SESSIONS), "text/csv")).run()
    host_kind = at.selectbox(key="hk_1")  # the second file listed has no host kind: asked for
    host_kind.set_value("cadre").run()
    assert "sessions" in at.markdown[0].value or any("sessions" in m.value for m in at.markdown)
    shown = i18n.plain("sessions_up.csv")  # file names reach markdown escaped (sessions\_up\.csv)
    next(b for b in at.button if b.label == f"Commit {shown}").click().run()
    assert not at.exception
    assert at.success[0].value.startswith(f"{shown}: 1 rows stored as batch")
    up = store.read("sessions").filter(pl.col("session_id") == "up1").row(0, named=True)
    assert (up["host_kind"], up["gmv"], up["platform"]) == ("cadre", 1_234_560, "kuaishou")
    assert store.batches()["by"][-1] == "staff"

    at.switch_page("views/hosts.py").run()
    hosts = at.dataframe[0].value
    assert "赵书记" in set(hosts["host_name"])


def test_the_upload_page_in_chinese_says_each_problem_in_chinese(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _, at = _staff_upload(tmp_path, monkeypatch, lang="zh")
    at.file_uploader[0].set_value(("orders.csv", csv_bytes(BAD_SALES), "text/csv")).run()
    assert at.error[0].value == i18n.t("problems", "zh")
    problems = next(d.value for d in at.dataframe if "行" in d.value.columns)
    assert problems.iloc[0].to_dict() == {"行": 3, "列": "商品数量", "值": "abc", "问题": "不是数字"}
    # Kinds and the column a file lacks are named as a Chinese user knows them, with the headers that give it.
    at.file_uploader[0].set_value(("no_product.csv", csv_bytes(BAD_SALES.replace("商品名称", "商品名")), "text/csv")).run()
    problems = [d.value for d in at.dataframe if "行" in d.value.columns][-1]
    assert problems.iloc[0].to_dict() == {
        "行": 1, "列": None, "值": "订单编号, 下单时间, 商品名, 村, 商品数量, 单位, 实付金额, 直播ID",
        "问题": "是文件的表头：不符合任何已知的数据类型（场次、分钟走势、销售明细、滞销台账、商品目录）；最接近销售明细文件，"
              "但缺少以下列：“产品”（商品名称、商品、产品 …）"}


def test_the_upload_page_in_chinese_names_recognised_columns_in_chinese(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _, at = _staff_upload(tmp_path, monkeypatch, lang="zh")
    at.file_uploader[0].set_value(("sessions_up.csv", csv_bytes(GOOD_SESSIONS), "text/csv")).run()
    mapping = next(d.value for d in at.dataframe if "识别为" in d.value.columns)
    recognised = dict(zip(mapping["文件中的列"], mapping["识别为"], strict=True))
    # The staff member reads which of the dashboard's columns each header feeds, not its code name.
    assert recognised["开播时间"] == i18n.column_label("started_at", "zh") != "started_at"
    assert not [name for name in recognised.values() if name.isascii() and name != "—"], recognised


def _sessions_csv(*ids: str) -> bytes:
    return csv_bytes("直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,成交订单数,成交金额\n" + "".join(
        f"{sid},列表测试 {sid},干部直播,赵书记,快手,2020-09-06 19:00:00,2020-09-06 21:00:00,10,100.00\n" for sid in ids))


def _staff_upload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, lang: str = "en") -> tuple[Store, AppTest]:
    """A loaded store (no demo) and a staff member on its Upload page."""
    url = f"sqlite:///{tmp_path / 'list.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    if lang != "en":
        at.query_params["lang"] = lang
        at.run()
    return store, at


def _states(at: AppTest) -> list[str]:
    """The state badge of each listed file, in order (st.badge is markdown: ":colour-badge[:icon: text]")."""
    return [re.sub(r"^:\w+-badge\[(:[\w/]+: )?(.*)\]$", r"\2", m.value) for m in at.main.markdown
            if re.match(r"^:\w+-badge\[", m.value)]


def test_the_upload_list_keeps_each_file_s_state_and_messages_and_imports_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, at = _staff_upload(tmp_path, monkeypatch)
    sessions = store.read("sessions").height
    at.file_uploader[0].set_value([("a.csv", _sessions_csv("la1"), "text/csv"),
                                   ("bad.csv", csv_bytes(BAD_SALES), "text/csv"),
                                   ("b.csv", _sessions_csv("lb1", "lb2"), "text/csv")]).run()
    assert [h.value for h in at.main.subheader][1:] == ["a\\.csv", "bad\\.csv", "b\\.csv"]
    assert _states(at) == [i18n.t("upload_state_checked"), i18n.t("upload_state_rejected"),
                           i18n.t("upload_state_checked")]
    assert len(at.file_uploader) == 1 and not at.file_uploader[0].value  # the chooser is empty for the next files
    at.button(key="import_all").click().run()
    assert not at.exception
    assert store.read("sessions").height == sessions + 3
    first, second = store.batches()["batch"].to_list()[-2:]
    assert [m.value for m in at.success] == [f"a\\.csv: 1 rows stored as batch {first}.",
                                             f"b\\.csv: 2 rows stored as batch {second}."]
    assert _states(at) == [i18n.t("upload_state_imported"), i18n.t("upload_state_rejected"),
                           i18n.t("upload_state_imported")]
    # An imported file's Commit button is gone, its result in its place; the refused file keeps its problems.
    assert not [b for b in at.button if b.label.startswith("Commit") or b.key == "import_all"]
    assert at.error[0].value == i18n.t("problems")

    # More files later: the earlier messages stay until their files are removed from the list.
    at.file_uploader[0].set_value(("c.csv", _sessions_csv("lc1"), "text/csv")).run()
    at.button(key="commit_3").click().run()
    assert [m.value for m in at.success][:2] == [f"a\\.csv: 1 rows stored as batch {first}.",
                                                 f"b\\.csv: 2 rows stored as batch {second}."]
    assert at.success[2].value.startswith("c\\.csv: 1 rows stored as batch")
    at.file_uploader[0].set_value(("again.csv", _sessions_csv("la1"), "text/csv")).run()  # a.csv's bytes
    assert at.info[0].value == i18n.t("upload_already_listed", name="a\\.csv")
    assert len(_states(at)) == 4

    at.button(key="dismiss_imported").click().run()
    assert _states(at) == [i18n.t("upload_state_rejected")] and not at.success
    at.button(key="dismiss_1").click().run()
    assert _states(at) == [] and store.read("sessions").height == sessions + 4


TICKS_WITHOUT_SESSION = """\
    时间,实时在线人数,成交订单数
    2020-09-06 19:01:00,1200,3
    2020-09-06 19:02:00,1500,4
"""


def test_a_minute_trend_without_a_session_column_is_given_a_stored_session_from_a_list(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, at = _staff_upload(tmp_path, monkeypatch, lang="zh")
    at.file_uploader[0].set_value(("trend.csv", csv_bytes(TICKS_WITHOUT_SESSION), "text/csv")).run()
    assert _states(at) == [i18n.t("upload_state_needs", "zh")]
    assert not [b for b in at.button if b.key == "commit_0"]  # nothing to import into yet
    picker = at.selectbox(key="sid_0")
    assert picker.label == i18n.t("pick_session_for", "zh")
    # Every stored session, newest first, by title, host and start (Beijing time).
    stored = store.read("sessions").sort("started_at", descending=True)
    assert picker.options == [f"{r['title']} · {r['host_name']} · {r['started_at'].astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
                              for r in stored.iter_rows(named=True)]
    assert picker.options[-1].startswith("扶贫好物 第1期 · 王主持 · ")
    picker.set_value("cadre1").run()
    assert _states(at) == [i18n.t("upload_state_checked", "zh")]
    at.button(key="commit_0").click().run()
    assert at.success[0].value.startswith("trend\\.csv：已导入 2 行")
    ticks = store.read("ticks").filter(pl.col("batch") == store.last_batch())
    assert ticks["session_id"].to_list() == ["cadre1", "cadre1"] and ticks["viewers_online"].to_list() == [1200, 1500]


SHOP_ORDERS = """\
    订单编号,下单时间,商品名称,村,商品数量,单位,实付金额
    s1,2020-09-06 19:05:00,芒果,百色村,2,斤,16.00
"""


def test_order_lines_without_a_session_may_be_given_one_or_left_to_find_theirs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, at = _staff_upload(tmp_path, monkeypatch)
    at.file_uploader[0].set_value(("shop.csv", csv_bytes(SHOP_ORDERS), "text/csv")).run()
    assert _states(at) == [i18n.t("upload_state_checked")]  # importable as it is
    picker = at.selectbox(key="sid_0")
    assert picker.label == i18n.t("pick_session_optional") and picker.value is None
    picker.set_value("tv2").run()
    at.button(key="commit_0").click().run()
    sale = store.read("sales").filter(pl.col("order_id") == "s1").row(0, named=True)
    assert (sale["session_id"], sale["amount"]) == ("tv2", 1600)


@pytest.mark.parametrize(("lang", "said"), [
    ("en", "4 lines name no session: 2 find a stored session by host account and order time; 2 stay sessionless "
           "and still count for their village."),
    ("zh", "4 行订单未注明场次：2 行将按主播账号和下单时间归入已有场次，2 行不归入场次，仍计入所属村。"),
])
def test_a_shop_export_says_which_lines_find_a_session_instead_of_asking_for_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, said: str) -> None:
    from tests.test_exports import KUAISHOU_HEADERS, kuaishou_row
    store, at = _staff_upload(tmp_path, monkeypatch, lang=lang)
    [start] = store.read("sessions").filter(pl.col("session_id") == "cadre1")["started_at"].to_list()  # 60 minutes

    def at_minute(minutes: int) -> str:
        return f"{(start + timedelta(minutes=minutes)).astimezone(SHANGHAI):%Y-%m-%d %H:%M:%S}"

    county_head = ("3021456789", "李县长")  # the session's host, by nickname
    rows = [kuaishou_row(f"24141000123456{i:02}", at_minute(m), at_minute(m), "交易成功", "¥59.90", 1, "-", carrier,
                         promoter) for i, (m, carrier, promoter) in enumerate([
                             (5, "直播", county_head), (20, "直播", county_head),  # in the live room while on air
                             (25, "商品卡", None),  # through the product card: never the session's
                             (120, "直播", county_head)])]  # an hour after the session ended
    export = ("\ufeff" + ",".join(KUAISHOU_HEADERS) + "\n" + "\n".join(rows) + "\n").encode()
    at.file_uploader[0].set_value(("快手订单.csv", export, "text/csv")).run()
    assert not at.exception
    assert _states(at) == [i18n.t("upload_state_checked", lang)]
    assert not [s for s in at.selectbox if s.key == "sid_0"]  # no session is asked for
    assert [i.value for i in at.info] == [said]
    at.button(key="commit_0").click().run()
    assert store.read("sales").filter(pl.col("batch") == store.last_batch())["session_id"].null_count() == 4
    assert at.info[-1].value == i18n.t("upload_placed", lang, name=i18n.plain("快手订单.csv"), n="4", placed="2")


def test_a_misspelt_header_is_offered_the_alias_it_likely_means(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, at = _staff_upload(tmp_path, monkeypatch, lang="zh")
    misspelt = "直播ID,直播类型,开播时问,成交金额\ns1,干部直播,2020-09-06 19:00,10.00\n".encode()
    at.file_uploader[0].set_value(("typo.csv", misspelt, "text/csv")).run()
    assert at.warning[0].value == "表头“开播时问”未识别：是否应为“开播时间”？改正后请重新上传。"
    assert _states(at) == [i18n.t("upload_state_rejected", "zh")]
    problems = next(d.value for d in at.dataframe if i18n.t("problem_message", "zh") in d.value.columns)
    assert problems[i18n.t("problem_message", "zh")].iloc[0].endswith("表头“开播时问”是否应为“开播时间”？")


def test_the_first_upload_into_the_demo_asks_to_clear_the_demo_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.delenv("RELIEF_LIVE_AUTO_DEMO", raising=False)
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    store = Store(url)
    demo = store.batches().height
    assert demo and set(store.batches()["by"]) == {"demo"}
    at.file_uploader[0].set_value(("real.csv", _sessions_csv("real1"), "text/csv")).run()
    assert at.warning[0].value == i18n.t("demo_before_upload")
    assert at.button(key="commit_0").disabled  # not before staff say what becomes of the demo
    assert [o for o in at.radio(key="demo_choice").options] == [i18n.t("demo_choice_clear"), i18n.t("demo_choice_keep")]
    at.radio(key="demo_choice").set_value("clear").run()
    at.button(key="commit_0").click().run()
    assert at.info[0].value == i18n.t("demo_cleared_first", n=demo)
    assert at.success[0].value.startswith("real\\.csv: 1 rows stored as batch")
    assert store.read("sessions")["session_id"].to_list() == ["real1"]
    assert store.batches().filter(~pl.col("retracted"))["by"].to_list() == ["staff"]
    at.switch_page("views/overview.py").run()
    assert not [w for w in at.warning if w.value == i18n.t("demo_banner")]  # the banner went with the demo


def test_staff_who_keep_the_demo_import_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'kept.sqlite3'}"
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.delenv("RELIEF_LIVE_AUTO_DEMO", raising=False)
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    store = Store(url)
    demo = store.read("sessions").height
    at.file_uploader[0].set_value(("real.csv", _sessions_csv("real1"), "text/csv")).run()
    at.radio(key="demo_choice").set_value("keep").run()
    at.button(key="commit_0").click().run()
    assert not at.info and store.read("sessions").height == demo + 1
    assert store.batches()["retracted"].sum() == 0


def test_retract_needs_a_confirmation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'retract.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    last = store.last_batch()
    assert at.selectbox(key="retract_batch").value == last
    go = at.button(key="retract_go")
    assert go.disabled
    at.checkbox(key=f"retract_sure_{last}").check().run()
    at.button(key="retract_go").click().run()
    assert store.batches().filter(pl.col("batch") == last)["retracted"][0]
    assert at.success[0].value.startswith(f"Batch {last} (")


def test_first_run_loads_the_demo_marked_as_such_and_staff_can_clear_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.delenv("RELIEF_LIVE_AUTO_DEMO", raising=False)
    at = app(secrets={"staff_password": PASSWORD})
    store = Store(url)
    assert set(store.batches()["by"]) == {"demo"}
    assert at.warning[0].value == i18n.t("demo_banner")
    assert len(at.get("plotly_chart")) == 2
    assert not [b for b in at.button if b.label == i18n.t("clear_demo")]  # a viewer cannot clear it
    for page in PAGES[1:4]:
        at.switch_page(page).run()
        assert not at.exception and at.warning[0].value == i18n.t("demo_banner")
        assert len(at.get("plotly_chart")) >= 1
    at = app(secrets={"staff_password": PASSWORD}, password=PASSWORD)
    at.button(key="clear_demo").click().run()  # asks first
    demo = store.batches().height
    assert at.markdown[0].value == i18n.t("clear_demo_confirm", n=demo) and store.batches()["retracted"].sum() == 0
    at.button(key="clear_demo_cancel").click().run()  # and a change of mind leaves the demo as it was
    assert store.batches()["retracted"].sum() == 0 and at.button(key="clear_demo")
    at.button(key="clear_demo").click().run()
    at.button(key="clear_demo_yes").click().run()
    assert store.is_empty()
    assert not at.warning and at.info[0].value == i18n.t("empty_store")
    at.run()  # cleared stays cleared: the demo is loaded on the first run only
    assert store.is_empty()


def test_a_wall_screen_offers_no_demo_clearing_even_to_staff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIEF_LIVE_DB", f"sqlite:///{tmp_path / 'kiosk.sqlite3'}")
    monkeypatch.delenv("RELIEF_LIVE_AUTO_DEMO", raising=False)
    at = app(secrets={"staff_password": PASSWORD}, password=PASSWORD)
    assert at.button(key="clear_demo")
    at.query_params["kiosk"] = "1"  # the same signed-in browser turned into the wall screen
    at.run()
    assert not [b for b in at.button if b.key == "clear_demo"]


@pytest.mark.parametrize("page", ["views/overview.py", "views/villages.py"])
def test_tables_show_a_dash_not_none_for_a_missing_value(loaded: str, page: str) -> None:
    at = app(page)
    if page == "views/overview.py":  # plain tables (ui.small_table, whose dash tests/test_dashboard_units.py checks)
        assert html_tables(at) and "None" not in str(html_tables(at))
        return
    tables = at.dataframe
    assert tables  # a stalled village's clear date reads "—", not "None"
    assert {table.proto.placeholder for table in tables} == {"—"}


def test_overview_tables_list_the_top_and_the_stalled_villages(loaded: str) -> None:
    from relief_live import metrics, ui
    from relief_live.live import LiveFrames, now

    _, f = LiveFrames(Store(loaded)).refresh()
    villages = metrics.build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], now=now()).villages
    tables = html_tables(app())
    best = villages.sort("sell_through", descending=True, nulls_last=True).head(5)
    assert tables[0][0][:2] == [i18n.t("county"), i18n.t("village")]
    assert [row[1] for row in tables[0][1:]] == best["village"].to_list()
    assert [row[4] for row in tables[0][1:]] == [ui.percent(v) for v in best["sell_through"]]
    stalled = villages.filter(pl.col("status") == "stalled").sort("remaining_value", descending=True)
    shown = [(row[1], row[-1]) for row in tables[1][1:]] if len(tables) > 1 else []
    # Most remaining value first, in 元 or 万元.
    assert shown == [(v, ui.money(fen, "en")) for v, fen in stalled.select("village", "remaining_value").rows()]


def test_gmv_bars_follow_the_grain_and_the_dates_in_the_url(loaded: str) -> None:
    at = app()
    assert at.selectbox(key="qp_grain").value == "auto"
    whole = _chart(at, "gmv_per_day")
    assert whole["layout"]["title"]["text"].startswith("GMV per day")  # eight days of sessions: a bar a day
    first, last = at.date_input(key="qp_days").value
    assert (last - first).days == 8 and len(whole["data"][0]["x"]) == 9
    at = app(params={"grain": "week", "days": f"{last - timedelta(days=1)}..{last}"})
    assert at.date_input(key="qp_days").value == (last - timedelta(days=1), last)
    week = _chart(at, "gmv_per_day")
    assert week["layout"]["title"]["text"].startswith("GMV per week")
    assert len(week["data"][0]["x"]) in (1, 2)  # two days lie in one week or two
    # Only tv2 (yesterday) and the live session (today) are in those two days.
    assert sum(sum(trace["y"]) for trace in week["data"]) < sum(sum(trace["y"]) for trace in whole["data"])
    at = app(params={"days": "nonsense"})
    assert at.date_input(key="qp_days").value == (first, last)  # a bad range: the whole span


COMPARE_SESSIONS = """直播ID,直播标题,直播类型,主播,开播时间,下播时间,观看人次,观看人数,成交人数,成交金额
b1,一场,电视直播,甲,2020-09-06 19:00,2020-09-06 21:00,1000,500,10,1000
b2,二场,电视直播,乙,2020-09-07 19:00,2020-09-07 21:00,1000,500,10,2000
b3,三场,电视直播,丙,2020-09-08 19:00,2020-09-08 21:00,1000,500,10,3000
b4,四场,电视直播,丁,2020-09-09 19:00,2020-09-09 21:00,1000,500,10,4000
b5,五场,电视直播,戊,2020-09-10 19:00,2020-09-10 21:00,1000,500,10,1000000
b6,六场,干部直播,己,2020-09-11 19:00,2020-09-11 21:00,1000,500,10,500000
"""
COMPARE_SALES = """订单编号,下单时间,商品名称,商品数量,实付金额,直播ID
o1,2020-09-11 19:30,蜂蜜,1,10000,b6
,2020-09-11 19:30,蜂蜜,1,490000,b6
"""


def test_hosts_page_shows_each_figure_with_its_sessions_and_says_why_a_session_is_flagged(empty: Store) -> None:
    from relief_live import ingest

    empty.create()
    ingest.ingest_bytes(empty, "sessions.csv", COMPARE_SESSIONS.encode(), by="test")
    ingest.ingest_bytes(empty, "sales.csv", COMPARE_SALES.encode(), by="test")
    at = app("views/hosts.py", params={"lang": "zh"})
    [table] = html_tables(at)
    rows = {row[0]: row[1:] for row in table[1:]}
    assert table[0] == ["指标", "媒体/达人直播", "干部直播"]
    # Broadcast GPMs 1,000 to 4,000 元 and b5's 1,000,000 元 (beyond the spread: flagged).
    assert rows["GPM 中位数（元）"][0] == "3,000 元 (5 场)"
    assert rows["GPM 中位数（不含标记场次，元）"][0] == "2,500 元 (4 场)"
    assert rows["合计 GPM（不含标记，元）"][0] == "2,500 元"
    assert rows["合计 GPM（总成交额×1000/总观看人次，元）"][0] == "20.2 万元"  # 1,010,000 元 × 1000 / 5,000
    assert rows["标记场次"] == ["1", "1"]
    flagged = at.dataframe[-1].value
    assert list(flagged["title"]) == ["五场", "六场"]
    assert list(flagged["reason"]) == [
        "GPM 100.0 万元 远高于该类型通常的 2,000 元 至 4,000 元。",
        "成交额 50.0 万元，但订单明细合计只有 10,000 元（2.0%）：其余来自按商品汇总或平台汇总，并非单笔订单。"]


def test_a_live_session_says_how_fresh_its_data_is_and_a_silent_feed_is_no_longer_shown_live(
        empty: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live import ingest

    monkeypatch.setenv("RELIEF_LIVE_REFRESH_SECONDS", "30")  # late after a minute: a slow machine's seconds are not
    empty.create()
    now = datetime.now(UTC)
    start = dashboard_data._fmt(now - timedelta(minutes=20))
    ingest.ingest_bytes(empty, "sessions.csv", csv_bytes(
        f"直播ID,直播标题,直播类型,开播时间\nfresh,新场,干部直播,{start}\nslow,慢场,干部直播,{start}\n"
        f"quiet,停场,干部直播,{start}\n"), by="test")
    for sid, age in (("fresh", timedelta(seconds=5)), ("slow", timedelta(minutes=2)), ("quiet", timedelta(minutes=4))):
        ingest.ingest_bytes(empty, f"{sid}.csv", csv_bytes(
            f"时间,实时在线人数\n{dashboard_data._fmt(now - age)},100\n"), session_id=sid, by="test")

    def badges(at: AppTest) -> list[str]:
        return [m.value for m in at.markdown if "-badge[" in m.value]

    fresh = badges(app("views/live.py", params={"session": "fresh", "lang": "zh"}))
    assert re.fullmatch(r":gray-badge\[:material/schedule: 最新数据 \d+ 秒前\]", fresh[0]) and "直播中" in fresh[1]
    # Two minutes without a row: late (amber), still live.
    slow = badges(app("views/live.py", params={"session": "slow", "lang": "zh"}))
    assert slow[0] == ":orange-badge[:material/schedule: 最新数据 2 分钟前]" and "直播中" in slow[1]
    # Nothing new for four minutes: the feed has stopped; the page says so, in red, and drops LIVE.
    quiet = app("views/live.py", params={"session": "quiet", "lang": "zh"})
    assert badges(quiet) == [":red-badge[:material/schedule: 数据中断 4 分钟]"]
    # Nor is it live in the session picker or among the Overview's sessions on air.
    on_air = sorted(o.split(" · ")[1] for o in quiet.selectbox[0].options if o.startswith("● 直播中 · "))
    assert len(quiet.selectbox[0].options) == 3 and on_air == ["慢场", "新场"]
    overview = app(params={"lang": "zh"})
    assert sum("直播中" in b for b in badges(overview)) == 2
    listed = [h.proto.body for h in overview.get("html") if any(title in h.proto.body for title in ("新场", "慢场", "停场"))]
    assert len(listed) == 2 and not any("停场" in body for body in listed)


STATUS_STOCK = """村,产品,滞销数量,单位,登记日期,单价
售完村,蜂蜜,100,斤,2020-08-01,10
滞销村,蜂蜜,1000,斤,2020-08-01,10
小滞销村,茶叶,50,斤,2020-08-01,10
将完村,蜂蜜,100,斤,2020-08-01,10
慢村,蜂蜜,10000,斤,2020-08-01,10
正常村,蜂蜜,1000,斤,2020-08-01,10
"""
# The latest sale (09-14) is the data's clock, years before the test runs; 10 元 a 斤.
STATUS_SALES = """订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID
1,2020-08-10 12:00,蜂蜜,售完村,100,斤,1000,s1
2,2020-08-10 12:00,蜂蜜,滞销村,100,斤,1000,s1
3,2020-08-10 12:00,茶叶,小滞销村,10,斤,100,s1
4,2020-08-10 12:00,蜂蜜,将完村,95,斤,950,s1
5,2020-09-10 12:00,蜂蜜,慢村,14,斤,140,s1
6,2020-09-14 12:00,蜂蜜,正常村,140,斤,1400,s1
"""


@pytest.fixture
def statuses(empty: Store) -> Store:
    from relief_live import ingest

    empty.create()
    ingest.ingest_bytes(empty, "stock.csv", STATUS_STOCK.encode(), by="test")
    ingest.ingest_bytes(empty, "sales.csv", STATUS_SALES.encode(), by="test")
    return empty


def test_the_wall_screen_shows_the_programme_when_no_session_is_live(statuses: Store) -> None:
    at = app(params={"kiosk": "1", "lang": "zh"})
    walls = [h.value for h in at.main.html if "wall-gmv" in h.value]
    assert walls and "0 元" in walls[0]  # no session: no GMV yet, said as a figure, not a blank
    assert [m.label for m in at.metric] == ["订单数", "观看人数", "场次", "滞销货值售出比例", "带动农户数"]
    assert not at.selectbox and not at.multiselect and not at.button and not at.date_input  # no controls
    board = html_tables(at)[0]  # the villages with most value left first
    assert [row[0] for row in board[1:]] == ["慢村", "滞销村", "正常村", "小滞销村", "将完村", "售完村"][:8]


def test_the_wall_screen_cycles_through_the_sessions_on_air(empty: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live import ingest, wall

    empty.create()
    now = datetime.now(UTC)
    start = dashboard_data._fmt(now - timedelta(minutes=20))
    ingest.ingest_bytes(empty, "sessions.csv", csv_bytes(
        f"直播ID,直播标题,直播类型,开播时间,成交金额\na,甲村专场,干部直播,{start},100\nb,乙村专场,干部直播,{start},200\n"),
        by="test")
    for sid in ("a", "b"):
        ingest.ingest_bytes(empty, f"{sid}.csv", csv_bytes(
            f"时间,实时在线人数\n{dashboard_data._fmt(now - timedelta(seconds=5))},100\n"), session_id=sid, by="test")

    def shown(turn: int, **params: str) -> str:
        monkeypatch.setattr(wall, "slot", lambda: turn)
        at = app(params={"kiosk": "1", "lang": "zh", **params})
        return next(h.value for h in at.main.html if "wall-title" in h.value)

    assert "甲村专场" in shown(0) and "乙村专场" in shown(1) and "甲村专场" in shown(2)
    assert "乙村专场" in shown(0, session="b")  # a link's session holds the screen


def test_villages_page_shows_each_status_most_remaining_value_first(statuses: Store) -> None:
    at = app("views/villages.py", params={"lang": "zh"})
    shown = at.dataframe[0].value
    # Remaining: 慢村 9,986 斤, 滞销村 900, 正常村 860, 小滞销村 40, 将完村 5, 售完村 0 (at 10 元).
    assert list(shown["village"]) == ["慢村", "滞销村", "正常村", "小滞销村", "将完村", "售完村"]
    assert [float(v) for v in shown["remaining_value"]] == [99_860.0, 9_000.0, 8_600.0, 400.0, 50.0, 0.0]
    assert list(shown["status"]) == ["有售不完风险", "滞销未动", "正常销售", "滞销未动", "有售不完风险", "已售完"]
    # A date 27 years out is not a plan: the at-risk villages say so instead.
    assert list(shown["projected_clear_date"].fillna("—")) == ["按当前速度难以售完", "—", "2020-12-09", "—",
                                                               "按当前速度难以售完", "—"]


def test_overview_lists_the_stalled_villages_most_remaining_value_first(statuses: Store) -> None:
    tables = html_tables(app(params={"lang": "zh"}))
    stalled = [(row[1], row[-1]) for row in tables[1][1:]]
    assert stalled == [("滞销村", "9,000 元"), ("小滞销村", "400 元")]
    assert tables[1][0][-1] == i18n.t("remaining_value", "zh")


def _chart(at: AppTest, key: str) -> dict:
    """The figure of the chart `key` as the page sends it."""
    return json.loads(next(c.proto.spec for c in at.get("plotly_chart") if key in c.proto.id))


def test_charts_shared_by_visitors_follow_each_visitors_filters(loaded: str) -> None:
    def villages_drawn(at: AppTest) -> set[str]:
        return {label.split(" · ")[0] for trace in _chart(at, "village_progress")["data"] for label in trace["y"]}

    def hosts_drawn(at: AppTest) -> set[str]:
        return {v for trace in _chart(at, "hosts_ranked")["data"] for v in [*trace["x"], *trace["y"]]
                if isinstance(v, str)}

    everything = app("views/villages.py")
    zijin = app("views/villages.py", params={"county": "紫金县"})
    assert villages_drawn(everything) == {"百色村", "紫金村", "新田村"}
    assert villages_drawn(zijin) == {"紫金村", "新田村"}
    assert villages_drawn(app("views/villages.py")) == villages_drawn(everything)
    every_host = hosts_drawn(app("views/hosts.py"))
    assert "李县长" in every_host and "王主持" in every_host
    cadre = app("views/hosts.py", params={"host_kind": "cadre"})
    assert "李县长" in hosts_drawn(cadre) and "王主持" not in hosts_drawn(cadre)


def test_overview_charts_are_made_once_for_every_visitor_until_the_store_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plotly takes ~50 ms to build a figure: the overview's are made once per report and language and shared by
    every visitor. A new batch makes them again, and they show it."""
    from relief_live import charts as charts_module
    from relief_live import ingest, ui

    url = f"sqlite:///{tmp_path / 'visited.sqlite3'}"  # a store of its own: no figure of another test is held
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    monkeypatch.delenv("RELIEF_LIVE_STAFF_PASSWORD", raising=False)
    this_minute = ui.minute()
    monkeypatch.setattr(ui, "minute", lambda: this_minute)  # the report (what is live) is kept for a minute
    made: list[str] = []

    def counting(name: str):  # type: ignore[no-untyped-def]
        real = getattr(charts_module, name)

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            made.append(name)
            return real(*args, **kwargs)
        return counted

    for name in ("gmv_per_day", "host_compare"):
        monkeypatch.setattr(charts_module, name, counting(name))

    first, second = app(), app()
    assert sorted(made) == ["gmv_per_day", "host_compare"]  # for the first visitor; the second got the same
    assert _chart(second, "gmv_per_day") == _chart(first, "gmv_per_day")
    assert charts(second) == 2

    def bars_total(at: AppTest) -> float:
        return sum(sum(trace["y"]) for trace in _chart(at, "gmv_per_day")["data"])

    start = datetime.now(UTC) - timedelta(days=2)
    ingest.ingest_bytes(store, "tv3.csv", csv_bytes(
        "直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,成交金额\n"
        f"tv3,扶贫好物 第4期,电视直播,王主持,电视,{dashboard_data._fmt(start)},"
        f"{dashboard_data._fmt(start + timedelta(hours=1))},90000.00\n"), by="test")
    third = app()
    assert sorted(made) == ["gmv_per_day", "gmv_per_day", "host_compare", "host_compare"]
    assert bars_total(third) > bars_total(first)  # the new session's 90,000 元 is in the bars
    assert {m.label: m.value for m in third.metric}["GMV"] != {m.label: m.value for m in first.metric}["GMV"]


def test_sign_in_without_the_xsrf_cookie_says_why(loaded: str, browser_cookie: dict[str, str]) -> None:
    browser_cookie.clear()  # cookies blocked, or XSRF protection off: nothing to bind a sign-in to
    at = app(secrets={"staff_password": PASSWORD}, password=PASSWORD)
    assert at.sidebar.error[0].value == i18n.t("sign_in_needs_cookies")
    at.switch_page("views/upload.py").run()
    assert len(at.file_uploader) == 0


def test_villages_page_says_how_many_lines_and_how_much_money_each_catalogue_route_tied(empty: Store) -> None:
    from relief_live import ingest
    from tests.test_exports import CATALOGUE_CSV, LEDGER_CSV, PDD_HEADER, PDD_ROWS, doudian_csv

    empty.create()
    for name, data in (("台账.csv", LEDGER_CSV.encode("gbk")), ("产品名录.csv", CATALOGUE_CSV.encode()),
                       ("订单导出.csv", doudian_csv()),
                       ("拼多多.csv", ("\n".join([PDD_HEADER, *PDD_ROWS]) + "\n").encode("gbk"))):
        ingest.ingest_bytes(empty, name, data, by="test")
    at = app("views/villages.py", params={"lang": "zh"})
    assert "销售归属到村的途径" in [s.value for s in at.subheader]
    split = at.dataframe[-2].value  # each village's sales by channel (拼多多's export gives none)
    assert [(r.village, r.channel, float(r.amount)) for r in split.itertuples()] == [
        ("乙村", "直播", 39.9), ("甲村", "商品卡", 1198.0), ("甲村", "直播", 119.8)]
    routes = at.dataframe[-1].value
    assert list(routes["route"]) == ["商家编码", "平台商品ID"]
    assert list(routes["lines"]) == [8, 1]
    assert [float(v) for v in routes["amount"]] == [1537.4, 39.9]


@pytest.mark.parametrize("case", ["missing folder", "damaged file", "unreadable url"])
def test_a_store_that_cannot_be_opened_is_said_on_the_page_not_a_traceback(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"this is not a database " * 400)
    url = {"missing folder": f"sqlite:///{tmp_path / 'no-such-folder' / 'store.sqlite3'}",
           "damaged file": f"sqlite:///{damaged}",
           "unreadable url": "not a url at all"}[case]
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params["lang"] = "zh"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [error] = [e.value for e in at.error]
    assert error.startswith("无法打开数据库") and "RELIEF_LIVE_DB" in error
    # Why, in the page's language (the database's own English words are not what a staff member reads).
    why = {"missing folder": "文件夹", "damaged file": "数据库文件已损坏", "unreadable url": "数据库地址无法识别"}[case]
    assert why in error, error
    assert "does not exist" not in error and "not a database" not in error and "cannot be read" not in error
    assert not at.metric  # nothing that looks like a figure
    assert not (tmp_path / "no-such-folder").exists()  # no store made where none was asked for


def test_first_run_villages_page_shows_the_demo_shops_lines_by_route_and_by_channel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.delenv("RELIEF_LIVE_AUTO_DEMO", raising=False)
    at = app("views/villages.py", params={"lang": "zh"})
    assert not at.exception
    routes = at.dataframe[-1].value
    assert list(routes["route"]) == ["文件自带村名", "商家编码", "平台商品ID", "商品标题", "未匹配"]
    assert routes["lines"].sum() == Store(url).read("sales").height  # every line goes one way, once
    split = at.dataframe[-2].value
    assert set(split["channel"]) == {"直播", "商品卡", "短视频"}


def test_files_the_watcher_rejected_show_on_the_live_and_upload_pages_in_chinese_until_fixed_or_dismissed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live import rejections, ui
    from relief_live.watch import Watcher

    url = f"sqlite:///{tmp_path / 'rejected.sqlite3'}"
    store = Store(url)
    store.create()
    dashboard_data.load(store)
    for name, value in (("RELIEF_LIVE_DB", url), ("RELIEF_LIVE_AUTO_DEMO", "0"), ("RELIEF_LIVE_SILENT_MINUTES", "60")):
        monkeypatch.setenv(name, value)
    folder = tmp_path / "导出"
    folder.mkdir()
    trend, orders = folder / "分钟走势.csv", folder / "订单.csv"
    trend.write_text("时间,实时在线人数\n2020-09-15 19:01,100\n2020-09-15 19:02,很多\n", encoding="utf-8")
    orders.write_text("订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
                      "x1,2020-09-15 19:01,蜂蜜,甲村,两斤,斤,20.00,live1\n", encoding="utf-8")
    watcher = Watcher(store, folder, session_id="live1", log=lambda line: None)
    watcher.poll()

    def shown(at: AppTest) -> tuple[str, list[str], list[tuple]]:
        """The rejections' heading, each file's line and every problem (行, 列, 问题) as the page shows them."""
        (box,) = [e for e in at.expander if e.label.startswith("文件夹监控拒收的文件")]
        files = [m.value for m in box.markdown if "拒收于" in m.value]
        rows = [tuple(r) for frame in box.dataframe for r in frame.value[["行", "列", "问题"]].itertuples(index=False)]
        return box.label, files, rows

    ui._rejections.clear()
    label, files, rows = shown(app("views/live.py", params={"session": "live1", "lang": "zh"}))
    assert label == "文件夹监控拒收的文件（2 个）"
    # File names are the uploaders' text: shown as text (i18n.plain), never as markdown.
    assert sorted(f.split(" · ")[0] for f in files) == [f"**{i18n.plain('分钟走势.csv')}**", f"**{i18n.plain('订单.csv')}**"]
    assert sorted(rows) == [(2, "商品数量", "不是数字"), (3, "实时在线人数", "不是数字")]

    trend.write_text("时间,实时在线人数\n2020-09-15 19:01,100\n2020-09-15 19:02,120\n", encoding="utf-8")  # fixed
    watcher.poll()
    ui._rejections.clear()
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)  # signed in (in English)
    at.query_params["lang"] = "zh"
    at.run()
    label, files, rows = shown(at)
    assert (label, rows) == ("文件夹监控拒收的文件（1 个）", [(2, "商品数量", "不是数字")])
    assert files[0].startswith(f"**{i18n.plain('订单.csv')}** · 拒收于 ")
    at.button(key="watch_rejected_0").click().run()  # staff dismiss it
    assert not [e for e in at.expander if e.label.startswith("文件夹监控拒收的文件")]
    assert at.success[0].value.startswith(f"{i18n.plain('订单.csv')}：已忽略。")
    assert rejections.current(store).height == 0
