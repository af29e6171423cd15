"""Text cells to a typed frame of one kind, or every problem found, each with file, line and column."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar, cast

import numpy as np
import polars as pl

from relief_live import read, schema
from relief_live.i18n import Phrase
from relief_live.read import MAX_PROBLEMS, Mapping, Problem, RawTable, Rejected

# A check of a column's cells: (canonical column, its header, the cells it marks bad, a key of i18n.PROBLEMS or
# _NUMBER (said by read.number_message of each cell), the key's fields).
Check = tuple[str, str, pl.Series, str, dict[str, object]]
_NUMBER: Final = "number"

# The key hashes of a large sales file's pieces are sorted once all but this many are handed on (beside the
# typing of these), not all once the last is in (~30 ms at 1M lines, alone at the end of the ingest).
_SORTED_BEFORE_END: Final = 3
# The pieces of a large file read and typed at once, in threads, ahead of the one being derived: polars lets
# go of the GIL, so on two cores two pieces are typed in about the time of one. Each holds one more piece.
PIECES_AHEAD: Final = 2
_T = TypeVar("_T")
# The sessions' starts (session_id, started_at as epoch ms), or how to get them: read only when a file gives
# times of day alone, which most never do (an ingest then asks the store nothing before its pieces are read).
SessionStarts = pl.DataFrame | Callable[[], pl.DataFrame | None] | None
# Columns whose time of day alone (19:01) is read on the session's start date.
_TIME_OF_DAY_OK: Final = {("ticks", "ts"), ("sales", "ts")}


def typed_frame(
    table: RawTable,
    mapping: Mapping,
    *,
    supplied: dict[str, str] | None = None,
    session_starts: SessionStarts = None,
    tz: str = read.DEFAULT_TZ,
) -> pl.DataFrame:
    """The rows of `table` as `mapping.kind`, typed as the store keeps them, or Rejected with all problems.

    `supplied` gives values for columns the file lacks (session_id, host_kind from the upload form);
    `session_starts` (session_id, started_at as epoch ms, or a function that gives them) places
    time-of-day-only ticks on a date.
    Times come out as Int64 epoch ms (UTC), dates as Date, money as Int64 fen.
    """
    return derive(table.name, mapping.kind, typed_columns(table, mapping, supplied=supplied, tz=tz),
                  session_starts, tz)


class WholeFile(Exception):
    """Raised by typed_pieces' frames when, after pieces were handed on, the file turns out to need deriving
    whole (a sales key in two pieces, times of day alone in a later piece): undo what the frames went into,
    and read the file again with `whole=True`."""


def typed_pieces(
    name: str,
    pieces: Sequence[Callable[[], RawTable]],
    kind: str | None,
    *,
    supplied: dict[str, str] | None = None,
    session_starts: SessionStarts = None,
    tz: str = read.DEFAULT_TZ,
    progress: Callable[[float], None] | None = None,
    whole: bool = False,
) -> tuple[Mapping, Iterator[pl.DataFrame]]:
    """typed_frame for a file read in pieces (read.csv_pieces): its mapping, and its rows typed and derived
    piece by piece, each piece's text cells let go before the next is read. The rows, and the problems (every
    piece's, together, capped), are those of the whole file read at once.

    The frames are handed on as they are made, so a large export is never held whole: a problem in a later
    piece is raised (Rejected, with every problem of the file) only after earlier frames were handed on, and
    the caller undoes what it did with them. With `whole`, or when the first piece shows it is needed, all
    pieces are typed, then derived together and handed on as one frame; when a later piece shows it is
    needed, or the last one that a sales key is in two pieces (a row's occurrence counts across the file:
    the key hashes of the pieces are kept to find out), the frames raise WholeFile. Raises Rejected at once
    when no piece's headers can be read.
    """
    frames = _typed_stream(name, pieces, kind, supplied=supplied, session_starts=session_starts, tz=tz,
                           progress=progress, whole=whole)
    mapping = next(frames)
    assert isinstance(mapping, Mapping)
    return mapping, cast(Iterator[pl.DataFrame], frames)


def _typed_stream(
    name: str,
    pieces: Sequence[Callable[[], RawTable]],
    kind: str | None,
    *,
    supplied: dict[str, str] | None,
    session_starts: SessionStarts,
    tz: str,
    progress: Callable[[float], None] | None,
    whole: bool,
) -> Iterator[Mapping | pl.DataFrame]:
    """typed_pieces' work: the mapping once the headers are read, then the derived frames."""
    mapping: Mapping | None = None
    held: list[pl.DataFrame] = []  # typed pieces kept to be derived together
    holding = whole
    handed = False  # whether a frame was handed on
    seen: list[pl.Series] = []  # key hashes of the sales rows handed on, a series per piece
    shape: list[Problem] = []  # rows that cannot be read (as whole, these are reported before anything else)
    whole_file: Rejected | None = None  # the headers: no known kind, a missing column
    values: list[Problem] = []
    total = 0
    not_derived: list[Problem] = []  # sessions that end before they start (found piece by piece)
    # The key hashes of the pieces but the last few, sorted (None: one repeats) beside the typing of the last ones,
    # and how many pieces they are of.
    earlier: tuple[int, Future[np.ndarray | None]] | None = None
    # Unless read whole, each piece is derived in the thread that types it (the caller's thread then only writes).
    deriving = None if whole else _Deriving(name, session_starts, tz)
    with _PiecesAhead(pieces, kind, supplied, tz, deriving) as ahead:
        if len(pieces) > 1:  # the first pieces too, each finding the kind from the headers (the same in every one)
            ahead.fill(0, None)
        for number, piece in enumerate(pieces, start=1):
            outcome = ahead.take()
            if outcome is None:  # a lone piece, or any after headers of no known kind: read here
                outcome = _read_typed(piece, mapping, supplied, tz, kind=kind, typing=not (shape or whole_file),
                                      deriving=deriving)
            found = outcome.mapping is not None and mapping is None
            if found:
                mapping = outcome.mapping
            if mapping is not None:  # before the mapping is handed on: the caller then waits for the file's hash
                ahead.fill(number, mapping)
            if found:
                yield mapping  # the caller can now open what the frames go into
            if outcome.unreadable is not None:
                shape += outcome.unreadable.problems
                held.clear()
                continue
            # Once something is wrong, pieces are only looked through for unreadable rows.
            typed, wrong = (None, None) if shape or whole_file else (outcome.typed, outcome.wrong)
            derived = outcome.derived
            del outcome
            if wrong is not None:
                held.clear()
                found = [p for p in wrong.problems if not p.summary]
                if any(p.line in (None, 1) for p in found):
                    whole_file = wrong
                else:
                    values += found
                    total += wrong.total
            if typed is None or values:  # rejected already: only look on for problems
                pass
            elif holding:
                held.append(typed)
            else:
                assert derived is not None  # not holding, so not read whole: derived where it was typed
                if derived.across:
                    if handed:
                        raise WholeFile(name)
                    holding = True
                    held.append(typed)
                elif derived.rejected is not None:  # rows of this piece: reported with those of the others
                    not_derived += derived.rejected.problems
                elif not not_derived:
                    assert derived.frame is not None
                    seen += [] if derived.hashes is None else [derived.hashes]
                    handed = True
                    if number == len(pieces) - _SORTED_BEFORE_END and seen:
                        earlier = len(seen), ahead.submit(_sorted_unless_repeated, list(seen))
                    yield derived.frame
            del typed, derived  # let go of this piece before the next is read
            if progress:
                progress(number / len(pieces))
    if shape:
        shape.sort(key=lambda p: p.line or 0)
        raise Rejected(shape[:MAX_PROBLEMS])
    if whole_file is not None:
        raise whole_file
    if values:
        values.sort(key=lambda p: (p.line or 0, p.column or ""))
        raise Rejected(capped(name, values, total), total)
    if not_derived:
        raise Rejected(not_derived[:MAX_PROBLEMS])
    # A key in two pieces (rare): checked once, before the commit, mostly beside the typing of the last pieces.
    if len(seen) > 1 and _in_two(seen, earlier):
        raise WholeFile(name)
    assert mapping is not None
    if holding:
        frame = pl.concat(held, how="vertical") if len(held) > 1 else held[0]
        del held
        yield derive(name, mapping.kind, frame, session_starts, tz)


