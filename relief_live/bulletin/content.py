"""The bulletin's content as data: its period, its tables, its summary and its provenance, from the report."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import polars as pl

from relief_live.i18n import t as dashboard_text
from relief_live.i18n import vocab
from relief_live.metrics import period as metrics_period
from relief_live.metrics.common import ZONE
from relief_live.metrics.curves import gmv_per_day
from relief_live.metrics.report import Report

KINDS: Final = ("week", "month")
LANGS: Final = ("zh", "en")
TOP_SESSIONS: Final = 10
_TZ: Final = ZoneInfo(ZONE)
FRAMES: Final = ("sessions", "ticks", "sales", "stock")

# The bulletin's own words: key -> (中文, English). Placeholders are str.format fields, the same in both.
TEXT: Final[dict[str, tuple[str, str]]] = {
    "title": ("消费帮扶直播带货{kind}通报", "Relief livestream sales: {kind} bulletin"),
    "week": ("周", "weekly"),
    "month": ("月", "monthly"),
    "period": ("统计期：{start} 至 {end}", "Period: {start} to {end}"),
    "previous": ("对比上期：{start} 至 {end}", "Compared with: {start} to {end}"),
    "county": ("范围：{county}", "Scope: {county}"),
    "all_counties": ("范围：全部县区", "Scope: all counties"),
    "made": ("生成时间：{time}", "Made: {time}"),
    "page": ("第 {page} 页 / 共 {pages} 页", "Page {page} of {pages}"),
    "summary": ("摘要", "Summary"),
    "headline": ("主要指标", "Key figures"),
    "host_kinds": ("媒体/达人直播与干部直播对比", "Broadcasts and cadre-hosted sessions"),
    "top_sessions": ("成交额前十场次", "Top 10 sessions by GMV"),
    "counties": ("分县区滞销货值消化情况", "Unsold stock by county"),
    "villages": ("分村消化情况（滞销未动的村排在最前）", "Villages (stalled villages first)"),
    "provenance": ("数据来源", "Where the figures come from"),
    "host_kinds_sheet": ("主播类型对比", "Host kinds"),
    "top_sessions_sheet": ("成交额前十场次", "Top sessions"),
    "counties_sheet": ("分县区", "Counties"),
    "villages_sheet": ("分村", "Villages"),
    "chart_daily": ("每日成交额（按主播类型）", "GMV per day by host kind"),
    "chart_counties": ("各县区滞销货值售出比例", "Share of unsold stock value sold, by county"),
    "figure": ("指标", "Figure"),
    "current": ("本期", "This period"),
    "before": ("上期", "Previous period"),
    "change": ("环比", "Change"),
    "note": ("说明", "Note"),
    "covers_current": ("本期 {sessions} 场中 {known} 场有此数据", "this period: {known} of {sessions} sessions report it"),
    "covers_previous": ("上期 {sessions} 场中 {known} 场有此数据", "previous: {known} of {sessions} sessions report it"),
    "sessions": ("直播场次", "Sessions"),
    "hours": ("直播时长（小时）", "Hours on air"),
    "viewers": ("观看人数", "Viewers"),
    "orders": ("订单数", "Orders"),
    "gmv": ("成交额（元）", "GMV (¥)"),
    "refunds": ("退款额（元）", "Refunds (¥)"),
    "sold_value": ("帮扶村销售额（元）", "Sold from villages' stock (¥)"),
    "households": ("售出产品的村所带动农户", "Households in villages that sold"),
    "host_kind": ("主播类型", "Host kind"),
    "gmv_per_hour": ("每小时成交额（元）", "GMV per hour (¥)"),
    "gmv_per_hour_before": ("上期每小时成交额（元）", "Previous GMV per hour (¥)"),
    "median_conversion": ("转化率中位数", "Median conversion"),
    "title_col": ("场次", "Session"),
    "host": ("主播", "Host"),
    "platform": ("平台", "Platform"),
    "started": ("开播时间", "Started"),
    "conversion": ("转化率", "Conversion"),
    "county_col": ("县区", "County"),
    "village": ("村", "Village"),
    "product": ("产品", "Product"),
    "villages_n": ("村数", "Villages"),
    "unsold_value": ("登记滞销货值（元）", "Registered unsold value (¥)"),
    "sold_period": ("本期售出（元）", "Sold this period (¥)"),
    "sold_total": ("累计售出（元）", "Sold in all (¥)"),
    "sell_through": ("累计售出比例", "Sold so far"),
    "remaining_value": ("剩余货值（元）", "Remaining (¥)"),
    "clear_date": ("预计售完日期", "Projected to clear"),
    "status": ("状态", "Status"),
    "stalled_n": ("滞销未动", "Stalled"),
    "batch": ("批次", "Batch"),
    "file": ("文件", "File"),
    "kind": ("类型", "Kind"),
    "rows": ("行数", "Rows"),
    "uploaded": ("上传时间", "Uploaded"),
    "by": ("上传人", "By"),
    "unattributed": ("未能归属到村的销售：{rows} 行，{amount}", "Sales not attributed to a village: {rows} rows, {amount}"),
    "unconvertible": ("单位无法换算的销售：{rows} 行，{amount}（计入销售额，不计入售出数量）",
                      "Sales whose unit does not convert: {rows} rows, {amount} (in sold value, not in quantity)"),
    "no_sessions": ("本期没有直播场次。", "No session in this period."),
    "none": ("无", "none"),
    "more_rows": ("仅列出前 {shown} 行，共 {total} 行；完整列表见同期 XLSX 文件。",
                  "The first {shown} of {total} rows; the XLSX of the same period lists them all."),
    "unknown": ("未知", "unknown"),
    "up": ("{what}环比上升 {pct}（{before} → {now}）", "{what} rose {pct} ({before} → {now})"),
    "down": ("{what}环比下降 {pct}（{before} → {now}）", "{what} fell {pct} ({before} → {now})"),
    "new": ("{what}从无到有：{now}", "{what} went from none to {now}"),
    "no_change": ("与上期相比，主要指标没有变化。", "The key figures did not change from the previous period."),
    "stalled_line": ("{n} 个村滞销未动，剩余货值 {value}。", "{n} villages are stalled, with {value} of stock left."),
    "joiner": ("；", "; "),
    "end": ("。", "."),
}

# The figures of the headline table, in order: key -> how it is read from a (period) report.
HEADLINE: Final[tuple[str, ...]] = ("sessions", "hours", "viewers", "orders", "gmv", "refunds", "sold_value")
MONEY_FIGURES: Final = frozenset({"gmv", "refunds", "sold_value"})


def text(key: str, lang: str, /, **fields: Any) -> str:
    """The bulletin's text of `key` in `lang` (zh or en), with its fields filled in."""
    zh, en = TEXT[key]
    chosen = en if lang == "en" else zh
    return chosen.format(**fields) if fields else chosen


