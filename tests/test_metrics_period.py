"""The report over a span of days (metrics.period): which sessions, sales and baselines a window holds."""

from __future__ import annotations

from datetime import UTC, date, datetime

from relief_live.metrics.period import per_county, period_report
from tests.test_metrics import at, frame

NOW = datetime(2020, 10, 1, tzinfo=UTC)
SESSIONS = frame(
    "sessions",
    {"session_id": "late", "host_kind": "broadcast", "started_at": at("2020-09-13 23:00"),
     "ended_at": at("2020-09-14 01:00"), "gmv": 5000},
    {"session_id": "next", "host_kind": "cadre", "started_at": at("2020-09-14 10:00"), "ended_at": at("2020-09-14 11:00"),
     "gmv": 700},
)
TICKS = frame("ticks", {"session_id": "late", "ts": at("2020-09-13 23:30"), "viewers_online": 10},
              {"session_id": "late", "ts": at("2020-09-14 00:30"), "viewers_online": 90})
SALES = frame(
    "sales",
    {"session_id": "late", "ts": at("2020-09-13 23:40"), "village": "甲村", "product": "茶", "quantity": 1.0,
     "unit": "斤", "amount": 100},
    {"session_id": "late", "ts": at("2020-09-14 00:20"), "village": "甲村", "product": "茶", "quantity": 2.0,
     "unit": "斤", "amount": 200},
    {"session_id": "next", "ts": None, "village": "乙村", "product": "米", "quantity": 4.0, "unit": "斤", "amount": 400},
)
STOCK = frame(
    "stock",
    {"county": "一县", "village": "甲村", "product": "茶", "unsold_qty": 10.0, "unit": "斤", "as_of": date(2020, 9, 1),
     "unit_price": 100},
    {"county": "二县", "village": "乙村", "product": "米", "unsold_qty": 8.0, "unit": "斤", "as_of": date(2020, 9, 1),
     "unit_price": 100},
    {"county": "二县", "village": "丙村", "product": "豆", "unsold_qty": 5.0, "unit": "斤", "as_of": date(2020, 9, 20),
     "unit_price": 100},
)


def week(start: date | None, end: date, county: str | None = None):  # type: ignore[no-untyped-def]
    return period_report(SESSIONS, TICKS, SALES, STOCK, start=start, end=end, now=NOW, county=county)


def test_a_show_that_crosses_midnight_is_of_the_day_it_starts_with_its_ticks_and_sales() -> None:
    sunday = week(date(2020, 9, 7), date(2020, 9, 13))
    assert sunday.sessions.get_column("session_id").to_list() == ["late"]
    assert sunday.sessions.item(0, "peak_viewers") == 90  # its tick after midnight stays with it
    assert sunday.villages.filter(village="甲村").item(0, "sold_value") == 300  # its sale after midnight too
    monday = week(date(2020, 9, 14), date(2020, 9, 20))
    assert monday.sessions.get_column("session_id").to_list() == ["next"]  # not "late" again, from that sale
    assert monday.totals["gmv"] == 700
    # A sale without a time is of its session's day; a baseline registered later is not yet in the week before.
    assert monday.villages.select("village", "sold_value").rows() == [("甲村", 0), ("丙村", 0), ("乙村", 400)]
    assert sunday.villages.get_column("village").to_list() == ["甲村", "乙村"]


def test_up_to_a_day_is_everything_known_by_its_end() -> None:
    so_far = week(None, date(2020, 9, 14))
    assert so_far.totals["gmv"] == 5700 and so_far.totals["sold_value"] == 700
    assert so_far.villages.filter(village="甲村").item(0, "sell_through") == 0.3


def test_one_county_keeps_its_villages_and_sums_them_as_the_totals_do() -> None:
    second = week(None, date(2020, 9, 30), county="二县")
    assert second.villages.get_column("village").to_list() == ["丙村", "乙村"]
    assert second.totals["unsold_value"] == 1300 and second.totals["sold_value"] == 400
    [row] = per_county(second.villages).iter_rows(named=True)
    assert (row["county"], row["villages"], row["sold_value"]) == ("二县", 2, 400)
    assert row["value_sell_through"] == second.totals["value_sell_through"] == 400 / 1300
