"""The wall screen (kiosk=1): one dark 1920x1080 screen, no controls. A live session's GMV, viewers online, orders,
minute curve, top products and the village board, cycling through the sessions on air; the programme when none is."""

from __future__ import annotations

import html
import re
import time
from typing import Any, Final

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from relief_live import charts, live, state, ui
from relief_live.i18n import t, vocab

CYCLE_SECONDS: Final = 30  # each live session's time on the screen when several are on air
CHART_HEIGHT: Final = 400
BOARD_ROWS: Final = 8
ROLL_SECONDS: Final = 1.5  # the GMV counter's roll from the figure shown before to the new one
TICKER_CHARS_PER_SECOND: Final = 4  # how fast the alert line scrolls when it is longer than the screen

_STYLE: Final = """<style>
  html, body, [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] {
    background: #0e1117 !important; color: #fafafa !important;}
  [data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] h3, [data-testid="stMain"] p,
  [data-testid="stMetricLabel"] p, [data-testid="stMetricValue"], [data-testid="stCaptionContainer"] {
    color: #fafafa !important;}
  .block-container, [data-testid="stMainBlockContainer"] {padding: 0.6rem 1.2rem 0 1.2rem !important;}
  [data-testid="stMetric"] {border-color: rgba(250, 250, 250, 0.2) !important;}
  [data-testid="stMetricValue"] {font-size: min(2.6vw, 3rem) !important;}
  .wall-gmv {position: relative; font-size: min(7.5vw, 8.5rem); font-weight: 700; line-height: 1.05;
    font-variant-numeric: tabular-nums; color: #ffd24d; letter-spacing: 0.02em; white-space: nowrap;}
  /* The rolling counter: --wall-gmv runs from the figure shown before to the new one (its digits as one integer),
     each digit and separator drawn by a CSS counter over the real text, which is hidden during the roll only:
     when the roll ends the figure on the wall is money()'s own text. */
  /* \\3C is "<": the page's HTML sanitiser drops a style whose text has "<" before a letter */
  @property --wall-gmv {syntax: '\\3C integer>'; inherits: true; initial-value: 0;}
  @keyframes wall-roll {from {--wall-gmv: var(--from);} to {--wall-gmv: var(--to);}}
  @keyframes wall-shown {from, to {opacity: 1;}}
  @keyframes wall-hidden {from, to {opacity: 0;}}
  @counter-style wall-digit {system: fixed -1; symbols: "" "0" "1" "2" "3" "4" "5" "6" "7" "8" "9";}
  @counter-style wall-comma {system: fixed 0; symbols: "" ",";}
  .wall-roll {position: absolute; left: 0; top: 0; opacity: 0; pointer-events: none;
    animation: wall-roll var(--roll) cubic-bezier(0.2, 0.7, 0.3, 1) forwards, wall-shown var(--roll);}
  .wall-gmv-rolling .wall-gmv-text {animation: wall-hidden var(--roll);}
  .wall-roll-digit {counter-reset: wall-d calc(mod(round(down, var(--wall-gmv) / var(--p), 1), 10)
    - var(--lead, 0) * (1 - min(1, round(down, var(--wall-gmv) / var(--p), 1))));}
  .wall-roll-digit::after {content: counter(wall-d, wall-digit);}
  .wall-roll-comma {counter-reset: wall-c min(1, round(down, var(--wall-gmv) / var(--p), 1));}
  .wall-roll-comma::after {content: counter(wall-c, wall-comma);}
  .wall-roll-text::after {content: attr(data-text);}
  .wall-title {font-size: min(2vw, 2.2rem); font-weight: 600; opacity: 0.9;}
  .wall-note {font-size: 1rem; opacity: 0.7;}
  /* The alert ticker: one line across the top. A line longer than the screen scrolls to its end and back; the
     distance is what overflows (100cqw, the line's box, less the text's own width), none when it fits. */
  .wall-ticker {container-type: inline-size; overflow: hidden; white-space: nowrap; border-radius: 0.5rem;
    background: rgba(255, 75, 75, 0.2); color: #ffc9c9; padding: 0.4rem 0.8rem; font-size: 1.1rem;}
  .wall-ticker-text {display: inline-block; width: max-content; white-space: nowrap; animation: wall-ticker var(--ticker) linear infinite alternate;}
  @keyframes wall-ticker {0%, 10% {transform: translateX(0);} 90%, 100% {transform: translateX(min(0px, 100cqw - 100%));}}
  [data-testid="stMetric"] {padding: 0.4rem 0.8rem !important;}
</style>"""


