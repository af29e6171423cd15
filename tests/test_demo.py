"""The demo programme: data/demo/ is the generator's output, reproducible, and holds the story's facts."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from relief_live import read, schema
from relief_live.demo import DEMO_DIR, LUOPAN_FILE, TAOBAO_HEADERS, ZHAOTONG, DemoFile, write_demo

SHOP_EXPORTS = {"sales_doudian_shop_bom.csv": "抖店 订单导出 (商品维度)", "sales_pdd_shop_gbk.csv": "拼多多 订单导出",
                "sales_taobao_shop_orders.csv": "淘宝/千牛 订单报表"}

KINDS_IN_ORDER = ["stock", "catalogue", "sessions", "ticks", "sales"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[DemoFile]:
    return write_demo(tmp_path_factory.mktemp("demo"), scale=1)


def _named(files: list[DemoFile], name: str) -> Path:
    return next(f.path for f in files if f.path.name == name)


def _table(path: Path) -> pl.DataFrame:
    """A demo file's cells as text, read as the ingester reads it (any encoding, CSV or XLSX)."""
    raw = read.read_table(path.name, path.read_bytes())
    return raw.frame.rename(dict(zip(raw.frame.columns, raw.headers, strict=True)))


def _canonical(path: Path) -> pl.DataFrame:
    """A demo file's mapped columns under their canonical names, as text."""
    raw = read.read_table(path.name, path.read_bytes())
    mapping = read.detect(raw)
    return raw.frame.select(pl.col(f"c{i}").alias(name) for name, i in mapping.columns.items())


def _order_lines(files: list[DemoFile]) -> int:
    return sum(_table(f.path).height for f in files if f.kind == "sales")


def test_data_demo_is_what_the_generator_writes(demo: list[DemoFile]) -> None:
    """Regenerate with `python -m relief_live.demo data/demo` when the generator changes."""
    assert sorted(p.name for p in DEMO_DIR.iterdir()) == sorted(f.path.name for f in demo)
    for f in demo:
        assert (DEMO_DIR / f.path.name).read_bytes() == f.path.read_bytes(), f.path.name


def test_data_demo_is_small() -> None:
    assert sum(p.stat().st_size for p in DEMO_DIR.iterdir()) < 2_000_000


def test_files_come_in_ingest_order(demo: list[DemoFile]) -> None:
    kinds = [f.kind for f in demo]
    assert kinds == sorted(kinds, key=KINDS_IN_ORDER.index)
    assert set(kinds) == set(KINDS_IN_ORDER)


def test_same_seed_same_bytes_other_seed_other_bytes(demo: list[DemoFile], tmp_path: Path) -> None:
    again = write_demo(tmp_path / "again", seed=42)
    other = write_demo(tmp_path / "other", seed=7)
    assert [f.path.read_bytes() for f in again] == [f.path.read_bytes() for f in demo]
    changed = [f.path.name for f, o in zip(demo, other, strict=True) if f.path.read_bytes() != o.path.read_bytes()]
    assert "sales_douyin_orders_bom.csv" in changed and "sessions_douyin_bom.csv" in changed


def test_each_file_is_recognised_as_its_kind(demo: list[DemoFile]) -> None:
    for f in demo:
        book = read.live_workbook(f.path.name, f.path.read_bytes())  # 罗盘's workbook: a session and its products
        if book is not None:
            assert f.path.name == LUOPAN_FILE and book.products is not None
            assert read.detect(book.products, "sales").shape == "罗盘 货品明细"
        table = book.session if book is not None else read.read_table(f.path.name, f.path.read_bytes())
        mapping = read.detect(table)
        assert mapping.kind == f.kind, f.path.name
        assert mapping.shape == SHOP_EXPORTS.get(f.path.name), f.path.name
        if f.kind in ("ticks", "sales") and mapping.shape is None:  # a session id is supplied exactly for files
            assert ("session_id" in mapping.columns) == (f.session_id is None), f.path.name  # without a session column
        if mapping.shape is not None:  # a shop's export names no session, and none is given: lines find theirs
            assert "session_id" not in mapping.columns and f.session_id is None, f.path.name


