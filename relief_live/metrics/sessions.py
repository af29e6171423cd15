"""Per-session metrics (summary, else ticks, else sales lines, each with its source) and per host kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import polars as pl

from relief_live.metrics.common import TIME, div_round

# Base metrics and where each may come from, in order of preference (SPEC §5); every value records its source.
SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "peak_viewers": ("summary", "ticks"),  # else max viewers_online
    "avg_viewers": ("summary", "ticks"),  # else time-weighted mean of viewers_online
    "viewers": ("summary", "ticks"),  # else max viewers_cum
    "views": ("summary", "ticks"),  # else max views_cum
    "orders": ("summary", "ticks", "sales"),  # ticks: max orders_cum, else sum of orders; sales: distinct order ids
    "buyers": ("summary",),  # neither ticks nor sales lines identify buyers
    "gmv": ("summary", "ticks", "sales"),  # ticks: max gmv_cum, else sum of gmv; sales: sum of amounts
}
SOURCED: Final[tuple[str, ...]] = tuple(SOURCES)
_PREFIX: Final[dict[str, str]] = {"summary": "s_", "ticks": "t_", "sales": "x_"}

SESSION_COLUMNS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(), "title": pl.String(), "host_kind": pl.String(), "host_name": pl.String(),
    "host_role": pl.String(), "platform": pl.String(), "county": pl.String(),
    "started_at": TIME, "ended_at": TIME, "duration_s": pl.Int64(), "live": pl.Boolean(),
    "last_tick": TIME, "ticks": pl.Int64(), "sales_rows": pl.Int64(), "has_summary": pl.Boolean(),
    "peak_viewers": pl.Int64(), "avg_viewers": pl.Float64(), "viewers": pl.Int64(), "views": pl.Int64(),
    "orders": pl.Int64(), "buyers": pl.Int64(), "gmv": pl.Int64(),
    "gpm": pl.Int64(), "uv_value": pl.Int64(), "conversion": pl.Float64(), "conversion_basis": pl.String(),
    "aov": pl.Int64(), "gmv_per_hour": pl.Int64(),
    "sources": pl.Struct({name: pl.String() for name in SOURCED}),
}
"""Columns of Report.sessions. Money (gmv, gpm, uv_value, aov, gmv_per_hour) in integer fen, rounded half up."""

HOST_KIND_COLUMNS: Final[dict[str, pl.DataType]] = {
    "host_kind": pl.String(), "sessions": pl.Int64(), "hours": pl.Float64(), "orders": pl.Int64(),
    "gmv": pl.Int64(), "gmv_per_hour": pl.Int64(), "median_gpm": pl.Int64(),
    "median_conversion": pl.Float64(), "conversion_basis": pl.String(),
}

_ID: Final = "session_id"


def session_metrics(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, *,
                    now: datetime, live_minutes: float, per_sales: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per session named in any of the three frames (sessions known only from ticks or sales too).

    `per_sales` (sales_stats(sales), when the caller keeps it) spares the pass over the sales lines; they are
    then read only for the orders of sessions that neither a summary nor ticks give orders for.
    """
    summary = sessions.drop("batch", "line").rename({m: f"s_{m}" for m in SOURCED}).with_columns(
        has_summary=pl.lit(True))
    per_ticks = _tick_stats(ticks).join(_tick_average(ticks, sessions.select(_ID, "ended_at")), on=_ID, how="left")
    per_sales = sales_stats(sales) if per_sales is None else per_sales
    ids = pl.concat([summary.select(_ID), per_ticks.select(_ID), per_sales.select(_ID)]).drop_nulls().unique()
    frame = (
        ids.join(summary, on=_ID, how="left")
        .join(per_ticks, on=_ID, how="left")
        .join(per_sales, on=_ID, how="left")
    )
    # Orders from sales lines only where neither the summary nor the ticks give them (n_unique is the cost).
    need = frame.filter(pl.col("s_orders").is_null() & pl.col("t_orders").is_null()).get_column(_ID)
    frame = frame.join(_sales_orders(sales, need), on=_ID, how="left")
    return frame.with_columns(
        has_summary=pl.col("has_summary").fill_null(False),
        started_at=pl.coalesce("started_at", pl.min_horizontal("first_tick", "first_sale")),
        ticks=pl.col("ticks").fill_null(0),
        sales_rows=pl.col("sales_rows").fill_null(0),
        s_avg_viewers=pl.col("s_avg_viewers").cast(pl.Float64),
    ).with_columns(
        *(pl.coalesce(_PREFIX[source] + metric for source in sources).alias(metric)
          for metric, sources in SOURCES.items()),
        sources=pl.struct(**{metric: _source(metric) for metric in SOURCES}),
    ).with_columns(
        duration_s=pl.when(pl.col("ended_at") >= pl.col("started_at")).then(
            (pl.col("ended_at") - pl.col("started_at")).dt.total_seconds()),
        live=_live(now, live_minutes),
        gpm=div_round(pl.col("gmv") * 1000, pl.col("views")),
        uv_value=div_round(pl.col("gmv"), pl.col("viewers")),
        aov=div_round(pl.col("gmv"), pl.col("orders")),
        conversion_basis=pl.when(pl.col("buyers").is_not_null()).then(pl.lit("buyers"))
        .when(pl.col("orders").is_not_null()).then(pl.lit("orders")),
    ).with_columns(
        conversion=pl.when(pl.col("viewers") > 0).then(
            pl.coalesce("buyers", "orders").cast(pl.Float64) / pl.col("viewers")),
        conversion_basis=pl.when(pl.col("viewers") > 0).then("conversion_basis"),
        gmv_per_hour=div_round(pl.col("gmv") * 3600, pl.col("duration_s")),
    ).select(
        pl.col(name).cast(dtype) for name, dtype in SESSION_COLUMNS.items()
    ).sort("started_at", _ID, nulls_last=True)


