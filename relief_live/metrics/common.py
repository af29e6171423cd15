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
    if list(frame.schema.items()) == list(target.items()):  # as the store gives it, in order (a refresh
        # conforms every held frame again)
        return frame
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


def without_rows(frame: pl.DataFrame, gone: pl.Series, *, most_pieces: int = 256) -> pl.DataFrame:
    """`frame` without the rows at the sorted positions `gone`: the pieces between them, not a copy of the
    rest (replaced rows come in runs: a session's lines re-exported). Many runs, or a frame in many
    pieces already, make one copy instead."""
    if gone.len() == 0:
        return frame
    if gone.len() > most_pieces:
        runs = gone.to_frame("at").with_columns(run=(pl.col("at").diff() != 1).fill_null(True).cum_sum()).group_by(
            "run").agg(start=pl.col("at").min(), end=pl.col("at").max() + 1).sort("start").select("start", "end").rows()
    else:  # a few rows (a refresh's touched sessions): their runs found in Python, not by four polars calls
        runs = []
        for at in gone.to_list():
            if runs and runs[-1][1] == at:
                runs[-1] = (runs[-1][0], at + 1)
            else:
                runs.append((at, at + 1))
    if len(runs) + frame.n_chunks() > most_pieces:
        return frame.filter(~pl.int_range(frame.height, dtype=pl.UInt32, eager=True).is_in(gone.implode()))
    pieces, done = [], 0
    for start, end in runs:
        if start > done:
            pieces.append(frame.slice(done, start - done))
        done = end
    if done < frame.height:
        pieces.append(frame.slice(done))
    return pl.concat(pieces, how="vertical", rechunk=False) if pieces else frame.clear()


def is_sale() -> pl.Expr:
    """Whether a sales line is a sale (its status null or `sale`), not a refunded or cancelled one."""
    return pl.col("status").is_null() | (pl.col("status") == "sale")
