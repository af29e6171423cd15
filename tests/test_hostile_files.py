"""The hostile-file corpus (tests/hostile) through the CLI, `watch` and the Upload page's ingest: every file
gives its rows or a clear message naming it, never a traceback, and a refused file leaves the store as it was."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import polars as pl
import pytest

from relief_live import ingest
from relief_live.__main__ import main
from relief_live.store import Store
from relief_live.terminal import safe
from relief_live.watch import Watcher
from tests.conftest import sqlite_store
from tests.hostile import Hostile, corpus, table, workbooks

CORPUS = corpus() + workbooks()


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def stored(store: Store, kind: str) -> pl.DataFrame:
    return store.read(kind)


def assert_terminal_safe(text: str) -> None:
    assert not any((ord(c) < 0x20 and c not in "\n\t") or 0x7f <= ord(c) <= 0x9f for c in text), repr(text)


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_the_cli_ingests_or_names_each_hostile_file(case: Hostile, tmp_path: Path) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.data)
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = cli("ingest", "--db", db, str(path))
    assert "Traceback" not in out + err
    assert_terminal_safe(out + err)
    store = Store(db)
    if case.refused:
        assert code == 1 and err.startswith(f"rejected: {path}\n"), err
        assert case.refused in err
        if case.line is not None:
            assert f"{path} line {case.line}" in err
        assert store.batches().height == 0 and store.version() == 0
    else:
        assert code == 0, err
        assert out.startswith(f"ingested: {path} ({case.kind}, {case.rows} rows, batch 1)")
        frame = stored(store, case.kind)
        assert frame.height == case.rows and (case.check is None or case.check(frame))


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_the_upload_page_ingest_gives_rows_or_problems(case: Hostile, tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    inspection = ingest.inspect_bytes(case.name, case.data, store=store, max_bytes=ingest.MAX_UPLOAD_BYTES)
    if case.refused:
        assert not inspection.ok
        # (`refused` is written as a terminal shows it: a cell's control characters as escapes)
        assert any(case.refused in safe(str(p)) and str(p).startswith(case.name) for p in inspection.problems), \
            inspection.problems
        with pytest.raises(ingest.Rejected) as caught:
            ingest.ingest_bytes(store, case.name, case.data)
        assert case.refused in safe(str(caught.value))
        assert store.batches().height == 0 and store.version() == 0
    else:
        assert inspection.ok and inspection.frame is not None and inspection.frame.height == case.rows
        result = ingest.ingest_bytes(store, case.name, case.data)
        assert (result.status, result.kind, result.rows) == ("ingested", case.kind, case.rows)
        frame = stored(store, case.kind)
        assert case.check is None or case.check(frame)


def test_watch_names_each_bad_file_once_and_goes_on_also_after_a_restart(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for case in CORPUS:
        (folder / case.name).write_bytes(case.data)
    store = sqlite_store(tmp_path)
    for _ in range(2):  # a restarted watcher reads the same folder again
        log: list[str] = []
        watcher = Watcher(store, folder, log=log.append)
        watcher.poll()
        watcher.poll()
        for case in CORPUS:
            said = [line for line in log if f" {case.name}" in line]
            if not case.data:  # a file just made, its first line not written yet: waited for
                assert said == []
            elif case.refused:
                assert len(said) == 1 and said[0].startswith(f"rejected {case.name}: "), (case.name, log)
                # Where and what, not the cell's value ("...": the value is left out of the log).
                words = case.refused.split(": ", 1)[-1] if case.refused.startswith('"') else case.refused
                assert words.split('" ')[-1] in said[0]
            else:
                assert not said or said[0].endswith(f"ingested {case.name}: {case.kind}, {case.rows} rows, "
                                                    f"batch {said[0].rsplit(' ', 1)[-1]}")
            assert_terminal_safe("\n".join(log))
    assert "root:" not in "\n".join(log)  # no line of a refused file, its headers neither
    accepted = [c for c in CORPUS if not c.refused]
    assert store.batches().height == len(accepted)
    assert store.read("sales").height == sum(c.rows for c in accepted if c.kind == "sales")


def test_watch_refuses_links_pipes_and_devices_without_reading_them(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    secret = tmp_path / "secret.env"
    secret.write_text("RELIEF_LIVE_STAFF_PASSWORD=hunter2\n", encoding="utf-8")
    (folder / "x.csv").symlink_to(secret)
    (folder / "inside.csv").symlink_to(folder / "x.csv")
    os.mkfifo(folder / "pipe.csv")
    store = sqlite_store(tmp_path)
    log: list[str] = []
    watcher = Watcher(store, folder, log=log.append)
    watcher.poll()
    watcher.poll()
    assert sorted(log) == [
        f"refused inside.csv: a symbolic link; only files in {folder} are read",
        f"refused pipe.csv: not a file (a pipe or a device); only files in {folder} are read",
        f"refused x.csv: a symbolic link; only files in {folder} are read",
    ]
    assert "hunter2" not in "\n".join(log) and store.batches().height == 0


def test_the_cli_refuses_devices_and_folders(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, _out, err = cli("ingest", "--db", db, "/dev/zero", str(tmp_path))
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "rejected: /dev/zero",
        "  /dev/zero: is not a file (a folder, a device or a pipe); give an exported CSV or XLSX file",
        f"rejected: {tmp_path}",
        f"  {tmp_path}: is not a file (a folder, a device or a pipe); give an exported CSV or XLSX file",
    ]


def test_bad_store_urls_end_in_one_line_and_create_nothing(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(b"not a database at all " * 1000)
    for db, words in ((f"sqlite:///{tmp_path / 'typo' / 'x.sqlite3'}",
                       f"the store's folder {tmp_path / 'typo'} does not exist"),
                      ("sqlite+nonsense::://x", "the store's URL cannot be read"),
                      ("mysql://u@h/db", "unsupported store mysql"),
                      (f"sqlite:///{damaged}", "the store file is damaged or is not a database")):
        for command in ("batches", "report"):
            code, out, err = cli(command, "--db", db)
            assert code == 1 and out == "", (db, out)
            assert len(err.splitlines()) == 1 and err.startswith("relief-live: ") and words in err, (db, err)
    assert not (tmp_path / "typo").exists()


HOLD_WRITE_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(60)
"""