def _source(metric: str) -> pl.Expr:
    """Which of summary / ticks / sales gave `metric` its value (null when none did)."""
    first, *rest = SOURCES[metric]
    expr = pl.when(pl.col(_PREFIX[first] + metric).is_not_null()).then(pl.lit(first))
    for source in rest:
        expr = expr.when(pl.col(_PREFIX[source] + metric).is_not_null()).then(pl.lit(source))
    return expr.otherwise(pl.lit(None, pl.String))


def _tick_stats(ticks: pl.DataFrame) -> pl.DataFrame:
    """Per session from its ticks: last tick, count, peak, cumulative viewers/views, orders and GMV.

    Orders and GMV take the maximum of the cumulative series when the ticks have one, else the sum
    of the per-interval series.
    """
    def total(per_interval: str, cumulative: str) -> pl.Expr:
        return (pl.when(pl.col(cumulative).count() > 0).then(pl.col(cumulative).max())
                .when(pl.col(per_interval).count() > 0).then(pl.col(per_interval).sum()))

    return ticks.filter(pl.col(_ID).is_not_null()).group_by(_ID).agg(
        first_tick=pl.col("ts").min(),
        last_tick=pl.col("ts").max(),
        ticks=pl.len().cast(pl.Int64),
        t_peak_viewers=pl.col("viewers_online").max(),
        t_viewers=pl.col("viewers_cum").max(),
        t_views=pl.col("views_cum").max(),
        t_orders=total("orders", "orders_cum"),
        t_gmv=total("gmv", "gmv_cum"),
    )