def slot() -> int:
    """Which turn of the cycle it is: the next live session every CYCLE_SECONDS, the same on every wall."""
    return int(time.time() // CYCLE_SECONDS)


def _dark(fig: go.Figure, height: int = CHART_HEIGHT) -> go.Figure:
    """A shared figure, copied (never changed: other viewers hold it) onto the dark wall."""
    out = go.Figure(fig)
    out.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      height=height, margin={"t": 70, "b": 10, "l": 10, "r": 10})
    return out


def _chart(name: str, key: tuple[Any, ...], build: Any, height: int = CHART_HEIGHT) -> None:
    fig = ui.shared((name, "wall", *key), lambda: _dark(build(), height))
    st.plotly_chart(fig, key=f"wall_{name}", theme=None, config={"displaylogo": False, "staticPlot": True})


_FIGURE: Final = re.compile(r"(\d{1,3}(?:,\d{3})*)(?:\.(\d+))? (\S+)")


def _figure(text: str) -> tuple[int, int, str] | None:
    """money()'s text as (its digits as one integer, decimals, unit): "1,234.5 万元" -> (12345, 1, "万元")."""
    found = _FIGURE.fullmatch(text)
    if found is None:
        return None
    whole, decimals, unit = found.groups()
    return int(whole.replace(",", "") + (decimals or "")), len(decimals or ""), unit


def counter_html(before: int | None, after: int | None, lang: str) -> str:
    """The GMV `after` (fen) as money() writes it. When `before` was on the screen and reads in the same unit, the
    figure rolls from it to the new one (CSS alone: nothing but this HTML reaches the browser); otherwise, or
    when it reads the same, it is simply shown."""
    text = ui.money(after, lang)
    shown = f'<span class="wall-gmv-text">{html.escape(text)}</span>'
    old = _figure(ui.money(before, lang)) if before is not None else None
    new = _figure(text)
    if old is None or new is None or old[1:] != new[1:] or old[0] == new[0]:
        return f'<div class="wall-gmv">{shown}</div>'
    decimals, unit = new[1], new[2]
    places = len(str(max(old[0], new[0])))
    parts = []
    for power in range(places - 1, -1, -1):  # most significant digit first
        place = power - decimals  # 0 = units, negative = decimals
        lead = "; --lead: 1" if place > 0 else ""  # a leading zero is left out, as money() leaves it
        parts.append(f'<span class="wall-roll-digit" style="--p: {10 ** power}{lead}"></span>')
        if place > 0 and place % 3 == 0:
            parts.append(f'<span class="wall-roll-comma" style="--p: {10 ** power}"></span>')
        if place == 0 and decimals:
            parts.append('<span class="wall-roll-text" data-text="."></span>')
    parts.append(f'<span class="wall-roll-text" data-text=" {html.escape(unit)}"></span>')
    return (f'<div class="wall-gmv wall-gmv-rolling" style="--from: {old[0]}; --to: {new[0]}; '
            f'--roll: {ROLL_SECONDS}s">{shown}<span class="wall-roll" aria-hidden="true">{"".join(parts)}</span></div>')


def _gmv(value: int | None, label: str, lang: str, subject: str) -> None:
    """The large GMV counter of `subject` (a session, or the programme), rolling from what this screen showed."""
    before = st.session_state.get("wall_gmv")
    st.session_state["wall_gmv"] = (subject, value)
    previous = before[1] if before and before[0] == subject else None  # another session's figure: no roll
    st.html(f'<div class="wall-note">{html.escape(label)}</div>{counter_html(previous, value, lang)}')


def ticker(line: str) -> None:
    """The wall screen's line of firing alerts (text, escaped): still when it fits, scrolling when it does not."""
    seconds = max(10.0, len(line) / TICKER_CHARS_PER_SECOND)
    st.html(f'<div class="wall-ticker" role="marquee"><span class="wall-ticker-text" style="--ticker: {seconds:.0f}s">'
            f"{html.escape(line)}</span></div>")


