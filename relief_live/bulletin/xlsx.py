"""The bulletin as a workbook: one sheet per table, numbers as numbers (money in ¥, ratios as %), header frozen."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Final

import polars as pl
import xlsxwriter

from relief_live.bulletin.content import Bulletin, figure_text, host_kind_name, local_text, status_name, text
from relief_live.download import neutralise
from relief_live.i18n import vocab

MONEY_FORMAT: Final = "¥#,##0.00"
PERCENT_FORMAT: Final = "0.0%"
FORMATS: Final[dict[str, str]] = {"money": MONEY_FORMAT, "percent": PERCENT_FORMAT, "count": "#,##0",
                                  "hours": "#,##0.0", "date": "yyyy-mm-dd", "time": "yyyy-mm-dd hh:mm"}
WIDTH: Final[dict[str, int]] = {"money": 18, "percent": 12, "count": 10, "hours": 10, "date": 13, "time": 17}

# A table's columns: (heading key of content.TEXT, column of the bulletin's frame, kind of FORMATS or "text").
Columns = Sequence[tuple[str, str, str]]

HOST_KINDS: Final[Columns] = (
    ("host_kind", "host_kind", "text"), ("sessions", "sessions", "count"), ("hours", "hours", "hours"),
    ("gmv", "gmv", "money"), ("gmv_per_hour", "gmv_per_hour", "money"),
    ("gmv_per_hour_before", "gmv_per_hour_before", "money"), ("change", "change", "percent"),
    ("median_conversion", "median_conversion", "percent"))
TOP_SESSIONS: Final[Columns] = (
    ("title_col", "title", "text"), ("host", "host_name", "text"), ("host_kind", "host_kind", "text"),
    ("platform", "platform", "text"), ("started", "started_at", "time"), ("hours", "hours", "hours"),
    ("viewers", "viewers", "count"), ("orders", "orders", "count"), ("gmv", "gmv", "money"),
    ("conversion", "conversion", "percent"))
COUNTIES: Final[Columns] = (
    ("county_col", "county", "text"), ("villages_n", "villages", "count"), ("unsold_value", "unsold_value", "money"),
    ("sold_period", "sold_period", "money"), ("sold_total", "sold_total", "money"),
    ("sell_through", "value_sell_through", "percent"), ("remaining_value", "remaining_value", "money"),
    ("clear_date", "projected_clear_date", "date"), ("stalled_n", "stalled", "count"))
VILLAGES: Final[Columns] = (
    ("county_col", "county", "text"), ("village", "village", "text"), ("product", "product", "text"),
    ("status", "status", "text"), ("unsold_value", "unsold_value", "money"), ("sold_period", "sold_period", "money"),
    ("sold_total", "sold_total", "money"), ("sell_through", "sell_through", "percent"),
    ("remaining_value", "remaining_value", "money"), ("clear_date", "projected_clear_date", "date"),
    ("households", "households", "count"))
PROVENANCE: Final[Columns] = (
    ("batch", "batch", "count"), ("file", "path", "text"), ("kind", "kind", "text"), ("rows", "rows", "count"),
    ("uploaded", "at", "time"), ("by", "by", "text"))


def sheet_frame(frame: pl.DataFrame, columns: Columns, lang: str) -> pl.DataFrame:
    """`frame`'s columns as the sheet holds them, under their headings: money in yuan, times as Shanghai
    wall-clock times, host kinds, platforms and statuses in words, text made safe from formula starts."""
    exprs = []
    for key, name, kind in columns:
        column = pl.col(name)
        if kind == "money":
            column = column.cast(pl.Float64) / 100
        elif kind == "time":
            column = column.dt.convert_time_zone("Asia/Shanghai").dt.replace_time_zone(None)
        elif name == "host_kind":
            column = column.map_elements(lambda k: host_kind_name(k, lang), return_dtype=pl.String, skip_nulls=False)
        elif name == "kind":
            column = column.map_elements(lambda k: vocab("kind", k, lang), return_dtype=pl.String)
        elif name == "platform":
            column = column.map_elements(lambda p: vocab("pf", p, lang), return_dtype=pl.String)
        elif name == "status":
            column = column.replace_strict({s: status_name(s, lang) for s in frame.get_column(name).unique()},
                                           return_dtype=pl.String)
        exprs.append(column.alias(text(key, lang)))
    return neutralise(frame.select(exprs))


def _write_table(book: xlsxwriter.Workbook, sheet: str, frame: pl.DataFrame, columns: Columns, lang: str,
                 *, red_status: bool = False) -> None:
    shown = sheet_frame(frame, columns, lang)
    headings = [text(key, lang) for key, _, _ in columns]
    formats = {text(key, lang): FORMATS[kind] for key, _, kind in columns if kind in FORMATS}
    widths = {text(key, lang): WIDTH.get(kind, 28 if name in ("title", "path") else 14)
              for key, name, kind in columns}
    conditional = {}
    if red_status and shown.height:
        conditional[text("status", lang)] = {"type": "cell", "criteria": "==",
                                             "value": f'"{status_name("stalled", lang)}"',
                                             "format": {"font_color": "#C00000", "bold": True}}
    shown.write_excel(book, sheet, column_formats=formats, column_widths=widths, freeze_panes=(1, 0),
                      conditional_formats=conditional or None, autofit=False, include_header=True,
                      table_style="Table Style Light 1", dtype_formats={pl.Date: FORMATS["date"]})
    if not shown.height:  # polars writes nothing for an empty frame: the headings still tell what is absent
        book.get_worksheet_by_name(sheet).write_row(0, 0, headings)


def _headline(book: xlsxwriter.Workbook, bulletin: Bulletin) -> None:
    """The first sheet: what the bulletin covers, the key figures against the previous period, the summary."""
    lang = bulletin.lang
    sheet = book.add_worksheet(text("headline", lang))
    bold = book.add_format({"bold": True})
    money, count, hours = (book.add_format({"num_format": FORMATS[k]}) for k in ("money", "count", "hours"))
    percent = book.add_format({"num_format": PERCENT_FORMAT})
    headings = [text(k, lang) for k in ("figure", "current", "before", "change", "note")]
    sheet.write_row(0, 0, headings, bold)
    sheet.freeze_panes(1, 0)
    for i, row in enumerate(bulletin.headline.iter_rows(named=True), start=1):
        number = money if row["key"] in ("gmv", "refunds", "sold_value") else hours if row["key"] == "hours" else count
        sheet.write_string(i, 0, row["figure"])
        for j, key in ((1, "current"), (2, "previous")):
            value = row[key] / 100 if number is money else row[key]
            sheet.write_number(i, j, value, number)
        if row["change"] is None:
            sheet.write_string(i, 3, "–")
        else:
            sheet.write_number(i, 3, row["change"], percent)
        if row["note"]:
            sheet.write_string(i, 4, row["note"])
    at = bulletin.headline.height + 2
    period, before = bulletin.period, bulletin.previous
    lines = [
        text("title", lang, kind=text(period.kind, lang)),
        text("period", lang, start=period.start, end=period.end),
        text("previous", lang, start=before.start, end=before.end),
        text("county", lang, county=bulletin.county) if bulletin.county else text("all_counties", lang),
        text("made", lang, time=local_text(bulletin.made_at)),
        f"{text('households', lang)}: {bulletin.households:,}",
        text("summary", lang) + ": " + bulletin.summary,
        text("unattributed", lang, rows=f"{bulletin.unattributed[0]:,}",
             amount=figure_text("gmv", bulletin.unattributed[1])),
        text("unconvertible", lang, rows=f"{bulletin.unconvertible[0]:,}",
             amount=figure_text("gmv", bulletin.unconvertible[1])),
    ]
    for offset, line in enumerate(lines):
        sheet.write_string(at + offset, 0, neutralise(pl.DataFrame({"t": [line]})).item())
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 3, 18)
    sheet.set_column(4, 4, 40)


def to_xlsx(bulletin: Bulletin) -> bytes:
    """The workbook's bytes."""
    buffer = io.BytesIO()
    lang = bulletin.lang
    with xlsxwriter.Workbook(buffer, {"in_memory": True, "remove_timezone": True}) as book:
        _headline(book, bulletin)
        _write_table(book, text("host_kinds_sheet", lang), bulletin.host_kinds, HOST_KINDS, lang)
        _write_table(book, text("top_sessions_sheet", lang), bulletin.top_sessions, TOP_SESSIONS, lang)
        _write_table(book, text("counties_sheet", lang), bulletin.counties, COUNTIES, lang)
        _write_table(book, text("villages_sheet", lang), bulletin.villages, VILLAGES, lang, red_status=True)
        _write_table(book, text("provenance", lang), bulletin.provenance, PROVENANCE, lang)
    return buffer.getvalue()
