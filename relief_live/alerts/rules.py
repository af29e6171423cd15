"""The alert rules as data, their thresholds as settings, and what holds now: polars over the report (the few
rows that hold written out in Python)."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import polars as pl

from relief_live.metrics.common import ZONE
from relief_live.metrics.report import Report
from relief_live.metrics.sessions import STOPPED_FOR
from relief_live.metrics.sessions import stopped as feed_stopped
from relief_live.metrics.villages import PACE_DAYS, STALLED_BELOW, latest_sale

ENV_PREFIX: Final = "RELIEF_LIVE_"  # a setting `name` is read from secrets.toml, else from RELIEF_LIVE_<NAME>


@dataclass(frozen=True)
class Param:
    """One threshold of a rule: its setting (a key of secrets.toml; RELIEF_LIVE_<KEY> in the environment),
    its default, and what it means."""

    setting: str
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.setting.upper()


@dataclass(frozen=True)
class Rule:
    name: str
    title: str  # Chinese first: the staff's group chat reads it
    title_en: str
    help: str
    params: tuple[Param, ...] = ()


RULES: Final[tuple[Rule, ...]] = (
    Rule("village_stalled", "帮扶村滞销停滞", "Village stalled",
         f"stock remains, under {STALLED_BELOW:.0%} of it sold (as the village status reads it), and no sale for this "
         "many days: the village's `last_sale` (else its baseline's date) this long before the latest sale in "
         "the store, the data's own clock",
         (Param("alert_village_stalled", 7, "days without a sale"),)),
    Rule("village_deadline", "帮扶村将无法按期清零", "Village will miss its target date",
         "stock remains (the village is not stalled: that is its own alert) and, at the pace of the last "
         f"{PACE_DAYS} days, its projected clear date falls after the target date (the ledger's 目标日期 for the "
         "row, else the setting), or there is no pace",
         (Param("alert_village_deadline", None,
                "the target date (YYYY-MM-DD); unset: 31 December of the year of the latest sale"),)),
    Rule("session_viewers_drop", "直播在线人数骤降", "Viewers online fell",
         "a live session's viewers online at its latest tick are this many percent below their highest in the "
         "5 minutes before it",
         (Param("alert_session_viewers_drop", 40, "percent fallen within 5 minutes"),)),
    Rule("session_no_orders", "直播长时间无成交", "No order while viewers watch",
         "a live session with at least 200 viewers online at its latest tick has had no order in its ticks "
         "for this many minutes",
         (Param("alert_session_no_orders", 10, "minutes without an order"),
          Param("alert_session_no_orders_viewers", 200, "viewers online at least"))),
    Rule("session_gmv_slow", "直播每小时成交额偏低", "GMV per hour low",
         "a live session on air for over 30 minutes makes GMV per hour (its GMV over the time since it started) "
         "below this share of the median GMV per hour of the finished sessions of its host kind",
         (Param("alert_session_gmv_slow", 0.5, "share of the host kind's median"),)),
    Rule("ticks_stopped", "直播数据中断", "Ticks stopped arriving",
         "a session's latest minute tick is this many minutes old or more, its end neither given nor reached (the "
         "platform's export or the folder watcher stalled; the session is no longer shown as live); held for up "
         "to an hour after that tick, when a session silent that long is taken as ended",
         (Param("alert_ticks_stopped", 3, "minutes since the latest tick"),)),
    Rule("upload_rejected", "上传文件被拒收", "Upload rejected",
         "a file in a watched folder was rejected (its problems are named by line and column), as the watcher "
         "stored it: seen by every evaluation, the dashboard's too; resolved when a later version of the file is "
         "taken, the file leaves the folder or staff dismiss it on the Upload page"),
)
RULE_NAMES: Final = tuple(rule.name for rule in RULES)
PARAMS: Final[dict[str, Param]] = {p.setting: p for rule in RULES for p in rule.params}
_GMV_AFTER: Final = timedelta(minutes=30)
_ZONE: Final = ZoneInfo(ZONE)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_DROP_WINDOW: Final = timedelta(minutes=5)

# Where Streamlit reads secrets.toml (the working folder's .streamlit, then the user's), so the CLI and the
# watcher read the same settings as the dashboard.
SECRETS_FILES: Final = (Path(".streamlit") / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml")


def secrets() -> dict[str, Any]:
    """The top-level keys of the secrets.toml files Streamlit reads (the first file's key wins)."""
    found: dict[str, Any] = {}
    for path in reversed(SECRETS_FILES):
        try:
            found.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return found


def setting(name: str, given: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None, *,
            env_name: str | None = None) -> Any:
    """A setting: secrets.toml's `name`, else the environment's `env_name` (default RELIEF_LIVE_<NAME>), else None."""
    given = secrets() if given is None else given
    env = os.environ if env is None else env
    value = given.get(name)
    if value in (None, ""):
        value = env.get(env_name or ENV_PREFIX + name.upper())
    return None if value in (None, "") else value


class SettingError(ValueError):
    """A threshold setting that cannot be read, named with its value."""


def thresholds(given: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every rule's thresholds, by setting name: the configured value, else the default."""
    given = secrets() if given is None else given
    out: dict[str, Any] = {}
    for name, param in PARAMS.items():
        value = setting(name, given, env)
        if value is None:
            out[name] = param.default
            continue
        try:
            if param.default is None:  # a date
                out[name] = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
            else:
                out[name] = type(param.default)(value)
        except ValueError:
            raise SettingError(f"{param.env} (or {name} in secrets.toml) is {value!r}: not "
                               f"{'a date YYYY-MM-DD' if param.default is None else 'a number'}") from None
    return out


@dataclass(frozen=True)
class Holding:
    """What holds now: the conditions of the evaluated rules, one row per (rule, subject), with the facts a
    message states, and the rules that were evaluated (an alert of another rule is neither renewed nor resolved)."""

    rows: pl.DataFrame  # rule, subject, county, page, params (JSON), facts (JSON)
    rules: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


HOLDING_SCHEMA: Final = {"rule": pl.String, "subject": pl.String, "county": pl.String, "page": pl.String,
                         "params": pl.String, "facts": pl.String}


def _rows(rule: str | pl.Expr, frame: pl.DataFrame | pl.LazyFrame, subject: pl.Expr, county: pl.Expr, page: str,
          params: dict[str, pl.Expr], facts: dict[str, pl.Expr]) -> pl.DataFrame:
    """Conditions from a frame of the subjects where a rule holds (`rule`: its name, or an expression giving it
    per row; a lazy frame is collected once, with this selection); a few rows, so their JSON is made in Python."""
    picked = frame.select((pl.lit(rule) if isinstance(rule, str) else rule).alias("rule"),
                          subject.alias("subject"), county.alias("county"),
                          **{f"p_{k}": v for k, v in params.items()}, **{f"f_{k}": v for k, v in facts.items()})
    if isinstance(picked, pl.LazyFrame):
        picked = picked.collect()
    if picked.height == 0:
        return pl.DataFrame(schema=HOLDING_SCHEMA)
    rows = []
    for r in picked.iter_rows(named=True):
        rows.append({
            "rule": r["rule"], "subject": r["subject"], "county": r["county"], "page": page,
            "params": json.dumps({k: r[f"p_{k}"] for k in params if r[f"p_{k}"] is not None}, ensure_ascii=False),
            "facts": json.dumps({k: _plain(r[f"f_{k}"]) for k in facts}, ensure_ascii=False),
        })
    return pl.DataFrame(rows, schema=HOLDING_SCHEMA)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 4)
    return value


def villages(report: Report, limits: Mapping[str, Any], clock: datetime | None) -> pl.DataFrame:
    """village_stalled and village_deadline over Report.villages (last_sale, sell_through, projected_clear_date),
    at the data's own clock (`clock`: the latest sale in the store; None: no sale, nothing to read).

    It runs after every ingest: the villages are picked by one filter whose bounds are Python values worked out
    once (a datetime or a duration made inside the query costs more than the query), and the few picked rows'
    facts are written in Python."""
    if clock is None:
        return pl.DataFrame(schema=HOLDING_SCHEMA)
    at = clock.astimezone(UTC)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # the store's times are in ms
    quiet_since = at - timedelta(days=float(limits["alert_village_stalled"]))
    # A village with no sale is quiet since its baseline's day began (midnight in ZONE): on or before
    # quiet_since when that day is on or before quiet_since's own day there.
    quiet = (pl.when(pl.col("last_sale").is_not_null())
             .then(pl.col("last_sale").dt.epoch("ms") <= _epoch_ms(quiet_since))
             .otherwise(pl.col("as_of") <= quiet_since.astimezone(_ZONE).date())).fill_null(False)
    remains = (pl.col("remaining_qty") > 0).fill_null(False)
    stalled = remains & (pl.col("sell_through") < STALLED_BELOW).fill_null(True) & quiet
    # The ledger's own 目标日期 for the row, else the setting, else the end of the data's year.
    target = pl.coalesce("target_date", pl.lit(limits.get("alert_village_deadline") or date(clock.year, 12, 31)))
    late = remains & (pl.col("projected_clear_date").is_null() | (pl.col("projected_clear_date") > target))
    picked = report.villages.lazy().select(
        "county", "village", "product", "unit", "remaining_qty", "sell_through", "projected_clear_date",
        "last_sale", "as_of", stalled.alias("stalled"), late.alias("late"), target.alias("target"),
    ).filter(pl.col("stalled") | pl.col("late")).collect()  # (one query: each eager step would be one)
    rows = []
    for r in picked.iter_rows(named=True):
        since = r["last_sale"] or (datetime.combine(r["as_of"], datetime.min.time(), _ZONE) if r["as_of"] else None)
        facts = {"village": r["village"], "product": r["product"], "unit": r["unit"],
                 "remaining_qty": r["remaining_qty"], "sell_through": r["sell_through"],
                 "clear_date": r["projected_clear_date"], "last_sale": r["last_sale"],
                 "days": None if since is None else _whole_days(at - since), "target": r["target"]}
        rows.append({
            # stalled first: a stalled village is not also told to be late
            "rule": "village_stalled" if r["stalled"] else "village_deadline",
            "subject": None if r["village"] is None or r["product"] is None else f"{r['village']} · {r['product']}",
            "county": r["county"], "page": "villages",
            "params": json.dumps({k: r[k] for k in ("county", "product") if r[k] is not None}, ensure_ascii=False),
            "facts": json.dumps({k: _plain(v) for k, v in facts.items()}, ensure_ascii=False),
        })
    return pl.DataFrame(rows, schema=HOLDING_SCHEMA)


# The village rules' last input and result: a batch of ticks or sessions leaves the report's villages frame as it
# was (the same object), and then their result too. (Kept with the frame itself: an id alone could be reused.)
_villages_last: list[tuple[pl.DataFrame, datetime | None, dict[str, Any], pl.DataFrame]] = []


def _villages_of(report: Report, limits: Mapping[str, Any], clock: datetime | None) -> pl.DataFrame:
    if _villages_last:
        frame, was_clock, was_limits, result = _villages_last[0]
        if frame is report.villages and was_clock == clock and was_limits == limits:
            return result
    result = villages(report, limits, clock)
    _villages_last[:] = [(report.villages, clock, dict(limits), result)]
    return result


def _epoch_ms(moment: datetime) -> int:
    """A time as the store's Datetime("ms") holds it: a literal datetime with a zone costs a query's worth."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _whole_days(span: timedelta) -> int:
    """Whole days in a span, toward zero (as polars' total_days counts them)."""
    days = abs(span) // timedelta(days=1)
    return days if span >= timedelta(0) else -days


def sessions(report: Report, ticks: pl.DataFrame, limits: Mapping[str, Any], now: datetime) -> pl.DataFrame:
    """The live-session rules over Report.sessions (live, last_tick, gmv, host_kind) and the live sessions' ticks.

    It runs after every ingest, with a few sessions on air: their rows, their host kinds' medians and their ticks
    of the last minutes are taken with a few filters (bounds as numbers: a datetime literal costs a query's
    worth), and read in Python.

    A session whose feed stopped is no longer live, yet what its latest ticks showed stands until a new tick or
    its end says otherwise: its rules hold as they did (and ticks_stopped with them) while its feed is `stopped`."""
    table = report.sessions
    latest = table.get_column("last_tick").max()
    if not table.get_column("live").any() and (latest is None or latest <= now - STOPPED_FOR):  # type: ignore[operator]
        return pl.DataFrame(schema=HOLDING_SCHEMA)  # (told by a column's any() and max(): a filter costs a query)
    at = _epoch_ms(now.astimezone(UTC))
    minutes = float(limits["alert_session_no_orders"])
    quiet = timedelta(minutes=minutes)
    drop = float(limits["alert_session_viewers_drop"]) / 100
    share = float(limits["alert_session_gmv_slow"])
    stale_us = timedelta(minutes=float(limits["alert_ticks_stopped"])) // timedelta(microseconds=1)
    stale = -(-stale_us // 1000)  # ms, rounded up: a tick this many ms old or more has stopped
    # The live sessions and those whose feed stopped (metrics' `stopped`), in one query: the report's sessions
    # frame comes in many chunks after a refresh, where each series operation would cost as much.
    live = table.lazy().filter(pl.col("live") | feed_stopped(now)).select(
        "session_id", "county", "host_kind", "host_name", "title", "started_at", "last_tick", "gmv",
    ).collect().rows(named=True)
    medians = _medians(table, {r["host_kind"] for r in live} - {None})
    reach = max(_DROP_WINDOW, quiet)  # each live session's ticks up to its latest, as far back as a rule reads
    recent: dict[str, list[tuple]] = {}
    ticking = {r["session_id"]: r["last_tick"] for r in live if r["last_tick"] is not None}
    if ticking:
        since = _epoch_ms(min(ticking.values()) - reach)
        for row in ticks.lazy().filter(pl.col("session_id").is_in(list(ticking)) & (pl.col("ts").dt.epoch("ms") >= since)
                                       ).select("session_id", "ts", "viewers_online", "orders", "orders_cum"
                                                ).collect().iter_rows():
            if row[1] >= ticking[row[0]] - reach:
                recent.setdefault(row[0], []).append(row[1:])
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {rule: [] for rule in _SESSION_RULES}
    for r in live:
        named = {"title": r["session_id"] if r["title"] is None else r["title"], "host": r["host_name"]}
        held = sorted(recent.get(r["session_id"], []), key=lambda tick: tick[0])
        if held:
            latest = held[-1][1]
            peak = max((v for ts, v, *_ in held if ts >= r["last_tick"] - _DROP_WINDOW and v is not None), default=None)
            if peak is not None and peak > 0 and latest is not None and latest <= peak * (1 - drop):
                out["session_viewers_drop"].append(
                    (r, {**named, "peak": peak, "latest": latest, "fall": 1 - latest / peak}))
            window = [tick for tick in held if tick[0] >= r["last_tick"] - quiet]
            if window and _no_orders(window, r["last_tick"] - quiet, int(limits["alert_session_no_orders_viewers"])):
                out["session_no_orders"].append((r, {**named, "viewers": window[-1][1], "minutes": minutes}))
        median = medians.get(r["host_kind"])
        started = None if r["started_at"] is None else _epoch_ms(r["started_at"])
        if started is not None and started <= at - _GMV_AFTER // timedelta(milliseconds=1) and median is not None:
            rate = round(((r["gmv"] or 0) * 3600) / ((at - started) // 1000))  # halves to even, as polars
            if rate < median * share:
                out["session_gmv_slow"].append((r, {**named, "host_kind": r["host_kind"], "gmv_per_hour": rate,
                                                    "median": round(median)}))
        if r["last_tick"] is not None and _epoch_ms(r["last_tick"]) <= at - stale:
            out["ticks_stopped"].append((r, {**named, "last_tick": r["last_tick"],
                                             "minutes": (at - _epoch_ms(r["last_tick"])) // 1000 // 60}))
    return pl.DataFrame([{
        "rule": rule, "subject": r["session_id"], "county": r["county"], "page": "live",
        "params": json.dumps({"session": r["session_id"]} if r["session_id"] is not None else {}, ensure_ascii=False),
        "facts": json.dumps({k: _plain(v) for k, v in facts.items()}, ensure_ascii=False),
    } for rule in _SESSION_RULES for r, facts in out[rule]], schema=HOLDING_SCHEMA)


def _no_orders(window: list[tuple], since: datetime, viewers: int) -> bool:
    """session_no_orders over a session's ticks (ts, viewers_online, orders, orders_cum) in its quiet window: the
    first is at the window's start (`since`) or before, the latest has this many viewers online, and no order
    came (none counted after the first tick, the cumulative count unmoved) while orders were counted at all."""
    first, online = window[0][0], window[-1][1]
    orders = [o for ts, _, o, _ in window if o is not None and ts > first]
    counted = [c for *_, c in window if c is not None]
    known = any(o is not None for _, _, o, _ in window) or bool(counted)
    return (known and first <= since and online is not None and online >= viewers and sum(orders) == 0
            and (max(counted) - min(counted) if counted else 0) == 0)


def _medians(table: pl.DataFrame, kinds: set[str]) -> dict[str, float | None]:
    """The median GMV per hour of the finished sessions of each of these host kinds (those of the sessions the rules
    read); a kind with none is left out."""
    if not kinds:
        return {}
    # Series operations, a kind at a time: a grouped query cost several times as much (0.7-1 ms at 9k sessions).
    finished = ~table.get_column("live")
    rates, of_kind = table.get_column("gmv_per_hour").filter(finished), table.get_column("host_kind").filter(finished)
    medians = {kind: rates.filter(of_kind == kind).median() for kind in sorted(kinds)}
    return {kind: median for kind, median in medians.items() if median is not None}


_SESSION_RULES: Final = ("session_viewers_drop", "session_no_orders", "session_gmv_slow", "ticks_stopped")


def rejected(files: pl.DataFrame) -> pl.DataFrame:
    """upload_rejected: each file whose rejection by a folder watcher stands in the store (path, problem: its first
    problems in one line, problem_zh: the same in Chinese; rejections.summary)."""
    if files.height == 0:
        return pl.DataFrame(schema=HOLDING_SCHEMA)
    facts = {"file": pl.col("path"), "problem": pl.col("problem")}
    if "problem_zh" in files.columns:
        facts["problem_zh"] = pl.col("problem_zh")
    return _rows("upload_rejected", files, pl.col("path"), pl.lit(None, pl.String), "upload", {}, facts)


def holding(report: Report, ticks: pl.DataFrame, sales: pl.DataFrame, *, now: datetime,
            limits: Mapping[str, Any] | None = None, rejections: pl.DataFrame | None = None) -> Holding:
    """Every rule's conditions now. Villages at the data's own clock (the latest sale); sessions at `now`.
    `rejections`: the stored rejections (rejections.summary), without which upload_rejected is not evaluated."""
    limits = thresholds() if limits is None else limits
    carry = report.carry  # a refreshed report holds the latest sale: no pass over the sales lines
    clock = (carry.window.end if carry is not None else
             latest_sale(sales, report.sessions.select("session_id", "started_at")) if sales.height else None)
    parts = [_villages_of(report, limits, clock), sessions(report, ticks, limits, now)]
    evaluated = [r.name for r in RULES if r.name != "upload_rejected"]
    if rejections is not None:
        parts.append(rejected(rejections))
        evaluated.append("upload_rejected")
    return Holding(pl.concat(parts), tuple(evaluated))
