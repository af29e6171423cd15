"""Metrics of docs/metrics.md in pure polars: sessions, host kinds, villages, totals, and their renderings."""

from __future__ import annotations

from relief_live.metrics.curves import (
    GRAINS,
    gmv_per_day,
    grain_for,
    per_period,
    previous_episode,
    session_curves,
)
from relief_live.metrics.render import format_report, report_json
from relief_live.metrics.report import Report, build_report

__all__ = [
    "GRAINS",
    "Report",
    "build_report",
    "format_report",
    "gmv_per_day",
    "grain_for",
    "per_period",
    "previous_episode",
    "report_json",
    "session_curves",
]