def status_name(status: str | None, lang: str) -> str:
    return dashboard_text(f"status_{status}", lang) if status else text("unknown", lang)


def host_kind_name(kind: str | None, lang: str) -> str:
    return vocab("hk", kind, lang)


# -- periods ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A Monday–Sunday week or a calendar month, its first and last day (Asia/Shanghai days)."""

    kind: str
    start: date
    end: date

    def previous(self) -> Period:
        return period_containing(self.kind, self.start - timedelta(days=1))

    def label(self) -> str:
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


def period_containing(kind: str, day: date) -> Period:
    """The week (Monday to Sunday) or calendar month that contains `day`."""
    if kind == "week":
        start = day - timedelta(days=day.weekday())
        return Period(kind, start, start + timedelta(days=6))
    if kind == "month":
        last = calendar.monthrange(day.year, day.month)[1]
        return Period(kind, day.replace(day=1), day.replace(day=last))
    raise ValueError(f"period must be week or month, not {kind!r}")


def default_period(kind: str, today: date, latest: date | None) -> Period:
    """The last complete period before `today`; when the data end before it (a programme of past years), the
    period that holds the latest data, so a bulletin is never of weeks with nothing in them."""
    last = period_containing(kind, today).previous()
    if latest is not None and latest < last.start:
        return period_containing(kind, latest)
    return last


def today_local(now: datetime) -> date:
    return now.astimezone(_TZ).date()


def latest_day(frames: dict[str, pl.DataFrame]) -> date | None:
    """The last calendar day with a session start, a tick or a sale in the store (column maxima: cheap enough for
    a page to ask on every run)."""
    moments = [frames["sessions"].get_column("started_at").max(), frames["ticks"].get_column("ts").max(),
               frames["sales"].get_column("ts").max()]
    known = [m for m in moments if m is not None]
    return today_local(max(known)) if known else None  # type: ignore[arg-type]


def choose_period(kind: str, frames: dict[str, pl.DataFrame], *, ending: date | None = None,
                  now: datetime | None = None) -> Period:
    """The period of `kind` that holds `ending`, else default_period as of `now` and the store's latest data."""
    if ending is not None:
        return period_containing(kind, ending)
    return default_period(kind, today_local(now or datetime.now(UTC)), latest_day(frames))


