"""store.merge lays newer batches over a held read exactly as a full read resolves them (the dashboard's refresh)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from relief_live import ingest
from relief_live import store as store_module
from relief_live.store import Store, _last_of_key, merge
from tests.conftest import csv_bytes

HEAD = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
NO_ORDER_HEAD = "下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"


def put(store: Store, name: str, text: str) -> None:
    ingest.ingest_bytes(store, name, csv_bytes(text))


def test_merge_of_a_revised_order_with_a_new_time_equals_a_full_read(store: Store) -> None:
    """Regression: merge keyed order lines on their time as well, so a revised order stayed twice."""
    put(store, "a.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,1,斤,1.50,s1\n2,2020-09-15 19:01:00,芒果,,2,斤,3.00,s1\n")
    put(store, "b.csv", NO_ORDER_HEAD + "2020-09-15 19:02:00,芒果,,1,斤,1.00,s1\n2020-09-15 19:02:00,芒果,,1,斤,1.00,s1\n")
    seen, held = store.last_batch(), store.read("sales")
    put(store, "c.csv", HEAD + "1,2020-09-15 19:05:00,芒果,百色村,3,斤,4.50,s1\n3,2020-09-15 19:06:00,芒果,,1,斤,1.50,s1\n")
    put(store, "d.csv", NO_ORDER_HEAD + "2020-09-15 19:02:00,芒果,,5,斤,7.00,s1\n")
    merged = merge("sales", held, store.read("sales", since_batch=seen))
    assert_frame_equal(merged, store.read("sales"))
    assert merged.filter(pl.col("order_id") == "1")["amount"].to_list() == [450]


def test_merge_of_rows_not_newer_than_the_held_ones_resolves_them_together(store: Store) -> None:
    put(store, "a.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,1,斤,1.50,s1\n")
    first = store.read("sales")
    put(store, "b.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,2,斤,3.00,s1\n")
    everything = store.read("sales")
    assert_frame_equal(merge("sales", everything, first), everything)


def test_merge_over_an_empty_read_gives_the_new_rows_and_replaces_none(store: Store) -> None:
    # A dashboard opened on an empty store, then the first export arrives.
    held = store.read("sales")
    put(store, "a.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,1,斤,1.50,s1\n2,2020-09-15 19:01:00,芒果,,2,斤,3.00,s1\n")
    merged, replaced = store_module.merge_replacing("sales", held, store.read("sales", since_batch=0))
    assert_frame_equal(merged, store.read("sales"))
    assert merged.height == 2 and replaced is not None and replaced.height == 0


def _last_by_hand(keys: list[str]) -> list[bool]:
    last = {key: i for i, key in enumerate(keys)}
    return [last[key] == i for i, key in enumerate(keys)]


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.sampled_from(["o\x1fA1\x1f芒果\x1f0", "o\x1fA2\x1f芒果\x1f0", "s1", ""]) | st.text(max_size=4),
                     max_size=60),
       collide=st.booleans())
def test_the_latest_row_of_each_key_is_found_exactly(keys: list[str], collide: bool) -> None:
    # Reads keep each key's last row, finding repeats by 64-bit hashes first: with every hash the same (collide),
    # the text comparison alone must decide, and no row with a key of its own may go.
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            patch.setattr(pl.Series, "hash", lambda self, *args, **kwargs: pl.Series([7] * len(self), dtype=pl.UInt64))
        assert _last_of_key(pl.Series("key", keys, pl.String)).to_list() == _last_by_hand(keys)


def test_a_read_keeps_the_last_line_of_a_key_across_many_parts(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch stored as several parts, the same keys in two batches: a read takes each key from the later batch,
    # and within a batch from the later line, and gives the rows in batch and line order.
    monkeypatch.setattr(store_module, "PART_ROWS", 3)
    head = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
    first = "".join(f"A{i},2020-09-15 19:{i:02d}:00,芒果,百色村,1,斤,{10 + i}.00,s1\n" for i in range(10))
    second = "".join(f"A{i},2020-09-15 19:{i:02d}:00,芒果,百色村,1,斤,{90 + i}.00,s1\n" for i in (8, 3, 5))
    ingest.ingest_bytes(store, "a.csv", (head + first).encode())
    ingest.ingest_bytes(store, "b.csv", (head + second).encode())
    sales = store.read("sales")
    assert sales.select("order_id", "amount", "batch", "line").rows() == [
        *[(f"A{i}", (10 + i) * 100, 1, i + 2) for i in (0, 1, 2, 4, 6, 7, 9)],
        ("A8", 9800, 2, 2), ("A3", 9300, 2, 3), ("A5", 9500, 2, 4)]