def test_scale_two_has_twice_the_sessions_order_lines(demo: list[DemoFile], tmp_path: Path) -> None:
    doubled = write_demo(tmp_path, scale=2)
    shop = sum(_table(f.path).height for f in demo if f.path.name in SHOP_EXPORTS)  # the shop's lines are not scaled
    one, two = _order_lines(demo) - shop, _order_lines(doubled) - shop
    assert 3000 < one < 5000 and 800 < shop < 1500
    assert 1.9 < two / one < 2.1
    # The story's files stay byte for byte; the added sessions come in files of their own.
    added = {f.path.name: f.path for f in doubled}
    for f in demo:
        assert added.pop(f.path.name).read_bytes() == f.path.read_bytes(), f.path.name
    assert sorted(added) == ["sales_scale_extra_001.csv", "sessions_scale_extra.csv"]
    story_sessions = sum(_canonical(f.path).height for f in demo  # (the workbook's session is a live list's)
                         if f.kind == "sessions" and f.path.name != LUOPAN_FILE)
    assert _canonical(added["sessions_scale_extra.csv"]).height == story_sessions


def test_order_ids_are_unique_with_their_product(demo: list[DemoFile]) -> None:
    lines = pl.concat([_canonical(f.path).select("order_id", "product") for f in demo
                       if f.kind == "sales" and f.path.name != "sales_product_totals.xlsx"])
    assert lines["order_id"].null_count() == 0
    assert lines.is_duplicated().sum() == 0
    assert lines["order_id"].n_unique() < lines.height  # some orders hold two products


def test_zhaotong_cured_pork_session_sold_4000_jin_worth_270000_yuan(demo: list[DemoFile]) -> None:
    path = _named(demo, f"sales_pdd_{ZHAOTONG}.csv")
    orders = pl.read_csv(path, infer_schema=False)
    assert orders["商品"].unique().to_list() == ["昭通腊肉"]
    assert orders["单位"].unique().to_list() == ["斤"]
    assert orders["数量"].cast(pl.Int64).sum() == 4000
    assert sum(Decimal(v) for v in orders["订单金额(元)"]) == Decimal("270000.00")
    summary = _table(_named(demo, "sessions_cadre_gbk.csv")).filter(pl.col("场次ID") == ZHAOTONG)
    assert summary["销售额"].to_list() == ["27万"]
    assert summary["直播平台"].to_list() == ["拼多多"] and summary["主播类型"].to_list() == ["区长直播"]


def test_shanwei_started_the_year_with_over_32_million_yuan_unsold(demo: list[DemoFile]) -> None:
    ledger = pl.read_excel(_named(demo, "stock_shanwei_2020.xlsx"))
    assert ledger["统计日期"].dtype in (pl.Date, pl.Datetime)  # real Excel date cells
    assert ledger["滞销金额(万元)"].sum() > 3200


def test_some_villages_have_two_baselines(demo: list[DemoFile]) -> None:
    rows = pl.concat([_canonical(f.path).select("village", "product") for f in demo if f.kind == "stock"])
    assert rows.filter(rows.is_duplicated()).unique().height == 3


def test_order_lines_have_the_awkward_cases(demo: list[DemoFile]) -> None:
    douyin = _table(_named(demo, "sales_douyin_orders_bom.csv"))
    mango_boxes = douyin.filter((pl.col("商品名称") == "田阳芒果") & (pl.col("单位") == "箱"))
    assert mango_boxes.height == 2  # against a ledger in 斤 without a box weight: unconvertible
    assert douyin.filter(pl.col("村").is_null()).height > 10  # attributed through the product
    assert douyin.filter(pl.col("单位") == "公斤").height > 10  # against ledgers in 斤
    stock = _table(_named(demo, "stock_guangxi_gbk.csv"))
    assert stock.filter(pl.col("产品") == "田阳芒果")["规格"].null_count() == 2


def test_clock_time_ticks_cross_midnight_and_need_their_session(demo: list[DemoFile]) -> None:
    [f] = [f for f in demo if f.kind == "ticks" and f.session_id]
    times = _table(f.path)["时间"].to_list()
    assert times[0] == "22:30" and "00:00" in times and times[-1] < times[0]
    sessions = _table(_named(demo, "sessions_kuaishou_en.csv"))
    assert f.session_id in sessions["live_id"].to_list()


def test_gbk_files_are_gbk_and_bom_files_have_a_bom(demo: list[DemoFile]) -> None:
    gbk = [f.path for f in demo if "gbk" in f.path.name]
    assert len(gbk) >= 4
    for path in gbk:
        data = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert data.decode("gbk") == data.decode("gb18030")
    for path in (f.path for f in demo if "bom" in f.path.name):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_xlsx_files_open_with_date_cells(demo: list[DemoFile]) -> None:
    books = [f.path for f in demo if f.path.suffix == ".xlsx"]
    assert len(books) >= 5
    for path in books:
        assert pl.read_excel(io.BytesIO(path.read_bytes())).height > 0, path.name
    tv = pl.read_excel(_named(demo, "sessions_tv_2020.xlsx"))
    assert tv["开播时间"].dtype == pl.Datetime and tv["开播时间"].dt.year().unique().to_list() == [2020]


