"""Per-session metrics (summary, else ticks, else sales lines, each with its source) and per host kind."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import polars as pl

from relief_live import schema
from relief_live.metrics.common import TIME, div_round, is_sale

# Base metrics and where each may come from, in order of preference (docs/metrics.md); every value records its source.
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
    "orders": pl.Int64(), "buyers": pl.Int64(), "gmv": pl.Int64(), "new_followers": pl.Int64(),
    "gpm": pl.Int64(), "uv_value": pl.Int64(), "conversion": pl.Float64(), "conversion_basis": pl.String(),
    "aov": pl.Int64(), "gmv_per_hour": pl.Int64(), "order_gmv": pl.Int64(),
    "sources": pl.Struct({name: pl.String() for name in SOURCED}),
}
"""Columns of Report.sessions. Money (gmv, gpm, uv_value, aov, gmv_per_hour) in integer fen, rounded half up.
new_followers: as the session's summary gives it (a 罗盘 workbook's 新增粉丝数), else unknown.
order_gmv: the amounts of the session's sales lines that carry an order id (what single orders support of its
GMV; per-product totals carry none); null when the session has no sales lines."""

HOST_KIND_COLUMNS: Final[dict[str, pl.DataType]] = {
    "host_kind": pl.String(), "sessions": pl.Int64(), "hours": pl.Float64(), "orders": pl.Int64(),
    "gmv": pl.Int64(), "gmv_per_hour": pl.Int64(), "median_gpm": pl.Int64(),
    "median_conversion": pl.Float64(), "conversion_basis": pl.String(),
}

_ID: Final = "session_id"
# How long a session stays live after its latest minute tick (the default of RELIEF_LIVE_SILENT_MINUTES, which
# relief_live.live reads): a feed silent for longer has stopped, and the session is no longer shown as on air.
LIVE_MINUTES: Final = 3.0
# A session whose feed stopped, its end neither given nor reached, is said to be interrupted (数据中断, and the
# ticks_stopped alert) for this long after its latest tick; silent longer, it is taken as ended.
STOPPED_FOR: Final = timedelta(hours=1)


def session_metrics(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, *,
                    now: datetime, live_minutes: float, per_sales: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per session named in any of the three frames (sessions known only from ticks or sales too).

    `per_sales` (sales_stats(sales), when the caller keeps it) spares the pass over the sales lines; they are
    then read only for the orders of sessions that neither a summary nor ticks give orders for.
    """
    summary = sessions.drop("batch", "line").rename({m: f"s_{m}" for m in SOURCED}).with_columns(
        has_summary=pl.lit(True))
    per_ticks = _per_ticks(ticks, sessions.select(_ID, "ended_at"))
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


def _per_ticks(ticks: pl.DataFrame, ended: pl.DataFrame) -> pl.DataFrame:
    """Per session from its ticks: _tick_stats and the time-weighted average (_tick_average)."""
    if ticks.height == 0:  # a refresh's touched sessions often have none: ten polars calls on nothing, saved
        return _no_ticks(tuple(ticks.schema.items()), tuple(ended.schema.items()))
    return _tick_stats(ticks).join(_tick_average(ticks, ended), on=_ID, how="left")


@functools.cache
def _no_ticks(ticks_schema: tuple, ended_schema: tuple) -> pl.DataFrame:
    """_per_ticks of no ticks, with its columns and dtypes: made once for each pair of input schemas."""
    ticks, ended = pl.DataFrame(schema=dict(ticks_schema)), pl.DataFrame(schema=dict(ended_schema))
    return _tick_stats(ticks).join(_tick_average(ticks, ended), on=_ID, how="left")


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


