"""The report of docs/metrics.md: sessions, host kinds, villages, totals, and the sales left apart, from store frames."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from relief_live.metrics.catalogue import (
    CHANNEL_COLUMNS,
    ROUTES_COLUMNS,
    catalogued,
    channel_sums,
    route_sums,
)
from relief_live.metrics.common import conform
from relief_live.metrics.sessions import (
    LIVE_MINUTES,
    host_kind_metrics,
    place_sales,
    session_metrics,
    settle_totals,
)
from relief_live.metrics.villages import village_metrics


@dataclass(frozen=True)
class Report:
    """Everything `report` prints and the dashboard shows. Money in integer fen, times UTC.

    totals: sessions, orders, gmv (sum of the sessions rows), unsold_value, sold_value (sum of the
    villages rows; unattributed sales stay apart), value_sell_through (null when unsold_value is 0).
    unattributed / unconvertible: the sales rows behind those buckets, with `attributed_village`,
    `stock_unit` and a `reason` a person can act on. routes: the lines and money each catalogue route tied to a
    village (metrics.catalogue.ROUTES_COLUMNS; empty without a catalogue). channels: the sales of each village and
    product by traffic source (metrics.catalogue.CHANNEL_COLUMNS; empty when no line gives one).
    """

    totals: dict[str, Any]
    sessions: pl.DataFrame
    host_kinds: pl.DataFrame
    villages: pl.DataFrame
    unattributed: pl.DataFrame
    unconvertible: pl.DataFrame
    # What metrics.incremental.refresh_report needs to refresh this report from new rows alone (incremental.Carry).
    carry: Any = field(default=None, repr=False, compare=False)
    routes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ROUTES_COLUMNS))
    channels: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=CHANNEL_COLUMNS))


def build_report(sessions: pl.DataFrame, ticks: pl.DataFrame, sales: pl.DataFrame, stock: pl.DataFrame,
                 catalogue: pl.DataFrame | None = None, *,
                 now: datetime, live_minutes: float = LIVE_MINUTES, per_sales: pl.DataFrame | None = None) -> Report:
    """The metrics of the four current-row frames (columns of schema.frame_schema), as at `now`.

    `per_sales`: sessions.sales_stats(sales), when the caller has it (metrics.incremental.cold_report)."""
    sessions, ticks = conform(sessions, "sessions"), conform(ticks, "ticks")
    sales, stock = settle_totals(place_sales(conform(sales, "sales"), sessions)), conform(stock, "stock")
    sales, route = catalogued(sales, conform(catalogue, "catalogue") if catalogue is not None else None)
    per_session = session_metrics(sessions, ticks, sales, now=now, live_minutes=live_minutes, per_sales=per_sales)
    villages, unattributed, unconvertible = village_metrics(
        sales, stock, per_session.select("session_id", "started_at"))
    totals = totals_of(per_session, villages)
    return Report(totals, per_session, host_kind_metrics(per_session), villages, unattributed, unconvertible,
                  routes=route_sums(sales, route), channels=channel_sums(sales))


def totals_of(per_session: pl.DataFrame, villages: pl.DataFrame) -> dict[str, Any]:
    """Report.totals from the sessions and villages tables."""
    unsold_value = int(villages.get_column("unsold_value").sum())
    sold_value = int(villages.get_column("sold_value").sum())
    return {
        "sessions": per_session.height,
        "orders": int(per_session.get_column("orders").sum()),
        "gmv": int(per_session.get_column("gmv").sum()),
        "unsold_value": unsold_value,
        "sold_value": sold_value,
        "value_sell_through": sold_value / unsold_value if unsold_value > 0 else None,
    }
