"""The bulletin as an A4 PDF, laid out by Typst (bulletin.typ) with Noto Sans CJK embedded and vector charts."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl

from relief_live.bulletin import charts
from relief_live.bulletin.content import (
    Bulletin,
    change_text,
    figure_text,
    host_kind_name,
    local_text,
    money_text,
    status_name,
    text,
)
from relief_live.i18n import count, percent, vocab

TEMPLATE: Final = Path(__file__).with_name("bulletin.typ")
# Rows of the villages and the files a PDF lists (stalled villages first): pages a leader reads, not a
# directory; a programme of thousands of villages has them all in the XLSX, and the PDF says so.
PDF_ROWS: Final = 60

Cell = Callable[[Any], str]


# The PDF's cells say "-" where a figure is unknown (its money and dates too); a known one as the pages write it.
def _count(value: Any) -> str:
    return "-" if value is None else count(value)


def _hours(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _percent(value: Any) -> str:
    return "-" if value is None else percent(value)


def _day(value: Any) -> str:
    return "-" if value is None else value.isoformat()


def _plain(value: Any) -> str:
    return "" if value is None else str(value)


def _section(title: str, frame: pl.DataFrame, columns: Sequence[tuple[str, str, Cell, bool]], lang: str, *,
             red: pl.Series | None = None, notes: Sequence[str] = (), size: float = 8) -> dict[str, Any]:
    """A table for the template: headings, rows of strings, right-aligned numbers, rows to show in red."""
    if frame.height > PDF_ROWS:
        notes = [text("more_rows", lang, shown=PDF_ROWS, total=f"{frame.height:,}"), *notes]
        frame, red = frame.head(PDF_ROWS), red.head(PDF_ROWS) if red is not None else None
    rows = [[show(row[name]) for _, name, show, _ in columns] for row in frame.iter_rows(named=True)]
    return {
        "title": title, "columns": [text(key, lang) for key, _, _, _ in columns], "rows": rows,
        "align": ["right" if number else "left" for _, _, _, number in columns],
        "red": red.to_list() if red is not None else [False] * len(rows), "notes": list(notes),
        "empty": text("none", lang), "size": size,
    }


def document_data(bulletin: Bulletin) -> dict[str, Any]:
    """Everything the template shows, as strings."""
    lang = bulletin.lang
    period, before = bulletin.period, bulletin.previous
    kind, stalled = (lambda k: host_kind_name(k, lang)), (lambda s: status_name(s, lang))
    headline = bulletin.headline.with_columns(
        pl.struct("key", "current").map_elements(lambda r: figure_text(r["key"], r["current"]),
                                                 return_dtype=pl.String).alias("current_text"),
        pl.struct("key", "previous").map_elements(lambda r: figure_text(r["key"], r["previous"]),
                                                  return_dtype=pl.String).alias("previous_text"))
    return {
        "lang": lang,
        "font": charts.FONT,
        "title": text("title", lang, kind=text(period.kind, lang)),
        "period": text("period", lang, start=period.start, end=period.end),
        "made": text("made", lang, time=local_text(bulletin.made_at)),
        "page": text("page", lang),
        "lines": [
            text("period", lang, start=period.start, end=period.end),
            text("previous", lang, start=before.start, end=before.end),
            text("county", lang, county=bulletin.county) if bulletin.county else text("all_counties", lang),
            text("made", lang, time=local_text(bulletin.made_at)),
        ],
        "summary_title": text("summary", lang),
        "summary": bulletin.summary,
        "headline": _section(text("headline", lang), headline, [
            ("figure", "figure", _plain, False), ("current", "current_text", _plain, True),
            ("before", "previous_text", _plain, True), ("change", "change", change_text, True),
            ("note", "note", _plain, False)], lang,
            notes=[f"{text('households', lang)}: {bulletin.households:,}"], size=9),
        "middle": [
            _section(text("host_kinds", lang), bulletin.host_kinds, [
                ("host_kind", "host_kind", kind, False), ("sessions", "sessions", _count, True),
                ("hours", "hours", _hours, True), ("gmv", "gmv", money_text, True),
                ("gmv_per_hour", "gmv_per_hour", money_text, True),
                ("gmv_per_hour_before", "gmv_per_hour_before", money_text, True),
                ("change", "change", change_text, True),
                ("median_conversion", "median_conversion", _percent, True)], lang),
            _section(text("top_sessions", lang), bulletin.top_sessions, [
                ("title_col", "title", _plain, False), ("host", "host_name", _plain, False),
                ("host_kind", "host_kind", kind, False), ("platform", "platform", lambda p: vocab("pf", p, lang), False),
                ("started", "started_at", local_text, False), ("viewers", "viewers", _count, True),
                ("orders", "orders", _count, True), ("gmv", "gmv", money_text, True),
                ("conversion", "conversion", _percent, True)], lang, size=7.5),
            _section(text("counties", lang), bulletin.counties, [
                ("county_col", "county", _plain, False), ("villages_n", "villages", _count, True),
                ("unsold_value", "unsold_value", money_text, True), ("sold_period", "sold_period", money_text, True),
                ("sell_through", "value_sell_through", _percent, True),
                ("remaining_value", "remaining_value", money_text, True),
                ("clear_date", "projected_clear_date", _day, False), ("stalled_n", "stalled", _count, True)], lang,
                size=7.5),
        ],
        "after": [
            _section(text("villages", lang), bulletin.villages, [
                ("county_col", "county", _plain, False), ("village", "village", _plain, False),
                ("product", "product", _plain, False), ("status", "status", stalled, False),
                ("unsold_value", "unsold_value", money_text, True), ("sold_period", "sold_period", money_text, True),
                ("sell_through", "sell_through", _percent, True),
                ("remaining_value", "remaining_value", money_text, True),
                ("clear_date", "projected_clear_date", _day, False)], lang,
                red=bulletin.villages.get_column("status") == "stalled", size=7.5),
            _section(text("provenance", lang), bulletin.provenance, [
                ("batch", "batch", _count, True), ("file", "path", _plain, False), ("kind", "kind", lambda k: vocab("kind", k, lang), False),
                ("rows", "rows", _count, True), ("uploaded", "at", local_text, False), ("by", "by", _plain, False)],
                lang, size=7.5, notes=[
                    text("unattributed", lang, rows=f"{bulletin.unattributed[0]:,}",
                         amount=money_text(bulletin.unattributed[1])),
                    text("unconvertible", lang, rows=f"{bulletin.unconvertible[0]:,}",
                         amount=money_text(bulletin.unconvertible[1]))]),
        ],
        "daily": charts.daily(bulletin),
        "counties_chart": charts.counties(bulletin),
    }


def to_pdf(bulletin: Bulletin) -> bytes:
    """The PDF's bytes. Only the Noto CJK fonts are offered to Typst, so every glyph is theirs (charts.font_dir
    says what to install when they are missing)."""
    import typst

    data = json.dumps(document_data(bulletin), ensure_ascii=False)
    return typst.compile(str(TEMPLATE), root=str(TEMPLATE.parent), font_paths=[charts.typst_font_dir()],
                         ignore_system_fonts=True, sys_inputs={"data": data}, timestamp=int(bulletin.made_at.timestamp()))