@dataclass(frozen=True)
class _Deriving:
    """What deriving a piece's rows on their own needs: the file's name, the sessions' starts, the zone. (A piece
    with times of day alone is derived with the others, never on its own: the starts are not asked for here.)"""

    name: str
    session_starts: SessionStarts
    tz: str


@dataclass
class _Derived:
    """A piece's typed rows derived on their own (`frame`, or the problems `rejected`), with the key hashes
    of its sales rows; or `across` when they cannot be (times of day alone, a key repeated within it)."""

    across: bool
    hashes: pl.Series | None = None
    frame: pl.DataFrame | None = None
    rejected: Rejected | None = None


def _derived(typed: pl.DataFrame, kind: str, deriving: _Deriving) -> _Derived:
    hashes = _key_hashes(typed) if kind == "sales" else None
    if _looks_across(kind, typed, hashes):
        return _Derived(True)
    try:
        return _Derived(False, hashes, derive(deriving.name, kind, typed, deriving.session_starts, deriving.tz,
                                              repeats=False))
    except Rejected as rejected:
        return _Derived(False, hashes, rejected=rejected)


@dataclass
class _Outcome:
    """One piece read and typed: its mapping when detected from it, its typed columns (and, when asked, its
    rows derived on their own), or what is wrong."""

    mapping: Mapping | None = None
    typed: pl.DataFrame | None = None
    unreadable: Rejected | None = None  # rows that cannot be read
    wrong: Rejected | None = None  # headers or values
    derived: _Derived | None = None


