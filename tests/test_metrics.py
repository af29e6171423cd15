"""Metrics of docs/metrics.md on small inline programmes, each value worked out by hand in the test."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import polars as pl
import pytest

from relief_live.metrics import (
    Report,
    build_report,
    format_report,
    gmv_per_day,
    grain_for,
    per_period,
    previous_episode,
    report_json,
    session_curves,
)
from relief_live.schema import frame_schema

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORT_SCHEMA = json.loads((Path(__file__).parent / "report_schema.json").read_text(encoding="utf-8"))
NOW = datetime(2020, 10, 1, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    """A Shanghai wall-clock time ('2020-09-06 19:00') as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def frame(kind: str, *rows: dict[str, Any]) -> pl.DataFrame:
    """A store frame of `kind`: the given columns of each row, the rest null, batch 1 and lines 2, 3, …"""
    schema = frame_schema(kind)
    full = [{"batch": 1, "line": i + 2, **{name: None for name in schema if name not in ("batch", "line")}, **row}
            for i, row in enumerate(rows)]
    return pl.DataFrame(full, schema=schema, orient="row") if full else pl.DataFrame(schema=schema)


def report(sessions: tuple[dict, ...] = (), ticks: tuple[dict, ...] = (), sales: tuple[dict, ...] = (),
           stock: tuple[dict, ...] = (), *, now: datetime = NOW, live_minutes: float = 3.0) -> Report:
    return build_report(frame("sessions", *sessions), frame("ticks", *ticks), frame("sales", *sales),
                        frame("stock", *stock), now=now, live_minutes=live_minutes)


def session(rep: Report, session_id: str) -> dict[str, Any]:
    return rep.sessions.filter(pl.col("session_id") == session_id).to_dicts()[0]


def village(rep: Report, name: str, product: str) -> dict[str, Any]:
    return rep.villages.filter((pl.col("village") == name) & (pl.col("product") == product)).to_dicts()[0]


# -- sessions ----------------------------------------------------------------------------------------------

def test_avg_viewers_is_time_weighted_over_uneven_ticks_until_ended_at() -> None:
    rep = report(
        sessions=({"session_id": "s1", "host_kind": "broadcast", "started_at": at("2020-09-06 19:00"),
                   "ended_at": at("2020-09-06 20:00")},
                  {"session_id": "s2", "host_kind": "cadre", "started_at": at("2020-09-06 19:00")}),
        ticks=tuple({"session_id": sid, "ts": at(f"2020-09-06 {hm}"), "viewers_online": v}
                    for sid in ("s1", "s2") for hm, v in (("19:00", 100), ("19:10", 400), ("19:40", 200))),
    )
    s1 = session(rep, "s1")
    # 100 for 10 min, 400 for 30 min, 200 for the last 20 min up to ended_at (a plain mean would be 233.3)
    assert s1["avg_viewers"] == pytest.approx((100 * 10 + 400 * 30 + 200 * 20) / 60)
    assert s1["peak_viewers"] == 400
    assert s1["sources"]["avg_viewers"] == "ticks" and s1["sources"]["peak_viewers"] == "ticks"
    assert s1["duration_s"] == 3600
    # Without ended_at the last tick holds for no time.
    assert session(rep, "s2")["avg_viewers"] == pytest.approx((100 * 10 + 400 * 30) / 40)


def test_cumulative_tick_series_give_the_last_totals() -> None:
    rep = report(
        sessions=({"session_id": "s1", "host_kind": "broadcast", "started_at": at("2020-09-06 19:00"),
                   "ended_at": at("2020-09-06 21:00")},),
        ticks=tuple({"session_id": "s1", "ts": at(f"2020-09-06 19:0{i}"), "orders_cum": o, "gmv_cum": g,
                     "viewers_cum": uv, "views_cum": pv}
                    for i, (o, g, uv, pv) in enumerate([(3, 1000, 50, 80), (7, 2500, 90, 150), (12, 4000, 120, 200)])),
    )
    s1 = session(rep, "s1")
    assert (s1["orders"], s1["gmv"], s1["viewers"], s1["views"]) == (12, 4000, 120, 200)
    assert s1["buyers"] is None
    assert s1["gpm"] == 20000  # 40.00 yuan × 1000 / 200 views = 200.00 yuan
    assert s1["uv_value"] == 33  # 4000 fen / 120 viewers = 33.3 fen
    assert s1["aov"] == 333  # 4000 / 12 = 333.3 fen
    assert s1["gmv_per_hour"] == 2000  # 4000 fen over 2 hours
    assert s1["conversion"] == pytest.approx(12 / 120)
    assert s1["conversion_basis"] == "orders"  # buyers unknown: orders/viewers, labelled
    assert report_json(rep)["sessions"][0]["sources"]["conversion"] == "orders/viewers"


