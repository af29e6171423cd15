"""`simulate` plays a demo session as a growing export; `watch` takes it in and the session is live."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from relief_live import demo, metrics
from relief_live.simulate import simulate
from relief_live.store import Store
from relief_live.watch import Watcher
from tests.conftest import sqlite_store

ROOT = Path(__file__).resolve().parent.parent


def test_simulated_session_is_live_and_matches_the_demo_ticks(tmp_path: Path) -> None:
    naps: list[float] = []
    sessions_path, ticks_path = simulate(tmp_path / "drop", minutes=5, speed=30, log=lambda _line: None,
                                         sleep=naps.append)
    assert ticks_path.read_text(encoding="utf-8").count("\n") == 6 and sessions_path.exists()
    assert naps == [2.0] * 4  # a minute of the session every 2 s at 30×
    store = sqlite_store(tmp_path)
    Watcher(store, tmp_path / "drop", log=lambda _line: None).poll()
    ticks = store.read("ticks")
    expected = demo.programme().ticks[demo.ZHAOTONG].head(5)
    assert ticks["viewers_online"].to_list() == expected["viewers_online"].to_list()
    assert ticks["gmv"].sum() == expected["gmv"].sum()
    report = metrics.build_report(store.read("sessions"), ticks, store.read("sales"), store.read("stock"),
                                  now=datetime.now(UTC))
    [session] = report.sessions.to_dicts()
    assert session["session_id"].startswith("SIM-") and session["live"] is True


def test_watch_and_simulate_processes_together(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    Store(url).create()
    watch = subprocess.Popen([sys.executable, "-m", "relief_live", "watch", str(drop), "--db", url, "--interval", "0.2"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sim = subprocess.run([sys.executable, "-m", "relief_live", "simulate", str(drop), "--speed", "600",
                              "--minutes", "12"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert sim.returncode == 0, sim.stderr
        store = Store(url)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and store.read("ticks").height < 12:
            time.sleep(0.2)
    finally:
        watch.terminate()
        watch.communicate(timeout=30)
    ticks = Store(url).read("ticks")
    assert ticks.height == 12
    assert ticks.select(pl.col("ts").diff().drop_nulls().dt.total_minutes().unique()).to_series().to_list() == [1]
