"""The store: SQL tables of batches and row versions, bulk writes, current and incremental reads, retract."""

from __future__ import annotations

import contextlib
import io
import os
import time
from dataclasses import dataclass
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from relief_live import schema

DEFAULT_PATH: Final = Path(__file__).resolve().parent.parent / "data" / "relief_live.sqlite3"
ENV_DB: Final = "RELIEF_LIVE_DB"
BUSY_TIMEOUT_MS: Final = 30_000

# How each value type is kept in SQL. Money is integer fen; times integer epoch ms (UTC).
_SQL_TYPES: Final = {
    schema.TEXT: sa.Text, schema.HOST_KIND: sa.Text, schema.PLATFORM: sa.Text, schema.UNIT: sa.Text,
    schema.COUNT: sa.BigInteger, schema.MONEY: sa.BigInteger, schema.TIME: sa.BigInteger,
    schema.DURATION: sa.BigInteger, schema.QTY: sa.Float, schema.DATE: sa.Text,
}


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
        columns[name] = sa.Float if dtype == pl.Float64 else sa.BigInteger
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
)
meta_table = sa.Table(
    "store_meta", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)
tables: dict[str, sa.Table] = {
    kind: sa.Table(
        kind, metadata,
        sa.Column("batch", sa.BigInteger, nullable=False, index=True),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        *(sa.Column(name, type_) for name, type_ in _stored_columns(kind).items()),
    )
    for kind in schema.KINDS
}


@dataclass(frozen=True)
class Written:
    """What writing one file did: its batch id, or the batch that already holds the same bytes."""

    batch: int
    status: str  # ingested | unchanged


