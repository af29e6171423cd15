"""Files into the store: read, validate, write as one batch; the one path the CLI, upload and watch share."""

from __future__ import annotations

import contextlib
import functools
import getpass
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from relief_live import read, schema, validate
from relief_live.read import Problem, Rejected
from relief_live.store import Base, NotExtending, Store, Written

Progress = Callable[[str, float], None]  # (stage, fraction done)

# The largest file the dashboard accepts in an upload (RELIEF_LIVE_MAX_UPLOAD_MB, default 50).
MAX_UPLOAD_BYTES: Final = int(float(os.environ.get("RELIEF_LIVE_MAX_UPLOAD_MB", "50")) * 1024 * 1024)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"


def check_upload_size(name: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Reject an upload over the size cap, saying how to get a large export in."""
    if size > limit:
        raise Rejected([Problem(name, None, None, "too_large", fields={"size": _size(size), "cap": _size(limit)})])


def store_failure(error: BaseException) -> bool:
    """Whether `error` came from the store (its database, its disk), not from a file's content (whose bytes are
    in hand by then)."""
    import adbc_driver_manager

    return isinstance(error, adbc_driver_manager.Error | OSError)


@contextlib.contextmanager
def _unexpected(name: str) -> Iterator[None]:
    """Any error reading a file that is neither a problem found in it nor the store's becomes a problem of
    that file: one cell or one file never ends the CLI, the Upload page or `watch` with a traceback."""
    try:
        yield
    except (Rejected, read.NotUTF8, validate.WholeFile):
        raise
    except Exception as error:
        if store_failure(error):
            raise
        first = next((line for line in str(error).splitlines() if line.strip()), "")
        raise Rejected([Problem(name, None, None, "unexpected",
                                fields={"error_type": type(error).__name__, "error": first})]) from error


@dataclass
class Inspection:
    """What a file would give, without touching the store: kind, header mapping, rows or problems."""

    name: str
    kind: str | None = None
    mapping: list[tuple[str, str | None]] = field(default_factory=list)
    frame: pl.DataFrame | None = None
    problems: list[Problem] = field(default_factory=list)
    needs: set[str] = field(default_factory=set)  # fields to ask for: session_id, host_kind, platform
    # A sales file whose lines find their session by host account (placed_by_host): how many of its lines name no
    # session, and how many of those the stored sessions hold by host account and time.
    placement: tuple[int, int] | None = None

    @property
    def unknown(self) -> list[str]:
        return [h for h, c in self.mapping if c is None]

    @property
    def ok(self) -> bool:
        return not self.problems and self.frame is not None


@dataclass(frozen=True)
class FileResult:
    """One ingested file, as `ingest --json` prints it."""

    path: str
    kind: str
    rows: int
    batch: int
    status: str  # ingested | unchanged
    sessionless: int = 0  # sales lines that name no session
    placed: int = 0  # of those, lines that found a session by their host account and time (metrics.place_sales)
    ignored: tuple[str, ...] = ()  # the file's headers that no column takes
    near: tuple[tuple[str, str], ...] = ()  # of those, each near miss of an alias of a column it lacks, and that alias
    also: tuple[FileResult, ...] = ()  # the other batches the same file gave (a live workbook's product totals)

    def as_json(self) -> dict:
        out = {"path": self.path, "kind": self.kind, "rows": self.rows, "batch": self.batch, "status": self.status}
        if self.kind == "sales" and self.status == "ingested":
            out |= {"sessionless": self.sessionless, "placed": self.placed}
        if self.ignored:
            out["ignored"] = list(self.ignored)
        if self.near:
            out["did_you_mean"] = dict(self.near)
        if self.also:
            out["also"] = [other.as_json() for other in self.also]
        return out

    def said(self) -> str:
        """The CLI's line for this batch (a file's `also` batches have lines of their own)."""
        line = f"{self.status}: {self.path} ({self.kind}, {self.rows} rows, batch {self.batch})"
        if self.sessionless:
            line += (f"; {self.sessionless} lines name no session: {self.placed} found one by host account and time, "
                     f"{self.sessionless - self.placed} stay sessionless")
        return line


def who() -> str:
    """The name recorded on a batch: RELIEF_LIVE_USER, else the login name."""
    try:
        return os.environ.get("RELIEF_LIVE_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse(name: str, data: bytes, *, kind: str | None = None, session_id: str | None = None,
          host_kind: str | None = None, platform: str | None = None, store: Store | None = None,
          tz: str = read.DEFAULT_TZ,
          progress: Progress | None = None) -> tuple[read.Mapping, pl.DataFrame]:
    """A file's bytes as typed rows of its kind (ready for the store), or Rejected with every problem.

    A large CSV is read and checked in pieces (read.csv_pieces), with the same rows and problems; the rows
    are derived and handed back whole (the upload preview). `ingest_bytes` writes them piece by piece.
    """
    args = {"kind": kind, "session_id": session_id, "host_kind": host_kind, "platform": platform, "store": store,
            "tz": tz, "progress": progress}
    with _unexpected(name):
        book = read.live_workbook(name, data) if kind in (None, "sessions") else None
        if book is not None:
            mapping, session, _ = workbook_frames(name, book, session_id=session_id, host_kind=host_kind,
                                                  platform=platform, store=store, tz=tz)
            return mapping, session
        try:
            mapping, frames = _typed(name, data, **args, whole=True)
            [frame] = frames
        except read.NotUTF8:  # taken for UTF-8 from its start, and a later piece is not: check it all, read again
            mapping, frames = _typed(name, data, _pieces(name, data, checked=True), **args, whole=True)
            [frame] = frames
    return mapping, frame


def _typed(name: str, data: bytes, pieces: list[Callable[[], read.RawTable]] | None = None, *, kind: str | None,
           session_id: str | None, host_kind: str | None, platform: str | None, store: Store | None, tz: str,
           progress: Progress | None, whole: bool) -> tuple[read.Mapping, Iterator[pl.DataFrame]]:
    """validate.typed_pieces of a file's bytes (or of its `pieces`): its mapping, and its typed rows piece by piece."""
    pieces = pieces or _pieces(name, data)
    supplied = {"session_id": session_id, "host_kind": host_kind, "platform": platform}
    if supplied["host_kind"]:
        value, bad = read.parse_vocab(pl.Series([supplied["host_kind"]]), schema.HOST_KINDS)
        if bad[0]:
            raise Rejected([Problem(name, None, "host_kind", "host_kind_given", fields={"given": host_kind})])
        supplied["host_kind"] = value[0]
    if not supplied["session_id"] and store is not None and len(pieces) == 1 and kind in ("sales", None):
        # A session's product totals (罗盘's 货品明细) without a session column: the session its file name names.
        table = pieces[0]()
        pieces = [lambda: table]
        if _totals_without_session(read.detect(table, kind)):
            supplied["session_id"] = session_in_name(store, name)
            if supplied["session_id"] is None:  # totals of no session would count with no time, for no session
                raise Rejected([Problem(name, None, "session_id", "totals_no_session")])
    starts = None
    if store is not None and kind in ("ticks", "sales", None):  # times of day are placed on their session's date
        # Read only when the file gives times of day alone (it is then derived whole, in this thread), not before
        # its pieces are begun: most files never need them (the read was ~20 ms before the first piece began).
        starts = functools.partial(_session_starts, store)

    def step(fraction: float) -> None:
        if progress:
            progress("checking values", 0.05 + 0.9 * fraction)

    return validate.typed_pieces(name, pieces, kind, supplied=supplied, session_starts=starts, tz=tz,
                                 progress=step, whole=whole)


