"""A report as the JSON of docs/cli.md (yuan, +08:00 times) and as aligned terminal tables."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import polars as pl

from relief_live.metrics.common import ZONE
from relief_live.metrics.report import Report
from relief_live.metrics.sessions import SOURCED

_TZ: Final = ZoneInfo(ZONE)
RATIO_DIGITS: Final = 6  # conversion, sell-through
QTY_DIGITS: Final = 6  # quantities (a gram of a tonne)

SESSION_KEYS: Final[tuple[str, ...]] = (
    "session_id", "title", "host_kind", "host_name", "platform", "started_at", "ended_at", "live",
    "peak_viewers", "avg_viewers", "viewers", "views", "orders", "buyers", "gmv", "gpm", "conversion", "sources")
HOST_KIND_KEYS: Final[tuple[str, ...]] = (
    "host_kind", "sessions", "hours", "orders", "gmv", "gmv_per_hour", "median_gpm", "median_conversion")
VILLAGE_KEYS: Final[tuple[str, ...]] = (
    "county", "village", "product", "unit", "as_of", "unsold_qty", "sold_qty", "remaining_qty", "sell_through",
    "unsold_value", "sold_value", "remaining_value", "households", "projected_clear_date", "target_date", "status")
MONEY: Final = frozenset({"gmv", "gpm", "gmv_per_hour", "median_gpm", "unsold_value", "sold_value", "remaining_value",
                          "amount"})
RATIOS: Final = frozenset({"conversion", "median_conversion", "sell_through", "value_sell_through"})
QUANTITIES: Final = frozenset({"unsold_qty", "sold_qty", "remaining_qty"})
CONVERSION_LABEL: Final = {"buyers": "buyers/viewers", "orders": "orders/viewers"}


def report_json(report: Report) -> dict[str, Any]:
    """`report --json` (docs/cli.md): money in yuan (≤ 2 decimals), times ISO 8601 at +08:00, unknown -> None.

    `sources` holds, per metric, 'summary' | 'ticks' | 'sales' (None when unknown), and under
    "conversion" which ratio the conversion is: "buyers/viewers", or "orders/viewers" when buyers is unknown.
    """
    sessions = []
    for row in report.sessions.to_dicts():
        out = {key: _json_value(key, row[key]) for key in SESSION_KEYS if key != "sources"}
        out["sources"] = {**{m: row["sources"][m] for m in SOURCED},
                          "conversion": CONVERSION_LABEL.get(row["conversion_basis"])}
        sessions.append(out)
    return {
        "totals": {key: _json_value(key, value) for key, value in report.totals.items()},
        "sessions": sessions,
        "host_kinds": _rows(report.host_kinds, HOST_KIND_KEYS),
        "villages": _rows(report.villages, VILLAGE_KEYS),
        "unattributed": _bucket(report.unattributed),
        "unconvertible": _bucket(report.unconvertible),
        "routes": [{"route": r["route"], "lines": r["lines"], "amount": yuan(r["amount"])}
                   for r in report.routes.to_dicts()],
    }


def _rows(frame: pl.DataFrame, keys: Sequence[str]) -> list[dict[str, Any]]:
    return [{key: _json_value(key, row[key]) for key in keys} for row in frame.select(keys).to_dicts()]


def _bucket(frame: pl.DataFrame) -> dict[str, Any]:
    return {"rows": frame.height, "amount": yuan(int(frame.get_column("amount").sum()))}


def yuan(fen: int | None) -> float | None:
    """Integer fen as yuan; the float's shortest form has at most two decimals."""
    return None if fen is None else fen / 100


def _json_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key in MONEY:
        return yuan(value)
    if key in RATIOS:
        return round(value, RATIO_DIGITS)
    if key in QUANTITIES:
        return round(value, QTY_DIGITS)
    if key == "avg_viewers" or key == "hours":
        return round(value, 2)
    if isinstance(value, datetime):
        return value.astimezone(_TZ).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- terminal tables ---------------------------------------------------------------------------------------

_NONE: Final = "-"


