"""A large file is typed and written piece by piece in its one transaction: same rows, same problems, all or nothing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from relief_live import ingest, read, validate
from relief_live.read import Rejected
from relief_live.store import Store

HEAD = "直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,实付金额\n"
PIECE = 2_048  # bytes: a file of a few hundred lines comes in many pieces


def lines(n: int, start: int = 0) -> list[str]:
    """Order lines, each at its own second: without their order ids no two are the same sale."""
    return [f"s1,o{i},2020-09-06 {19 + i // 3600 % 5}:{i // 60 % 60:02d}:{i % 60:02d},芒果,那满村,{1 + i % 5},斤,{10 + i}.50\n"
            for i in range(start, start + n)]


def pieces(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(read, "PIECE_BYTES", size)


def state(store: Store) -> dict:
    """Everything an ingest may change: the version, the batches and each kind's rows."""
    return {"version": store.version(),
            "batches": store.batches().select("batch", "path", "kind", "rows", "retracted").rows(),
            **{kind: store.read(kind) for kind in ("sessions", "ticks", "sales", "stock")}}


def assert_same_state(a: dict, b: dict) -> None:
    assert (a["version"], a["batches"]) == (b["version"], b["batches"])
    for kind in ("sessions", "ticks", "sales", "stock"):
        assert_frame_equal(a[kind], b[kind])


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each time a file is typed for the store: whether it is read whole (the fallback) or piece by piece."""
    seen: list[bool] = []
    original = ingest._typed

    def spy(*args, whole: bool, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(whole)
        return original(*args, whole=whole, **kwargs)

    monkeypatch.setattr(ingest, "_typed", spy)
    return seen


@pytest.fixture
def appends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of each frame the store appends (pieces written inside the transaction)."""
    seen: list[int] = []
    original = Store._parts

    def spy(self: Store, kind: str, batch: int, frame: pl.DataFrame, **kwargs) -> Iterator[pa.RecordBatch]:
        seen.append(frame.height)
        yield from original(self, kind, batch, frame, **kwargs)

    monkeypatch.setattr(Store, "_parts", spy)
    return seen


def test_a_problem_in_the_last_piece_undoes_the_pieces_written_before_it(
        store: Store, monkeypatch: pytest.MonkeyPatch, appends: list[int]) -> None:
    ingest.ingest_bytes(store, "base.csv", (HEAD + "".join(lines(5, 10_000))).encode())
    before = state(store)
    body = lines(400)
    body[-1] = body[-1].replace(",409.50\n", ",4o9.50\n")
    pieces(monkeypatch, PIECE)
    appends.clear()
    with pytest.raises(Rejected) as caught:
        ingest.ingest_bytes(store, "bad.csv", (HEAD + "".join(body)).encode())
    assert [str(p) for p in caught.value.problems] == [
        'bad.csv line 401, column 实付金额: "4o9.50" is not a number']
    assert len(appends) > 10 and sum(appends) < 400  # pieces were written, then rolled back
    assert_same_state(state(store), before)