def _totals_without_session(mapping: read.Mapping) -> bool:
    """Whether a file is an export of one session's totals (schema.BASES) that names no session."""
    shape = next((shape for shape in schema.EXPORT_SHAPES if shape.name == mapping.shape), None)
    return (shape is not None and shape.basis == "session_totals" and "session_id" not in mapping.columns
            and "room_id" not in mapping.columns)


def session_in_name(store: Store, name: str) -> str | None:
    """The stored session whose id (or room number) a file's name holds, the longest such id; None when none does."""
    stem = Path(name).stem
    sessions = store.read("sessions").select("session_id", "room_id")
    found = [(len(text), sid) for sid, room in sessions.iter_rows() for text in (sid, room)
             if text and len(text) >= 4 and text in stem]
    return max(found)[1] if found else None


def workbook_frames(name: str, book: read.LiveWorkbook, *, session_id: str | None, host_kind: str | None,
                    platform: str | None, store: Store | None,
                    tz: str = read.DEFAULT_TZ) -> tuple[read.Mapping, pl.DataFrame, pl.DataFrame | None]:
    """A live workbook's session (one row, typed) and its product totals (typed, of that session; None without a
    products sheet), or Rejected. The columns a workbook does not give (schema.WORKBOOK_KEEPS: its host kind, host
    account, role, platform, county) are the stored session's, when the store holds the same session already (from
    the platform's live list)."""
    mapping = read.detect(book.session, "sessions")
    supplied = {"session_id": session_id, "host_kind": host_kind, "platform": platform}
    if host_kind:
        value, bad = read.parse_vocab(pl.Series([host_kind]), schema.HOST_KINDS)
        if bad[0]:
            raise Rejected([Problem(name, None, "host_kind", "host_kind_given", fields={"given": host_kind})])
        supplied["host_kind"] = value[0]
    stored = None
    source = mapping.columns.get("session_id", mapping.columns.get("room_id"))
    if store is not None and (source is not None or session_id):
        own = read.parse_id(book.session.frame.get_column(f"c{source}"))[0][0] if source is not None else session_id
        stored = store.read("sessions").filter(pl.col("session_id") == own)
        if not supplied["host_kind"] and "host_kind" not in mapping.columns and stored.height:
            supplied["host_kind"] = stored.get_column("host_kind")[0]
    session = validate.typed_frame(book.session, mapping, supplied=supplied, tz=tz)
    if stored is not None and stored.height:
        session = session.with_columns(pl.col(c).fill_null(pl.lit(stored.get_column(c)[0], session.schema[c]))
                                       for c in schema.WORKBOOK_KEEPS)
    products = None
    if book.products is not None:
        products = validate.typed_frame(book.products, read.detect(book.products, "sales"),
                                        supplied={"session_id": session.get_column("session_id")[0]}, tz=tz)
    return mapping, session, products


