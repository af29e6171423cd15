"""The report after new batches, from the previous report: only the groups the new and replaced rows touch."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final

import polars as pl

from relief_live.metrics.common import conform
from relief_live.metrics.report import Report, build_report, totals_of
from relief_live.metrics.sessions import SESSION_COLUMNS, _live, host_kind_metrics, session_metrics
from relief_live.metrics.villages import (
    VILLAGE_COLUMNS,
    _apart,
    _attributed,
    baseline_of,
    finish_villages,
    latest_sale,
    per_row_sums,
    village_metrics,
    window_qty,
)

# Per-(village, product) sums that are additive over sales lines: refreshed by adding the new lines'
# part and subtracting the part of the lines they replaced.
ADDITIVE: Final[tuple[str, ...]] = (
    "sold_qty", "sold_value", "sales_rows", "unconvertible_rows", "unconvertible_value", "refunded_value",
    "before_baseline_rows", "before_baseline_value",
)
_ID: Final = "session_id"
_PAIR: Final = ["village", "product"]


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
                   now: datetime, live_minutes: float = 10.0) -> Report:
    """The report of `frames` (the held frames after `changes`), equal to build_report over them.

    Sessions named by a new or replaced row (of sessions, ticks or sales) are recomputed from their own
    rows and spliced in; host kinds and totals are re-aggregated from the sessions table. Villages move by
    the sums of the new sales lines minus those of the replaced ones (lines whose time is their session's
    start are counted again when that start moved); the pace window, which ends at the latest sale, is
    recomputed from the lines inside it. A stock change rebuilds the villages; a full re-read, everything.
    """
    sessions, ticks = conform(frames["sessions"], "sessions"), conform(frames["ticks"], "ticks")
    sales, stock = conform(frames["sales"], "sales"), conform(frames["stock"], "stock")
    if changes.full:
        return build_report(sessions, ticks, sales, stock, now=now, live_minutes=live_minutes)
    new = {kind: conform(frame, kind) for kind, frame in changes.new.items()}
    gone = {kind: conform(frame, kind) for kind, frame in changes.replaced.items()}

    touched = _touched_sessions(new, gone)
    per_session = _splice_sessions(previous.sessions, sessions, ticks, sales, touched,
                                   now=now, live_minutes=live_minutes)
    started = per_session.select(_ID, "started_at")
    moved = _moved_starts(previous.sessions, per_session, touched)
    if "stock" in new:
        villages, unattributed, unconvertible = village_metrics(sales, stock, started)
    elif "sales" in new or moved.len():
        villages, unattributed, unconvertible = _splice_villages(
            previous, sales, stock, new.get("sales", sales.clear()), gone.get("sales", sales.clear()),
            previous.sessions.select(_ID, "started_at"), started, moved)
    else:
        villages, unattributed, unconvertible = previous.villages, previous.unattributed, previous.unconvertible
    return Report(totals_of(per_session, villages), per_session, host_kind_metrics(per_session),
                  villages, unattributed, unconvertible)


def _touched_sessions(new: dict[str, pl.DataFrame], gone: dict[str, pl.DataFrame]) -> pl.Series:
    """Session ids named by any new or replaced row of sessions, ticks or sales."""
    ids = [frame.get_column(_ID) for part in (new, gone) for kind, frame in part.items()
           if kind in ("sessions", "ticks", "sales")]
    if not ids:
        return pl.Series(_ID, [], pl.String)
    return pl.concat(ids).drop_nulls().unique()


def _splice_sessions(previous: pl.DataFrame, sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame,
                     touched: pl.Series, *, now: datetime, live_minutes: float) -> pl.DataFrame:
    """The sessions table with the touched sessions recomputed from their rows, `live` as at `now`."""
    kept = previous.filter(~pl.col(_ID).is_in(touched.implode()))
    if touched.len():
        wanted = pl.col(_ID).is_in(touched.implode())
        fresh = session_metrics(sessions.filter(wanted), ticks.filter(wanted), sales.filter(wanted),
                                now=now, live_minutes=live_minutes)
        kept = pl.concat([kept, fresh], how="vertical")
    return (kept.with_columns(live=_live(now, live_minutes))
            .select(pl.col(name).cast(dtype) for name, dtype in SESSION_COLUMNS.items())
            .sort("started_at", _ID, nulls_last=True))


def _moved_starts(before: pl.DataFrame, after: pl.DataFrame, touched: pl.Series) -> pl.Series:
    """Touched sessions whose started_at changed (or that appeared or went away)."""
    wanted = pl.col(_ID).is_in(touched.implode())
    both = before.filter(wanted).select(_ID, old="started_at").join(
        after.filter(wanted).select(_ID, new="started_at"), on=_ID, how="full", coalesce=True)
    return both.filter(pl.col("old").ne_missing(pl.col("new"))).get_column(_ID)


def _splice_villages(previous: Report, sales: pl.DataFrame, stock: pl.DataFrame, new: pl.DataFrame,
                     gone: pl.DataFrame, started_before: pl.DataFrame, started: pl.DataFrame,
                     moved: pl.Series) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Villages after sales changes (stock unchanged): additive sums moved by the changed lines."""
    baseline = baseline_of(stock)
    # Held lines dated by a session start that moved: out at their old time, in at the new one.
    redated = sales.filter(pl.col("ts").is_null() & pl.col(_ID).is_in(moved.implode())).join(
        new.select("batch", "line"), on=["batch", "line"], how="anti")
    plus = _sums(pl.concat([new, redated], how="vertical"), baseline, started)
    minus = _sums(pl.concat([gone, redated], how="vertical"), baseline, started_before)
    delta = plus.join(minus, on=_PAIR, how="full", coalesce=True, suffix="_gone").select(
        *_PAIR, *((pl.col(c).fill_null(0) - pl.col(f"{c}_gone").fill_null(0)).alias(f"{c}_delta")
                  for c in ADDITIVE))
    sums = previous.villages.select(*_PAIR, *ADDITIVE).join(delta, on=_PAIR, how="left").select(
        *_PAIR, *((pl.col(c) + pl.col(f"{c}_delta").fill_null(0)).alias(c) for c in ADDITIVE))
    latest = latest_sale(sales, started)
    villages = finish_villages(baseline.join(sums, on=_PAIR, how="left"),
                               window_qty(sales, baseline, started, latest), latest)
    unattributed = _apart_update(previous.unattributed, new, gone, baseline, started, unconvertible=False)
    # Whether a line is unconvertible depends on whether it is counted, so on its time: redated lines again.
    unconvertible = _apart_update(previous.unconvertible, pl.concat([new, redated], how="vertical"),
                                  pl.concat([gone, redated], how="vertical"), baseline, started, unconvertible=True)
    return villages, unattributed, unconvertible