# -- the bulletin ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bulletin:
    """Everything the PDF and the XLSX show. Money in integer fen; times UTC; ratios as fractions.

    headline: figure, current, previous, change (null when the previous is 0 or unknown), note (how many sessions
    a sum of viewers or hours covers, when some do not report it).
    counties / villages: as at the end of the period (the report up to its last day), with what sold in it.
    """

    period: Period
    previous: Period
    county: str | None
    lang: str
    made_at: datetime
    headline: pl.DataFrame
    host_kinds: pl.DataFrame
    top_sessions: pl.DataFrame
    counties: pl.DataFrame
    villages: pl.DataFrame
    daily: pl.DataFrame
    households: int
    summary: str
    provenance: pl.DataFrame
    unattributed: tuple[int, int]  # rows, amount (fen) in the period
    unconvertible: tuple[int, int]


def make(frames: dict[str, pl.DataFrame], batches: pl.DataFrame, kind: str, *, ending: date | None = None,
         county: str | None = None, lang: str = "zh", now: datetime | None = None) -> Bulletin:
    """The bulletin of the period of `kind` that contains `ending` (default_period when None), from the four
    store frames (FRAMES) and the store's batches; of one county's sessions and villages when `county` is given.
    """
    if lang not in LANGS:
        raise ValueError(f"language must be zh or en, not {lang!r}")
    now = now or datetime.now(UTC)
    chosen = choose_period(kind, frames, ending=ending, now=now)
    before = chosen.previous()
    args = [frames[name] for name in FRAMES]

    def report(start: date | None, end: date) -> Report:
        return metrics_period.period_report(*args, frames.get("catalogue"), start=start, end=end, now=now,
                                            county=county)

    current, previous = report(chosen.start, chosen.end), report(before.start, before.end)
    so_far = report(None, chosen.end)

    headline = _headline(current, previous, lang)
    villages = _villages(so_far, current)
    sold = villages.filter(pl.col("sold_period") > 0)
    households = int(sold.group_by("county", "village").agg(pl.col("households").max())
                     .get_column("households").sum())
    kept = metrics_period.window(*args, start=chosen.start, end=chosen.end)
    return Bulletin(
        period=chosen, previous=before, county=county, lang=lang, made_at=now,
        headline=headline,
        host_kinds=_host_kinds(current, previous),
        top_sessions=current.sessions.sort("gmv", "started_at", descending=[True, False], nulls_last=True)
        .head(TOP_SESSIONS).select("session_id", "title", "host_name", "host_kind", "platform", "started_at",
                                   hours=pl.col("duration_s") / 3600, viewers="viewers", orders="orders", gmv="gmv",
                                   conversion="conversion"),
        counties=_counties(so_far, current),
        villages=villages,
        daily=gmv_per_day(current.sessions),
        households=households,
        summary=_summary(headline, villages, lang),
        provenance=_provenance(kept, batches),
        unattributed=(current.unattributed.height, int(current.unattributed.get_column("amount").sum())),
        unconvertible=(current.unconvertible.height, int(current.unconvertible.get_column("amount").sum())),
    )


def _coverage(report: Report) -> dict[str, tuple[int, int]]:
    """For the sums that skip sessions whose figure is unknown: (sessions that have it, sessions)."""
    sessions = report.sessions
    return {"viewers": (sessions.height - sessions.get_column("viewers").null_count(), sessions.height),
            "hours": (sessions.height - sessions.get_column("duration_s").null_count(), sessions.height)}


def _figures(report: Report) -> dict[str, int | float]:
    """The headline figures of a period's report: its totals, host kinds' hours, sessions' viewers (those known)
    and the villages' refunds."""
    totals = report.totals
    return {
        "sessions": totals["sessions"],
        "hours": float(report.host_kinds.get_column("hours").sum()),
        "viewers": int(report.sessions.get_column("viewers").sum()),
        "orders": totals["orders"],
        "gmv": totals["gmv"],
        "refunds": int(report.villages.get_column("refunded_value").sum()),
        "sold_value": totals["sold_value"],
    }


def change(now: float, before: float) -> float | None:
    """(now − before) / before; unknown when before is 0."""
    return (now - before) / before if before else None


def _headline(current: Report, previous: Report, lang: str) -> pl.DataFrame:
    """The headline figures; a sum that leaves out sessions whose figure is unknown says how many it covers."""
    now, before = _figures(current), _figures(previous)
    now_cover, before_cover = _coverage(current), _coverage(previous)

    def note(key: str) -> str | None:
        parts = [text(f"covers_{which}", lang, known=cover[key][0], sessions=cover[key][1])
                 for which, cover in (("current", now_cover), ("previous", before_cover))
                 if key in cover and cover[key][0] < cover[key][1]]
        return text("joiner", lang).join(parts) or None

    return pl.DataFrame(
        [{"key": key, "figure": text(key, lang), "current": float(now[key]), "previous": float(before[key]),
          "change": change(now[key], before[key]), "note": note(key)} for key in HEADLINE],
        schema={"key": pl.String, "figure": pl.String, "current": pl.Float64, "previous": pl.Float64,
                "change": pl.Float64, "note": pl.String},
    )


