"""The shops' order exports as they come (抖店, 拼多多, 淘宝/千牛, 天猫): read with no flags, and what they count."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_live import demo, ingest, schema
from relief_live.metrics.report import build_report
from relief_live.read import Rejected
from relief_live.store import Store
from tests.conftest import sqlite_store, workbook_bytes

NOW = datetime(2024, 10, 20, tzinfo=UTC)

# 抖店 订单管理 export, 商品维度 (one row a sub-order): a selection of its columns in its order. Ids come
# tab-wrapped (so that Excel keeps their digits), empty cells are `-`, 商品金额 is the unit price.
DOUDIAN_HEADER = ("主订单编号,子订单编号,选购商品,商品规格,商品数量,商品ID,商家编码,商品金额,订单应付金额,运费,"
                  "订单提交时间,支付完成时间,订单完成时间,订单状态,售后状态,取消原因,达人ID,达人昵称,流量来源")
DOUDIAN_ROWS = (
    # an order of two lines, completed
    '"\t6917926768823643751","\t6917926768823643752","\t赣南脐橙 10斤礼盒装 现摘现发","\t10斤装",2,'
    '"\t3588491772611","\tGN-QC-10",59.90,119.80,0.00,2024-10-17 19:05:11,2024-10-17 19:05:30,'
    '2024-10-19 10:00:00,已完成,-,,"\t7592255573464597541",赣南老表,直播',
    '"\t6917926768823643751","\t6917926768823643753","\t赣南猕猴桃 5斤","\t5斤装",1,'
    '"\t3588491772612","\tGN-MHT-5",39.90,39.90,0.00,2024-10-17 19:05:11,2024-10-17 19:05:30,'
    '2024-10-19 10:00:00,已完成,-,,"\t7592255573464597541",赣南老表,直播',
    # paid, then refunded in full and closed: a refund, no sale
    '"\t6917926768823643760","\t6917926768823643761","\t赣南脐橙 10斤礼盒装 现摘现发","\t10斤装",1,'
    '"\t3588491772611","\tGN-QC-10",59.90,59.90,0.00,2024-10-17 19:20:00,2024-10-17 19:20:09,'
    '-,已关闭,退款成功,,"\t7592255573464597541",赣南老表,短视频',
    # never paid: cancelled
    '"\t6917926768823643770","\t6917926768823643771","\t赣南脐橙 10斤礼盒装 现摘现发","\t10斤装",1,'
    '"\t3588491772611","\tGN-QC-10",59.90,59.90,0.00,2024-10-17 19:30:00,-,'
    '-,已关闭,-,超时未支付,"\t7592255573464597541",赣南老表,直播',
    # waiting to ship, a large order with a thousands separator
    '"\t6917926768823643780","\t6917926768823643781","\t赣南脐橙 10斤礼盒装 现摘现发","\t10斤装",20,'
    '"\t3588491772611","\tGN-QC-10",59.90,"1,198.00",0.00,2024-10-17 19:41:00,2024-10-17 19:41:20,'
    '-,待发货,-,,-,-,商品卡',
)


def doudian_csv() -> bytes:
    return ("\ufeff" + DOUDIAN_HEADER + "\n" + "\n".join(DOUDIAN_ROWS) + "\n").encode("utf-8")


def doudian_resaved_gbk() -> bytes:
    """The same file after Excel opened and saved it: GBK, times without seconds, the tabs gone."""
    rows = [r.replace("\t", "").replace("2024-10-17 ", "2024/10/17 ").replace("2024-10-19 ", "2024/10/19 ")
            for r in DOUDIAN_ROWS]
    rows = [",".join(cell[:-3] if cell.startswith("2024/") else cell for cell in row.split(",")) for row in rows]
    return (DOUDIAN_HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode("gbk")


def report_of(store: Store):
    return build_report(store.read("sessions"), store.read("ticks"), store.read("sales"), store.read("stock"),
                        store.read("catalogue"), now=NOW)


def test_doudian_export_reads_with_no_flags_orders_lines_statuses_and_ids() -> None:
    mapping, frame = ingest.parse("订单导出.csv", doudian_csv())
    assert (mapping.kind, mapping.shape) == ("sales", "抖店 订单导出 (商品维度)")
    assert frame.height == 5  # lines
    assert frame["order_id"].to_list()[:2] == ["6917926768823643751"] * 2  # the tab is gone
    assert frame["line_id"].to_list()[:2] == ["6917926768823643752", "6917926768823643753"]
    assert frame["product"][0] == "赣南脐橙 10斤礼盒装 现摘现发"
    assert frame["status"].to_list() == ["sale", "sale", "refunded", "cancelled", "sale"]
    # 订单应付金额 is the line's amount; 商品金额 (a unit price) never is
    assert frame["amount"].to_list() == [11980, 3990, 5990, 5990, 119800]
    assert frame["refund"].to_list() == [None, None, 5990, None, None]
    assert frame["channel"].to_list() == ["直播", "直播", "短视频", "直播", "商品卡"]
    assert frame["host_id"].to_list() == ["7592255573464597541"] * 4 + [None]  # `-` is empty
    assert frame["sku"][0] == "GN-QC-10" and frame["product_id"][0] == "3588491772611"
    assert frame["session_id"].null_count() == 5  # a shop export names no session


def test_doudian_orders_count_main_ids_and_gmv_leaves_out_closed_lines(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    ingest.ingest_bytes(store, "订单导出.csv", doudian_csv(), session_id="S1")  # given, to see a session's figures
    [session] = report_of(store).sessions.filter(pl.col("session_id") == "S1").iter_rows(named=True)
    assert session["orders"] == 2  # two paid orders: three lines; not five lines, not four main ids
    assert session["gmv"] == 11980 + 3990 + 119800


def test_a_shop_export_and_its_excel_resave_count_nothing_twice(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    first = ingest.ingest_bytes(store, "订单导出.csv", doudian_csv())
    again = ingest.ingest_bytes(store, "订单导出_excel.csv", doudian_resaved_gbk())
    assert (first.rows, again.rows, again.status) == (5, 5, "ingested")
    sales = store.read("sales")
    assert sales.height == 5  # the re-save's lines replace the first file's, key by key
    assert sales["batch"].unique().to_list() == [again.batch]
    assert sales.filter(pl.col("status") == "sale")["amount"].sum() == 11980 + 3990 + 119800
    assert sales["ts"][0] == datetime(2024, 10, 17, 11, 5, tzinfo=UTC)  # 19:05 in Shanghai, seconds dropped


def test_an_id_in_scientific_notation_is_refused_naming_the_column() -> None:
    damaged = doudian_resaved_gbk().replace(b"6917926768823643751", b"6.91793E+18")
    with pytest.raises(Rejected) as caught:
        ingest.parse("订单导出_excel.csv", damaged)
    first = str(caught.value.problems[0])
    assert first.startswith('订单导出_excel.csv line 2, column 主订单编号: "6.91793E+18" is an id in scientific notation')
    assert "export the file again with this column as text" in first
    assert caught.value.total == 2  # both lines of the damaged order


# 拼多多 order export (one row an order), its headers as the shop back office writes them.
PDD_HEADER = ("商品,订单号,订单状态,商品总价(元),店铺优惠折扣(元),平台优惠折扣(元),用户实付金额(元),商家实收金额(元),"
              "商品数量(件),发货时间,确认收货时间,商品id,商品规格,售后状态,快递单号,快递公司,订单成交时间,商家编码-规格维度")
PDD_ROWS = (
    "赣南脐橙 10斤,241017-601234567890123,已签收,59.90,5.00,0.00,54.90,54.90,1,2024-10-18 09:00:00,"
    "2024-10-19 15:00:00,431234567,10斤装,无售后,YT100200300,圆通快递,2024-10-17 20:01:02,GN-QC-10",
    "赣南脐橙 10斤,241017-601234567890124,\"已发货，待签收\",119.80,0.00,10.00,109.80,119.80,2,2024-10-18 09:00:00,"
    ",431234567,10斤装,无售后,YT100200301,圆通快递,2024-10-17 20:03:00,GN-QC-10",
    "赣南脐橙 10斤,241017-601234567890125,\"未发货，退款成功\",59.90,5.00,0.00,54.90,54.90,1,,"
    ",431234567,10斤装,退款成功,,,2024-10-17 20:04:00,GN-QC-10",
    "赣南脐橙 10斤,241017-601234567890126,待发货,59.90,5.00,0.00,54.90,54.90,1,,"
    ",431234567,10斤装,退款中,,,2024-10-17 20:05:00,GN-QC-10",
)


def test_pinduoduo_export_reads_paid_amounts_and_refunds(tmp_path: Path) -> None:
    data = ("\n".join([PDD_HEADER, *PDD_ROWS]) + "\n").encode("gbk")
    mapping, frame = ingest.parse("拼多多订单.csv", data)
    assert mapping.shape == "拼多多 订单导出"
    assert frame["status"].to_list() == ["sale", "sale", "refunded", "sale"]  # a refund under way is still a sale
    assert frame["amount"].to_list() == [5490, 10980, 5490, 5490]  # 用户实付金额, not 商品总价
    assert frame["refund"].to_list() == [None, None, 5490, None]
    assert frame["sku"][0] == "GN-QC-10" and frame["quantity"].to_list() == [1.0, 2.0, 1.0, 1.0]
    store = sqlite_store(tmp_path)
    ingest.ingest_bytes(store, "拼多多订单.csv", data, session_id="P1")
    [session] = report_of(store).sessions.filter(pl.col("session_id") == "P1").iter_rows(named=True)
    assert (session["orders"], session["gmv"]) == (3, 5490 + 10980 + 5490)


# 淘宝/千牛 订单报表: one row an order, 69 columns, ids and titles as ="…", header cells with trailing spaces.
TAOBAO_HEADERS = demo.TAOBAO_HEADERS  # as the shop's tool writes them (three with a trailing space)


def taobao_row(order: str, paid: str, status: str, created: str, paid_at: str, title: str, qty: str,
               refund: str) -> str:
    cells = dict.fromkeys(TAOBAO_HEADERS, "")
    cells.update({"订单编号": f'="{order}"', "买家会员名": "tb1234567", "买家实际支付金额": paid, "订单状态": status,
                  "订单创建时间": created, "订单付款时间": paid_at, "宝贝标题 ": f'="{title}"', "宝贝种类 ": "1",
                  "宝贝总数量": qty, "店铺名称": "赣南脐橙助农店", "退款金额": refund, "主订单编号": f'="{order}"'})
    return ",".join(cells.values())


def test_taobao_order_report_unwraps_ids_and_counts_closed_orders_as_refunds_or_nothing() -> None:
    rows = [
        taobao_row("2093847561234567890", "119.80", "交易成功", "2024-10-17 19:10:00", "2024-10-17 19:10:30",
                   "赣南脐橙 10斤礼盒装", "2", "0.00"),
        taobao_row("2093847561234567891", "59.90", "交易关闭", "2024-10-17 19:12:00", "2024-10-17 19:12:20",
                   "赣南脐橙 10斤礼盒装", "1", "59.90"),
        taobao_row("2093847561234567892", "59.90", "交易关闭", "2024-10-17 19:13:00", "",
                   "赣南脐橙 10斤礼盒装", "1", "0.00"),
        taobao_row("2093847561234567893", "\"1,078.20\"", "卖家已发货，等待买家确认", "2024-10-17 19:15:00",
                   "2024-10-17 19:15:10", "赣南脐橙 10斤礼盒装", "18", "10.00"),
    ]
    data = (",".join(TAOBAO_HEADERS) + "\n" + "\n".join(rows) + "\n").encode("gbk")
    mapping, frame = ingest.parse("ExportOrderList.csv", data)
    assert mapping.shape == "淘宝/千牛 订单报表"
    assert "主订单编号" in mapping.unknown  # 订单编号 is the order: the other id column is left aside, said so
    assert frame["order_id"][0] == "2093847561234567890" and frame["product"][0] == "赣南脐橙 10斤礼盒装"
    assert frame["status"].to_list() == ["sale", "refunded", "cancelled", "sale"]
    assert frame["refund"].to_list() == [0, 5990, 0, 1000]  # a partial refund stays on its sale
    assert frame["amount"].to_list() == [11980, 5990, 5990, 107820]
    assert frame["quantity"].to_list() == [2.0, 1.0, 1.0, 18.0]


def test_taobao_item_report_takes_price_times_quantity_never_the_price_as_amount() -> None:
    text = ("订单编号,标题,价格,购买数量,商家编码,订单状态\n"
            '="2093847561234567890",赣南脐橙 10斤礼盒装,59.90,2,GN-QC-10,交易成功\n'
            '="2093847561234567890",赣南猕猴桃 5斤,39.90,1,GN-MHT-5,交易成功\n'
            '="2093847561234567894",赣南脐橙 10斤礼盒装,59.90,1,GN-QC-10,等待买家付款\n')
    mapping, frame = ingest.parse("ExportOrderDetailList.csv", text.encode("gbk"))
    assert mapping.shape == "淘宝/千牛 宝贝报表"
    assert frame["amount"].to_list() == [11980, 3990, 5990]
    assert frame["order_id"].to_list() == ["2093847561234567890"] * 2 + ["2093847561234567894"]
    assert frame["status"].to_list() == ["sale", "sale", "cancelled"]


def test_an_order_status_not_in_the_vocabulary_is_refused_with_its_line() -> None:
    text = DOUDIAN_HEADER + "\n" + DOUDIAN_ROWS[0].replace(",已完成,", ",已冻结,") + "\n"
    with pytest.raises(Rejected) as caught:
        ingest.parse("订单导出.csv", text.encode())
    [problem] = caught.value.problems
    assert str(problem).startswith('订单导出.csv line 2, column 订单状态: "已冻结" is not a status this dashboard knows')


def test_a_hand_made_sales_file_with_unit_prices_gets_amounts_and_ids_unwrapped() -> None:
    text = ("订单号,子订单号,商品名称,单价,数量,订单状态\n"
            "'100234,'100234-1,脐橙,¥59.90,3,已完成\n"
            "'100234,'100234-2,脐橙,\"¥1,059.90\",1,已完成\n")
    _, frame = ingest.parse("手工.csv", text.encode())
    assert frame["order_id"].to_list() == ["100234", "100234"]
    assert frame["line_id"].to_list() == ["100234-1", "100234-2"]
    assert frame["amount"].to_list() == [17970, 105990]


# Statuses of a 抖店 line as (订单状态, 售后状态, paid), and what the line is then.
_DOUDIAN_CASES = {
    ("已完成", "-", True): "sale", ("待发货", "-", True): "sale", ("已发货", "退款中", True): "sale",
    ("已关闭", "退款成功", True): "refunded", ("已完成", "售后完成", True): "refunded",
    ("已关闭", "-", False): "cancelled", ("待付款", "-", False): "cancelled",
}


@st.composite
def doudian_exports(draw: st.DrawFn) -> tuple[bytes, list[dict]]:
    """A 抖店 export of random orders (1-3 lines each, each line its own status), and its lines as expected."""
    lines, rows = [], []
    for order in range(draw(st.integers(1, 12))):
        main = f"69179267688236{order:05d}"
        for line in range(draw(st.integers(1, 3))):
            (status, after, paid), outcome = draw(st.sampled_from(sorted(_DOUDIAN_CASES.items())))
            qty, price = draw(st.integers(1, 30)), draw(st.integers(1, 99_999))  # price in fen
            amount = price * qty
            sku = draw(st.sampled_from(["GN-QC-10", "-", ""]))  # a code, or none
            pid = draw(st.sampled_from(["3588491772611", "-"]))  # the platform's product id, or none
            paid_at = "2024-10-17 19:05:30" if paid else "-"
            rows.append(f'"\t{main}","\t{main}{line}","\t赣南脐橙 精品果","\t10斤装",{qty},"\t{pid}","\t{sku}",'
                        f'{price / 100:.2f},"{amount / 100:,.2f}",0.00,2024-10-17 19:05:11,{paid_at},-,'
                        f'{status},{after},,-,-,直播')
            lines.append({"order": main, "amount": amount, "status": outcome, "qty": qty,
                          "matched": sku == "GN-QC-10" or pid == "3588491772611"})
    return ("\ufeff" + DOUDIAN_HEADER + "\n" + "\n".join(rows) + "\n").encode(), lines


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(export=doudian_exports())
def test_random_doudian_exports_count_orders_gmv_and_refunds_as_their_lines_say(tmp_path: Path, export) -> None:
    data, lines = export
    _, frame = ingest.parse("订单导出.csv", data)
    assert frame.height == len(lines)
    assert frame["status"].to_list() == [line["status"] for line in lines]
    refunded = sum(line["amount"] for line in lines if line["status"] == "refunded")
    assert (frame["refund"].sum() or 0) == refunded
    sales = [line for line in lines if line["status"] == "sale"]
    sold = frame.with_columns(session_id=pl.lit("S"), batch=pl.lit(1, pl.Int64))
    report = build_report(_no("sessions"), _no("ticks"), sold, _no("stock"), now=NOW)
    [session] = report.sessions.iter_rows(named=True)
    assert session["orders"] == len({line["order"] for line in sales})
    assert session["gmv"] == sum(line["amount"] for line in sales)


def _no(kind: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema.frame_schema(kind))


@pytest.mark.parametrize("repeat", [1, 600])  # a column of few distinct cells, and one of many
def test_text_and_ids_lose_spreadsheet_wrappers_and_empty_marks_are_empty(repeat: int) -> None:
    from relief_live import read
    cells = ['="2093847561234567890"', "\t6917926768823643751", "'100234", " - ", "—", '="赣南脐橙 10斤"', "甲村"]
    column = pl.Series(cells * repeat)
    want = ["2093847561234567890", "6917926768823643751", "'100234", None, None, "赣南脐橙 10斤", "甲村"]
    assert read.parse_text(column).to_list() == want * repeat
    want[2] = "100234"  # an id also loses the leading ' that kept a spreadsheet from reading it as a number
    assert read.parse_id(column)[0].to_list() == want * repeat
    ids, scientific = read.parse_id(pl.Series(["6.9311E+18", "\t6931100000000000000", "-"]))
    assert (ids.to_list(), scientific.to_list()) == (["6.9311E+18", "6931100000000000000", None], [True, False, False])


@pytest.mark.parametrize("repeat", [1, 600])
def test_text_keeps_a_lone_equals_apostrophe_or_quote_of_its_own(repeat: int) -> None:
    """Only a wrapper round the whole cell is a spreadsheet's: a name that starts with = or ' is stored as written."""
    from relief_live import read
    cells = ['=HYPERLINK("http://127.0.0.1/","点我")', "'; DROP TABLE sales; --", '"精品"苹果', '苹果"特级"', "'乙村'"]
    assert read.parse_text(pl.Series(cells * repeat)).to_list() == cells * repeat


SESSIONS_CSV = ("直播ID,直播标题,直播类型,主播昵称,达人ID,开播时间,下播时间\n"
                "DY-1017,赣南脐橙助农专场,达人直播,赣南老表,7592255573464597541,2024-10-17 19:00:00,2024-10-17 21:00:00\n")


def test_shop_lines_find_their_session_by_host_account_and_time(tmp_path: Path, capsys) -> None:
    from relief_live.__main__ import main
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    (tmp_path / "sessions.csv").write_text(SESSIONS_CSV, encoding="utf-8")
    (tmp_path / "订单导出.csv").write_bytes(doudian_csv())
    assert main(["ingest", "--db", db, str(tmp_path / "sessions.csv"), str(tmp_path / "订单导出.csv")]) == 0
    out = capsys.readouterr().out
    # three live-room lines by 赣南老表 between 19:05 and 19:30 fall in the session; a short-video line of the
    # same account at the same time does not, nor a line that names no account
    assert "5 lines name no session: 3 found one by host account and time, 2 stay sessionless" in out
    store = Store(db)
    [session] = report_of(store).sessions.iter_rows(named=True)
    assert session["session_id"] == "DY-1017"
    assert (session["orders"], session["gmv"]) == (1, 11980 + 3990)  # the refunded and cancelled lines are no sales
    assert store.read("sales")["session_id"].null_count() == 5  # the store keeps the lines as the file gave them


def test_a_large_shop_export_finds_its_sessions_piece_by_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large export's sessionless lines are placed piece by piece while it is written: the counts are the file's."""
    from relief_live import read
    store = sqlite_store(tmp_path)
    ingest.ingest_bytes(store, "sessions.csv", SESSIONS_CSV.encode())
    copies = 200  # the five lines again and again, each copy its own orders: 3 of every 5 in the session
    rows = [row.replace("\t69179267688236437", f"\t69179267{copy:04d}36437") for copy in range(copies) for row in DOUDIAN_ROWS]
    data = ("\ufeff" + DOUDIAN_HEADER + "\n" + "\n".join(rows) + "\n").encode()
    monkeypatch.setattr(read, "PIECE_BYTES", 16 * 1024)
    assert len(read.csv_pieces("订单导出.csv", data) or []) > 5
    result = ingest.ingest_bytes(store, "订单导出.csv", data)
    assert (result.rows, result.sessionless, result.placed) == (5 * copies, 5 * copies, 3 * copies)


