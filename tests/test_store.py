"""The store on SQLite and PostgreSQL: batches, unchanged re-uploads, growing exports, later values, retract."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from relief_live import ingest
from relief_live import store as store_module
from relief_live.store import Store, merge
from tests.conftest import csv_bytes

SALES_HEAD = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"


def sales_lines(n: int, start: int = 0) -> str:
    return "".join(f"{1000 + i},2020-09-15 19:{i % 60:02d}:00,芒果,百色村,{i % 5 + 1},斤,{i}.50,s1\n"
                   for i in range(start, start + n))


def put(store: Store, name: str, text: str, **kwargs) -> ingest.FileResult:
    return ingest.ingest_bytes(store, name, csv_bytes(text), **kwargs)


def state(store: Store) -> dict[str, pl.DataFrame]:
    """What a user sees of the store: the current rows of every kind, without batch bookkeeping."""
    return {kind: store.read(kind).drop("batch", "line").sort(pl.all()) for kind in ("sessions", "ticks", "sales", "stock")}


def assert_same_state(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for kind in a:
        assert_frame_equal(a[kind], b[kind], check_row_order=False)


def test_batch_recorded(store: Store) -> None:
    result = put(store, "sales.csv", SALES_HEAD + sales_lines(3), by="alice")
    assert (result.kind, result.rows, result.status) == ("sales", 3, "ingested")
    batches = store.batches()
    assert batches.select("batch", "path", "kind", "rows", "by", "retracted").rows() == [
        (result.batch, "sales.csv", "sales", 3, "alice", False)]
    assert len(batches["sha256"][0]) == 64
    assert store.read("sales")["amount"].to_list() == [50, 150, 250]


def test_same_bytes_again_is_unchanged(store: Store) -> None:
    first = put(store, "sales.csv", SALES_HEAD + sales_lines(3))
    version = store.version()
    again = put(store, "sales-copy.csv", SALES_HEAD + sales_lines(3))
    assert again.status == "unchanged" and again.batch == first.batch
    assert store.batches().height == 1
    assert store.read("sales").height == 3
    assert store.version() == version


def test_growing_export_adds_exactly_the_new_rows(store: Store) -> None:
    # No order ids: identical lines are told apart by their occurrence in the file.
    head = "下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
    line = "2020-09-15 19:31:00,芒果,百色村,1,斤,10.00,s1\n"
    put(store, "orders.csv", head + line * 3)
    assert store.read("sales").height == 3
    put(store, "orders.csv", head + line * 5 + "2020-09-15 19:32:00,芒果,百色村,2,斤,20.00,s1\n")
    sales = store.read("sales")
    assert sales.height == 6
    assert sales["amount"].sum() == 5 * 1000 + 2000


def test_growing_export_with_order_ids(store: Store) -> None:
    put(store, "orders.csv", SALES_HEAD + sales_lines(100))
    put(store, "orders.csv", SALES_HEAD + sales_lines(130))
    assert store.read("sales").height == 130
    assert store.batches()["rows"].to_list() == [100, 130]


def stored_rows(store: Store) -> int:
    """The rows the store holds in its parts (every version of every row, retracted batches' too)."""
    import sqlalchemy as sa

    return int(store._scalar(sa.select(sa.func.coalesce(sa.func.sum(store_module.parts_table.c.rows), 0))))


def test_a_growing_export_stores_only_its_new_rows_and_each_version_retracts_exactly(
        store: Store, tmp_path: Path) -> None:
    versions = [SALES_HEAD + sales_lines(n) for n in (1000, 2000, 3000)]
    for text in versions:
        put(store, "orders.csv", text)
    assert store.batches()["rows"].to_list() == [1000, 2000, 3000]  # each version's rows, as ingest said
    assert stored_rows(store) == 3000  # not 6,000: each version stored only the lines after the one before
    assert store.read("sales").height == 3000 and store.read("sales")["batch"].n_unique() == 3
    # Retracting any versions leaves the store as if they had never been ingested.
    ids = store.batches()["batch"].to_list()
    for gone in ([1], [0], [2], [0, 1], [1, 2], [0, 2]):
        expected_store = Store(f"sqlite:///{tmp_path / f'expected{gone}.sqlite3'}")
        expected_store.create()
        for i, text in enumerate(versions):
            if i not in gone:
                put(expected_store, "orders.csv", text)
        copy = Store(f"sqlite:///{store.backup(tmp_path / f'copy{gone}.sqlite3')}")
        for i in gone:
            copy.retract(ids[i])
        assert_same_state(state(copy), state(expected_store))
        assert copy.read("sales").height == (0 if gone == [0, 1, 2] else 1000 * (1 + max(set(range(3)) - set(gone))))


def test_a_changed_line_in_a_longer_version_is_stored_again(store: Store) -> None:
    put(store, "orders.csv", SALES_HEAD + sales_lines(100))
    changed = (SALES_HEAD + sales_lines(100)).replace("1050,", "1050X,", 1) + sales_lines(10, start=100)
    put(store, "orders.csv", changed)  # not a longer version of the first: its bytes differ inside
    assert stored_rows(store) == 210
    assert store.read("sales").height == 111  # the old 1050 is still a key of the first batch


def test_a_line_changed_by_another_file_keeps_that_change_while_the_export_grows(store: Store) -> None:
    put(store, "orders.csv", SALES_HEAD + sales_lines(10))
    put(store, "correction.csv", SALES_HEAD + sales_lines(1, start=5).replace("5.50", "99.00"))
    put(store, "orders.csv", SALES_HEAD + sales_lines(12))
    sales = store.read("sales").sort("order_id")
    assert sales.height == 12 and sales.filter(pl.col("order_id") == "1005")["amount"].to_list() == [9900]
    assert stored_rows(store) == 13


def test_times_of_day_placed_otherwise_store_the_longer_version_whole(store: Store) -> None:
    sessions = "直播ID,开播时间,直播类型\ns1,2020-09-15 19:00,干部直播\n"
    put(store, "sessions.csv", sessions)
    trend = "直播ID,时间,实时在线人数\n" + "".join(f"s1,19:{m:02d},{100 + m}\n" for m in range(5))
    put(store, "trend.csv", trend)
    put(store, "sessions.csv", sessions.replace("2020-09-15", "2020-09-16"))  # the session moved a day
    put(store, "trend.csv", trend + "s1,19:05,105\n")
    latest = store.read("ticks").filter(pl.col("batch") == store.last_batch())
    assert latest.height == 6 and latest["ts"].dt.date().unique().to_list() == [date(2020, 9, 16)]
    assert stored_rows(store) == 2 + 5 + 6  # the first rows' times differ from the first version's: all stored


def test_order_with_two_product_lines_keeps_both(store: Store) -> None:
    put(store, "o.csv", SALES_HEAD + "1,2020-09-15 19:31:00,芒果,百色村,1,斤,10,s1\n1,2020-09-15 19:31:00,茶叶,紫金村,1,斤,30,s1\n")
    assert sorted(store.read("sales")["product"].to_list()) == ["芒果", "茶叶"]


def test_later_value_for_a_key_wins(store: Store) -> None:
    head = "直播ID,直播类型,开播时间,成交订单数\n"
    put(store, "a.csv", head + "s1,cadre,2020-09-06 19:00,10\ns2,cadre,2020-09-07 19:00,5\n")
    put(store, "b.csv", head + "s1,cadre,2020-09-06 19:00,12\n")
    sessions = store.read("sessions").sort("session_id")
    assert sessions.select("session_id", "orders").rows() == [("s1", 12), ("s2", 5)]


def test_within_a_file_the_last_line_for_a_key_wins(store: Store) -> None:
    put(store, "t.csv", "直播ID,时间,实时在线人数\ns1,2020-09-06 19:00,5\ns1,2020-09-06 19:00,7\n")
    assert store.read("ticks")["viewers_online"].to_list() == [7]


TICKS_A = "直播ID,时间,实时在线人数\n" + "".join(f"s1,2020-09-06 19:{m:02d},{100 + m}\n" for m in range(0, 10))
TICKS_B = "直播ID,时间,实时在线人数\n" + "".join(f"s1,2020-09-06 19:{m:02d},{900 + m}\n" for m in range(5, 15))
STOCK_A = "行政村,产品,滞销量,单位,截至日期\n火卖村,猕猴桃,15000,斤,2020-03-31\n仙塘村,板栗,8,吨,2020-03-31\n"
STOCK_B = "行政村,产品,滞销量,单位,截至日期\n火卖村,猕猴桃,9000,斤,2020-03-31\n百色村,芒果,3,吨,2020-04-30\n"


def _load(store: Store, *files: tuple[str, str]) -> None:
    for name, text in files:
        put(store, name, text)


@pytest.mark.parametrize("retract", ["A", "B"])
def test_retract_leaves_the_store_as_if_never_ingested(store: Store, tmp_path: Path, retract: str) -> None:
    a = [("ticks-a.csv", TICKS_A), ("stock-a.csv", STOCK_A)]
    b = [("ticks-b.csv", TICKS_B), ("stock-b.csv", STOCK_B)]
    _load(store, *a, *b)
    expected_store = Store(f"sqlite:///{tmp_path / 'expected.sqlite3'}")
    expected_store.create()
    _load(expected_store, *(b if retract == "A" else a))
    expected = state(expected_store)

    ids = {row["path"]: row["batch"] for row in store.batches().iter_rows(named=True)}
    for name, _ in a if retract == "A" else b:
        store.retract(ids[name])
    assert_same_state(state(store), expected)
    # B overwrote 火卖村's 15000 with 9000 and ticks 19:05-19:09: retracting B brings A's values back
    if retract == "B":
        assert store.read("stock").filter(pl.col("village") == "火卖村")["unsold_qty"].to_list() == [15000.0]
        assert store.read("ticks")["viewers_online"].to_list() == [100 + m for m in range(10)]
    else:
        assert store.read("ticks")["viewers_online"].to_list() == [900 + m for m in range(5, 15)]
    assert store.batches().filter(pl.col("retracted")).height == 2


def test_retract_then_same_bytes_ingest_again(store: Store) -> None:
    first = put(store, "s.csv", STOCK_A)
    store.retract(first.batch)
    assert store.read("stock").height == 0
    again = put(store, "s.csv", STOCK_A)
    assert again.status == "ingested" and again.batch != first.batch
    assert store.read("stock").height == 2


def test_retract_unknown_or_twice(store: Store) -> None:
    first = put(store, "s.csv", STOCK_A)
    with pytest.raises(KeyError):
        store.retract(first.batch + 100)
    store.retract(first.batch)
    with pytest.raises(ValueError, match="already retracted"):
        store.retract(first.batch)


def test_rejected_file_changes_nothing(store: Store) -> None:
    put(store, "s.csv", STOCK_A)
    before, version = state(store), store.version()
    bad = SALES_HEAD + sales_lines(50) + "9999,2020-09-15 19:31:00,芒果,百色村,abc,斤,1.00,s1\n" + sales_lines(50, 50)
    with pytest.raises(ingest.Rejected) as caught:
        put(store, "sales.csv", bad)
    assert [str(p) for p in caught.value.problems] == ['sales.csv line 52, column 商品数量: "abc" is not a number']
    assert_same_state(state(store), before)
    assert store.version() == version and store.batches().height == 1


def test_incremental_read_and_merge_equal_a_full_read(store: Store) -> None:
    put(store, "t1.csv", TICKS_A)
    seen = store.last_batch()
    cached = store.read("ticks")
    put(store, "t2.csv", TICKS_B)
    new = store.read("ticks", since_batch=seen)
    assert new.height == 10
    assert_frame_equal(merge("ticks", cached, new).drop("batch", "line").sort("ts"),
                       store.read("ticks").drop("batch", "line").sort("ts"))


def test_a_read_hands_on_the_key_hash_of_each_row_it_keeps(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_keyed's hashes (taken part by part) are those of the rows read, in their order, whatever was replaced
    or retracted: the dashboard's key index is built from them, and later rows are looked up by key_hashes."""
    monkeypatch.setattr(store_module, "PART_ROWS", 3)  # batches of several parts
    _load(store, ("t1.csv", TICKS_A), ("t2.csv", TICKS_B), ("s1.csv", STOCK_A), ("s2.csv", STOCK_B),
          ("sales1.csv", SALES_HEAD + sales_lines(8)), ("sales2.csv", SALES_HEAD + sales_lines(8, start=5)))
    seen = store.last_batch()
    put(store, "sales3.csv", SALES_HEAD + sales_lines(4, start=2))
    store.retract(store.batches().filter(pl.col("path") == "t1.csv")["batch"][0])
    for kind, rows in (("ticks", 10), ("stock", 3), ("sales", 13), ("sessions", 0)):
        frame, hashes = store.read_keyed(kind)
        assert frame.height == rows
        assert_frame_equal(frame, store.read(kind))
        assert hashes.to_list() == store_module.key_hashes(kind, frame).to_list()
        assert hashes.n_unique() == rows  # one row a key
    new, new_hashes = store.read_keyed("sales", since_batch=seen)
    assert new.height == 4 and new_hashes.to_list() == store_module.key_hashes("sales", new).to_list()


def test_a_read_gives_each_key_the_values_and_batch_of_its_latest_version(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read decodes its parts' key columns and their other columns apart, and makes the batch column from the
    parts: each row's viewers and batch must still be those of the version that won, across several parts."""
    monkeypatch.setattr(store_module, "PART_ROWS", 3)  # each batch in several parts
    _load(store, ("t1.csv", TICKS_A), ("t2.csv", TICKS_B))
    first, second = store.batches().sort("batch")["batch"].to_list()
    ticks = store.read("ticks").sort("ts")
    assert ticks.height == 15
    assert ticks["viewers_online"].to_list() == [100 + m for m in range(5)] + [900 + m for m in range(5, 15)]
    assert ticks["batch"].to_list() == [first] * 5 + [second] * 10
    assert ticks["line"].to_list() == [m + 2 for m in range(5)] + [m - 5 + 2 for m in range(5, 15)]


def test_a_value_riding_on_the_version_query_is_read_with_each_version(store: Store) -> None:
    import sqlalchemy as sa

    store.ride("files", sa.select(sa.func.count()).select_from(store_module.batches_table))
    put(store, "a.csv", SALES_HEAD + sales_lines(3))
    version = store.version()
    assert store.ridden == (version, {"files": 1})
    # One that cannot be read (its table gone) costs neither the version nor a value read wrong: it is let go.
    store.ride("gone", sa.select(sa.column("x")).select_from(sa.table("no_such_table")))
    assert store.version() == version and store.ridden is None
    assert store.version() == version


def test_parts_are_lz4_in_sqlite_and_zstd_in_postgresql(store: Store) -> None:
    """PostgreSQL logs and TOASTs every byte of a part (and sends it over a connection): its parts are zstd,
    40% of LZ4's bytes; a SQLite file keeps LZ4, the cheaper to decode. Either reads back the same rows."""
    import io

    import pyarrow.parquet as pq

    put(store, "sales.csv", SALES_HEAD + sales_lines(50))
    with store._cursor() as cursor:
        cursor.execute("SELECT data FROM batch_parts")
        [(data,)] = cursor.fetchall()
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    codecs = {meta.row_group(0).column(i).compression for i in range(meta.num_columns)}
    assert codecs == ({"ZSTD"} if store.dialect == "postgresql" else {"LZ4"})
    assert store.read("sales")["amount"].sum() == sum(i * 100 + 50 for i in range(50))


def test_time_of_day_ticks_use_the_stored_session_start(store: Store) -> None:
    put(store, "s.csv", "直播ID,直播类型,开播时间\ns1,cadre,2020-09-06 23:59\n")
    put(store, "t.csv", "时间,实时在线人数\n23:59,5\n00:00,6\n", session_id="s1")
    ts = store.read("ticks")["ts"].dt.convert_time_zone("Asia/Shanghai").dt.strftime("%Y-%m-%d %H:%M")
    assert ts.to_list() == ["2020-09-06 23:59", "2020-09-07 00:00"]


_WRITER = """
import sys
from relief_live import ingest
from relief_live.store import Store
store = Store(sys.argv[1]); store.create()
for path in sys.argv[2:]:
    ingest.ingest_file(store, path)
"""


def test_two_processes_ingest_into_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    files = []
    for p in range(2):
        names = []
        for f in range(5):
            path = tmp_path / f"p{p}f{f}.csv"
            start = (p * 5 + f) * 2000
            path.write_bytes(csv_bytes(SALES_HEAD + sales_lines(2000, start)))
            names.append(str(path))
        files.append(names)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, url, *names], cwd=Path(__file__).parent.parent,
                              stderr=subprocess.PIPE, text=True) for names in files]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = Store(url)
    sales = store.read("sales")
    assert sales.height == 20_000
    assert sales["order_id"].n_unique() == 20_000
    assert store.batches().height == 10