def _ingest_workbook(store: Store, name: str, data: bytes, book: read.LiveWorkbook, *, session_id: str | None,
                     host_kind: str | None, platform: str | None, by: str | None) -> FileResult:
    """A live workbook as two batches of the same file: its session, then its product totals (retracted together
    by hand: `retract` each). The same bytes again are `unchanged`; a failure writing the products undoes the
    session's batch."""
    key = _batch_key(_sha256(data), session_id, host_kind, platform)
    held = store.holding(key, "sessions")
    if held is not None:
        sold = store.holding(key, "sales")
        also = (FileResult(name, "sales", sold.rows, sold.batch, sold.status),) if sold is not None else ()
        return FileResult(name, "sessions", held.rows, held.batch, held.status, also=also)
    _, session, products = workbook_frames(name, book, session_id=session_id, host_kind=host_kind,
                                           platform=platform, store=store)
    who_ = by or who()
    written = store.write("sessions", session, path=name, sha256=key, by=who_, size=len(data))
    also: tuple[FileResult, ...] = ()
    if products is not None:
        try:
            sold = store.write("sales", products, path=name, sha256=key, by=who_, size=len(data))
        except BaseException:
            if written.status == "ingested":
                store.retract(written.batch)
            raise
        also = (FileResult(name, "sales", sold.rows, sold.batch, sold.status),)
    return FileResult(name, "sessions", written.rows, written.batch, written.status, also=also)


