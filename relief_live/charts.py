"""Polars frames -> plotly figures: titled, with units, thousands separators, CJK fonts, one colour per host kind."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, ParamSpec

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from relief_live.i18n import t, vocab

# Okabe-Ito: distinguishable with every common colour-vision deficiency. One colour per host kind, everywhere.
HOST_COLOURS: Final[dict[str | None, str]] = {"broadcast": "#0072B2", "cadre": "#E69F00", None: "#7F7F7F"}
SOLD_COLOUR: Final = "#009E73"
REMAINING_COLOUR: Final = "#D9D9D9"
PREVIOUS_COLOUR: Final = "#7F7F7F"
FONT: Final = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
DISPLAY_TZ: Final = "Asia/Shanghai"
WAN: Final = 10_000
P = ParamSpec("P")

# Plotly draws a subset of HTML in every string of a figure (titles, axis and tick labels, hover, legend, bar
# text): <a href> makes a live link, <span style> restyles, <br> breaks. Names come from uploaded files, so
# their markup characters are written as the entities plotly shows literally.
_ENTITIES: Final = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def inert(text: str) -> str:
    """`text` as plotly shows it literally: &, < and > as entities, so no tag or entity in it takes effect."""
    for char, entity in _ENTITIES:
        text = text.replace(char, entity)
    return text


def _shown(text: str) -> str:
    """The text an `inert` string stands for (to cut it without cutting an entity in two)."""
    for char, entity in reversed(_ENTITIES):
        text = text.replace(entity, char)
    return text


def _inert_frame(frame: pl.DataFrame) -> pl.DataFrame:
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if text:  # most names hold none of &, < and >: only columns that do are rewritten
        marked = frame.select(pl.col(text).str.contains("[&<>]").any()).row(0, named=True)
        text = [name for name in text if marked[name]]
    if not text:
        return frame
    exprs = []
    for name in text:
        expr = pl.col(name)
        for char, entity in _ENTITIES:
            expr = expr.str.replace_all(char, entity, literal=True)
        exprs.append(expr)
    return frame.with_columns(exprs)


def _inert_arg(value: Any) -> Any:
    if isinstance(value, pl.DataFrame):
        return _inert_frame(value)
    return inert(value) if isinstance(value, str) else value


def figure(build: Callable[P, go.Figure]) -> Callable[P, go.Figure]:
    """A chart builder whose frames' text columns and text arguments are made `inert` on the way in: the one
    place where uploaded text meets plotly. (Column names and vocabulary keys hold no &, < or >.)"""
    @functools.wraps(build)
    def made(*args: P.args, **kwargs: P.kwargs) -> go.Figure:
        return build(*(_inert_arg(a) for a in args), **{k: _inert_arg(v) for k, v in kwargs.items()})  # type: ignore[arg-type]
    return made


def host_colour(kind: str | None) -> str:
    return HOST_COLOURS.get(kind, HOST_COLOURS[None])


def money_scale(max_yuan: float | None, lang: str) -> tuple[float, str, str]:
    """Divisor, unit label and d3 format for yuan values of this size: 万元 from 100,000 元 up."""
    if max_yuan is not None and abs(max_yuan) >= 100_000:
        return WAN, t("wan_yuan", lang), ",.1f"
    return 1.0, t("yuan", lang), ",.0f"


def axis_format(fmt: str) -> str:
    """A d3 format for axis ticks: trailing zeros trimmed (500, 1,000, 1.5 rather than 500.0, 1,000.0)."""
    return fmt.replace(".1f", ".1~f")


def yuan(fen: pl.Expr | str) -> pl.Expr:
    """Integer fen as yuan (for display only; the store keeps fen)."""
    col = pl.col(fen) if isinstance(fen, str) else fen
    return col.cast(pl.Float64) / 100


def style(fig: go.Figure, title: str, *, big: bool = False, height: int | None = None) -> go.Figure:
    """The shared look: title, CJK font, white template, separators, legend on top."""
    size = 20 if big else 14
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": size + 4}},
        font={"family": FONT, "size": size},
        template="plotly_white",
        separators=".,",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1, "title": None,
                "traceorder": "normal"},
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
        hoverlabel={"font": {"family": FONT}},
    )
    if height:
        fig.update_layout(height=height)
    return fig


def empty(title: str, lang: str, *, big: bool = False) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=t("no_chart_data", lang), showarrow=False, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title, big=big, height=240)


@figure
def gmv_per_day(frame: pl.DataFrame, lang: str, *, grain: str = "day", big: bool = False) -> go.Figure:
    """Stacked bars of GMV per day, week or month (`grain`), one colour per host kind. frame: day (each
    period's first day), host_kind, gmv (fen). The labels carry the year when the bars span more than one;
    a week is labelled by its Monday."""
    title = t(f"chart_gmv_per_{grain}", lang)
    if frame.height == 0 or not (frame.get_column("gmv") != 0).any():
        return empty(title, lang, big=big)  # nothing sold in the span: a message, not an empty frame of axes
    days = frame.get_column("day")
    one_year = days.min().year == days.max().year  # type: ignore[union-attr]
    fmt_day = "%Y-%m" if grain == "month" else "%m-%d" if one_year else "%Y-%m-%d"
    frame = frame.with_columns(yuan("gmv").alias("yuan"), label=pl.col("day").dt.strftime(fmt_day)).sort("day")
    labels = frame.get_column("label").unique(maintain_order=True).to_list()
    period_max = frame.group_by("day").agg(pl.col("yuan").sum())["yuan"].max()
    div, unit, fmt = money_scale(period_max, lang)  # type: ignore[arg-type]
    fig = go.Figure()
    for kind in ("broadcast", "cadre", None):
        part = frame.filter(pl.col("host_kind").is_null() if kind is None else pl.col("host_kind") == kind)
        if part.height == 0:
            continue
        name = vocab("hk", kind, lang)
        fig.add_bar(x=part["label"].to_list(), y=(part["yuan"] / div).to_list(), name=name,
                    marker_color=host_colour(kind),
                    hovertemplate=f"%{{x}}<br>{name}: %{{y:{fmt}}} {unit}<extra></extra>")
    fig.update_layout(barmode="stack", bargap=0.15)
    fig.update_yaxes(title=f"{t('kpi_gmv', lang)} ({unit})", tickformat=axis_format(fmt))
    fig.update_xaxes(title=t(grain, lang), type="category", categoryorder="array", categoryarray=labels)
    return style(fig, f"{title} ({unit})", big=big)


@figure
def host_compare(host_kinds: pl.DataFrame, lang: str, *, big: bool = False) -> go.Figure:
    """Broadcast vs cadre: GMV per hour, median GPM, median conversion side by side. With a `sessions` column,
    each kind is labelled with its number of sessions; with `fair_median_gpm` (metrics.compare), the GPM panel
    leaves the flagged sessions out."""
    title = t("chart_host_compare", lang)
    if host_kinds.height == 0:
        return empty(title, lang, big=big)
    gpm = "fair_median_gpm" if "fair_median_gpm" in host_kinds.columns else "median_gpm"
    panels = [
        ("gmv_per_hour", t("m_gmv_per_hour", lang), True),  # money labels on the bars carry their unit
        (gpm, t(gpm, lang).replace(" (元)", "").replace("（元）", "").replace("，元）", "）"), True),
        ("median_conversion", t("median_conversion", lang), False),
    ]
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.1,
                        subplot_titles=[p[1].replace(" (", "<br>(").replace("（", "<br>（").replace(", ", ",<br>")
                                        for p in panels])
    kinds = host_kinds["host_kind"].to_list()
    names = [vocab("hk", k, lang) for k in kinds]
    if "sessions" in host_kinds.columns:
        names = [f"{name}<br>{t('n_sessions', lang, n=f'{n:,}')}" for name, n in zip(names, host_kinds["sessions"],
                                                                                   strict=True)]
    colours = [host_colour(k) for k in kinds]
    for i, (column, label, money) in enumerate(panels, start=1):
        values = host_kinds[column].cast(pl.Float64)
        if money:
            values = values / 100
            divisor, unit, fmt = money_scale(values.max(), lang)  # type: ignore[arg-type]
            text = [None if v is None else f"{v / divisor:{fmt}} {unit}" for v in values.to_list()]
            hover = f"%{{y:,.0f}} {t('yuan', lang)}"
        else:
            values = values * 100
            text = [None if v is None else f"{v:.1f}%" for v in values.to_list()]
            hover = "%{y:.1f}%"
        # Each panel has its own scale, so the values are written on the bars and the axes carry no ticks
        # (three sets of tick labels crowd into the neighbouring panel).
        fig.add_bar(x=names, y=values.to_list(), marker_color=colours, showlegend=False, text=text,
                    textposition="outside", cliponaxis=False, textfont={"size": 18 if big else 13},
                    hovertemplate=f"%{{x}}: {hover}<extra>{label}</extra>", row=1, col=i)
        top = values.max()
        fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=True, row=1, col=i,
                         range=[0, float(top) * 1.3 if top else 1])  # type: ignore[arg-type]
    style(fig, title, big=big, height=380)
    # Plotly shrinks a label that is wider than its bar; keep them all readable (they may overhang).
    fig.update_layout(margin={"t": 120}, uniformtext={"minsize": 18 if big else 12, "mode": "show"})
    fig.update_annotations(font={"size": 13 if not big else 18}, yshift=8)
    return fig


@figure
def session_curves(curves: pl.DataFrame, lang: str, *, title: str, host_kind: str | None = None,
                   big: bool = False) -> go.Figure:
    """Viewers online, orders per minute and cumulative GMV against time, the viewer peak marked.

    curves: ts (UTC), viewers_online, orders (per interval), gmv_cum (fen).
    """
    if curves.height == 0:
        return empty(title, lang, big=big)
    curves = curves.sort("ts").with_columns(pl.col("ts").dt.convert_time_zone(DISPLAY_TZ).dt.replace_time_zone(None))
    ts = curves["ts"].to_list()
    gmv = curves["gmv_cum"].cast(pl.Float64) / 100
    div, unit, fmt = money_scale(gmv.max(), lang)  # type: ignore[arg-type]
    colour = host_colour(host_kind)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"{t('chart_viewers_online', lang)} ({t('people', lang)})",
                                        f"{t('chart_orders_per_min', lang)} ({t('orders_unit', lang)})",
                                        f"{t('chart_gmv_cum', lang)} ({unit})"])
    viewers = curves["viewers_online"]
    fig.add_scatter(x=ts, y=viewers.to_list(), mode="lines", line={"color": colour, "width": 2},
                    name=t("chart_viewers_online", lang), showlegend=False,
                    hovertemplate="%{x|%H:%M}: %{y:,}<extra></extra>", row=1, col=1)
    if viewers.drop_nulls().len():
        peak_at = int(viewers.arg_max())  # type: ignore[arg-type]
        peak = int(viewers[peak_at])
        fig.add_scatter(x=[ts[peak_at]], y=[peak], mode="markers+text", marker={"color": "#CC3311", "size": 11,
                        "symbol": "diamond"}, text=[t("peak", lang, value=f"{peak:,}")], textposition="top center",
                        showlegend=False, hoverinfo="skip", row=1, col=1, cliponaxis=False)
    fig.add_bar(x=ts, y=curves["orders"].to_list(), marker_color=colour, showlegend=False,
                name=t("chart_orders_per_min", lang), hovertemplate="%{x|%H:%M}: %{y:,}<extra></extra>",
                row=2, col=1)
    fig.add_scatter(x=ts, y=(gmv / div).to_list(), mode="lines", line={"color": colour, "width": 2},
                    fill="tozeroy", showlegend=False, name=t("chart_gmv_cum", lang),
                    hovertemplate=f"%{{x|%H:%M}}: %{{y:{fmt}}} {unit}<extra></extra>", row=3, col=1)
    fig.update_yaxes(tickformat=",", rangemode="tozero")
    fig.update_yaxes(tickformat=fmt, row=3, col=1)
    fig.update_xaxes(tickformat="%H:%M")
    fig.update_xaxes(title=t("time_shanghai", lang), row=3, col=1)
    return style(fig, title, big=big, height=720 if big else 620)


@figure
def breakdown(frame: pl.DataFrame, by: str, lang: str, *, title: str, host_kind: str | None = None,
              top: int = 15, big: bool = False) -> go.Figure:
    """Horizontal bars of sales amount per `by` (product or village), largest first. frame: by, amount (fen)."""
    if frame.height == 0:
        return empty(title, lang, big=big)
    frame = (frame.with_columns(pl.col(by).fill_null("—")).group_by(by).agg(pl.col("amount").sum())
             .sort("amount", descending=True).head(top).reverse())
    values = frame["amount"].cast(pl.Float64) / 100
    div, unit, fmt = money_scale(values.max(), lang)  # type: ignore[arg-type]
    fig = go.Figure(go.Bar(x=(values / div).to_list(), y=frame[by].to_list(), orientation="h",
                           marker_color=host_colour(host_kind),
                           text=[f"{v:{fmt}}" for v in (values / div).to_list()], textposition="auto",
                           hovertemplate=f"%{{y}}: %{{x:{fmt}}} {unit}<extra></extra>"))
    fig.update_xaxes(title=unit, tickformat=fmt)
    return style(fig, f"{title} ({unit})", big=big, height=max(260, 40 + 28 * frame.height))


@figure
def previous_compare(current: pl.DataFrame, previous: pl.DataFrame, lang: str, *, current_start, previous_start,
                     previous_title: str, host_kind: str | None = None, big: bool = False) -> go.Figure:
    """Cumulative GMV against minutes since start, this session and the previous episode."""
    title = t("chart_previous", lang)
    if current.height == 0 and previous.height == 0:
        return empty(title, lang, big=big)
    top = max((f["gmv_cum"].max() or 0) for f in (current, previous) if f.height) / 100  # type: ignore[operator]
    div, unit, fmt = money_scale(top, lang)
    fig = go.Figure()
    for frame, start, name, colour, dash in (
        (previous, previous_start, t("previous_session", lang, title=previous_title), PREVIOUS_COLOUR, "dash"),
        (current, current_start, t("this_session", lang), host_colour(host_kind), "solid"),
    ):
        if frame.height == 0 or start is None:
            continue
        minutes = ((frame["ts"] - start).dt.total_seconds() / 60).to_list()
        fig.add_scatter(x=minutes, y=(frame["gmv_cum"].cast(pl.Float64) / 100 / div).to_list(), mode="lines",
                        name=name, line={"color": colour, "dash": dash, "width": 2},
                        hovertemplate=f"%{{x:.0f}} min: %{{y:{fmt}}} {unit}<extra>{name}</extra>")
    fig.update_xaxes(title=t("minutes_since_start", lang), tickformat=",")
    fig.update_yaxes(title=f"{t('chart_gmv_cum', lang)} ({unit})", tickformat=fmt, rangemode="tozero")
    return style(fig, f"{title} ({unit})", big=big, height=380)


LABEL_CHARS = 36  # longer category names are cut on the axis (the hover keeps them whole)


def _short_axis_labels(fig: go.Figure, labels: list[str]) -> None:
    """Cut long y-axis category names with an ellipsis, keeping each bar its own category (labels are `inert`:
    cut as shown, so no entity is cut in two)."""
    shown = [_shown(lab) for lab in labels]
    fig.update_yaxes(tickmode="array", tickvals=labels,
                     ticktext=[inert(lab if len(lab) <= LABEL_CHARS else lab[: LABEL_CHARS - 1] + "…") for lab in shown])


@figure
def village_progress(villages: pl.DataFrame, lang: str, *, top: int = 25, big: bool = False) -> go.Figure:
    """Sold and remaining share of each village product's unsold baseline, with quantities in its unit on hover."""
    title = t("chart_village_progress", lang)
    if villages.height == 0:
        return empty(title, lang, big=big)
    frame = (villages.sort("unsold_qty", descending=True, nulls_last=True).head(top)
             .with_columns(
                 label=pl.concat_str([pl.col("village").fill_null("—"), pl.lit(" · "), pl.col("product"),
                                      pl.lit(" ("), pl.col("unit").fill_null(""), pl.lit(")")]),
                 sold_pct=(pl.col("sell_through").fill_null(0).clip(0, 1) * 100),
             ).with_columns(remaining_pct=100 - pl.col("sold_pct")).reverse())
    labels = frame["label"].to_list()
    custom = list(zip(frame["sold_qty"].fill_null(0).to_list(), frame["remaining_qty"].fill_null(0).to_list(),
                      frame["unit"].fill_null("").to_list(), strict=True))
    sold, remaining = t("sold", lang), t("remaining", lang)
    fig = go.Figure()
    fig.add_bar(y=labels, x=frame["sold_pct"].to_list(), orientation="h", name=sold, marker_color=SOLD_COLOUR,
                customdata=custom, text=[f"{v:.0f}%" if v >= 8 else "" for v in frame["sold_pct"].to_list()],
                textposition="inside", insidetextanchor="end",
                hovertemplate=f"%{{y}}<br>{sold}: %{{customdata[0]:,.1f}} %{{customdata[2]}} (%{{x:.0f}}%)<extra></extra>")
    fig.add_bar(y=labels, x=frame["remaining_pct"].to_list(), orientation="h", name=remaining,
                marker_color=REMAINING_COLOUR, customdata=custom,
                hovertemplate=f"%{{y}}<br>{remaining}: %{{customdata[1]:,.1f}} %{{customdata[2]}}<extra></extra>")
    # Percentages at a readable size; a sliver's is left to the hover.
    fig.update_layout(barmode="stack", uniformtext={"minsize": 16 if big else 11, "mode": "show"})
    _short_axis_labels(fig, labels)
    fig.update_xaxes(title=f"% {t('unsold_qty', lang)}", range=[0, 100], ticksuffix="%")
    return style(fig, title, big=big, height=max(300, 90 + (34 if big else 26) * frame.height))


@figure
def ranked(frame: pl.DataFrame, label: str, metric: str, lang: str, *, title: str, money: bool,
           percent: bool = False, top: int = 20, big: bool = False, legend: bool = True) -> go.Figure:
    """Horizontal bars of `metric` per `label`, best first, each bar in its host kind's colour.

    `legend=False` where the labels already name the host kinds.
    """
    frame = frame.filter(pl.col(metric).is_not_null())
    if frame.height == 0:
        return empty(title, lang, big=big)
    frame = frame.sort(metric, descending=True).head(top).reverse()
    values = frame[metric].cast(pl.Float64)
    unit, fmt = "", ",.0f"
    if money:
        div, unit, fmt = money_scale((values / 100).max(), lang)  # type: ignore[arg-type]
        values = values / 100 / div
    elif percent:
        values, unit, fmt = values * 100, "%", ".1f"
    kinds = frame["host_kind"].to_list() if "host_kind" in frame.columns else [None] * frame.height
    longest = max(values.max() or 0, 0)  # type: ignore[type-var]
    fig = go.Figure()
    for kind in sorted(set(kinds), key=lambda k: list(HOST_COLOURS).index(k) if k in HOST_COLOURS else 9):
        # one trace per kind, always in the same order: the legend names the colours
        rows = [i for i, k in enumerate(kinds) if k == kind]
        fig.add_bar(y=[frame[label][i] for i in rows], x=[values[i] for i in rows], orientation="h",
                    name=vocab("hk", kind, lang), marker_color=host_colour(kind),
                    text=[f"{values[i]:{fmt}}" for i in rows],
                    # inside a long bar, beside a short one (where the number would not fit)
                    textposition=["inside" if values[i] >= 0.2 * longest else "outside" for i in rows],
                    cliponaxis=False, hovertemplate=f"%{{y}}: %{{x:{fmt}}} {unit}<extra></extra>")
    fig.update_yaxes(categoryorder="array", categoryarray=frame[label].to_list())
    _short_axis_labels(fig, [str(v) for v in frame[label].to_list()])
    fig.update_xaxes(title=unit or None, tickformat=axis_format(fmt))
    suffix = f" ({unit})" if unit and unit != "%" else ""
    style(fig, f"{title}{suffix}", big=big, height=max(300, 90 + 28 * frame.height))
    # Values at a readable size: one that does not fit inside its bar goes beside it.
    fig.update_layout(showlegend=legend, uniformtext={"minsize": 16 if big else 11, "mode": "show"})
    return fig
