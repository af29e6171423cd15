"""Alerts on the dashboard: evaluated once per store version and minute per server, the bell, a session's banner,
the wall screen's ticker; messages sent from a thread so that no page waits on a robot."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import polars as pl
import streamlit as st

from relief_live import alerts, live, state, ui, wall
from relief_live.alerts import deliver, record, rules
from relief_live.i18n import plain, t
from relief_live.store import describe_failure

log = logging.getLogger(__name__)
_COLON: Final = {"zh": "：", "en": ": "}
_changed = [0]  # bumped by an acknowledgement or a mute in this server: the bell's cache key


@st.cache_resource(show_spinner=False, max_entries=4)
def _evaluated(url: str, version: int, minute: int) -> str | None:
    """Evaluate once per (store, version, minute) in this server; start sending what is due. None, or the
    reason alerts could not be evaluated (a threshold setting that cannot be read)."""
    store = ui.store()
    try:
        alerts.check(store, live=ui._live_frames(url), send=False, version=version)
    except rules.SettingError as error:
        return str(error)
    except Exception as error:  # the store's (busy, full): the pages go on; the next minute tries again
        log.warning("alerts were not evaluated: %s", error)
        return describe_failure(None, error, state.lang())  # (not the store's address: viewers read it)
    alerts.deliver_in_background(store)
    return None


def evaluate() -> str | None:
    """The rules on the store as this page sees it (cached: once per store version and minute per server)."""
    version, minute = ui.report_key()
    return _evaluated(ui.store().url, version, minute)


@st.cache_resource(show_spinner=False, max_entries=16)
def _firing(url: str, version: int, minute: int, changed: int) -> pl.DataFrame:
    return record.alerts(ui.store(), firing_only=True)


def firing() -> pl.DataFrame | None:
    """The firing alerts, newest first (cached by store version, minute and acknowledgements); None when the
    store cannot give them (what failed is logged): no page fails for the alerts' sake."""
    evaluate()
    version, minute = ui.report_key()
    try:
        return _firing(ui.store().url, version, minute, _changed[0])
    except Exception as error:
        log.warning("alerts could not be read: %s", error)
        return None


def changed() -> None:
    _changed[0] += 1


def line(alert: dict[str, Any], lang: str) -> str:
    """The alert's one line of facts, as its message says it (text from files included: escape before markdown)."""
    return deliver._FACTS[alert["rule"]][lang](json.loads(alert["facts"]))


def title(rule: str, lang: str) -> str:
    found = next(r for r in rules.RULES if r.name == rule)
    return found.title if lang == "zh" else found.title_en


def bell(lang: str) -> None:
    """The sidebar's bell: the number of firing alerts, refreshed with the live charts, linking to the page."""
    @st.fragment(run_every=live.refresh_seconds())
    def draw() -> None:
        error = evaluate()
        if error:
            st.caption(plain(t("alert_settings_error", lang, error=error)))
        held = firing()
        shown = None if held is None else held.filter(pl.col("muted") == 0).height
        st.page_link("views/alerts.py", label=t("alert_bell", lang, n="—" if shown is None else shown),
                     icon=":material/notifications_active:" if shown else ":material/notifications:",
                     help=t("alert_bell_help", lang) if shown is not None else t("alert_unreadable", lang))
    draw()


def session_banner(session_id: str, lang: str) -> None:
    """The firing alerts of one live session, above its charts."""
    held = firing()
    if held is None:
        return
    mine = held.filter((pl.col("subject") == session_id) & (pl.col("page") == "live") & (pl.col("muted") == 0))
    for alert in mine.iter_rows(named=True):
        st.warning(plain(f"{title(alert['rule'], lang)}{_COLON[lang]}{line(alert, lang)}"),
                   icon=":material/notifications_active:")


def ticker(lang: str) -> None:
    """The wall screen's ticker: every firing alert in one line, refreshed with the live charts."""
    @st.fragment(run_every=live.refresh_seconds())
    def draw() -> None:
        held = firing()
        shown = pl.DataFrame() if held is None else held.filter(pl.col("muted") == 0)
        if shown.height:
            wall.ticker("  ·  ".join(f"{title(a['rule'], lang)}{_COLON[lang]}{line(a, lang)}"
                                     for a in shown.iter_rows(named=True)))
    draw()