def _session_starts(store: Store) -> pl.DataFrame:
    """The stored sessions' starts: session_id, started_at as epoch ms."""
    return store.read("sessions").select("session_id", pl.col("started_at").dt.epoch("ms"))


def inspect_bytes(name: str, data: bytes, *, kind: str | None = None, session_id: str | None = None,
                  host_kind: str | None = None, platform: str | None = None, store: Store | None = None,
                  max_bytes: int | None = None) -> Inspection:
    """Kind, header mapping and typed preview or problems of a file, writing nothing.

    With `max_bytes` (uploads), a larger file is refused before it is read.
    """
    result = Inspection(name)
    try:
        if max_bytes is not None:
            check_upload_size(name, len(data), max_bytes)
        with _unexpected(name):
            book = read.live_workbook(name, data) if kind in (None, "sessions") else None
            table = book.session if book is not None else read.read_table(name, data)
            mapping = read.detect(table, "sessions" if book is not None else kind)
        result.kind, result.mapping = mapping.kind, mapping.sources
        if book is not None and book.products is not None:
            result.mapping = mapping.sources + read.detect(book.products, "sales").sources
        if not session_id and store is not None and _totals_without_session(mapping):
            session_id = session_in_name(store, name)
        for wanted, given in (("session_id", session_id), ("host_kind", host_kind), ("platform", platform)):
            fields = {f.name for f in schema.KINDS[mapping.kind]}
            stands_in = schema.STANDS_IN.get((mapping.kind, wanted))
            if wanted in fields and wanted not in mapping.columns and stands_in not in mapping.columns and not given:
                result.needs.add(wanted)
        by_host = placed_by_host(mapping)
        if by_host:  # its lines find their sessions themselves: none is asked for
            result.needs.discard("session_id")
        _, result.frame = parse(name, data, kind=mapping.kind, session_id=session_id,
                                host_kind=host_kind, platform=platform, store=store)
        if by_host and not session_id:
            loose = result.frame.filter(pl.col("session_id").is_null()).select(
                "session_id", "ts", "channel", *schema.SESSION_HOST_KEYS)
            result.placement = _placed(store, loose) if store is not None else (loose.height, 0)
    except Rejected as rejected:
        result.problems = rejected.problems
    except Exception as error:  # the store's (reading the sessions' starts): said, not a traceback on the page
        if not store_failure(error):
            raise
        result.problems = [Problem(name, None, None, "store_failed", fields={"error": str(error)})]
    return result


def placed_by_host(mapping: read.Mapping) -> bool:
    """Whether a file's order lines find their session by host account and time (metrics.place_sales) rather than
    by a session given at upload: a sales file without a session column that is a shop's own export
    (schema.EXPORT_SHAPES: the whole shop's orders, of many sessions or none) or gives a host account; never one
    session's product totals (罗盘 货品明细), which are of the session given or named in the file's name."""
    return mapping.kind == "sales" and "session_id" not in mapping.columns and not _totals_without_session(mapping) and (
        mapping.shape is not None or any(key in mapping.columns for key in schema.SESSION_HOST_KEYS))


