"""The report after new batches, from the previous report: only the groups the new and replaced rows touch."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Final

import polars as pl

from relief_live.metrics.catalogue import catalogued, channel_sums, moved_channels, moved_routes, route_sums
from relief_live.metrics.common import TIME, conform, without_rows
from relief_live.metrics.report import Report, build_report, totals_of
from relief_live.metrics.sessions import (
    LIVE_MINUTES,
    SESSION_COLUMNS,
    HostKinds,
    _live,
    host_kind_table,
    host_kinds_moved,
    host_kinds_of,
    place_sales,
    sales_stats,
    session_metrics,
    settle_totals,
)
from relief_live.metrics.villages import (
    PACE_DAYS,
    UNATTRIBUTED,
    VILLAGE_COLUMNS,
    _apart,
    _attributed,
    _in_window,
    baseline_of,
    finish_villages,
    latest_sale,
    per_row_sums,
    resolver_of,
    village_metrics,
)

# Per-(village, product) sums that are additive over sales lines: refreshed by adding the new lines'
# part and subtracting the part of the lines they replaced.
ADDITIVE: Final[tuple[str, ...]] = (
    "sold_qty", "sold_value", "sales_rows", "unconvertible_rows", "unconvertible_value", "refunded_value",
    "before_baseline_rows", "before_baseline_value",
)
_ID: Final = "session_id"
_PAIR: Final = ["village", "product"]
_MOST_PIECES: Final = 64  # a spliced table in more chunks than this is made one again
_FEW_IDS: Final = 64  # sessions of one start time searched in Python, not by polars
_ENTRY: Final = ["batch", "line", "at"]  # a line's entry in the pace window (a redated line gets a new one)
_WINDOW_SCHEMA: Final = {"batch": pl.Int64, "line": pl.Int64, "at": TIME, "b_row": pl.UInt32, "wqty": pl.Float64}


@dataclass(frozen=True)
class Window:
    """The pace window (the PACE_DAYS that end at the latest sale, `end`) kept as running sums per baseline row,
    with the lines inside it in chunks sorted by time: when `end` moves on, the lines that leave the window
    are a prefix of each chunk, found by a search, not by a pass over the history. `dead` names the entries
    whose line was replaced or re-dated since it entered (already taken out of the sums)."""

    end: datetime | None
    sums: pl.DataFrame  # b_row, window_qty, lines
    chunks: tuple[pl.DataFrame, ...]  # columns of _WINDOW_SCHEMA, each chunk sorted by `at`
    dead: pl.DataFrame  # batch, line, at


@dataclass(frozen=True)
class Baselines:
    """The latest baseline rows (villages.baseline_of) and what attributes sales lines to them
    (villages.resolver_of): they follow the stock alone, so a refresh without a stock change keeps them."""

    rows: pl.DataFrame
    resolver: pl.DataFrame

    @classmethod
    def of(cls, stock: pl.DataFrame) -> Baselines:
        rows = baseline_of(stock)
        return cls(rows, resolver_of(rows))


@dataclass(frozen=True)
class Carry:
    """What a refresh needs of the held sales besides the new and replaced lines, so that it does not read
    them all again: the per-session sums of sales lines, the latest sale time, the lines without a time (they
    follow their session's start), and the pace window; and the host kinds' sums and median values, so that
    they move by the recomputed sessions rather than being grouped again from every session."""

    per_sales: pl.DataFrame  # sessions.sales_stats of the held sales, sorted by session_id (found by a search)
    ts_max: datetime | None  # the latest `ts` of the held sales
    undated: pl.DataFrame  # the held sales lines whose ts is null
    window: Window
    kinds: HostKinds  # sessions.host_kinds_of the report's sessions
    started: pl.DataFrame  # session_id, started_at of the report's sessions, sorted by session_id (found by a search)
    baselines: Baselines
    # The held sales as placed in their sessions and matched to the catalogue (place_sales, catalogued), when some
    # line named no session or no village: a refresh adds the new lines' placement rather than placing every
    # held line again (the sessions and the catalogue being unchanged, so is each held line's placement).
    placed: pl.DataFrame | None = None


def cold_report(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, stock: pl.DataFrame,
                catalogue: pl.DataFrame | None = None, *, now: datetime, live_minutes: float = LIVE_MINUTES) -> Report:
    """build_report holding its Carry (with_carry): the report a refresh_report starts from. The sales lines
    are grouped per session once for both (sales_stats: 0.4 s at 10M lines, 5% of the cold report)."""
    sales = settle_totals(place_sales(conform(sales, "sales"), conform(sessions, "sessions")))
    catalogue = conform(catalogue, "catalogue") if catalogue is not None else None
    sales, route = catalogued(sales, catalogue)
    per_sales = sales_stats(sales)
    report = build_report(sessions, ticks, sales, stock, now=now, live_minutes=live_minutes, per_sales=per_sales)
    return with_carry(replace(report, routes=route_sums(sales, route), channels=channel_sums(sales)), sales, stock,
                      per_sales)


def with_carry(report: Report, sales: pl.DataFrame, stock: pl.DataFrame, per_sales: pl.DataFrame) -> Report:
    """`report` (build_report of frames with these sales and stock) holding its Carry: one pass over the sales,
    paid once, so that each later refresh_report costs what the new rows cost. `per_sales`: sales_stats(sales)."""
    sales, stock = conform(sales, "sales"), conform(stock, "stock")
    started = report.sessions.select(_ID, "started_at").sort(_ID)
    undated = sales.filter(pl.col("ts").is_null())
    ts_max = sales.get_column("ts").max()
    latest = _later(ts_max, latest_sale(undated, started))  # type: ignore[arg-type]
    baselines = Baselines.of(stock)
    loose = sales.get_column(_ID).null_count() > 0 or report.routes.height > 0  # placed or catalogued lines
    carry = Carry(per_sales.sort(_ID), ts_max, undated,  # type: ignore[arg-type]
                  _window_of(sales, baselines, started, latest), host_kinds_of(report.sessions), started, baselines,
                  sales if loose else None)
    return replace(report, carry=carry)


@dataclass(frozen=True)
class Changes:
    """What one refresh of the frames did, per kind: the rows of new batches laid over the held frames
    (`new`) and the held rows they replaced (`replaced`, a later value for an existing key). A kind absent
    from `new` did not change. `full` means the frames were read again (a retraction): no splice."""

    new: dict[str, pl.DataFrame] = field(default_factory=dict)
    replaced: dict[str, pl.DataFrame] = field(default_factory=dict)
    full: bool = False


def at_time(report: Report, now: datetime, live_minutes: float) -> Report:
    """`report` with each session's `live` flag as at `now` (the only part of a report that follows the clock)."""
    sessions = report.sessions.with_columns(live=_live(now, live_minutes))
    return replace(report, sessions=sessions)


def refresh_report(previous: Report, frames: dict[str, pl.DataFrame], changes: Changes, *,
                   now: datetime, live_minutes: float = LIVE_MINUTES) -> Report:
    """The report of `frames` (the held frames after `changes`), equal to build_report over them.

    Sessions named by a new or replaced row (of sessions, ticks or sales) are recomputed from their own
    rows and spliced in; host kinds move by those sessions' rows before and after; totals are summed again. Villages move by
    the sums of the new sales lines minus those of the replaced ones (lines whose time is their session's
    start are counted again when that start moved); the pace window, which ends at the latest sale, is
    recomputed from the lines inside it. A stock change rebuilds the villages; a full re-read, everything.
    """
    sessions, ticks = conform(frames["sessions"], "sessions"), conform(frames["ticks"], "ticks")
    sales, stock = conform(frames["sales"], "sales"), conform(frames["stock"], "stock")
    catalogue = conform(frames["catalogue"], "catalogue") if "catalogue" in frames else None
    carry = previous.carry
    # Lines without a session take theirs from the sessions (place_sales): a change of sessions may move them.
    sessionless = sales.get_column(_ID).null_count() > 0
    if (changes.full or not isinstance(carry, Carry)
            or (sessionless and ("sessions" in changes.new or "sessions" in changes.replaced))
            or "catalogue" in changes.new or "catalogue" in changes.replaced):  # a catalogue moves lines anywhere
        return cold_report(sessions, ticks, sales, stock, catalogue, now=now, live_minutes=live_minutes)
    new = {kind: conform(frame, kind) for kind, frame in changes.new.items()}
    gone = {kind: conform(frame, kind) for kind, frame in changes.replaced.items()}
    routes, channels = previous.routes, previous.channels
    if _totals_touched(sales, sessions, new, gone):  # whether totals count depends on the session's other lines
        return cold_report(sessions, ticks, sales, stock, catalogue, now=now, live_minutes=live_minutes)
    for part in (new, gone):
        if "sales" in part:
            part["sales"], route = catalogued(place_sales(part["sales"], sessions), catalogue)
            part["routes"], part["channels"] = route_sums(part["sales"], route), channel_sums(part["sales"])
    if "routes" in new or "routes" in gone:
        routes = moved_routes(routes, new.pop("routes", routes.clear()), gone.pop("routes", routes.clear()))
        channels = moved_channels(channels, new.pop("channels", channels.clear()),
                                  gone.pop("channels", channels.clear()))
    new_sales, gone_sales = new.get("sales", sales.clear()), gone.get("sales", sales.clear())
    placed = None
    # New lines neither are a session's product totals nor fall in a session that has some (_totals_touched): the
    # held lines' settled totals stand.
    if carry.placed is not None and "stock" not in new:  # a stock change reads every line: in the frames' order
        placed = carry.placed
        if gone_sales.height:
            placed = placed.join(gone_sales.select("batch", "line"), on=["batch", "line"], how="anti",
                                 maintain_order="left")
        if new_sales.height:
            placed = pl.concat([placed, new_sales], how="vertical")
        sales = placed
    else:
        sales = settle_totals(catalogued(place_sales(sales, sessions), catalogue)[0])
        if sales.get_column(_ID).null_count() or (catalogue is not None and catalogue.height):
            placed = sales

    touched = _touched_sessions(new, gone)
    per_sales = _per_sales(carry.per_sales, sales, new_sales, gone_sales)
    per_session, before, after, started = _splice_sessions(
        previous.sessions, carry.started, sessions, ticks, sales, per_sales, touched, now=now, live_minutes=live_minutes)
    moved = _moved_starts(before, after)
    undated = carry.undated
    if new_sales.height or gone_sales.height:
        undated = pl.concat([_without(undated, gone_sales), new_sales.filter(pl.col("ts").is_null())],
                            how="vertical")
    ts_max = _ts_max(carry.ts_max, sales, new_sales, gone_sales)
    latest = _later(ts_max, latest_sale(undated, _of_ids(started, undated.get_column(_ID))))
    baselines = carry.baselines
    if "stock" in new:
        villages, unattributed, unconvertible = village_metrics(sales, stock, started)
        baselines = Baselines.of(stock)
        window = _window_of(sales, baselines, started, latest)
    elif new_sales.height or gone_sales.height or moved.len():
        # Held lines dated by a session start that moved: out at their old time, in at the new one.
        redated = (undated.filter(pl.col(_ID).is_in(moved.implode())).join(
            new_sales.select("batch", "line"), on=["batch", "line"], how="anti") if moved.len() else sales.clear())
        villages, unattributed, unconvertible, window = _splice_villages(
            previous, carry.window, sales, baselines, new_sales, gone_sales, redated,
            carry.started, started, latest)
    else:
        villages, unattributed, unconvertible = previous.villages, previous.unattributed, previous.unconvertible
        window = carry.window
    kinds = host_kinds_moved(carry.kinds, before, after)
    return Report(totals_of(per_session, villages), per_session, host_kind_table(kinds),
                  villages, unattributed, unconvertible,
                  Carry(per_sales, ts_max, undated, window, kinds, started, baselines, placed), routes, channels)


def _totals_touched(sales: pl.DataFrame, sessions: pl.DataFrame, new: dict[str, pl.DataFrame],
                    gone: dict[str, pl.DataFrame]) -> bool:
    """Whether new or replaced sales lines are a session's product totals (schema.BASES) or lines of a session that
    has some: those totals count or not by the session's other lines (settle_totals), which a splice cannot see."""
    totals = sales.filter(pl.col("basis").is_not_null()).get_column(_ID).drop_nulls().unique()
    for part in (new, gone):
        if "sales" not in part:
            continue
        if part["sales"].get_column("basis").is_not_null().any():
            return True
        if totals.len() and place_sales(part["sales"], sessions).get_column(_ID).is_in(totals.implode()).any():
            return True
    return False


def _touched_sessions(new: dict[str, pl.DataFrame], gone: dict[str, pl.DataFrame]) -> pl.Series:
    """Session ids named by any new or replaced row of sessions, ticks or sales."""
    ids = [frame.get_column(_ID) for part in (new, gone) for kind, frame in part.items()
           if kind in ("sessions", "ticks", "sales")]
    if not ids:
        return pl.Series(_ID, [], pl.String)
    return pl.concat(ids).drop_nulls().unique()


def _splice_sessions(previous: pl.DataFrame, started: pl.DataFrame, sessions: pl.DataFrame, ticks: pl.DataFrame,
                     sales: pl.DataFrame, per_sales: pl.DataFrame, touched: pl.Series, *, now: datetime,
                     live_minutes: float) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The sessions table with the touched sessions recomputed from their rows (their sales lines through
    `per_sales`), `live` as at `now`; the touched sessions' rows before and after; and `started` (the
    sessions' starts by id) after."""
    held = _places(started.get_column(_ID), touched)
    at = _table_places(previous, started[held])
    before, kept = previous[at], without_rows(previous, at)
    after = previous.clear()
    if touched.len():
        wanted = pl.col(_ID).is_in(touched.implode())
        fresh = session_metrics(sessions.filter(wanted), ticks.filter(wanted), sales, now=now,
                                live_minutes=live_minutes, per_sales=_of_ids(per_sales, touched))
        after = fresh.select(pl.col(name).cast(dtype) for name, dtype in SESSION_COLUMNS.items())
        kept = _insert_sorted(kept, after)
    started = _insert_by_id(without_rows(started, held), after.select(_ID, "started_at"))
    # One chunk: the splice leaves one more after each refresh, and every later read of the table (`live` as at
    # the clock, the alert rules' filters) costs a pass per chunk.
    return kept.rechunk().with_columns(live=_live(now, live_minutes)), before, after, started


def _table_places(table: pl.DataFrame, rows: pl.DataFrame, *, few: int = 32) -> pl.Series:
    """The sorted positions in the sessions `table` (sorted by started_at, then session_id, nulls last) of
    the sessions `rows` (session_id, started_at as the table holds them): a search for each of a few."""
    if rows.height > few:
        return table.get_column(_ID).is_in(rows.get_column(_ID).implode()).arg_true()
    return pl.Series(sorted(_start_places(table, rows)), dtype=pl.UInt32)


def _start_places(table: pl.DataFrame, rows: pl.DataFrame) -> list[int]:
    """For each of `rows` (session_id, started_at), in their order, the first place in the sessions `table`
    (sorted by started_at, then session_id, nulls last) not before it: its position, when the table holds it."""
    ids, starts = table.get_column(_ID), table.get_column("started_at")
    dated = starts[:table.height - starts.null_count()]  # the rows after these have no start
    given = rows.get_column("started_at")
    los, his = dated.search_sorted(given, side="left").to_list(), dated.search_sorted(given, side="right").to_list()
    places = []
    for sid, start, lo, hi in zip(rows.get_column(_ID).to_list(), given.to_list(), los, his, strict=True):
        if start is None:
            lo, hi = dated.len(), table.height
        # Among equal starts, by id: a few ids (a polars call costs more than a search of a short list).
        if hi - lo <= _FEW_IDS:
            places.append(lo + bisect.bisect_left(ids.slice(lo, hi - lo).to_list(), sid))  # ids are never null
        else:
            places.append(lo + ids.slice(lo, hi - lo).search_sorted(sid, side="left"))
    return places


def _of_ids(table: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The rows of `table` (sorted by session_id) of the sessions `ids`."""
    return table[_places(table.get_column(_ID), ids)]


def _insert_sorted(held: pl.DataFrame, fresh: pl.DataFrame, *, few: int = 32) -> pl.DataFrame:
    """`held` (sorted by started_at, then session_id, nulls last) with the `fresh` rows in their places: a
    search for each of a few rows instead of a sort of every session."""
    order = {"by": ["started_at", _ID], "nulls_last": True}
    if fresh.height > few or held.height == 0:
        return pl.concat([held, fresh], how="vertical").sort(**order)  # type: ignore[arg-type]
    fresh = fresh.sort(**order)  # type: ignore[arg-type]
    return _splice_in(held, fresh, _start_places(held, fresh))


def _splice_in(held: pl.DataFrame, fresh: pl.DataFrame, places: list[int]) -> pl.DataFrame:
    """`held` with each row of `fresh` put before the held row at its place (places in order): slices of
    `held` between them, not a copy; made one piece again when the pieces grow too many."""
    parts, done = [], 0
    for row, place in enumerate(places):
        parts += [held.slice(done, place - done), fresh.slice(row, 1)]
        done = place
    parts.append(held.slice(done))
    out = pl.concat(parts, how="vertical", rechunk=False)
    return out.rechunk() if out.n_chunks() > _MOST_PIECES else out


def _moved_starts(before: pl.DataFrame, after: pl.DataFrame) -> pl.Series:
    """Sessions whose started_at changed (or that appeared or went away), from their rows before and after."""
    both = before.select(_ID, old="started_at").join(after.select(_ID, new="started_at"), on=_ID, how="full",
                                                     coalesce=True)
    return both.filter(pl.col("old").ne_missing(pl.col("new"))).get_column(_ID)


def _splice_villages(previous: Report, window: Window, sales: pl.DataFrame, baselines: Baselines,
                     new: pl.DataFrame, gone: pl.DataFrame, redated: pl.DataFrame, started_before: pl.DataFrame,
                     started: pl.DataFrame, latest: datetime | None,
                     ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, Window]:
    """Villages after sales changes (stock unchanged): additive sums moved by the changed lines, the pace
    window slid to the latest sale."""
    baseline = baselines.rows
    # Each changed line is attributed once: the lines that came (new, and re-dated ones at their new time) as
    # the sessions now start, those that went (replaced, and re-dated ones at their old time) as they started.
    came = _Lines.of(pl.concat([new, redated], how="vertical"), baselines, started)
    went = _Lines.of(pl.concat([gone, redated], how="vertical"), baselines, started_before)
    plus, minus = _sums(came, baseline), _sums(went, baseline)
    delta = plus.join(minus, on=_PAIR, how="full", coalesce=True, suffix="_gone").select(
        *_PAIR, *((pl.col(c).fill_null(0) - pl.col(f"{c}_gone").fill_null(0)).alias(f"{c}_delta")
                  for c in ADDITIVE))
    sums = previous.villages.select(*_PAIR, *ADDITIVE).join(delta, on=_PAIR, how="left").select(
        *_PAIR, *((pl.col(c) + pl.col(f"{c}_delta").fill_null(0)).alias(c) for c in ADDITIVE))
    sums = sums.join(_last_sales(previous.villages, plus, minus, sales, baselines, started), on=_PAIR, how="left")
    window = _slide(window, sales, baselines, went, came, started, latest)
    villages = finish_villages(baseline.join(sums, on=_PAIR, how="left"),
                               window.sums.select("b_row", "window_qty"), latest)
    unattributed = _apart_update(previous.unattributed, came.head(new.height), gone, baseline, unconvertible=False)
    # Whether a line is unconvertible depends on whether it is counted, so on its time: redated lines again.
    unconvertible = _apart_update(previous.unconvertible, came, went.rows, baseline, unconvertible=True)
    return villages, unattributed, unconvertible, window


@dataclass(frozen=True)
class _Lines:
    """Sales lines, and each one's attribution (villages._attributed: `row` is its index in `rows`)."""

    rows: pl.DataFrame
    attributed: pl.DataFrame

    @classmethod
    def of(cls, rows: pl.DataFrame, baselines: Baselines, started: pl.DataFrame) -> _Lines:
        return cls(rows, _attributed(rows, baselines.resolver, started))

    def head(self, n: int) -> _Lines:
        """The first n lines."""
        return _Lines(self.rows.head(n), self.attributed.filter(pl.col("row") < n))


def _sums(lines: _Lines, baseline: pl.DataFrame) -> pl.DataFrame:
    """The additive per-(village, product) sums of `lines`, as village_metrics counts them, and their last_sale."""
    per_row = per_row_sums(lines.attributed)
    return baseline.select("b_row", *_PAIR).join(per_row, on="b_row", how="inner").select(
        *_PAIR, *(pl.col(c).cast(VILLAGE_COLUMNS[c]) for c in (*ADDITIVE, "last_sale")))


def _last_sales(held: pl.DataFrame, plus: pl.DataFrame, minus: pl.DataFrame, sales: pl.DataFrame,
                baselines: Baselines, started: pl.DataFrame) -> pl.DataFrame:
    """Each pair's last_sale after a change: the later of the held one and the lines that came; a pair whose
    held last sale went (a replaced or re-dated line held it) is read again from its lines alone."""
    moved = (held.select(*_PAIR, "last_sale")
             .join(plus.select(*_PAIR, came="last_sale"), on=_PAIR, how="left")
             .join(minus.select(*_PAIR, went="last_sale"), on=_PAIR, how="left")
             .with_columns(last_sale=pl.max_horizontal("last_sale", "came"),
                           again=(pl.col("went") >= pl.col("last_sale")).fill_null(False)))
    again = moved.filter("again")
    if again.height == 0:
        return moved.select(*_PAIR, "last_sale")
    products = again.get_column("product").unique().implode()
    lines = _attributed(sales.filter(pl.col("product").is_in(products)), baselines.resolver, started)
    read = (baselines.rows.select("b_row", *_PAIR).join(per_row_sums(lines).select("b_row", "last_sale"), on="b_row")
            .select(*_PAIR, read="last_sale"))
    return (moved.join(read, on=_PAIR, how="left")
            .select(*_PAIR, last_sale=pl.when("again").then("read").otherwise("last_sale")))


def _apart_update(previous: pl.DataFrame, new: _Lines, gone: pl.DataFrame, baseline: pl.DataFrame, *,
                  unconvertible: bool) -> pl.DataFrame:
    """An unattributed / unconvertible list without the replaced lines and with the new ones (stock unchanged:
    whether a line is set apart depends only on the line and the baselines)."""
    if new.rows.height == 0 and gone.height == 0:
        return previous
    kept = _without(previous, gone)
    if new.rows.height == 0:
        return kept
    which = (pl.col("b_row").is_not_null() & pl.col("counted") & pl.col("qty").is_null() if unconvertible
             else UNATTRIBUTED)
    if not new.attributed.select(which.fill_null(False).any()).item():  # the usual refresh: none set apart
        return kept
    added = _apart(new.rows, new.attributed, which, baseline).select(previous.columns).cast(previous.schema)
    both = pl.concat([kept, added], how="vertical")
    # New batches come after every held one, so the list stays in (batch, line) order, save for re-dated
    # held lines (among `new` here) that go back to their place.
    if kept.height and added.height and added.select("batch", "line").row(0) < kept.select("batch", "line").row(-1):
        return both.sort("batch", "line")
    return both


def _without(frame: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """`frame`'s rows but those of the `gone` lines (by batch and line)."""
    if gone.height == 0 or frame.height == 0:
        return frame
    return frame.join(gone.select("batch", "line"), on=["batch", "line"], how="anti", maintain_order="left")


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return a if b is None else b if a is None else max(a, b)


def _ts_max(held: datetime | None, sales: pl.DataFrame, new: pl.DataFrame, gone: pl.DataFrame) -> datetime | None:
    """The latest sales ts after the change: the held one moved by the new lines, read again from all the
    lines only when a replaced line held it."""
    if gone.height and held is not None and gone.get_column("ts").max() == held:
        return sales.get_column("ts").max()  # type: ignore[return-value]
    return _later(held, new.get_column("ts").max())  # type: ignore[arg-type]


def _per_sales(held: pl.DataFrame, sales: pl.DataFrame, new: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """sales_stats of the sales after the change, from the held one: the new lines' counts and sums added,
    the replaced lines' taken out. A session whose first sale was replaced by nothing as early is read again."""
    if new.height == 0 and gone.height == 0:
        return held
    plus = sales_stats(new)
    minus = sales_stats(gone) if gone.height else plus.clear()  # new lines replace none (the usual refresh)
    at = _places(held.get_column(_ID), pl.concat([plus.get_column(_ID), minus.get_column(_ID)]))
    both = held[at].join(plus, on=_ID, how="full", coalesce=True, suffix="_p").join(
        minus, on=_ID, how="full", coalesce=True, suffix="_m")
    lost = ((pl.col("first_sale_m") <= pl.col("first_sale"))
            & ~(pl.col("first_sale_p") <= pl.col("first_sale_m")).fill_null(False)).fill_null(False)
    moved = both.select(
        _ID,
        first_sale=pl.min_horizontal("first_sale", "first_sale_p"),
        sales_rows=(pl.col("sales_rows").fill_null(0) + pl.col("sales_rows_p").fill_null(0)
                    - pl.col("sales_rows_m").fill_null(0)),
        x_gmv=pl.col("x_gmv").fill_null(0) + pl.col("x_gmv_p").fill_null(0) - pl.col("x_gmv_m").fill_null(0),
        order_gmv=(pl.col("order_gmv").fill_null(0) + pl.col("order_gmv_p").fill_null(0)
                   - pl.col("order_gmv_m").fill_null(0)),
        lost=lost,
    ).filter(pl.col("sales_rows") > 0)
    again = moved.filter("lost").get_column(_ID)
    moved = moved.filter(~pl.col("lost")).drop("lost").cast(held.schema)  # type: ignore[arg-type]
    if again.len():
        moved = pl.concat([moved, sales_stats(sales.filter(pl.col(_ID).is_in(again.implode()))).cast(
            held.schema)])  # type: ignore[arg-type]
    return _insert_by_id(without_rows(held, at), moved)


def _places(ids: pl.Series, wanted: pl.Series) -> pl.Series:
    """The sorted positions in `ids` (sorted, no repeats) of those of `wanted` it holds: a search for each."""
    wanted = wanted.drop_nulls().unique().sort()
    if ids.len() == 0 or wanted.len() == 0:
        return pl.Series(_ID, [], pl.UInt32)
    first = ids.search_sorted(wanted, side="left")
    found = ids.gather(first.clip(upper_bound=ids.len() - 1)) == wanted
    return first.filter(found & (first < ids.len())).cast(pl.UInt32)


def _insert_by_id(held: pl.DataFrame, fresh: pl.DataFrame, *, few: int = 32) -> pl.DataFrame:
    """`held` (sorted by session_id) with the `fresh` rows (ids it does not hold) in their places."""
    if fresh.height > few or held.height == 0:
        return pl.concat([held, fresh], how="vertical").sort(_ID)
    fresh = fresh.sort(_ID)
    return _splice_in(held, fresh, held.get_column(_ID).search_sorted(fresh.get_column(_ID), side="left").to_list())


# -- the pace window -----------------------------------------------------------------------------------
def _entries(lines: _Lines, end: datetime | None) -> pl.DataFrame:
    """The window entries of sales `lines`: those attributed to a baseline row whose time lies in the
    PACE_DAYS that end at `end`, with the quantity they add, sorted by time."""
    if end is None or lines.rows.height == 0:
        return pl.DataFrame(schema=_WINDOW_SCHEMA)
    attributed = lines.attributed.filter(_in_window(end) & pl.col("b_row").is_not_null())
    keys = lines.rows.select("batch", "line")[attributed.get_column("row")]
    return pl.concat([keys, attributed.select("at", "b_row", wqty="qty")], how="horizontal").cast(
        _WINDOW_SCHEMA).sort("at")  # type: ignore[arg-type]


def _window_of(sales: pl.DataFrame, baselines: Baselines, started: pl.DataFrame, latest: datetime | None) -> Window:
    """The pace window of all `sales`, read whole (once, or after a stock change)."""
    if latest is None:
        near = sales.clear()
    else:
        end = pl.lit(latest).cast(TIME)
        near = sales.filter(pl.col("ts").is_null()
                            | ((pl.col("ts") > end - timedelta(days=PACE_DAYS)) & (pl.col("ts") <= end)))
    entries = _entries(_Lines.of(near, baselines, started), latest)
    sums = _signed_sums([(entries, 1)])
    return Window(latest, sums, (entries,) if entries.height else (), entries.select(_ENTRY).clear())


def _signed_sums(parts: list[tuple[pl.DataFrame, int]]) -> pl.DataFrame:
    """Per b_row, the quantities and entry counts of `parts`, each added (1) or taken out (-1)."""
    frames = [part.select("b_row", wqty=pl.col("wqty") * sign, lines=pl.lit(sign, pl.Int64))
              for part, sign in parts if part.height]
    if not frames:
        return pl.DataFrame(schema={"b_row": pl.UInt32, "window_qty": pl.Float64, "lines": pl.Int64})
    return pl.concat(frames).group_by("b_row").agg(window_qty=pl.col("wqty").sum(), lines=pl.col("lines").sum())


def _slide(window: Window, sales: pl.DataFrame, baselines: Baselines, removed: _Lines, added: _Lines,
           started: pl.DataFrame, latest: datetime | None) -> Window:
    """The window after `removed` lines went (attributed as their sessions started before), `added` lines came
    (as they start now: `started`) and its end moved to `latest`. An end that moves back (the latest sale was
    replaced by an earlier one) reads the window whole again."""
    if latest is None or window.end is None or latest < window.end:
        return _window_of(sales, baselines, started, latest)
    cut = latest - timedelta(days=PACE_DAYS)
    went = _entries(removed, window.end)  # they were in the window, now they are not
    came = _entries(added, latest)
    dead = pl.concat([window.dead, went.select(_ENTRY)])
    if dead.height and came.height and came.join(dead, on=_ENTRY, how="semi").height:
        return _window_of(sales, baselines, started, latest)  # a line back at a time it had left: start afresh
    chunks, leaving = [], []
    for chunk in window.chunks:
        k = chunk.get_column("at").search_sorted(cut, side="right")  # entries at or before the cut leave
        if k:
            leaving.append(chunk.slice(0, k))
        if k < chunk.height:
            chunks.append(chunk.slice(k))
    left = pl.concat(leaving) if leaving else came.clear()
    if left.height and dead.height:
        dead, left = dead.join(left.select(_ENTRY), on=_ENTRY, how="anti"), left.join(dead, on=_ENTRY, how="anti")
    delta = _signed_sums([(came, 1), (went, -1), (left, -1)])
    sums = window.sums
    if delta.height:
        sums = sums.join(delta, on="b_row", how="full", coalesce=True, suffix="_d").select(
            "b_row",
            window_qty=pl.col("window_qty").fill_null(0.0) + pl.col("window_qty_d").fill_null(0.0),
            lines=pl.col("lines").fill_null(0) + pl.col("lines_d").fill_null(0),
        ).filter(pl.col("lines") > 0)
    if came.height:
        chunks.append(came)
    # Chunks of like size are merged (a binary counter: each entry is merged O(log n) times); dead entries go.
    while len(chunks) > 1 and chunks[-1].height * 2 >= chunks[-2].height:
        last = chunks.pop()
        merged = chunks.pop().merge_sorted(last, key="at")
        if dead.height:
            gone_here = dead.join(merged.select(_ENTRY), on=_ENTRY, how="semi")
            if gone_here.height:
                merged = merged.join(gone_here, on=_ENTRY, how="anti", maintain_order="left")
                dead = dead.join(gone_here, on=_ENTRY, how="anti")
        chunks.append(merged)
    return Window(latest, sums, tuple(chunks), dead)


