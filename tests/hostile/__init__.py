"""A corpus of hostile files, built by code: each with what a person must see (its rows, or the message that
refuses it). The same corpus goes through the CLI, `watch` and the functions the Upload page calls."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import polars as pl

SHANGHAI = ZoneInfo("Asia/Shanghai")
SALES_HEAD = ["订单编号", "下单时间", "商品名称", "商品数量", "实付金额", "直播ID"]


@dataclass(frozen=True)
class Hostile:
    """One file: its name and bytes, and either the rows it must give (`kind`, `rows`, `check` of the stored
    frame) or the words its rejection must say (`refused`, and the line it names)."""

    name: str
    data: bytes
    kind: str | None = None
    rows: int = 0
    check: Callable[[pl.DataFrame], bool] | None = None
    refused: str | None = None
    line: int | None = None


def table(rows: list[list[str]], head: list[str] = SALES_HEAD) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([head, *rows])
    return buffer.getvalue().encode("utf-8")


def sale(order: str, amount: str = "10", qty: str = "1", ts: str = "2020-09-06 19:30") -> list[str]:
    return [order, ts, "芒果", qty, amount, "s1"]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp() * 1000)


def corpus() -> list[Hostile]:
    return [
        # Digits as a Chinese input method types them are digits; those of other scripts are refused, not a crash.
        Hostile("fullwidth.csv", table([sale("f1", amount="５９"), sale("f2", amount="¥１２.５", qty="２")]),
                kind="sales", rows=2, check=lambda f: f["amount"].sort().to_list() == [1250, 5900]
                and f["quantity"].sum() == 3),
        Hostile("mathbold.csv", table([sale("m1", amount="𝟒𝟒")]), kind="sales", rows=1,
                check=lambda f: f["amount"].to_list() == [4400]),
        Hostile("arabic.csv", table([sale("a1"), sale("a2", amount="٥٩")]),
                refused='line 3, column 实付金额: "٥٩" is not a number: write its digits as 0-9', line=3),
        Hostile("arabic_count.csv", table([sale("a1", qty="٣")]),
                refused='column 商品数量: "٣" is not a number: write its digits as 0-9', line=2),
        Hostile("long_duration.csv", table([["s9", "2020-09-06 19:00", "干部直播", "9" * 25 + "小时"]],
                                           ["直播ID", "开播时间", "直播类型", "直播时长"]),
                refused="is not a duration", line=2),
        Hostile("year_9999.csv", table([sale("y1", ts="9999-12-31 23:59:59")]),
                refused="is before 1900 or after 2199", line=2),
        Hostile("year_0001.csv", table([sale("y1", ts="0001-01-01 00:00:00")]),
                refused="is before 1900 or after 2199", line=2),
        # A time before 1970 is that time, not a time of day.
        Hostile("year_1900.csv", table([sale("old", ts="1900-01-01 00:00:00"), sale("new", ts="1969-12-31 23:59")]),
                kind="sales", rows=2, check=lambda f: sorted(f["ts"].dt.epoch("ms").to_list()) == [
                    ms("1900-01-01 00:00:00"), ms("1969-12-31 23:59:00")]),
        Hostile("escape_codes.csv", table([sale("e1", amount="\x1b]0;owned\x07\x1b[2J12")]),
                refused='"\\x1b]0;owned\\x07\\x1b[2J12" is not a number', line=2),
        # Past the first 64 KiB (where a binary file is told): named with its line, never stored.
        Hostile("nul_late.csv", table([sale(f"n{i}") for i in range(2000)]) + b"n9,2020-09-06 19:30,\x00,1,1,s1\n",
                refused="holds a NUL byte at character 21 of the line", line=2002),
        # A byte order mark inside (two exports joined) is no part of a cell: one product, not two.
        Hostile("bom_inside.csv", table([sale("b1"), ["b2", "2020-09-06 19:30", "\ufeff芒果", "1", "10", "s1"]]),
                kind="sales", rows=2, check=lambda f: f["product"].unique().to_list() == ["芒果"]),
        # The same after many full-width characters, whose first byte is the mark's.
        Hostile("bom_after_fullwidth.csv", table([*([f"f{i}", "2020-09-06 19:30", "芒果（礼盒）", "1", "10", "s1"] for i in range(50)),
                                                  ["b2", "2020-09-06 19:30", "\ufeff芒果（礼盒）", "1", "10", "s1"]]),
                kind="sales", rows=51, check=lambda f: f["product"].unique().to_list() == ["芒果（礼盒）"]),
        Hostile("not_an_export.csv", b"root:$6$salt$hash:19000:0:99999:7:::\n", refused="fit no known kind"),
        Hostile("empty.csv", b"", refused="the file is empty"),
        Hostile("binary.csv", b"\x00\x01\x02" * 100, refused="binary file"),
    ]


def workbook(rows: list[list[object]], *, formula_at: tuple[int, int] | None = None) -> bytes:
    """An XLSX workbook of `rows` (the first the headers), written as a program writes one (xlsxwriter); with
    `formula_at`, that cell a formula whose value was never computed."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    if formula_at is not None:
        sheet.write_formula(*formula_at, "=10*5")
    book.close()
    return buffer.getvalue()


def lying_zip(inflated: int = 30 * 1024 * 1024) -> bytes:
    """An XLSX whose sheet inflates to `inflated` bytes while its zip declares 1,000."""
    import struct
    import zipfile

    good = workbook([SALES_HEAD, ["o1", "2020-09-06 19:30", "芒果", 1, 10, "s1"]])
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<sheetData>", b"<sheetData>" + b" " * inflated)
            out.writestr(info.filename, body)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
        struct.pack_into("<I", data, sheet.header_offset + 22, 1000)  # the local header's size
    central = data.rfind(b"PK\x01\x02xl/worksheets/sheet1.xml"[:4], 0)
    while central >= 0:  # the central directory's entry for the sheet
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if data[central + 46:central + 46 + name_length] == b"xl/worksheets/sheet1.xml":
            struct.pack_into("<I", data, central + 24, 1000)
            break
        central = data.rfind(b"PK\x01\x02", 0, central)
    return bytes(data)


def workbooks() -> list[Hostile]:
    order = ["o1", "2020-09-06 19:30", "芒果", 1, 10, "s1"]
    return [
        Hostile("sheet.xlsx", workbook([SALES_HEAD, order]), kind="sales", rows=1,
                check=lambda f: f["amount"].to_list() == [1000]),
        Hostile("uncomputed.xlsx", workbook([SALES_HEAD, order], formula_at=(1, 4)),
                refused="cell E2 is a formula whose value was never computed", line=2),
        Hostile("wide.xlsx", workbook([SALES_HEAD, [*order, *([None] * 15_993), "x"]]),
                refused="has 16,000 columns; exports have at most 1,000", line=2),
        Hostile("lying_zip.xlsx", lying_zip(), refused="refused as a zip bomb"),
    ]
