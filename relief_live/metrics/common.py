"""Shared pieces of the metrics: the programme's time zone, input checks, rounded integer division."""

from __future__ import annotations

from typing import Final

import polars as pl

from relief_live import schema

ZONE: Final = "Asia/Shanghai"  # calendar days (as_of, per-day GMV, JSON times) are in this zone
TIME: Final = pl.Datetime("ms", "UTC")


def conform(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """`frame` with the columns and dtypes of schema.frame_schema(kind); a clear error when one is missing."""
    target = schema.frame_schema(kind)
    missing = [name for name in target if name not in frame.columns]
    if missing:
        raise ValueError(f"{kind} frame lacks column(s) {', '.join(missing)}")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in target.items())


def div_round(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """Integer numerator / positive integer denominator, rounded half up; null unless denominator > 0."""
    return pl.when(denominator > 0).then((2 * numerator + denominator) // (2 * denominator))


def local_date(instant: pl.Expr) -> pl.Expr:
    """The calendar date of a UTC instant in the programme's zone."""
    return instant.dt.convert_time_zone(ZONE).dt.date()