def test_problems_in_several_pieces_are_those_of_the_whole_file(
        sqlite: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    body = lines(600)
    for i in range(0, 600, 5):  # 120 negative quantities, in every piece: past the cap
        body[i] = body[i].replace(",斤,", ",斤,-")

    def problems(text: list[str], piece: int) -> list[str]:
        pieces(monkeypatch, piece)
        with pytest.raises(Rejected) as caught:
            ingest.ingest_bytes(sqlite, "bad.csv", (HEAD + "".join(text)).encode())
        return [str(replace(p, value=None)) for p in caught.value.problems]

    in_pieces = problems(body, PIECE)
    assert in_pieces == problems(body, 10**12)
    assert len(in_pieces) == read.MAX_PROBLEMS + 1 and in_pieces[-1] == "bad.csv: and 70 more problems"
    assert in_pieces[:2] == [
        "bad.csv line 2, column 实付金额: is negative; quantities, counts and amounts must be 0 or more",
        "bad.csv line 7, column 实付金额: is negative; quantities, counts and amounts must be 0 or more"]
    body[599] = body[599].replace(",斤,", ",斤,,")  # and a row that cannot be read, in the last piece: it alone
    assert problems(body, PIECE) == problems(body, 10**12) == ["bad.csv line 601: has 9 fields where the header has 8"]
    assert sqlite.batches().height == 0 and sqlite.version() == 0


def test_in_pieces_the_store_holds_exactly_the_rows_of_one_piece(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, appends: list[int]) -> None:
    data = (HEAD + "".join(lines(500))).encode()
    one = Store(f"sqlite:///{tmp_path / 'one.sqlite3'}")
    one.create()
    ingest.ingest_bytes(one, "orders.csv", data)
    assert appends == [500]
    pieces(monkeypatch, PIECE)
    appends.clear()
    result = ingest.ingest_bytes(store, "orders.csv", data)
    assert len(appends) > 10 and sum(appends) == 500
    assert (result.rows, result.status) == (500, "ingested")
    assert_same_state(state(store), state(one))


@pytest.mark.parametrize(("first", "again", "whole"),
                         [(3, 7, [False]), (3, 250, [False, True]), (3, 495, [False, True]), (3, 499, [False, True]),
                          (493, 499, [False, True])],
                         ids=["in the first piece", "in the first and a middle piece",
                              "in the first and the next to last piece", "in the first and the last piece",
                              "in the last two pieces"])
def test_a_repeated_line_counts_by_occurrence_across_pieces(
        store: Store, monkeypatch: pytest.MonkeyPatch, reads: list[bool], first: int, again: int,
        whole: list[bool]) -> None:
    # Repeats in the first piece: its pieces are held and derived together; in a later piece, after others
    # were written: rolled back and read again whole.
    body = [line.replace(f"s1,o{i},", "s1,,") for i, line in enumerate(lines(500))]  # no order ids
    body[again] = body[first]
    data = (HEAD + "".join(body)).encode()
    frame = ingest.parse("same.csv", data)[1]
    pieces(monkeypatch, PIECE)
    split = read.csv_pieces("same.csv", data) or []
    assert len(split) > 10 and split[-1]().lines.to_list() == [501]  # the last piece is the last line alone
    reads.clear()
    ingest.ingest_bytes(store, "same.csv", data)
    assert reads == whole
    sales = store.read("sales")
    assert sales.height == 500
    assert sales.filter(pl.col("line") == first + 2)["occ"].to_list() == [0]
    assert sales.filter(pl.col("line") == again + 2)["occ"].to_list() == [1]
    assert sales.filter(~pl.col("line").is_in([first + 2, again + 2]))["occ"].unique().to_list() == [0]
    assert sales["line"].to_list() == frame["line"].to_list()
    assert sales["occ"].to_list() == frame["occ"].to_list()


def test_times_of_day_in_a_later_piece_are_placed_as_in_the_whole_file(
        store: Store, monkeypatch: pytest.MonkeyPatch, reads: list[bool]) -> None:
    ingest.ingest_bytes(store, "sessions.csv", "直播ID,直播类型,开播时间\ns1,cadre,2020-09-06 12:30\n".encode())
    # Full times first, then clock times alone that run past midnight (rolled over in file order).
    rows = [f"s1,2020-09-06 {13 + i // 60}:{i % 60:02d}:00,{i}\n" for i in range(300)]
    rows += [f"s1,{(23 + i // 60) % 24:02d}:{i % 60:02d},{i}\n" for i in range(100)]
    data = ("直播ID,时间,实时在线人数\n" + "".join(rows)).encode()
    whole = ingest.parse("ticks.csv", data, store=store)[1]
    pieces(monkeypatch, 1_024)
    assert len(read.csv_pieces("ticks.csv", data) or []) > 5
    reads.clear()
    ingest.ingest_bytes(store, "ticks.csv", data)
    assert reads == [False, True]  # written piece by piece until the clock times, then again whole
    ticks = store.read("ticks").sort("line")
    assert ticks["ts"].dt.epoch("ms").to_list() == whole["ts"].to_list()
    local = ticks["ts"].dt.convert_time_zone("Asia/Shanghai").dt.to_string("%d %H:%M").to_list()
    assert local[300] == "06 23:00" and local[-1] == "07 00:39"


def test_the_sessions_are_read_only_for_a_file_that_gives_times_of_day_alone(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest.ingest_bytes(store, "sessions.csv", "直播ID,直播类型,开播时间\ns1,cadre,2020-09-06 12:30\n".encode())
    asked: list[str] = []
    real = store.read

    def read_kind(kind: str, since_batch: int = 0) -> pl.DataFrame:
        asked.append(kind)
        return real(kind, since_batch)

    monkeypatch.setattr(store, "read", read_kind)
    rows = "".join(f"s1,2020-09-06 {13 + i // 60}:{i % 60:02d}:00,{i}\n" for i in range(300))
    pieces(monkeypatch, 1_024)
    ingest.ingest_bytes(store, "full.csv", ("直播ID,时间,实时在线人数\n" + rows).encode())
    assert asked == []  # full times: nothing asked of the store before (or while) the pieces are read
    ingest.ingest_bytes(store, "clock.csv", "直播ID,时间,实时在线人数\ns1,23:05,6\n".encode())
    assert asked == ["sessions"]
    monkeypatch.undo()
    ticks = store.read("ticks").sort("line")
    local = ticks["ts"].dt.convert_time_zone("Asia/Shanghai").dt.to_string("%Y-%m-%d %H:%M").to_list()
    assert len(local) == 301 and "2020-09-06 23:05" in local


def test_a_session_that_ends_before_it_starts_in_a_later_piece(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [f"s{i},cadre,2020-09-06 19:00,2020-09-06 21:00\n" for i in range(300)]
    rows[250] = "s250,cadre,2020-09-06 19:00,2020-09-06 18:00\n"
    data = ("直播ID,直播类型,开播时间,结束时间\n" + "".join(rows)).encode()
    pieces(monkeypatch, 1_024)
    with pytest.raises(Rejected) as caught:
        ingest.ingest_bytes(store, "sessions.csv", data)
    assert [str(p) for p in caught.value.problems] == ["sessions.csv line 252, column ended_at: ends before it starts"]
    assert store.batches().height == 0 and store.version() == 0


def test_the_same_bytes_again_are_unchanged_without_being_read(sqlite: Store, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "orders.csv"  # one piece: hashed (a few ms) before anything is read
    path.write_bytes((HEAD + "".join(lines(300))).encode())
    first = ingest.ingest_file(sqlite, path)
    version = sqlite.version()

    def never(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(validate, "typed_columns", never)
    monkeypatch.setattr(read, "_read_csv", never)
    again = ingest.ingest_file(sqlite, path)
    assert (again.status, again.batch, again.rows, again.kind) == ("unchanged", first.batch, 300, "sales")
    assert ingest.ingest_bytes(sqlite, "copy.csv", path.read_bytes()).status == "unchanged"
    assert sqlite.version() == version and sqlite.batches().height == 1


def test_a_large_file_again_is_unchanged_and_its_pieces_begun_while_it_was_hashed_are_dropped(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces(monkeypatch, PIECE)
    path = tmp_path / "orders.csv"
    path.write_bytes((HEAD + "".join(lines(3_000))).encode())
    first = ingest.ingest_file(sqlite, path)
    version = sqlite.version()
    typed: list[int] = []
    typed_columns = validate.typed_columns
    monkeypatch.setattr(validate, "typed_columns", lambda table, *a, **k: (
        typed.append(table.frame.height), typed_columns(table, *a, **k))[1])
    seen: list[str] = []
    again = ingest.ingest_file(sqlite, path, progress=lambda stage, _: seen.append(stage))
    assert (again.status, again.batch, again.rows, again.kind) == ("unchanged", first.batch, 3_000, "sales")
    assert sqlite.version() == version and sqlite.batches().height == 1
    assert "writing" not in seen and seen[-1] == "done"
    assert len(typed) <= 1 + 2 * validate.PIECES_AHEAD < len(read.csv_pieces("orders.csv", path.read_bytes()) or [])


def test_a_large_file_from_disk_is_mapped_and_gives_the_rows_of_its_bytes(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces(monkeypatch, PIECE)
    data = ("\ufeff" + HEAD + "".join(lines(300))).encode()  # with a BOM, as Excel saves UTF-8
    path = tmp_path / "orders.csv"
    path.write_bytes(data)
    assert isinstance(read.map_file(path), read.MappedFile)
    ingest.ingest_file(sqlite, path)
    frame = ingest.parse("orders.csv", data)[1]
    assert sqlite.read("sales")["line"].to_list() == frame["line"].to_list() == list(range(2, 302))
    assert sqlite.read("sales")["amount"].sum() == frame["amount"].sum()


def test_a_file_rewritten_while_it_is_read_is_refused(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces(monkeypatch, PIECE)
    path = tmp_path / "orders.csv"
    path.write_bytes((HEAD + "".join(lines(300))).encode())

    def rewrite(stage: str, fraction: float) -> None:
        if stage == "checking values" and fraction > 0.5:
            with path.open("r+b") as f:  # same length, other amounts: the mapped bytes change under the reader
                f.seek(-6, 2)
                f.write(b"999.50")

    with pytest.raises(Rejected) as caught:
        ingest.ingest_file(sqlite, path, progress=rewrite)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: changed while it was being read; ingest it again once it is complete"]
    assert sqlite.batches().height == 0 and sqlite.version() == 0


def test_a_file_cut_short_while_it_is_read_is_refused_not_a_bus_error(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces(monkeypatch, PIECE)
    path = tmp_path / "orders.csv"
    path.write_bytes((HEAD + "".join(lines(300))).encode())
    data = read.map_file(path)
    assert isinstance(data, read.MappedFile)
    path.write_bytes(b"")  # truncated in place, as a program saving over it does
    assert data[-7:] == b"309.50\n"  # the mapped bytes are still there to read (not a bus error)
    data.close()

    def truncate(stage: str, fraction: float) -> None:
        if stage == "checking values" and fraction > 0.5:
            with path.open("r+b") as f:
                f.truncate(10)

    path.write_bytes((HEAD + "".join(lines(300))).encode())
    with pytest.raises(Rejected) as caught:
        ingest.ingest_file(sqlite, path, progress=truncate)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: changed while it was being read; ingest it again once it is complete"]
    assert sqlite.batches().height == 0 and sqlite.version() == 0


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each file's bytes hashed (the first hash finds the same bytes stored; a second refuses a
    file rewritten while it was read)."""
    seen: list[int] = []
    original = ingest._sha256

    def spy(data: bytes) -> str:
        seen.append(len(data))
        return original(data)

    monkeypatch.setattr(ingest, "_sha256", spy)
    return seen


def test_a_file_at_rest_is_hashed_once_and_one_just_written_twice(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashes: list[int]) -> None:
    pieces(monkeypatch, PIECE)
    path = tmp_path / "orders.csv"
    path.write_bytes((HEAD + "".join(lines(300))).encode())
    size = path.stat().st_size
    # Just written: a rewrite within the same clock tick could keep its times, so its bytes are hashed again.
    assert ingest.ingest_file(sqlite, path).rows == 300
    assert hashes == [size, size]
    # At rest (written long enough before it is mapped: here, any time before), its unchanged stat says enough.
    hashes.clear()
    monkeypatch.setattr(read, "AT_REST_NS", 0)
    path.write_bytes((HEAD + "".join(lines(300, start=300))).encode())
    assert ingest.ingest_file(sqlite, path).rows == 300
    assert hashes == [path.stat().st_size]
    assert sqlite.read("sales").height == 600


def test_a_file_at_rest_rewritten_while_it_is_read_is_refused_even_with_its_times_put_back(
        sqlite: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashes: list[int]) -> None:
    pieces(monkeypatch, PIECE)
    monkeypatch.setattr(read, "AT_REST_NS", 0)
    path = tmp_path / "orders.csv"
    path.write_bytes((HEAD + "".join(lines(300))).encode())
    before = path.stat()

    def rewrite(stage: str, fraction: float) -> None:
        if stage == "checking values" and fraction > 0.5 and path.read_bytes().endswith(b"309.50\n"):
            with path.open("r+b") as f:  # same length, other amounts
                f.seek(-7, 2)
                f.write(b"999.50\n")
            # the size and modification time as they were: only the inode's change time tells
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    with pytest.raises(Rejected) as caught:
        ingest.ingest_file(sqlite, path, progress=rewrite)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}: changed while it was being read; ingest it again once it is complete"]
    assert len(hashes) == 2  # found by hashing it again, once its stat no longer matched
    assert sqlite.batches().height == 0 and sqlite.version() == 0


def test_progress_goes_forward_through_each_stage_once(sqlite: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces(monkeypatch, PIECE)
    body = [line.replace(f"s1,o{i},", "s1,,") for i, line in enumerate(lines(400))]
    body[399] = body[0]  # read again whole after the first pieces were written
    seen: list[tuple[str, float]] = []
    ingest.ingest_bytes(sqlite, "orders.csv", (HEAD + "".join(body)).encode(),
                        progress=lambda stage, fraction: seen.append((stage, fraction)))
    stages = [stage for i, (stage, _) in enumerate(seen) if i == 0 or seen[i - 1][0] != stage]
    assert stages == ["reading", "checking values", "writing", "done"]
    assert [f for _, f in seen] == sorted(f for _, f in seen) and seen[-1][1] == 1.0


def test_a_sales_export_with_a_header_only_is_a_batch_of_no_rows(sqlite: Store) -> None:
    # Regression: the sorted check for repeated keys once failed on no keys at all.
    result = ingest.ingest_bytes(sqlite, "empty.csv", HEAD.encode())
    assert (result.kind, result.rows, result.status) == ("sales", 0, "ingested")


def typing_workers() -> list[threading.Thread]:
    """The threads that read and type pieces ahead of the one being written."""
    return [t for t in threading.enumerate() if t.is_alive() and t.name.startswith("relief-live piece")]


def test_progress_of_pieces_typed_ahead_is_reported_in_the_callers_thread(
        sqlite: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Later pieces are typed in threads while the caller writes: a Streamlit progress bar only draws from the
    # script's own thread, so every report must come back to it.
    pieces(monkeypatch, PIECE)
    typed_in: set[str] = set()
    original = validate.typed_columns

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        typed_in.add(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(validate, "typed_columns", spy)
    seen: list[tuple[str, float, threading.Thread]] = []
    result = ingest.ingest_bytes(sqlite, "orders.csv", (HEAD + "".join(lines(400))).encode(),
                                 progress=lambda stage, f: seen.append((stage, f, threading.current_thread())))
    assert result.rows == 400
    # Every piece of a file in pieces is typed in the pool, two at a time, the first too: the caller derives and writes.
    assert typed_in == {"relief-live piece_0", "relief-live piece_1"}
    checking = [f for stage, f, _ in seen if stage == "checking values"]
    assert len(checking) > 10 and checking == sorted(checking)
    assert {thread for _, _, thread in seen} == {threading.current_thread()}
    assert typing_workers() == []


def test_a_database_error_while_writing_stops_the_typing_and_changes_nothing(
        sqlite: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ingest.ingest_bytes(sqlite, "base.csv", (HEAD + "".join(lines(5, 10_000))).encode())
    before = state(sqlite)
    pieces(monkeypatch, PIECE)
    typed: list[float] = []
    original = Store._parts

    def failing(self: Store, kind: str, batch: int, frame: pl.DataFrame, **kwargs) -> Iterator[pa.RecordBatch]:
        if len(typed) >= 2:
            raise OSError("disk I/O error")
        yield from original(self, kind, batch, frame, **kwargs)
        typed.append(frame.height)

    monkeypatch.setattr(Store, "_parts", failing)
    handled: tuple = ("no error was raised", None)
    try:
        ingest.ingest_bytes(sqlite, "orders.csv", (HEAD + "".join(lines(400))).encode())
    except OSError as error:  # as the CLI handles it: the typing threads are stopped before the error reaches it
        handled = (str(error), typing_workers())
    assert handled == ("disk I/O error", [])
    monkeypatch.setattr(Store, "_parts", original)
    assert_same_state(state(sqlite), before)
