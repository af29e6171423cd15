"""The alerts' state in the store: one row per alert (firing until resolved), the delivery log, the last evaluation."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import polars as pl
import sqlalchemy as sa

from relief_live.alerts.rules import Holding
from relief_live.store import Store, metadata

RENEW_SECONDS: Final = 60  # a holding condition's last_seen and figures are renewed this often
CLAIM_SECONDS: Final = 600  # a delivery claimed longer ago than this (its process ended meanwhile) is taken again
RETRY_SECONDS: Final = 86_400  # a channel that has not taken a message tries it again at each evaluation this long

# The store's own metadata: Store.create makes these tables with the others, and a backup copies them, so that a
# store restored from it neither forgets its alerts nor sends them again.
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
alerts_table = sa.Table(
    "alerts", metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("county", sa.Text),
    sa.Column("page", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),  # JSON: the dashboard view's URL params
    sa.Column("facts", sa.Text, nullable=False),  # JSON: the figures the message states, as last seen
    sa.Column("first_seen", sa.BigInteger, nullable=False),  # epoch ms
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("resolved_at", sa.BigInteger),  # null: firing
    sa.Column("delivered_at", sa.BigInteger),  # the firing message first taken by a channel
    sa.Column("resolved_delivered_at", sa.BigInteger),  # the resolved message first taken by a channel
    sa.Column("claimed_at", sa.BigInteger),  # a process is sending its message now
    sa.Column("acknowledged_at", sa.BigInteger),
    sa.Column("acknowledged_by", sa.Text),
    sa.Column("muted", sa.Integer, nullable=False),  # 1: no more messages, not counted on the bell
    sa.Index("alerts_open", "rule", "subject", "resolved_at"),
)
deliveries_table = sa.Table(
    "alert_deliveries", metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("alert", sa.BigInteger),  # null: a test message
    sa.Column("message", sa.Text, nullable=False),  # firing | resolved | test
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("ok", sa.Integer, nullable=False),  # 1: the endpoint took it
    sa.Column("detail", sa.Text, nullable=False),  # the endpoint's answer or the error, in one line
    # Each channel's state of each message is read from here (taken; first tried when), by alert.
    sa.Index("alert_deliveries_of", "alert", "message", "channel"),
)
runs_table = sa.Table(
    "alert_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),  # the store version last evaluated
    sa.Column("minute", sa.BigInteger, nullable=False),  # and the minute (time-based rules change with it)
)
# What this process last found in the alerts table, per (store, rules evaluated): the conditions open and the
# oldest time one of them was seen. Another process's alerts are found when this one next reads.
_seen: dict[tuple[str, tuple[str, ...]], tuple[frozenset[tuple[str, str]], int]] = {}


def now_ms() -> int:
    return int(time.time() * 1000)


def ensure(store: Store) -> None:
    """Create the alerts' tables when missing (once per store URL in a process; Store.create makes them too when
    this module was imported first)."""
    store.ensure_tables((alerts_table, deliveries_table, runs_table))


@dataclass(frozen=True)
class Recorded:
    """What one evaluation changed: ids of alerts that began and that resolved."""

    fired: list[int]
    resolved: list[int]


def record(store: Store, holding: Holding, *, key: tuple[int, int] | None = None, at: int | None = None) -> Recorded:
    """Lay what holds now over the stored alerts, in one write transaction (processes evaluating at once each
    see the other's rows: a condition is one alert, never two): a new condition becomes a firing alert, a
    held one is renewed (last_seen, facts), and a firing alert of an evaluated rule that no longer holds is
    resolved. `key`: the (store version, minute) evaluated, recorded with it."""
    ensure(store)
    at = now_ms() if at is None else at
    now_holding = {(r["rule"], r["subject"]): r for r in holding.rows.iter_rows(named=True)}
    # The usual evaluation finds what this process last found (nothing began or ended): neither read nor write
    # (nor build a query: that alone would cost a fifth of the evaluation).
    mine, keys = (store.url, holding.rules), frozenset(now_holding)
    if (seen := _seen.get(mine)) is not None and seen[0] == keys and at - seen[1] < RENEW_SECONDS * 1000:
        return Recorded([], [])
    a = alerts_table
    scope = a.c.rule.in_(holding.rules)
    query = sa.select(a.c.id, a.c.rule, a.c.subject, a.c.last_seen).where(a.c.resolved_at.is_(None), scope)
    with store.transaction() as tx:
        oldest = _unchanged(tx.rows(query), now_holding, at)
    if oldest is not None:
        _seen[mine] = (keys, oldest)
        return Recorded([], [])
    with store.transaction(write=True) as tx:
        tx.lock(alerts_table)  # one evaluation or claim at a time
        open_rows = tx.rows(query)
        held = {(rule, subject): int(id_) for id_, rule, subject, _ in open_rows}
        fired, resolved = [], []
        for key_, row in now_holding.items():
            if key_ in held:
                tx.execute(a.update().where(a.c.id == held[key_]).values(
                    last_seen=at, facts=row["facts"], county=row["county"]))
            else:
                tx.execute(a.insert().values(
                    rule=row["rule"], subject=row["subject"], county=row["county"], page=row["page"],
                    params=row["params"], facts=row["facts"], first_seen=at, last_seen=at, muted=0))
                fired.append(key_)
        for key_, id_ in held.items():
            if key_ in now_holding:
                continue
            tx.execute(a.update().where(a.c.id == id_).values(resolved_at=at))
            resolved.append(id_)
        if key is not None:
            runs = runs_table
            if tx.rows(sa.select(runs.c.id)):
                tx.execute(runs.update().values(version=key[0], minute=key[1]))
            else:
                tx.execute(runs.insert().values(id=1, version=key[0], minute=key[1]))
        fired_ids = []
        if fired:
            rows = tx.rows(sa.select(a.c.id, a.c.rule, a.c.subject).where(
                a.c.resolved_at.is_(None), a.c.first_seen == at, scope))
            began = set(fired)
            fired_ids = [int(i) for i, rule, subject in rows if (rule, subject) in began]
    _seen[mine] = (keys, at)
    return Recorded(fired_ids, resolved)


def _unchanged(open_rows: list[tuple], now_holding: dict[tuple[str, str], dict[str, Any]], at: int) -> int | None:
    """When recording can wait, the oldest last_seen of the held alerts (`at` when none): the same conditions
    hold, each seen within RENEW_SECONDS. Their last_seen and figures (a village's remaining stock moves with
    every sales batch) are renewed that often, not at every evaluation: an ingest is not followed by a write to
    the alerts table unless an alert began or ended. None: a write is due."""
    held = {(rule, subject): last_seen for _, rule, subject, last_seen in open_rows}
    if held.keys() != now_holding.keys() or any(at - seen >= RENEW_SECONDS * 1000 for seen in held.values()):
        return None
    return min(held.values(), default=at)


def alerts(store: Store, *, firing_only: bool = False) -> pl.DataFrame:
    """Every alert (columns of the alerts table), firing first, newest first."""
    ensure(store)
    a = alerts_table
    query = sa.select(a)
    if firing_only:
        query = query.where(a.c.resolved_at.is_(None))
    frame = store.select(query, a)
    return frame.with_columns(state=pl.when(pl.col("resolved_at").is_null()).then(pl.lit("firing"))
                              .otherwise(pl.lit("resolved"))).sort(
        [pl.col("resolved_at").is_not_null(), "last_seen"], descending=[False, True])


def firing_count(store: Store) -> int:
    """Firing alerts that are not muted: the bell's count."""
    ensure(store)
    a = alerts_table
    with store.transaction() as tx:
        rows = tx.rows(sa.select(sa.func.count()).select_from(a).where(
            a.c.resolved_at.is_(None), a.c.muted == 0))
    return int(rows[0][0])


def _taken(kind: str, channel: str) -> sa.Exists:
    d = deliveries_table
    return sa.exists().where(d.c.alert == alerts_table.c.id, d.c.message == kind, d.c.channel == channel, d.c.ok == 1)


def _given_up(kind: str, channel: str, at: int) -> sa.Exists:
    d = deliveries_table
    return sa.exists().where(d.c.alert == alerts_table.c.id, d.c.message == kind, d.c.channel == channel,
                             d.c.at < at - RETRY_SECONDS * 1000)


def _due_on(channel: str, at: int) -> sa.Case:
    """Whether an alert's message is due on `channel`, as the delivery log has it: not taken there yet, and not
    first tried there over RETRY_SECONDS ago; a resolved message only where the firing one was taken."""
    firing = ~_taken("firing", channel) & ~_given_up("firing", channel, at)
    resolved = _taken("firing", channel) & ~_taken("resolved", channel) & ~_given_up("resolved", channel, at)
    return sa.case((alerts_table.c.resolved_at.is_(None), firing), else_=resolved)


def claim(store: Store, channels: tuple[str, ...], *, at: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(firing alerts whose message is due, resolved alerts whose message is due) on any of `channels`, each with
    `due`: the channels it is due on. Claimed by this process in one write transaction so that no other process
    sends them too. Muted alerts send nothing."""
    ensure(store)
    at = now_ms() if at is None else at
    a = alerts_table
    free = a.c.claimed_at.is_(None) | (a.c.claimed_at < at - CLAIM_SECONDS * 1000)
    due = [_due_on(channel, at) for channel in channels]
    with store.transaction(write=True) as tx:
        tx.lock(alerts_table)  # one evaluation or claim at a time
        rows = tx.rows(sa.select(a.c.id, *(d.label(f"due_{i}") for i, d in enumerate(due))).where(
            free, a.c.muted == 0, sa.or_(*due)))
        if rows:
            tx.execute(a.update().where(a.c.id.in_([int(r[0]) for r in rows])).values(claimed_at=at))
    on = {int(r[0]): [c for c, flag in zip(channels, r[1:], strict=True) if flag] for r in rows}
    picked = store.select(sa.select(a).where(a.c.id.in_(list(on)) if on else sa.false()).order_by(a.c.id), a)
    picked = picked.with_columns(due=pl.Series([on[i] for i in picked.get_column("id").to_list()],
                                               dtype=pl.List(pl.String)))
    return picked.filter(pl.col("resolved_at").is_null()), picked.filter(pl.col("resolved_at").is_not_null())


def delivered(store: Store, ids: list[int], *, resolved: bool, at: int | None = None) -> None:
    """Mark messages sent (taken by one channel at least: the first time is kept) and let go of their claim."""
    if not ids:
        return
    at = now_ms() if at is None else at
    a = alerts_table
    column = a.c.resolved_delivered_at if resolved else a.c.delivered_at
    with store.transaction(write=True) as tx:
        tx.execute(a.update().where(a.c.id.in_(ids)).values({column: sa.func.coalesce(column, at), "claimed_at": None}))


def release(store: Store, ids: list[int]) -> None:
    """Let go of the claim on messages that went nowhere in this pass: the next evaluation tries them again on
    each channel that has not taken them."""
    if not ids:
        return
    a = alerts_table
    with store.transaction(write=True) as tx:
        tx.execute(a.update().where(a.c.id.in_(ids)).values(claimed_at=None))


def log_delivery(store: Store, *, alert: int | None, message: str, channel: str, attempt: int, ok: bool,
                 detail: str) -> None:
    ensure(store)
    with store.transaction(write=True) as tx:
        tx.execute(deliveries_table.insert().values(
            alert=alert, message=message, channel=channel, attempt=attempt, at=now_ms(), ok=int(ok),
            detail=detail[:500]))


def delivery_log(store: Store) -> pl.DataFrame:
    ensure(store)
    d = deliveries_table
    return store.select(sa.select(d).order_by(d.c.id), d)


def acknowledge(store: Store, alert: int, by: str) -> None:
    ensure(store)
    a = alerts_table
    with store.transaction(write=True) as tx:
        tx.execute(a.update().where(a.c.id == alert).values(acknowledged_at=now_ms(),
                                                                          acknowledged_by=by))


def mute(store: Store, alert: int, by: str) -> None:
    """No further message about this alert (nor its resolution), and off the bell's count."""
    ensure(store)
    a = alerts_table
    with store.transaction(write=True) as tx:
        tx.execute(a.update().where(a.c.id == alert).values(
            muted=1, acknowledged_at=sa.func.coalesce(a.c.acknowledged_at, now_ms()),
            acknowledged_by=sa.func.coalesce(a.c.acknowledged_by, by)))


def row(store: Store, alert: int) -> dict[str, Any] | None:
    a = alerts_table
    frame = store.select(sa.select(a).where(a.c.id == alert), a)
    return frame.row(0, named=True) if frame.height else None