def test_a_session_found_by_host_name_and_a_line_outside_every_session(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    sessions = ("直播ID,直播类型,主播昵称,开播时间,下播时间\n"
                "DY-A,达人直播,赣南老表,2024-10-17 19:00:00,2024-10-17 19:35:00\n"
                "DY-B,达人直播,别的主播,2024-10-17 19:00:00,2024-10-17 23:00:00\n")
    ingest.ingest_bytes(store, "sessions.csv", sessions.encode())
    # a file without 达人ID: the nickname decides; 19:41 is after DY-A ended
    text = DOUDIAN_HEADER.replace(",达人ID", "") + "\n" + "\n".join(
        row.replace(',"\t7592255573464597541"', "").replace(",-,-,商品卡", ",赣南老表,商品卡") for row in DOUDIAN_ROWS) + "\n"
    result = ingest.ingest_bytes(store, "订单导出.csv", text.encode())
    assert (result.sessionless, result.placed) == (5, 3)  # 19:41 is after DY-A ended; 短视频 is no live line
    report = report_of(store)
    by_id = {row["session_id"]: row for row in report.sessions.iter_rows(named=True)}
    assert by_id["DY-A"]["gmv"] == 11980 + 3990 and "DY-B" in by_id and by_id["DY-B"]["gmv"] is None


LEDGER_CSV = ("县区,村名,品名,滞销数量,单位,统计日期,带贫户数\n"
              "于都县,甲村,脐橙,2000,斤,2024-10-01,35\n"
              "于都县,乙村,猕猴桃,500,斤,2024-10-01,12\n")
CATALOGUE_CSV = ("商品ID,商家编码,商品名称,县区,村名,品名,规格,带贫户数\n"
                 "3588491772611,GN-QC-10,赣南脐橙 10斤礼盒装 现摘现发,于都县,甲村,脐橙,10斤,35\n"
                 "3588491772612,-,赣南猕猴桃 5斤,于都县,乙村,猕猴桃,5斤,12\n"
                 "-,-,赣南脐橙 10斤礼盒装,于都县,甲村,脐橙,5kg,35\n")


def catalogued_store(tmp_path: Path) -> Store:
    store = sqlite_store(tmp_path)
    for name, data in (("台账.csv", LEDGER_CSV.encode("gbk")), ("产品名录.csv", CATALOGUE_CSV.encode())):
        ingest.ingest_bytes(store, name, data)
    return store


def test_the_catalogue_is_a_kind_of_its_own_with_pack_weights_in_kilograms() -> None:
    mapping, frame = ingest.parse("产品名录.csv", CATALOGUE_CSV.encode())
    assert mapping.kind == "catalogue"
    assert frame.select("sku", "product_id", "village", "product", "pack_kg").rows() == [
        ("GN-QC-10", "3588491772611", "甲村", "脐橙", 5.0), (None, "3588491772612", "乙村", "猕猴桃", 2.5),
        (None, None, "甲村", "脐橙", 5.0)]


def test_doudian_and_pinduoduo_exports_of_the_same_products_sell_through_the_ledger(tmp_path: Path) -> None:
    store = catalogued_store(tmp_path)
    ingest.ingest_bytes(store, "订单导出.csv", doudian_csv())
    ingest.ingest_bytes(store, "拼多多订单.csv", ("\n".join([PDD_HEADER, *PDD_ROWS]) + "\n").encode("gbk"))
    report = report_of(store)
    villages = {row["product"]: row for row in report.villages.iter_rows(named=True)}
    # 脐橙 by 商家编码 GN-QC-10, 10斤 a pack: 抖店 2 + 20 packs sold (one line refunded, one never paid),
    # 拼多多 1 + 2 + 1 (one refunded): 26 packs = 260斤 of 2000斤
    orange = villages["脐橙"]
    assert (orange["village"], orange["sold_qty"], orange["sell_through"]) == ("甲村", 260.0, 0.13)
    assert orange["sold_value"] == 11980 + 119800 + 5490 + 10980 + 5490
    assert orange["refunded_value"] == 5990 + 5490  # the refunded lines' paid amounts; the unpaid one is nothing
    # 猕猴桃 by 商品ID (its 商家编码 is in no catalogue row): one 5斤 pack
    assert (villages["猕猴桃"]["sold_qty"], villages["猕猴桃"]["sold_value"]) == (5.0, 3990)
    routes = {row["route"]: (row["lines"], row["amount"]) for row in report.routes.iter_rows(named=True)}
    assert routes == {"sku": (8, 11980 + 119800 + 5490 + 10980 + 5490), "product_id": (1, 3990)}
    assert report.unattributed.height == 0


def test_a_title_matches_the_catalogue_and_every_line_is_counted_somewhere(tmp_path: Path) -> None:
    store = catalogued_store(tmp_path)
    rows = [
        taobao_row("2093847561234567890", "119.80", "交易成功", "2024-10-17 19:10:00", "2024-10-17 19:10:30",
                   "赣南脐橙 10斤礼盒装", "2", "0.00"),
        taobao_row("2093847561234567891", "59.90", "交易关闭", "2024-10-17 19:12:00", "2024-10-17 19:12:20",
                   "赣南脐橙 10斤礼盒装", "1", "59.90"),
        taobao_row("2093847561234567892", "59.90", "交易关闭", "2024-10-17 19:13:00", "",
                   "赣南脐橙 10斤礼盒装", "1", "0.00"),
        taobao_row("2093847561234567893", "29.90", "交易成功", "2024-10-17 19:15:00", "2024-10-17 19:15:10",
                   "赣南蜜柚 单果装", "1", "0.00"),  # in no catalogue row
    ]
    data = (",".join(TAOBAO_HEADERS) + "\n" + "\n".join(rows) + "\n").encode("gbk")
    ingest.ingest_bytes(store, "ExportOrderList.csv", data)
    report = report_of(store)
    [orange] = report.villages.filter(pl.col("product") == "脐橙").iter_rows(named=True)
    assert (orange["sold_qty"], orange["sold_value"], orange["refunded_value"]) == (20.0, 11980, 5990)
    [apart] = report.unattributed.iter_rows(named=True)
    assert (apart["product"], apart["reason"]) == ("赣南蜜柚 单果装", "no village given; no baseline has this product")
    routes = {row["route"]: (row["lines"], row["amount"]) for row in report.routes.iter_rows(named=True)}
    assert routes == {"title": (3, 11980), "none": (1, 2990)}
    # No line is lost: sales in villages + refunded + cancelled + unattributed sales = the file's lines.
    statuses = store.read("sales")["status"].to_list()
    assert (int(report.villages["sales_rows"].sum()) + statuses.count("refunded") + statuses.count("cancelled")
            + report.unattributed.height) == len(rows)


def test_a_file_of_no_kind_says_which_kind_it_comes_closest_to_and_what_it_misses() -> None:
    with pytest.raises(Rejected) as caught:
        ingest.parse("f.csv", "商品名称,村名,收件人\n芒果,甲村,张三\n".encode())
    [problem] = caught.value.problems
    assert str(problem) == (
        'f.csv line 1: "商品名称, 村名, 收件人" are the headers: they fit no known kind of file (sessions, ticks, '
        "sales, stock, catalogue); it comes closest to a sales file, which needs a column quantity (商品数量, 成交件数, "
        "数量 …) or amount (订单金额, 实付金额, 成交金额 …) or unit_price (单价, 商品单价, 商品价格 …)")


def test_a_session_id_given_for_a_sessions_file_of_several_rows_is_refused(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    text = "直播标题,直播类型,开播时间\n脐橙专场,达人直播,2024-10-17 19:00\n猕猴桃专场,达人直播,2024-10-18 19:00\n"
    with pytest.raises(Rejected) as caught:
        ingest.ingest_bytes(store, "场次.csv", text.encode(), session_id="DY-1")
    assert "has 2 sessions and no session id column" in str(caught.value.problems[0])
    assert store.read("sessions").height == 0
    one = ingest.ingest_bytes(store, "场次1.csv", text[:text.index("猕猴桃")].encode(), session_id="DY-1")
    assert one.rows == 1  # one row: the given id names it


def test_the_cli_names_the_headers_it_ignored(tmp_path: Path, capsys) -> None:
    from relief_live.__main__ import main
    path = tmp_path / "订单导出.csv"
    path.write_bytes(doudian_csv())
    assert main(["ingest", "--db", f"sqlite:///{tmp_path / 's.sqlite3'}", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  headers ignored: 运费, 订单完成时间, 取消原因"


def test_a_workbook_s_sheet_and_header_row_are_found_by_their_headers() -> None:
    data = workbook_bytes({
        "说明": [["本表由系统导出，仅供参考"]],
        "货品明细": [
            ["赣南脐橙助农专场 货品明细"],
            ["导出时间 2024-10-18"],
            ["【商品】", None, "【成交】", None, None],
            ["商品名称", "【】", "成交件数", "成交金额", "直播ID"],
            ["【水果】", None, None, None, None],
            ["赣南脐橙 10斤礼盒装", None, 26, "1,557.40", "DY-1017"],
            ["赣南猕猴桃 5斤", None, 1, 39.9, "DY-1017"],
        ],
    })
    mapping, frame = ingest.parse("货品明细.xlsx", data)
    assert mapping.kind == "sales"
    assert frame.select("product", "quantity", "amount", "session_id").rows() == [
        ("赣南脐橙 10斤礼盒装", 26.0, 155740, "DY-1017"), ("赣南猕猴桃 5斤", 1.0, 3990, "DY-1017")]
    assert frame["line"].to_list() == [6, 7]  # the lines a spreadsheet shows; the 【水果】 row is no data
    assert mapping.unknown == []  # the bracket-only header cell is no column


def test_laike_live_list_headers_and_a_product_totals_sheet_are_known() -> None:
    # 抖音来客's live list: 直播间标题, 房间号, 关播时间, 人气峰值 and 直播间成交人数 (buyers)
    text = ("直播间标题,房间号,直播类型,开播时间,关播时间,人气峰值,直播间成交人数,直播间成交金额\n"
            "赣南脐橙助农专场,7425123456789012345,达人直播,2024-10-17 19:00,2024-10-17 21:00,1234,86,\"5,432.10\"\n")
    mapping, sessions = ingest.parse("直播列表.csv", text.encode())
    assert mapping.kind == "sessions"
    assert sessions.select("session_id", "room_id", "title", "peak_viewers", "buyers", "gmv").row(0) == (
        "7425123456789012345", "7425123456789012345", "赣南脐橙助农专场", 1234, 86, 543210)  # the room names it
    assert sessions["ended_at"][0] - sessions["started_at"][0] == 2 * 3_600_000
    # 货品明细: per-product totals of a session; 直播间价格 is a price, 用户支付金额 the money paid
    _, totals = ingest.parse("货品明细.csv", "商品名称,直播间价格,成交件数,用户支付金额\n赣南脐橙 10斤,59.90,26,\"1,557.40\"\n"
                             .encode(), session_id="7425123456789012345")
    assert totals.select("product", "quantity", "amount").row(0) == ("赣南脐橙 10斤", 26.0, 155740)


def test_the_bulletin_counts_the_lines_the_catalogue_ties_to_villages(tmp_path: Path) -> None:
    from datetime import date

    from relief_live.bulletin import content
    store = catalogued_store(tmp_path)
    ingest.ingest_bytes(store, "订单导出.csv", doudian_csv())
    frames = {kind: store.read(kind) for kind in (*content.FRAMES, "catalogue")}
    bulletin = content.make(frames, store.batches(), "week", ending=date(2024, 10, 17), now=NOW)
    sold = {row["product"]: row["sold_period"] for row in bulletin.villages.iter_rows(named=True)}
    assert sold == {"脐橙": 11980 + 119800, "猕猴桃": 3990}



def _typed(name: str, data: bytes) -> pl.DataFrame:
    return ingest.parse(name, data)[1].with_columns(batch=pl.lit(1, pl.Int64))


@settings(max_examples=40, deadline=None)
@given(export=doudian_exports())
def test_random_exports_sell_their_unrefunded_packs_times_the_pack_weight(export) -> None:
    data, lines = export
    report = build_report(_no("sessions"), _no("ticks"), _typed("订单导出.csv", data),
                          _typed("台账.csv", LEDGER_CSV.encode()), _typed("产品名录.csv", CATALOGUE_CSV.encode()),
                          now=NOW)
    # 商家编码 GN-QC-10 and 商品ID 3588491772611 are 甲村's 脐橙 in 10斤 packs; a line with neither matches no
    # entry (its title is no listing's, nor a ledger product's)
    coded = [line for line in lines if line["matched"] and line["status"] == "sale"]
    [orange] = report.villages.filter(pl.col("product") == "脐橙").iter_rows(named=True)
    assert orange["sold_qty"] == pytest.approx(sum(10 * line["qty"] for line in coded))
    assert orange["sold_value"] == sum(line["amount"] for line in coded)
    uncoded = [line for line in lines if not line["matched"] and line["status"] == "sale"]
    assert report.unattributed.height == len(uncoded)


# 快手小店 订单导出: one row an order of one product, its 61 headers in the export's order. 实付款 and 商品单价 come
# with ¥, empty cells as `-`; 订单载体 is where the order was placed, 渠道 (分销 / 自营) whether a promoter sold it.
KUAISHOU_HEADERS = (
    "订单号", "赠品订单号", "活动订单编号", "订单创建时间", "订单支付时间", "预售定金支付时间", "订单状态", "实付款", "快递费",
    "店铺优惠", "平台补贴", "主播补贴", "混资活动优惠", "支付优惠", "支付方式", "成交数量", "买家留言", "账号类型", "账号明细",
    "订单备注", "旗帜颜色", "售后状态", "活动订单", "预售/承诺发货时间", "订单载体", "商品名称", "商品ID", "商品规格",
    "SKU编码", "商品单价", "渠道", "CPS达人ID", "CPS达人昵称", "预估推广佣金", "预估推广者分佣比例", "团长ID", "团长昵称",
    "快赚客ID", "快赚客昵称", "授权推广者ID", "授权推广者昵称", "收货人姓名", "收货人电话", "收货地址-省", "收货地址-市",
    "收货地址-区", "收货地址-街道", "收货地址", "发货时间", "快递公司", "快递单号", "物流信息", "集运类型", "直邮类型",
    "仓库名称", "仓库地址", "实名姓名", "服务门店ID", "服务门店名称", "服务门店地址", "国补/类国补/消费券",
)


def kuaishou_row(order: str, created: str, paid: str, status: str, paid_yuan: str, qty: int, after: str,
                 carrier: str, promoter: tuple[str, str] | None) -> str:
    cells = dict.fromkeys(KUAISHOU_HEADERS, "-")
    cpsid, nickname = promoter or ("-", "-")
    cells.update({"订单号": order, "订单创建时间": created, "订单支付时间": paid, "订单状态": status, "实付款": paid_yuan,
                  "成交数量": str(qty), "售后状态": after, "订单载体": carrier, "商品名称": "赣南脐橙 10斤礼盒装 现摘现发",
                  "商品ID": "21456789012", "商品规格": "10斤装", "SKU编码": "GN-QC-10", "商品单价": "¥59.90",
                  "渠道": "分销" if promoter else "自营", "CPS达人ID": cpsid, "CPS达人昵称": nickname,
                  "预估推广者分佣比例": "20.0%", "快递费": "¥0.00", "支付方式": "微信", "收货人姓名": "张*"})
    return ",".join(f'"{v}"' if "," in v else v for v in cells.values())


LAOBIAO = ("2153705985", "赣南老表")
KUAISHOU_ROWS = (
    kuaishou_row("2414100012345671", "2024-10-17 19:06:12", "2024-10-17 19:06:20", "交易成功", "¥119.80", 2, "-",
                 "直播", LAOBIAO),
    # paid, refunded and closed: a refund, no sale
    kuaishou_row("2414100012345672", "2024-10-17 19:12:00", "2024-10-17 19:12:09", "交易关闭", "¥59.90", 1, "退款成功",
                 "直播", LAOBIAO),
    # closed before it was paid: cancelled
    kuaishou_row("2414100012345673", "2024-10-17 19:20:00", "-", "交易关闭", "¥59.90", 1, "-", "直播", LAOBIAO),
    # sold through the product card, a refund asked for and not yet decided: a sale, never the session's
    kuaishou_row("2414100012345674", "2024-10-17 19:30:00", "2024-10-17 19:30:30", "已发货", "¥1,198.00", 20,
                 "售后处理中", "商品卡", None),
    kuaishou_row("2414100012345675", "2024-10-17 19:35:00", "-", "待付款", "¥59.90", 1, "-", "直播", LAOBIAO),
    kuaishou_row("2414100012345676", "2024-10-17 19:40:00", "2024-10-17 19:40:05", "已收货", "¥59.90", 1, "售后失败",
                 "直播", LAOBIAO),
)


def kuaishou_csv() -> bytes:
    return ("\ufeff" + ",".join(KUAISHOU_HEADERS) + "\n" + "\n".join(KUAISHOU_ROWS) + "\n").encode("utf-8")


def test_kuaishou_export_reads_orders_statuses_channels_and_promoters() -> None:
    mapping, frame = ingest.parse("快手订单.csv", kuaishou_csv())
    assert (mapping.kind, mapping.shape) == ("sales", "快手小店 订单导出")
    assert frame.height == 6
    assert frame["order_id"][0] == "2414100012345671" and frame["line_id"].null_count() == 6
    assert frame["status"].to_list() == ["sale", "refunded", "cancelled", "sale", "cancelled", "sale"]
    assert frame["amount"].to_list() == [11980, 5990, 5990, 119800, 5990, 5990]  # 实付款, never 商品单价
    assert frame["refund"].to_list() == [None, 5990, None, None, None, None]
    assert frame["quantity"].to_list() == [2.0, 1.0, 1.0, 20.0, 1.0, 1.0]
    assert frame["channel"].to_list() == ["直播"] * 3 + ["商品卡"] + ["直播"] * 2  # 订单载体
    assert frame["host_id"].to_list() == ["2153705985"] * 3 + [None] + ["2153705985"] * 2
    assert (frame["sku"][0], frame["product_id"][0], frame["spec"][0]) == ("GN-QC-10", "21456789012", "10斤装")
    assert "渠道" in mapping.unknown  # 分销 / 自营 is no traffic source


def test_kuaishou_orders_find_their_session_and_sell_through_the_ledger(tmp_path: Path, capsys) -> None:
    from relief_live.__main__ import main
    db = f"sqlite:///{tmp_path / 's.sqlite3'}"
    for name, data in (("台账.csv", LEDGER_CSV.encode("gbk")), ("产品名录.csv", CATALOGUE_CSV.encode()),
                       ("sessions.csv", SESSIONS_CSV.encode()), ("快手订单.csv", kuaishou_csv())):
        (tmp_path / name).write_bytes(data)
    files = [str(tmp_path / n) for n in ("台账.csv", "产品名录.csv", "sessions.csv", "快手订单.csv")]
    assert main(["ingest", "--db", db, *files]) == 0
    # five live-room lines of 赣南老表 between 19:06 and 19:40 fall in DY-1017 (by nickname: the 快手 account id
    # is not the session's 达人ID); the product-card line does not
    assert "6 lines name no session: 5 found one by host account and time, 1 stay sessionless" in capsys.readouterr().out
    report = report_of(Store(db))
    [session] = report.sessions.iter_rows(named=True)
    assert (session["orders"], session["gmv"]) == (2, 11980 + 5990)
    [orange] = report.villages.filter(pl.col("product") == "脐橙").iter_rows(named=True)
    # 2 + 20 + 1 packs of 10斤 sold; the refunded, the closed-unpaid and the unpaid orders move no stock
    assert (orange["village"], orange["sold_qty"], orange["sold_value"]) == ("甲村", 230.0, 11980 + 119800 + 5990)
    assert orange["refunded_value"] == 5990


# 微信小店 (视频号小店) 订单导出: one row a product line, its 57 headers in the export's order. 订单实际支付金额,
# 订单运费 and the fees are the order's, repeated on each of its lines.
WEIXIN_HEADERS = (
    "订单号", "订单下单时间", "订单发货时间", "订单确认收货时间", "订单完成结算时间", "订单状态", "发货方式", "收件人姓名",
    "收件人地址", "省", "市", "区", "收件人手机", "买家备注", "商家备注", "打标颜色", "商品总价", "订单实际支付金额",
    "订单实际收款金额", "订单运费", "商品优惠", "跨店优惠", "商品改价", "积分抵扣", "支付方式", "支付时间", "交易单号",
    "物流公司", "快递单号", "技术服务费", "技术服务费（将以人气卡形式返还）", "运费险预计投保费用", "带货方式", "带货账号类型",
    "带货账号昵称", "带货费用渠道", "带货费用类型", "带货费用", "带货佣金率", "礼物单号", "商品名称", "商品编码(平台)",
    "商品编码(自定义)", "SKU编码(自定义)", "商品属性", "商品价格(单件)", "商品实际价格(单件)", "商品实际价格(总共)", "是否预售",
    "商品数量", "商品平台券优惠", "商品平均运费", "定制信息", "定制预览图", "商品发货", "商品售后", "商品已退款金额",
)


def weixin_row(order: str, status: str, paid_at: str, order_paid: str, title: str, platform_code: str, sku: str,
               unit: str, actual_unit: str, line_total: str, qty: int, refunded: str) -> str:
    cells = dict.fromkeys(WEIXIN_HEADERS, "")
    cells.update({"订单号": order, "订单下单时间": "2024-10-17 20:10:05", "订单状态": status, "支付时间": paid_at,
                  "订单实际支付金额": order_paid, "商品总价": order_paid, "收件人姓名": "李*", "省": "江西省",
                  "带货账号昵称": "赣南老表", "商品名称": title, "商品编码(平台)": platform_code, "商品编码(自定义)": "GN",
                  "SKU编码(自定义)": sku, "商品属性": "规格:10斤装", "商品价格(单件)": unit, "商品实际价格(单件)": actual_unit,
                  "商品实际价格(总共)": line_total, "商品数量": str(qty), "商品已退款金额": refunded, "是否预售": "否"})
    return ",".join(f'"{v}"' if "," in v else v for v in cells.values())


ORANGE_10 = ("赣南脐橙 10斤礼盒装 现摘现发", "10000123456789", "GN-QC-10")
WEIXIN_ROWS = (
    # an order of two lines: 149.70 paid for both, repeated on each; 109.80 and 39.90 are the lines'
    weixin_row("3718848000000000001", "已完成", "2024-10-17 20:10:15", "149.70", *ORANGE_10, "59.90", "54.90",
               "109.80", 2, "0.00"),
    weixin_row("3718848000000000001", "已完成", "2024-10-17 20:10:15", "149.70", "赣南猕猴桃 5斤", "10000123456790",
               "-", "39.90", "39.90", "39.90", 1, "0.00"),
    # refunded in full on an order still 已完成: a refund, no sale
    weixin_row("3718848000000000002", "已完成", "2024-10-17 20:12:00", "59.90", *ORANGE_10, "59.90", "59.90",
               "59.90", 1, "59.90"),
    weixin_row("3718848000000000003", "已取消", "", "59.90", *ORANGE_10, "59.90", "59.90", "59.90", 1, "0.00"),
    # a partial refund stays on its sale
    weixin_row("3718848000000000004", "待收货", "2024-10-17 20:15:00", "1,078.20", *ORANGE_10, "59.90", "53.91",
               "1,078.20", 20, "59.90"),
)


def weixin_gbk() -> bytes:
    return (",".join(WEIXIN_HEADERS) + "\r\n" + "\r\n".join(WEIXIN_ROWS) + "\r\n").encode("gbk")


def test_weixin_export_takes_each_line_s_own_money_never_the_order_s() -> None:
    mapping, frame = ingest.parse("微信小店订单.csv", weixin_gbk())
    assert (mapping.kind, mapping.shape) == ("sales", "微信小店 (视频号小店) 订单导出")
    assert frame["order_id"].to_list() == [f"371884800000000000{i}" for i in (1, 1, 2, 3, 4)]
    # 商品实际价格(总共): not 订单实际支付金额 (the order's), nor 商品实际价格(单件) or 商品价格(单件) (prices)
    assert frame["amount"].to_list() == [10980, 3990, 5990, 5990, 107820]
    assert frame["status"].to_list() == ["sale", "sale", "refunded", "cancelled", "sale"]
    assert frame["refund"].to_list() == [0, 0, 5990, 0, 5990]
    assert frame["product_id"].to_list()[:2] == ["10000123456789", "10000123456790"]  # 商品编码(平台)
    assert frame["sku"].to_list()[:2] == ["GN-QC-10", None]  # SKU编码(自定义); `-` is empty
    assert frame["host_name"][0] == "赣南老表"
    assert {"商品编码(自定义)", "商品实际价格(单件)", "订单实际支付金额"} <= set(mapping.unknown)


def test_weixin_orders_count_main_ids_and_sell_through_the_ledger(tmp_path: Path) -> None:
    store = catalogued_store(tmp_path)
    ingest.ingest_bytes(store, "微信小店订单.csv", weixin_gbk(), session_id="WX1")
    report = report_of(store)
    [session] = report.sessions.filter(pl.col("session_id") == "WX1").iter_rows(named=True)
    assert (session["orders"], session["gmv"]) == (2, 10980 + 3990 + 107820)  # two orders of three sale lines
    villages = {row["product"]: row for row in report.villages.iter_rows(named=True)}
    # 脐橙 by SKU编码(自定义): 2 + 20 packs of 10斤; 猕猴桃 (no code, a platform code in no entry) by its title
    assert (villages["脐橙"]["sold_qty"], villages["脐橙"]["sold_value"]) == (220.0, 10980 + 107820)
    assert villages["脐橙"]["refunded_value"] == 5990 + 5990
    assert (villages["猕猴桃"]["sold_qty"], villages["猕猴桃"]["sold_value"]) == (5.0, 3990)
    routes = {row["route"]: (row["lines"], row["amount"]) for row in report.routes.iter_rows(named=True)}
    assert routes == {"sku": (4, 10980 + 107820), "title": (1, 3990)}


def test_a_kuaishou_workbook_with_ids_in_number_cells_reads_as_its_csv() -> None:
    """快手小店 exports a workbook whose ids may be number cells (readers of it cast them back to text)."""
    import csv
    rows = [next(csv.reader([row])) for row in KUAISHOU_ROWS]
    numeric = [KUAISHOU_HEADERS.index(h) for h in ("订单号", "商品ID", "成交数量", "CPS达人ID")]
    cells = [[int(v) if i in numeric and v != "-" else v for i, v in enumerate(row)] for row in rows]
    _, book = ingest.parse("快手订单.xlsx", workbook_bytes({"订单": [list(KUAISHOU_HEADERS), *cells]}))
    _, text = ingest.parse("快手订单.csv", kuaishou_csv())
    columns = ["order_id", "product_id", "host_id", "quantity", "amount", "refund", "status", "channel", "ts"]
    assert book.select(columns).rows() == text.select(columns).rows()
    assert book["order_id"][0] == "2414100012345671" and book["host_id"][0] == "2153705985"