def test_read_only_commands_take_no_write_lock_and_writers_give_up_with_a_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from relief_live import store as store_module

    path = tmp_path / "held.sqlite3"
    db = f"sqlite:///{path}"
    assert cli("ingest", "--db", db, str(_write(tmp_path, CORPUS[0])))[0] == 0
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 1_000)
        for command in ("batches", "report"):  # (a write transaction would fail after the 1 s busy timeout)
            code, _out, err = cli(command, "--db", db)
            assert code == 0 and err == "", (command, err)
        assert "fullwidth.csv" in cli("batches", "--db", db)[1]
        code, _, err = cli("retract", "--db", db, "1")
        assert code == 1 and err.startswith("relief-live: ")
        assert "the store is busy: another process held its write lock for over 1 s; try again" in err
    finally:
        holder.kill()
        holder.wait()
    assert Store(db).batches().height == 1 and not Store(db).batches()["retracted"][0]


def _write(folder: Path, case: Hostile) -> Path:
    path = folder / case.name
    path.write_bytes(case.data)
    return path


def test_the_same_file_with_another_session_id_is_a_correction_not_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "trend.csv"
    path.write_text("时间,实时在线人数\n2020-09-06 19:01,100\n2020-09-06 19:02,120\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    said = [cli("ingest", "--db", db, "--session-id", session, str(path))[1] for session in ("s-wrong", "s1", "s1")]
    assert said == [f"ingested: {path} (ticks, 2 rows, batch 1)\n", f"ingested: {path} (ticks, 2 rows, batch 2)\n",
                    f"unchanged: {path} (ticks, 2 rows, batch 2)\n"]
    assert cli("retract", "--db", db, "1")[0] == 0
    assert Store(db).read("ticks")["session_id"].to_list() == ["s1", "s1"]


def test_the_upload_page_shows_each_hostile_file_as_problems_or_a_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from relief_live import auth, i18n
    from relief_live import store as store_module
    from tests.test_pages import BROWSER, PASSWORD, app

    monkeypatch.setattr(auth, "_cookies", lambda: {auth.XSRF_COOKIE: BROWSER})  # one browser, as in test_pages
    monkeypatch.setattr(auth, "THROTTLE", auth.Throttle())

    url = f"sqlite:///{tmp_path / 'upload.sqlite3'}"
    store = Store(url)
    store.create()
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    for case in CORPUS:
        at.file_uploader[0].set_value((case.name, case.data, "text/csv")).run()
        assert not at.exception, (case.name, [e.value for e in at.exception])
        commit = [b for b in at.button if b.label.startswith("Commit")]
        if case.refused:
            assert at.error[0].value == i18n.t("problems") and not commit, case.name
            problems = next(d.value for d in at.dataframe if "Line" in d.value.columns)
            said = [safe(f'"{v}" {m}' if isinstance(v, str) else m) for v, m in zip(problems["Value"],
                                                                                   problems["Problem"], strict=True)]
            assert any(case.refused.split(": ")[-1] in s for s in said), (case.name, said)
        else:
            assert len(commit) == 1, case.name
        next(b for b in at.button if b.key and b.key.startswith("dismiss_")).click().run()  # the list empty again
    # A commit while another process holds the store's write lock past the busy timeout: said on the page.
    at.file_uploader[0].set_value(("fullwidth.csv", CORPUS[0].data, "text/csv")).run()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(tmp_path / "upload.sqlite3")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 500)
        next(b for b in at.button if b.label.startswith("Commit")).click().run()
        assert not at.exception, [e.value for e in at.exception]
        busy = "the store is busy: another process held its write lock for over 0.5 s; try again"
        assert at.error[0].value.startswith(i18n.plain("fullwidth.csv") + ": ") and i18n.plain(busy) in at.error[0].value
    finally:
        holder.kill()
        holder.wait()
    assert store.batches().height == 0