def place_sales(sales: pl.DataFrame, sessions: pl.DataFrame) -> pl.DataFrame:
    """`sales` with each line that names no session given the session of its host account (schema.SESSION_HOST_KEYS:
    达人ID, then room, then host name) whose start..end holds the line's time, if it came through the live room
    (its channel one of schema.LIVE_CHANNELS, or none given); other lines stay sessionless (they still count for
    their villages). Only sessionless lines are looked at."""
    if sessions.height == 0 or sales.get_column(_ID).null_count() == 0:  # the usual store: known at once
        return sales
    at = (sales.get_column(_ID).is_null()
          & (sales.get_column("channel").is_null() | sales.get_column("channel").is_in(schema.LIVE_CHANNELS))).arg_true()
    if len(at) == 0:
        return sales
    lines = sales[at].select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("__i"), "ts", *schema.SESSION_HOST_KEYS)
    found = pl.Series(_ID, [None] * len(at), pl.String)
    for key in schema.SESSION_HOST_KEYS:
        todo = lines.filter(found.gather(lines.get_column("__i")).is_null() & pl.col(key).is_not_null()
                            & pl.col("ts").is_not_null())
        held = sessions.filter(pl.col(key).is_not_null() & pl.col("started_at").is_not_null()).select(
            pl.col(key), __start=pl.col("started_at"),
            __end=pl.coalesce("ended_at", pl.col("started_at") + timedelta(hours=schema.OPEN_SESSION_HOURS)),
            __id=pl.col(_ID))
        if todo.height == 0 or held.height == 0:
            continue
        # Both sides sorted by time, hence within each host too (polars cannot check that with `by`).
        matched = todo.sort("ts").join_asof(held.sort("__start"), left_on="ts", right_on="__start", by=key,
                                            strategy="backward", check_sortedness=False).filter(
            pl.col("ts") <= pl.col("__end"))
        found = found.scatter(matched.get_column("__i"), matched.get_column("__id"))
    if found.null_count() == len(found):
        return sales
    return sales.with_columns(sales.get_column(_ID).scatter(at, found).alias(_ID))


def settle_totals(sales: pl.DataFrame) -> pl.DataFrame:
    """`sales` with each session's product totals (basis `session_totals`, schema.BASES) made `covered` where order
    lines (rows with an order id, named or placed) of the same session are held: the totals count the same sales
    as those lines, so they then count nowhere (no GMV, no sold quantity or value, no refund); a session without
    order lines keeps its totals as its sales. Call after place_sales."""
    basis = sales.get_column("basis")
    if basis.null_count() == len(basis):  # the usual store: no totals at all
        return sales
    ordered = sales.filter(pl.col("order_id").is_not_null() & pl.col(_ID).is_not_null()).get_column(_ID).unique()
    covered = ((pl.col("basis") == "session_totals") & pl.col(_ID).is_in(ordered.implode())).fill_null(False)
    return sales.with_columns(status=pl.when(covered).then(pl.lit("covered")).otherwise("status"),
                              refund=pl.when(covered).then(None).otherwise("refund"))


def sales_stats(sales: pl.DataFrame) -> pl.DataFrame:
    """Per session from its sales lines: first sale, rows, GMV (sum of the amounts of the lines that are sales:
    refunds of those not subtracted; closed, refunded and cancelled lines not counted), and order_gmv (the
    part of that GMV in lines with an order id)."""
    return sales.filter(pl.col(_ID).is_not_null()).group_by(_ID).agg(
        first_sale=pl.col("ts").min(),
        sales_rows=pl.len().cast(pl.Int64),
        x_gmv=pl.when(is_sale()).then("amount").sum(),
        order_gmv=pl.when(is_sale() & pl.col("order_id").is_not_null()).then("amount").sum(),
    )


def _sales_orders(sales: pl.DataFrame, session_ids: pl.Series) -> pl.DataFrame:
    """Orders of the given sessions from their sales lines: distinct order ids when every line has one,
    else unknown (per-product totals carry no order ids)."""
    if session_ids.len() == 0:
        return pl.DataFrame(schema={_ID: pl.String, "x_orders": pl.Int64})
    return sales.filter(pl.col(_ID).is_in(session_ids.implode()) & (pl.col("status") != "covered").fill_null(True)).group_by(_ID).agg(
        x_orders=pl.when(pl.col("order_id").null_count() == 0)
        .then(pl.col("order_id").filter(is_sale()).n_unique().cast(pl.Int64)))


