"""Broadcasts against cadre-hosted sessions with their denominators: per host kind, the sessions behind each
figure, the pooled ratio beside the median, and the sessions whose figures do not compare, with why."""

from __future__ import annotations

from typing import Final

import polars as pl

from relief_live.metrics.common import div_round

SUPPORTED_SHARE: Final = 0.5  # order lines that add up to less than this share of a session's GMV do not support it
FENCE_IQR: Final = 1.5  # a GPM above the kind's Q3 + 1.5 IQR (on a log scale: GPMs spread over orders of magnitude)
LEAST_FOR_SPREAD: Final = 4  # a kind needs this many sessions with a GPM before its spread says anything

# Why a session is flagged, in order: the first that holds is its reason.
REASONS: Final[tuple[tuple[str, str], ...]] = (
    ("unsupported", f"its order lines (with an order id) add up to less than {SUPPORTED_SHARE:.0%} of its GMV: the "
                    "rest is per-product totals or the platform's summary, not single orders"),
    ("gpm_spread", f"its GPM lies above its host kind's upper quartile plus {FENCE_IQR} times the interquartile "
                   f"range (of log GPM, over the kind's other sessions, when it has {LEAST_FOR_SPREAD} or more)"),
)

FLAG_COLUMNS: Final[dict[str, pl.DataType]] = {
    "session_id": pl.String(), "title": pl.String(), "host_name": pl.String(), "host_kind": pl.String(),
    "started_at": pl.Datetime("ms", "UTC"), "views": pl.Int64(), "gmv": pl.Int64(), "order_gmv": pl.Int64(),
    "gpm": pl.Int64(), "reason": pl.String(), "typical_low": pl.Int64(), "typical_high": pl.Int64(),
}
"""Columns of flagged(): money in fen; typical_low..typical_high is the kind's interquartile GPM range."""

COMPARE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "host_kind": pl.String(), "sessions": pl.Int64(), "flagged": pl.Int64(),
    "gpm_sessions": pl.Int64(), "median_gpm": pl.Int64(), "pooled_gpm": pl.Int64(),
    "fair_gpm_sessions": pl.Int64(), "fair_median_gpm": pl.Int64(), "fair_pooled_gpm": pl.Int64(),
    "conversion_sessions": pl.Int64(), "median_conversion": pl.Float64(), "pooled_conversion": pl.Float64(),
}
"""Columns of compared(): per host kind. pooled_gpm = Σ gmv × 1000 / Σ views over the sessions with a GPM
(gpm_sessions); fair_* leave the flagged sessions out; pooled_conversion = Σ buyers (else orders) / Σ viewers
over the sessions with a conversion. Money in fen."""


def _log_quartiles() -> dict[str, pl.Expr]:
    log = pl.col("gpm").log10()
    return {"n": log.count(), "q1": log.quantile(0.25, "linear"), "q3": log.quantile(0.75, "linear")}


def flagged(sessions: pl.DataFrame) -> pl.DataFrame:
    """The sessions whose GMV or GPM should not be compared as they stand (FLAG_COLUMNS), with the first of
    REASONS that holds; most GMV first."""
    unsupported = ((pl.col("gmv") > 0) & pl.col("order_gmv").is_not_null()
                   & (pl.col("order_gmv") < pl.col("gmv") * SUPPORTED_SHARE)).fill_null(False)
    rated = sessions.with_columns(unsupported=unsupported)
    # The spread of each kind over its sessions with a positive GPM that their order lines do not contradict.
    spread = (rated.filter(~pl.col("unsupported") & (pl.col("gpm") > 0))
              .group_by("host_kind").agg(**_log_quartiles())
              .filter(pl.col("n") >= LEAST_FOR_SPREAD))
    out = (
        rated.join(spread, on="host_kind", how="left", nulls_equal=True)
        .with_columns(beyond=(pl.col("gpm") > 0)
                      & (pl.col("gpm").log10() > pl.col("q3") + FENCE_IQR * (pl.col("q3") - pl.col("q1"))))
        .with_columns(reason=pl.when("unsupported").then(pl.lit(REASONS[0][0]))
                      .when(pl.col("beyond").fill_null(False)).then(pl.lit(REASONS[1][0])),
                      typical_low=(10 ** pl.col("q1")).round(0), typical_high=(10 ** pl.col("q3")).round(0))
        .filter(pl.col("reason").is_not_null())
    )
    return out.select(pl.col(name).cast(dtype) for name, dtype in FLAG_COLUMNS.items()).sort(
        "gmv", descending=True, nulls_last=True)


def compared(sessions: pl.DataFrame, flags: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per host kind (COMPARE_COLUMNS): each figure with the sessions behind it, pooled beside the median, and
    again without the `flags` (flagged(sessions) unless given)."""
    flags = flagged(sessions) if flags is None else flags
    has_gpm = pl.col("gpm").is_not_null() & (pl.col("views") > 0)
    fair = has_gpm & ~pl.col("flag")
    has_conversion = pl.col("conversion").is_not_null()
    converted = pl.coalesce("buyers", "orders")
    return (
        sessions.with_columns(flag=pl.col("session_id").is_in(flags.get_column("session_id").implode()))
        .group_by("host_kind")
        .agg(
            sessions=pl.len(),
            flagged=pl.col("flag").sum(),
            gpm_sessions=has_gpm.sum(),
            median_gpm=pl.col("gpm").filter(has_gpm).median(),
            gpm_gmv=pl.col("gmv").filter(has_gpm).sum(), gpm_views=pl.col("views").filter(has_gpm).sum(),
            fair_gpm_sessions=fair.sum(),
            fair_median_gpm=pl.col("gpm").filter(fair).median(),
            fair_gmv=pl.col("gmv").filter(fair).sum(), fair_views=pl.col("views").filter(fair).sum(),
            conversion_sessions=has_conversion.sum(),
            median_conversion=pl.col("conversion").filter(has_conversion).median(),
            converted=converted.filter(has_conversion).sum(),
            viewers=pl.col("viewers").filter(has_conversion).sum(),
        )
        .with_columns(
            median_gpm=pl.col("median_gpm").round(0, mode="half_away_from_zero"),
            fair_median_gpm=pl.col("fair_median_gpm").round(0, mode="half_away_from_zero"),
            pooled_gpm=div_round(pl.col("gpm_gmv") * 1000, pl.col("gpm_views")),
            fair_pooled_gpm=div_round(pl.col("fair_gmv") * 1000, pl.col("fair_views")),
            pooled_conversion=pl.when(pl.col("viewers") > 0).then(pl.col("converted") / pl.col("viewers")),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in COMPARE_COLUMNS.items())
        .sort("host_kind", nulls_last=True)
    )
