"""Sales lines tied to the village and ledger product they come from through the product catalogue (产品名录)."""

from __future__ import annotations

from typing import Final

import polars as pl

from relief_live import schema
from relief_live.metrics.common import is_sale

ROUTES_COLUMNS: Final[dict[str, pl.DataType]] = {"route": pl.String(), "lines": pl.Int64(), "amount": pl.Int64()}
"""Columns of Report.routes: per route (a CATALOGUE_ROUTES name; `village` for lines that name their own village,
`none` for lines that match no entry), the lines and the money of their sales (integer fen)."""
_ORDER: Final = ("village", *(name for name, _, _ in schema.CATALOGUE_ROUTES), "none")


def catalogued(sales: pl.DataFrame, catalogue: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.Series | None]:
    """`sales` with each line that names no village given the village, county and ledger product of its catalogue
    entry (schema.CATALOGUE_ROUTES: its seller's code, else its platform product id, else its exact listing
    title), its packs turned into kilograms by the entry's pack weight when the line gives no unit; and each
    line's route (None when there is no catalogue). A code or title two entries give to different villages or
    products decides nothing (the next route may)."""
    if catalogue is None or catalogue.height == 0:
        return sales, None
    own = sales.get_column("village").is_not_null()
    route = pl.select(pl.when(pl.lit(own)).then(pl.lit("village")).otherwise(pl.lit("none"))).to_series()
    if own.all():
        return sales, route.alias("route")
    at = (~own).arg_true()
    lines = sales.select(*{c for _, c, _ in schema.CATALOGUE_ROUTES})[at]  # only the columns the routes read
    # Each line's entry (a row of the routes' tables laid end to end) and the route that found it: a lookup in
    # the few keys of each route (a hash map), not a join of every line.
    hit = pl.repeat(None, len(at), dtype=pl.UInt32, eager=True)
    how = pl.repeat(None, len(at), dtype=pl.String, eager=True)
    tables = []
    for name, line_column, entry_column in schema.CATALOGUE_ROUTES:
        by_key = (catalogue.filter(pl.col(entry_column).is_not_null())
                  .group_by(entry_column).agg(pl.col("village", "county", "product", "pack_kg").first(),
                                              kinds=pl.struct("village", "product").n_unique())
                  .filter(pl.col("kinds") == 1).drop("kinds"))
        first = sum(t.height for t in tables)
        found = lines.get_column(line_column).replace_strict(
            by_key.get_column(entry_column), pl.int_range(first, first + by_key.height, dtype=pl.UInt32, eager=True),
            default=None, return_dtype=pl.UInt32)
        taken = found.is_not_null() & hit.is_null()
        hit = found.zip_with(taken, hit)
        how = pl.repeat(name, len(at), dtype=pl.String, eager=True).zip_with(taken, how)
        tables.append(by_key.drop(entry_column))
    matched = hit.is_not_null()
    if not matched.any():
        return sales, route.alias("route")
    hits = pl.concat(tables)[hit.filter(matched)].with_columns(route=how.filter(matched), row=at.filter(matched))
    rows = hits.get_column("row")
    unit, quantity = sales.get_column("unit"), sales.get_column("quantity")
    packs = hits.select(
        kg=pl.when(pl.lit(unit.gather(rows)).is_null() & pl.col("pack_kg").is_not_null())
        .then(pl.lit(quantity.gather(rows)) * pl.col("pack_kg"))).to_series()
    converted = packs.is_not_null()
    sales = sales.with_columns(
        sales.get_column("village").scatter(rows, hits.get_column("village")),
        sales.get_column("county").scatter(rows, hits.get_column("county").fill_null(
            sales.get_column("county").gather(rows))),
        sales.get_column("product").scatter(rows, hits.get_column("product")),
        quantity.scatter(rows.filter(converted), packs.filter(converted)),
        unit.scatter(rows.filter(converted), pl.repeat("kg", int(converted.sum()), dtype=pl.String, eager=True)),
    )
    return sales, route.scatter(rows, hits.get_column("route")).alias("route")


def route_sums(sales: pl.DataFrame, route: pl.Series | None) -> pl.DataFrame:
    """Report.routes of these (catalogued) lines: per route, its lines and the money of its sales."""
    if route is None:
        return pl.DataFrame(schema=ROUTES_COLUMNS)
    return (sales.select(route=route, amount=pl.when(is_sale()).then("amount").otherwise(0))
            .group_by("route").agg(lines=pl.len().cast(pl.Int64), amount=pl.col("amount").sum().cast(pl.Int64))
            .cast(ROUTES_COLUMNS).pipe(_ordered))  # type: ignore[arg-type]


CHANNEL_COLUMNS: Final[dict[str, pl.DataType]] = {
    "village": pl.String(), "product": pl.String(), "channel": pl.String(), "lines": pl.Int64(), "amount": pl.Int64()}
"""Columns of Report.channels: per village and product (as the catalogue ties them), and traffic source, the
sale lines that give one and their money (integer fen)."""


def channel_sums(sales: pl.DataFrame) -> pl.DataFrame:
    """Report.channels of these (catalogued) lines: the sales of each village and product by channel, of the lines
    that give one (sums over lines alone, so that a refresh can move them by the new lines)."""
    if sales.get_column("channel").null_count() == sales.height:  # no shop export: nothing to split (no pass)
        return pl.DataFrame(schema=CHANNEL_COLUMNS)
    return (sales.filter(is_sale() & pl.col("channel").is_not_null()).group_by("village", "product", "channel")
            .agg(lines=pl.len().cast(pl.Int64), amount=pl.col("amount").sum().cast(pl.Int64))
            .cast(CHANNEL_COLUMNS).sort("village", "product", "amount", descending=[False, False, True],  # type: ignore[arg-type]
                                        nulls_last=True))


def moved_channels(held: pl.DataFrame, new: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """Report.channels after a change: the held sums, plus the new lines', less the replaced ones'."""
    both = pl.concat([held, new, gone.with_columns(-pl.col("lines"), -pl.col("amount"))])
    return (both.group_by("village", "product", "channel").agg(pl.col("lines", "amount").sum())
            .filter(pl.col("lines") != 0).cast(CHANNEL_COLUMNS)  # type: ignore[arg-type]
            .sort("village", "product", "amount", descending=[False, False, True], nulls_last=True))


def moved_routes(held: pl.DataFrame, new: pl.DataFrame, gone: pl.DataFrame) -> pl.DataFrame:
    """Report.routes after a change: the held sums, plus the new lines', less the replaced ones'."""
    both = pl.concat([held, new, gone.with_columns(-pl.col("lines"), -pl.col("amount"))])
    return (both.group_by("route").agg(pl.col("lines", "amount").sum()).filter(pl.col("lines") != 0)
            .cast(ROUTES_COLUMNS).pipe(_ordered))  # type: ignore[arg-type]


def _ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(pl.col("route").replace_strict({r: i for i, r in enumerate(_ORDER)}, default=len(_ORDER),
                                                     return_dtype=pl.Int64))