def _live(now: datetime, live_minutes: float) -> pl.Expr:
    """On air: its latest minute tick at most `live_minutes` old (the feed has not stopped), and its end, when
    given, not reached. A session without a tick in that time is not live, whatever its schedule says."""
    # The clock and the limit as ms, as the columns hold them: a datetime literal costs more than the whole select
    # (every report asks this as at its clock).
    at = (_utc(now) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    fresh = at - pl.col("last_tick").dt.epoch("ms") <= timedelta(minutes=live_minutes) // timedelta(milliseconds=1)
    return (fresh & (pl.col("ended_at").is_null() | (at < pl.col("ended_at").dt.epoch("ms")))).fill_null(False)


def stopped(now: datetime) -> pl.Expr:
    """A feed that stopped: no tick within the live limit (not `live`), yet one within STOPPED_FOR, and the
    session's end neither given nor reached. Nothing newer says the session ended or recovered."""
    # The clock as ms since the epoch, as the columns hold it: a datetime literal costs more than the whole select
    # (the alert rules ask this after every ingest).
    at = (_utc(now) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return (~pl.col("live") & (at - pl.col("last_tick").dt.epoch("ms") < STOPPED_FOR // timedelta(milliseconds=1))
            & (pl.col("ended_at").is_null() | (at < pl.col("ended_at").dt.epoch("ms")))).fill_null(False)


def _utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; a naive one is taken as UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def host_kind_metrics(sessions: pl.DataFrame) -> pl.DataFrame:
    """Per host kind: sessions, hours, orders, GMV, GMV per hour, median GPM and median conversion.

    GMV per hour uses only sessions whose duration and GMV are both known; medians skip nulls.
    conversion_basis says whether the conversions behind the median were buyers-, orders-based or mixed.
    """
    return host_kind_table(host_kinds_of(sessions))


@dataclass(frozen=True)
class HostKinds:
    """What host_kind_metrics is made of, per host kind: additive sums over its sessions, and the values
    behind each median, sorted. A refresh moves them by the rows of the sessions it recomputed
    (host_kinds_moved: a search in each sorted list) instead of grouping every session again. Plain Python
    values: the sessions a refresh touches are few, and a polars call on a few rows costs more than the work."""

    sums: dict[str | None, tuple[int, ...]]  # host kind -> _KIND_SUMS
    values: dict[tuple[str | None, str], list]  # (host kind, gpm | conversion) -> its non-null values, sorted


_MEDIANS: Final = ("gpm", "conversion")


def _kind_parts() -> dict[str, pl.Expr]:
    """Each session's part of its host kind's sums (HostKinds.sums, in this order): the one definition that
    the grouping of a whole table and the moves by a few rows both use."""
    timed = pl.col("duration_s").is_not_null() & pl.col("gmv").is_not_null()
    return {
        "sessions": pl.lit(1, pl.Int64),
        "duration_s": pl.col("duration_s").fill_null(0),
        "orders": pl.col("orders").fill_null(0),
        "gmv": pl.col("gmv").fill_null(0),
        "timed_gmv": pl.when(timed).then("gmv").otherwise(0),
        "timed_s": pl.when(timed).then("duration_s").otherwise(0),
        "by_buyers": (pl.col("conversion_basis") == "buyers").fill_null(False).cast(pl.Int64),
        "by_orders": (pl.col("conversion_basis") == "orders").fill_null(False).cast(pl.Int64),
    }


_KIND_SUMS: Final = tuple(_kind_parts())


def host_kinds_of(sessions: pl.DataFrame) -> HostKinds:
    """The HostKinds of a sessions table (session_metrics' columns)."""
    grouped = sessions.select("host_kind", **_kind_parts()).group_by("host_kind").agg(pl.all().sum())
    sums = {kind: tuple(rest) for kind, *rest in grouped.select("host_kind", *_KIND_SUMS).iter_rows()}
    values: dict[tuple[str | None, str], list] = {}
    for column in _MEDIANS:
        ordered = sessions.select("host_kind", column).drop_nulls(column).sort(column)
        for (kind,), part in ordered.partition_by("host_kind", as_dict=True, maintain_order=True).items():
            values[(kind, column)] = part.get_column(column).to_list()  # type: ignore[index]
    return HostKinds(sums, values)


def host_kinds_moved(kinds: HostKinds, before: pl.DataFrame, after: pl.DataFrame) -> HostKinds:
    """`kinds` after the sessions rows `before` were replaced by `after` (rows of the sessions table).
    `kinds` itself is left as it was (a report may be refreshed again from the same one)."""
    if before.height == 0 and after.height == 0:
        return kinds
    sums, values = dict(kinds.sums), dict(kinds.values)
    copied: set[tuple[str | None, str]] = set()
    for sign, rows in ((-1, before), (1, after)):
        if rows.height == 0:
            continue
        for kind, *row in rows.select("host_kind", *_MEDIANS, **_kind_parts()).iter_rows():
            medians, part = row[:len(_MEDIANS)], row[len(_MEDIANS):]
            held = sums.get(kind, (0,) * len(_KIND_SUMS))
            sums[kind] = tuple(h + sign * v for h, v in zip(held, part, strict=True))
            for column, value in zip(_MEDIANS, medians, strict=True):
                if value is None:
                    continue
                key = (kind, column)
                if key not in copied:
                    values[key] = list(values.get(key, ()))
                    copied.add(key)
                if sign > 0:
                    bisect.insort(values[key], value)
                else:
                    del values[key][bisect.bisect_left(values[key], value)]  # a value it holds: that row's
    return HostKinds({k: v for k, v in sums.items() if v[0] > 0}, {k: v for k, v in values.items() if v})


def _median(values: list) -> float | None:
    """The median of sorted values, as polars computes it (the mean of the middle two, as a + (b - a) / 2)."""
    n = len(values)
    if n == 0:
        return None
    if n % 2:
        return float(values[n // 2])
    low, high = float(values[n // 2 - 1]), float(values[n // 2])
    return low + (high - low) * 0.5


def host_kind_table(kinds: HostKinds) -> pl.DataFrame:
    """Report.host_kinds (HOST_KIND_COLUMNS) from HostKinds."""
    rows = [{"host_kind": kind, **dict(zip(_KIND_SUMS, sums, strict=True)),
             **{f"median_{c}": _median(kinds.values.get((kind, c), [])) for c in _MEDIANS}}
            for kind, sums in kinds.sums.items()]
    schema = {"host_kind": pl.String, **dict.fromkeys(_KIND_SUMS, pl.Int64),
              "median_gpm": pl.Float64, "median_conversion": pl.Float64}
    by_buyers, by_orders = pl.col("by_buyers") > 0, pl.col("by_orders") > 0
    return (
        pl.DataFrame(rows, schema=schema)
        .with_columns(
            hours=pl.col("duration_s") / 3600,
            gmv_per_hour=div_round(pl.col("timed_gmv") * 3600, pl.col("timed_s")),
            median_gpm=pl.col("median_gpm").round(0, mode="half_away_from_zero"),
            conversion_basis=pl.when(by_buyers & by_orders).then(pl.lit("mixed")).when(by_buyers)
            .then(pl.lit("buyers")).when(by_orders).then(pl.lit("orders")).otherwise(pl.lit(None, pl.String)),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in HOST_KIND_COLUMNS.items())
        .sort("host_kind", nulls_last=True)
    )
