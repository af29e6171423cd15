"""Streamlit glue the pages share: the store, cached frames and report, demo data, number formats, tables."""

from __future__ import annotations

import contextlib
import html
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Final

import polars as pl
import sqlalchemy as sa
import streamlit as st

from relief_live import auth, download, ingest, live, state
from relief_live.i18n import count, money, percent, plain, t  # noqa: F401  (the pages' number formats)
from relief_live.store import Store, StoreError, describe_failure

DEMO_BY: Final = "demo"
MISSING: Final = "—"  # how a table shows a missing value (a stalled or sold-out village has no clear date)
ENV_AUTO_DEMO: Final = "RELIEF_LIVE_AUTO_DEMO"  # 0: do not load the demo into an empty store
_demo_lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> Store:
    store = Store(url)
    # Once, after an update, an older store is moved over: about 4 s per million order lines.
    with st.spinner(t("store_upgrading", state.lang())) if store.needs_upgrade() else contextlib.nullcontext():
        store.create()
    return store


def store() -> Store:
    """The store of RELIEF_LIVE_DB (else the SQLite file under data/), tables created. A store that cannot be
    opened (a bad URL, a missing folder, a damaged file, a database that does not answer) stops the page with
    one line saying why; the next visit tries again (a failed open is not cached)."""
    url = None
    try:
        url = Store().url
        return _store(url)
    except StoreError as error:
        said = error.said(state.lang())
    except Exception as error:
        if not (isinstance(error, sa.exc.SQLAlchemyError) or ingest.store_failure(error)):
            raise
        said = describe_failure(None, error, state.lang())
    st.error(t("store_unavailable", state.lang(), why=plain(said)), icon=":material/database:")
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


@st.cache_resource(show_spinner=False)
def _live_frames(url: str) -> live.LiveFrames:
    return live.LiveFrames(_store(url))


def _busy(message: str, when: bool) -> contextlib.AbstractContextManager[Any]:
    """A spinner saying `message` with the seconds spent, when `when` (what follows may take seconds)."""
    return st.spinner(message, show_time=True) if when else contextlib.nullcontext()


def frames(*, said: bool = False) -> tuple[int, dict[str, pl.DataFrame]]:
    """(store version, current rows of every kind), read incrementally; shared by all sessions, never mutated.
    `said`: the caller already tells the visitor that the store is being read (waiting.first_visit)."""
    held, lang = _live_frames(store().url), state.lang()
    if said:
        return held.refresh()

    # Reading every row (the first read after the server starts, or the first after a retraction) takes about
    # a second per million order lines: the visitor whose refresh does it, and every one who waits on it, is
    # told so rather than looking at a blank page.
    def reading() -> contextlib.AbstractContextManager[Any]:
        return _busy(t("store_reading" if held.version < 0 else "store_rereading", lang), True)

    with reading() if held.reading_all else contextlib.nullcontext():
        return held.refresh(reading=reading)


@st.cache_resource(show_spinner=False, max_entries=8)
def _report(url: str, version: int, minute: int) -> Any:
    # LiveFrames holds the report of its frames and refreshes it from the groups new batches touch.
    _, rep = _live_frames(url).report(now=datetime.fromtimestamp(minute * 60, UTC),
                                      live_minutes=live.live_minutes())
    return rep