def _sums(lines: pl.DataFrame, baseline: pl.DataFrame, started: pl.DataFrame) -> pl.DataFrame:
    """The additive per-(village, product) sums of `lines`, as village_metrics counts them."""
    per_row = per_row_sums(_attributed(lines, baseline, started))
    return baseline.select("b_row", *_PAIR).join(per_row, on="b_row", how="inner").select(
        *_PAIR, *(pl.col(c).cast(VILLAGE_COLUMNS[c]) for c in ADDITIVE))


def _apart_update(previous: pl.DataFrame, new: pl.DataFrame, gone: pl.DataFrame, baseline: pl.DataFrame,
                  started: pl.DataFrame, *, unconvertible: bool) -> pl.DataFrame:
    """An unattributed / unconvertible list without the replaced lines and with the new ones (stock unchanged:
    whether a line is set apart depends only on the line and the baselines)."""
    if new.height == 0 and gone.height == 0:
        return previous
    kept = previous.join(gone.select("batch", "line"), on=["batch", "line"], how="anti")
    if new.height == 0:
        return kept
    lines = _attributed(new, baseline, started)
    which = (pl.col("b_row").is_not_null() & pl.col("counted") & pl.col("qty").is_null() if unconvertible
             else pl.col("b_row").is_null())
    added = _apart(new, lines, which, baseline)
    return pl.concat([kept, added.select(previous.columns).cast(previous.schema)], how="vertical").sort(
        "batch", "line")