def test_per_interval_tick_series_are_summed() -> None:
    rep = report(ticks=tuple({"session_id": "s1", "ts": at(f"2020-09-06 19:0{i}"), "orders": o, "gmv": g}
                             for i, (o, g) in enumerate([(3, 1000), (4, 1500), (5, 1500)])))
    s1 = session(rep, "s1")
    assert (s1["orders"], s1["gmv"]) == (12, 4000)
    # Known only from its ticks: listed, started at its first tick, kind unknown.
    assert s1["started_at"] == at("2020-09-06 19:00") and s1["host_kind"] is None and not s1["has_summary"]


def test_summary_overrides_ticks_and_each_metric_keeps_its_source() -> None:
    rep = report(
        sessions=({"session_id": "s1", "host_kind": "broadcast", "started_at": at("2020-09-06 19:00"),
                   "ended_at": at("2020-09-06 20:00"), "peak_viewers": 500, "orders": 20, "gmv": 10000,
                   "buyers": 18},),
        ticks=({"session_id": "s1", "ts": at("2020-09-06 19:00"), "viewers_online": 50, "orders_cum": 5,
                "gmv_cum": 900, "viewers_cum": 300},),
        sales=({"session_id": "s1", "order_id": "A", "product": "蜂蜜", "quantity": 1.0, "amount": 7700},),
    )
    s1 = session(rep, "s1")
    assert (s1["peak_viewers"], s1["orders"], s1["gmv"], s1["viewers"]) == (500, 20, 10000, 300)
    assert s1["sources"] == {"peak_viewers": "summary", "avg_viewers": "ticks", "viewers": "ticks",
                             "views": None, "orders": "summary", "buyers": "summary", "gmv": "summary"}
    assert s1["conversion"] == pytest.approx(18 / 300) and s1["conversion_basis"] == "buyers"


def test_gpm_uv_value_and_conversion_null_when_their_denominator_is_unknown() -> None:
    rep = report(sessions=({"session_id": "s1", "host_kind": "cadre", "started_at": at("2020-09-06 19:00"),
                            "gmv": 10000, "orders": 0, "buyers": 5},))
    s1 = session(rep, "s1")
    assert s1["gpm"] is None and s1["uv_value"] is None and s1["conversion"] is None
    assert s1["conversion_basis"] is None
    assert s1["aov"] is None  # zero orders
    assert s1["gmv_per_hour"] is None and s1["duration_s"] is None  # no ended_at
    out = report_json(rep)["sessions"][0]
    assert (out["gpm"], out["conversion"], out["gmv"]) == (None, None, 100.0)


def test_sales_lines_give_gmv_and_orders_when_nothing_else_does_refunds_not_subtracted() -> None:
    rep = report(
        sessions=({"session_id": "s1", "host_kind": "cadre", "started_at": at("2020-09-06 19:00")},
                  {"session_id": "s2", "host_kind": "cadre", "started_at": at("2020-09-07 19:00")}),
        sales=({"session_id": "s1", "order_id": "A", "product": "蜂蜜", "quantity": 1.0, "amount": 1000},
               {"session_id": "s1", "order_id": "A", "product": "茶叶", "quantity": 1.0, "amount": 2500,
                "refund": 2500},
               {"session_id": "s1", "order_id": "B", "product": "蜂蜜", "quantity": 2.0, "amount": 2000},
               {"session_id": "s2", "product": "蜂蜜", "quantity": 30.0, "amount": 30000}),
    )
    s1, s2 = session(rep, "s1"), session(rep, "s2")
    assert (s1["gmv"], s1["orders"], s1["buyers"]) == (5500, 2, None)
    assert s1["sources"]["gmv"] == "sales" and s1["sources"]["orders"] == "sales"
    # Per-product totals without order ids: GMV yes, orders unknown.
    assert (s2["gmv"], s2["orders"], s2["sources"]["orders"]) == (30000, None, None)