def test_value_forms_as_platforms_write_them(demo: list[DemoFile]) -> None:
    douyin = _table(_named(demo, "sessions_douyin_bom.csv"))
    assert douyin["观看人次"].str.ends_with("万").any()
    assert douyin["直播间成交金额"].str.starts_with("¥").all()
    assert douyin["直播时长"].str.contains(r"^\d+小时\d+分$").any()
    stock = _table(_named(demo, "stock_guangxi_gbk.csv"))
    assert {"6万", "15,000"} <= set(stock["滞销量"].to_list())
    assert set(stock["单位"].to_list()) >= {"斤", "吨", "公斤", "箱", "只"}


def test_all_times_are_in_2020(demo: list[DemoFile]) -> None:
    starts = pl.concat([
        _table(_named(demo, "sessions_douyin_bom.csv"))["开播时间"],
        _table(_named(demo, "sessions_kuaishou_en.csv"))["start_time"].str.slice(0, 19).str.replace("T", " "),
    ]).str.to_datetime("%Y-%m-%d %H:%M:%S")
    assert starts.dt.year().unique().to_list() == [2020]


def test_shop_exports_come_as_their_back_offices_write_them(demo: list[DemoFile]) -> None:
    shapes = {shape.name: shape for shape in schema.EXPORT_SHAPES}
    for name, shape in SHOP_EXPORTS.items():
        headers = read.read_table(name, _named(demo, name).read_bytes()).headers
        assert set(shapes[shape].columns) <= {h.strip() for h in headers}, name  # every column of its shape
    doudian = _named(demo, "sales_doudian_shop_bom.csv").read_bytes()
    assert doudian.startswith(b"\xef\xbb\xbf") and b",\t6917926768800" in doudian  # ids tab-wrapped, as Excel needs
    rows = _table(_named(demo, "sales_doudian_shop_bom.csv"))
    assert rows.filter(pl.col("支付完成时间") == "-").height > 5  # `-` for empty: never paid
    assert rows["主订单编号"].n_unique() < rows.height  # orders of two lines
    assert set(rows["流量来源"]) == {"直播", "商品卡", "短视频"}
    assert {"已完成", "已关闭"} <= set(rows["订单状态"]) and "退款成功" in set(rows["售后状态"])
    # 商品金额 is a pack's price: the line's amount (订单应付金额) is price × packs, less a coupon at times
    price, amount = ((rows[c].cast(pl.Float64) * 100).round().cast(pl.Int64) for c in ("商品金额", "订单应付金额"))
    packs = rows["商品数量"].cast(pl.Int64)
    assert ((amount <= price * packs) & (amount >= price * packs - 500)).all()
    assert (amount < price * packs).any()
    pdd = _named(demo, "sales_pdd_shop_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        pdd.decode("utf-8")
    taobao = _named(demo, "sales_taobao_shop_orders.csv").read_text(encoding="utf-8").splitlines()
    assert taobao[0].split(",") == list(TAOBAO_HEADERS) and len(TAOBAO_HEADERS) == 69
    assert taobao[1].startswith('="') and "宝贝标题 " in taobao[0]  # ids and titles as ="…", a header's trailing space


def test_the_catalogue_ties_listings_by_code_by_product_id_and_by_title(demo: list[DemoFile]) -> None:
    catalogue = _canonical(_named(demo, "catalogue_shop_listings.csv"))
    assert catalogue.filter(pl.col("sku") != "-").height > 10  # by 商家编码
    assert catalogue.filter((pl.col("sku") == "-") & (pl.col("product_id") != "-")).height >= 2  # by 商品ID alone
    assert catalogue.filter((pl.col("sku") == "-") & (pl.col("product_id") == "-")).height > 10  # by title alone
    listed = set(catalogue["listing"])
    doudian = _table(_named(demo, "sales_doudian_shop_bom.csv"))["选购商品"].str.strip_chars()
    assert "汕尾农家年货礼盒 南瓜番薯马蹄" in set(doudian) - listed  # a box of several villages' produce: no entry
