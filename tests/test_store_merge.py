"""store.merge lays newer batches over a held read exactly as a full read resolves them (the dashboard's refresh)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from relief_live import ingest
from relief_live.store import Store, merge
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