def _read_typed(piece: Callable[[], RawTable], mapping: Mapping | None, supplied: dict[str, str] | None, tz: str, *,
                kind: str | None = None, typing: bool = True, deriving: _Deriving | None = None) -> _Outcome:
    """Read one piece and type its columns (detecting the mapping when none is known yet); with `deriving`,
    derive its rows too, in the same thread (the caller's thread then only writes them)."""
    try:
        table = piece()
    except Rejected as rejected:
        return _Outcome(unreadable=rejected)
    if not typing:
        return _Outcome()
    try:
        mapping = mapping or read.detect(table, kind)
        typed = typed_columns(table, mapping, supplied=supplied, tz=tz)
    except Rejected as rejected:
        return _Outcome(mapping, wrong=rejected)
    del table
    return _Outcome(mapping, typed, derived=_derived(typed, mapping.kind, deriving) if deriving else None)


class _PiecesAhead:
    """The pieces after the one in hand, read and typed in a pool of threads, handed back in file order."""

    def __init__(self, pieces: Sequence[Callable[[], RawTable]], kind: str | None, supplied: dict[str, str] | None,
                 tz: str, deriving: _Deriving | None):
        self._pieces, self._kind, self._supplied, self._tz, self._deriving = pieces, kind, supplied, tz, deriving
        self._pool: ThreadPoolExecutor | None = None
        self._queued: deque[Future[_Outcome]] = deque()

    def __enter__(self) -> _PiecesAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        """Also when stopped early (a problem, the writer gone): pieces not begun are dropped, begun ones awaited."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def submit(self, work: Callable[..., _T], *args: object) -> Future[_T]:
        """Run `work` in the pool (its pieces all queued by then)."""
        self._pool = self._pool or ThreadPoolExecutor(PIECES_AHEAD, thread_name_prefix="relief-live piece")
        return self._pool.submit(work, *args)

    def take(self) -> _Outcome | None:
        """The next piece's outcome, when it was queued (its exception, if any, raised here)."""
        return self._queued.popleft().result() if self._queued else None

    def fill(self, done: int, mapping: Mapping | None) -> None:
        """Queue the pieces after the first `done` (and those already queued), up to PIECES_AHEAD (with no
        `mapping` yet, each piece detects its own)."""
        if len(self._pieces) <= done + len(self._queued):
            return
        self._pool = self._pool or ThreadPoolExecutor(PIECES_AHEAD, thread_name_prefix="relief-live piece")
        following = done + len(self._queued)
        for piece in self._pieces[following:following + PIECES_AHEAD - len(self._queued)]:
            self._queued.append(self._pool.submit(_read_typed, piece, mapping, self._supplied, self._tz,
                                                  kind=self._kind, deriving=self._deriving))