def minute() -> int:
    """The current minute (since the epoch): what decides "live", so part of the keys of what shows it."""
    return int(time.time() // 60)


def report_key() -> tuple[int, int]:
    """What the report is cached by, (store version, minute): the key of anything drawn from it alone."""
    version, _ = frames()
    return version, minute()


def report(key: tuple[int, int] | None = None) -> Any:
    """The metrics of docs/metrics.md for the current data, cached by store version (and minute, for `live`); with
    `key` (report_key), the report of that version and minute."""
    key = key or report_key()
    # The first report (and the first after a retraction) is computed over every row: seconds on a big store.
    with _busy(t("report_building", state.lang()), not _live_frames(store().url).has_report):
        return _report(store().url, *key)


def ensure_demo() -> None:
    """First run on a store that has never held a batch: load the demo programme, marked by='demo'."""
    if os.environ.get(ENV_AUTO_DEMO, "1") == "0":
        return
    s = store()
    with _demo_lock:
        if s.batches().height:
            return
        from relief_live import demo

        demo.load_demo(s)


def demo_in(batches: pl.DataFrame) -> list[int]:
    """The live batches of `batches` (Store.batches) that hold demo data."""
    return batches.filter((pl.col("by") == DEMO_BY) & ~pl.col("retracted"))["batch"].to_list()


def clear_demo(batches: list[int]) -> None:
    """Retract the demo's batches: the store then reads as if the demo had never been loaded."""
    for batch in batches:
        store().retract(batch)


@st.cache_resource(show_spinner=False, max_entries=4)
def _demo_batches(url: str, version: int) -> list[int]:
    return demo_in(_store(url).batches())


def demo_batches() -> list[int]:
    """Live batches that hold demo data (cached by store version: every page asks)."""
    version, _ = frames()
    return list(_demo_batches(store().url, version))


@st.cache_resource(show_spinner=False, max_entries=256)
def _shared(key: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    return _build()


def shared(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """`build()`'s result (a figure, or the rows a page draws from), made once per `key` and shared by every
    viewer: the key must name all it depends on (store version, session, language, kiosk…). Fifty viewers
    of a live session then filter its rows and build its charts once per store change, not fifty times.
    The result is shared and must not be changed."""
    return _shared((store().url, *key), build)


def flagged(key: tuple[int, int]) -> pl.DataFrame:
    """metrics.compare.flagged of the report of `key`, made once per report for every viewer."""
    from relief_live.metrics import compare

    return shared(("flagged", *key), lambda: compare.flagged(report(key).sessions))


def compared(key: tuple[int, int]) -> pl.DataFrame:
    """metrics.compare.compared of the report of `key` (flagged sessions as `flagged` gives them)."""
    from relief_live.metrics import compare

    return shared(("compared", *key), lambda: compare.compared(report(key).sessions, flagged(key)))


def demo_banner(lang: str) -> None:
    """Marks demo data as such; staff get a control to clear it, which asks first (never on a wall screen)."""
    batches = demo_batches()
    if not batches:
        return
    cols = st.columns([4, 1], vertical_alignment="center")
    cols[0].warning(t("demo_banner", lang), icon=":material/science:")
    if state.kiosk() or not auth.may_write():
        return
    if not st.session_state.get("clear_demo_asked"):
        if cols[1].button(t("clear_demo", lang), key="clear_demo"):
            st.session_state["clear_demo_asked"] = True
            st.rerun()
        return
    with st.container(border=True):
        st.markdown(t("clear_demo_confirm", lang, n=len(batches)))
        yes, no = st.columns(2)
        cleared = yes.button(t("clear_demo_yes", lang), type="primary", key="clear_demo_yes")
        if cleared or no.button(t("cancel", lang), key="clear_demo_cancel"):
            del st.session_state["clear_demo_asked"]
            if cleared:
                clear_demo(batches)
                st.toast(t("demo_cleared", lang))
            st.rerun()


# -- formats ---------------------------------------------------------------------------------------
_FRESHNESS_COLOURS: Final = {"fresh": "gray", "late": "orange", "silent": "red"}


def freshness_badge(latest: datetime | None, now: datetime, lang: str, *, where: Any = st) -> str:
    """A badge saying how old a live session's newest row is, grey / amber / red (live.freshness); returns the
    state, so that a silent feed's page can drop its LIVE badge."""
    age, state_ = live.freshness(latest, now)
    if age is None:
        text = t("no_data_yet", lang)
    elif age < 120:
        text = t("latest_seconds", lang, n=f"{age:.0f}")
    elif state_ == "silent":
        text = t("feed_silent", lang, n=f"{age // 60:,.0f}")
    else:
        text = t("latest_minutes", lang, n=f"{age // 60:.0f}")
    where.badge(text, icon=":material/schedule:", color=_FRESHNESS_COLOURS[state_],  # type: ignore[arg-type]
                help=t("freshness_help", lang, late=f"{live.LATE_REFRESHES * live.refresh_seconds():g}",
                       silent=f"{live.live_minutes():g}"))
    return state_


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime(fmt)


def clears_by(lang: str) -> pl.Expr:
    """A village's projected clear date as text: the date, or "will not clear at the current pace" when its
    status is at_risk (a date decades out reads as a plan); null (shown "—") when there is none."""
    return (pl.when(pl.col("status") == "at_risk").then(pl.lit(t("hard_to_clear", lang)))
            .otherwise(pl.col("projected_clear_date").dt.to_string("%Y-%m-%d")).alias("projected_clear_date"))


def yuan_columns(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Fen columns as exact yuan (Decimal, 2 places) for tables and downloads."""
    present = [c for c in columns if c in frame.columns]
    return frame.with_columns(
        (pl.col(c).cast(pl.Decimal(20, 2)) / 100).cast(pl.Decimal(20, 2)) for c in present
    )


def table(frame: pl.DataFrame, name: str, lang: str, *, column_config: dict[str, Any] | None = None,
          key: str, height: int | str = "auto") -> None:
    """A table with localised headers and its CSV and XLSX downloads (formula injection neutralised)."""
    config: dict[str, Any] = {}
    for column, dtype in frame.schema.items():  # (not `name`: that is the table's, for the file names)
        label = t(column, lang) if _has(column) else column
        if dtype == pl.Date:
            config[column] = st.column_config.DateColumn(label, format="YYYY-MM-DD")
        elif isinstance(dtype, pl.Datetime):
            config[column] = st.column_config.DatetimeColumn(label, format="YYYY-MM-DD HH:mm",
                                                             timezone="Asia/Shanghai" if dtype.time_zone else None)
        elif isinstance(dtype, pl.Decimal):  # exact yuan: always two decimals, so a column's figures line up
            config[column] = st.column_config.NumberColumn(label, format="%,.2f")
        elif dtype.is_numeric() and column not in ("batch", "rows"):
            config[column] = st.column_config.NumberColumn(label, format="localized")
        else:
            config[column] = label
    config.update(column_config or {})
    st.dataframe(frame, hide_index=True, column_config=config, key=key, height=height,  # type: ignore[arg-type]
                 placeholder=MISSING)
    shown = frame.rename({c: t(c, lang) for c in frame.columns if _has(c)})
    cols = st.columns([1, 1, 6])
    # The files are made when a button is clicked (a callable), not on every run of the page: a table of
    # 100,000 order lines would otherwise be written as CSV and XLSX at each refresh.
    cols[0].download_button(t("download_csv", lang), lambda: download.to_csv(shown), file_name=f"{name}.csv",
                            mime="text/csv", key=f"{key}_csv", icon=":material/download:",
                            on_click="ignore", help=t("download", lang, what=name))
    cols[1].download_button(t("download_xlsx", lang), lambda: download.to_xlsx(shown, name), file_name=f"{name}.xlsx",
                            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                            key=f"{key}_xlsx", icon=":material/download:", on_click="ignore",
                            help=t("download", lang, what=name))


def preview(kind: str | None, frame: pl.DataFrame, lang: str = "en") -> pl.DataFrame:
    """Typed rows about to be stored, as a person reads them: times, yuan, host kinds and platforms in `lang`,
    headers in `lang` (a column without a translation by its first accepted header in Chinese), no bookkeeping
    columns."""
    from relief_live import schema
    from relief_live.i18n import vocab

    fields = {f.name: f for f in schema.KINDS[kind]} if kind in schema.KINDS else {}
    types = {name: f.type for name, f in fields.items()}
    exprs = [pl.col(name).map_elements(lambda v, p=prefix: vocab(p, v, lang), return_dtype=pl.String,
                                       skip_nulls=True)
             for name, prefix in (("host_kind", "hk"), ("platform", "pf")) if name in frame.columns]
    for name, dtype in frame.schema.items():
        if types.get(name) == schema.TIME and dtype.is_integer():
            exprs.append(pl.col(name).cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone("Asia/Shanghai"))
        elif types.get(name) == schema.MONEY and dtype.is_integer():
            exprs.append((pl.col(name).cast(pl.Decimal(20, 2)) / 100).cast(pl.Decimal(20, 2)))
    shown = frame.with_columns(exprs) if exprs else frame
    shown = shown.drop([c for c in ("batch", "line", "key", "occ") if c in shown.columns])
    headers: dict[str, str] = {}
    for name in shown.columns:
        if _has(name):
            header = t(name, lang)
        elif lang == "zh" and name in fields and fields[name].aliases:
            header = fields[name].aliases[0]
        else:
            header = name.replace("_", " ")
        headers[name] = header if header not in headers.values() else name
    return shown.rename(headers)


def _has(key: str) -> bool:
    from relief_live.i18n import TEXT

    return key in TEXT


# Inline styles: st.html keeps style attributes; grey at partial opacity reads on light and dark themes alike.
_CELL: Final = ("padding: 0.35rem 0.6rem; border-bottom: 1px solid rgba(128, 128, 128, 0.25); max-width: 14rem; "
                "overflow: hidden; text-overflow: ellipsis; white-space: nowrap")
_BAR: Final = ("flex: 1; min-width: 3rem; height: 0.45rem; border-radius: 0.25rem; "
               "background: rgba(128, 128, 128, 0.2)")
_FILL: Final = "height: 100%; border-radius: 0.25rem; background: #ff4b4b"  # Streamlit's primary, as ProgressColumn


def _cell_text(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def small_table(frame: pl.DataFrame, lang: str, *, progress: tuple[str, ...] = (),
                money_columns: tuple[str, ...] = ()) -> None:
    """A few rows as a plain table: localised headers, every value escaped (text, never HTML), "—" if missing.

    For short lists beside charts (the overview's top and stalled villages): st.dataframe makes the browser
    fetch and start its data grid and Arrow (about 1.2 MB of JavaScript) while it should be drawing the first
    chart; st.html's code is already loaded. A `progress` column (a share, 1 = 100%) shows a bar and the
    percentage, as ProgressColumn does; a `money_columns` column (fen) reads as `money` writes it.
    """
    st.html(small_table_html(frame, lang, progress=progress, money_columns=money_columns))


def small_table_html(frame: pl.DataFrame, lang: str, *, progress: tuple[str, ...] = (),
                     money_columns: tuple[str, ...] = ()) -> str:
    """small_table's HTML (numbers right-aligned, a cell cut with "…" shows its whole text on hover)."""
    numeric = {c for c, dtype in frame.schema.items() if dtype.is_numeric() and c not in progress}
    head = "".join(f'<th style="{_CELL}; text-align: {"right" if c in numeric else "left"}; font-weight: 600">'
                   f"{html.escape(t(c, lang) if _has(c) else c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            text = (percent(value) if column in progress else money(value, lang) if column in money_columns
                    else _cell_text(value))
            shown = html.escape(text)
            if column in progress and value is not None:
                width = max(0.0, min(1.0, value)) * 100
                shown = (f'<div style="display: flex; align-items: center; gap: 0.5rem"><div style="{_BAR}">'
                         f'<div style="{_FILL}; width: {width:.1f}%"></div></div><span>{shown}</span></div>')
            cells.append(f'<td style="{_CELL}; text-align: {"right" if column in numeric else "left"}" '
                         f'title="{html.escape(text)}">{shown}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<div style="overflow-x: auto"><table style="width: 100%; border-collapse: collapse; '
            f'font-size: 0.875rem"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def link(url: str) -> None:
    """A link shown as its own address (escaped), to copy: st.code's copy button would make the browser load a
    1.5 MB syntax highlighter on every page."""
    shown = html.escape(url)
    st.html(f'<a class="share-link" href="{shown}" style="font-family: monospace; font-size: 0.85rem; '
            f'word-break: break-all">{shown}</a>')


@st.cache_data(ttl=live.DEFAULT_REFRESH_SECONDS, show_spinner=False, max_entries=4)
def _rejections(url: str) -> pl.DataFrame:
    from relief_live import rejections

    return rejections.current(_store(url))


def watch_rejections(lang: str, *, dismiss: bool = False) -> None:
    """The files a folder watcher rejected whose rejection stands: each file, when, and its problems by line and
    column. With `dismiss` (staff, on the Upload page), a button that dismisses one. Read at most once per
    refresh interval, whoever is looking."""
    from pathlib import PurePath

    from relief_live import rejections

    if note := st.session_state.pop("watch_rejected_note", None):
        st.success(note)
    rejected = _rejections(store().url)
    if rejected.height == 0:
        return
    files = rejected.partition_by("path", maintain_order=True, as_dict=True)
    with st.expander(t("watch_rejected", lang, n=len(files)), expanded=True, icon=":material/block:"):
        st.caption(t("watch_rejected_note", lang))
        for i, ((path,), rows) in enumerate(files.items()):
            head = st.columns([5, 1], vertical_alignment="center")
            name = PurePath(str(path)).name
            head[0].markdown(t("watch_rejected_at", lang, name=f"**{plain(name)}**",
                               time=local_time(rows["at"][0], "%Y-%m-%d %H:%M:%S")), help=plain(path))
            if dismiss and head[1].button(t("watch_rejected_dismiss", lang), key=f"watch_rejected_{i}",
                                          icon=":material/close:"):
                rejections.resolve(store(), [str(path)], "dismissed", by=auth.who())
                _rejections.clear()
                st.session_state["watch_rejected_note"] = t("watch_rejected_dismissed", lang, name=plain(name))
                st.rerun()
            st.dataframe(rejections.in_language(rows, lang).select(
                pl.col("line").alias(t("problem_line", lang)),
                pl.col("header").alias(t("problem_column", lang)),
                pl.col("message").alias(t("problem_message", lang))), hide_index=True, key=f"watch_problems_{i}")


def shared_chart(name: str, key: tuple[Any, ...], build: Callable[[], Any]) -> None:
    """The chart `name`, its figure made by `build` once per `key` and shared by every viewer (see `shared`):
    plotly builds a figure in ~50 ms, most of a page's server time."""
    st.plotly_chart(shared((name, *key), build), key=name, theme=None, config={"displaylogo": False})


def kpis(cards: list[tuple[str, str]]) -> None:
    """KPI cards in one row that wraps rather than cutting a number short: each card as wide as it needs."""
    row = st.container(horizontal=True, wrap=True, gap="small")
    for label, value in cards:
        row.metric(label, value, border=True, width="content")
