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
        Hostile("not_an_export.csv", b"root:$6$salt$hash:19000:0:99999:7:::\n", refused="fit no known kind"),
        Hostile("empty.csv", b"", refused="the file is empty"),
        Hostile("binary.csv", b"\x00\x01\x02" * 100, refused="binary file"),
    ]
