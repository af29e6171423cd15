"""Sell-through per (village, product) against its latest unsold-stock baseline, and the sales left apart."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final

import polars as pl

from relief_live import schema
from relief_live.metrics.common import TIME, ZONE, is_sale, local_date

LAST_DAY: Final = date(9999, 12, 31)  # the last day a projected clear date can fall on (Python's calendar)
PACE_DAYS: Final = 14  # the pace behind projected_clear_date: the days that end at the latest sale in the store

VILLAGE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "county": pl.String(), "village": pl.String(), "product": pl.String(), "unit": pl.String(),
    "unit_kg": pl.Float64(), "as_of": pl.Date(), "unsold_qty": pl.Float64(), "sold_qty": pl.Float64(),
    "remaining_qty": pl.Float64(), "sell_through": pl.Float64(), "unit_price": pl.Int64(),
    "unsold_value": pl.Int64(), "sold_value": pl.Int64(), "households": pl.Int64(),
    "pace_per_day": pl.Float64(), "projected_clear_date": pl.Date(), "last_sale": TIME, "remaining_value": pl.Int64(),
    "status": pl.String(), "target_date": pl.Date(),
    "sales_rows": pl.Int64(), "unconvertible_rows": pl.Int64(), "unconvertible_value": pl.Int64(),
    "refunded_value": pl.Int64(), "before_baseline_rows": pl.Int64(), "before_baseline_value": pl.Int64(),
}
"""Columns of Report.villages. Quantities in the baseline's unit; money in integer fen.

