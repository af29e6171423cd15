"""The bulletin on the demo programme: its figures are `report --json`'s over the same days."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import fastexcel
import polars as pl
import pypdf
import pytest

from relief_live.__main__ import main
from relief_live.bulletin import charts, content, pdf, xlsx
from relief_live.demo import CLOCK_TICKS, load_demo
from relief_live.metrics.period import window
from relief_live.store import Store
from tests.test_pages import app, loaded, loaded_db  # noqa: F401 (the dashboard's fixtures)

WEEK = ("2020-09-07", "2020-09-13")  # a Monday to Sunday: a kiwi show that crosses midnight, a TV special
BEFORE = ("2020-08-31", "2020-09-06")
NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('bulletin')}/demo.sqlite3"
    store = Store(url)
    store.create()
    load_demo(store)
    store.dispose()
    return url


@pytest.fixture(scope="module")
def demo(demo_url: str) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    store = Store(demo_url)
    frames = {kind: store.read(kind) for kind in (*content.FRAMES, "catalogue")}  # as `bulletin` reads them
    batches = store.batches()
    store.dispose()
    return frames, batches


def report_json(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["report", "--db", url, "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_week_keeps_a_show_that_crosses_midnight_whole_and_counts_sales_by_their_day(demo) -> None:
    frames, _ = demo
    sessions, ticks, sales, stock = window(*(frames[k] for k in content.FRAMES), start=date(2020, 9, 7),
                                           end=date(2020, 9, 13))
    assert sorted(sessions.get_column("session_id")) == ["KS20200910004", "SZTV-20200912"]
    all_ticks = frames["ticks"].filter(pl.col("session_id") == CLOCK_TICKS).height
    assert ticks.filter(pl.col("session_id") == CLOCK_TICKS).height == all_ticks == 130
    assert ticks.get_column("ts").max() > datetime(2020, 9, 10, 16, 0, tzinfo=UTC)  # past midnight in Shanghai
    assert sales.get_column("ts").drop_nulls().dt.convert_time_zone("Asia/Shanghai").dt.date().is_between(
        date(2020, 9, 7), date(2020, 9, 13)).all()
    assert stock.get_column("as_of").max() <= date(2020, 9, 13)


def test_a_report_whose_first_day_is_after_its_last_says_so(demo_url: str, capsys) -> None:
    assert main(["report", "--db", demo_url, "--json", "--from", "2020-09-13", "--to", "2020-09-07"]) == 2
    assert "--from 2020-09-13 is after --to 2020-09-07" in capsys.readouterr().err


def test_periods_are_monday_to_sunday_weeks_and_calendar_months() -> None:
    week = content.period_containing("week", date(2020, 9, 10))
    assert (week.start, week.end) == (date(2020, 9, 7), date(2020, 9, 13))
    assert (week.previous().start, week.previous().end) == (date(2020, 8, 31), date(2020, 9, 6))
    month = content.period_containing("month", date(2020, 3, 31))
    assert (month.start, month.end, month.previous().start) == (date(2020, 3, 1), date(2020, 3, 31), date(2020, 2, 1))
    # The last complete week before a Wednesday; a store whose data end earlier gets its last week with data.
    assert content.default_period("week", date(2026, 12, 9), date(2026, 12, 8)).start == date(2026, 11, 30)
    assert content.default_period("week", date(2026, 12, 9), date(2020, 12, 12)).start == date(2020, 12, 7)
    assert content.default_period("month", date(2026, 12, 9), None).start == date(2026, 11, 1)


def test_week_figures_and_changes_are_the_reports(demo, demo_url: str, capsys) -> None:
    frames, batches = demo
    bulletin = content.make(frames, batches, "week", ending=date(2020, 9, 13), now=NOW)
    assert (bulletin.period.label(), bulletin.previous.label()) == ("2020-09-07 – 2020-09-13",
                                                                  "2020-08-31 – 2020-09-06")
    now = report_json(demo_url, capsys, "--from", WEEK[0], "--to", WEEK[1])
    before = report_json(demo_url, capsys, "--from", BEFORE[0], "--to", BEFORE[1])
    figures = {row["key"]: row for row in bulletin.headline.iter_rows(named=True)}
    assert figures["sessions"]["current"] == now["totals"]["sessions"] == 2
    assert figures["orders"]["current"] == now["totals"]["orders"]
    assert figures["gmv"]["current"] / 100 == pytest.approx(now["totals"]["gmv"])
    assert figures["gmv"]["previous"] / 100 == pytest.approx(before["totals"]["gmv"])
    assert figures["gmv"]["change"] == pytest.approx(now["totals"]["gmv"] / before["totals"]["gmv"] - 1)
    # The TV specials report no viewers: the sum says it covers one session of two in each week.
    assert figures["viewers"]["current"] == sum(s["viewers"] or 0 for s in now["sessions"])
    assert [s["viewers"] is None for s in now["sessions"]].count(True) == 1
    assert figures["viewers"]["note"] == "本期 2 场中 1 场有此数据；上期 2 场中 1 场有此数据"
    assert figures["gmv"]["note"] is None and figures["hours"]["note"] is None
    assert figures["hours"]["current"] == pytest.approx(sum(k["hours"] for k in now["host_kinds"]), abs=0.01)
    assert figures["sold_value"]["current"] / 100 == pytest.approx(now["totals"]["sold_value"])
    kinds = {row["host_kind"]: row for row in bulletin.host_kinds.iter_rows(named=True)}
    [broadcast] = [k for k in now["host_kinds"] if k["host_kind"] == "broadcast"]
    assert kinds["broadcast"]["gmv_per_hour"] / 100 == pytest.approx(broadcast["gmv_per_hour"])
    assert kinds["broadcast"]["median_conversion"] == pytest.approx(broadcast["median_conversion"], abs=1e-6)
    assert kinds["cadre"]["sessions"] == 0 and kinds["cadre"]["gmv_per_hour_before"] is not None
    top = bulletin.top_sessions.get_column("session_id").to_list()
    assert top == [s["session_id"] for s in sorted(now["sessions"], key=lambda s: -s["gmv"])]
    assert "成交额环比上升" in bulletin.summary and "个村滞销未动" in bulletin.summary


def test_villages_stand_as_at_the_periods_end_with_what_sold_in_it(demo, demo_url: str, capsys) -> None:
    frames, batches = demo
    bulletin = content.make(frames, batches, "week", ending=date(2020, 9, 9), now=NOW)
    so_far = report_json(demo_url, capsys, "--to", WEEK[1])
    now = report_json(demo_url, capsys, "--from", WEEK[0], "--to", WEEK[1])
    villages = {(v["village"], v["product"]): v for v in so_far["villages"]}
    sold = {(v["village"], v["product"]): v["sold_value"] for v in now["villages"]}
    for row in bulletin.villages.iter_rows(named=True):
        want = villages[(row["village"], row["product"])]
        assert row["sell_through"] == pytest.approx(want["sell_through"], abs=1e-6)
        assert (row["status"], row["remaining_value"] / 100) == (want["status"], want["remaining_value"])
        assert row["sold_period"] / 100 == pytest.approx(sold[(row["village"], row["product"])])
    stalled = [(v["village"], v["product"]) for v in so_far["villages"] if v["status"] == "stalled"]
    statuses = bulletin.villages.get_column("status").to_list()
    assert len(stalled) >= 3 and statuses[:len(stalled)] == ["stalled"] * len(stalled)
    assert set(zip(bulletin.villages["village"][:len(stalled)], bulletin.villages["product"][:len(stalled)],
                   strict=True)) == set(stalled)
    assert {("百坭村", "田阳番茄"), ("龙窝村", "紫金绿茶")} <= set(stalled)  # offered all year, rarely bought
    sold_villages = bulletin.villages.filter(pl.col("sold_period") > 0)
    sold_in_week = {v["village"]: v["households"] for v in now["villages"] if v["sold_value"] > 0}
    assert sorted(sold_villages.get_column("village")) == sorted(sold_in_week) and len(sold_in_week) >= 4
    assert bulletin.households == sold_villages.get_column("households").sum() == sum(sold_in_week.values())
    counties = {row["county"]: row for row in bulletin.counties.iter_rows(named=True)}
    haifeng = [v for v in so_far["villages"] if v["county"] == "海丰县"]
    assert counties["海丰县"]["value_sell_through"] == pytest.approx(
        sum(v["sold_value"] for v in haifeng) / sum(v["unsold_value"] for v in haifeng))
    assert counties["陆河县"]["sold_period"] / 100 == pytest.approx(sold[("新田村", "陆河青梅")])


def test_a_county_bulletin_is_the_county_report(demo, demo_url: str, capsys) -> None:
    frames, batches = demo
    bulletin = content.make(frames, batches, "month", ending=date(2020, 8, 1), county="海丰县", lang="en", now=NOW)
    now = report_json(demo_url, capsys, "--from", "2020-08-01", "--to", "2020-08-31", "--county", "海丰县")
    figures = {row["key"]: row for row in bulletin.headline.iter_rows(named=True)}
    assert figures["sessions"]["current"] == now["totals"]["sessions"] == 2
    assert figures["gmv"]["current"] / 100 == pytest.approx(now["totals"]["gmv"])
    assert set(bulletin.villages.get_column("county")) == {"海丰县"}
    assert bulletin.summary.startswith(("GMV", "Sessions", "Viewers", "Orders", "Hours", "Refunds", "Sold"))


def test_provenance_names_the_files_behind_the_period(demo, demo_url: str, capsys) -> None:
    frames, batches = demo
    bulletin = content.make(frames, batches, "week", ending=date(2020, 9, 13), now=NOW)
    files = [Path(p).name for p in bulletin.provenance.get_column("path")]
    assert "ticks_KS20200910004_clock_times.csv" in files and "sessions_tv_2020.xlsx" in files
    assert "ticks_zhaotong_pdd.xlsx" not in files  # December's show is not of this week
    assert set(bulletin.provenance.get_column("kind")) == {"stock", "sessions", "ticks", "sales"}
    july = content.make(frames, batches, "month", ending=date(2020, 7, 31), now=NOW)  # the mango show's boxes
    now = report_json(demo_url, capsys, "--from", "2020-07-01", "--to", "2020-07-31")
    assert july.unconvertible == (now["unconvertible"]["rows"], round(now["unconvertible"]["amount"] * 100)) == (
        2, 14970)
    assert july.unattributed[0] == now["unattributed"]["rows"] > 0


def test_the_workbook_holds_the_figures_as_numbers_in_yuan(demo, demo_url: str, capsys, tmp_path: Path) -> None:
    frames, batches = demo
    path = tmp_path / "bulletin.xlsx"
    path.write_bytes(xlsx.to_xlsx(content.make(frames, batches, "week", ending=date(2020, 9, 13), now=NOW)))
    now = report_json(demo_url, capsys, "--from", WEEK[0], "--to", WEEK[1])
    so_far = report_json(demo_url, capsys, "--to", WEEK[1])
    sheets = fastexcel.read_excel(path).sheet_names
    assert sheets == ["主要指标", "主播类型对比", "成交额前十场次", "分县区", "分村", "数据来源"]
    headline = pl.read_excel(path, sheet_name="主要指标").head(7)
    gmv = headline.filter(pl.col("指标") == "成交额（元）").row(0, named=True)
    assert gmv["本期"] == pytest.approx(now["totals"]["gmv"]) and headline.schema["本期"] == pl.Float64
    before = report_json(demo_url, capsys, "--from", BEFORE[0], "--to", BEFORE[1])
    assert gmv["上期"] == pytest.approx(before["totals"]["gmv"])
    assert gmv["环比"] == pytest.approx(now["totals"]["gmv"] / before["totals"]["gmv"] - 1)
    top = pl.read_excel(path, sheet_name="成交额前十场次")
    assert top.schema["成交额（元）"] == pl.Float64
    assert top.get_column("成交额（元）").to_list() == sorted((s["gmv"] for s in now["sessions"]), reverse=True)
    villages = pl.read_excel(path, sheet_name="分村")
    assert villages.schema["剩余货值（元）"] == pl.Float64 and villages.schema["累计售出比例"] == pl.Float64
    [kiwi] = villages.filter(pl.col("村") == "火卖村").iter_rows(named=True)
    [want] = [v for v in so_far["villages"] if v["village"] == "火卖村"]
    assert kiwi["累计售出比例"] == pytest.approx(want["sell_through"], abs=1e-6)
    assert kiwi["剩余货值（元）"] == want["remaining_value"]
    stalled = sum(v["status"] == "stalled" for v in so_far["villages"])
    statuses = villages.get_column("状态").to_list()
    assert stalled >= 3 and statuses[:stalled] == ["滞销未动"] * stalled and statuses[stalled] != "滞销未动"
    with zipfile.ZipFile(path) as book:  # money shown in ¥, ratios as %, headings frozen
        styles = book.read("xl/styles.xml").decode()
        sheet = book.read("xl/worksheets/sheet5.xml").decode()
    assert "¥#,##0.00" in styles and "0.0%" in styles
    assert 'state="frozen"' in sheet and "<col " in sheet


def test_text_that_starts_like_a_formula_stays_text_in_the_workbook(demo, tmp_path: Path) -> None:
    frames, batches = demo
    sessions = frames["sessions"].with_columns(
        title=pl.when(pl.col("session_id") == CLOCK_TICKS).then(pl.lit("=HYPERLINK(\"http://x\")"))
        .otherwise("title"))
    bulletin = content.make({**frames, "sessions": sessions}, batches, "week", ending=date(2020, 9, 13), now=NOW)
    path = tmp_path / "b.xlsx"
    path.write_bytes(xlsx.to_xlsx(bulletin))
    titles = pl.read_excel(path, sheet_name="成交额前十场次").get_column("场次").to_list()
    assert "'=HYPERLINK(\"http://x\")" in titles
    with zipfile.ZipFile(path) as book:
        assert not any("<f>" in book.read(name).decode() for name in book.namelist() if name.endswith(".xml"))


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def test_the_pdf_is_a4_with_its_fonts_embedded_and_the_reports_figures(demo, demo_url: str, capsys) -> None:
    frames, batches = demo
    made = datetime(2020, 9, 14, 1, 30, tzinfo=UTC)
    data = pdf.to_pdf(content.make(frames, batches, "week", ending=date(2020, 9, 13), now=made))
    now = report_json(demo_url, capsys, "--from", WEEK[0], "--to", WEEK[1])
    so_far = report_json(demo_url, capsys, "--to", WEEK[1])
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert all((round(p.mediabox.width), round(p.mediabox.height)) == (595, 842) for p in reader.pages)
    pages = pdf_pages(data)
    assert "统计期：2020-09-07 至 2020-09-13" in pages[0] and "对比上期：2020-08-31 至 2020-09-06" in pages[0]
    for number, page in enumerate(pages, start=1):  # the period, the time it was made and its number, on every page
        assert "统计期：2020-09-07 至 2020-09-13" in page and "生成时间：2020-09-14 09:30" in page
        assert f"第 {number} 页 / 共 {len(pages)} 页" in page
    text = "\n".join(pages)
    for heading in ("消费帮扶直播带货周通报", "主要指标", "成交额前十场次", "分县区滞销货值消化情况", "数据来源"):
        assert heading in text
    before = report_json(demo_url, capsys, "--from", BEFORE[0], "--to", BEFORE[1])
    rise = now["totals"]["gmv"] / before["totals"]["gmv"] - 1
    assert f"成交额（元） ¥{now['totals']['gmv']:,.2f} ¥{before['totals']['gmv']:,.2f} ↑{rise:.1%}" in text
    assert "本期 2 场中 1 场有此数据" in text
    stalled = [v for v in so_far["villages"] if v["status"] == "stalled"]
    for village in stalled:  # in red, before every other village
        assert f"{village['village']} {village['product']} 滞销未动" in text
    assert text.index("滞销未动 ¥") < text.index("正常销售 ¥")
    [kiwi] = [v for v in so_far["villages"] if v["village"] == "火卖村"]
    assert f"火卖村 红心猕猴桃 正常销售 ¥{kiwi['unsold_value']:,.2f}" in text and f"{kiwi['sell_through']:.1%}" in text
    fonts = set()
    for page in reader.pages:
        assert not page.images  # the charts are drawn, not pictures
        for font in page["/Resources"]["/Font"].values():
            descriptor = font.get_object()["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
            assert "/FontFile3" in descriptor or "/FontFile2" in descriptor
            fonts.add(str(font.get_object()["/BaseFont"]).split("+")[1])
    assert fonts <= {"NotoSansCJKsc-Regular-Identity-H", "NotoSansCJKsc-Bold-Identity-H"}
    assert "每日成交额（按主播类型）" in text and "各县区滞销货值售出比例\n陆丰市" in text  # the charts' words are text


def test_an_english_county_bulletin(demo) -> None:
    frames, batches = demo
    data = pdf.to_pdf(content.make(frames, batches, "month", ending=date(2020, 8, 31), county="海丰县", lang="en",
                                   now=NOW))
    pages = pdf_pages(data)
    assert "Period: 2020-08-01 to 2020-08-31" in pages[0] and "Scope: 海丰县" in pages[0]
    assert "Key figures" in pages[0] and "Page 1 of" in pages[0]
    text = "\n".join(pages)
    assert "莲花村" in text and "陆丰市" not in text.split("Where the figures come from")[0]


def test_the_command_writes_both_files_of_the_week_asked_for(demo_url: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["bulletin", "--db", demo_url, "--period", "week", "--ending", "2020-09-10", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    pdf_file, xlsx_file = out / "bulletin-week-2020-09-07-2020-09-13.pdf", out / "bulletin-week-2020-09-07-2020-09-13.xlsx"
    assert f"wrote {pdf_file}" in said and f"wrote {xlsx_file}" in said
    assert "统计期：2020-09-07 至 2020-09-13" in pdf_pages(pdf_file.read_bytes())[0]
    assert fastexcel.read_excel(xlsx_file).sheet_names[0] == "主要指标"
    assert main(["bulletin", "--db", demo_url, "--period", "month", "--county", "海丰县", "--format", "xlsx",
                 "--lang", "en", "--ending", "2020-08-31", "--out", str(out)]) == 0
    assert (out / "bulletin-month-2020-08-01-2020-08-31-海丰县.xlsx").is_file()
    assert not (out / "bulletin-month-2020-08-01-2020-08-31-海丰县.pdf").exists()


def test_the_command_names_the_counties_when_asked_for_one_it_lacks(demo_url: str, tmp_path: Path, capsys) -> None:
    assert main(["bulletin", "--db", demo_url, "--county", "北京市", "--out", str(tmp_path)]) == 1
    assert "no county named '北京市'; the store has: 乐业县, 大化县" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_pdf_of_many_villages_lists_the_first_sixty_and_points_to_the_workbook(demo) -> None:
    frames, batches = demo
    made = content.make(frames, batches, "week", ending=date(2020, 9, 13), now=NOW)
    many = dataclasses.replace(made, villages=pl.concat([made.villages] * 5))  # 75 rows
    text = "\n".join(pdf_pages(pdf.to_pdf(many)))
    assert made.villages.height == 15 and "仅列出前 60 行，共 75 行；完整列表见同期 XLSX 文件。" in text
    listed = text.split("分村消化情况")[1].split("数据来源")[0]
    assert listed.count("龙窝村 紫金绿茶 滞销未动") == listed.count("火卖村 红心猕猴桃") == 60 // 15


def test_typst_markup_in_a_file_s_text_is_shown_as_written_in_the_pdf(demo) -> None:
    frames, batches = demo
    written = '#read("/etc/passwd") *粗体* $x^2$ #link("http://example.org")[点我] <lbl> = 标题'
    sessions = frames["sessions"].with_columns(
        title=pl.when(pl.col("session_id") == CLOCK_TICKS).then(pl.lit(written)).otherwise("title"))
    data = pdf.to_pdf(content.make({**frames, "sessions": sessions}, batches, "week", ending=date(2020, 9, 13),
                                   now=NOW))
    text = "".join(pdf_pages(data)).replace("\n", "").replace(" ", "")
    assert written.replace(" ", "") in text
    assert b"root:" not in data and b"/URI" not in data  # no file read into it, no link made


@pytest.mark.usefixtures("loaded")
def test_without_the_cjk_font_the_dashboard_offers_the_workbook_and_says_why(monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path) -> None:
    at = app()
    assert [b.proto.label for b in at.get("download_button") if b.proto.label in ("PDF", "XLSX")] == ["PDF", "XLSX"]
    monkeypatch.setattr(charts, "FONT_DIRS", (tmp_path,))
    at = app()
    assert [b.proto.label for b in at.get("download_button") if b.proto.label in ("PDF", "XLSX")] == ["XLSX"]
    assert any("apt-get install fonts-noto-cjk" in c.value.replace("\\", "") for c in at.caption)  # as markdown


def test_without_the_cjk_font_the_command_says_what_to_install(demo_url: str, monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(charts, "FONT_DIRS", (tmp_path / "none",))
    assert main(["bulletin", "--db", demo_url, "--format", "pdf", "--out", str(tmp_path)]) == 1
    assert "cannot make the PDF: the bulletin needs the Noto CJK fonts" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.pdf"))