def ingest_bytes(store: Store, name: str, data: bytes, *, kind: str | None = None, session_id: str | None = None,
                 host_kind: str | None = None, platform: str | None = None, by: str | None = None,
                 progress: Progress | None = None) -> FileResult:
    """Ingest one file's bytes as a batch; the same bytes again are `unchanged` (and not read). Raises Rejected.

    A large CSV is typed and written piece by piece inside the batch's one transaction, so that only a few
    pieces' rows are held at a time (the next ones are read and typed in threads while one is written:
    validate.PIECES_AHEAD); a problem anywhere undoes every piece and changes nothing. Progress is reported
    from the caller's thread.
    """
    done = 0.0

    def report(stage: str, fraction: float) -> None:  # never backwards, also when the file is read again whole
        nonlocal done
        done = max(done, fraction)
        if progress:
            progress(stage, done)

    report("reading", 0.0)
    if kind in (None, "sessions") and data[:4] == read.XLSX_MAGIC:
        with _unexpected(name):
            book = read.live_workbook(name, bytes(data))
            if book is not None:
                result = _ingest_workbook(store, name, bytes(data), book, session_id=session_id, host_kind=host_kind,
                                          platform=platform, by=by)
                report("done", 1.0)
                return result
    # Shut (the hashes awaited) before the caller closes a mapped file.
    with _unexpected(name), ThreadPoolExecutor(1, thread_name_prefix="relief-live hash") as hasher:
        # The file is hashed on one core while this one splits it into pieces (its UTF-8 checked, or re-encoded)
        # and, for a file of several pieces, starts reading and typing them: the same bytes already stored (as
        # `kind`, or as any kind when none is given) are found once the hash is done, before anything is written,
        # and the pieces begun are dropped. A file of one piece is hashed by then (a few ms): it is not read.
        hashed = hasher.submit(_sha256, data)
        pieces = _pieces(name, data)
        if len(pieces) == 1:
            held = store.holding(_batch_key(hashed.result(), session_id, host_kind, platform), kind)
            if held is not None:
                report("done", 1.0)
                return FileResult(name, held.kind, held.rows, held.batch, held.status)
        args = {"kind": kind, "session_id": session_id, "host_kind": host_kind, "platform": platform,
                "store": store, "tz": read.DEFAULT_TZ, "progress": report}
        base = _extends(store, name, data, hasher, kind, session_id, host_kind, platform)
        loose = _Placing(store, hasher)  # the sales lines that name no session, placed as they come
        ignored: list[str] = []  # the headers no column takes
        near: dict[str, str] = {}  # those that are near misses of an alias: schema.near_misses
        try:
            written = _write_either(store, name, data, hasher, hashed, by, pieces, args, base, loose=loose,
                                    ignored=ignored, near=near)
        except read.NotUTF8:
            # Taken for UTF-8 from its start, and a later piece is not (a GBK export whose first rows are ASCII):
            # the transaction was rolled back. Check the whole file, re-encode it, and read it again.
            written = _write_either(store, name, data, hasher, hashed, by, _pieces(name, data, checked=True), args,
                                    base, loose=loose, ignored=ignored, near=near)
        sessionless, placed = loose.counts() if written.status == "ingested" else (0, 0)
    report("done", 1.0)
    return FileResult(name, written.kind, written.rows, written.batch, written.status, sessionless, placed,
                      tuple(dict.fromkeys(ignored)), tuple(near.items()))


def _stored_sessions(store: Store) -> pl.DataFrame:
    """The stored sessions as the metrics read them (what a line is placed in)."""
    from relief_live.metrics.common import conform

    return conform(store.read("sessions"), "sessions")


def _placed(store: Store, lines: pl.DataFrame, sessions: pl.DataFrame | None = None) -> tuple[int, int]:
    """How many of a file's sales `lines` name no session (all of them), and how many of those the stored sessions
    (`sessions`, when read already) hold by host account and time (what the report does: metrics.place_sales)."""
    if lines.height == 0:
        return 0, 0
    from relief_live.metrics.sessions import place_sales

    placed = place_sales(lines.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC"))),
                         _stored_sessions(store) if sessions is None else sessions)
    return lines.height, lines.height - placed.get_column("session_id").null_count()


class _Placing:
    """_placed of a file's sessionless lines, counted a piece at a time in a thread of its own (the hasher's, idle
    once the file is hashed) while the pieces are written: at the end of a shop's export, where the lines of a
    million were placed at once (~60 ms with a core idle), only the last piece's are left."""

    def __init__(self, store: Store, thread: ThreadPoolExecutor):
        self._store, self._thread = store, thread
        self._counts: list[Future[tuple[int, int]]] = []
        self._sessions: pl.DataFrame | None = None  # read by the first count (in the thread: one at a time)

    def add(self, lines: pl.DataFrame) -> None:
        self._counts.append(self._thread.submit(self._count, lines))

    def _count(self, lines: pl.DataFrame) -> tuple[int, int]:
        if self._sessions is None:
            self._sessions = _stored_sessions(self._store)
        return _placed(self._store, lines, self._sessions)

    def clear(self) -> None:  # (a file read again starts over)
        self._counts.clear()

    def counts(self) -> tuple[int, int]:
        """The lines that name no session, and how many of them found one."""
        done = [count.result() for count in self._counts]
        return sum(n for n, _ in done), sum(placed for _, placed in done)