def test_live_ends_when_the_feed_stops_three_minutes_after_the_latest_tick() -> None:
    now = at("2020-09-06 20:00")
    start = at("2020-09-06 19:00")
    sessions = (
        {"session_id": "on", "host_kind": "cadre", "started_at": start, "ended_at": at("2020-09-06 21:00")},
        {"session_id": "scheduled", "host_kind": "cadre", "started_at": start, "ended_at": at("2020-09-06 21:00")},
        {"session_id": "over", "host_kind": "cadre", "started_at": start, "ended_at": at("2020-09-06 19:59")},
        {"session_id": "two", "host_kind": "cadre", "started_at": start},
        {"session_id": "three", "host_kind": "cadre", "started_at": start},
        {"session_id": "four", "host_kind": "cadre", "started_at": start},
        {"session_id": "silent", "host_kind": "cadre", "started_at": start},
    )
    ticks = ({"session_id": "on", "ts": at("2020-09-06 19:58"), "viewers_online": 10},
             {"session_id": "over", "ts": at("2020-09-06 19:59"), "viewers_online": 10},  # ended after it
             {"session_id": "two", "ts": at("2020-09-06 19:58"), "viewers_online": 10},
             {"session_id": "three", "ts": at("2020-09-06 19:57"), "viewers_online": 10},
             {"session_id": "four", "ts": at("2020-09-06 19:56"), "viewers_online": 10})
    live = dict(report(sessions, ticks, now=now).sessions.select("session_id", "live").iter_rows())
    # A schedule without a feed is not on air; a feed silent for over three minutes has stopped.
    assert live == {"on": True, "scheduled": False, "over": False, "two": True, "three": True, "four": False,
                    "silent": False}
    # The limit is a setting (RELIEF_LIVE_SILENT_MINUTES): at 5 minutes the tick 4 minutes ago is recent enough.
    assert session(report(sessions, ticks, now=now, live_minutes=5), "four")["live"] is True


def test_host_kinds_sum_and_take_medians_skipping_nulls() -> None:
    def s(sid: str, kind: str, hours: float | None, gmv: int, views: int | None, buyers: int,
          viewers: int | None) -> dict:
        start = at("2020-09-06 19:00")
        return {"session_id": sid, "host_kind": kind, "started_at": start, "gmv": gmv, "views": views,
                "ended_at": None if hours is None else start + timedelta(hours=hours), "orders": buyers,
                "buyers": buyers, "viewers": viewers}

    rep = report(sessions=(s("b1", "broadcast", 1, 10000, 1000, 10, 500),
                           s("b2", "broadcast", 2, 30000, 1000, 30, 500),
                           s("b3", "broadcast", None, 5000, None, 7, None),
                           s("c1", "cadre", 0.5, 2000, 400, 4, 100)))
    kinds = {row["host_kind"]: row for row in rep.host_kinds.to_dicts()}
    b = kinds["broadcast"]
    assert (b["sessions"], b["hours"], b["orders"], b["gmv"]) == (3, 3.0, 47, 45000)
    assert b["median_gpm"] == 20000  # gpm 10000 and 30000 fen; b3 has no views
    assert b["median_conversion"] == pytest.approx(0.04)  # 0.02 and 0.06; b3 has no viewers
    assert b["gmv_per_hour"] == 13333  # (10000 + 30000) fen over the 3 timed hours; b3 untimed
    c = kinds["cadre"]
    assert (c["sessions"], c["hours"], c["gmv_per_hour"], c["median_gpm"]) == (1, 0.5, 4000, 5000)
    assert rep.totals["sessions"] == 4 and rep.totals["gmv"] == 47000 and rep.totals["orders"] == 51


# -- villages ----------------------------------------------------------------------------------------------

def test_kilogram_sales_against_a_tonne_baseline() -> None:
    rep = report(
        stock=({"county": "平和县", "village": "大坪村", "product": "蜜柚", "unsold_qty": 2.0, "unit": "t",
                "as_of": date(2020, 9, 1), "unit_price": 600000, "households": 12},),
        sales=({"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "蜜柚", "village": "大坪村",
                "quantity": 500.0, "unit": "kg", "amount": 300000},
               {"session_id": "s1", "ts": at("2020-09-06 19:20"), "product": "蜜柚", "village": "大坪村",
                "quantity": 250.0, "unit": "kg", "amount": 150000}),
    )
    v = village(rep, "大坪村", "蜜柚")
    assert v["sold_qty"] == pytest.approx(0.75)
    assert v["remaining_qty"] == pytest.approx(1.25)
    assert v["sell_through"] == pytest.approx(0.375)
    assert v["unsold_value"] == 1200000  # 2 t × 6000.00 yuan, none given
    assert v["sold_value"] == 450000 and v["households"] == 12
    assert rep.totals["value_sell_through"] == pytest.approx(450000 / 1200000)