def _looks_across(kind: str, typed: pl.DataFrame, hashes: pl.Series | None) -> bool:
    """Whether a piece's rows cannot be derived on their own: times of day alone (placed in file order within
    their session) or a sales key that repeats within the piece (its rows' occurrences)."""
    if kind in ("ticks", "sales") and typed.select(_only_time_of_day(pl.col("ts")).any()).item():
        return True
    return hashes is not None and _repeats([hashes])


def _in_two(seen: list[pl.Series], earlier: tuple[int, Future[np.ndarray | None]] | None) -> bool:
    """Whether a key hash is in two of the pieces `seen` (none repeats within its own piece: _looks_across).
    With the hashes of the first pieces sorted already (`earlier`), those of the last few are checked among
    themselves and looked up among them (5-10 ms at 1M lines, against 25-35 ms to sort them all at the end)."""
    if earlier is None or earlier[1].cancelled() or not 0 < earlier[0] < len(seen):
        return _repeats(seen)
    ordered, last = earlier[1].result(), _sorted_unless_repeated(seen[earlier[0]:])
    if ordered is None or last is None:
        return True
    if len(ordered) == 0 or len(last) == 0:
        return False
    at = np.minimum(np.searchsorted(ordered, last), len(ordered) - 1)  # sorted needles: a third of the time
    return bool((ordered[at] == last).any())


def _sorted_unless_repeated(hashes: list[pl.Series]) -> np.ndarray | None:
    """These key hashes sorted, or None when one of them occurs twice. Sorted by polars in the calling thread (the
    pieces are typed two at a time already): numpy's sort took 3.5x as long on an AMD EPYC (Zen 4), 55 ms for a
    million hashes against 15 (on an Intel Xeon measured earlier numpy's was the faster)."""
    ordered = pl.concat(hashes).sort(multithreaded=False).to_numpy()
    return None if bool((ordered[1:] == ordered[:-1]).any()) else ordered


def _repeats(hashes: list[pl.Series]) -> bool:
    """Whether a key hash occurs twice among these (a piece's, or every piece's)."""
    return _sorted_unless_repeated(hashes) is None


def repeated(values: pl.Series) -> pl.Series:
    """The 64-bit hashes that occur more than once among `values` (each once), found by sorting (polars' sort on
    all cores: 0.17 s for 10M hashes where numpy's took 0.66 s on an AMD EPYC): a hash table of a million 64-bit
    key hashes (is_duplicated) takes ten times their memory and several times as long."""
    ordered = values.sort().to_numpy()
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    return pl.Series(values.name, np.unique(twice), dtype=values.dtype)


