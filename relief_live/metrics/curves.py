"""Series for charts: a session's minute curves (downsampled keeping peaks), GMV per day, the previous episode."""

from __future__ import annotations

from datetime import date
from typing import Final

import polars as pl

from relief_live.metrics.common import TIME, local_date

CURVE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "ts": TIME, "viewers_online": pl.Int64(), "orders": pl.Int64(), "orders_cum": pl.Int64(),
    "gmv": pl.Int64(), "gmv_cum": pl.Int64(),
}
"""Columns of session_curves: orders and gmv (fen) per interval ending at ts, their running totals."""

# Episode marks dropped from a title to get its programme's stem: 第3期, dates, numbers, punctuation, spaces.
_EPISODE_MARKS: Final = r"第\s*[0-9〇零一二三四五六七八九十百千]+\s*[期集场季回届]|\d+|[\s\p{P}\p{S}]+"


def session_curves(ticks: pl.DataFrame, session_id: str, *, max_points: int = 1500) -> pl.DataFrame:
    """The ticks of one session as chart series, at most `max_points` rows.

    Per-interval orders/GMV come from the per-interval column, else from differences of the cumulative
    one (the first tick's cumulative value is its interval); running totals likewise the other way.
    Beyond max_points, rows are grouped into buckets of consecutive ticks and each keeps its lowest and
    highest viewers_online (the peak survives); per-interval values are summed into the kept row that ends
    their stretch, so totals are unchanged.
    """
    if max_points < 4:
        raise ValueError("max_points must be at least 4")
    ticks = ticks.filter(pl.col("session_id") == session_id).sort("ts")
    curves = ticks.select(
        "ts", "viewers_online",
        orders=_per_interval(ticks, "orders", "orders_cum"),
        orders_cum=_running(ticks, "orders", "orders_cum"),
        gmv=_per_interval(ticks, "gmv", "gmv_cum"),
        gmv_cum=_running(ticks, "gmv", "gmv_cum"),
    ).select(pl.col(name).cast(dtype) for name, dtype in CURVE_COLUMNS.items())
    if curves.height <= max_points:
        return curves
    return _downsample(curves, (max_points - 2) // 2)


def _given(frame: pl.DataFrame, column: str) -> bool:
    return frame.get_column(column).null_count() < frame.height


def _per_interval(ticks: pl.DataFrame, per_interval: str, cumulative: str) -> pl.Expr:
    if _given(ticks, per_interval):
        return pl.col(per_interval)
    filled = pl.col(cumulative).forward_fill()
    return filled.diff().fill_null(filled).clip(lower_bound=0)


def _running(ticks: pl.DataFrame, per_interval: str, cumulative: str) -> pl.Expr:
    if _given(ticks, cumulative) or not _given(ticks, per_interval):
        return pl.col(cumulative)
    return pl.col(per_interval).fill_null(0).cum_sum()


def _downsample(curves: pl.DataFrame, buckets: int) -> pl.DataFrame:
    """At most 2 × buckets + 2 rows: per bucket the rows of min and max viewers_online, plus first and last."""
    n = curves.height
    indexed = curves.with_row_index("i").with_columns(bucket=pl.col("i") * buckets // n)
    picks = indexed.group_by("bucket").agg(
        high=pl.col("i").get(pl.col("viewers_online").arg_max()),
        low=pl.col("i").get(pl.col("viewers_online").arg_min()),
        last=pl.col("i").last(),
    )
    kept = pl.concat([
        picks.select(i=pl.coalesce("high", "last")),
        picks.select(i=pl.coalesce("low", "last")),
        pl.DataFrame({"i": [0, n - 1]}, schema={"i": pl.UInt32}),
    ]).get_column("i")
    is_kept = pl.col("i").is_in(kept.implode())
    # Each stretch ends at a kept row: non-kept rows belong to the next kept one.
    stretch = is_kept.cum_sum() + (~is_kept).cast(pl.UInt32)

    def total(column: str) -> pl.Expr:
        return pl.when(pl.col(column).count() > 0).then(pl.col(column).sum())

    return (
        indexed.group_by(stretch.alias("stretch"), maintain_order=True)
        .agg(pl.col("ts", "viewers_online", "orders_cum", "gmv_cum").last(), total("orders"), total("gmv"))
        .select(pl.col(name).cast(dtype) for name, dtype in CURVE_COLUMNS.items())
    )


def gmv_per_day(sessions_metrics: pl.DataFrame, first: date | None = None, last: date | None = None) -> pl.DataFrame:
    """GMV (fen) per calendar day (Asia/Shanghai, by session start) and host kind, every day of the programme
    (or of `first`..`last`, both included, when given).

    Days without a session of a kind have 0; sessions with unknown start or GMV are left out.
    """
    schema = {"day": pl.Date(), "host_kind": pl.String(), "gmv": pl.Int64()}
    daily = (
        sessions_metrics.filter(pl.col("started_at").is_not_null() & pl.col("gmv").is_not_null())
        .group_by(day=local_date(pl.col("started_at")), host_kind="host_kind")
        .agg(gmv=pl.col("gmv").sum())
    )
    if first is not None:
        daily = daily.filter(pl.col("day") >= first)
    if last is not None:
        daily = daily.filter(pl.col("day") <= last)
    if daily.height == 0:
        return pl.DataFrame(schema=schema)
    days = pl.date_range(daily.get_column("day").min(), daily.get_column("day").max(), "1d", eager=True)
    grid = pl.DataFrame({"day": days}).join(daily.select("host_kind").unique(), how="cross")
    return (
        grid.join(daily, on=["day", "host_kind"], how="left", nulls_equal=True)
        .with_columns(pl.col("gmv").fill_null(0))
        .select(pl.col(name).cast(dtype) for name, dtype in schema.items())
        .sort("day", "host_kind", nulls_last=True)
    )


# Bars per period: a day, a week (from Monday) or a calendar month, as polars truncates dates.
GRAINS: Final[dict[str, str]] = {"day": "1d", "week": "1w", "month": "1mo"}
MOST_DAYS: Final = 62  # a span up to this many days is drawn a bar a day (about two months)
MOST_WEEKS_DAYS: Final = 366  # up to a year, a bar a week; longer, a bar a month


def grain_for(daily: pl.DataFrame) -> str:
    """The period for bars over gmv_per_day's days: enough bars to read a trend, few enough to see each."""
    if daily.height == 0:
        return "day"
    span = (daily.get_column("day").max() - daily.get_column("day").min()).days + 1  # type: ignore[operator]
    return "day" if span <= MOST_DAYS else "week" if span <= MOST_WEEKS_DAYS else "month"


def per_period(daily: pl.DataFrame, grain: str) -> pl.DataFrame:
    """gmv_per_day's rows summed per `grain` (one of GRAINS); `day` is each period's first day."""
    if grain == "day":
        return daily
    return (
        daily.group_by(pl.col("day").dt.truncate(GRAINS[grain]), "host_kind")
        .agg(pl.col("gmv").sum())
        .sort("day", "host_kind", nulls_last=True)
    )


def title_stem(title: pl.Expr) -> pl.Expr:
    """A title without its episode marks: '助农直播 第3期 (2020-09-06)' -> '助农直播'; empty -> null."""
    stem = title.str.replace_all(_EPISODE_MARKS, "").str.to_lowercase()
    return pl.when(stem != "").then(stem)


def previous_episode(sessions_metrics: pl.DataFrame, session_id: str) -> str | None:
    """The latest session that started before `session_id` in the same programme, or None.

    Same programme: the same title stem (title_stem); when no earlier session shares it (or the title has
    none), the same host_name.
    """
    frame = sessions_metrics.select(
        "session_id", "started_at", "host_name", stem=title_stem(pl.col("title")))
    this = frame.filter(pl.col("session_id") == session_id)
    if this.height == 0 or this.item(0, "started_at") is None:
        return None
    earlier = frame.filter(pl.col("started_at") < this.item(0, "started_at")).sort("started_at", "session_id")
    for key in ("stem", "host_name"):
        value = this.item(0, key)
        if value is not None:
            same = earlier.filter(pl.col(key) == value)
            if same.height:
                return same.item(-1, "session_id")
    return None