def test_postgresql_writers_give_up_on_a_held_lock_with_a_message_and_readers_never_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import sqlalchemy as sa

    from relief_live import store as store_module
    from tests.conftest import PG_URL, _drop_pg_schema, pg_store

    pg, schema_name = pg_store()
    try:
        ingest.ingest_bytes(pg, CORPUS[0].name, CORPUS[0].data)
        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 1_000)
        engine = sa.create_engine(str(PG_URL))
        with engine.connect() as holder:
            holder.exec_driver_sql(f'SELECT version FROM "{schema_name}".store_meta FOR UPDATE')  # held, not committed
            began = time.monotonic()
            with pytest.raises(Exception) as caught:
                ingest.ingest_bytes(pg, "mathbold.csv", CORPUS[1].data)
            assert ingest.store_failure(caught.value) and time.monotonic() - began < 20  # not forever
            assert "the store is busy: another process held its write lock for over 1 s" in \
                store_module.describe_failure(pg, caught.value)
            began = time.monotonic()
            pg.create()  # current already: only read
            assert pg.batches().height == 1 and time.monotonic() - began < 20
            holder.rollback()
        engine.dispose()
        assert ingest.ingest_bytes(pg, "mathbold.csv", CORPUS[1].data).status == "ingested"
    finally:
        pg.dispose()
        _drop_pg_schema(schema_name)


def test_report_and_batches_print_a_cells_escape_codes_as_text(tmp_path: Path) -> None:
    title = "\x1b]0;owned\x07\x1b[2J清屏\u202e场"
    path = tmp_path / "场次\x1b[31m.csv"
    path.write_bytes(table([["e1", title, "干部直播", "2020-09-06 19:00", "1000"]],
                           ["直播ID", "直播标题", "直播类型", "开播时间", "观看人次"]))
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = cli("ingest", "--db", db, str(path))
    assert code == 0 and out.startswith(f"ingested: {tmp_path}/场次\\x1b[31m.csv (sessions, 1 rows"), out + err
    assert Store(db).read("sessions")["title"].to_list() == [title]  # stored as it was written
    for command in ("report", "batches"):
        code, out, err = cli(command, "--db", db)
        assert code == 0 and err == ""
        assert_terminal_safe(out)
        assert "\u202e" not in out
    assert "\\x1b]0;owned\\x07\\x1b[2J清屏\\u202e场" in cli("report", "--db", db)[1]
    assert "场次\\x1b[31m.csv" in cli("batches", "--db", db)[1]


