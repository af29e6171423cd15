"""抖店/罗盘's one-session live workbook (直播复盘): one session and its product totals, read with no flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from relief_live import ingest
from relief_live.read import Rejected
from relief_live.store import Store
from tests.conftest import sqlite_store, workbook_bytes
from tests.test_exports import CATALOGUE_CSV, LEDGER_CSV, doudian_csv, report_of
from tests.test_pages import (  # noqa: F401 (fixtures: empty, and browser_cookie: the pages' browser cookies)
    app,
    browser_cookie,
    empty,
)

ROOM = "7425123456789012345"
# 抖音来客's live list of the same broadcast: it gives the host kind the workbook does not.
LIVE_LIST = ("直播间标题,房间号,直播类型,开播时间,关播时间,人气峰值,直播间成交人数,直播间成交金额\n"
             f"赣南脐橙助农专场,{ROOM},干部直播,2024-10-17 19:00,2024-10-17 21:30,1234,287,\"12,345.60\"\n")




def luopan(**change: list[list]) -> bytes:
    """A 直播复盘 export of one session: its sheets in an order of their own (each is found by what it holds), a
    title line above each table, `【…】` section rows, `-` for empty, money with ¥ and thousands separators."""
    sheets = {
        "商品讲解": [
            ["赣南脐橙助农专场 商品讲解"],
            ["商品名称", "讲解次数", "商品曝光-点击率", "商品点击-成交转化率"],
            ["赣南脐橙 10斤礼盒装 现摘现发", 6, "12.3%", "8.1%"],
            ["赣南猕猴桃 5斤", 2, "9.8%", "-"],
        ],
        "货品明细": [
            ["赣南脐橙助农专场 货品明细"],
            ["商品ID", "商品名称", "直播间价格", "成交件数", "用户支付金额", "退款金额"],
            ["3588491772611", "赣南脐橙 10斤礼盒装 现摘现发", "¥59.90", "26", "¥1,557.40", "¥59.90"],
            ["3588491772612", "赣南猕猴桃 5斤", "¥39.90", "3", "¥119.70", "-"],
        ],
        "场次概览": [
            ["赣南脐橙助农专场 直播复盘"],
            ["【基础信息】"],
            ["直播标题", "赣南脐橙助农专场"],
            ["主播昵称", "赣南老表"],
            ["房间号", ROOM],
            ["开播时间", "2024-10-17 19:00:00"],
            ["关播时间", "2024-10-17 21:30:00"],
            ["直播时长", "2小时30分"],
            ["【观看】"],
            ["观看人数", "1.2万"],
            ["最高在线人数", "1,234"],
            ["平均在线人数", "356"],
        ],
        "核心指标": [
            ["核心指标"],
            ["直播间成交金额", "成交订单数", "成交人数", "观看人次", "新增粉丝数", "千次观看成交金额"],
            ["¥12,345.60", "312", "287", "2.5万", "1,024", "¥493.82"],
        ],
        "渠道流量": [
            ["流量渠道", "观看人次", "成交金额"],
            ["自然推荐", "15,000", "¥8,000.00"],
            ["短视频引流", "10,000", "¥4,345.60"],
        ],
    }
    return workbook_bytes(sheets | change)


def store_with_live_list(tmp_path: Path) -> Store:
    store = sqlite_store(tmp_path)
    ingest.ingest_bytes(store, "直播列表.csv", LIVE_LIST.encode())
    return store


def test_the_workbook_is_one_session_and_its_product_totals_with_no_flags(tmp_path: Path) -> None:
    store, data = store_with_live_list(tmp_path), luopan()
    result = ingest.ingest_bytes(store, "直播复盘.xlsx", data)
    assert (result.kind, result.rows, result.status) == ("sessions", 1, "ingested")
    [products] = result.also
    assert (products.kind, products.rows, products.batch) == ("sales", 2, result.batch + 1)
    [session] = store.read("sessions").iter_rows(named=True)
    assert session["session_id"] == session["room_id"] == ROOM
    assert (session["title"], session["host_name"], session["host_kind"]) == ("赣南脐橙助农专场", "赣南老表", "cadre")
    assert (session["ended_at"] - session["started_at"]).total_seconds() == 2.5 * 3600
    assert session["started_at"].isoformat() == "2024-10-17T11:00:00+00:00"
    assert (session["gmv"], session["orders"], session["buyers"]) == (1234560, 312, 287)
    assert (session["viewers"], session["views"], session["peak_viewers"], session["avg_viewers"]) == (
        12000, 25000, 1234, 356)
    assert session["new_followers"] == 1024
    sales = store.read("sales").sort("line")
    assert sales.select("session_id", "product_id", "product", "quantity", "amount", "refund", "basis").rows() == [
        (ROOM, "3588491772611", "赣南脐橙 10斤礼盒装 现摘现发", 26.0, 155740, 5990, "session_totals"),
        (ROOM, "3588491772612", "赣南猕猴桃 5斤", 3.0, 11970, None, "session_totals")]
    assert sales["line"].to_list() == [3, 4]  # the lines of the 货品明细 sheet, below its title line
    # the same file again stores nothing
    again = ingest.ingest_bytes(store, "直播复盘.xlsx", data)
    assert again.status == "unchanged" and again.also[0].status == "unchanged"
    assert store.read("sales").height == 2


def test_the_live_page_shows_new_followers_once_the_workbook_gives_them(empty: Store) -> None:  # noqa: F811
    empty.create()
    ingest.ingest_bytes(empty, "直播列表.csv", LIVE_LIST.encode())  # the live list has no 新增粉丝

    def cards() -> dict[str, str]:
        at = app("views/live.py", params={"session": ROOM, "lang": "zh"})
        return {metric.label: metric.value for metric in at.metric}

    assert "新增粉丝" not in cards() and cards()["最高在线人数"] == "1,234"  # unknown: no card, not a 0
    ingest.ingest_bytes(empty, "直播复盘.xlsx", luopan())
    shown = cards()
    assert shown["新增粉丝"] == "1,024" and shown["订单数"] == "312"


def test_product_totals_move_the_villages_until_the_shop_s_order_lines_of_that_session_come(tmp_path: Path) -> None:
    store = store_with_live_list(tmp_path)
    for name, data in (("台账.csv", LEDGER_CSV.encode("gbk")), ("产品名录.csv", CATALOGUE_CSV.encode())):
        ingest.ingest_bytes(store, name, data)
    ingest.ingest_bytes(store, "直播复盘.xlsx", luopan())
    villages = {row["product"]: row for row in report_of(store).villages.iter_rows(named=True)}
    # 26 packs of 10斤 (the catalogue's 商品ID 3588491772611) and 3 of 5斤, at the session's start
    assert (villages["脐橙"]["sold_qty"], villages["脐橙"]["sold_value"]) == (260.0, 155740)
    assert villages["脐橙"]["refunded_value"] == 5990
    assert (villages["猕猴桃"]["sold_qty"], villages["猕猴桃"]["sold_value"]) == (15.0, 11970)
    assert villages["脐橙"]["sell_through"] == pytest.approx(260 / 2000)
    # The shop's order export: its live-room lines of 赣南老表 between 19:00 and 21:30 find this session, and then
    # count for the villages instead of the totals (which hold the same sales); the 商品卡 line counts as ever.
    ingest.ingest_bytes(store, "订单导出.csv", doudian_csv())
    report = report_of(store)
    villages = {row["product"]: row for row in report.villages.iter_rows(named=True)}
    assert (villages["脐橙"]["sold_qty"], villages["脐橙"]["sold_value"]) == (20.0 + 200.0, 11980 + 119800)
    assert villages["脐橙"]["refunded_value"] == 5990  # the closed 短视频 line's, not the totals'
    assert (villages["猕猴桃"]["sold_qty"], villages["猕猴桃"]["sold_value"]) == (5.0, 3990)
    [session] = report.sessions.iter_rows(named=True)
    assert session["gmv"] == 1234560  # the workbook's own figure
    assert session["order_gmv"] == 11980 + 3990


def test_totals_of_a_session_count_for_its_gmv_when_nothing_else_gives_it() -> None:
    from relief_live.metrics.sessions import settle_totals
    from tests.test_metrics import frame

    sales = frame("sales",
                  {"session_id": "s1", "product": "脐橙", "quantity": 2.0, "amount": 100, "basis": "session_totals"},
                  {"session_id": "s2", "product": "脐橙", "quantity": 2.0, "amount": 100, "basis": "session_totals"},
                  {"session_id": "s2", "order_id": "A", "product": "脐橙", "quantity": 1.0, "amount": 50})
    assert settle_totals(sales)["status"].to_list() == [None, "covered", None]


def test_a_workbook_without_a_host_kind_anywhere_asks_for_one(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    with pytest.raises(Rejected) as rejected:
        ingest.ingest_bytes(store, "直播复盘.xlsx", luopan())
    assert "host_kind" in str(rejected.value) and "--host-kind" in str(rejected.value)
    assert store.read("sessions").height == 0 and store.read("sales").height == 0
    result = ingest.ingest_bytes(store, "直播复盘.xlsx", luopan(), host_kind="达人直播")
    assert store.read("sessions")["host_kind"].to_list() == ["broadcast"] and result.also[0].rows == 2


def test_two_sheets_that_disagree_are_refused_naming_both() -> None:
    data = luopan(核心指标=[["直播间成交金额", "成交订单数"], ["¥12,345.60", "312"]],
                  场次概览=[["开播时间", "2024-10-17 19:00"], ["直播间成交金额", "12,000.00"], ["房间号", ROOM],
                            ["直播类型", "干部直播"]])
    with pytest.raises(Rejected) as rejected:
        ingest.parse("直播复盘.xlsx", data)
    assert '"12,000.00"' in str(rejected.value) and '"¥12,345.60"' in str(rejected.value)


def test_a_products_sheet_alone_is_the_totals_of_the_session_its_file_name_names(tmp_path: Path) -> None:
    store = store_with_live_list(tmp_path)
    products = workbook_bytes({"货品明细": [["商品名称", "直播间价格", "成交件数", "用户支付金额", "退款金额"],
                                      ["赣南脐橙 10斤礼盒装 现摘现发", "¥59.90", "26", "¥1,557.40", "-"]]})
    result = ingest.ingest_bytes(store, f"货品明细_{ROOM}.xlsx", products)
    assert (result.kind, result.rows) == ("sales", 1)
    assert store.read("sales").select("session_id", "amount", "basis").row(0) == (ROOM, 155740, "session_totals")
    # a name that names no stored session: the session is asked for (the Upload page's picker, --session-id)
    kiwi = workbook_bytes({"货品明细": [["商品名称", "直播间价格", "成交件数", "用户支付金额", "退款金额"],
                                  ["赣南猕猴桃 5斤", "¥39.90", "3", "¥119.70", "-"]]})
    inspection = ingest.inspect_bytes("货品明细.xlsx", kiwi, store=store)
    assert inspection.kind == "sales" and "session_id" in inspection.needs
    assert ingest.inspect_bytes(f"货品明细_{ROOM}.xlsx", kiwi, store=store).needs == set()
    with pytest.raises(Rejected) as rejected:
        ingest.ingest_bytes(store, "货品明细.xlsx", kiwi)
    assert "names no session" in str(rejected.value) and store.read("sales").height == 1
    ingest.ingest_bytes(store, "货品明细.xlsx", kiwi, session_id=ROOM)
    assert store.read("sales").sort("line", "amount")["session_id"].to_list() == [ROOM, ROOM]


def test_the_cli_says_both_batches_of_a_workbook(tmp_path: Path, capsys) -> None:
    from relief_live.__main__ import main

    (tmp_path / "直播列表.csv").write_text(LIVE_LIST, encoding="utf-8")
    (tmp_path / "直播复盘.xlsx").write_bytes(luopan())
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    assert main(["ingest", "--db", db, str(tmp_path / "直播列表.csv"), str(tmp_path / "直播复盘.xlsx")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [f"ingested: {tmp_path / '直播复盘.xlsx'} (sessions, 1 rows, batch 2)",
                       f"ingested: {tmp_path / '直播复盘.xlsx'} (sales, 2 rows, batch 3)"]


def test_a_workbook_keeps_what_the_stored_session_says_and_it_does_not(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest.ingest_bytes(store, "场次.csv", ("直播ID,直播类型,达人ID,职务,平台,县区,开播时间\n"
                                            f"{ROOM},县长直播,7592255573464597541,县长,抖音,于都县,2024-10-17 19:00\n").encode())
    ingest.ingest_bytes(store, "直播复盘.xlsx", luopan())
    [session] = store.read("sessions").iter_rows(named=True)
    assert (session["host_kind"], session["host_id"], session["host_role"], session["platform"], session["county"]) == (
        "cadre", "7592255573464597541", "县长", "douyin", "于都县")
    assert (session["title"], session["gmv"]) == ("赣南脐橙助农专场", 1234560)  # the workbook's own


def test_a_host_kind_given_that_is_none_is_refused_in_both_languages(tmp_path: Path) -> None:
    with pytest.raises(Rejected) as rejected:
        ingest.ingest_bytes(sqlite_store(tmp_path), "直播复盘.xlsx", luopan(), host_kind="网络主播")
    [problem] = rejected.value.problems
    assert problem.message == '"网络主播" is not a host kind: use broadcast or cadre'
    assert "网络主播" in problem.text("zh")


def test_the_upload_page_stores_a_workbook_s_session_and_totals_saying_each(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live import i18n
    from tests.test_pages import PASSWORD, app

    url = f"sqlite:///{tmp_path / 'upload.sqlite3'}"
    store = Store(url)
    store.create()
    ingest.ingest_bytes(store, "直播列表.csv", LIVE_LIST.encode())
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    at.file_uploader[0].set_value(("直播复盘.xlsx", luopan(), xlsx)).run()
    assert not at.error, [e.value for e in at.error]
    shown = i18n.plain("直播复盘.xlsx")
    next(b for b in at.button if b.label == f"Commit {shown}").click().run()
    assert not at.exception
    said = [s.value for s in at.success]
    assert said[:2] == [f"{shown}: 1 rows stored as batch 2.", f"{shown}: 2 rows stored as batch 3."]
    assert store.read("sales")["basis"].to_list() == ["session_totals"] * 2