def test_a_box_sale_against_jin_stock_is_unconvertible_out_of_quantity_in_value() -> None:
    rep = report(
        stock=({"village": "石门村", "product": "土豆", "unsold_qty": 1000.0, "unit": "斤",
                "as_of": date(2020, 9, 1), "unsold_value": 150000},),
        sales=({"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "土豆", "village": "石门村",
                "quantity": 200.0, "unit": "斤", "amount": 40000},
               {"session_id": "s1", "ts": at("2020-09-06 19:11"), "product": "土豆", "village": "石门村",
                "quantity": 3.0, "unit": "箱", "amount": 15000}),
    )
    v = village(rep, "石门村", "土豆")
    assert v["sold_qty"] == 200.0 and v["sell_through"] == pytest.approx(0.2)
    assert v["sold_value"] == 55000  # the 箱 sale counts in value
    assert (v["unconvertible_rows"], v["unconvertible_value"]) == (1, 15000)
    assert rep.unconvertible.select("quantity", "unit", "reason").rows() == [(3.0, "箱", "箱 does not convert to 斤")]
    out = report_json(rep)
    assert out["unconvertible"] == {"rows": 1, "amount": 150.0}
    assert out["totals"]["value_sell_through"] == pytest.approx(55000 / 150000)


def test_a_mass_sale_converts_to_a_count_unit_of_known_weight() -> None:
    # 箱(10斤): unit_kg 5; 20 斤 = 10 kg = 2 箱; a 件 sale stays unconvertible.
    rep = report(
        stock=({"village": "石门村", "product": "土豆", "unsold_qty": 100.0, "unit": "箱", "unit_kg": 5.0,
                "as_of": date(2020, 9, 1)},),
        sales=({"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "土豆", "village": "石门村",
                "quantity": 20.0, "unit": "斤", "amount": 4000},
               {"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "土豆", "village": "石门村",
                "quantity": 3.0, "unit": "箱", "amount": 6000},
               {"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "土豆", "village": "石门村",
                "quantity": 1.0, "unit": "件", "amount": 2000}),
    )
    v = village(rep, "石门村", "土豆")
    assert v["sold_qty"] == pytest.approx(5.0) and v["unconvertible_rows"] == 1 and v["sold_value"] == 12000


def test_only_sales_at_or_after_the_latest_baseline_count() -> None:
    rep = report(
        sessions=({"session_id": "early", "host_kind": "cadre", "started_at": at("2020-09-09 19:00")},
                  {"session_id": "late", "host_kind": "cadre", "started_at": at("2020-09-11 19:00")}),
        stock=({"village": "大坪村", "product": "蜜柚", "unsold_qty": 100.0, "unit": "kg", "as_of": date(2020, 9, 1)},
               {"village": "大坪村", "product": "蜜柚", "unsold_qty": 80.0, "unit": "kg", "as_of": date(2020, 9, 10)}),
        sales=tuple({"session_id": sid, "ts": ts, "product": "蜜柚", "village": "大坪村", "quantity": q,
                     "unit": "kg", "amount": int(q * 100)} for sid, ts, q in (
            ("early", at("2020-09-05 20:00"), 10.0),  # before the baseline
            ("early", at("2020-09-10 06:00"), 5.0),  # 09-09 22:00 UTC, but 09-10 in Shanghai: counts
            ("late", at("2020-09-12 20:00"), 7.0),
            ("early", None, 20.0),  # no time: its session's start, 09-09: before
            ("late", None, 3.0),  # its session started 09-11: counts
        )),
    )
    v = village(rep, "大坪村", "蜜柚")
    assert (v["as_of"], v["unsold_qty"], v["sold_qty"], v["remaining_qty"]) == (date(2020, 9, 10), 80.0, 15.0, 65.0)
    assert (v["sold_value"], v["before_baseline_rows"], v["before_baseline_value"]) == (1500, 2, 3000)
    assert rep.villages.height == 1  # one row per (village, product): the latest baseline


def test_sales_without_village_attributed_through_a_product_only_one_village_has() -> None:
    stock = tuple({"village": v, "product": p, "unsold_qty": 100.0, "unit": "斤", "as_of": date(2020, 9, 1)}
                  for v, p in (("甲村", "蜂蜜"), ("乙村", "茶叶"), ("丙村", "茶叶")))
    sales = tuple({"session_id": "s1", "ts": at("2020-09-06 19:00"), "product": p, "village": v,
                   "quantity": q, "unit": "斤", "amount": a}
                  for p, v, q, a in (("蜂蜜", None, 2.0, 200), ("茶叶", None, 1.0, 300),
                                     ("核桃", None, 4.0, 500), ("蜂蜜", "丁村", 8.0, 700)))
    rep = report(stock=stock, sales=sales)
    assert village(rep, "甲村", "蜂蜜")["sold_qty"] == 2.0
    assert village(rep, "乙村", "茶叶")["sold_qty"] == 0.0 and village(rep, "丙村", "茶叶")["sold_qty"] == 0.0
    assert rep.unattributed.select("product", "reason").rows() == [
        ("茶叶", "no village given; 2 villages have this product"),
        ("核桃", "no village given; no baseline has this product"),
        ("蜂蜜", "no baseline for this village and product"),
    ]
    assert report_json(rep)["unattributed"] == {"rows": 3, "amount": 15.0}
    assert rep.totals["sold_value"] == 200  # unattributed sales stay apart