def format_report(report: Report) -> str:
    """Sessions, host kinds, villages and totals as aligned tables (Chinese text counts two columns)."""
    totals = report.totals
    sections = [
        _section("Sessions", report.sessions, [
            ("session", "session_id", str), ("title", "title", _clip(28)), ("kind", "host_kind", str),
            ("host", "host_name", _clip(12)), ("platform", "platform", str), ("start", "started_at", _when),
            ("hours", "duration_s", lambda s: f"{s / 3600:.1f}"), ("live", "live", lambda v: "LIVE" if v else ""),
            ("peak", "peak_viewers", _int), ("avg", "avg_viewers", lambda v: f"{v:,.0f}"),
            ("viewers", "viewers", _int), ("orders", "orders", _int), ("GMV ¥", "gmv", _money),
            ("GPM ¥", "gpm", _money), ("conv.", "conversion", _percent),
            ("basis", "conversion_basis", str)]),
        _section("Host kinds", report.host_kinds, [
            ("kind", "host_kind", str), ("sessions", "sessions", _int), ("hours", "hours", lambda h: f"{h:,.1f}"),
            ("orders", "orders", _int), ("GMV ¥", "gmv", _money), ("GMV/h ¥", "gmv_per_hour", _money),
            ("median GPM ¥", "median_gpm", _money), ("median conv.", "median_conversion", _percent)]),
        _section("Villages", report.villages, [
            ("county", "county", str), ("village", "village", str), ("product", "product", _clip(16)),
            ("unit", "unit", str), ("as of", "as_of", str), ("unsold", "unsold_qty", _qty),
            ("sold", "sold_qty", _qty), ("remaining", "remaining_qty", _qty),
            ("sell-through", "sell_through", _percent), ("unsold ¥", "unsold_value", _money),
            ("sold ¥", "sold_value", _money), ("remaining ¥", "remaining_value", _money),
            ("households", "households", _int), ("clears by", "projected_clear_date", str),
            ("status", "status", lambda s: s.replace("_", " "))]),
        "\n".join([
            "Totals",
            f"  sessions {totals['sessions']:,}   orders {totals['orders']:,}   GMV ¥{_money(totals['gmv'])}",
            f"  unsold ¥{_money(totals['unsold_value'])}   sold ¥{_money(totals['sold_value'])}   "
            f"value sell-through {_percent(totals['value_sell_through']) if totals['value_sell_through'] is not None else _NONE}",
            f"  unattributed sales: ¥{_money(int(report.unattributed.get_column('amount').sum()))} "
            f"in {report.unattributed.height:,} row(s), apart from the villages",
            f"  unconvertible sales: ¥{_money(int(report.unconvertible.get_column('amount').sum()))} "
            f"in {report.unconvertible.height:,} row(s), in sold value, not in sold quantity",
            *(["  catalogue routes: " + ", ".join(
                f"{r['route']} {r['lines']:,} line(s) ¥{_money(r['amount'])}" for r in report.routes.to_dicts())]
              if report.routes.height else []),
        ]),
    ]
    return "\n\n".join(sections) + "\n"


Column = tuple[str, str, Callable[[Any], str]]


def _section(title: str, frame: pl.DataFrame, columns: Sequence[Column]) -> str:
    if frame.height == 0:
        return f"{title}\n  (none)"
    data = frame.select(name for _, name, _ in columns).to_dicts()
    cells = [[_NONE if row[name] is None else show(row[name]) for _, name, show in columns] for row in data]
    heads = [head for head, _, _ in columns]
    numeric = [frame.schema[name].is_numeric() for _, name, _ in columns]
    widths = [max(_width(text) for text in [head, *(r[i] for r in cells)]) for i, head in enumerate(heads)]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(_pad(t, w, right) for t, w, right in zip(texts, widths, numeric, strict=True)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(heads), rule, *(line(r) for r in cells)])


def _width(text: str) -> int:
    """Terminal columns of `text`: wide and full-width characters (CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _clip(limit: int) -> Callable[[Any], str]:
    def clip(text: Any) -> str:
        text = str(text)
        while _width(text) > limit:
            text = text[:-2] + "…"
        return text
    return clip


def _int(value: int) -> str:
    return f"{value:,}"


def _money(fen: int | float) -> str:
    return f"{fen / 100:,.2f}"


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def _qty(value: float) -> str:
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _when(moment: datetime) -> str:
    return moment.astimezone(_TZ).strftime("%Y-%m-%d %H:%M")
