"""A store written before the rows were kept as Parquet parts (one SQL row per row) is moved over when opened,
and reads, retracts and takes new files as it did."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from sqlalchemy.schema import CreateIndex, CreateTable
from streamlit.testing.v1 import AppTest

from relief_live import ingest
from relief_live.store import Store, row_tables
from tests.conftest import csv_bytes, sqlite_store

US = "\x1f"  # the key's separator


def _ms(text: str) -> int:
    """Epoch ms of a Shanghai wall-clock time (as the old store kept times)."""
    return int(datetime.fromisoformat(text + "+08:00").timestamp() * 1000)


def _old_store(store: Store) -> None:
    """Write into `store` what the release before the parts wrote: batches, and the rows of each kind as SQL rows
    in a table of the kind's name (batch, line, key, columns), with an index on batch."""
    engine = sa.create_engine(store.url)
    batches = [  # batch, path, kind, rows, retracted_at
        (1, "sessions.csv", "sessions", 2, None),
        (2, "orders-1.csv", "sales", 3, None),
        (3, "orders-2.csv", "sales", 2, None),  # revises order A1 (28.00 -> 30.00) and adds A4
        (4, "stock.csv", "stock", 1, None),
        (5, "orders-3.csv", "sales", 1, 1_600_000_000_000),  # retracted: its A2 of 99.00 is not read
    ]
    sales = [  # batch, line, order, time, quantity, amount (fen)
        (2, 2, "A1", "2020-09-15 19:01:00", 5.0, 2800), (2, 3, "A2", "2020-09-15 19:02:00", 2.0, 1100),
        (2, 4, "A3", "2020-09-15 19:03:00", 1.5, 900),
        (3, 2, "A1", "2020-09-15 19:01:00", 5.0, 3000), (3, 3, "A4", "2020-09-15 19:04:00", 3.0, 1650),
        (5, 2, "A2", "2020-09-15 19:02:00", 2.0, 9900),
    ]
    with engine.begin() as conn:
        for table in row_tables.values():
            conn.exec_driver_sql(str(CreateTable(table).compile(dialect=engine.dialect)))
            for index in table.indexes:
                conn.exec_driver_sql(str(CreateIndex(index).compile(dialect=engine.dialect)))
        for batch, path, kind, rows, retracted in batches:
            conn.execute(sa.text("INSERT INTO batches (batch, path, kind, sha256, rows, at, by, retracted_at) "
                                 "VALUES (:b, :p, :k, :s, :r, 1599000000000, 'old', :x)"),
                         {"b": batch, "p": path, "k": kind, "s": f"sha-{batch}", "r": rows, "x": retracted})
        conn.execute(sa.text(
            "INSERT INTO sessions (batch, line, key, session_id, title, host_kind, started_at, ended_at, gmv) "
            "VALUES (1, 2, 's1', 's1', '县长来了', 'cadre', :a, :b, 500000), "
            "(1, 3, 's2', 's2', '央视助农', 'broadcast', :c, NULL, NULL)"),
            {"a": _ms("2020-09-15 19:00:00"), "b": _ms("2020-09-15 21:00:00"), "c": _ms("2020-09-16 20:00:00")})
        for batch, line, order, at, quantity, amount in sales:
            conn.execute(sa.text(
                "INSERT INTO sales (batch, line, key, session_id, order_id, ts, product, village, quantity, unit, "
                "amount, occ) VALUES (:batch, :line, :key, 's1', :order, :ts, '芒果', '百色村', :q, '斤', :amount, 0)"),
                {"batch": batch, "line": line, "key": f"o{US}{order}{US}芒果{US}0", "order": order, "ts": _ms(at),
                 "q": quantity, "amount": amount})
        conn.execute(sa.text(
            "INSERT INTO stock (batch, line, key, county, village, product, unsold_qty, unit, as_of, unit_price) "
            f"VALUES (4, 2, '百色村{US}芒果{US}2020-09-01', '田阳区', '百色村', '芒果', 2000.0, '斤', '2020-09-01', 550)"))
        conn.execute(sa.text("UPDATE store_meta SET version = 7"))
        if engine.dialect.name == "postgresql":  # the batch ids above were given, not drawn from the sequence
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('batches', 'batch'), 5)"))
    engine.dispose()


