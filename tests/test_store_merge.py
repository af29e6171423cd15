"""store.merge lays newer batches over a held read exactly as a full read resolves them (the dashboard's refresh)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from relief_live import ingest
from relief_live import store as store_module
from relief_live.live import KeyIndex, merge_indexed
from relief_live.store import Store, _last_of_key, merge
from relief_live.validate import repeated
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


def test_indexed_merge_of_rows_not_newer_than_the_held_ones_keeps_the_latest(store: Store) -> None:
    # The dashboard's merge (live.merge_indexed) takes the held rows' last batch from its index: rows of an
    # older batch laid over a newer read must not replace the newer version of their order.
    put(store, "a.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,1,斤,1.50,s1\n")
    first = store.read("sales")
    put(store, "b.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,2,斤,3.00,s1\n")
    everything, hashes = store.read_keyed("sales")
    merged, _, index = merge_indexed("sales", everything, KeyIndex.of("sales", everything, hashes), first)
    assert merged["amount"].to_list() == [300]
    assert index.last_batch == store.last_batch() and index.places.len() == 1
    put(store, "c.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,3,斤,4.50,s1\n2,2020-09-15 19:01:00,芒果,,1,斤,1.50,s1\n")
    newer, replaced, _ = merge_indexed("sales", merged, index, store.read("sales", since_batch=store.last_batch() - 1))
    assert_frame_equal(newer, store.read("sales"))
    assert newer["amount"].to_list() == [450, 150] and replaced is not None and replaced["amount"].to_list() == [300]


def test_merge_over_an_empty_read_gives_the_new_rows_and_replaces_none(store: Store) -> None:
    # A dashboard opened on an empty store, then the first export arrives.
    held = store.read("sales")
    put(store, "a.csv", HEAD + "1,2020-09-15 19:00:00,芒果,百色村,1,斤,1.50,s1\n2,2020-09-15 19:01:00,芒果,,2,斤,3.00,s1\n")
    merged, replaced = store_module.merge_replacing("sales", held, store.read("sales", since_batch=0))
    assert_frame_equal(merged, store.read("sales"))
    assert merged.height == 2 and replaced is not None and replaced.height == 0


def _key_by_hand(row: dict) -> tuple:
    """A sale's key as docs/store.md says: by order id (with line id, product and occurrence) where present, else by its
    fields."""
    if row["order_id"] is not None:
        return "order", row["order_id"], row["line_id"], row["product"], row["occ"]
    return "fields", row["session_id"], row["product"], row["village"], row["ts"], row["occ"]


_SALE = st.fixed_dictionaries({
    "order_id": st.sampled_from([None, "A1", "A2"]), "line_id": st.sampled_from([None, "A1-1", "A1-2"]),
    "session_id": st.sampled_from(["s1", "s2", None]),
    "product": st.sampled_from(["芒果", "茶叶"]), "village": st.sampled_from(["甲村", None]),
    "ts": st.sampled_from([0, 60_000]), "occ": st.sampled_from([0, 1]),
})


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_SALE, max_size=40), collide=st.booleans())
def test_the_latest_row_of_each_key_is_found_exactly(rows: list[dict], collide: bool) -> None:
    # Reads keep each key's last row, finding repeats by 64-bit hashes first: with every hash the same (collide),
    # the comparison of the keys alone must decide, and no row with a key of its own may go.
    frame = pl.DataFrame(rows, schema={"order_id": pl.String, "line_id": pl.String, "session_id": pl.String,
                                       "product": pl.String, "village": pl.String, "ts": pl.Int64, "occ": pl.Int64})
    keys = [_key_by_hand(row) for row in frame.iter_rows(named=True)]
    last = {key: i for i, key in enumerate(keys)}
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            patch.setattr(store_module, "key_hashes", lambda kind, f: pl.Series([7] * f.height, dtype=pl.UInt64))
        assert _last_of_key("sales", frame).to_list() == [last[key] == i for i, key in enumerate(keys)]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**63, 2**64 - 1]), max_size=50))
def test_repeated_gives_each_hash_met_more_than_once(values: list[int]) -> None:
    got = repeated(pl.Series("h", values, pl.UInt64))
    assert got.dtype == pl.UInt64
    assert sorted(got.to_list()) == sorted({v for v in values if values.count(v) > 1})


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
