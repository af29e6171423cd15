"""Hosts: hosts and host kinds ranked by GMV, GMV per hour, GPM or conversion."""

from __future__ import annotations

import polars as pl
import streamlit as st

from relief_live import charts, state, ui
from relief_live.i18n import t, vocab

lang, big = state.lang(), state.kiosk()
st.title(t("page_hosts", lang))
ui.demo_banner(lang)

key = ui.report_key()
report = ui.report(key)
sessions = report.sessions
if sessions.height == 0:
    st.info(t("no_sessions", lang))
    st.stop()

METRICS = {"gmv": (True, False), "gmv_per_hour": (True, False), "gpm": (True, False), "conversion": (False, True)}
filters = st.columns(2)
metric = state.select("rank", t("rank_by", lang), list(METRICS), format_func=lambda m: t(m, lang), where=filters[0])
kinds = state.multiselect("host_kind", t("host_kind", lang), ["broadcast", "cadre"], where=filters[1],
                          format_func=lambda k: vocab("hk", k, lang), placeholder=t("all", lang))
assert metric is not None
money, percent = METRICS[metric]

hours = ((pl.col("ended_at") - pl.col("started_at")).dt.total_seconds() / 3600)
hosts = (
    sessions.filter(pl.col("host_kind").is_in(kinds) if kinds else pl.lit(True))
    .with_columns(hours=hours, host_name=pl.col("host_name").fill_null(pl.col("session_id")))
    .group_by("host_name", "host_kind")
    .agg(sessions=pl.len(), hours=pl.col("hours").sum(), orders=pl.col("orders").sum(), gmv=pl.col("gmv").sum(),
         views=pl.col("views").sum(), viewers=pl.col("viewers").sum(), gpm=pl.col("gpm").median(),
         conversion=pl.col("conversion").median())
    .with_columns(gmv_per_hour=pl.when(pl.col("hours") > 0).then(pl.col("gmv") / pl.col("hours")))
)
figure_key = (*key, lang, big, metric, tuple(kinds))  # figures made once per report and choice, for every visitor
host_kinds = report.host_kinds.filter(pl.col("host_kind").is_in(kinds) if kinds else pl.lit(True))
kind_metric = {"gpm": "median_gpm", "conversion": "median_conversion"}.get(metric, metric)
named = host_kinds.with_columns(label=pl.col("host_kind").map_elements(lambda k: vocab("hk", k, lang),
                                                                         return_dtype=pl.String))
left, right = st.columns([3, 2])
with left:
    ui.shared_chart("hosts_ranked", figure_key, lambda: charts.ranked(
        hosts, "host_name", metric, lang, money=money, percent=percent, big=big,
        title=t("chart_hosts", lang, metric=t(f"m_{metric}", lang))))
with right:
    ui.shared_chart("kinds_ranked", figure_key, lambda: charts.ranked(
        named, "label", kind_metric, lang, money=money, percent=percent, big=big, legend=False,
        title=t("chart_host_kinds", lang, metric=t(f"m_{metric}", lang))))

table = ui.yuan_columns(hosts.sort(metric, descending=True, nulls_last=True)
                        .select("host_name", "host_kind", "sessions", "hours", "orders", "gmv", "gmv_per_hour",
                                "gpm", "conversion"), ["gmv", "gmv_per_hour", "gpm"])
table = table.with_columns(pl.col("host_kind").map_elements(lambda k: vocab("hk", k, lang), return_dtype=pl.String),
                           pl.col("hours").round(1))
ui.table(table, "hosts", lang, key="hosts", column_config={
    "hours": st.column_config.NumberColumn(t("hours", lang), format="%,.1f"),
    "conversion": st.column_config.NumberColumn(t("conversion", lang), format="percent")})

st.subheader(t("compare_title", lang), help=t("compare_help", lang))
compared = ui.compared(key)


def _with_n(value: str, n: int) -> str:
    return f"{value} ({t('n_sessions', lang, n=ui.count(n))})"


# One row per figure, one column per kind: each median with the sessions behind it, the pooled ratio beside it.
figures = {
    "sessions": lambda r: ui.count(r["sessions"]),
    "flagged": lambda r: ui.count(r["flagged"]),
    "median_gpm": lambda r: _with_n(ui.money(r["median_gpm"], lang), r["gpm_sessions"]),
    "pooled_gpm": lambda r: ui.money(r["pooled_gpm"], lang),
    "fair_median_gpm": lambda r: _with_n(ui.money(r["fair_median_gpm"], lang), r["fair_gpm_sessions"]),
    "fair_pooled_gpm": lambda r: ui.money(r["fair_pooled_gpm"], lang),
    "median_conversion": lambda r: _with_n(ui.percent(r["median_conversion"]), r["conversion_sessions"]),
    "pooled_conversion": lambda r: ui.percent(r["pooled_conversion"]),
}
rows = compared.to_dicts()
ui.small_table(pl.DataFrame({"compare_figure": [t(f, lang) for f in figures],
                             **{vocab("hk", r["host_kind"], lang): [show(r) for show in figures.values()]
                                for r in rows}}), lang)

flags = ui.flagged(key)
if flags.height:
    st.subheader(t("flagged_title", lang))

    def why(row: dict) -> str:
        if row["reason"] == "unsupported":
            share = row["order_gmv"] / row["gmv"] if row["gmv"] else None
            return t("flag_unsupported", lang, gmv=ui.money(row["gmv"], lang), orders=ui.money(row["order_gmv"], lang),
                     share=ui.percent(share))
        return t("flag_gpm_spread", lang, gpm=ui.money(row["gpm"], lang), low=ui.money(row["typical_low"], lang),
                 high=ui.money(row["typical_high"], lang))

    shown = flags.with_columns(
        reason=pl.struct(flags.columns).map_elements(why, return_dtype=pl.String),
        host_kind=pl.col("host_kind").map_elements(lambda k: vocab("hk", k, lang), return_dtype=pl.String),
    ).select("title", "host_name", "host_kind", "reason", "gmv", "gpm", "started_at")
    ui.table(ui.yuan_columns(shown, ["gmv", "gpm"]), "flagged_sessions", lang, key="flagged")