def _tick_average(ticks: pl.DataFrame, ended: pl.DataFrame) -> pl.DataFrame:
    """Time-weighted mean of viewers_online: each value holds until the next tick, the last until ended_at.

    Without an ended_at the last value has no weight; when no value has any weight (one tick), the plain mean.
    """
    weight = (pl.col("until") - pl.col("ts")).dt.total_milliseconds().clip(lower_bound=0).fill_null(0)
    return (
        ticks.filter(pl.col(_ID).is_not_null() & pl.col("viewers_online").is_not_null())
        .select(_ID, "ts", "viewers_online")
        .join(ended, on=_ID, how="left")
        .sort(_ID, "ts")
        .with_columns(until=pl.coalesce(pl.col("ts").shift(-1).over(_ID), pl.col("ended_at")))
        .with_columns(weight=weight.cast(pl.Float64))
        .group_by(_ID)
        .agg(
            weights=pl.col("weight").sum(),
            weighted=(pl.col("viewers_online").cast(pl.Float64) * pl.col("weight")).sum(),
            mean=pl.col("viewers_online").mean(),
        )
        .select(_ID, t_avg_viewers=pl.when(pl.col("weights") > 0)
                .then(pl.col("weighted") / pl.col("weights")).otherwise("mean"))
    )


def sales_stats(sales: pl.DataFrame) -> pl.DataFrame:
    """Per session from its sales lines: first sale, rows, GMV (sum of amounts, refunds not subtracted)."""
    return sales.filter(pl.col(_ID).is_not_null()).group_by(_ID).agg(
        first_sale=pl.col("ts").min(),
        sales_rows=pl.len().cast(pl.Int64),
        x_gmv=pl.col("amount").sum(),
    )


def _sales_orders(sales: pl.DataFrame, session_ids: pl.Series) -> pl.DataFrame:
    """Orders of the given sessions from their sales lines: distinct order ids when every line has one,
    else unknown (per-product totals carry no order ids)."""
    if session_ids.len() == 0:
        return pl.DataFrame(schema={_ID: pl.String, "x_orders": pl.Int64})
    return sales.filter(pl.col(_ID).is_in(session_ids.implode())).group_by(_ID).agg(
        x_orders=pl.when(pl.col("order_id").null_count() == 0).then(pl.col("order_id").n_unique().cast(pl.Int64)))


def _live(now: datetime, live_minutes: float) -> pl.Expr:
    """On air: now within [started_at, ended_at); with no ended_at, a tick less than live_minutes old."""
    moment = pl.lit(_utc(now)).cast(TIME)
    recent = pl.col("last_tick").is_not_null() & (moment - pl.col("last_tick") < timedelta(minutes=live_minutes))
    between = (pl.col("started_at") <= moment) & (moment < pl.col("ended_at"))
    return pl.when(pl.col("ended_at").is_not_null()).then(between.fill_null(False)).otherwise(recent)


def _utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def host_kind_metrics(sessions: pl.DataFrame) -> pl.DataFrame:
    """Per host kind: sessions, hours, orders, GMV, GMV per hour, median GPM and median conversion.

    GMV per hour uses only sessions whose duration and GMV are both known; medians skip nulls.
    conversion_basis says whether the conversions behind the median were buyers-, orders-based or mixed.
    """
    timed = pl.col("duration_s").is_not_null() & pl.col("gmv").is_not_null()
    bases = pl.col("conversion_basis").drop_nulls()
    return (
        sessions.group_by("host_kind")
        .agg(
            sessions=pl.len().cast(pl.Int64),
            hours=pl.col("duration_s").sum() / 3600,
            orders=pl.col("orders").sum(),
            gmv=pl.col("gmv").sum(),
            timed_gmv=pl.col("gmv").filter(timed).sum(),
            timed_s=pl.col("duration_s").filter(timed).sum(),
            median_gpm=pl.col("gpm").median(),
            median_conversion=pl.col("conversion").median(),
            conversion_basis=pl.when(bases.n_unique() > 1).then(pl.lit("mixed")).otherwise(bases.first()),
        )
        .with_columns(
            gmv_per_hour=div_round(pl.col("timed_gmv") * 3600, pl.col("timed_s")),
            median_gpm=pl.col("median_gpm").round(0, mode="half_away_from_zero"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in HOST_KIND_COLUMNS.items())
        .sort("host_kind", nulls_last=True)
    )