def test_projected_clear_date_from_the_pace_of_the_14_days_ending_at_the_latest_sale() -> None:
    stock = ({"village": "甲村", "product": "蜂蜜", "unsold_qty": 1000.0, "unit": "斤", "as_of": date(2020, 9, 1)},
             {"village": "乙村", "product": "茶叶", "unsold_qty": 10.0, "unit": "斤", "as_of": date(2020, 9, 1)})
    sales = tuple({"session_id": "s1", "ts": ts, "product": "蜂蜜", "village": "甲村", "quantity": q,
                   "unit": "斤", "amount": 100} for ts, q in ((at("2020-08-25 12:00"), 100.0),
                                                            (at("2020-09-05 12:00"), 140.0),
                                                            (at("2020-09-14 12:00"), 140.0)))
    rep = report(stock=stock, sales=sales)
    honey = village(rep, "甲村", "蜂蜜")
    # 280 斤 in the 14 days to 09-14 (the 08-25 sale is older) = 20 斤 a day; 720 remain -> 36 days after 09-14.
    assert honey["pace_per_day"] == pytest.approx(20.0)
    assert honey["projected_clear_date"] == date(2020, 10, 20)
    assert village(rep, "乙村", "茶叶")["projected_clear_date"] is None  # no pace


def test_each_village_status_from_the_data_s_own_clock() -> None:
    # The latest sale (2020-09-14 12:00) is the clock, though the test runs years later; the pace window is
    # 09-01 12:00 to 09-14 12:00. unit_price 10 yuan a 斤.
    stock = tuple({"village": v, "product": "蜂蜜", "unsold_qty": q, "unit": "斤", "as_of": date(2020, 8, 1),
                   "unit_price": 1000} for v, q in (("售完村", 100.0), ("滞销村", 1000.0), ("将完村", 100.0),
                                                    ("慢村", 10000.0), ("正常村", 1000.0)))
    sold = (("售完村", "2020-08-10 12:00", 100.0),  # all of it, long ago: sold out
            ("滞销村", "2020-08-10 12:00", 100.0),  # 10% sold, none in the window: stalled
            ("将完村", "2020-08-10 12:00", 95.0),  # 95% sold, none in the window: at risk, never stalled
            ("慢村", "2020-09-10 12:00", 14.0),  # 1 斤 a day, 9,986 left: 9,986 days away -> at risk
            ("正常村", "2020-09-14 12:00", 140.0))  # 10 斤 a day, 860 left: 86 days -> on track
    sales = tuple({"session_id": "s1", "ts": at(ts), "product": "蜂蜜", "village": v, "quantity": q, "unit": "斤",
                   "amount": int(q * 1000)} for v, ts, q in sold)
    rep = report(stock=stock, sales=sales, now=datetime(2026, 12, 1, tzinfo=UTC))
    status = dict(rep.villages.select("village", "status").rows())
    assert status == {"售完村": "sold_out", "滞销村": "stalled", "将完村": "at_risk", "慢村": "at_risk",
                      "正常村": "on_track"}
    assert village(rep, "正常村", "蜂蜜")["projected_clear_date"] == date(2020, 12, 9)  # 09-14 + 86 days
    assert village(rep, "慢村", "蜂蜜")["projected_clear_date"] == date(2020, 9, 14) + timedelta(days=9986)
    # What remains, in value: 900 斤, 5 斤, 9,986 斤 and 860 斤 at 10 yuan.
    remaining = dict(rep.villages.select("village", "remaining_value").rows())
    assert remaining == {"售完村": 0, "滞销村": 900_000, "将完村": 5_000, "慢村": 9_986_000, "正常村": 860_000}
    out = {v["village"]: (v["status"], v["remaining_value"]) for v in report_json(rep)["villages"]}
    assert out["滞销村"] == ("stalled", 9000.0) and out["售完村"] == ("sold_out", 0.0)