sold_value counts every counted sale, convertible or not (unconvertible_* are the part of it that is out of
sold_qty); refunded_value is the refunds on the pair's lines from as_of on (not subtracted), lines refunded or
closed after payment included (those are no sales: out of sold_qty and sold_value); before_baseline_* are lines of
the pair dated before as_of, counted nowhere. last_sale is the time of the pair's latest counted sale (a sale
without a time at its session's start), null when none; target_date is the baseline's own (the ledger's 目标日期).
remaining_value is unsold_value's share of remaining_qty;
status is the first of STATUSES that holds.
"""

STALLED_BELOW: Final = 0.9  # a village sold this far is never "stalled", however slow its last sales
HORIZON_DAYS: Final = 365  # a pace that clears the rest later than this after the latest sale puts it at risk

# A village's status, read at the data's own clock (the latest sale in the store, as the pace is): the first
# row whose test holds. Each test reads the columns of VILLAGE_COLUMNS and `days` (days to clear at the pace).
STATUSES: Final[tuple[tuple[str, str, pl.Expr], ...]] = (
    ("sold_out", "nothing of the baseline remains",
     pl.col("remaining_qty") <= 0),
    ("stalled", f"stock remains, under {STALLED_BELOW:.0%} of it sold, and none sold in the {PACE_DAYS} days "
                "that end at the latest sale in the store",
     (pl.col("pace_per_day") <= 0) & (pl.col("sell_through") < STALLED_BELOW)),
    ("at_risk", f"stock remains and, at the pace of those {PACE_DAYS} days, it would clear after the ledger's "
                f"target date or more than {HORIZON_DAYS} days after the latest sale (or there is no pace)",
     (pl.col("pace_per_day") <= 0) | (pl.col("days") > HORIZON_DAYS)
     | (pl.col("projected_clear_date") > pl.col("target_date")).fill_null(False)),
    ("on_track", f"stock remains and, at that pace, it clears by the target date (when the ledger gives one) "
                 f"and within {HORIZON_DAYS} days of the latest sale",
     pl.lit(True)),
)

# Report.unattributed / Report.unconvertible: the sales columns, then attributed_village, stock_unit, reason.

_MASS: Final = schema.MASS_UNITS_KG
# The lines listed as unattributed: sales that no baseline takes (a refunded or cancelled line counts as such).
UNATTRIBUTED: Final = pl.col("b_row").is_null() & pl.col("sale")


def village_metrics(sales: pl.DataFrame, stock: pl.DataFrame,
                    started: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(villages, unattributed sales, unconvertible sales); `started` gives session_id -> started_at."""
    baseline = baseline_of(stock)
    lines = _attributed(sales, resolver_of(baseline), started)
    latest = lines.get_column("at").max()
    per_row = per_row_sums(lines, window_qty=pl.when(_in_window(latest)).then("qty"))
    villages = finish_villages(baseline.join(per_row.drop("window_qty"), on="b_row", how="left"),
                               per_row.select("b_row", "window_qty"), latest)
    unattributed = _apart(sales, lines, UNATTRIBUTED, baseline)
    unconvertible_lines = _apart(sales, lines, pl.col("b_row").is_not_null() & pl.col("counted") & pl.col("qty").is_null(),
                                 baseline)
    return villages, unattributed, unconvertible_lines


def baseline_of(stock: pl.DataFrame) -> pl.DataFrame:
    """The latest baseline row per (village, product), numbered `b_row` in (village, product) order."""
    return (
        stock.filter(pl.col("village").is_not_null() & pl.col("product").is_not_null()
                     & (pl.col("as_of") == pl.col("as_of").max().over("village", "product")))
        .sort("village", "product")
        .with_row_index("b_row")
    )


def _in_window(latest: datetime | None) -> pl.Expr:
    """Whether a line's time `at` lies in the PACE_DAYS that end at `latest`."""
    end = pl.lit(latest).cast(TIME)
    return ((pl.col("at") > end - timedelta(days=PACE_DAYS)) & (pl.col("at") <= end)).fill_null(False)


def latest_sale(sales: pl.DataFrame, started: pl.DataFrame) -> datetime | None:
    """The latest sale time in the store (a sale without ts at its session's start)."""
    latest = sales.get_column("ts").max()
    undated = sales.filter(pl.col("ts").is_null()).select("session_id").unique()
    if undated.height:
        start = started.filter(pl.col("session_id").is_in(undated.get_column("session_id").implode())).get_column(
            "started_at").max()
        if start is not None and (latest is None or start > latest):  # type: ignore[operator]
            latest = start
    return latest  # type: ignore[return-value]


def finish_villages(sums: pl.DataFrame, window: pl.DataFrame, latest: datetime | None) -> pl.DataFrame:
    """Report.villages from the baseline rows joined with their additive sums, and the pace window per b_row."""
    end = pl.lit(latest).cast(TIME)
    counts = [c for c in VILLAGE_COLUMNS if c.endswith(("_rows", "_value")) and c not in ("unsold_value", "remaining_value")]
    return (
        sums.join(window, on="b_row", how="left")
        .with_columns(pl.col("sold_qty", "window_qty").fill_null(0.0), pl.col(*counts).fill_null(0))
        .with_columns(
            remaining_qty=(pl.col("unsold_qty") - pl.col("sold_qty")).clip(lower_bound=0),
            sell_through=pl.when(pl.col("unsold_qty") > 0).then(pl.col("sold_qty") / pl.col("unsold_qty")),
            unsold_value=pl.coalesce(
                "unsold_value",
                (pl.col("unsold_qty") * pl.col("unit_price")).round(0, mode="half_away_from_zero").cast(pl.Int64)),
            pace_per_day=pl.col("window_qty") / PACE_DAYS,
        )
        .with_columns(days=(pl.col("remaining_qty") / pl.col("pace_per_day")).ceil())
        .with_columns(
            # A pace so slow that the date falls past the calendar (year 9999) projects no date, like no pace.
            projected_clear_date=pl.when((pl.col("pace_per_day") > 0)
                                         & (pl.col("days") <= (pl.lit(LAST_DAY) - local_date(end)).dt.total_days()))
            .then(local_date(end) + pl.duration(days=pl.col("days"))),
            remaining_value=remaining_value(),
        )
        .with_columns(status=status())
        .select(pl.col(name).cast(dtype) for name, dtype in VILLAGE_COLUMNS.items())
        .sort("county", "village", "product", nulls_last=True)
    )


def status() -> pl.Expr:
    """The first of STATUSES whose test holds, by name."""
    (first, _, test), *rest = STATUSES
    name = pl.when(test.fill_null(False)).then(pl.lit(first))
    for label, _, test in rest:
        name = name.when(test.fill_null(False)).then(pl.lit(label))
    return name


def remaining_value() -> pl.Expr:
    """unsold_value's share of what remains (fen, rounded); null when unsold_value is unknown."""
    share = pl.when(pl.col("remaining_qty") <= 0).then(0.0).otherwise(pl.col("remaining_qty") / pl.col("unsold_qty"))
    return (pl.col("unsold_value") * share).round(0, mode="half_away_from_zero").cast(pl.Int64)


def per_row_sums(lines: pl.DataFrame, **extra: pl.Expr) -> pl.DataFrame:
    """The additive sums of attributed `lines` per baseline row (b_row), and any `extra` column summed.

    Masked columns summed per baseline row: faster than filtered aggregations on millions of rows. last_sale, the
    latest time of a counted line, is the one column taken as a maximum.
    """
    counted, unconvertible = pl.col("counted"), pl.col("counted") & pl.col("qty").is_null()
    return lines.select(
        "b_row",
        sold_qty=pl.when(counted).then("qty"),
        sold_value=pl.when(counted).then("amount"),
        sales_rows=counted.cast(pl.Int64),
        unconvertible_rows=unconvertible.cast(pl.Int64),
        unconvertible_value=pl.when(unconvertible).then("amount"),
        refunded_value=pl.when(pl.col("dated")).then("refund"),
        before_baseline_rows=(~pl.col("dated") & pl.col("sale")).cast(pl.Int64),
        before_baseline_value=pl.when(~pl.col("dated") & pl.col("sale")).then("amount"),
        last_sale=pl.when(counted).then("at"),
        **extra,
    ).group_by("b_row").agg(pl.all().exclude("last_sale").sum(), pl.col("last_sale").max()).drop_nulls("b_row")


def resolver_of(baseline: pl.DataFrame) -> pl.DataFrame:
    """What attributes a sale to a baseline row, by (village, product), a null village standing for a product's
    only holder: b_row, b_unit, b_kg (kg in one b_unit), b_from (as_of's first instant) and holders."""
    kg_per_unit = pl.coalesce(_kg(pl.col("unit")), pl.when(pl.col("unit_kg") > 0).then("unit_kg"))
    stock_side = baseline.select(
        "village", "product", "b_row", b_unit="unit", b_kg=kg_per_unit,
        b_from=pl.col("as_of").cast(pl.Datetime("ms")).dt.replace_time_zone(ZONE).dt.convert_time_zone("UTC"))
    holders = stock_side.group_by("product").agg(pl.len().alias("holders"), pl.all().exclude("village").first())
    single = pl.col("holders") == 1
    return pl.concat([
        stock_side.with_columns(holders=pl.lit(None, pl.UInt32)),
        holders.select(
            pl.lit(None, pl.String).alias("village"), "product",
            *(pl.when(single).then(c).alias(c) for c in ("b_row", "b_unit", "b_kg", "b_from")), "holders"),
    ], how="diagonal_relaxed")


def _attributed(sales: pl.DataFrame, resolver: pl.DataFrame, started: pl.DataFrame) -> pl.DataFrame:
    """Per sale (`row`: its index in `sales`; rows in no particular order): its time `at` (ts, else its session's start), `b_row` (the baseline row it
    is attributed to: its village's, else the one village whose baseline has the product; null when none),
    `holders` (villages with the product), `qty` in the baseline's unit (null when it does not convert),
    `dated` (at or after as_of, or of unknown time) and `counted` (dated, and a sale: schema.LINE_STATUSES).
    """
    # One join (`resolver_of` the baselines) resolves both: (village, product) -> that baseline; (null, product)
    # -> the product's only holder.
    lines = sales.select(
        "session_id", "ts", "village", "product", "quantity", "unit", "amount", "refund", "status"
    ).with_row_index("row").join(resolver, on=["village", "product"], how="left", nulls_equal=True)
    if lines.get_column("ts").null_count():
        lines = lines.join(started, on="session_id", how="left").with_columns(
            at=pl.coalesce("ts", "started_at"))
    else:
        lines = lines.with_columns(at=pl.col("ts"))
    quantity, sale_kg, sale = pl.col("quantity"), _kg(pl.col("unit")), is_sale()
    dated = pl.col("at").is_null() | (pl.col("at") >= pl.col("b_from"))
    # A refunded or cancelled line moves no stock (no quantity, in the pace neither) and adds no sold value; its
    # refund counts.
    return lines.select(
        "row", "b_row", "holders", "b_unit", "at", "amount", "refund", "village", "unit", "quantity",
        qty=pl.when(~sale).then(0.0).when(pl.col("unit") == pl.col("b_unit")).then(quantity)
        .when(sale_kg.is_not_null() & pl.col("b_kg").is_not_null()).then(quantity * sale_kg / pl.col("b_kg")),
        counted=dated & sale,
        dated=dated,
        sale=sale,
    )


def _kg(unit: pl.Expr) -> pl.Expr:
    """Kilograms in one `unit` when it is a mass unit, else null."""
    return unit.replace_strict(_MASS, default=None, return_dtype=pl.Float64)


def _apart(sales: pl.DataFrame, lines: pl.DataFrame, which: pl.Expr, baseline: pl.DataFrame) -> pl.DataFrame:
    """The sales rows where `which` holds, with attributed_village, stock_unit and reason, in (batch, line) order."""
    chosen = lines.filter(which.fill_null(False)).join(
        baseline.select("b_row", attributed_village="village"), on="b_row", how="left", maintain_order="left")
    return pl.concat([
        sales[chosen.get_column("row")],
        chosen.select(
            "attributed_village", stock_unit="b_unit",
            reason=pl.when(pl.col("b_row").is_null()).then(_unattributed_reason()).otherwise(_unconvertible_reason()),
        ),
    ], how="horizontal").sort("batch", "line")


def _unattributed_reason() -> pl.Expr:
    return (
        pl.when(pl.col("village").is_not_null()).then(pl.lit("no baseline for this village and product"))
        .when(pl.col("holders") > 1).then(pl.format("no village given; {} villages have this product",
                                                    pl.col("holders")))
        .otherwise(pl.lit("no village given; no baseline has this product"))
    )


def _unconvertible_reason() -> pl.Expr:
    return (
        pl.when(pl.col("quantity").is_null()).then(pl.lit("no quantity"))
        .when(pl.col("unit").is_null()).then(pl.format("no unit given; the baseline is in {}", pl.col("b_unit")))
        .otherwise(pl.format("{} does not convert to {}", pl.col("unit"), pl.col("b_unit")))
    )
