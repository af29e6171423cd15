"""The report over a span of calendar days, of one county, and village figures rolled up per county."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from relief_live.metrics.common import TIME, ZONE
from relief_live.metrics.report import Report, build_report, totals_of
from relief_live.metrics.sessions import host_kind_metrics

_TZ = ZoneInfo(ZONE)


def day_start(day: date) -> datetime:
    """The first instant of a calendar day in the programme's zone."""
    return datetime.combine(day, time(), _TZ)


def session_starts(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame) -> pl.DataFrame:
    """session_id -> start: the sessions file's started_at, else its first tick or sale (as session_metrics)."""
    seen = pl.concat([ticks.select("session_id", at="ts"), sales.select("session_id", at="ts")]).drop_nulls(
        "session_id").group_by("session_id").agg(pl.col("at").min())
    given = sessions.select("session_id", "started_at").drop_nulls("session_id").unique("session_id", keep="last")
    return (given.join(seen, on="session_id", how="full", coalesce=True)
            .select("session_id", start=pl.coalesce("started_at", "at").cast(TIME)))


def window(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, stock: pl.DataFrame, *,
           start: date | None, end: date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The four store frames as the days from `start` to `end` (inclusive, Asia/Shanghai; start None: from the
    beginning) hold them.

    A session belongs to the day it starts, with all its ticks and sales (a show that crosses midnight stays
    whole, and its GMV and the villages' sales from it fall in the same period); a sale of no known session to
    the day of its time; a baseline counts when its as_of is on or before `end`. A session or sale of unknown
    time is in no window that has a start, and in every one that has none.
    """
    lo, hi = (day_start(start) if start is not None else None), day_start(end + timedelta(days=1))

    def inside(at: pl.Expr) -> pl.Expr:
        before_end = at < pl.lit(hi).cast(TIME)
        return (before_end & (at >= pl.lit(lo).cast(TIME))).fill_null(False) if lo is not None else before_end.fill_null(True)

    starts = session_starts(sessions, ticks, sales)
    chosen = starts.filter(inside(pl.col("start"))).get_column("session_id").implode()
    # Each sale's day: its session's start (a sale after midnight of a show that began before it stays with
    # the show: else the next period would gain that session, known from the sale alone), else its own time.
    at = sales.join(starts, on="session_id", how="left", maintain_order="left").select(
        pl.coalesce(pl.col("start"), pl.col("ts"))).to_series()
    return (
        sessions.filter(pl.col("session_id").is_in(chosen)),
        ticks.filter(pl.col("session_id").is_in(chosen)),
        sales.filter(inside(pl.lit(at))),
        stock.filter(pl.col("as_of") <= end),
    )


def period_report(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, stock: pl.DataFrame,
                  catalogue: pl.DataFrame | None = None, *,
                  start: date | None, end: date, now: datetime, county: str | None = None) -> Report:
    """The report (build_report) of the frames `window` keeps, as at the end of the window (or `now` if
    earlier); of one county's sessions and villages when `county` is given (of_county)."""
    frames = window(sessions, ticks, sales, stock, start=start, end=end)
    report = build_report(*frames, catalogue, now=min(now, day_start(end + timedelta(days=1))))
    return of_county(report, county) if county is not None else report


def of_county(report: Report, county: str) -> Report:
    """`report` restricted to the sessions and villages of `county`: host kinds and totals made again from
    them; the unattributed and unconvertible sales kept to those of the county's sessions or villages."""
    sessions = report.sessions.filter(pl.col("county") == county)
    villages = report.villages.filter(pl.col("county") == county)

    def ours(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.filter((pl.col("county") == county).fill_null(False)
                           | pl.col("session_id").is_in(sessions.get_column("session_id").implode()).fill_null(False)
                           | pl.col("attributed_village").is_in(villages.get_column("village").implode()).fill_null(False))

    return replace(report, totals=totals_of(sessions, villages), sessions=sessions,
                   host_kinds=host_kind_metrics(sessions), villages=villages, unattributed=ours(report.unattributed),
                   unconvertible=ours(report.unconvertible), carry=None)


def per_county(villages: pl.DataFrame) -> pl.DataFrame:
    """Report.villages summed per county: unsold, sold and remaining value (fen), households, villages, the
    villages of each status, and value_sell_through = sold_value / unsold_value, as the totals have it."""
    left = pl.col("remaining_qty") > 0
    return (
        villages.group_by("county")
        .agg(
            pl.col("unsold_value", "sold_value", "remaining_value", "refunded_value", "households").sum(),
            villages=pl.col("village").n_unique(),
            stalled=(pl.col("status") == "stalled").sum(),
            at_risk=(pl.col("status") == "at_risk").sum(),
            # The county clears when its last village does; unknown when any village with stock left has no date.
            projected_clear_date=pl.when((left & pl.col("projected_clear_date").is_null()).sum() == 0)
            .then(pl.col("projected_clear_date").filter(left).max()),
        )
        .with_columns(value_sell_through=pl.when(pl.col("unsold_value") > 0)
                      .then(pl.col("sold_value") / pl.col("unsold_value")))
        .sort("county", nulls_last=True)
    )