def _extends(store: Store, name: str, data: bytes, hasher: ThreadPoolExecutor, kind: str | None,
             session_id: str | None, host_kind: str | None, platform: str | None) -> Future[Base | None] | None:
    """The stored batch this file is a longer version of (a growing export ingested again), hashed in `hasher`:
    the newest live batch of the same name, whose bytes (ending with a whole line) begin this file's, given
    with the same values. Its rows are then not stored again (Store.write)."""
    found = store.extension_base(name)
    if found is None:
        return None
    base, size, key = found
    if not 0 < size < len(data) or data[size - 1:size] != b"\n" or kind not in (None, base.kind):
        return None

    def same_start() -> Base | None:
        with memoryview(data) as view:
            start = hashlib.sha256(view[:size]).hexdigest()
        return base if _batch_key(start, session_id, host_kind, platform) == key else None

    return hasher.submit(same_start)


def _write_either(store: Store, name: str, data: bytes, hasher: ThreadPoolExecutor, hashed: Future[str],
                  by: str | None, pieces: list[Callable[[], read.RawTable]], args: dict,
                  base: Future[Base | None] | None = None, *, loose: _Placing | None = None,
                  ignored: list[str] | None = None, near: dict[str, str] | None = None) -> Written:
    """_write piece by piece, or, when a later piece repeats a key of an earlier one (its occurrence counts across
    the file) or gives times of day alone (placed in file order), whole: rare, and the first transaction was
    rolled back. A file that extends a `base` whose rows' times differ from its first rows' is written again
    without it (its times of day placed on another session start since)."""
    extends = base.result() if base is not None else None
    try:
        try:
            return _write(store, name, data, hasher, hashed, by, pieces, args, extends, whole=False, loose=loose,
                          ignored=ignored, near=near)
        except validate.WholeFile:
            return _write(store, name, data, hasher, hashed, by, pieces, args, extends, whole=True, loose=loose,
                          ignored=ignored, near=near)
    except NotExtending:
        return _write_either(store, name, data, hasher, hashed, by, pieces, args, loose=loose, ignored=ignored,
                             near=near)


def _pieces(name: str, data: bytes, *, checked: bool = False) -> list[Callable[[], read.RawTable]]:
    """A file's pieces to read: a large CSV's (read.csv_pieces), else one, the file read whole (or a workbook)."""
    return read.csv_pieces(name, data, checked=checked) or [lambda: read.read_table(name, data)]