def test_an_old_store_reads_the_same_after_it_is_opened(store: Store) -> None:
    _old_store(store)
    assert store.needs_upgrade()
    store.create()  # what the dashboard and the CLI do on start
    assert not store.needs_upgrade()
    assert store.version() == 8  # the cached reports of the old store are not taken for the new one
    if store.dialect == "sqlite":  # the old tables' pages are not left behind as free space
        with store._cursor() as cursor:
            cursor.execute("PRAGMA freelist_count")
            assert cursor.fetchone() == (0,)

    sales = store.read("sales").sort("order_id")
    assert sales["order_id"].to_list() == ["A1", "A2", "A3", "A4"]
    assert sales["amount"].to_list() == [3000, 1100, 900, 1650]  # A1 as revised; A2 not from the retracted batch
    assert sales["batch"].to_list() == [3, 2, 2, 3]
    assert sales["quantity"].to_list() == [5.0, 2.0, 1.5, 3.0]
    assert sales["ts"][0] == datetime(2020, 9, 15, 11, 1, tzinfo=UTC)
    sessions = store.read("sessions").sort("session_id")
    assert sessions.select("session_id", "title", "host_kind", "gmv").rows() == [
        ("s1", "县长来了", "cadre", 500000), ("s2", "央视助农", "broadcast", None)]
    assert sessions["ended_at"].to_list() == [datetime(2020, 9, 15, 13, 0, tzinfo=UTC), None]
    stock = store.read("stock")
    assert stock.select("village", "unsold_qty", "as_of", "unit_price").rows() == [
        ("百色村", 2000.0, date(2020, 9, 1), 550)]
    assert store.read("ticks").height == 0
    assert store.batches()["rows"].to_list() == [2, 3, 2, 1, 1]


def test_an_opened_old_store_retracts_and_takes_revisions_as_before(store: Store) -> None:
    _old_store(store)
    store.create()
    store.create()  # opened again: nothing left to move, nothing read twice
    assert store.read("sales").height == 4

    store.retract(3)  # the old batch that revised A1: its earlier value comes back, A4 goes
    sales = store.read("sales").sort("order_id")
    assert dict(zip(sales["order_id"], sales["amount"], strict=True)) == {"A1": 2800, "A2": 1100, "A3": 900}

    # A file after the upgrade revises an order from before it: the keys agree.
    result = ingest.ingest_bytes(store, "orders-4.csv", csv_bytes("""
        订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID
        A3,2020-09-15 19:03:00,芒果,百色村,1.5,斤,12.00,s1
        A5,2020-09-15 19:05:00,芒果,百色村,1,斤,6.00,s1
    """))
    assert (result.batch, result.rows, result.status) == (6, 2, "ingested")
    sales = store.read("sales").sort("order_id")
    assert dict(zip(sales["order_id"], sales["amount"], strict=True)) == {"A1": 2800, "A2": 1100, "A3": 1200,
                                                                          "A5": 600}
    assert store.read("sales", since_batch=5).select("order_id", "batch").rows() == [("A3", 6), ("A5", 6)]


