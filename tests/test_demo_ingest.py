"""The demo programme goes into a real store through the real ingest path, whole and coherent."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from relief_live import read
from relief_live.demo import CLOCK_TICKS, ZHAOTONG, load_demo, write_demo
from relief_live.store import Store


def _rows(path: Path) -> int:
    return read.read_table(path.name, path.read_bytes()).frame.height


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Rows written per kind by write_demo at scale 1."""
    counts: dict[str, int] = {}
    for f in write_demo(tmp_path_factory.mktemp("written")):
        counts[f.kind] = counts.get(f.kind, 0) + _rows(f.path)
    return counts


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, list]:
    tmp_path = tmp_path_factory.mktemp("store")
    store = Store(f"sqlite:///{tmp_path}/s.sqlite3")
    store.create()
    seen: list[float] = []
    results = load_demo(store, progress=lambda _stage, fraction: seen.append(fraction))
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    return store, results


def test_load_demo_stores_every_row_written(loaded: tuple[Store, list], written: dict[str, int]) -> None:
    store, results = loaded
    assert {r.status for r in results} == {"ingested"}
    assert store.read("sales").height == written["sales"]
    for kind in ("stock", "sessions", "ticks"):
        assert store.read(kind).height == written[kind], kind
    assert {b for b in store.batches()["by"]} == {"demo"}
    assert store.batches()["path"].head(1).to_list() == ["demo/stock_guangxi_gbk.csv"]


def test_each_session_gmv_is_the_sum_of_its_sales(loaded: tuple[Store, list]) -> None:
    store, _ = loaded
    sales = store.read("sales").group_by("session_id").agg(pl.col("amount").sum())
    sessions = store.read("sessions").select("session_id", "gmv").join(sales, on="session_id", how="left")
    assert sessions.height == 34
    assert sessions.filter(pl.col("gmv") != pl.col("amount")).height == 0


def test_zhaotong_session_in_the_store(loaded: tuple[Store, list]) -> None:
    store, _ = loaded
    pork = store.read("sales").filter(pl.col("session_id") == ZHAOTONG)
    assert pork["quantity"].sum() == 4000 and set(pork["unit"]) == {"斤"}
    assert pork["amount"].sum() == 27_000_000  # fen
    assert store.read("sessions").filter(pl.col("session_id") == ZHAOTONG)["host_kind"].to_list() == ["cadre"]


def test_clock_time_ticks_land_on_their_session_across_midnight(loaded: tuple[Store, list]) -> None:
    store, _ = loaded
    ticks = store.read("ticks").filter(pl.col("session_id") == CLOCK_TICKS)
    local = ticks["ts"].dt.convert_time_zone("Asia/Shanghai")
    assert str(local.min()).startswith("2020-09-10 22:30") and str(local.max()).startswith("2020-09-11 00:39")


def test_loading_the_demo_again_adds_nothing(loaded: tuple[Store, list], tmp_path: Path) -> None:
    store = Store(f"sqlite:///{loaded[0].backup(tmp_path / 'copy.sqlite3')}")  # leave the shared store alone
    before = store.read("sales").height
    assert {r.status for r in load_demo(store)} == {"unchanged"}
    assert store.read("sales").height == before