def _page_size(store: Store) -> int:
    with store._cursor() as cursor:
        cursor.execute("PRAGMA page_size")
        return int(cursor.fetchall()[0][0])


def test_a_new_sqlite_store_is_made_on_large_pages_and_one_made_before_keeps_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store's parts (~1 MB each) are written a page at a time: a new SQLite store is made on its largest pages.
    A store made before on the default 4 KiB pages keeps them, and ingests and reads as before."""
    new = Store(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    new.create()
    assert _page_size(new) == store_module.SQLITE_PAGE_SIZE == 65_536
    monkeypatch.setattr(store_module, "SQLITE_PAGE_SIZE", 4096)  # as a store made before this was
    before = Store(f"sqlite:///{tmp_path / 'before.sqlite3'}")
    before.create()
    monkeypatch.undo()
    before = Store(before.url)  # opened again by this version
    before.create()
    for store in (new, before):
        assert put(store, "s.csv", SALES_HEAD + sales_lines(300)).rows == 300
        assert put(store, "s2.csv", SALES_HEAD + sales_lines(200, 300)).rows == 200
    assert _page_size(before) == 4096 and _page_size(new) == 65_536
    assert_same_state(state(new), state(before))
    assert new.read("sales").height == 500


def test_postgresql_connections_are_kept_between_operations_and_replaced_when_the_server_ends_them(
        pg: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[object] = []
    connect = Store._connect

    def counted(self: Store):  # type: ignore[no-untyped-def]
        conn = connect(self)
        if self is pg:
            made.append(conn)
        return conn

    monkeypatch.setattr(Store, "_connect", counted)
    pg.dispose()
    first = put(pg, "s.csv", SALES_HEAD + sales_lines(2))
    assert pg.read("sales").height == first.rows == 2
    assert pg.version() == 1 and len(made) == 1  # one connection for the ingest and the reads after it
    with pg._cursor() as cursor:  # the server ends the connection kept idle (a restart, an administrator)
        cursor.execute("SELECT pg_backend_pid()")
        [(pid,)] = cursor.fetchall()
    killer = Store(pg.url)
    with killer._cursor() as cursor:
        cursor.execute(f"SELECT pg_terminate_backend({pid})")
        cursor.fetchall()
    killer.dispose()
    assert pg.holding(ingest._sha256(csv_bytes(SALES_HEAD + sales_lines(2))), None) is not None  # a new one
    assert len(made) == 2


def test_postgresql_parts_are_stored_as_they_are_without_compression_tried_again(pg: Store) -> None:
    """Parts are lz4 Parquet: PostgreSQL keeps them out of line uncompressed (STORAGE EXTERNAL), set by create on
    a new store and on one made before (the default, EXTENDED, runs each through pglz first)."""
    def storage() -> str:
        with pg._cursor() as cursor:
            cursor.execute("SELECT attstorage FROM pg_attribute WHERE attname = 'data' "
                           "AND attrelid = 'batch_parts'::regclass")
            return str(cursor.fetchall()[0][0])

    assert storage() == "e"
    with pg._cursor(write=True) as cursor:
        cursor.execute("ALTER TABLE batch_parts ALTER COLUMN data SET STORAGE EXTENDED")
    assert storage() == "x"
    pg.create()
    assert storage() == "e"
    assert put(pg, "s.csv", SALES_HEAD + sales_lines(5)).rows == pg.read("sales").height == 5


def test_postgresql_writes_each_part_as_it_comes_not_all_at_the_end(pg: Store) -> None:
    """COPY in the binary form ADBC sends holds up to 1000 rows and writes them at its end, unless the table has
    a row trigger (create adds one, on a new store and on one made before): the parts of a file must reach the
    table while its next pieces are still being typed, not all at once when the last has come."""
    frame = ingest.parse("s.csv", csv_bytes(SALES_HEAD + sales_lines(8_000)))[1]
    watcher = Store(pg.url)  # another session: a table's size on disk grows with rows not yet committed

    def size() -> int:
        with watcher._cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('batch_parts')")
            return int(cursor.fetchall()[0][0])

    def written_while_the_next_come(file: str) -> list[bool]:
        grew: list[bool] = []
        seen = [size()]

        def pieces() -> Iterator[pl.DataFrame]:
            for i in range(4):
                if i >= 2:  # the parts before the last one handed on have been sent: wait for them to be written
                    deadline = time.monotonic() + 4
                    while size() == seen[-1] and time.monotonic() < deadline:
                        time.sleep(0.02)
                    grew.append(size() > seen[-1])
                    seen.append(size())
                yield frame.slice(2_000 * i, 2_000)

        assert pg.write("sales", pieces(), path=file, sha256=file, by="test").rows == 8_000
        return grew

    assert written_while_the_next_come("new.csv") == [True, True]
    with pg._cursor(write=True) as cursor:  # a store made before the trigger
        cursor.execute("DROP TRIGGER relief_live_part_as_it_comes ON batch_parts")
    assert written_while_the_next_come("old.csv") == [False, False]
    pg.create()
    assert written_while_the_next_come("again.csv") == [True, True]
    watcher.dispose()
    assert pg.read("sales").height == 8_000 and pg.batches()["rows"].to_list() == [8_000] * 3


def test_a_store_failure_is_said_in_chinese_without_the_database_s_own_words() -> None:
    import sqlite3

    from relief_live.store import BUSY_TIMEOUT_MS, describe_failure

    locked = sqlite3.OperationalError("database is locked")
    assert describe_failure(None, locked, "zh") == f"数据库：数据库正忙：另一个进程占用写锁超过 {BUSY_TIMEOUT_MS / 1000:g} 秒，请稍后重试"
    assert describe_failure(None, locked).endswith("try again (database is locked)")  # the CLI's, as before
    # A failure nobody has put words to keeps the database's text, so it can still be looked up.
    assert describe_failure(None, sqlite3.OperationalError("disk I/O error"), "zh") == "数据库：出错（disk I/O error）"
