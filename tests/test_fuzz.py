"""Fuzzing the reader (hypothesis): any bytes are accepted or rejected cleanly, and accepted totals are right."""

from __future__ import annotations

import csv
import io
import os
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relief_live import ingest, schema
from relief_live.read import Rejected

SHANGHAI = ZoneInfo("Asia/Shanghai")

# `make fuzz` raises this for a long run; CI runs at least 2,000 examples over the tests below.
EXAMPLES = int(os.environ.get("RELIEF_LIVE_FUZZ_EXAMPLES", "700"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_or_reject(data: bytes, **kwargs) -> pl.DataFrame | None:
    """The typed rows, or None when rejected with at least one problem a person can read."""
    try:
        return ingest.parse("fuzz.csv", data, **kwargs)[1]
    except Rejected as rejected:
        assert rejected.problems, "a rejection must say why"
        for problem in rejected.problems:
            assert str(problem).startswith("fuzz.csv"), problem
        return None


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data: bytes) -> None:
    parse_or_reject(data)


ALIASES = [alias for fields in schema.KINDS.values() for f in fields for alias in (f.name, *f.aliases)]
CELL = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["1.2万", "¥1,234.50", "7.5w~10w", "12.3%", "-3", "2020/9/6 19:01", "19:01", "1小时45分",
                     "箱(10斤)", "干部直播", "抖音", "", " ", '"', "=1+1", "NaN", "1e5", "２０"]),
)


@FUZZ
@given(st.lists(st.sampled_from(ALIASES), min_size=1, max_size=8),
       st.lists(st.lists(CELL, min_size=0, max_size=9), max_size=6),
       st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_random_headers_and_cells_never_crash(headers: list[str], rows: list[list[str]], encoding: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    parse_or_reject(buffer.getvalue().encode(encoding, errors="replace"), session_id="s1", host_kind="cadre")


MONEY = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
QTY = st.integers(min_value=0, max_value=10**6)


def money_forms(value: Decimal) -> st.SearchStrategy[str]:
    forms = [f"{value}", f"{value:,}", f"¥{value:,}", f"￥{value}", f"{value}元"]
    if value == value.quantize(Decimal(100)):
        forms.append(f"{value / 10000}万")
    return st.sampled_from(forms)


TIME_FORMS = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y年%m月%d日 %H:%M", "%Y-%m-%dT%H:%M:%S+08:00"]


@FUZZ
@given(st.data(), st.lists(st.tuples(MONEY, QTY, st.datetimes(min_value=datetime(2019, 1, 1),
                                                             max_value=datetime(2021, 1, 1))),
                           min_size=1, max_size=20))
def test_accepted_sales_totals_equal_the_generated_values(data: st.DataObject, lines: list) -> None:
    rows, formats = [], []
    for amount, qty, when in lines:
        fmt = data.draw(st.sampled_from(TIME_FORMS))
        formats.append(fmt)
        rows.append([data.draw(money_forms(amount)), f"{qty:,}" if data.draw(st.booleans()) else str(qty),
                     when.strftime(fmt), "芒果"])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["实付金额", "数量", "下单时间", "商品名称"])
    writer.writerows(rows)
    frame = parse_or_reject(buffer.getvalue().encode(data.draw(st.sampled_from(["utf-8", "gb18030"]))), session_id="s1")
    assert frame is not None, buffer.getvalue()
    assert frame["amount"].sum() == sum(int(amount * 100) for amount, _, _ in lines)
    assert frame["quantity"].sum() == sum(qty for _, qty, _ in lines)
    assert frame.height == len(lines)
    for (_, _, when), ms, fmt in zip(lines, frame["ts"].to_list(), formats, strict=True):
        written = when.replace(microsecond=0, second=when.second if "%S" in fmt else 0, tzinfo=SHANGHAI)
        assert ms == int(written.timestamp() * 1000), when.strftime(fmt)


@FUZZ
@given(st.lists(st.tuples(MONEY, QTY), min_size=1, max_size=10), st.integers(0, 9), st.sampled_from(
    ["abc", "7.5w~10w", "1.2.3", "--1", "¥", "万"]))
def test_one_perturbed_cell_rejects_the_whole_file_naming_its_line(lines: list, where: int, junk: str) -> None:
    where = where % len(lines)
    text = "实付金额,数量,商品名称\n" + "".join(
        f"{junk if i == where else amount},{qty},芒果\n" for i, (amount, qty) in enumerate(lines))
    try:
        ingest.parse("fuzz.csv", text.encode(), session_id="s1")
    except Rejected as rejected:
        assert [p.line for p in rejected.problems] == [where + 2]
        assert rejected.problems[0].column == "实付金额"
    else:
        raise AssertionError(f"{junk!r} was accepted as money")
