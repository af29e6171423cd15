"""The wall screen (kiosk=1): one dark 1920x1080 screen, no controls. A live session's GMV, viewers online, orders,
minute curve, top products and the village board, cycling through the sessions on air; the programme when none is."""

from __future__ import annotations

import html
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

_STYLE: Final = """<style>
  html, body, [data-testid="stApp"], [data-testid="stAppViewContainer"], [data-testid="stMain"] {
    background: #0e1117 !important; color: #fafafa !important;}
  [data-testid="stMain"] h1, [data-testid="stMain"] h2, [data-testid="stMain"] h3, [data-testid="stMain"] p,
  [data-testid="stMetricLabel"] p, [data-testid="stMetricValue"], [data-testid="stCaptionContainer"] {
    color: #fafafa !important;}
  .block-container, [data-testid="stMainBlockContainer"] {padding: 0.6rem 1.2rem 0 1.2rem !important;}
  [data-testid="stMetric"] {border-color: rgba(250, 250, 250, 0.2) !important;}
  [data-testid="stMetricValue"] {font-size: min(2.6vw, 3rem) !important;}
  .wall-gmv {font-size: min(7.5vw, 8.5rem); font-weight: 700; line-height: 1.05; font-variant-numeric: tabular-nums;
    color: #ffd24d; letter-spacing: 0.02em;}
  .wall-title {font-size: min(2vw, 2.2rem); font-weight: 600; opacity: 0.9;}
  .wall-note {font-size: 1rem; opacity: 0.7;}
  /* the alert ticker: one line across the top, legible on the dark wall */
  [data-testid="stAlertContainer"] {background: rgba(255, 75, 75, 0.2) !important; padding: 0.4rem 0.8rem !important;}
  [data-testid="stMain"] [data-testid="stAlertContainer"] p {color: #ffc9c9 !important; white-space: nowrap;
    overflow: hidden; text-overflow: ellipsis;}
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


def _gmv(value: int | None, label: str, lang: str) -> None:
    st.html(f'<div class="wall-note">{html.escape(label)}</div><div class="wall-gmv">{ui.money(value, lang)}</div>')


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
            _gmv(row["gmv"], t("kpi_gmv", lang), lang)
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
            _gmv(totals.get("gmv"), t("kpi_gmv", lang), lang)
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
