"""The report refreshed from the groups new batches touch equals build_report over the same frames."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from itertools import count, pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from relief_live.live import LiveFrames
from relief_live.metrics import Report, build_report
from relief_live.metrics.common import div_round
from relief_live.store import Store
from tests.test_metrics import NOW, at, frame

KINDS = ("sessions", "ticks", "sales", "stock", "catalogue")
SESSION_IDS = ("s1", "s2", "s3")
HOSTS = ("达人1", "达人2")
CODES = ("GN-1", "GN-2", "GN-3")
VILLAGES = ("甲村", "乙村")
PRODUCTS = ("蜂蜜", "茶叶", "土豆")
START = at("2020-09-25 00:00")
_sha = count()


def put(store: Store, kind: str, rows: list[dict[str, Any]]) -> int:
    """Store `rows` of `kind` as one new batch (as an ingest of a file holding them would); its batch id."""
    typed = frame(kind, *rows)
    typed = typed.with_columns(pl.col(pl.Datetime).dt.epoch("ms"))
    return store.write(kind, typed, path=f"{kind}.csv", sha256=f"sha{next(_sha)}", by="test").batch


def truth(store: Store, now: datetime = NOW, live_minutes: float = 10.0) -> Report:
    f = {kind: store.read(kind) for kind in KINDS}
    return build_report(f["sessions"], f["ticks"], f["sales"], f["stock"], f["catalogue"], now=now,
                        live_minutes=live_minutes)


def assert_same(got: Report, want: Report) -> None:
    assert got.totals == want.totals
    for name in ("sessions", "host_kinds", "villages", "unattributed", "unconvertible", "routes", "channels"):
        try:
            assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=False, rel_tol=1e-9)
        except AssertionError as error:
            raise AssertionError(f"Report.{name}: {error}") from error


# -- generated programmes ------------------------------------------------------------------------------
# Quantities are whole numbers and the units kg, 斤 (0.5 kg), t and 件: every conversion is exact in binary,
# so sums taken in another order (the refresh adds and subtracts) are exactly the full build's.
minutes = st.integers(-60 * 24 * 3, 30)
money = st.integers(0, 1_000_000)


def moment(m: int) -> datetime:
    return NOW + timedelta(minutes=m)


@st.composite
def session_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for sid in draw(st.lists(st.sampled_from(SESSION_IDS), unique=True, max_size=3)):
        start = moment(draw(minutes))
        rows.append({"session_id": sid, "host_kind": draw(st.sampled_from(["broadcast", "cadre"])),
                     "host_id": draw(st.none() | st.sampled_from(HOSTS)),
                     "started_at": start, "ended_at": draw(st.none() | st.just(start + timedelta(hours=2))),
                     "gmv": draw(st.none() | money), "orders": draw(st.none() | st.integers(0, 100)),
                     "views": draw(st.none() | st.integers(0, 10**5)),
                     "viewers": draw(st.none() | st.integers(0, 10**4))})
    return rows


@st.composite
def tick_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.tuples(st.sampled_from(SESSION_IDS), st.integers(-20, 0).map(lambda m: m * 3)),
                         unique=True, max_size=6))
    return [{"session_id": sid, "ts": moment(m), "viewers_online": draw(st.none() | st.integers(0, 1000)),
             "orders_cum": draw(st.none() | st.integers(0, 50)), "gmv": draw(st.none() | money)}
            for sid, m in keys]


@st.composite
def sale_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        # A line of a shop's export names no session: it takes that of its host account at its time, if any.
        rows.append({"session_id": draw(st.sampled_from([*SESSION_IDS, "elsewhere", None])),
                     "host_id": draw(st.none() | st.sampled_from(HOSTS)),
                     "status": draw(st.sampled_from([None, "sale", "refunded", "cancelled"])),
                     "channel": draw(st.sampled_from([None, "直播", "短视频"])),
                     "sku": draw(st.none() | st.sampled_from(CODES)),
                     "order_id": draw(st.none() | st.sampled_from(["o1", "o2", "o3", "o4"])),
                     "ts": draw(st.none() | st.integers(-20, 10).map(lambda d: NOW + timedelta(days=d, hours=1))),
                     "product": draw(st.sampled_from(PRODUCTS)), "village": draw(st.none() | st.sampled_from(VILLAGES)),
                     "quantity": draw(st.none() | st.integers(0, 50).map(float)),
                     "unit": draw(st.none() | st.sampled_from(["kg", "斤", "t", "件"])),
                     "amount": draw(money), "refund": draw(st.none() | money), "occ": 0})
    return rows


@st.composite
def stock_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.tuples(st.sampled_from(VILLAGES), st.sampled_from(PRODUCTS), st.integers(0, 30)),
                         unique=True, min_size=1, max_size=4))
    return [{"village": v, "product": p, "as_of": date(2020, 9, 10) + timedelta(days=d),
             "unsold_qty": float(draw(st.integers(0, 500))), "unit": draw(st.sampled_from(["kg", "斤", "件"])),
             "unit_price": draw(st.none() | money), "unsold_value": draw(st.none() | money),
             "households": draw(st.none() | st.integers(0, 50))}
            for v, p, d in keys]


@st.composite
def catalogue_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    # Shop codes and listing titles tied to villages' products, a pack of 2 or 0.5 kg (exact in binary) or unknown.
    keys = draw(st.lists(st.tuples(st.sampled_from(CODES), st.none() | st.sampled_from(PRODUCTS)), unique=True,
                         max_size=3))
    return [{"sku": code, "listing": listing, "village": draw(st.sampled_from(VILLAGES)),
             "product": draw(st.sampled_from(PRODUCTS)), "pack_kg": draw(st.sampled_from([None, 2.0, 0.5]))}
            for code, listing in keys]


ROWS = {"sessions": session_rows(), "ticks": tick_rows(), "sales": sale_rows(), "stock": stock_rows(),
        "catalogue": catalogue_rows()}
step = st.one_of(
    st.sampled_from(KINDS).flatmap(lambda kind: ROWS[kind].map(lambda rows: ("write", kind, rows))),
    st.integers(0, 20).map(lambda i: ("retract", i, [])),
)
PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(programme=st.tuples(session_rows(), tick_rows(), sale_rows(), stock_rows(), catalogue_rows()),
       steps=st.lists(step, min_size=1, max_size=6), minute=st.integers(0, 40))
def test_refreshed_report_equals_the_full_build(programme: tuple, steps: list, minute: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 's.sqlite3'}")
        store.create()
        batches = [put(store, kind, rows) for kind, rows in zip(KINDS, programme, strict=True) if rows]
        held = LiveFrames(store)
        _, first = held.report(now=NOW, live_minutes=10.0)
        assert_same(first, truth(store))
        for action, what, rows in steps:
            if action == "write":
                if not rows:
                    continue
                batches.append(put(store, what, rows))
            else:
                live = [b for b in batches if b not in held.retracted]
                if not live:
                    continue
                store.retract(live[what % len(live)])
            now = NOW + timedelta(minutes=minute)
            _, got = held.report(now=now, live_minutes=10.0)
            assert held.changes.full == (action == "retract")
            assert_same(got, truth(store, now))
            for kind in KINDS:  # the frames laid over (store.merge_replacing) are a full read, in any order
                assert_frame_equal(held.frames[kind].sort("batch", "line"), store.read(kind).sort("batch", "line"))


# -- examples with hand-checked numbers ----------------------------------------------------------------
def sale(order: str, session: str, village: str | None, qty: float, fen: int, ts: datetime | None) -> dict:
    return {"session_id": session, "order_id": order, "ts": ts, "product": "蜂蜜", "village": village,
            "quantity": qty, "unit": "kg", "amount": fen, "refund": None, "occ": 0}


@pytest.fixture
def held(tmp_path: Path) -> tuple[Store, LiveFrames]:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "sessions", [
        {"session_id": "s1", "host_kind": "cadre", "started_at": at("2020-09-30 19:00"),
         "ended_at": at("2020-09-30 21:00")},
        {"session_id": "s2", "host_kind": "broadcast", "started_at": at("2020-10-01 19:00"),
         "ended_at": at("2020-10-01 21:00")}])
    put(store, "stock", [
        {"village": "甲村", "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg", "as_of": date(2020, 9, 1)},
        {"village": "乙村", "product": "蜂蜜", "unsold_qty": 50.0, "unit": "kg", "as_of": date(2020, 9, 1)}])
    put(store, "sales", [sale("o1", "s1", "甲村", 10, 1000, at("2020-09-30 19:10")),
                         sale("o2", "s1", "甲村", 4, 400, at("2020-09-30 19:20"))])
    frames = LiveFrames(store)
    frames.report(now=NOW, live_minutes=10.0)
    return store, frames


def test_an_order_moved_to_another_session_and_village_leaves_its_old_groups(held: tuple) -> None:
    store, frames = held
    # o1 is revised: now sold in s2 to 乙村, 6 kg for 6.00 元; o3 is new in s2, 2 kg to 甲村.
    put(store, "sales", [sale("o1", "s2", "乙村", 6, 600, at("2020-10-01 19:30")),
                         sale("o3", "s2", "甲村", 2, 200, at("2020-10-01 19:40"))])
    _, rep = frames.report(now=NOW, live_minutes=10.0)
    assert not frames.changes.full
    assert frames.changes.replaced["sales"].get_column("order_id").to_list() == ["o1"]
    gmv = dict(rep.sessions.select("session_id", "gmv").iter_rows())
    assert gmv == {"s1": 400, "s2": 600 + 200}  # s1 keeps only o2
    sold = {r["village"]: (r["sold_qty"], r["sold_value"], r["sales_rows"]) for r in rep.villages.to_dicts()}
    assert sold == {"甲村": (4.0 + 2.0, 400 + 200, 2), "乙村": (6.0, 600, 1)}
    assert rep.totals["sold_value"] == 1200 and rep.totals["gmv"] == 1200
    kinds = dict(rep.host_kinds.select("host_kind", "gmv").iter_rows())
    assert kinds == {"cadre": 400, "broadcast": 800}
    assert_same(rep, truth(store))


def test_a_session_that_loses_its_only_sale_to_another_goes_away(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "sales", [sale("o1", "x1", None, 1, 100, at("2020-09-30 19:10"))])
    frames = LiveFrames(store)
    _, before = frames.report(now=NOW, live_minutes=10.0)
    assert before.sessions.get_column("session_id").to_list() == ["x1"]
    put(store, "sales", [sale("o1", "x2", None, 1, 100, at("2020-09-30 19:15"))])
    _, after = frames.report(now=NOW, live_minutes=10.0)
    assert after.sessions.get_column("session_id").to_list() == ["x2"]
    assert after.unattributed.get_column("session_id").to_list() == ["x2"]  # no baseline: set apart once
    assert_same(after, truth(store))


def test_an_undated_sale_follows_its_session_start_when_that_moves(held: tuple) -> None:
    store, frames = held
    # A sale without time counts from s1's start (2020-09-30 19:00); a stock baseline dated 2020-10-01 would
    # not count it. Move s1 to start on 2020-10-02 with a new summary row: the line is then counted again.
    put(store, "stock", [{"village": "乙村", "product": "蜂蜜", "unsold_qty": 50.0, "unit": "kg",
                          "as_of": date(2020, 10, 1)}])
    put(store, "sales", [sale("o9", "s1", "乙村", 5, 500, None)])
    _, rep = frames.report(now=NOW, live_minutes=10.0)
    row = rep.villages.filter(pl.col("village") == "乙村").to_dicts()[0]
    assert (row["sold_qty"], row["before_baseline_rows"], row["before_baseline_value"]) == (0.0, 1, 500)
    put(store, "sessions", [{"session_id": "s1", "host_kind": "cadre", "started_at": at("2020-10-02 19:00")}])
    _, rep = frames.report(now=NOW, live_minutes=10.0)
    assert not frames.changes.full
    row = rep.villages.filter(pl.col("village") == "乙村").to_dicts()[0]
    assert (row["sold_qty"], row["before_baseline_rows"], row["sold_value"]) == (5.0, 0, 500)
    assert_same(rep, truth(store))


def test_live_flags_follow_the_clock_not_the_held_report(held: tuple) -> None:
    store, frames = held
    put(store, "ticks", [{"session_id": "s2", "ts": at("2020-10-01 19:58"), "viewers_online": 100}])
    _, during = frames.report(now=at("2020-10-01 20:00"), live_minutes=3.0)
    _, after = frames.report(now=at("2020-10-01 22:00"), live_minutes=3.0)
    assert_same(during, truth(store, at("2020-10-01 20:00"), live_minutes=3.0))
    assert dict(during.sessions.select("session_id", "live").iter_rows()) == {"s1": False, "s2": True}
    assert dict(after.sessions.select("session_id", "live").iter_rows()) == {"s1": False, "s2": False}


def test_a_clear_date_past_the_calendar_is_none_rather_than_an_error(tmp_path: Path) -> None:
    """Regression: a pace of 0.001 kg a day against 10⁹ kg projected year 2.7 billion; to_dicts raised."""
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "stock", [{"village": "甲村", "product": "蜂蜜", "unsold_qty": 1e9, "unit": "kg",
                          "as_of": date(2020, 9, 1)},
                         {"village": "乙村", "product": "蜂蜜", "unsold_qty": 28.0, "unit": "kg",
                          "as_of": date(2020, 9, 1)}])
    put(store, "sales", [sale("o1", "s1", "甲村", 0.014, 100, at("2020-09-30 19:10")),
                         sale("o2", "s1", "乙村", 14.0, 100, at("2020-09-30 19:10"))])
    frames = LiveFrames(store)
    _, rep = frames.report(now=NOW, live_minutes=10.0)
    clear = {r["village"]: r["projected_clear_date"] for r in rep.villages.to_dicts()}
    # 乙村: 14 kg in the 14 days ending at the latest sale -> 1 kg a day, 14 kg left -> 14 days after 2020-09-30.
    assert clear == {"甲村": None, "乙村": date(2020, 9, 30) + timedelta(days=14)}


def test_the_pace_window_slides_with_the_latest_sale(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "stock", [{"village": "甲村", "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg",
                          "as_of": date(2020, 9, 1)}])
    put(store, "sales", [sale("o1", "s1", "甲村", 10, 1000, at("2020-09-10 19:00")),
                         sale("o2", "s1", "甲村", 14, 1400, at("2020-09-20 19:00"))])
    frames = LiveFrames(store)

    def village() -> dict:
        _, rep = frames.report(now=NOW, live_minutes=10.0)
        assert_same(rep, truth(store))
        return rep.villages.row(0, named=True)

    # Both lines lie in the 14 days that end at the latest sale (09-20): 24 kg.
    assert village()["pace_per_day"] == pytest.approx(24 / 14)
    # A sale on 09-30 moves the window to (09-16, 09-30]: o1 leaves it, o2 and o3 are in, 21 kg = 1.5 kg a day;
    # 69 kg left -> 46 days after 09-30.
    put(store, "sales", [sale("o3", "s2", "甲村", 7, 700, at("2020-09-30 19:00"))])
    row = village()
    assert not frames.changes.full
    assert (row["pace_per_day"], row["remaining_qty"]) == (pytest.approx(1.5), 69.0)
    assert row["projected_clear_date"] == date(2020, 9, 30) + timedelta(days=46)
    # o2 revised to 09-12: out of the window, only o3's 7 kg remain in it; o2's old entry is not taken out twice
    # when the window later moves past 09-20.
    put(store, "sales", [sale("o2", "s1", "甲村", 14, 1400, at("2020-09-12 19:00"))])
    assert village()["pace_per_day"] == pytest.approx(0.5)
    put(store, "sales", [sale("o4", "s2", "甲村", 2, 200, at("2020-10-08 19:00"))])
    assert village()["pace_per_day"] == pytest.approx((7 + 2) / 14)
    put(store, "sales", [sale("o5", "s2", "甲村", 1, 100, at("2020-10-20 19:00"))])
    assert village()["pace_per_day"] == pytest.approx((2 + 1) / 14)  # o3 (09-30) has left too


def test_a_village_s_status_follows_the_data_s_clock_through_refreshes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "stock", [{"village": v, "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg", "as_of": date(2020, 9, 1)}
                         for v in ("甲村", "乙村")])
    put(store, "sales", [sale("o1", "s1", "甲村", 50, 5000, at("2020-09-10 19:00")),
                         sale("o2", "s1", "乙村", 95, 9500, at("2020-09-10 19:00"))])
    frames = LiveFrames(store)

    def statuses() -> dict:
        _, rep = frames.report(now=NOW, live_minutes=10.0)
        assert_same(rep, truth(store))
        return dict(rep.villages.select("village", "status").rows())

    # Both sold on 09-10, the latest sale: 50 kg left at 50/14 kg a day (14 days), 5 kg left (1 day).
    assert statuses() == {"甲村": "on_track", "乙村": "on_track"}
    # A sale elsewhere on 09-30 moves the clock: neither sold in the 14 days to it. Half sold is stalled,
    # 95% sold is at risk.
    put(store, "sales", [sale("o3", "s2", None, 1, 100, at("2020-09-30 19:00"))])
    assert statuses() == {"甲村": "stalled", "乙村": "at_risk"}
    assert not frames.changes.full
    put(store, "sales", [sale("o4", "s2", "乙村", 5, 500, at("2020-10-01 19:00"))])
    assert statuses() == {"甲村": "stalled", "乙村": "sold_out"}


@given(held=st.lists(st.tuples(st.none() | st.integers(0, 5), st.sampled_from("abcdef")), unique_by=lambda r: r[1]),
       fresh=st.lists(st.tuples(st.none() | st.integers(0, 5), st.sampled_from("uvwxyz")), unique_by=lambda r: r[1]))
def test_touched_sessions_go_back_to_their_places_in_the_sessions_table(held: list, fresh: list) -> None:
    from relief_live.metrics.incremental import _insert_sorted

    def table(rows: list) -> pl.DataFrame:
        return pl.DataFrame({"started_at": [None if m is None else NOW + timedelta(minutes=m) for m, _ in rows],
                             "session_id": [sid for _, sid in rows]},
                            schema={"started_at": pl.Datetime("ms", "UTC"), "session_id": pl.String})

    order = {"by": ["started_at", "session_id"], "nulls_last": True}
    want = pl.concat([table(held), table(fresh)]).sort(**order)
    got = _insert_sorted(table(held).sort(**order), table(fresh))
    assert got.rows() == want.rows()


@given(held=st.lists(st.tuples(st.none() | st.integers(0, 3), st.sampled_from("abcdefghij")), unique_by=lambda r: r[1]),
       picks=st.lists(st.integers(0, 9), unique=True))
def test_touched_sessions_are_found_in_the_sessions_table_by_their_start_and_id(held: list, picks: list) -> None:
    from relief_live.metrics.incremental import _table_places

    table = pl.DataFrame({"started_at": [None if m is None else NOW + timedelta(minutes=m) for m, _ in held],
                          "session_id": [sid for _, sid in held]},
                         schema={"started_at": pl.Datetime("ms", "UTC"), "session_id": pl.String}
                         ).sort("started_at", "session_id", nulls_last=True)
    rows = table[[i for i in picks if i < table.height]].sample(fraction=1.0, shuffle=True, seed=1)
    want = table.get_column("session_id").is_in(rows.get_column("session_id").implode()).arg_true().to_list()
    assert _table_places(table, rows).to_list() == want


def test_rows_are_replaced_by_key_even_when_every_key_hash_collides(tmp_path: Path, monkeypatch) -> None:
    """The key index only narrows the search; the rows replaced are decided by the keys themselves."""
    import relief_live.live as live_module
    import relief_live.store as store_module

    def colliding(kind: str, frame: pl.DataFrame) -> pl.Series:
        return pl.Series("h", [7] * frame.height, pl.UInt64)

    # Everywhere a key is hashed: the index's own lookups, and the store's reads (which hand their hashes on).
    monkeypatch.setattr(live_module, "key_hashes", colliding)
    monkeypatch.setattr(store_module, "key_hashes", colliding)
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "stock", [{"village": "甲村", "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg",
                          "as_of": date(2020, 9, 1)}])
    put(store, "sales", [sale(f"o{i}", "s1", "甲村", 1, 100, at("2020-09-30 19:00")) for i in range(6)])
    frames = LiveFrames(store)
    frames.report(now=NOW, live_minutes=10.0)
    # o2 and o3 revised (more kilograms), o9 new; o0, o1, o4 and o5 stay as they were.
    put(store, "sales", [sale("o2", "s1", "甲村", 3, 300, at("2020-09-30 19:05")),
                         sale("o3", "s2", "甲村", 2, 200, at("2020-09-30 19:06")),
                         sale("o9", "s2", "甲村", 5, 500, at("2020-09-30 19:07"))])
    _, rep = frames.report(now=NOW, live_minutes=10.0)
    assert sorted(frames.changes.replaced["sales"].get_column("order_id").to_list()) == ["o2", "o3"]
    assert frames.frames["sales"].height == 7
    assert rep.villages.row(0, named=True)["sold_qty"] == 4 * 1 + 3 + 2 + 5
    assert_same(rep, truth(store))
    assert_frame_equal(frames.frames["sales"], store.read("sales"))


@given(n=st.integers(0, 40), gone=st.lists(st.integers(0, 39), unique=True), pieces=st.integers(1, 4))
def test_taking_rows_out_by_position_keeps_the_others_in_order(n: int, gone: list, pieces: int) -> None:
    from relief_live.metrics.common import without_rows

    base = pl.DataFrame({"i": list(range(n))}, schema={"i": pl.Int64})
    bounds = [k * n // pieces for k in range(pieces + 1)]  # the frame in `pieces` chunks, as merges leave it
    frame = pl.concat([base.slice(a, b - a) for a, b in pairwise(bounds)], rechunk=False)
    positions = sorted(g for g in gone if g < frame.height)
    got = without_rows(frame, pl.Series(positions, dtype=pl.UInt32), most_pieces=8)
    assert got.get_column("i").to_list() == [v for k, v in enumerate(frame.get_column("i").to_list())
                                             if k not in positions]


_KIND_ROW = st.fixed_dictionaries({
    "host_kind": st.sampled_from(["broadcast", "cadre", None]),
    "duration_s": st.none() | st.integers(0, 7200),
    "orders": st.none() | st.integers(0, 50),
    "gmv": st.none() | st.integers(0, 10**6),
    "gpm": st.none() | st.integers(0, 5),  # few values: ties, so one of several equal values goes
    "conversion": st.none() | st.sampled_from([0.0, 0.25, 0.5, 1 / 3]),
    "conversion_basis": st.sampled_from(["buyers", "orders", None]),
})


@given(held=st.lists(_KIND_ROW, max_size=30), replaced=st.lists(st.integers(0, 29), unique=True),
       fresh=st.lists(_KIND_ROW, max_size=8))
def test_host_kinds_moved_by_the_recomputed_sessions_equal_them_grouped_again(
        held: list, replaced: list, fresh: list) -> None:
    """Sums, medians and the conversion basis per host kind, moved by the rows of the sessions a refresh
    recomputed (their old rows out, their new rows in), are those of the whole sessions table grouped again."""
    from relief_live.metrics.sessions import (
        host_kind_metrics,
        host_kind_table,
        host_kinds_moved,
        host_kinds_of,
    )

    schema = {"host_kind": pl.String, "duration_s": pl.Int64, "orders": pl.Int64, "gmv": pl.Int64,
              "gpm": pl.Int64, "conversion": pl.Float64, "conversion_basis": pl.String}
    table = pl.DataFrame(held, schema=schema)
    gone = [i for i in replaced if i < table.height]
    before, after = table[gone], pl.DataFrame(fresh, schema=schema)
    now = pl.concat([table.filter(~pl.int_range(pl.len()).is_in(gone)), after])
    got = host_kind_table(host_kinds_moved(host_kinds_of(table), before, after))
    assert_frame_equal(got, host_kind_metrics(now), check_exact=True)
    # and as one polars group_by of the table states them (docs/metrics.md)
    timed = pl.col("duration_s").is_not_null() & pl.col("gmv").is_not_null()
    bases = pl.col("conversion_basis").drop_nulls()
    grouped = now.group_by("host_kind").agg(
        sessions=pl.len().cast(pl.Int64), hours=pl.col("duration_s").sum() / 3600, orders=pl.col("orders").sum(),
        gmv=pl.col("gmv").sum(),
        gmv_per_hour=div_round(pl.col("gmv").filter(timed).sum() * 3600, pl.col("duration_s").filter(timed).sum()),
        median_gpm=pl.col("gpm").median().round(0, mode="half_away_from_zero").cast(pl.Int64),
        median_conversion=pl.col("conversion").median(),
        conversion_basis=pl.when(bases.n_unique() > 1).then(pl.lit("mixed")).otherwise(bases.first()),
    ).sort("host_kind", nulls_last=True)
    assert_frame_equal(got, grouped, check_exact=True, check_dtypes=False)


def test_conform_puts_a_frame_of_the_right_dtypes_in_its_kinds_column_order() -> None:
    """A frame with its kind's columns and dtypes comes back as it is only in the kind's order: frames are
    concatenated by position, so one with the same columns in another order is reordered."""
    from relief_live import schema
    from relief_live.metrics.common import conform

    target = list(schema.frame_schema("stock").items())
    same = pl.DataFrame(schema=dict(target))
    assert conform(same, "stock") is same
    shuffled = pl.DataFrame(schema=dict(reversed(target)))
    assert list(conform(shuffled, "stock").schema.items()) == target


def test_shop_lines_move_into_a_session_that_arrives_after_them(tmp_path: Path) -> None:
    # Lines of a shop's export name no session; the session of their host account comes later, then more lines.
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    loose = [{**sale(f"o{i}", None, "甲村", 2, 500, at(f"2020-09-30 19:{10 + i}")), "host_id": "达人1"}
             for i in range(3)]
    put(store, "stock", [{"village": "甲村", "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg",
                          "as_of": date(2020, 9, 1)}])
    put(store, "sales", loose[:2])
    frames = LiveFrames(store)
    _, first = frames.report(now=NOW, live_minutes=10.0)
    assert first.sessions.height == 0 and first.villages["sold_qty"].sum() == 4.0  # sessionless: villages only
    put(store, "sessions", [{"session_id": "s1", "host_kind": "cadre", "host_id": "达人1",
                             "started_at": at("2020-09-30 19:00"), "ended_at": at("2020-09-30 21:00")}])
    _, second = frames.report(now=NOW, live_minutes=10.0)
    assert_same(second, truth(store))
    assert second.sessions.row(0, named=True)["gmv"] == 1000
    put(store, "sales", loose[2:])
    _, third = frames.report(now=NOW, live_minutes=10.0)
    assert_same(third, truth(store))
    assert (third.sessions.row(0, named=True)["gmv"], third.sessions.row(0, named=True)["orders"]) == (1500, 3)


def test_a_growing_export_refreshes_the_report_as_a_full_build_does(tmp_path: Path) -> None:
    from relief_live import ingest

    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    ingest.ingest_bytes(store, "sessions.csv", "直播ID,开播时间,直播类型\ns1,2020-09-30 19:00,干部直播\n".encode())
    held = LiveFrames(store)
    held.report(now=NOW, live_minutes=10.0)
    head = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
    lines = [f"o{i},2020-09-30 19:{i % 60:02d},蜂蜜,甲村,{i % 3 + 1},kg,{i}.50,s1\n" for i in range(300)]
    batches = []
    for end in (100, 200, 300):  # a growing export: each version stores only its new lines
        batches.append(ingest.ingest_bytes(store, "orders.csv", (head + "".join(lines[:end])).encode()).batch)
        _, got = held.report(now=NOW, live_minutes=10.0)
        assert not held.changes.full and held.changes.new["sales"].height == 100  # only the new lines read
        assert_same(got, truth(store))
    store.retract(batches[1])  # the middle version: its lines stay, held by the last
    _, got = held.report(now=NOW, live_minutes=10.0)
    assert held.changes.full and store.read("sales").height == 300
    assert_same(got, truth(store))
    assert_frame_equal(held.frames["sales"].sort("batch", "line"), store.read("sales").sort("batch", "line"))


def test_a_session_s_product_totals_give_way_to_its_order_lines_through_refreshes(tmp_path: Path) -> None:
    # 罗盘's 货品明细 of s1 first (totals: no order id), then the shop's lines of s1 and of s2: the held report
    # refreshed each time is the full build's, and the totals count only while s1 has no order line.
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.create()
    put(store, "stock", [{"village": "甲村", "product": "蜂蜜", "unsold_qty": 100.0, "unit": "kg",
                          "as_of": date(2020, 9, 1)}])
    put(store, "sessions", [{"session_id": f"s{n}", "host_kind": "cadre", "started_at": at(f"2020-09-30 {h}:00"),
                             "ended_at": at(f"2020-09-30 {h + 1}:00")} for n, h in ((1, 19), (2, 21))])
    frames = LiveFrames(store)
    frames.report(now=NOW, live_minutes=10.0)
    put(store, "sales", [{"session_id": "s1", "village": "甲村", "product": "蜂蜜", "quantity": 10.0, "unit": "kg",
                          "amount": 5000, "basis": "session_totals"}])
    _, totals = frames.report(now=NOW, live_minutes=10.0)
    assert_same(totals, truth(store))
    assert totals.villages["sold_qty"].sum() == 10.0
    put(store, "sales", [sale("o2", "s2", "甲村", 3, 900, at("2020-09-30 21:10"))])
    _, other = frames.report(now=NOW, live_minutes=10.0)
    assert_same(other, truth(store))
    assert other.villages["sold_qty"].sum() == 13.0  # another session's line: the totals still count
    put(store, "sales", [sale("o1", "s1", "甲村", 4, 1200, at("2020-09-30 19:10"))])
    _, lines = frames.report(now=NOW, live_minutes=10.0)
    assert_same(lines, truth(store))
    assert lines.villages["sold_qty"].sum() == 7.0  # s1's order line stands for its sales now
    assert lines.sessions.filter(pl.col("session_id") == "s1")["gmv"].to_list() == [1200]
