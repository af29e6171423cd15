"""The store: SQL tables of batches and their rows (Parquet parts), bulk writes, current and incremental reads, retract."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, CreateTable

from relief_live import schema
from relief_live.validate import SALES_BY_FIELDS, SALES_BY_ORDER, repeated, sales_key_hash

DEFAULT_PATH: Final = Path(__file__).resolve().parent.parent / "data" / "relief_live.sqlite3"
ENV_DB: Final = "RELIEF_LIVE_DB"
BUSY_TIMEOUT_MS: Final = 30_000
IDLE_CONNECTIONS: Final = 2  # PostgreSQL connections a Store keeps between operations
IDLE_SECONDS: Final = 60.0  # and for how long (a server or firewall may drop an idle one)
PART_ROWS: Final = 250_000  # rows in one stored part at most (a piece of an ingest is one part or more)
READ_THREADS: Final = 2  # parts decoded at once by a read (polars lets go of the GIL)
# Parquet codec of the parts (codec, level) by database. SQLite keeps them in a local file: LZ4, the cheapest to
# write and to read (a million order lines: ~0.2 s of CPU to write, 18.5 MB, read in ~45 ms on one core).
# PostgreSQL takes them over a connection and stores them out of line (TOAST), logging every byte: zstd at level
# 1 makes 7.2 MB of the same lines for ~15 ms more CPU, and the server's share of a 1M-line ingest fell from
# ~0.10 to ~0.05 s of CPU (28 interleaved rounds: median ingest 0.72 -> 0.69 s). Reads decode them in ~85 ms.
PART_COMPRESSION: Final = {"sqlite": ("lz4", None), "postgresql": ("zstd", 1)}
# SQLite pages of a new store: its largest. A store is mostly parts of ~1 MB, which SQLite keeps in chains of
# pages and writes to its WAL a page at a time: on 4 KiB pages (its default) a 1M-line ingest wrote ~9,000
# pages, ~2,700 of them in its commit (~20 ms, after the last part); on 64 KiB pages a sixteenth as many
# (commit ~7 ms; twelve interleaved 1M-line ingests: CPU 2.31 -> 2.25 s, the median). Reads take the same time.
# A store made before keeps its 4 KiB pages (SQLite cannot change them in WAL mode).
SQLITE_PAGE_SIZE: Final = 65_536

# PostgreSQL: the row trigger that makes COPY write each part as it comes (see Store.create).
_PART_TRIGGER: Final = "relief_live_part_as_it_comes"
# A stored part's row, as Arrow hands it to the database's bulk insert.
_PARTS_SCHEMA: Final = pa.schema([("batch", pa.int64()), ("part", pa.int64()), ("kind", pa.string()),
                                  ("rows", pa.int64()), ("data", pa.binary())])

# How each value type is kept in SQL. Money is integer fen; times integer epoch ms (UTC).
_SQL_TYPES: Final = {
    schema.TEXT: sa.Text, schema.HOST_KIND: sa.Text, schema.PLATFORM: sa.Text, schema.UNIT: sa.Text,
    schema.ID: sa.Text, schema.STATUS: sa.Text,
    schema.COUNT: sa.BigInteger, schema.MONEY: sa.BigInteger, schema.TIME: sa.BigInteger,
    schema.DURATION: sa.BigInteger, schema.QTY: sa.Float, schema.DATE: sa.Text,
}


# (store URL, table names) whose tables this process has made sure of (Store.ensure_tables).
_ENSURED: set[tuple[str, tuple[str, ...]]] = set()


class StoreError(Exception):
    """The store cannot be opened as given (a bad URL, a folder that does not exist), said in one line, in English
    and (`zh`) in Chinese for the pages."""

    def __init__(self, message: str, zh: str):
        super().__init__(message)
        self.zh = zh

    def said(self, lang: str = "en") -> str:
        return self.zh if lang == "zh" else str(self)


# What the database's own words for a failure mean for a person (matched in its message, lower case).
_FAILURES: Final = (
    (("database or disk is full", "no space left", "could not extend file"),
     "the disk that holds the store is full; free some space and try again",
     "存放数据库的磁盘已满，请清理出空间后重试"),
    (("database is locked", "lock timeout", "canceling statement due to lock"),
     "the store is busy: another process held its write lock for over {seconds:g} s; try again",
     "数据库正忙：另一个进程占用写锁超过 {seconds:g} 秒，请稍后重试"),
    (("file is not a database", "malformed", "not a database"),
     "the store file is damaged or is not a database; restore it from a backup or choose another with --db",
     "数据库文件已损坏或不是数据库，请从备份恢复，或改用其他数据库"),
    (("unable to open database file", "readonly database", "read-only"),
     "the store file cannot be opened for writing; check its folder and permissions",
     "数据库文件无法写入，请检查其所在文件夹和权限"),
    (("could not connect", "connection refused", "connection to server", "password authentication failed",
      "does not exist"),
     "cannot connect to the store's database", "无法连接数据库"),
)


def describe_failure(store: Store | None, error: BaseException, lang: str = "en") -> str:
    """One line about a failure of the store (a full disk, a damaged file, a lock held too long), naming it. In
    Chinese a known failure is said without the database's own (English) words."""
    text = str(error)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    said = next(((en, zh) for words, en, zh in _FAILURES if any(w in text.lower() for w in words)), None)
    if lang == "zh":
        where = repr(store)[len("Store("):-1] if store is not None else "数据库"
        if said:
            return f"{where}：{said[1].format(seconds=BUSY_TIMEOUT_MS / 1000)}"
        return f"{where}：出错（{first}）"
    where = repr(store)[len("Store("):-1] if store is not None else "the store"
    if said:
        return f"{where}: {said[0].format(seconds=BUSY_TIMEOUT_MS / 1000)} ({first})"
    return f"{where}: {first}"


def default_url() -> str:
    """The store's URL: RELIEF_LIVE_DB, else the SQLite file under data/."""
    return os.environ.get(ENV_DB) or f"sqlite:///{DEFAULT_PATH}"


def _stored_columns(kind: str) -> dict[str, type | sa.types.TypeEngine]:
    """Columns of a kind's table after batch/line/key, in order."""
    columns: dict[str, type | sa.types.TypeEngine] = {}
    for f in schema.KINDS[kind]:
        if f.name not in schema.DROPPED[kind]:
            columns[f.name] = _SQL_TYPES[f.type]
    for name, dtype in schema.EXTRA_COLUMNS[kind].items():
        columns[name] = sa.Float if dtype == pl.Float64 else sa.Text if dtype == pl.String else sa.BigInteger
    return columns