def test_a_village_whose_pace_clears_it_after_the_ledger_s_target_date_is_at_risk() -> None:
    # 10 斤 a day in the 14 days to 09-14, 860 斤 left: clear on 12-09; one ledger aims for 11-30, one for 12-31.
    stock = tuple({"village": v, "product": "蜂蜜", "unsold_qty": 1000.0, "unit": "斤", "as_of": date(2020, 8, 1),
                   "target_date": target} for v, target in (("甲村", date(2020, 11, 30)), ("乙村", date(2020, 12, 31)),
                                                            ("丙村", None)))
    sales = tuple({"session_id": "s1", "ts": at("2020-09-14 12:00"), "product": "蜂蜜", "village": v,
                   "quantity": 140.0, "unit": "斤", "amount": 100} for v in ("甲村", "乙村", "丙村"))
    rep = report(stock=stock, sales=sales)
    assert dict(rep.villages.select("village", "status").rows()) == {"甲村": "at_risk", "乙村": "on_track",
                                                                      "丙村": "on_track"}
    assert village(rep, "甲村", "蜂蜜")["projected_clear_date"] == date(2020, 12, 9)
    out = {v["village"]: v["target_date"] for v in report_json(rep)["villages"]}
    assert out == {"甲村": "2020-11-30", "乙村": "2020-12-31", "丙村": None}


def test_a_village_just_short_of_the_stalled_line_is_stalled_and_one_on_it_is_not() -> None:
    stock = tuple({"village": v, "product": "茶叶", "unsold_qty": 1000.0, "unit": "kg", "as_of": date(2020, 8, 1)}
                  for v in ("甲村", "乙村"))
    sales = tuple({"session_id": "s1", "ts": at(ts), "product": "茶叶", "village": v, "quantity": q, "unit": "kg",
                   "amount": 100} for v, ts, q in (("甲村", "2020-08-02 10:00", 899.0),
                                                    ("乙村", "2020-08-02 10:00", 900.0),
                                                    ("乙村", "2020-09-30 10:00", 0.0)))  # the clock, no quantity
    rep = report(stock=stock, sales=sales)
    assert village(rep, "甲村", "茶叶")["status"] == "stalled"
    assert village(rep, "乙村", "茶叶")["status"] == "at_risk"
    assert village(rep, "乙村", "茶叶")["remaining_value"] is None  # no unit price, no given value: unknown


def test_with_no_sales_at_all_every_village_with_stock_is_stalled() -> None:
    rep = report(stock=({"village": "甲村", "product": "茶叶", "unsold_qty": 10.0, "unit": "kg",
                         "as_of": date(2020, 8, 1), "unsold_value": 5000},
                        {"village": "乙村", "product": "茶叶", "unsold_qty": 0.0, "unit": "kg",
                         "as_of": date(2020, 8, 1)}))
    assert dict(rep.villages.select("village", "status").rows()) == {"甲村": "stalled", "乙村": "sold_out"}
    assert village(rep, "甲村", "茶叶")["remaining_value"] == 5000


def test_the_report_schema_names_every_village_status() -> None:
    from relief_live.metrics.villages import STATUSES

    status = REPORT_SCHEMA["properties"]["villages"]["items"]["properties"]["status"]
    assert status["enum"] == [name for name, _, _ in STATUSES]


# -- curves, days, episodes --------------------------------------------------------------------------------

def test_gmv_per_week_and_month_sum_the_days_weeks_from_monday() -> None:
    rep = report(sessions=(
        {"session_id": "a", "host_kind": "broadcast", "started_at": at("2020-09-06 20:00"), "gmv": 100},  # a Sunday
        {"session_id": "b", "host_kind": "broadcast", "started_at": at("2020-09-07 20:00"), "gmv": 50},  # Monday
        {"session_id": "c", "host_kind": "cadre", "started_at": at("2020-10-01 19:00"), "gmv": 70},
    ))
    daily = gmv_per_day(rep.sessions)
    weeks = per_period(daily, "week")
    assert weeks.filter(pl.col("host_kind") == "broadcast").rows()[:2] == [
        (date(2020, 8, 31), "broadcast", 100), (date(2020, 9, 7), "broadcast", 50)]
    assert weeks.height == 2 * 5  # five weeks from 08-31 to 09-28, both kinds
    assert per_period(daily, "month").rows() == [
        (date(2020, 9, 1), "broadcast", 150), (date(2020, 9, 1), "cadre", 0),
        (date(2020, 10, 1), "broadcast", 0), (date(2020, 10, 1), "cadre", 70)]
    # A chosen span: only the days from 09-07 to 09-30.
    assert gmv_per_day(rep.sessions, date(2020, 9, 7), date(2020, 9, 30)).filter(pl.col("gmv") > 0).rows() == [
        (date(2020, 9, 7), "broadcast", 50)]