def typed_columns(
    table: RawTable,
    mapping: Mapping,
    *,
    supplied: dict[str, str] | None = None,
    tz: str = read.DEFAULT_TZ,
) -> pl.DataFrame:
    """Each column of the kind parsed and checked (the file's own values, before `derive`), or Rejected."""
    kind = mapping.kind
    supplied = {k: v for k, v in (supplied or {}).items() if v not in (None, "")}
    problems = _missing_columns(table, mapping, supplied)
    if problems:
        raise Rejected(problems)

    n = table.frame.height
    columns: dict[str, pl.Series] = {"line": table.lines.alias("line")}
    checks: list[Check] = []
    header_of = {canonical: table.headers[i] for canonical, i in mapping.columns.items()}
    unit_kg = read.const(None, n, pl.Float64)

    for f in schema.KINDS[kind]:
        product_of = schema.PRODUCT_OF.get((kind, f.name))
        if product_of is not None and not all(c in mapping.columns for c in product_of):
            product_of = None
        stand_in = schema.STANDS_IN.get((kind, f.name))
        source = f.name if f.name in mapping.columns or stand_in not in mapping.columns else stand_in
        header = header_of.get(source, f.name)
        if source in mapping.columns:
            cells = table.frame.get_column(f"c{mapping.columns[source]}").cast(pl.String)
            if f.name in supplied:
                cells = cells.str.strip_chars().replace("", None).fill_null(supplied[f.name])
        elif f.name in supplied:
            cells = read.const(supplied[f.name], n, pl.String)
        elif product_of is not None:  # a line's amount from its unit price and quantity
            columns[f.name] = _product(columns, product_of, read.const(None, n, pl.Int64))
            continue
        else:
            columns[f.name] = read.const(None, n, _raw_dtype(f.type))
            continue
        own = len(checks)
        if f.type == schema.UNIT:
            columns[f.name], unit_kg = read.parse_unit(cells)
        else:
            columns[f.name] = _parse(kind, f, cells, mapping.scales.get(f.name, 0), table.excel, tz, checks, header)
        if product_of is not None and columns[f.name].null_count():
            columns[f.name] = _product(columns, product_of, columns[f.name])
        if f.required and columns[f.name].null_count():
            # Every parser gives a value, or marks the cell bad, for each cell with more than spaces in it:
            # a null value not marked bad is an empty cell (found without stripping the cells again).
            empty = columns[f.name].is_null()
            for _, _, mask, _, _ in checks[own:]:
                empty = empty & ~mask.fill_null(False)
            checks.append((f.name, header, empty, "empty_required", {}))

    for (of_kind, text), kg in schema.WEIGHTS.items():
        if of_kind != kind:
            continue
        cells = (table.frame.get_column(f"c{mapping.columns[text]}").cast(pl.String) if text in mapping.columns
                 else read.const(None, n, pl.String))
        weight, bad_weight = read.parse_weight(cells)
        columns[kg] = unit_kg.fill_null(weight) if kind == "stock" else weight  # a stock unit may carry its weight
        checks.append((text, header_of.get(text, text), _unmarked(cells, bad_weight), "not_a_weight", {}))

    if kind == "sales":  # what the rows stand for: order lines, or an export's totals (schema.BASES)
        basis = next((shape.basis for shape in schema.EXPORT_SHAPES if shape.name == mapping.shape), None)
        columns["basis"] = read.const(basis, n, pl.String)
    frame = pl.DataFrame([s.alias(name) for name, s in columns.items()])
    problems, total = _collect(table, mapping, frame, checks)
    if problems:
        raise Rejected(capped(table.name, problems, total), total)
    return frame


def _product(columns: dict[str, pl.Series], of: tuple[str, str], given: pl.Series) -> pl.Series:
    """`given`, its empty cells filled with the product of the two columns `of` (money: fen, rounded half up)."""
    a, b = columns[of[0]], columns[of[1]]
    product = (a.cast(pl.Float64) * b).round(0, mode="half_away_from_zero").cast(pl.Int64)
    return given.fill_null(product)


def capped(name: str, problems: list[Problem], total: int) -> list[Problem]:
    """The first MAX_PROBLEMS problems, and a last line saying how many more there are."""
    if total <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS],
            Problem(name, None, None, "more", summary=True, fields={"n": total - MAX_PROBLEMS})]


def _raw_dtype(type_: str) -> pl.DataType:
    if type_ in (schema.COUNT, schema.MONEY, schema.TIME, schema.DURATION):
        return pl.Int64()
    if type_ == schema.QTY:
        return pl.Float64()
    if type_ == schema.DATE:
        return pl.Date()
    return pl.String()


