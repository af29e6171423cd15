"""Properties of the metrics on generated programmes: sell-through identity, sums, input order."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from relief_live.metrics import Report, build_report
from tests.test_metrics import NOW, at, frame

VILLAGES = ("甲村", "乙村", "丙村")
PRODUCTS = ("蜂蜜", "茶叶", "土豆", "核桃")
UNITS = ("kg", "斤", "t", "箱", "件")
START = at("2020-09-01 00:00")
SESSION_IDS = ("s1", "s2", "s3")

minutes = st.integers(0, 60 * 24 * 40)
money = st.integers(0, 10_000_000)


@st.composite
def stock_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.tuples(st.sampled_from(VILLAGES), st.sampled_from(PRODUCTS), st.integers(0, 30)),
                         unique=True, max_size=10))
    return [{"village": v, "product": p, "as_of": date(2020, 9, 1) + timedelta(days=d),
             "unsold_qty": draw(st.just(0.0) | st.floats(0.001, 1e5)),  # a stock ledger's quantities "unit": draw(st.sampled_from(UNITS[:4])),
             "unit_kg": draw(st.sampled_from([None, 5.0, 0.25])), "unit_price": draw(st.none() | money),
             "unsold_value": draw(st.none() | money), "households": draw(st.none() | st.integers(0, 500))}
            for v, p, d in keys]


@st.composite
def programmes(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    ids = draw(st.lists(st.sampled_from(SESSION_IDS), unique=True))
    sessions = []
    for sid in ids:
        start = START + timedelta(minutes=draw(minutes))
        sessions.append({"session_id": sid, "host_kind": draw(st.sampled_from(["broadcast", "cadre"])),
                         "started_at": start, "ended_at": draw(st.none() | st.just(start + timedelta(hours=2))),
                         "gmv": draw(st.none() | money), "orders": draw(st.none() | st.integers(0, 1000)),
                         "views": draw(st.none() | st.integers(0, 10**6)),
                         "viewers": draw(st.none() | st.integers(0, 10**5))})
    tick_keys = draw(st.lists(st.tuples(st.sampled_from(SESSION_IDS), minutes), unique=True, max_size=20))
    ticks = [{"session_id": sid, "ts": START + timedelta(minutes=m),
              "viewers_online": draw(st.none() | st.integers(0, 10**5)),
              "orders_cum": draw(st.none() | st.integers(0, 100)), "gmv": draw(st.none() | money)}
             for sid, m in tick_keys]
    sales = [{"session_id": draw(st.sampled_from([*SESSION_IDS, "elsewhere"])),
              "order_id": draw(st.none() | st.sampled_from(["o1", "o2", "o3"])),
              "ts": draw(st.none() | minutes.map(lambda m: START + timedelta(minutes=m))),
              "product": draw(st.sampled_from(PRODUCTS)), "village": draw(st.none() | st.sampled_from(VILLAGES)),
              "quantity": draw(st.floats(0, 1e4, allow_nan=False, allow_subnormal=False)), "unit": draw(st.none() | st.sampled_from(UNITS)),
              "amount": draw(money), "refund": draw(st.none() | money)}
             for _ in range(draw(st.integers(0, 25)))]
    return {"sessions": sessions, "ticks": ticks, "sales": sales, "stock": draw(stock_rows())}


def build(programme: dict[str, list[dict[str, Any]]], now: datetime = NOW) -> Report:
    frames = {kind: frame(kind, *rows) for kind, rows in programme.items()}
    return build_report(frames["sessions"], frames["ticks"], frames["sales"], frames["stock"], now=now)


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(programmes())
def test_sold_qty_is_sell_through_times_unsold_qty(programme: dict) -> None:
    villages = build(programme).villages
    for row in villages.to_dicts():
        assert row["sold_qty"] >= 0
        assert row["remaining_qty"] == pytest.approx(max(row["unsold_qty"] - row["sold_qty"], 0.0))
        if row["unsold_qty"] > 0:
            assert row["sold_qty"] == pytest.approx(row["sell_through"] * row["unsold_qty"])
        else:
            assert row["sell_through"] is None


@PROPERTY
@given(programmes())
def test_per_row_sums_equal_the_totals_and_every_sale_is_accounted_once(programme: dict) -> None:
    rep = build(programme)
    v, s = rep.villages, rep.sessions
    assert rep.totals["sold_value"] == v["sold_value"].sum()
    assert rep.totals["unsold_value"] == v["unsold_value"].sum()
    assert rep.totals["gmv"] == s["gmv"].sum() and rep.totals["orders"] == s["orders"].sum()
    assert rep.totals["sessions"] == s.height == rep.host_kinds["sessions"].sum()
    sales = programme["sales"]
    # Each sale lies in exactly one place: a village's sold value, before its baseline, or unattributed.
    assert len(sales) == v["sales_rows"].sum() + v["before_baseline_rows"].sum() + rep.unattributed.height
    assert sum(x["amount"] for x in sales) == (
        v["sold_value"].sum() + v["before_baseline_value"].sum() + rep.unattributed["amount"].sum())
    assert rep.unconvertible.height == v["unconvertible_rows"].sum()
    assert rep.unconvertible["amount"].sum() == v["unconvertible_value"].sum()


@PROPERTY
@given(programmes(), st.randoms(use_true_random=False))
def test_the_order_of_input_rows_does_not_change_the_report(programme: dict, rnd: Any) -> None:
    frames = {kind: frame(kind, *rows) for kind, rows in programme.items()}
    shuffled = {kind: f.sample(fraction=1.0, shuffle=True, seed=rnd.randrange(2**32)) for kind, f in frames.items()}
    a = build_report(*(frames[k] for k in ("sessions", "ticks", "sales", "stock")), now=NOW)
    b = build_report(*(shuffled[k] for k in ("sessions", "ticks", "sales", "stock")), now=NOW)
    for name in ("sessions", "host_kinds", "villages", "unattributed", "unconvertible"):
        assert_frame_equal(getattr(a, name), getattr(b, name), rel_tol=1e-9, abs_tol=1e-9)
    assert a.totals == pytest.approx(b.totals)


def test_shuffled_frames_really_change_row_order() -> None:
    """The order property above would be vacuous if sample(shuffle=True) kept the order."""
    f = pl.DataFrame({"i": list(range(50))})
    assert f.sample(fraction=1.0, shuffle=True, seed=1)["i"].to_list() != list(range(50))


@PROPERTY
@given(unsold=st.floats(1, 1e5), fraction=st.floats(0, 1.5), days_before=st.integers(0, 60),
       recent=st.floats(0, 1e3))
def test_a_village_at_least_90_percent_sold_is_never_stalled(unsold: float, fraction: float, days_before: int,
                                                            recent: float) -> None:
    """甲村 sold `fraction` of its stock `days_before` the latest sale in the store (乙村's, `recent` kg)."""
    clock = START + timedelta(days=90)
    rep = build({"sessions": [], "ticks": [], "stock": [
        {"village": v, "product": "蜂蜜", "unsold_qty": unsold, "unit": "kg", "as_of": date(2020, 8, 1)}
        for v in ("甲村", "乙村")], "sales": [
        {"session_id": "s1", "ts": clock - timedelta(days=days_before), "product": "蜂蜜", "village": "甲村",
         "quantity": fraction * unsold, "unit": "kg", "amount": 100},
        {"session_id": "s1", "ts": clock, "product": "蜂蜜", "village": "乙村", "quantity": recent, "unit": "kg",
         "amount": 100}]})
    row = rep.villages.filter(pl.col("village") == "甲村").row(0, named=True)
    sold_out, in_window = row["remaining_qty"] <= 0, days_before < 14 and fraction > 0
    if row["sell_through"] >= 0.9:
        assert row["status"] != "stalled"
        assert row["status"] == ("sold_out" if sold_out else "at_risk" if not in_window else row["status"])
    else:  # the other side of the line: no sale in the last 14 days of data is stalled
        assert row["status"] == ("stalled" if not in_window else row["status"])
        assert row["status"] != "sold_out"


@PROPERTY
@given(programmes())
def test_no_generated_village_at_least_90_percent_sold_is_stalled(programme: dict) -> None:
    for row in build(programme).villages.to_dicts():
        if row["sell_through"] is not None and row["sell_through"] >= 0.9:
            assert row["status"] in ("sold_out", "at_risk", "on_track")
        if row["remaining_qty"] <= 0:
            assert row["status"] == "sold_out"
