"""Alerts: the firing ones first, then the history, by county and rule; staff acknowledge or mute."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from relief_live import auth, state, ui
from relief_live.alerts import board, record, rules
from relief_live.i18n import t

lang = state.lang()
st.title(t("page_alerts", lang))
error = board.evaluate()
if error:
    st.error(t("alert_settings_error", lang, error=error))
listed = record.alerts(ui.store())

filters = st.columns(2)
counties = state.multiselect("county", t("alert_county", lang),
                             sorted(listed["county"].drop_nulls().unique().to_list()),
                             where=filters[0], placeholder=t("alert_all", lang))
chosen = state.multiselect("rule", t("alert_rule", lang), list(rules.RULE_NAMES), where=filters[1],
                           format_func=lambda name: board.title(name, lang), placeholder=t("alert_all", lang))
shown = listed
if counties:
    shown = shown.filter(pl.col("county").is_in(counties))
if chosen:
    shown = shown.filter(pl.col("rule").is_in(chosen))


def _table(frame: pl.DataFrame, *, resolved: bool) -> None:
    rows = [{
        t("alert_rule", lang): board.title(a["rule"], lang),
        t("alert_what", lang): board.line(a, lang),
        t("alert_county", lang): a["county"],
        t("alert_first_seen", lang): ui.local_time(_time(a["first_seen"])),
        (t("alert_resolved_at", lang) if resolved else t("alert_last_seen", lang)):
            ui.local_time(_time(a["resolved_at"] if resolved else a["last_seen"])),
        t("alert_status", lang): (t("alert_muted", lang) if a["muted"] else
                            t("alert_acknowledged", lang, who=a["acknowledged_by"]) if a["acknowledged_by"] else ""),
        t("alert_sent", lang): a["delivered_at"] is not None,
    } for a in frame.iter_rows(named=True)]
    st.dataframe(pl.DataFrame(rows) if rows else None, hide_index=True, width="stretch")


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


firing = shown.filter(pl.col("state") == "firing")
st.subheader(f"{t('alert_firing', lang)} ({firing.height})")
if firing.height:
    _table(firing, resolved=False)
else:
    st.info(t("alert_none_firing", lang))

if firing.height:
    if auth.may_write():
        labels = {a["id"]: f"{board.title(a['rule'], lang)} · {a['subject']}" for a in firing.iter_rows(named=True)}
        row = st.columns([3, 1, 1], vertical_alignment="bottom")
        picked = row[0].selectbox(t("alert_pick", lang), list(labels), format_func=labels.__getitem__,
                                  key="alert_pick")
        for where, (label, key, act, done) in zip(row[1:], (
                ("alert_acknowledge", "alert_ack", record.acknowledge, "alert_done_ack"),
                ("alert_mute", "alert_mute", record.mute, "alert_done_mute")), strict=True):
            if where.button(t(label, lang), key=key):
                act(ui.store(), int(picked), auth.who())
                board.changed()
                st.toast(t(done, lang))
                st.rerun()
    else:
        st.caption(t("alert_staff_only", lang))

history = shown.filter(pl.col("state") == "resolved")
st.subheader(f"{t('alert_history', lang)} ({history.height})")
if history.height:
    _table(history, resolved=True)
else:
    st.caption(t("alert_no_history", lang))
