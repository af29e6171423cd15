"""`watch`: files ingested as they appear and grow, half-written lines left for later, bad files skipped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from relief_live.store import Store
from relief_live.watch import Watcher
from tests.conftest import sqlite_store

HEAD = "直播ID,时间,实时在线人数,成交订单数,成交金额(元)\n"


def drop(tmp_path: Path) -> tuple[Path, Store]:
    """A folder to watch, and a store for what the watcher takes from it."""
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder, sqlite_store(tmp_path)


def tick(minute: int) -> str:
    return f"s1,2020-09-15 19:{minute:02d},{100 + minute * 10},{minute},{minute * 10}.50\n"


def test_growing_trend_file_with_a_split_line(tmp_path: Path) -> None:
    folder, store = drop(tmp_path)
    log: list[str] = []
    watcher = Watcher(store, folder, log=log.append)
    trend = folder / "trend.csv"

    trend.write_text(HEAD + tick(0) + tick(1), encoding="utf-8")
    assert watcher.poll() == 1
    line = tick(2)
    with trend.open("a", encoding="utf-8") as f:  # one line arrives in two writes
        f.write(line[:9])
    assert watcher.poll() == 0  # the half line is not read yet
    assert store.read("ticks").height == 2
    with trend.open("a", encoding="utf-8") as f:
        f.write(line[9:] + tick(3))
    assert watcher.poll() == 1
    assert watcher.poll() == 0  # nothing new, nothing done

    ticks = store.read("ticks")
    assert ticks["viewers_online"].to_list() == [100, 110, 120, 130]
    assert ticks["orders"].sum() == 0 + 1 + 2 + 3
    assert ticks["gmv"].sum() == 50 + 1050 + 2050 + 3050

    (folder / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert watcher.poll() == 0
    assert watcher.poll() == 0
    rejected = [line for line in log if line.startswith("rejected bad.csv")]
    assert len(rejected) == 1 and "fit no known kind" in rejected[0]  # named once, not every look

    (folder / "more.csv").write_text(HEAD + tick(4), encoding="utf-8")
    assert watcher.poll() == 1
    assert store.read("ticks").height == 5
    assert sum("ingested" in line for line in log) == 3


def test_watch_process_follows_a_file_written_line_by_line(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    url = f"sqlite:///{tmp_path / 'w.sqlite3'}"
    Store(url).create()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "relief_live", "watch", str(folder), "--db", url, "--interval", "0.1"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        trend = folder / "trend.csv"
        with trend.open("w", encoding="utf-8") as f:
            f.write(HEAD)
            for minute in range(12):
                line = tick(minute)
                f.write(line[:7])
                f.flush()
                time.sleep(0.05)
                f.write(line[7:])
                f.flush()
                time.sleep(0.1)
        (folder / "junk.csv").write_bytes(b"\x00\x01binary")
        (folder / "late.csv").write_text(HEAD + tick(30), encoding="utf-8")
        deadline = time.monotonic() + 30
        store = Store(url)
        while time.monotonic() < deadline and store.read("ticks").height < 13:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    ticks = Store(url).read("ticks")
    assert ticks.height == 13, out + err
    assert ticks["orders"].sum() == sum(range(12)) + 30
    assert "rejected junk.csv" in out
    assert proc.returncode == 0, err
    assert os.path.exists(folder / "late.csv")


def test_a_finished_file_without_a_final_newline_goes_in_whole(tmp_path: Path) -> None:
    folder, store = drop(tmp_path)
    watcher = Watcher(store, folder, log=lambda _line: None)
    (folder / "t.csv").write_text(HEAD + tick(0) + tick(1).rstrip("\n"), encoding="utf-8")
    assert watcher.poll() == 1 and store.read("ticks").height == 1  # the last line may still be growing
    assert watcher.poll() == 1 and store.read("ticks").height == 2  # unchanged since: it was the last line


def test_a_growing_export_watched_stores_each_line_once(tmp_path: Path) -> None:
    folder, store = drop(tmp_path)
    watcher = Watcher(store, folder, log=lambda line: None)
    trend = folder / "orders.csv"
    head = "订单编号,下单时间,商品名称,商品数量,实付金额,直播ID\n"
    lines = [f"o{i},2020-09-15 19:{i // 600:02d}:{i // 10 % 60:02d},芒果,1,{i % 7 + 1}.50,s1\n" for i in range(8_000)]
    trend.write_text(head, encoding="utf-8")
    for end in range(500, 8_001, 500):  # an export growing by 500 lines between looks, the last one cut in two
        with trend.open("a", encoding="utf-8") as f:
            f.write("".join(lines[end - 500:end - 1]) + lines[end - 1][:7])
        watcher.poll()
        with trend.open("a", encoding="utf-8") as f:
            f.write(lines[end - 1][7:])
    watcher.poll()
    import sqlalchemy as sa

    from relief_live.store import parts_table

    stored = store._scalar(sa.select(sa.func.sum(parts_table.c.rows)))
    assert store.batches().height == 17 and stored == 8_000  # at most 1.2x: each line stored once
    sales = store.read("sales")
    assert sales.height == 8_000 and sales["amount"].sum() == sum(int(line.split(",")[4][:-3]) * 100 + 50
                                                                   for line in lines)


BAD_TREND = HEAD + tick(1) + "s1,2020-09-15 19:02,many,2,20.50\n"  # line 3: viewers online is not a number


def test_a_rejected_file_is_stored_by_line_and_column_until_it_is_fixed_or_removed(tmp_path: Path) -> None:
    from relief_live import rejections

    folder, store = drop(tmp_path)
    watcher = Watcher(store, folder, log=lambda line: None)
    trend = folder / "trend.csv"
    trend.write_text(BAD_TREND, encoding="utf-8")
    watcher.poll()
    stored = rejections.current(store)
    assert stored.select("path", "line", "header", "message").rows() == [
        (str(trend), 3, "实时在线人数", "is not a number")]
    assert "many" not in str(stored.rows())  # where and what, never the cell's value
    assert store.is_empty()

    watcher.poll()  # looked at again: stored once
    Watcher(store, folder, log=lambda line: None).poll()  # a watcher restarted rejects it anew: still once
    assert rejections.current(store).height == 1

    trend.write_text(BAD_TREND.replace("many", "120"), encoding="utf-8")  # the file fixed
    watcher.poll()
    assert rejections.current(store).height == 0
    assert store.read("ticks")["viewers_online"].to_list() == [110, 120]

    other = folder / "other.csv"  # another bad file, then removed from the folder
    other.write_text(BAD_TREND, encoding="utf-8")
    watcher.poll()
    assert rejections.current(store)["path"].to_list() == [str(other)]
    other.unlink()
    watcher.poll()
    assert rejections.current(store).height == 0
    ended = store.select(sa.select(rejections.rejections_table), rejections.rejections_table)
    assert sorted(ended["resolved"].to_list()) == ["accepted", "removed"]


def test_a_file_removed_while_no_watcher_ran_is_resolved_at_the_next_start(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live import rejections

    folder, store = drop(tmp_path)
    (folder / "trend.csv").write_text(BAD_TREND, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Watcher(store, Path("drop"), log=lambda line: None).poll()  # the folder given as a relative path
    assert rejections.current(store)["path"].to_list() == [str(folder / "trend.csv")]
    (folder / "trend.csv").unlink()
    Watcher(store, folder, log=lambda line: None).poll()  # the same folder, given in full
    assert rejections.current(store).height == 0