def test_a_full_disk_is_one_line_per_file_and_watch_tries_again(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")
        yield  # a generator, as Store._parts is

    original = Store._parts
    monkeypatch.setattr(Store, "_parts", full)
    path = _write(tmp_path, CORPUS[0])
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    code, out, err = cli("ingest", "--db", db, str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [f"failed: {path}: nothing was stored: 'sqlite:///{tmp_path}/cli.sqlite3': the disk "
                                "that holds the store is full; free some space and try again ([Errno 28] No space "
                                "left on device)"]
    assert Store(db).batches().height == 0

    folder = tmp_path / "drop"
    folder.mkdir()
    _write(folder, CORPUS[0])
    store = Store(db)
    log: list[str] = []
    watcher = Watcher(store, folder, log=log.append)
    watcher.poll()
    watcher.poll()
    assert [line.split(": nothing was stored")[0] for line in log] == ["failed fullwidth.csv"]  # said once
    monkeypatch.setattr(Store, "_parts", original)  # space freed: the next look stores it
    assert watcher.poll() == 1 and store.read("sales").height == 2


def test_watch_says_once_that_its_folder_is_gone_and_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    store = sqlite_store(tmp_path)
    log: list[str] = []
    watcher = Watcher(store, folder, log=log.append)
    folder.rmdir()
    assert watcher.poll() == 0 and watcher.poll() == 0
    assert log == [f"cannot look in {folder}: No such file or directory"]
    folder.mkdir()
    _write(folder, CORPUS[0])
    assert watcher.poll() == 1


def test_damaged_workbooks_are_refused_with_a_reason_not_an_internal_error() -> None:
    import random

    from tests.hostile import SALES_HEAD, workbook

    good = workbook([SALES_HEAD, ["o1", "2020-09-06 19:30", "芒果", 1, 10, "s1"]])
    rng = random.Random(42)
    outcomes = {"accepted": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 8)):  # bytes changed anywhere: headers, sizes, compressed XML
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]  # cut short
        try:
            ingest.parse("damaged.xlsx", bytes(data))
            outcomes["accepted"] += 1
        except ingest.Rejected as rejected:
            assert all(str(p).startswith("damaged.xlsx") and "Please report" not in str(p)
                       for p in rejected.problems), rejected.problems
            outcomes["refused"] += 1
    assert outcomes["refused"] > 300


def test_json_output_keeps_a_cells_text_but_escapes_what_drives_a_terminal(tmp_path: Path) -> None:
    import json

    title = "\x9b2J清屏\u202e场\x1b[31m"
    path = tmp_path / "sessions.csv"
    path.write_bytes(table([["e1", title, "干部直播", "2020-09-06 19:00", "1000"]],
                           ["直播ID", "直播标题", "直播类型", "开播时间", "观看人次"]))
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert cli("ingest", "--db", db, str(path))[0] == 0
    code, out, _ = cli("report", "--db", db, "--json")
    assert code == 0 and "\x9b" not in out and "\u202e" not in out and "\x1b" not in out
    assert "清屏" in out  # Chinese stays as it is
    assert [s["title"] for s in json.loads(out)["sessions"]] == [title]  # the same value for a program


def test_a_new_store_whose_file_is_locked_gives_up_after_the_busy_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    import time

    from relief_live import store as store_module

    path = tmp_path / "new.sqlite3"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 500)
        began = time.monotonic()
        code, _out, err = cli("batches", "--db", f"sqlite:///{path}")
        assert code == 1 and time.monotonic() - began < 8  # not ten waits of the timeout (~10.5 s)
        assert "the store is busy: another process held its write lock for over 0.5 s" in err
    finally:
        holder.kill()
        holder.wait()
