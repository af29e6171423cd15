"""Live session: minute curves (viewers online, orders per minute, cumulative GMV), breakdowns, previous episode."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import streamlit as st

from relief_live import charts, live, state, ui
from relief_live.alerts import board
from relief_live.i18n import plain, t, vocab
from relief_live.metrics.sessions import stopped

lang, big = state.lang(), state.kiosk()
st.title(t("page_live", lang))
ui.demo_banner(lang)

report = ui.report()
sessions = report.sessions
if sessions.height == 0:
    st.info(t("no_sessions", lang))
    st.stop()



def _labels() -> dict[str, str]:
    ordered = sessions.sort(["live", "started_at"], descending=[True, True], nulls_last=True)
    return {
        row["session_id"]: (f"● {t('live_badge', lang)} · " if row["live"] else "")
        + f"{row['title'] or row['session_id']} · {ui.local_time(row['started_at'], '%Y-%m-%d %H:%M')}"
        for row in ordered.iter_rows(named=True)
    }


# The picker's labels, made once per report (a programme of thousands of sessions took most of a render).
labels = ui.shared(("session_labels", ui.frames()[0], ui.minute(), lang), _labels)
session_id = state.select("session", t("pick_session", lang), list(labels), format_func=labels.__getitem__,
                          always=True)
assert session_id is not None
row = sessions.filter(pl.col("session_id") == session_id).row(0, named=True)
is_live = bool(row["live"])


def session_view() -> None:
    from relief_live import metrics

    version, frames = ui.frames()
    now = live.now()
    # Figures are shared by every viewer of this session until the store (or the minute that decides
    # "live") changes: a refresh with nothing new builds nothing.
    figure_key = (version, ui.minute(), session_id, lang, big)
    # The session's rows, filtered out of the whole store once per store change (10M order lines: 0.8 s).
    curves, sales = ui.shared(("session_rows", version, session_id), lambda: (
        metrics.session_curves(live.session_ticks(frames, session_id), session_id),
        live.session_sales(frames, session_id)))
    current = ui.report().sessions.filter(pl.col("session_id") == session_id)
    info = current.row(0, named=True) if current.height else row

    head = st.columns([3, 1], vertical_alignment="center")
    # The newest row of this session, a minute tick or an order: what "live" can honestly vouch for.
    latest = max((x for x in (info["last_tick"], sales["ts"].max() if sales.height else None) if x is not None),
                 default=None)
    # Live, or its feed stopped within the hour with no end given: the data's age is shown (red: 数据中断).
    watched = info["live"] or bool(current.height and current.select(stopped(now)).item())
    with head[0]:
        badges = st.container(horizontal=True, gap="small")
        feed = ui.freshness_badge(latest, now, lang, where=badges) if watched else None
        if info["live"] and feed != "silent":  # a stopped feed is not shown as on air
            badges.badge(t("live_badge", lang), icon=":material/radio_button_checked:", color="red")
        if not watched and latest is not None:
            badges.caption(t("latest_at", lang, time=ui.local_time(latest)))
        st.markdown(f"**{plain(info['host_name'])}** {plain(info['host_role'])} · "
                    f"{plain(vocab('hk', info['host_kind'], lang))} · {plain(vocab('pf', info['platform'], lang))}")
    board.session_banner(session_id, lang)
    if not big:  # the wall screen has no controls
        ui.watch_rejections(lang)  # an export the folder watcher refused: this page's data may be missing its rows
    head[1].caption(t("updated_at", lang, time=ui.local_time(now, "%H:%M:%S")), help=(
        t("refresh_every", lang, seconds=f"{live.refresh_seconds():g}") if is_live else None))

    peak = info["peak_viewers"]
    if peak is None and curves.height:
        peak = curves["viewers_online"].max()
    ui.kpis([
        (t("kpi_gmv", lang), ui.money(info["gmv"], lang)),
        (t("kpi_orders", lang), ui.count(info["orders"])),
        (t("kpi_peak", lang), ui.count(peak)),
        (t("kpi_gpm", lang), ui.money(info["gpm"], lang) if info["gpm"] is not None else "—"),
        (t("kpi_conversion", lang), ui.percent(info["conversion"])),
        # Only a session summary gives it (a 罗盘 workbook's 新增粉丝数): no card where it is unknown.
        *([(t("kpi_new_followers", lang), ui.count(info["new_followers"]))] if info["new_followers"] is not None
          else []),
    ])

    title = t("chart_session_title", lang, title=info["title"] or session_id)
    if curves.height == 0:
        st.info(t("no_ticks", lang))
    else:
        ui.shared_chart("session_curves", figure_key, lambda: charts.session_curves(
            curves, lang, title=title, host_kind=info["host_kind"], big=big))

    if sales.height == 0:
        st.caption(t("no_sales", lang))
    else:
        left, right = st.columns(2)
        with left:
            ui.shared_chart("by_product", figure_key, lambda: charts.breakdown(
                sales, "product", lang, title=t("chart_products", lang), host_kind=info["host_kind"], big=big))
        with right:
            ui.shared_chart("by_village", figure_key, lambda: charts.breakdown(
                sales, "village", lang, title=t("chart_villages_products", lang), host_kind=info["host_kind"],
                big=big))

    previous_id = metrics.previous_episode(ui.report().sessions, session_id)
    if previous_id is None:
        st.caption(t("no_previous", lang))
    else:
        prev_row = sessions.filter(pl.col("session_id") == previous_id).row(0, named=True)
        previous = ui.shared(("previous_curves", version, previous_id),
                             lambda: metrics.session_curves(live.session_ticks(frames, previous_id), previous_id))
        ui.shared_chart("previous", figure_key, lambda: charts.previous_compare(
            curves, previous, lang, current_start=_start(info), previous_start=_start(prev_row),
            previous_title=prev_row["title"] or previous_id, host_kind=info["host_kind"], big=big))


def _start(info: dict) -> datetime | None:
    return info.get("started_at")


st.fragment(session_view, run_every=live.refresh_seconds() if is_live else None)()
