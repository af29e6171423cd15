"""Overview: KPIs, sessions live now, GMV per day by host kind, broadcast vs cadre, top and stalled villages."""

from __future__ import annotations

import html

import polars as pl
import streamlit as st

from relief_live import charts, live, state, ui
from relief_live.bulletin.button import bulletin_button
from relief_live.i18n import t, vocab
from relief_live.metrics.villages import PACE_DAYS, STALLED_BELOW

lang, big = state.lang(), state.kiosk()
st.title(t("page_overview", lang))
ui.demo_banner(lang)
bulletin_button(lang)


_first = ui.report().sessions
_any_live = bool(_first.height and _first["live"].any())


@st.fragment(run_every=live.refresh_seconds() if big or _any_live else None)
def overview() -> None:
    from relief_live import metrics

    key = ui.report_key()
    report = ui.report(key)
    sessions, villages = report.sessions, report.villages
    if sessions.height == 0 and villages.height == 0:
        st.info(t("empty_store", lang))
        return
    totals = report.totals
    viewers = sessions["viewers"].sum() if sessions.height else None
    households = villages["households"].sum() if villages.height else None
    ui.kpis([
        (t("kpi_gmv", lang), ui.money(totals.get("gmv"), lang)),
        (t("kpi_orders", lang), ui.count(totals.get("orders"))),
        (t("kpi_viewers", lang), ui.count(viewers)),
        (t("kpi_sell_through", lang), ui.percent(totals.get("value_sell_through"))),
        (t("kpi_households", lang), ui.count(households)),
    ])

    st.subheader(t("live_now", lang))
    on_air = sessions.filter(pl.col("live")) if sessions.height else sessions
    if on_air.height == 0:
        st.caption(t("no_live", lang))
    for row in on_air.iter_rows(named=True):
        cols = st.columns([1, 5, 2, 2, 1], vertical_alignment="center")
        if live.freshness(row["last_tick"], live.now())[1] == "silent":  # the feed stopped: not shown as on air
            ui.freshness_badge(row["last_tick"], live.now(), lang, where=cols[0])
        else:
            cols[0].badge(t("live_badge", lang), icon=":material/radio_button_checked:", color="red")
        # Titles and host names are the uploaders' text: escaped HTML, never markdown (SECURITY.md).
        cols[1].html(f"<div><b>{html.escape(row['title'] or row['session_id'])}</b> · "
                     f"{html.escape(row['host_name'] or '')} · {html.escape(vocab('hk', row['host_kind'], lang))} · "
                     f"{html.escape(vocab('pf', row['platform'], lang))}</div>")
        cols[2].markdown(f"{t('kpi_gmv', lang)}: **{ui.money(row['gmv'], lang)}**")
        cols[3].markdown(f"{t('kpi_orders', lang)}: **{ui.count(row['orders'])}**")
        cols[4].page_link("views/live.py", label=t("open_session", lang),
                          query_params={"session": row["session_id"], **({"lang": lang} if lang != "en" else {})})

    left, right = st.columns(2)  # figures made once per report and language, for every visitor
    with left:
        daily = metrics.gmv_per_day(sessions)
        grain, first, last = "auto", None, None
        chart = st.container()  # the chart above its controls, in line with the chart beside it
        if daily.height and not big:  # a wall screen has no controls: the whole span, bars as it suits
            pick = st.columns([1, 2])
            grain = state.select("grain", t("grain", lang), ["auto", *metrics.GRAINS], where=pick[0],
                                 format_func=lambda g: t(f"grain_{g}", lang)) or "auto"
            first, last = state.date_range("days", t("date_range", lang), daily["day"].min(), daily["day"].max(),
                                           where=pick[1])
            daily = metrics.gmv_per_day(sessions, first, last)
        grain = metrics.grain_for(daily) if grain == "auto" else grain
        with chart:
            ui.shared_chart("gmv_per_day", (*key, lang, big, grain, first, last), lambda: charts.gmv_per_day(
                metrics.per_period(daily, grain), lang, grain=grain, big=big))
    with right:
        compared = ui.compared(key)
        kinds = report.host_kinds.join(compared.select("host_kind", "fair_median_gpm"), on="host_kind",
                                       how="left", nulls_equal=True)
        ui.shared_chart("host_compare", (*key, lang, big), lambda: charts.host_compare(kinds, lang, big=big))
        if compared.height and compared["flagged"].sum():
            st.caption(t("compare_note", lang, flagged=ui.count(compared["flagged"].sum()),
                         sessions=ui.count(compared["sessions"].sum())))

    if villages.height:
        shown = ["county", "village", "product", "unit", "sell_through", "remaining_qty", "projected_clear_date"]
        # Small tables as plain HTML, not st.dataframe: the grid's JavaScript delayed the first chart (bench/PAGES.md).
        left, right = st.columns(2)
        with left:
            st.subheader(t("top_villages", lang))
            top = villages.sort("sell_through", descending=True, nulls_last=True).head(5)
            ui.small_table(top.with_columns(ui.clears_by(lang)).select(shown), lang, progress=("sell_through",))
        with right:
            st.subheader(t("stalled_villages", lang), help=t("stalled_help", lang, share=f"{STALLED_BELOW:.0%}",
                                                             days=PACE_DAYS))
            stalled = villages.filter(pl.col("status") == "stalled").sort(
                "remaining_value", "unsold_value", descending=True, nulls_last=True)
            if stalled.height:
                ui.small_table(stalled.head(10).select([*shown[:5], "remaining_qty", "remaining_value"]), lang,
                               progress=("sell_through",), money_columns=("remaining_value",))
            else:
                st.caption(t("none", lang))


overview()