def _parse(kind: str, f: schema.Field, cells: pl.Series, scale: int, excel: bool, tz: str,
           checks: list[Check], header: str) -> pl.Series:
    """The values of one column, appending its checks."""
    t = f.type
    if t in (schema.COUNT, schema.QTY, schema.MONEY):
        value, bad, negative = read.parse_number(cells, scale=scale, kind=t)
        bad = _unmarked(cells, bad)
        checks.append((f.name, header, bad, _NUMBER, {"type": t}))
        checks.append((f.name, header, negative, "negative", {}))
        return value
    if t in (schema.TIME, schema.DATE):
        ms, tod, bad = read.parse_time(cells, tz=tz, excel=excel)  # (an empty mark is empty, not bad, there)
        low, high = ms.min(), ms.max()
        if low is not None and (cast(int, low) < read.EARLIEST_MS or cast(int, high) > read.LATEST_MS):
            far = ms.is_not_null() & ((ms < read.EARLIEST_MS) | (ms > read.LATEST_MS))
            checks.append((f.name, header, far, "far_time", {}))
            ms = pl.select(pl.when(~pl.lit(far)).then(pl.lit(ms))).to_series()
        of_day = tod.null_count() < len(tod)  # a cell gives a time of day alone
    if t == schema.TIME:
        if (kind, f.name) in _TIME_OF_DAY_OK:
            checks.append((f.name, header, bad, "not_a_time", {}))
            # A time of day alone is kept as ms since midnight + _TIME_OF_DAY_BASE until _derive places it.
            return ms.fill_null(tod + _TIME_OF_DAY_BASE) if of_day else ms
        checks.append((f.name, header, bad | tod.is_not_null() if of_day else bad, "not_a_time", {}))
        return ms
    if t == schema.DATE:
        checks.append((f.name, header, bad | tod.is_not_null() if of_day else bad, "not_a_date", {}))
        return ms.cast(pl.Datetime("ms")).dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.date()
    if t == schema.DURATION:
        value, bad = read.parse_duration(cells)
        bad = _unmarked(cells, bad)
        checks.append((f.name, header, bad, "not_a_duration", {}))
        return value
    if t == schema.HOST_KIND:
        value, bad = read.parse_vocab(cells, schema.HOST_KINDS)
        bad = _unmarked(cells, bad)
        checks.append((f.name, header, bad, "not_a_host_kind", {}))
        return value
    if t == schema.ID:
        value, bad = read.parse_id(cells)
        checks.append((f.name, header, bad, "scientific_id", {}))
        return value
    if t == schema.STATUS:
        value, bad = read.parse_status(cells, schema.STATUS_VOCABULARIES[f.name])
        checks.append((f.name, header, bad, "unknown_status", {"known": list(schema.STATUS_VOCABULARIES[f.name])[:8]}))
        return value
    text = read.parse_text(cells)
    if t == schema.PLATFORM:
        value, _ = read.parse_vocab(cells, schema.PLATFORMS)
        return value.fill_null(text.str.to_lowercase())
    return text


def _unmarked(cells: pl.Series, bad: pl.Series) -> pl.Series:
    """`bad` without the cells that are empty marks (`-`): those are empty (their value is null). Looked at only
    when a cell is bad, and only the bad cells (a few `-` in a column of prices, say)."""
    if not bad.any():
        return bad
    bad = bad.fill_null(False)
    return bad.scatter(bad.arg_true(), ~read.is_empty_mark(cells.filter(bad)))


def _collect(table: RawTable, mapping: Mapping, frame: pl.DataFrame, checks: list[Check]) -> tuple[list[Problem], int]:
    """Problems of the failed checks, in line order (up to MAX_PROBLEMS of each), and how many there are."""
    problems: list[Problem] = []
    total = 0
    for canonical, header, mask, key, fields in checks:
        if not mask.any():  # no cell marked (nulls are not)
            continue
        bad = mask.fill_null(False)
        total += int(bad.sum())
        position = mapping.columns.get(canonical)
        values = table.frame.get_column(f"c{position}").filter(bad) if position is not None else None
        lines = frame.get_column("line").filter(bad)
        for j in range(min(len(lines), MAX_PROBLEMS)):
            value = values[j] if values is not None else None
            said = read.number_message(value or "", fields["type"]) if key == _NUMBER else key
            problems.append(Problem(table.name, int(lines[j]), header, said, value,
                                    fields={} if key == _NUMBER else fields))
    problems.sort(key=lambda p: (p.line or 0, p.column or ""))
    return problems, total