def _write(store: Store, name: str, data: bytes, hasher: ThreadPoolExecutor, hashed: Future[str], by: str | None,
           pieces: list[Callable[[], read.RawTable]], args: dict, base: Base | None, *, whole: bool,
           loose: _Placing | None = None, ignored: list[str] | None = None,
           near: dict[str, str] | None = None) -> Written:
    """The typed frames of one file's `pieces` (`args`: _typed's) as one batch, reporting `writing` once they
    are all checked; or the batch that holds the same bytes already (`hashed`: the file's hash, which the
    pieces need not wait for), found before anything is written, the pieces begun then dropped.

    A mapped file rewritten on disk while it was read is refused: one at rest when it was mapped is known
    unchanged from its stat once its pieces are read and hashed (read.MappedFile.unchanged); else its bytes are
    hashed again, in `hasher`, from when its last piece has been read, alongside the typing and writing of the
    pieces still in hand."""
    again: list[Future[str]] = []
    if isinstance(data, read.MappedFile):
        mapped = data

        def read_all() -> None:
            if not mapped.unchanged():
                again.append(hasher.submit(_sha256, mapped.source()))

        pieces = _then(pieces, read_all)
    mapping, frames = _typed(name, data, pieces, **args, whole=whole)
    if ignored is not None:
        ignored[:] = mapping.unknown
    if near is not None:
        near.clear()
        near.update(schema.near_misses(mapping.kind, mapping.unknown, mapping.columns))
    sha = hashed.result()  # store.write finds a batch of the same bytes before it takes a frame

    if loose is not None:
        loose.clear()  # (a file read again starts over)

    def checked() -> Iterator[pl.DataFrame]:
        try:
            for frame in frames:
                if loose is not None and mapping.kind == "sales" and frame.get_column("session_id").null_count():
                    loose.add(frame.filter(pl.col("session_id").is_null()).select(
                        "session_id", "ts", "channel", *schema.SESSION_HOST_KEYS))
                yield frame
        finally:
            frames.close()  # closed early (the writer failed): the typing of the pieces stops now
        if (isinstance(data, read.MappedFile) and not data.unchanged()
                and (again[0].result() if again else _sha256(data.source())) != sha):
            raise Rejected([Problem(name, None, None, "changed")])
        args["progress"]("writing", 0.95)

    checking = checked()
    try:
        key = _batch_key(sha, args["session_id"], args["host_kind"], args["platform"])
        return store.write(mapping.kind, checking, path=name, sha256=key, by=by or who(), size=len(data), base=base)
    finally:
        checking.close()  # the writer stopped early (a database error, an interrupt): stop typing pieces now


def _then(pieces: list[Callable[[], read.RawTable]], done: Callable[[], None]) -> list[Callable[[], read.RawTable]]:
    """`pieces` that call `done` once every one of them has been read (in whatever threads read them)."""
    left, lock = len(pieces), threading.Lock()

    def counted(piece: Callable[[], read.RawTable]) -> read.RawTable:
        nonlocal left
        table = piece()
        with lock:
            left -= 1
            if left == 0:
                done()
        return table

    return [functools.partial(counted, piece) for piece in pieces]


def _batch_key(sha: str, session_id: str | None, host_kind: str | None, platform: str | None) -> str:
    """What finds a file already stored: its bytes' sha256, and the values given with it when there are any (the
    same file given another session id is a correction to ingest, not `unchanged`)."""
    given = {"session_id": session_id, "host_kind": host_kind, "platform": platform}
    if not any(given.values()):
        return sha
    return hashlib.sha256(json.dumps([sha, given], sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _sha256(data: bytes | read.FileSource, chunk: int = 8 * 1024 * 1024) -> str:
    """The sha256 of a file's bytes (of a FileSource: what the file holds now); a mapped file's pages are let go
    as they are hashed."""
    if isinstance(data, read.FileSource):
        sha = hashlib.sha256()
        for part in data.chunks(chunk):
            sha.update(part)
        return sha.hexdigest()
    if not isinstance(data, read.MappedFile):
        return hashlib.sha256(data).hexdigest()
    sha = hashlib.sha256()
    with memoryview(data) as view:  # the mapped pages themselves, not a copy of each chunk
        for start in range(0, len(data), chunk):
            sha.update(view[start:start + chunk])
            data.release()
    return sha.hexdigest()


def ingest_file(store: Store, path: str | Path, *, kind: str | None = None, session_id: str | None = None,
                host_kind: str | None = None, platform: str | None = None, by: str | None = None,
                progress: Progress | None = None) -> FileResult:
    """Ingest one file from disk (see ingest_bytes); problems name the file as given.

    A large file is mapped rather than read (read.map_file), so that its bytes are not all held while its
    pieces are; one rewritten while it is read is refused (its stat, or its bytes hashed again, before the commit).
    """
    path = Path(path)
    try:
        data = read.map_file(path)
    except OSError as error:
        raise Rejected([Problem(str(path), None, None, "os_error", fields={"error": error.strerror or str(error)})]) from None
    try:
        return ingest_bytes(store, str(path), data, kind=kind, session_id=session_id, host_kind=host_kind,
                            platform=platform, by=by, progress=progress)
    finally:
        if isinstance(data, read.MappedFile):
            data.close()