class Store:
    """A SQLAlchemy database holding batches and every row version; reads give the current rows."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        parsed = make_url(self.url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(parsed)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- schema ---------------------------------------------------------------------------------
    def create(self) -> None:
        """Create the tables if they are missing (safe when several processes start at once)."""
        for attempt in range(5):
            try:
                metadata.create_all(self.engine)
                with self.engine.begin() as conn:
                    if conn.execute(sa.select(meta_table.c.id)).first() is None:
                        conn.execute(meta_table.insert().values(id=1, version=0))
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError):
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # -- writes ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A write transaction (on SQLite, BEGIN IMMEDIATE: the write lock from the start)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(relief_write=True)
            with conn.begin():
                yield conn

    def write(self, kind: str, frame: pl.DataFrame, *, path: str, sha256: str, by: str | None) -> Written:
        """Store one file's typed rows as a new batch, in one transaction; the same bytes again -> unchanged."""
        table = tables[kind]
        with self._writing() as conn:
            # Locking the version row first serialises writers (SQLite: BEGIN IMMEDIATE already did).
            conn.execute(sa.select(meta_table.c.version).with_for_update())
            same = conn.execute(
                sa.select(batches_table.c.batch).where(
                    batches_table.c.sha256 == sha256, batches_table.c.kind == kind,
                    batches_table.c.retracted_at.is_(None),
                ).order_by(batches_table.c.batch).limit(1)
            ).scalar()
            if same is not None:
                return Written(int(same), "unchanged")
            conn.execute(meta_table.update().values(version=meta_table.c.version + 1))
            batch = conn.execute(
                batches_table.insert().values(
                    path=path, kind=kind, sha256=sha256, rows=frame.height,
                    at=int(time.time() * 1000), by=by,
                ).returning(batches_table.c.batch)
            ).scalar_one()
            rows = frame.select([c.name for c in table.columns if c.name != "batch"])
            rows = rows.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
            self._bulk_insert(conn, table, rows.insert_column(0, pl.lit(batch, pl.Int64).alias("batch")))
        return Written(int(batch), "ingested")

    def _bulk_insert(self, conn: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        columns = frame.columns
        if self.dialect == "postgresql":
            raw = conn.connection.driver_connection
            names = ", ".join(f'"{c}"' for c in columns)
            with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN WITH (FORMAT csv)') as copy:
                for chunk in frame.iter_slices(200_000):
                    buffer = io.BytesIO()
                    chunk.write_csv(buffer, include_header=False, null_value="")
                    copy.write(buffer.getvalue())
            return
        placeholders = ", ".join("?" for _ in columns)
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({placeholders})'
        cursor = conn.connection.driver_connection.cursor()
        for chunk in frame.iter_slices(100_000):
            cursor.executemany(sql, chunk.iter_rows())

    def retract(self, batch: int) -> str:
        """Undo a batch: the store then reads as if it had never been ingested. Returns its path."""
        with self._writing() as conn:
            conn.execute(meta_table.update().values(version=meta_table.c.version + 1))
            row = conn.execute(
                sa.select(batches_table.c.path, batches_table.c.retracted_at).where(batches_table.c.batch == batch)
            ).first()
            if row is None:
                raise KeyError(f"there is no batch {batch}")
            if row.retracted_at is not None:
                raise ValueError(f"batch {batch} ({row.path}) is already retracted")
            conn.execute(
                batches_table.update().where(batches_table.c.batch == batch)
                .values(retracted_at=int(time.time() * 1000))
            )
        return str(row.path)

    # -- reads ----------------------------------------------------------------------------------
    def version(self) -> int:
        """A number that changes whenever anything is ingested or retracted (a cache key)."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(meta_table.c.version)).scalar() or 0)

    def last_batch(self) -> int:
        """The newest batch id, 0 when none."""
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(batches_table.c.batch))).scalar() or 0)

    def is_empty(self) -> bool:
        """Whether no batch holds rows (none ingested, or all retracted)."""
        with self.engine.connect() as conn:
            live = conn.execute(
                sa.select(sa.func.count()).select_from(batches_table).where(batches_table.c.retracted_at.is_(None))
            ).scalar()
        return not live

    def batches(self) -> pl.DataFrame:
        """The ingest history, oldest first: batch, path, kind, sha256, rows, at, by, retracted."""
        query = sa.select(batches_table).order_by(batches_table.c.batch)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pl.DataFrame(
            [tuple(r) for r in rows], orient="row",
            schema={"batch": pl.Int64, "path": pl.String, "kind": pl.String, "sha256": pl.String,
                    "rows": pl.Int64, "at": pl.Int64, "by": pl.String, "retracted_at": pl.Int64},
        )
        return frame.with_columns(
            pl.col("at", "retracted_at").cast(pl.Datetime("ms", "UTC")),
            retracted=pl.col("retracted_at").is_not_null(),
        )

    def read(self, kind: str, since_batch: int = 0) -> pl.DataFrame:
        """Current rows of `kind` (latest live batch per key), columns of schema.frame_schema(kind).

        With `since_batch`, only rows of live batches newer than it, resolved among themselves:
        merge them onto an earlier read with `merge`.
        """
        table = tables[kind]
        query = (
            sa.select(table)
            .join(batches_table, batches_table.c.batch == table.c.batch)
            .where(batches_table.c.retracted_at.is_(None), table.c.batch > since_batch)
        )
        frame = self._query_frame(query, table)
        return _current(kind, frame)

    def _query_frame(self, query: sa.Select, table: sa.Table) -> pl.DataFrame:
        sql_schema = {c.name: _polars_raw(c.type) for c in table.columns}
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return pl.DataFrame(rows, schema=sql_schema, orient="row")

    def dispose(self) -> None:
        self.engine.dispose()


def _polars_raw(type_: sa.types.TypeEngine) -> pl.DataType:
    if isinstance(type_, sa.Float):
        return pl.Float64()
    if isinstance(type_, sa.BigInteger | sa.Integer):
        return pl.Int64()
    return pl.String()


def _current(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Row versions -> the latest per key, typed as frame_schema(kind), in key order of arrival."""
    frame = frame.sort("batch", "line").unique("key", keep="last", maintain_order=True)
    return _typed(kind, frame)


def _typed(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    target = schema.frame_schema(kind)
    exprs = []
    for name, dtype in target.items():
        col = pl.col(name)
        if dtype == pl.Date:
            col = col.cast(pl.String).str.to_date("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            col = col.cast(pl.Int64).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
        else:
            col = col.cast(dtype)
        exprs.append(col.alias(name))
    return frame.select(exprs).sort("batch", "line")


def merge(kind: str, old: pl.DataFrame, new: pl.DataFrame) -> pl.DataFrame:
    """An earlier read with the rows of newer batches laid over it (a later value for a key wins)."""
    if new.height == 0:
        return old
    both = pl.concat([old, new], how="vertical").sort("batch", "line")
    if kind == "sales":
        key = pl.when(pl.col("order_id").is_not_null()).then(
            pl.struct(pl.col("order_id"), pl.col("product"), pl.col("occ"))
        )
        other = pl.struct(*[pl.col(c) for c in ("session_id", "product", "village", "ts", "occ")])
        both = both.with_columns(
            __k=pl.concat_str([key.struct.json_encode(), other.struct.json_encode()], ignore_nulls=True)
        )
        return both.unique("__k", keep="last", maintain_order=True).drop("__k")
    return both.unique(list(schema.KEYS[kind]), keep="last", maintain_order=True)


def _sqlite_setup(engine: sa.Engine) -> None:
    """WAL for concurrent readers, a busy timeout for concurrent writers, BEGIN IMMEDIATE for writes."""

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; WAL keeps the file consistent
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("relief_write") else "BEGIN")
