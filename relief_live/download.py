"""Tables as CSV and XLSX downloads, with spreadsheet formula injection neutralised."""

from __future__ import annotations

import io
from typing import Final

import polars as pl

# A cell starting with one of these is run as a formula by Excel/WPS/LibreOffice (OWASP CSV injection).
FORMULA_STARTS: Final[tuple[str, ...]] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as formulas, prefixed with a quote so they show as text."""
    pattern = "^[" + "".join({"\t": r"\t", "\r": r"\r", "-": r"\-", "+": r"\+"}.get(c, c) for c in FORMULA_STARTS) + "]"
    exprs = [
        pl.when(pl.col(name).str.contains(pattern)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items() if dtype == pl.String
    ]
    return frame.with_columns(exprs) if exprs else frame


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Types both formats write plainly: times as ISO text with offset, lists and structs as text."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%dT%H:%M:%S%:z" if dtype.time_zone else "%Y-%m-%dT%H:%M:%S"
            exprs.append(pl.col(name).dt.to_string(fmt))
        elif isinstance(dtype, pl.List | pl.Struct | pl.Object):
            exprs.append(pl.col(name).map_elements(str, return_dtype=pl.String))
    return frame.with_columns(exprs) if exprs else frame


def to_csv(frame: pl.DataFrame) -> bytes:
    """UTF-8 with a BOM, so Excel on Chinese Windows opens the Chinese text correctly."""
    return b"\xef\xbb\xbf" + neutralise(_plain(frame)).write_csv().encode("utf-8")


def to_xlsx(frame: pl.DataFrame, sheet: str = "data") -> bytes:
    buffer = io.BytesIO()
    neutralise(_plain(frame)).write_excel(buffer, worksheet=sheet[:31], autofit=True)
    return buffer.getvalue()