def test_the_cli_says_it_is_moving_an_old_store_then_works_on_it(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path, "old")
    _old_store(store)
    run = subprocess.run([sys.executable, "-m", "relief_live", "batches", "--json", "--db", store.url],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "Moving the store to this version's layout" in run.stderr
    assert [b["path"] for b in json.loads(run.stdout)["batches"]] == [
        "sessions.csv", "orders-1.csv", "orders-2.csv", "stock.csv", "orders-3.csv"]
    again = subprocess.run([sys.executable, "-m", "relief_live", "batches", "--db", store.url],
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "Moving" not in again.stderr


def test_the_dashboard_opens_an_old_store_and_shows_its_villages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sqlite_store(tmp_path, "old-dashboard")
    _old_store(store)
    monkeypatch.setenv("RELIEF_LIVE_DB", store.url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    monkeypatch.delenv("RELIEF_LIVE_STAFF_PASSWORD", raising=False)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard.py"), default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not store.needs_upgrade()
    shown = " ".join(h.value for h in at.main.html)
    assert "百色村" in shown and "芒果" in shown  # the old store's stock row, with its sales against it


def _with_keys_as_text(store: Store) -> None:
    """Give every stored part the text key column that parts held until 2026-11-30 (after `line`), as that
    release wrote it: the key's values joined by the unit separator, a sale's prefixed by its form."""
    engine = sa.create_engine(store.url)
    with engine.begin() as conn:
        for batch, part, data in conn.execute(sa.text("SELECT batch, part, data FROM batch_parts")).all():
            rows = pl.read_parquet(io.BytesIO(data))
            key = pl.concat_str([pl.lit("o"), pl.col("order_id"), pl.col("product"), pl.col("occ").cast(pl.String)],
                                separator=US)
            out = io.BytesIO()
            rows.insert_column(1, rows.select(key.alias("key")).to_series()).write_parquet(out, compression="lz4")
            conn.execute(sa.text("UPDATE batch_parts SET data = :d WHERE batch = :b AND part = :p"),
                         {"d": out.getvalue(), "b": batch, "p": part})
    engine.dispose()


def test_parts_that_hold_their_keys_as_text_read_the_same_and_take_revisions(store: Store) -> None:
    head = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
    ingest.ingest_bytes(store, "orders-1.csv", csv_bytes(head + "A1,2020-09-15 19:01:00,芒果,百色村,5,斤,28.00,s1\n"
                                                                "A2,2020-09-15 19:02:00,芒果,百色村,2,斤,11.00,s1\n"))
    before = store.read("sales")
    _with_keys_as_text(store)
    engine = sa.create_engine(store.url)
    with engine.connect() as conn:  # the part as an earlier release left it
        assert pl.read_parquet(io.BytesIO(conn.execute(sa.text("SELECT data FROM batch_parts")).scalar_one())
                               ).columns[:3] == ["line", "key", "session_id"]
    engine.dispose()
    assert_frame_equal(store.read("sales"), before)
    ingest.ingest_bytes(store, "orders-2.csv", csv_bytes(head + "A1,2020-09-15 19:01:00,芒果,百色村,5,斤,30.00,s1\n"))
    sales = store.read("sales").sort("order_id")
    assert dict(zip(sales["order_id"], sales["amount"], strict=True)) == {"A1": 3000, "A2": 1100}


# The columns each kind's parts held in the release before the shop exports' columns (line ids, statuses,
# channels, host accounts, product ids and codes, target dates) were added.
EARLIER_PART_COLUMNS = {
    "sessions": ["line", "session_id", "title", "host_kind", "host_name", "host_role", "platform", "county",
                 "started_at", "ended_at", "peak_viewers", "avg_viewers", "viewers", "views", "orders", "buyers", "gmv"],
    "sales": ["line", "session_id", "order_id", "ts", "product", "village", "county", "quantity", "unit", "amount",
              "refund", "occ"],
    "stock": ["line", "county", "village", "product", "unsold_qty", "unit", "as_of", "unit_price", "unsold_value",
              "households", "unit_kg"],
}


def test_a_store_whose_parts_predate_a_kinds_new_columns_reads_them_as_unknown(tmp_path: Path) -> None:
    """Regression: a store written before sales gained line ids, statuses and channels (and sessions host
    accounts) failed every read with 'column host_id not found', so the dashboard and report were down."""
    store = sqlite_store(tmp_path)
    files = {
        "sessions.csv": "直播ID,直播标题,直播类型,主播,开播时间,下播时间\nS1,苹果专场,干部直播,王书记,2020-09-06 19:00,2020-09-06 21:00\n",
        "orders.csv": ("直播ID,订单编号,下单时间,商品名称,村名,商品数量,单位,订单金额\n"
                       "S1,A1,2020-09-06 19:05,苹果,甲村,2,斤,20.00\nS1,A2,2020-09-06 19:09,苹果,甲村,3,斤,30.00\n"),
        "stock.csv": "村名,品名,滞销数量,单位,统计日期\n甲村,苹果,1000,斤,2020-09-01\n",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert ingest.ingest_file(store, path).status == "ingested"
    now = {kind: store.read(kind) for kind in EARLIER_PART_COLUMNS}
    engine = sa.create_engine(store.url)
    with engine.begin() as conn:  # each part rewritten with the earlier release's columns only
        for batch, part, data in conn.execute(sa.text("SELECT batch, part, data FROM batch_parts")).all():
            frame = pl.read_parquet(io.BytesIO(data))
            kind = next(k for k, cols in EARLIER_PART_COLUMNS.items() if set(cols) <= set(frame.columns)
                        and (k != "sessions" or "started_at" in frame.columns)
                        and (k != "stock" or "unsold_qty" in frame.columns))
            out = io.BytesIO()
            frame.select(c for c in frame.columns if c in EARLIER_PART_COLUMNS[kind]).write_parquet(out)
            conn.execute(sa.text("UPDATE batch_parts SET data = :d WHERE batch = :b AND part = :p"),
                         {"d": out.getvalue(), "b": batch, "p": part})
    engine.dispose()
    reopened = Store(store.url)
    reopened.create()
    for kind, earlier in EARLIER_PART_COLUMNS.items():
        read = reopened.read(kind)
        added = [c for c in read.columns if c not in earlier and c != "batch"]
        assert read.height == now[kind].height
        assert all(read[c].null_count() == read.height for c in added), kind
        assert_frame_equal(read.select(earlier), now[kind].select(earlier))
    assert reopened.read("sales")["amount"].sum() == 5000  # fen


def test_a_store_made_before_the_watcher_kept_its_rejections_opens_and_keeps_them(store: Store, tmp_path: Path) -> None:
    import relief_live.store as store_module
    from relief_live import rejections
    from relief_live.watch import Watcher

    store.create()
    with store.transaction(write=True) as tx:  # as the release before the rejections table left a store
        tx.execute(sa.text("DROP TABLE rejections"))
    store_module._ENSURED.clear()  # a new process: it has made sure of no table yet
    reopened = Store(store.url)
    reopened.create()  # the missing table is made; the rest is as it was
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "trend.csv").write_text("直播ID,时间,实时在线人数\nS1,2020-09-06 19:01,很多\n", encoding="utf-8")
    Watcher(reopened, folder, log=lambda line: None).poll()
    assert rejections.current(reopened).select("line", "header").rows() == [(2, "实时在线人数")]