def _board(villages: pl.DataFrame, lang: str) -> None:
    """The villages with most value left: how far each has sold and how it stands."""
    board = villages.sort("remaining_value", descending=True, nulls_last=True).head(BOARD_ROWS).with_columns(
        status=pl.col("status").map_elements(lambda s: t(f"status_{s}", lang), return_dtype=pl.String))
    ui.small_table(board.select("village", "product", "sell_through", "remaining_value", "status"), lang,
                   progress=("sell_through",), money_columns=("remaining_value",))


def wall(lang: str) -> None:
    from relief_live import metrics

    key = ui.report_key()
    report = ui.report(key)
    sessions, villages = report.sessions, report.villages
    on_air = sessions.filter(pl.col("live")).sort("started_at", "session_id") if sessions.height else sessions
    now = live.now()
    if on_air.height:
        chosen = st.query_params.get("session")
        ids = on_air["session_id"].to_list()
        session_id = chosen if chosen in ids else ids[slot() % len(ids)]
        row = on_air.filter(pl.col("session_id") == session_id).row(0, named=True)
        version, frames = ui.frames()
        curves, sales = ui.shared(("session_rows", version, session_id), lambda: (
            metrics.session_curves(live.session_ticks(frames, session_id), session_id),
            live.session_sales(frames, session_id)))
        top = st.columns([4, 5], vertical_alignment="bottom")
        with top[0]:
            st.html(f'<div class="wall-title">{html.escape(row["title"] or session_id)} · '
                    f'{html.escape(row["host_name"] or "")} · {html.escape(vocab("hk", row["host_kind"], lang))}'
                    '</div>')
            _gmv(row["gmv"], t("kpi_gmv", lang), lang, session_id)
        with top[1]:
            online = curves["viewers_online"].drop_nulls() if curves.height else pl.Series([], dtype=pl.Int64)
            latest = row["last_tick"]
            ui.kpis([(t("viewers_now", lang), ui.count(online[-1] if online.len() else None)),
                     (t("kpi_orders", lang), ui.count(row["orders"])),
                     (t("kpi_peak", lang), ui.count(row["peak_viewers"])),
                     (t("kpi_conversion", lang), ui.percent(row["conversion"])),
                     (t("on_air", lang), ui.count(on_air.height))])
            ui.freshness_badge(latest, now, lang)
        figure_key = (version, ui.minute(), session_id, lang)
        left, right = st.columns([3, 2])
        with left:
            if curves.height:
                _chart("curves", figure_key, lambda: charts.session_curves(
                    curves, lang, title=t("chart_session_title", lang, title=row["title"] or session_id),
                    host_kind=row["host_kind"], big=True))
            else:
                st.caption(t("no_ticks", lang))
        with right:
            _chart("products", figure_key, lambda: charts.breakdown(
                sales, "product", lang, title=t("chart_products", lang), host_kind=row["host_kind"], top=6,
                big=True), height=CHART_HEIGHT // 2 + 40)
            if villages.height:
                _board(villages, lang)
    else:
        totals = report.totals
        top = st.columns([4, 5], vertical_alignment="bottom")
        with top[0]:
            st.html(f'<div class="wall-title">{html.escape(t("app_title", lang))}</div>')
            _gmv(totals.get("gmv"), t("kpi_gmv", lang), lang, "")
        with top[1]:
            ui.kpis([
                (t("kpi_orders", lang), ui.count(totals.get("orders"))),
                (t("kpi_viewers", lang), ui.count(sessions["viewers"].sum() if sessions.height else None)),
                (t("kpi_sessions", lang), ui.count(totals.get("sessions"))),
                (t("kpi_sell_through", lang), ui.percent(totals.get("value_sell_through"))),
                (t("kpi_households", lang), ui.count(villages["households"].sum() if villages.height else None)),
            ])
            st.caption(t("no_live", lang))
        left, right = st.columns([3, 2])
        with left:
            daily = metrics.gmv_per_day(sessions)
            grain = metrics.grain_for(daily)
            _chart("gmv", (*key, lang), lambda: charts.gmv_per_day(metrics.per_period(daily, grain), lang,
                                                                     grain=grain, big=True))
        with right:
            if villages.height:
                st.html(f'<div class="wall-title">{html.escape(t("village_board", lang))}</div>')
                _board(villages, lang)


def show() -> None:
    """The wall screen, in place of the page (dashboard.py, kiosk=1): refreshing itself, no controls."""
    st.html(_STYLE)
    st.fragment(wall, run_every=live.refresh_seconds())(state.lang())