def _missing_columns(table: RawTable, mapping: Mapping, supplied: dict[str, str]) -> list[Problem]:
    problems = []
    for f in schema.KINDS[mapping.kind]:
        product_of = schema.PRODUCT_OF.get((mapping.kind, f.name), ())
        if product_of and all(c in mapping.columns for c in product_of):
            continue
        if schema.STANDS_IN.get((mapping.kind, f.name)) in mapping.columns:
            continue
        if f.required and f.name not in mapping.columns and f.name not in supplied:
            how = {"session_id": Phrase("how_session", {}), "host_kind": Phrase("how_host_kind", {})}.get(f.name)
            problems.append(Problem(table.name, 1, f.name, "missing_column", fields={
                "kind": mapping.kind, "canonical": f.name, "aliases": list(f.aliases[:5]), "how": how,
                "near": _near_miss(mapping, f.name)}))
    if (mapping.kind == "sessions" and "session_id" in supplied and "session_id" not in mapping.columns
            and table.frame.height > 1):
        problems.append(Problem(table.name, None, "session_id", "sessions_one_id", fields={"n": table.frame.height}))
    if mapping.kind == "ticks" and not any(c in mapping.columns for c in schema.TICK_MEASURES):
        problems.append(Problem(table.name, 1, None, "no_measure"))
    return problems


def _near_miss(mapping: Mapping, column: str) -> Phrase | None:
    """"; did you mean …" when a header the file's kind does not know is a near miss of one of `column`'s."""
    for header in mapping.unknown:
        alias = schema.suggest_header(mapping.kind, header, [column])
        if alias is not None:
            return Phrase("near_miss", {"alias": alias, "header": header})
    return None


def derive(name: str, kind: str, frame: pl.DataFrame, session_starts: SessionStarts,
           tz: str, *, repeats: bool | None = None) -> pl.DataFrame:
    """Columns computed from others: ended_at from duration, dates of time-of-day ticks, occurrences of sales keys.

    `repeats=False` says that no sales key repeats in the file (known from its pieces' key hashes).
    """
    if kind == "sessions":
        frame = frame.with_columns(
            ended_at=pl.coalesce("ended_at", pl.col("started_at") + pl.col("duration") * 1000)
        ).drop("duration")
        bad = frame.filter(pl.col("ended_at") < pl.col("started_at"))
        if bad.height:
            raise Rejected([Problem(name, int(r["line"]), "ended_at", "ends_before_start")
                            for r in bad.head(MAX_PROBLEMS).iter_rows(named=True)])
    if kind in ("ticks", "sales"):
        frame = _place_times_of_day(name, frame, session_starts, tz)
    if kind == "sales":
        frame = _line_status(frame).with_columns(occ=_occurrence(frame, repeats))
    if kind in ("stock", "catalogue"):
        frame = frame.drop(schema.DROPPED[kind])
    return frame


# Times of day alone are held, until placed on their session's date, this far below any time a file can give
# (epoch ms of the years 1 to 9999 are within ±2.6e14), so that a real time before 1970 is never taken for one.
_TIME_OF_DAY_BASE: Final = -(2**62)


def _only_time_of_day(ts: pl.Expr) -> pl.Expr:
    return ts < _TIME_OF_DAY_BASE + 86_400_000


def _place_times_of_day(name: str, frame: pl.DataFrame, session_starts: SessionStarts,
                        tz: str) -> pl.DataFrame:
    """Put `19:01`-only times on their session's start date, rolling over midnight."""
    tod = _only_time_of_day(pl.col("ts"))
    if frame.select(tod.fill_null(False).any()).item() is False:
        return frame
    starts = session_starts() if callable(session_starts) else session_starts
    if starts is None:
        starts = pl.DataFrame(schema={"session_id": pl.String, "started_at": pl.Int64})
    joined = frame.with_row_index("__i").join(
        starts.select("session_id", pl.col("started_at").alias("__start")), on="session_id", how="left"
    ).sort("__i")
    missing = joined.filter(tod & pl.col("__start").is_null())
    if missing.height:
        first = missing.row(0, named=True)
        raise Rejected([Problem(name, int(first["line"]), "ts", "time_of_day_only",
                                fields={"session": first["session_id"]})])
    start = pl.col("__start").cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(tz)
    midnight = start.dt.truncate("1d").dt.epoch("ms")
    day_ms = pl.col("ts") - _TIME_OF_DAY_BASE
    # Within each session, in file order, a time earlier than the one before it is the next day.
    rolled = (day_ms < day_ms.shift(1)).fill_null(False).cast(pl.Int64).cum_sum().over("session_id")
    first_late = ((midnight + day_ms.first()) < pl.col("__start") - 12 * 3_600_000).cast(pl.Int64).over("session_id")
    placed = midnight + day_ms + (rolled + first_late) * 86_400_000
    only_tod = joined.filter(tod).with_columns(ts=placed)
    rest = joined.filter(~tod.fill_null(False) | pl.col("ts").is_null())
    return pl.concat([rest, only_tod]).sort("__i").drop("__i", "__start")