def _host_kinds(current: Report, previous: Report) -> pl.DataFrame:
    before = previous.host_kinds.select("host_kind", gmv_per_hour_before="gmv_per_hour")
    return current.host_kinds.join(before, on="host_kind", how="full", coalesce=True, nulls_equal=True).select(
        "host_kind", pl.col("sessions").fill_null(0), pl.col("hours").fill_null(0.0), pl.col("gmv").fill_null(0),
        "gmv_per_hour", "gmv_per_hour_before", "median_conversion",
        change=pl.when(pl.col("gmv_per_hour_before") > 0)
        .then((pl.col("gmv_per_hour") - pl.col("gmv_per_hour_before")) / pl.col("gmv_per_hour_before")),
    ).sort("host_kind", nulls_last=True)


_PLACE: Final = ["county", "village", "product"]


def _villages(so_far: Report, current: Report) -> pl.DataFrame:
    """The villages as at the period's end, with what sold in the period; stalled first, then most remaining
    value first."""
    period_sold = current.villages.select(*_PLACE, sold_period="sold_value")
    return (
        so_far.villages.join(period_sold, on=_PLACE, how="left", nulls_equal=True)
        .select(*_PLACE, "unit", "unsold_value", pl.col("sold_period").fill_null(0), sold_total="sold_value",
                sell_through="sell_through", remaining_value="remaining_value",
                projected_clear_date="projected_clear_date", status="status", households="households")
        .sort(pl.col("status") != "stalled", "remaining_value", descending=[False, True], nulls_last=True)
    )


def _counties(so_far: Report, current: Report) -> pl.DataFrame:
    total = metrics_period.per_county(so_far.villages)
    sold = metrics_period.per_county(current.villages).select("county", sold_period="sold_value")
    return total.join(sold, on="county", how="left", nulls_equal=True).select(
        "county", "villages", "unsold_value", pl.col("sold_period").fill_null(0), sold_total="sold_value",
        value_sell_through="value_sell_through", remaining_value="remaining_value",
        projected_clear_date="projected_clear_date", stalled="stalled")


def _provenance(kept: tuple[pl.DataFrame, ...], batches: pl.DataFrame) -> pl.DataFrame:
    """The batches with rows in the period's frames (their stock baselines included): file, kind, rows, upload."""
    used = pl.concat([frame.select("batch") for frame in kept]).unique()
    return batches.join(used, on="batch", how="semi").sort("batch").select(
        "batch", "path", "kind", "rows", "at", "by")


def _summary(headline: pl.DataFrame, villages: pl.DataFrame, lang: str) -> str:
    """The three largest movements against the previous period, in plain words, and the stalled villages."""
    moved = headline.filter(pl.col("current") != pl.col("previous")).with_columns(
        size=pl.when(pl.col("change").is_null()).then(float("inf")).otherwise(pl.col("change").abs()))
    lines, told = [], set()
    for row in moved.sort("size", descending=True).iter_rows(named=True):
        if len(lines) == 3 or (row["current"], row["previous"]) in told:  # GMV and village sales often agree
            continue
        told.add((row["current"], row["previous"]))
        what = row["figure"].split("（")[0].split(" (")[0]
        now, before = figure_text(row["key"], row["current"]), figure_text(row["key"], row["previous"])
        if row["change"] is None:
            lines.append(text("new", lang, what=what, now=now))
        else:
            lines.append(text("up" if row["change"] > 0 else "down", lang, what=what, pct=f"{abs(row['change']):.1%}",
                              before=before, now=now))
    sentence = text("joiner", lang).join(lines) + text("end", lang) if lines else text("no_change", lang)
    stalled = villages.filter(pl.col("status") == "stalled")
    if stalled.height:
        value = money_text(int(stalled.get_column("remaining_value").sum()))
        sentence += (" " if lang == "en" else "") + text("stalled_line", lang, n=stalled.height, value=value)
    return sentence


def money_text(fen: int | float | None) -> str:
    return "-" if fen is None else f"¥{fen / 100:,.2f}"


def figure_text(key: str, value: float | None) -> str:
    """A headline figure as written in the bulletin: money in yuan, hours to one decimal, counts whole."""
    if value is None:
        return "-"
    if key in MONEY_FIGURES:
        return money_text(value)
    if key == "hours":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def change_text(ratio: float | None) -> str:
    """+12.3% as ↑12.3%, a fall as ↓, no previous figure as –."""
    if ratio is None:
        return "–"
    if ratio == 0:
        return "0.0%"
    return f"{'↑' if ratio > 0 else '↓'}{abs(ratio):.1%}"


def local_text(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(_TZ).strftime("%Y-%m-%d %H:%M")
