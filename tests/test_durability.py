"""Durability: backups while writers run, SIGKILLed ingests that leave nothing behind, many writers at once."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from relief_live import ingest
from relief_live.store import Store
from tests.conftest import csv_bytes

ROOT = Path(__file__).resolve().parent.parent
HEAD = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"


def orders(n: int, start: int = 0) -> str:
    return "".join(f"{start + i},2020-09-15 19:{i % 60:02d}:00,芒果,百色村,{i % 5 + 1},斤,{i % 997}.50,s1\n"
                   for i in range(n))


def snapshot(store: Store) -> dict:
    """What a report is computed from: every kind's current rows, and the live batches."""
    frames = {kind: store.read(kind).drop("batch", "line").sort(pl.all()) for kind in ("sessions", "ticks", "sales", "stock")}
    frames["batches"] = store.batches().filter(~pl.col("retracted")).select("batch", "rows")
    return frames


def assert_same(a: dict, b: dict) -> None:
    for kind in a:
        assert_frame_equal(a[kind], b[kind])


def test_backup_while_a_writer_runs(store: Store, tmp_path: Path) -> None:
    for i in range(3):
        ingest.ingest_bytes(store, f"o{i}.csv", csv_bytes(HEAD + orders(500, i * 500)))
    writer = subprocess.Popen([sys.executable, "-c", _INGEST_LOOP, store.url, str(tmp_path)], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        copy = Store(f"sqlite:///{store.backup(tmp_path / 'copy.sqlite3')}")
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    batches = copy.batches()
    assert batches.height >= 3
    # the copy is one moment of the store: each batch it holds has exactly its rows
    per_batch = copy.read("sales").group_by("batch").len().sort("batch")
    assert per_batch["len"].to_list() == batches.sort("batch")["rows"].to_list()
    with pytest.raises(FileExistsError):
        store.backup(tmp_path / "copy.sqlite3")


_INGEST_LOOP = """
import sys
from pathlib import Path
from relief_live import ingest
from relief_live.store import Store
store = Store(sys.argv[1])
head = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\\n"
for k in range(10_000):
    text = head + "".join(f"w{k}-{i},2020-09-15 19:31:00,芒果,百色村,1,斤,1.00,s1\\n" for i in range(300))
    ingest.ingest_bytes(store, f"w{k}.csv", text.encode())
"""


def test_sigkill_during_ingest_leaves_the_store_as_before(store: Store, tmp_path: Path) -> None:
    ingest.ingest_bytes(store, "base.csv", csv_bytes(HEAD + orders(1000)))
    before = snapshot(store)
    big = tmp_path / "big.csv"
    big.write_bytes(csv_bytes(HEAD + orders(200_000, 10_000)))
    args = [sys.executable, "-m", "relief_live", "ingest", "--db", store.url, str(big)]
    started = time.monotonic()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
    duration = time.monotonic() - started
    whole = snapshot(store)
    assert whole["sales"].height == 201_000
    store.retract(store.last_batch())
    assert_same(snapshot(store), before)
    before = snapshot(store)

    rng = random.Random(42)
    for _ in range(20):
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, duration * 0.9))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = snapshot(store)
        if after["batches"].height == before["batches"].height + 1:  # it had finished: undo, go on
            assert after["sales"].height == 201_000
            store.retract(store.last_batch())
            after = snapshot(store)
        assert_same(after, before)
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "ingested" in result.stdout
    assert snapshot(store)["sales"].height == 201_000


_WRITER = """
import sys
from relief_live import ingest
from relief_live.store import Store
store = Store(sys.argv[1])
for path in sys.argv[2:]:
    ingest.ingest_file(store, path)
"""
_READER = """
import sys, time
from datetime import UTC, datetime
from relief_live import metrics
from relief_live.store import Store
store = Store(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
reads = 0
while time.monotonic() < deadline:
    sales = store.read("sales")
    assert sales["order_id"].n_unique() == sales.height, "duplicated rows"
    report = metrics.build_report(store.read("sessions"), store.read("ticks"), sales, store.read("stock"),
                                  now=datetime.now(UTC))
    assert report.sessions["gmv"].sum() == sales["amount"].sum(), "a report saw half a batch"
    reads += 1
print(reads)
"""


def test_four_writers_and_a_reader(store: Store, tmp_path: Path) -> None:
    groups = []
    for p in range(4):
        names = []
        for f in range(25):
            path = tmp_path / f"p{p}f{f}.csv"
            path.write_bytes(csv_bytes(HEAD + orders(200, (p * 25 + f) * 200)))
            names.append(str(path))
        groups.append(names)
    reader = subprocess.Popen([sys.executable, "-c", _READER, store.url, "15"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, store.url, *names], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for names in groups]
    for proc in writers:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    out, err = reader.communicate(timeout=300)
    assert reader.returncode == 0, err
    assert int(out) > 0
    sales = store.read("sales")
    assert sales.height == 100 * 200
    assert sales["order_id"].n_unique() == 100 * 200
    assert store.batches().height == 100


def test_a_committed_batch_is_read_at_once_and_lands_in_the_database_file_after(tmp_path: Path) -> None:
    """The commit leaves the batch's pages in SQLite's WAL and returns; another store reads them at once, and the
    checkpoint that follows (in a thread) copies them into the database file, which then holds the batch alone."""
    path = tmp_path / "store.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.create()
    viewer = adbc_sqlite.connect(str(path), autocommit=True)  # a dashboard's, open throughout: no close is the last
    with viewer.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM batches")
        assert cursor.fetchall() == [(0,)]
    result = ingest.ingest_bytes(store, "orders.csv", csv_bytes(HEAD + orders(3_000)))
    assert Store(f"sqlite:///{path}").read("sales").height == 3_000  # from the WAL, if not checkpointed yet
    for thread in threading.enumerate():
        if thread.name == "relief-live checkpoint":
            thread.join(timeout=30)
    alone = tmp_path / "alone.sqlite3"
    shutil.copyfile(path, alone)  # the database file without its WAL
    copy = Store(f"sqlite:///{alone}")
    assert copy.batches()["rows"].to_list() == [result.rows] == [3_000]
    assert copy.read("sales").height == 3_000
    viewer.close()