def test_bars_a_day_up_to_two_months_a_week_up_to_a_year_then_a_month() -> None:
    def span(days: int) -> pl.DataFrame:
        return pl.DataFrame({"day": [date(2020, 1, 1), date(2020, 1, 1) + timedelta(days=days - 1)]})

    assert [grain_for(span(n)) for n in (1, 62, 63, 366, 367, 2200)] == ["day", "day", "week", "week", "month",
                                                                          "month"]


def test_curves_derive_per_interval_and_running_series() -> None:
    ticks = frame("ticks", *({"session_id": "s1", "ts": at(f"2020-09-06 19:0{i}"), "viewers_online": 10 * i,
                              "orders_cum": oc, "gmv": g} for i, (oc, g) in enumerate([(3, 100), (7, 0), (12, 250)])),
                  {"session_id": "other", "ts": at("2020-09-06 19:00"), "orders": 99})
    curves = session_curves(ticks, "s1")
    assert curves["orders"].to_list() == [3, 4, 5]
    assert curves["gmv_cum"].to_list() == [100, 100, 350]
    assert curves["viewers_online"].to_list() == [0, 10, 20]


def test_downsampling_keeps_the_peak_and_caps_the_points() -> None:
    n, peak_at = 10_000, 7_777
    start = at("2020-09-06 19:00")
    ticks = frame("ticks", *({"session_id": "s1", "ts": start + timedelta(seconds=i),
                              "viewers_online": 99_999 if i == peak_at else 1000 + i % 50,
                              "orders": 1, "gmv_cum": 10 * (i + 1)} for i in range(n)))
    curves = session_curves(ticks, "s1", max_points=100)
    assert curves.height <= 100
    assert curves["viewers_online"].max() == 99_999
    assert curves.filter(pl.col("viewers_online") == 99_999)["ts"].to_list() == [start + timedelta(seconds=peak_at)]
    assert curves["viewers_online"].min() == 1000
    assert curves["orders"].sum() == n  # per-interval orders summed into the kept rows
    assert (curves["ts"][0], curves["ts"][-1]) == (start, start + timedelta(seconds=n - 1))
    assert curves["gmv_cum"][-1] == 10 * n
    assert curves["ts"].is_sorted()


def test_gmv_per_day_by_shanghai_date_and_kind_with_empty_days() -> None:
    rep = report(sessions=(
        {"session_id": "a", "host_kind": "broadcast", "started_at": at("2020-09-06 23:30"), "gmv": 100},
        {"session_id": "b", "host_kind": "broadcast", "started_at": at("2020-09-06 09:00"), "gmv": 50},
        {"session_id": "c", "host_kind": "cadre", "started_at": at("2020-09-08 19:00"), "gmv": 70},
    ))
    assert gmv_per_day(rep.sessions).rows() == [
        (date(2020, 9, 6), "broadcast", 150), (date(2020, 9, 6), "cadre", 0),
        (date(2020, 9, 7), "broadcast", 0), (date(2020, 9, 7), "cadre", 0),
        (date(2020, 9, 8), "broadcast", 0), (date(2020, 9, 8), "cadre", 70),
    ]


def test_previous_episode_by_title_stem_then_host() -> None:
    rep = report(sessions=tuple(
        {"session_id": sid, "title": title, "host_name": host, "host_kind": "cadre", "started_at": at(start)}
        for sid, title, host, start in (
            ("e1", "助农直播 第1期", "李四", "2020-09-01 19:00"),
            ("x1", "县长带货", "张三", "2020-09-05 19:00"),
            ("e2", "助农直播 第2期", "王五", "2020-09-08 19:00"),
            ("x2", "书记来了(2020-09-10)", "张三", "2020-09-10 19:00"),
            ("e3", "助农直播·第三期", "李四", "2020-09-15 19:00"),
        )))
    assert previous_episode(rep.sessions, "e3") == "e2"
    assert previous_episode(rep.sessions, "e2") == "e1"
    assert previous_episode(rep.sessions, "e1") is None
    assert previous_episode(rep.sessions, "x2") == "x1"  # different titles, same host
    assert previous_episode(rep.sessions, "nope") is None


# -- renderings --------------------------------------------------------------------------------------------