metadata = sa.MetaData()
batches_table = sa.Table(
    "batches", metadata,
    sa.Column("batch", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False, index=True),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),  # epoch ms
    sa.Column("by", sa.Text),
    sa.Column("retracted_at", sa.BigInteger),
    # A longer version of a file already stored (a growing export) stores only its rows past that file's: `base`
    # is that batch, whose rows (its own and those it holds from its base) this batch holds too; `size` is the
    # file's bytes; `times` a hash of its rows' times (placed times of day depend on the store: a longer version
    # whose first rows' times differ is stored whole). See Store.write and _segments.
    sa.Column("size", sa.BigInteger),
    sa.Column("base", sa.BigInteger),
    sa.Column("times", sa.Text),
)
# Columns added to `batches` after stores were made: Store.create adds them to a store that lacks them.
_ADDED_COLUMNS: Final = {"size": "BIGINT", "base": "BIGINT", "times": "TEXT"}
meta_table = sa.Table(
    "store_meta", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)
parts_table = sa.Table(
    # A batch's rows, in parts of at most PART_ROWS: each part one Parquet file of the columns of
    # row_tables[kind] but `batch` and `key` (reads work a row's key out from its columns; parts written before
    # 2026-11-30 hold it too, and it is not read). Written and read whole; columnar: a million rows are a few MB.
    "batch_parts", metadata,
    sa.Column("batch", sa.BigInteger, primary_key=True),
    sa.Column("part", sa.BigInteger, primary_key=True),  # the number of the batch's rows before it
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
# The columns each kind's rows are stored with. Until 2026-11-29 they were also SQL tables of those names, one
# SQL row per row; `Store.create` moves such tables' rows into parts (`_migrate`).
row_tables: dict[str, sa.Table] = {
    kind: sa.Table(
        kind, sa.MetaData(),
        sa.Column("batch", sa.BigInteger, nullable=False, index=True),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        *(sa.Column(name, type_) for name, type_ in _stored_columns(kind).items()),
    )
    for kind in schema.KINDS
}


@dataclass(frozen=True)
class Base:
    """A stored batch that a longer version of its file extends: its rows and the hash of their times."""

    batch: int
    kind: str
    rows: int
    times: str | None


class NotExtending(Exception):
    """Raised by Store.write when the rows of a file's first part differ from its `base` batch's (their times
    were placed otherwise): write the file whole instead."""


@dataclass(frozen=True)
class Written:
    """What writing one file did: its batch id, or the batch that already holds the same bytes."""

    batch: int
    status: str  # ingested | unchanged
    kind: str = ""
    rows: int = 0  # the batch's rows


def _checkpoint_and_close(conn: Any) -> None:
    """Copy what a write left in SQLite's WAL into the database file, then close its connection (closing the
    last one checkpoints too). In a thread after the commit: the batch is committed and readable from the WAL
    at once, and an ingest returns without waiting for its pages to be copied and synced (~0.1 s at 1M lines).
    Passive: readers and the next writer are never waited for, nor made to wait. A process that exits first
    leaves the WAL, which the next connection reads (SQLite's own recovery)."""
    try:
        conn.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
    except Exception:  # the store was removed meanwhile (a test's folder), or is busy: the next close checkpoints
        pass
    finally:
        with contextlib.suppress(Exception):
            conn.close()


@dataclass(frozen=True)
class Transaction:
    """Statements on one connection of a store (Store.transaction)."""

    store: Store
    cursor: Any

    def execute(self, statement: sa.Executable) -> None:
        self.cursor.execute(self.store._sql(statement))

    def rows(self, statement: sa.Executable) -> list[tuple]:
        return self.store._rows(self.cursor, statement)

    def lock(self, table: sa.Table) -> None:
        """Hold `table` against other writers until the transaction ends (SQLite's write transaction does
        already; PostgreSQL's BEGIN does not)."""
        if self.store.dialect == "postgresql":
            self.cursor.execute(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE")


class Store:
    """A database of batches and every row version, through SQLAlchemy Core tables and ADBC connections.

    SQL is generated from the tables above by SQLAlchemy and run through ADBC (Arrow in, Arrow
    out), one short connection per operation: bulk writes and reads of a million rows take about a
    second. On SQLite, ADBC is the only library touching the file: two SQLite copies in one process
    (Python's sqlite3 and ADBC's) would break each other's locks.
    """

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        self._idle: deque[tuple[Any, float]] = deque()  # PostgreSQL connections between operations, and since when
        self._riders: dict[str, sa.ScalarSelect] = {}  # name -> a scalar read with each version query (ride)
        self._version_sql: tuple[tuple[str, ...], str] | None = None  # (riders, the version query) compiled once
        # (store version, {rider name: value}) as the latest version query read them
        self.ridden: tuple[int, dict[str, Any]] | None = None
        try:
            parsed = make_url(self.url)
        except sa.exc.ArgumentError:
            # (not echoed: a mistyped URL may still hold a password)
            raise StoreError("the store's URL cannot be read: use sqlite:///PATH or postgresql://USER@HOST/DB",
                             "数据库地址无法识别：请使用 sqlite:///路径 或 postgresql://用户@主机/数据库") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self._target = parsed.database or ":memory:"
            if self._target != ":memory:":
                folder = Path(self._target).parent
                if Path(self._target).resolve() == DEFAULT_PATH:  # the first run's store, in the project's data/
                    folder.mkdir(parents=True, exist_ok=True)
                elif not folder.is_dir():  # a mistyped path makes no new, empty store somewhere else
                    raise StoreError(f"the store's folder {folder} does not exist: check the path, or create "
                                     "the folder first", f"数据库所在文件夹 {folder} 不存在：请检查路径，或先创建该文件夹")
            self._sa_dialect: sa.Dialect = sqlite_dialect.dialect()
        elif self.dialect == "postgresql":
            self._target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self._sa_dialect = postgresql_dialect.dialect()
        else:
            raise StoreError(f"unsupported store {parsed.drivername}: use sqlite:///PATH or postgresql://…",
                             f"不支持的数据库 {parsed.drivername}：请使用 sqlite:///路径 或 postgresql://…")

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"

    # -- connections ----------------------------------------------------------------------------
    def _connect(self):  # type: ignore[no-untyped-def]
        if self.dialect == "sqlite":
            import adbc_driver_sqlite.dbapi as adbc_sqlite

            return adbc_sqlite.connect(self._target, autocommit=True)
        import adbc_driver_postgresql.dbapi as adbc_pg

        return adbc_pg.connect(self._target, autocommit=True)

    def _reused(self):  # type: ignore[no-untyped-def]
        """A PostgreSQL connection left idle by an earlier operation less than IDLE_SECONDS ago that still
        answers (the server may have ended it), else a new one."""
        while True:
            try:
                conn, since = self._idle.pop()
            except IndexError:
                return self._connect()
            if time.monotonic() - since < IDLE_SECONDS:
                try:
                    with conn.cursor() as cursor:
                        cursor.execute("SELECT 1")
                        cursor.fetchall()
                    return conn
                except Exception:  # ended by the server (a restart, an administrator): connect again
                    pass
            with contextlib.suppress(Exception):
                conn.close()

    @contextlib.contextmanager
    def _cursor(self, *, write: bool = False, checkpoint_after: bool = False) -> Iterator[Any]:
        """A cursor; with `write`, inside one transaction (SQLite: BEGIN IMMEDIATE, the write lock first). With
        `checkpoint_after` (a batch's write), SQLite's WAL is checkpointed after the commit, in a thread.

        A PostgreSQL connection is kept for the next operation when this one ends well (connecting takes
        ~40 ms: two of them were a tenth of a 1M-line ingest); a SQLite one is closed (~1 ms to open)."""
        conn = self._reused() if self.dialect == "postgresql" else self._connect()
        later = keep = False  # later: the checkpoint thread closes the connection; keep: kept for the next one
        try:
            cursor = conn.cursor()
            if self.dialect == "sqlite":
                cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                cursor.execute("PRAGMA synchronous = NORMAL")  # with WAL: consistent after a crash, fsync at checkpoints
                # A new file takes the page size of the connection that first writes it (before its BEGIN); one
                # written already keeps its own. See SQLITE_PAGE_SIZE.
                cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            if not write:
                yield cursor
                keep = True
                return
            deferred = checkpoint_after and self.dialect == "sqlite"
            if deferred:  # the commit leaves the new pages in the WAL: checkpointed after it, in a thread
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
            cursor.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            if self.dialect == "postgresql":  # a lock held elsewhere is waited on as long as SQLite's busy timeout
                cursor.execute(f"SET LOCAL lock_timeout = {BUSY_TIMEOUT_MS}")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")
            later, keep = deferred, True
        finally:
            if later:
                # This cursor's statement let go first: SQLite finalises it under the connection's lock, which the
                # checkpoint holds throughout (its copy and fsyncs), and a cursor let go later (when the caller's
                # frame ends) would wait that long holding the GIL, every thread of the process with it.
                cursor.close()
                threading.Thread(target=_checkpoint_and_close, args=(conn,), name="relief-live checkpoint",
                                 daemon=True).start()
            elif keep and self.dialect == "postgresql" and len(self._idle) < IDLE_CONNECTIONS:
                with contextlib.suppress(Exception):
                    cursor.close()
                self._idle.append((conn, time.monotonic()))
            else:
                conn.close()

    def _sql(self, statement: sa.Executable) -> str:
        return str(statement.compile(dialect=self._sa_dialect, compile_kwargs={"literal_binds": True}))

    def _rows(self, cursor: Any, statement: sa.Executable) -> list[tuple]:
        cursor.execute(self._sql(statement))
        return list(cursor.fetchall())

    # -- schema ---------------------------------------------------------------------------------
    def create(self) -> None:
        """Create the tables if they are missing (safe when several processes start at once). A store that has
        them all already is only read: a read-only command never waits on another process's write lock."""
        if self._is_current():
            return
        began = time.monotonic()
        for attempt in range(10):
            try:
                with self._cursor(write=True) as cursor:
                    if self.dialect == "sqlite":
                        cursor.execute("PRAGMA journal_mode")
                    for table in metadata.sorted_tables:
                        cursor.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=self._sa_dialect)))
                        for index in table.indexes:
                            cursor.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=self._sa_dialect)))
                    for name in self._missing_columns(cursor):  # a store made before they were
                        cursor.execute(f"ALTER TABLE batches ADD COLUMN {name} {_ADDED_COLUMNS[name]}")
                    if not self._rows(cursor, sa.select(meta_table.c.id)):
                        cursor.execute(self._sql(meta_table.insert().values(id=1, version=0)))
                    if self.dialect == "postgresql":
                        # Parts are lz4 Parquet already: stored out of line as they are, not tried with pglz
                        # first (~0.1 s of a 1M-line ingest). Asked first: the change locks the table.
                        cursor.execute("SELECT attstorage FROM pg_attribute WHERE attname = 'data' "
                                       f"AND attrelid = '{parts_table.name}'::regclass")
                        if cursor.fetchall() != [("e",)]:
                            cursor.execute(f"ALTER TABLE {parts_table.name} ALTER COLUMN data SET STORAGE EXTERNAL")
                        # COPY holds the rows it is sent in a buffer of up to 1000 and writes them at its end (in the
                        # binary form ADBC sends, only their number limits it): a file's parts were all held by
                        # the server, then written alone once the last came (~0.1 s at 1M lines). A row trigger,
                        # which does nothing, makes COPY write each part as it comes, while the next are typed.
                        cursor.execute(f"SELECT 1 FROM pg_trigger WHERE tgname = '{_PART_TRIGGER}' "
                                       f"AND tgrelid = '{parts_table.name}'::regclass")
                        if not cursor.fetchall():
                            cursor.execute(f"CREATE OR REPLACE FUNCTION {_PART_TRIGGER}() RETURNS trigger "
                                           "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
                            cursor.execute(f"CREATE TRIGGER {_PART_TRIGGER} BEFORE INSERT ON {parts_table.name} "
                                           f"FOR EACH ROW EXECUTE FUNCTION {_PART_TRIGGER}()")
                if self.dialect == "sqlite":
                    with self._cursor() as cursor:
                        cursor.execute("PRAGMA journal_mode")
                        if str(cursor.fetchall()[0][0]).lower() != "wal":  # a new file (setting it again would
                            cursor.execute("PRAGMA journal_mode = WAL")  # wait on another process's writer)
                            cursor.fetchall()  # readers never block the writer
                break
            except Exception as error:  # a concurrent creator won the race, or was changing the mode: try again
                if attempt == 9 or not any(word in str(error).lower() for word in ("already exists", "duplicate",
                                                                                   "locked")):
                    raise
                if time.monotonic() - began > BUSY_TIMEOUT_MS / 1000:  # the lock is held, not raced for: say so
                    raise
                time.sleep(0.1 * (attempt + 1))
        self._migrate()

    def _is_current(self) -> bool:
        """Whether the store holds every table, index and setting `create` makes, and no rows to migrate."""
        wanted = {t.name for t in metadata.sorted_tables} | {i.name for t in metadata.sorted_tables for i in t.indexes}
        with self._cursor() as cursor:
            if self.dialect == "sqlite":
                cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
                held = {str(name) for (name,) in cursor.fetchall()}
                cursor.execute("PRAGMA journal_mode")
                if str(cursor.fetchall()[0][0]).lower() != "wal":
                    return False
            else:
                cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() UNION ALL "
                               "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
                held = {str(name) for (name,) in cursor.fetchall()}
                if parts_table.name in held:
                    cursor.execute("SELECT attstorage FROM pg_attribute WHERE attname = 'data' "
                                   f"AND attrelid = '{parts_table.name}'::regclass")
                    storage = cursor.fetchall()
                    cursor.execute(f"SELECT 1 FROM pg_trigger WHERE tgname = '{_PART_TRIGGER}' "
                                   f"AND tgrelid = '{parts_table.name}'::regclass")
                    if storage != [("e",)] or not cursor.fetchall():
                        return False
            if not wanted <= held or self._row_tables_held(cursor) or self._missing_columns(cursor):
                return False
            return bool(self._rows(cursor, sa.select(meta_table.c.id)))

    def _missing_columns(self, cursor: Any) -> list[str]:
        """The columns of _ADDED_COLUMNS that the store's `batches` table lacks."""
        if self.dialect == "sqlite":
            cursor.execute("SELECT name FROM pragma_table_info('batches')")
        else:
            cursor.execute("SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND table_name = 'batches'")
        held = {str(name) for (name,) in cursor.fetchall()}
        return [name for name in _ADDED_COLUMNS if name not in held]

    def needs_upgrade(self) -> bool:
        """Whether the store was written by a version before the Parquet parts (`create` then moves its rows)."""
        with self._cursor() as cursor:
            return bool(self._row_tables_held(cursor))

    def _row_tables_held(self, cursor: Any) -> list[str]:
        """Names of the kinds whose rows are still in a row table (a store written before the parts)."""
        names = ", ".join(_sql_string(kind) for kind in row_tables)
        if self.dialect == "sqlite":
            cursor.execute(f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({names})")
        else:
            cursor.execute("SELECT table_name FROM information_schema.tables "
                           f"WHERE table_schema = current_schema() AND table_name IN ({names})")
        return sorted(str(name) for (name,) in cursor.fetchall())

    def _migrate(self) -> None:
        """Move the rows of a store written before the parts out of its row tables: batch by batch, in one
        transaction (readers see the old tables or the parts, never half), the row tables dropped after."""
        with self._cursor() as cursor:
            if not self._row_tables_held(cursor):
                return
        with self._cursor(write=True) as cursor:
            self._rows(cursor, sa.select(meta_table.c.version).with_for_update())  # one migrator at a time
            for kind in self._row_tables_held(cursor):  # again: another process may have moved them meanwhile
                table = row_tables[kind]
                held = self._rows(cursor, sa.select(table.c.batch).distinct().order_by(table.c.batch))
                for (batch,) in held:
                    frame = self._frame(cursor, sa.select(table).where(table.c.batch == batch).order_by(table.c.line),
                                        table)
                    self._append(cursor, kind, int(batch), frame.drop("batch"))
                cursor.execute(f"DROP TABLE {table.name}")
            cursor.execute(self._sql(meta_table.update().values(version=meta_table.c.version + 1)))
        if self.dialect == "sqlite":
            # The row tables' pages are free now, and the parts were written between them: compact the file
            # (10M order lines: 1.8 GB -> 0.24 GB in 3 s, and reads twice as fast). Only a speed-up: when
            # another process keeps the file busy past the timeout, the store works as it is.
            import adbc_driver_manager

            try:
                with self._cursor() as cursor:
                    cursor.execute("VACUUM")
            except adbc_driver_manager.OperationalError:
                pass

    # -- writes ---------------------------------------------------------------------------------
    def holding(self, sha256: str, kind: str | None = None) -> Written | None:
        """The live batch that holds these bytes (of `kind`, when given) as `unchanged`, else None."""
        with self._cursor() as cursor:
            return self._holding(cursor, sha256, kind)

    def _holding(self, cursor: Any, sha256: str, kind: str | None) -> Written | None:
        query = sa.select(batches_table.c.batch, batches_table.c.kind, batches_table.c.rows).where(
            batches_table.c.sha256 == sha256, batches_table.c.retracted_at.is_(None))
        if kind is not None:
            query = query.where(batches_table.c.kind == kind)
        same = self._rows(cursor, query.order_by(batches_table.c.batch).limit(1))
        return Written(int(same[0][0]), "unchanged", str(same[0][1]), int(same[0][2])) if same else None

    def extension_base(self, path: str) -> tuple[Base, int, str] | None:
        """The newest live batch of a file at `path` whose size is known, as (Base, its file's size, its sha256
        key): a longer version of that file may extend it (ingest checks the bytes)."""
        with self._cursor() as cursor:
            found = self._rows(cursor, sa.select(
                batches_table.c.batch, batches_table.c.kind, batches_table.c.rows, batches_table.c.times,
                batches_table.c.size, batches_table.c.sha256,
            ).where(batches_table.c.path == path, batches_table.c.retracted_at.is_(None))
             .order_by(batches_table.c.batch.desc()).limit(1))
        if not found or found[0][4] is None:
            return None
        batch, kind, rows, times, size, sha256 = found[0]
        return Base(int(batch), str(kind), int(rows), times), int(size), str(sha256)

    def write(self, kind: str, rows: pl.DataFrame | Iterable[pl.DataFrame], *, path: str, sha256: str,
              by: str | None, size: int | None = None, base: Base | None = None) -> Written:
        """Store one file's typed rows as a new batch, in one transaction; the same bytes again -> unchanged.

        `rows` may come in pieces (validate.typed_pieces): each is written as it comes, so only one is held
        at a time, and an exception raised while they come (a problem in a later piece) undoes them all.

        With `base` (a live batch whose file's bytes begin these, found by ingest), the first `base.rows` rows
        are not stored again: the batch holds its base's rows and stores those after them. Should their times
        differ from the base's (times of day placed on another session start), NotExtending is raised and
        nothing is written: write the file again without a base.
        """
        pieces = [rows] if isinstance(rows, pl.DataFrame) else rows
        with self._cursor(write=True, checkpoint_after=True) as cursor:
            # Locking the version row first serialises writers (SQLite: BEGIN IMMEDIATE already did).
            self._rows(cursor, sa.select(meta_table.c.version).with_for_update())
            same = self._holding(cursor, sha256, kind)
            if same is not None:
                return same
            if base is not None and (base.kind != kind or not self._rows(cursor, sa.select(batches_table.c.batch).where(
                    batches_table.c.batch == base.batch, batches_table.c.retracted_at.is_(None)))):
                base = None  # retracted meanwhile, or of another kind
            cursor.execute(self._sql(meta_table.update().values(version=meta_table.c.version + 1)))
            [(batch,)] = self._rows(cursor, batches_table.insert().values(
                path=path, kind=kind, sha256=sha256, rows=0, at=int(time.time() * 1000), by=by, size=size,
                base=base.batch if base is not None else None,
            ).returning(batches_table.c.batch))
            count = 0
            held = base.rows if base is not None else 0  # rows of the file that its base holds already
            timed = "ts" in _raw_schema(kind)
            times = hashlib.sha256()
            failed: list[BaseException] = []

            def parts() -> Iterator[pa.RecordBatch]:
                nonlocal count
                try:
                    for frame in pieces:
                        stored = _stored(kind, frame)
                        if timed:
                            ts = stored.get_column("ts").fill_null(-1)
                            if count < held <= count + frame.height and base is not None:  # the base's last row
                                times.update(ts.head(held - count).to_numpy().tobytes())
                                if times.copy().hexdigest() != base.times:
                                    raise NotExtending
                                times.update(ts.slice(held - count).to_numpy().tobytes())
                            else:
                                times.update(ts.to_numpy().tobytes())
                        if count + frame.height > held:
                            own = stored.slice(max(held - count, 0))
                            yield from self._parts(kind, int(batch), own, first_part=count + stored.height - own.height)
                        count += frame.height
                        del frame, stored
                except GeneratorExit:
                    raise
                except BaseException as error:  # raised again below, not as the driver's error about the stream
                    failed.append(error)
                    raise

            # One bulk insert for all the parts, fed piece by piece as they come (one per part cost a statement,
            # and on PostgreSQL a COPY, each).
            try:
                _insert_parts(cursor, parts())
            except BaseException:
                if failed:
                    raise failed[0] from None
                raise
            if count < held:  # fewer rows than its base: not a longer version after all
                raise NotExtending
            cursor.execute(self._sql(batches_table.update().where(batches_table.c.batch == batch)
                                     .values(rows=count, times=times.hexdigest() if timed else None)))
        return Written(int(batch), "ingested", kind, count)

    def _append(self, cursor: Any, kind: str, batch: int, rows: pl.DataFrame, *, first_part: int = 0) -> None:
        """Rows of one batch (its stored columns but `batch`) as parts, inserted now (see _parts)."""
        _insert_parts(cursor, self._parts(kind, batch, rows, first_part=first_part))

    def _parts(self, kind: str, batch: int, rows: pl.DataFrame, *, first_part: int = 0) -> Iterator[pa.RecordBatch]:
        """Rows of one batch (its stored columns but `batch`) as parts to insert: each one Parquet file in one SQL
        row. Parts are numbered by the batch's row count before them, so pieces written one after another keep
        their order and never share a number."""
        codec, level = PART_COMPRESSION[self.dialect]
        for offset in range(0, rows.height, PART_ROWS):
            part = rows.slice(offset, PART_ROWS)
            data = io.BytesIO()
            part.write_parquet(data, compression=codec, compression_level=level, statistics=False)
            yield pa.record_batch([
                pa.array([batch], pa.int64()), pa.array([first_part + offset], pa.int64()), pa.array([kind], pa.string()),
                pa.array([part.height], pa.int64()), pa.array([data.getvalue()], pa.binary()),
            ], schema=_PARTS_SCHEMA)
            del data

    def retract(self, batch: int) -> str:
        """Undo a batch: the store then reads as if it had never been ingested. Returns its path."""
        with self._cursor(write=True) as cursor:
            found = self._rows(cursor, sa.select(batches_table.c.path, batches_table.c.retracted_at)
                               .where(batches_table.c.batch == batch))
            if not found:
                raise KeyError(f"there is no batch {batch}")
            path, retracted_at = found[0]
            if retracted_at is not None:
                raise ValueError(f"batch {batch} ({path}) is already retracted")
            cursor.execute(self._sql(meta_table.update().values(version=meta_table.c.version + 1)))
            cursor.execute(self._sql(batches_table.update().where(batches_table.c.batch == batch)
                                     .values(retracted_at=int(time.time() * 1000))))
        return str(path)

    # -- reads ----------------------------------------------------------------------------------
    def _scalar(self, statement: sa.Executable) -> Any:
        with self._cursor() as cursor:
            rows = self._rows(cursor, statement)
        return rows[0][0] if rows else None

    def version(self) -> int:
        """A number that changes whenever anything is ingested or retracted (a cache key). The riders' values
        (ride) are read in the same query and kept in `ridden` with it."""
        riders = self._riders
        if not riders:
            return int(self._scalar(sa.select(meta_table.c.version)) or 0)
        compiled = self._version_sql
        if compiled is None or compiled[0] != tuple(riders):
            compiled = (tuple(riders), self._sql(sa.select(sa.select(meta_table.c.version).scalar_subquery(),
                                                           *riders.values())))
            self._version_sql = compiled
        try:
            with self._cursor() as cursor:
                cursor.execute(compiled[1])
                ((version, *values),) = cursor.fetchall()
        except Exception:  # a rider that cannot be read (its table gone) never costs the version: read alone
            self._riders, self.ridden = {}, None
            return self.version()
        self.ridden = (int(version or 0), dict(zip(compiled[0], values, strict=True)))
        return int(version or 0)

    def ride(self, name: str, read: sa.Select) -> None:
        """Read the scalar select `read` with every version query from now on, its value kept in `ridden` under
        `name`: a caller that needs it right after the version (the alerts' check) makes no read of its own, each
        read of a SQLite store opening a connection of its own."""
        if name not in self._riders:
            self._riders = {**self._riders, name: read.scalar_subquery()}

    def last_batch(self) -> int:
        """The newest batch id, 0 when none."""
        return int(self._scalar(sa.select(sa.func.max(batches_table.c.batch))) or 0)

    def is_empty(self) -> bool:
        """Whether no batch holds rows (none ingested, or all retracted)."""
        return not self._scalar(sa.select(sa.func.count()).select_from(batches_table)
                                .where(batches_table.c.retracted_at.is_(None)))

    def batches(self) -> pl.DataFrame:
        """The ingest history, oldest first: batch, path, kind, sha256, rows, at, by, retracted."""
        frame = self._query_frame(sa.select(batches_table).order_by(batches_table.c.batch), batches_table)
        return frame.with_columns(
            pl.col("at", "retracted_at").cast(pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"),
            retracted=pl.col("retracted_at").is_not_null(),
        )

    def read(self, kind: str, since_batch: int = 0) -> pl.DataFrame:
        """Current rows of `kind` (latest live batch per key), columns of schema.frame_schema(kind).

        With `since_batch`, only rows of live batches newer than it, resolved among themselves:
        lay them over an earlier read with `merge`.
        """
        return self.read_keyed(kind, since_batch)[0]

    def read_keyed(self, kind: str, since_batch: int = 0) -> tuple[pl.DataFrame, pl.Series]:
        """`read`, and each of its rows' key hash (`key_hashes` of the frame, in its order).

        The hashes are taken part by part, in the threads that decode the parts, where each part's columns are
        one chunk: hashing the whole read took a copy of its key columns first (its parts' chunks made one),
        ~1 GB at 10M order lines, 1.2-1.9 s on a machine where memory a process touches for the first time is
        slow. A caller that indexes the keys (live.KeyIndex) takes them from here.

        The parts are decoded in two passes, the key columns (and `line`) first, made one chunk a column before
        the other columns are decoded; the batch column is made from each part's batch and height. At 10M
        order lines that took 2.3-2.6 s and peaked at 2.9-3.0 GB, against 2.8-3.1 s and 3.4 GB decoding each
        part whole with a batch column of its own (bench/NOTES.md).
        """
        with self._cursor() as cursor:
            held_by = self._segments(cursor, kind, since_batch)
            query = (
                sa.select(parts_table.c.batch, parts_table.c.data)
                .where(parts_table.c.kind == kind, parts_table.c.batch.in_(sorted(held_by)))
                .order_by(parts_table.c.batch, parts_table.c.part)
            ) if held_by is not None else (
                sa.select(parts_table.c.batch, parts_table.c.data)
                .join(batches_table, batches_table.c.batch == parts_table.c.batch)
                .where(batches_table.c.retracted_at.is_(None), parts_table.c.kind == kind,
                       parts_table.c.batch > since_batch)
                .order_by(parts_table.c.batch, parts_table.c.part)
            )
            cursor.execute(self._sql(query))
            parts = [(batch, data) for record_batch in cursor.fetch_record_batch()
                     for batch, data in zip(record_batch.column(0).to_pylist(), record_batch.column(1), strict=True)]
        if held_by is not None:
            # Each batch's own rows as rows of the batch that holds them, in that batch's line order (a base's
            # rows come before those of the batches extending it, their batch numbers being smaller).
            parts = [(held_by[source], data) for source, data in parts]
            parts.sort(key=lambda part: part[0])  # stable: within a holder, by source batch then part
        if not parts:
            frame = _current(kind, pl.DataFrame(schema=_raw_schema(kind)))
            return frame, key_hashes(kind, frame)
        keyed = _key_columns(kind)
        others = [name for name in _raw_schema(kind) if name not in keyed and name != "batch"]
        n = len(parts)
        with ThreadPoolExecutor(READ_THREADS) as pool:
            decoded = list(pool.map(_part_columns, parts, [keyed] * n, [kind] * n))
            heights = [part.height for part, _ in decoded]
            # Parts come in (batch, part) order, and each part's rows in line order: no sort needed.
            frame = pl.concat([part for part, _ in decoded], how="vertical", rechunk=False)
            hashes = pl.concat([part_hashes for _, part_hashes in decoded], rechunk=False)
            del decoded
            last = _last_of_key(kind, frame, hashes)
            keep = None if last.all() else last  # None: every row read is its key's latest
            columns = frame.get_columns()
            del frame
            _one_chunk(columns, keep)
            if others:
                frame = pl.concat([part for part, _ in pool.map(_part_columns, parts, [others] * n, [kind] * n,
                                                                [False] * n)], how="vertical", rechunk=False)
                columns += frame.get_columns()
                del frame
                _one_chunk(columns, keep, start=len(keyed))
        batches = pl.Series("batch", np.repeat([batch for batch, _ in parts], heights), pl.Int64)
        columns.append(batches if keep is None else batches.filter(keep))
        by_name = {column.name: column for column in columns}
        return (pl.DataFrame([by_name[name] for name in schema.frame_schema(kind)]),
                (hashes if keep is None else hashes.filter(keep)).rechunk())

    def _segments(self, cursor: Any, kind: str, since_batch: int) -> dict[int, int] | None:
        """Which batch each stored batch's own rows are read as, for the batches read newer than `since_batch`:
        None when no batch of `kind` extends another (each live batch's rows are its own: the usual store).

        A batch that extends a base (a longer version of the same file) holds its base's rows without storing
        them again. A row counts as a row of the earliest live batch that holds it: its own batch while that is
        live, else the first live batch among those extending it. So a retracted batch's rows stay while a
        live longer version holds them, the store reads as if the retracted batch had never been ingested, and
        a line that did not change keeps the batch it first came in (a later file's change to it stands)."""
        cursor.execute(self._sql(sa.select(batches_table.c.batch, batches_table.c.base,
                                           batches_table.c.retracted_at.is_(None))
                                 .where(batches_table.c.kind == kind)))
        rows = cursor.fetchall()
        if not any(base is not None for _, base, _ in rows):
            return None
        live = {int(batch) for batch, _, is_live in rows if is_live}
        extended_by: dict[int, list[int]] = {}
        for batch, base, _ in rows:
            if base is not None:
                extended_by.setdefault(int(base), []).append(int(batch))
        holder: dict[int, int] = {}
        for batch in sorted((int(b) for b, _, _ in rows), reverse=True):  # those extending a batch come later
            if batch in live:
                holder[batch] = batch
            else:
                holders = [holder[child] for child in extended_by.get(batch, ()) if child in holder]
                if holders:
                    holder[batch] = min(holders)
        return {batch: held for batch, held in holder.items() if held > since_batch}

    def _frame(self, cursor: Any, query: sa.Select, table: sa.Table) -> pl.DataFrame:
        """Run a select, Arrow end to end, typed by the table's columns."""
        if self.dialect == "sqlite":
            # One batch, so column types are inferred from all rows, not from a leading run of nulls.
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "1000000000"})
        cursor.execute(self._sql(query))
        frame = pl.from_arrow(cursor.fetch_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        raw = {c.name: _polars_raw(c.type) for c in table.columns}
        if frame.height == 0:
            return pl.DataFrame(schema=raw)
        return frame.with_columns(pl.col(name).cast(dtype) for name, dtype in raw.items())

    def _query_frame(self, query: sa.Select, table: sa.Table) -> pl.DataFrame:
        with self._cursor() as cursor:
            return self._frame(cursor, query, table)

    # -- tables of other modules (the alerts') ------------------------------------------------------
    def select(self, query: sa.Select, table: sa.Table) -> pl.DataFrame:
        """The rows of a select on `table` (a table of this module's `metadata`), typed by its columns."""
        return self._query_frame(query, table)

    @contextlib.contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Transaction]:
        """SQLAlchemy Core statements run on one connection; with `write`, in one transaction that holds the
        write lock from its start (a read within it sees what no other process changes until it ends)."""
        with self._cursor(write=write) as cursor:
            yield Transaction(self, cursor)

    def ensure_tables(self, tables: Iterable[sa.Table]) -> None:
        """Create tables kept by other modules when missing, once per store URL in a process (a store made before
        them opens as it was), tolerating another process creating them at the same moment."""
        tables = tuple(tables)
        key = (self.url, tuple(t.name for t in tables))
        if key in _ENSURED:
            return
        for attempt in range(5):
            try:
                self.create_tables(tables)
                break
            except Exception as error:  # another process created them at the same moment
                if attempt == 4 or not any(w in str(error).lower() for w in ("already exists", "duplicate", "locked")):
                    raise
                time.sleep(0.1 * (attempt + 1))
        _ENSURED.add(key)

    def create_tables(self, tables: Iterable[sa.Table]) -> None:
        """Create these tables and their indexes when missing, in one write transaction."""
        with self._cursor(write=True) as cursor:
            for table in tables:
                cursor.execute(str(CreateTable(table, if_not_exists=True).compile(dialect=self._sa_dialect)))
                for index in table.indexes:
                    cursor.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=self._sa_dialect)))

    def backup(self, target: str | Path) -> Path:
        """A consistent copy of the whole store as a new SQLite file, taken while others keep writing.

        SQLite: `VACUUM INTO` (one read transaction, so one moment of the store). PostgreSQL: every
        table read in one REPEATABLE READ transaction and written into the new file.
        """
        target = Path(target).resolve()
        if target.exists():
            raise FileExistsError(f"{target} exists; backups never overwrite")
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.dialect == "sqlite":
            with self._cursor() as cursor:
                cursor.execute(f"VACUUM INTO {_sql_string(str(target))}")
            return target
        copy = Store(f"sqlite:///{target}")
        copy.create()
        snapshot: dict[str, Any] = {}
        conn = self._connect()
        try:
            cursor = conn.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for table in metadata.sorted_tables:
                cursor.execute(self._sql(sa.select(table)))
                snapshot[table.name] = cursor.fetch_arrow_table()
            cursor.execute("COMMIT")
        finally:
            conn.close()
        with copy._cursor(write=True) as cursor:
            cursor.execute(copy._sql(meta_table.delete()))
            for name, arrow in snapshot.items():
                if arrow.num_rows:
                    cursor.adbc_ingest(name, arrow, mode="append")
        return target

    def dispose(self) -> None:
        """Close the PostgreSQL connections kept idle between operations."""
        while self._idle:
            conn, _ = self._idle.pop()
            with contextlib.suppress(Exception):
                conn.close()


