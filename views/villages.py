"""Villages: sell-through of the unsold-stock baseline per county, village and product; unattributed sales."""

from __future__ import annotations

import polars as pl
import streamlit as st

from relief_live import charts, state, ui
from relief_live.bulletin.button import bulletin_button
from relief_live.i18n import t
from relief_live.metrics.villages import STATUSES

lang, big = state.lang(), state.kiosk()
st.title(t("page_villages", lang))
ui.demo_banner(lang)

key = ui.report_key()
report = ui.report(key)
# Most remaining value first: where the programme's help is most needed.
villages = report.villages.sort("remaining_value", "unsold_value", descending=True, nulls_last=True)
if villages.height == 0:
    st.info(t("empty_store", lang))
    st.stop()

filters = st.columns(3)
counties = state.multiselect("county", t("county", lang), sorted(villages["county"].drop_nulls().unique().to_list()),
                             where=filters[0], placeholder=t("all", lang))
products = state.multiselect("product", t("product", lang), sorted(villages["product"].drop_nulls().unique().to_list()),
                             where=filters[1], placeholder=t("all", lang))
statuses = state.multiselect("status", t("status", lang), [name for name, _, _ in STATUSES], where=filters[2],
                             format_func=lambda s: t(f"status_{s}", lang), placeholder=t("all", lang))
shown = villages
if counties:
    shown = shown.filter(pl.col("county").is_in(counties))
if products:
    shown = shown.filter(pl.col("product").is_in(products))
if statuses:
    shown = shown.filter(pl.col("status").is_in(statuses))
bulletin_button(lang, county=counties[0] if len(counties) == 1 else None)  # the chosen county's, else all

ui.shared_chart("village_progress", (*key, lang, big, tuple(counties), tuple(products), tuple(statuses)),
                lambda: charts.village_progress(shown, lang, big=big))

columns = ["county", "village", "product", "unit", "as_of", "unsold_qty", "sold_qty", "remaining_qty",
           "sell_through", "status", "projected_clear_date", "target_date", "remaining_value", "unsold_value", "sold_value",
           "households"]
table = ui.yuan_columns(shown.select(columns), ["remaining_value", "unsold_value", "sold_value"]).with_columns(
    ui.clears_by(lang),
    pl.col("status").replace_strict({s: t(f"status_{s}", lang) for s, _, _ in STATUSES}, default=pl.col("status")))
ui.table(table, "villages", lang, key="villages", column_config={
    "sell_through": st.column_config.ProgressColumn(t("sell_through", lang), format="percent", min_value=0,
                                                    max_value=1),
    "unsold_qty": st.column_config.NumberColumn(t("unsold_qty", lang), format="localized"),
    "sold_qty": st.column_config.NumberColumn(t("sold_qty", lang), format="localized"),
    "remaining_qty": st.column_config.NumberColumn(t("remaining_qty", lang), format="localized"),
    "remaining_value": st.column_config.NumberColumn(t("remaining_value", lang), format="localized"),
    "unsold_value": st.column_config.NumberColumn(t("unsold_value", lang), format="localized"),
    "sold_value": st.column_config.NumberColumn(t("sold_value", lang), format="localized"),
})

left, right = st.columns(2)
for where, name in ((left, "unattributed"), (right, "unconvertible")):
    with where:
        rows = getattr(report, name)
        st.subheader(t(name, lang), help=t(f"{name}_help", lang))
        amount = rows["amount"].sum() if rows.height and "amount" in rows.columns else 0
        st.caption(t("rows_amount", lang, rows=f"{rows.height:,}", amount=ui.money(amount, lang)))
        if rows.height:
            detail = [c for c in ("session_id", "order_id", "ts", "product", "village", "quantity", "unit", "amount")
                      if c in rows.columns]
            ui.table(ui.yuan_columns(rows.select(detail), ["amount"]), name, lang, key=name, height=260)

if report.channels.height:  # shop exports give each line's traffic source
    st.subheader(t("channels", lang), help=t("channels_help", lang))
    split = report.channels.filter(pl.col("village").is_in(shown["village"].implode())
                                   & pl.col("product").is_in(shown["product"].implode()))
    ui.table(ui.yuan_columns(split, ["amount"]), "channels", lang, key="channels")

if report.routes.height:  # a product catalogue is loaded: how many lines, and how much money, each route tied
    st.subheader(t("routes", lang), help=t("routes_help", lang))
    routes = ui.yuan_columns(report.routes, ["amount"]).with_columns(
        pl.col("route").replace_strict({r: t(f"route_{r}", lang) for r in report.routes["route"]},
                                       default=pl.col("route")))
    ui.table(routes, "routes", lang, key="routes")