def _line_status(frame: pl.DataFrame) -> pl.DataFrame:
    """A sales line's `status` (schema.LINE_STATUSES) from its order and after-sale statuses, and its refund: a
    closed or fully refunded line that was paid is `refunded` (its whole amount refunded), one never paid
    `cancelled`; a refund smaller than the amount is a partial refund of a sale. A refund of the whole amount
    refunds the line whatever its order status says (微信小店 gives a line's refund, not its after-sale status,
    on an order still 已完成). Without status columns every line is a sale (status null)."""
    dropped = [c for c in schema.DROPPED["sales"] if c in frame.columns]
    statuses = frame.select("order_status", "after_sale")
    if statuses.null_count().row(0) == (frame.height, frame.height):  # the usual hand-made file: no statuses
        return frame.drop(dropped).with_columns(status=read.const(None, frame.height, pl.String))
    order, after, refund, amount = pl.col("order_status"), pl.col("after_sale"), pl.col("refund"), pl.col("amount")
    partial = (after == "refunded") & refund.is_not_null() & (refund < amount)
    whole = (refund > 0) & (refund >= amount)
    closed = (order.is_in(["closed", "refunded"]) | ((after == "refunded") & ~partial) | whole).fill_null(False)
    paid = (pl.col("paid_at").is_not_null() | (order == "refunded") | (after == "refunded")
            | (refund > 0)).fill_null(False)
    status = (pl.when(order == "unpaid").then(pl.lit("cancelled"))
              .when(closed & paid).then(pl.lit("refunded"))
              .when(closed).then(pl.lit("cancelled"))
              .otherwise(pl.lit("sale")))
    return frame.with_columns(status=status).with_columns(
        refund=pl.when(pl.col("status") == "refunded").then(amount).otherwise(refund)).drop(dropped)


def _key_hashes(frame: pl.DataFrame) -> pl.Series:
    """One 64-bit hash of each sales row's key without its occurrence (no copy of the rows)."""
    return frame.select(sales_key_hash(SALES_BY_ORDER, SALES_BY_FIELDS).alias("h")).to_series()


def sales_key_hash(by_order: Sequence[str], by_fields: Sequence[str]) -> pl.Expr:
    """A sale's key hashed to 64 bits: its `by_order` columns where it has an order id, else its `by_fields`."""
    return (pl.when(pl.col("order_id").is_not_null()).then(pl.struct(by_order).hash(1))
            .otherwise(pl.struct(by_fields).hash(2)))


# A sale's key (docs/store.md) but its occurrence: by order id where it has one, else by its fields.
SALES_BY_ORDER: Final = ("order_id", "line_id", "product")
SALES_BY_FIELDS: Final = ("session_id", "product", "village", "ts")


def _occurrence(frame: pl.DataFrame, repeats: bool | None = None) -> pl.Series:
    """A sales row's occurrence among rows with the same key in its file (0, 1, …)."""
    if repeats is None:
        # Whether any key repeats, from the key hashes: a collision only sends the file down the exact path below.
        repeats = _repeats([_key_hashes(frame)])
    if not repeats:  # the usual export: every key once
        return read.const(0, frame.height, pl.Int64).alias("occ")
    return frame.select(
        pl.when(pl.col("order_id").is_not_null()).then(pl.int_range(pl.len()).over(SALES_BY_ORDER))
        .otherwise(pl.int_range(pl.len()).over(SALES_BY_FIELDS)).cast(pl.Int64).alias("occ")
    ).to_series()