def small_programme() -> Report:
    return report(
        sessions=({"session_id": "s1", "title": "助农直播 第1期", "host_kind": "broadcast", "host_name": "小李",
                   "platform": "douyin", "started_at": at("2020-09-06 19:00"), "ended_at": at("2020-09-06 21:30"),
                   "viewers": 1000, "views": 3000, "gmv": 123456, "orders": 80, "buyers": 70},
                  {"session_id": "s2", "title": "县长带货", "host_kind": "cadre", "started_at": at("2020-09-07 19:00")}),
        ticks=({"session_id": "s2", "ts": at("2020-09-07 19:01"), "viewers_online": 321, "gmv_cum": 4500},),
        stock=({"county": "平和县", "village": "大坪村", "product": "蜜柚", "unsold_qty": 2.0, "unit": "t",
                "as_of": date(2020, 9, 1), "unit_price": 600000},
               {"county": "平和县", "village": "石门村", "product": "土豆", "unsold_qty": 1000.0, "unit": "斤",
                "as_of": date(2020, 9, 1)}),
        sales=({"session_id": "s1", "ts": at("2020-09-06 19:10"), "product": "蜜柚", "village": "大坪村",
                "quantity": 500.0, "unit": "kg", "amount": 300001},
               {"session_id": "s1", "product": "土豆", "village": "石门村", "quantity": 3.0, "unit": "箱",
                "amount": 15000},
               {"session_id": "s1", "product": "核桃", "quantity": 1.0, "unit": "kg", "amount": 999}),
    )


def test_report_json_validates_and_writes_yuan_and_shanghai_times() -> None:
    out = report_json(small_programme())
    jsonschema.validate(out, REPORT_SCHEMA)
    s1 = out["sessions"][0]
    assert s1["started_at"] == "2020-09-06T19:00:00+08:00" and s1["ended_at"] == "2020-09-06T21:30:00+08:00"
    assert (s1["gmv"], s1["gpm"], s1["conversion"]) == (1234.56, 411.52, 0.07)
    assert s1["sources"]["conversion"] == "buyers/viewers"
    assert out["sessions"][1]["gmv"] == 45.0 and out["sessions"][1]["sources"]["gmv"] == "ticks"
    honey = out["villages"][0]
    assert (honey["as_of"], honey["unsold_value"], honey["sold_value"], honey["sold_qty"]) == (
        "2020-09-01", 12000.0, 3000.01, 0.5)
    assert out["totals"] == {"sessions": 2, "orders": 80, "gmv": 1279.56, "unsold_value": 12000.0,
                             "sold_value": 3150.01, "value_sell_through": round(315001 / 1200000, 6)}
    assert out["unattributed"] == {"rows": 1, "amount": 9.99}
    assert_money_has_two_decimals(out)


MONEY_KEYS = {"gmv", "gpm", "gmv_per_hour", "median_gpm", "unsold_value", "sold_value", "amount"}


def assert_money_has_two_decimals(out: Any) -> None:
    """Every money value in report JSON is written with at most two decimals."""
    if isinstance(out, dict):
        for key, value in out.items():
            if key in MONEY_KEYS and value is not None:
                assert re.fullmatch(r"-?\d+(\.\d{1,2})?", json.dumps(value)), (key, value)
            if key != "sources":
                assert_money_has_two_decimals(value)
    elif isinstance(out, list):
        for item in out:
            assert_money_has_two_decimals(item)


def test_report_json_of_an_empty_store_validates() -> None:
    out = report_json(report())
    jsonschema.validate(out, REPORT_SCHEMA)
    assert out["totals"] == {"sessions": 0, "orders": 0, "gmv": 0.0, "unsold_value": 0.0, "sold_value": 0.0,
                             "value_sell_through": None}


def display_width(text: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_format_report_aligns_columns_holding_chinese_text() -> None:
    text = format_report(small_programme())
    lines = text.splitlines()
    head = lines.index("Villages") + 1
    header, rule, *rows = lines[head:head + 4]
    assert set(rule.replace(" ", "")) == {"-"}
    assert header.split()[:4] == ["county", "village", "product", "unit"]
    product_col = display_width(header[:header.index("product")])
    unit_col = display_width(header[:header.index("unit")])
    for row, product, unit in zip(rows, ["蜜柚", "土豆"], ["t", "斤"], strict=True):
        assert display_width(row[:row.index(product)]) == product_col
        assert display_width(row[:row.index(unit, row.index(product))]) == unit_col
    assert "1,234.56" in text and "LIVE" not in text
    assert "unconvertible sales: ¥150.00 in 1 row(s)" in text


def test_input_missing_a_column_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="sales frame lacks column"):
        build_report(frame("sessions"), frame("ticks"), frame("sales").drop("amount"), frame("stock"), now=NOW)