def _insert_parts(cursor: Any, parts: Iterable[pa.RecordBatch]) -> None:
    """Parts (rows of _PARTS_SCHEMA) in one bulk insert, taken from `parts` as they come."""
    cursor.adbc_ingest(parts_table.name, pa.RecordBatchReader.from_batches(_PARTS_SCHEMA, parts), mode="append")


def _sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _polars_raw(type_: sa.types.TypeEngine) -> pl.DataType:
    if isinstance(type_, sa.Float):
        return pl.Float64()
    if isinstance(type_, sa.BigInteger | sa.Integer):
        return pl.Int64()
    return pl.String()


def _raw_schema(kind: str) -> dict[str, pl.DataType]:
    """The columns a kind's rows are stored with, as polars types (batch and line first). Parts written before
    2026-11-30 also hold each row's key as text: reads leave it, and work keys out from these columns."""
    return {c.name: _polars_raw(c.type) for c in row_tables[kind].columns if c.name != "key"}


def _stored(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Typed rows (validate's frame) as stored: their kind's columns but `batch`, dates as ISO text, in line
    order (which reads rely on: a later line for a key wins)."""
    raw = _raw_schema(kind)
    if not frame.get_column("line").is_sorted():
        frame = frame.sort("line", maintain_order=True)
    given = frame.schema  # built once (a schema a column was 0.4 ms of the writer's Python a piece)
    return frame.select(
        (pl.col(name).dt.to_string("%Y-%m-%d") if given[name] == pl.Date else pl.col(name)).cast(dtype)
        for name, dtype in raw.items() if name != "batch")


def _key_columns(kind: str) -> list[str]:
    """`line` and the columns a kind's key hash is taken from (key_hashes), in the order of its stored columns."""
    keyed = {"line", *_hashed_columns(kind)}
    return [name for name in _raw_schema(kind) if name in keyed]


def _part_columns(part: tuple[int, pa.BinaryScalar], columns: list[str], kind: str,
                  hashed: bool = True) -> tuple[pl.DataFrame, pl.Series | None]:
    """Some `columns` of one stored part ((batch, Parquet bytes)), typed as frame_schema(kind); with `hashed`,
    and their key hashes (the columns then include _key_columns)."""
    frame = _typed(kind, _parquet_columns(part[1].as_py(), columns), columns)
    return frame, key_hashes(kind, frame) if hashed else None


def _parquet_columns(data: bytes, columns: list[str]) -> pl.DataFrame:
    """`columns` of one Parquet part. A part written before its kind gained a column (the sales' line ids,
    statuses and channels; the sessions' host accounts) holds no such column: it reads as null, so a store
    written by an earlier version reads as it did, with the new columns unknown."""
    try:
        return pl.read_parquet(io.BytesIO(data), columns=columns)
    except pl.exceptions.ColumnNotFoundError:
        held = pl.read_parquet_schema(io.BytesIO(data))
        frame = pl.read_parquet(io.BytesIO(data), columns=[c for c in columns if c in held])
        return frame.with_columns(pl.lit(None).alias(c) for c in columns if c not in held).select(columns)


def _one_chunk(columns: list[pl.Series], keep: pl.Series | None, start: int = 0) -> None:
    """Each of `columns` from `start` on, in place, as the rows `keep` marks (None: all) in one chunk: the
    report's joins and group-bys over ~40 chunks a column (230-330 at 10M lines) took 1.5-3x as long. A column
    at a time, each one's chunks let go once copied (the caller holds no other reference): a read then peaks at
    its rows and one column, not twice its rows."""
    for i in range(start, len(columns)):
        columns[i] = (columns[i] if keep is None else columns[i].filter(keep)).rechunk()


def _current(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Row versions -> the latest per key, typed as frame_schema(kind), in (batch, line) order."""
    frame = frame.sort("batch", "line")
    return _typed(kind, frame.filter(_last_of_key(kind, frame)))


def key_struct(kind: str) -> pl.Expr:
    """Each row's store key (docs/store.md) as one struct value: rows of the same key, and only they, have equal ones.
    A sale with an order id is keyed by order id, line id, product and occurrence, one without by its session,
    product, village, time and occurrence (the fields of the other form left null)."""
    if kind == "sales":
        by_fields = pl.col("order_id").is_null()
        return pl.struct(*(pl.col(c) if c in _SALES_FIELDS_KEY or c == "order_id" else
                           pl.when(~by_fields).then(pl.col(c)).alias(c) for c in _SALES_ORDER_KEY),
                         *(pl.when(by_fields).then(pl.col(c)).alias(c)
                           for c in _SALES_FIELDS_KEY if c not in _SALES_ORDER_KEY))
    return pl.struct(schema.KEYS[kind])


def key_hashes(kind: str, frame: pl.DataFrame) -> pl.Series:
    """Each row's key hashed to 64 bits: equal keys, equal hashes (and, rarely, unequal keys too). A sale's is
    the hash of its form's fields alone (0.6 of the time of hashing key_struct at 5M lines)."""
    expr = (sales_key_hash(_SALES_ORDER_KEY, _SALES_FIELDS_KEY) if kind == "sales"
            else pl.struct(schema.KEYS[kind]).hash(3))
    # The key columns made one chunk first: a read is the concatenation of its parts, each column in its own
    # number of chunks (16 to 40 at 1M lines, 266 to 330 at 10M), and hashing a struct of such columns took
    # 2.5-4.3 s at 10M lines against 0.9 s with the copy (0.13 s at 1M).
    return frame.select(_hashed_columns(kind)).rechunk().select(expr.alias("h")).to_series()


def _hashed_columns(kind: str) -> list[str]:
    """The columns a kind's key hash is taken from (key_hashes)."""
    return list(dict.fromkeys((*_SALES_ORDER_KEY, *_SALES_FIELDS_KEY) if kind == "sales" else schema.KEYS[kind]))


def _last_of_key(kind: str, frame: pl.DataFrame, hashes: pl.Series | None = None) -> pl.Series:
    """Whether each row is the last with its key. Exact: the keys' 64-bit hashes (`hashes`, when known), sorted,
    find the few that may repeat (a hash met twice), and only those rows' keys are compared. A tenth of the time
    of grouping ten million keys, and nothing compared when no key repeats.
    """
    if hashes is None:
        hashes = key_hashes(kind, frame)
    twice = repeated(hashes)
    if twice.len() == 0:
        return pl.repeat(True, len(hashes), eager=True)
    maybe = hashes.is_in(twice.implode())
    at = maybe.arg_true()
    return (~maybe).scatter(at, frame[at].select(key_struct(kind).is_last_distinct()).to_series())


def _typed(kind: str, frame: pl.DataFrame, names: list[str] | None = None) -> pl.DataFrame:
    """Stored columns (all of frame_schema(kind), or those `names`) as read: their types and order there."""
    exprs = []
    for name, dtype in schema.frame_schema(kind).items():
        if names is not None and name not in names:
            continue
        col = pl.col(name)
        if dtype == pl.Date:
            col = col.cast(pl.String).str.to_date("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            col = col.cast(pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
        else:
            col = col.cast(dtype)
        exprs.append(col.alias(name))
    return frame.select(exprs)


_SALES_ORDER_KEY: Final = (*SALES_BY_ORDER, "occ")
_SALES_FIELDS_KEY: Final = (*SALES_BY_FIELDS, "occ")


def merge(kind: str, old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """An earlier read with the rows of newer batches laid over it (a later value for a key wins).

    Keys as `read` resolves them (docs/store.md). The cost follows the new rows: the old frame is only
    probed for the keys they bring (an anti-join), never re-keyed as a whole.
    """
    return merge_replacing(kind, old, new)[0]


def merge_replacing(kind: str, old: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """`merge`, and the rows of `old` that the new rows replaced (None when the new rows are not all of
    newer batches: everything is then resolved together, and which rows went is not worked out)."""
    if new.height == 0:
        return old, old.clear()
    if old.height == 0:  # nothing held to replace (as among no candidates found by a key index)
        return pl.concat([old, new], how="vertical"), old.clear()
    if new.get_column("batch").min() <= old.get_column("batch").max():  # type: ignore[operator]
        # Not newer batches laid over older ones: resolve the rows together (_current puts them in order).
        return _current(kind, pl.concat([old, new], how="vertical")), None
    if kind == "sales":
        has_order = pl.col("order_id").is_not_null()
        parts = [(has_order, _SALES_ORDER_KEY), (~has_order, _SALES_FIELDS_KEY)]
    else:
        parts = [(pl.lit(True), tuple(schema.KEYS[kind]))]
    # Positions of held rows that a new row replaces; the rest stay where they are (no sort of the history).
    # Only held rows whose first key value is among the new rows' are joined on the whole key.
    index = old.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"), pl.all())
    replaced = pl.concat([
        index.filter(which & _among(new.filter(which).get_column(keys[0]))).select("__i", *keys)
        .join(new.filter(which).select(keys), on=list(keys), how="semi", nulls_equal=True).get_column("__i")
        for which, keys in parts
    ])
    if replaced.len() == 0:
        return pl.concat([old, new], how="vertical"), old.clear()
    gone = index.get_column("__i").is_in(replaced.implode())
    return pl.concat([old.filter(~gone), new], how="vertical"), old.filter(gone)


def _among(values: pl.Series) -> pl.Expr:
    """Rows whose column `values.name` holds one of `values` (a null matching a null)."""
    among = pl.col(values.name).is_in(values.drop_nulls().unique().implode())
    return among | pl.col(values.name).is_null() if values.null_count() else among
