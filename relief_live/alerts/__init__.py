"""Alerts: the rules evaluated where data changes (once per store version and minute), stored, and sent once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import polars as pl
import sqlalchemy as sa

from relief_live import rejections, terminal
from relief_live.alerts import deliver, record, rules
from relief_live.alerts.rules import RULES, holding
from relief_live.store import Store

__all__ = ["RULES", "Outcome", "after_change", "after_ingest", "after_watch", "check", "command", "deliver_due",
           "test_channel"]
log = logging.getLogger(__name__)
_held: dict[str, Any] = {}  # store URL -> live.LiveFrames of a process with no frames of its own (CLI, watcher)
_held_lock = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """What a check did: the (store version, minute) evaluated (None: already evaluated), the alerts that began
    and resolved, and the messages sent."""

    key: tuple[int, int] | None
    fired: list[int]
    resolved: list[int]
    sent: int


def _frames_of(store: Store, live: Any = None) -> Any:
    if live is not None:
        return live
    from relief_live.live import LiveFrames

    with _held_lock:
        if store.url not in _held:
            _held[store.url] = LiveFrames(store)
        return _held[store.url]


def check(store: Store, *, live: Any = None, now: datetime | None = None, send: bool = True,
          force: bool = False, version: int | None = None) -> Outcome:
    """Evaluate every rule on the store as it is, record what began and what cleared, and send what is due.

    Skipped when this (store version, minute) was evaluated already, by this process or another, unless `force`
    (a watcher whose rejected files changed). `live`: the caller's LiveFrames (the dashboard's), whose report is
    refreshed from new batches only; else one kept for the store in this process. `version`: the store version
    the caller has just read (the dashboard's), not read again."""
    now = now or datetime.now(UTC)
    key = (store.version() if version is None else version, int(now.timestamp() // 60))
    last, standing = _looked(store, key[0])
    if not force and last == key:
        return Outcome(None, [], [], deliver_due(store) if send else 0)
    from relief_live.live import live_minutes

    frames = _frames_of(store, live)
    # The caller that gives the version has just refreshed its frames to it: they are not asked again.
    version, report = frames.report(now=now, live_minutes=live_minutes(), refresh=version is None)
    # The watchers' standing rejections: seen wherever evaluated (read only when there are some: usually none).
    rejected = rejections.summary(rejections.current(store) if standing else pl.DataFrame())
    held = holding(report, frames.frames["ticks"], frames.frames["sales"], now=now, rejections=rejected)
    done = record.record(store, held, key=(version, key[1]))
    sent = deliver_due(store) if send else 0
    return Outcome((version, key[1]), done.fired, done.resolved, sent)


# What check reads of the store besides the rules' data (made once: making a select costs a tenth of a ms).
_LOOKED: Final = {
    "alerts_version": sa.select(record.runs_table.c.version),
    "alerts_minute": sa.select(record.runs_table.c.minute),
    "rejections_standing": sa.select(sa.func.count()).select_from(rejections.rejections_table)
    .where(rejections.rejections_table.c.resolved_at.is_(None)),
}


def _looked(store: Store, version: int) -> tuple[tuple[int, int] | None, int]:
    """(the (store version, minute) last evaluated, how many of the folder watchers' rejections stand), as the
    query that read `version` read them (Store.ride: a read of its own would cost a connection's worth, most of
    an evaluation after an ingest); else read on one connection."""
    record.ensure(store)
    rejections.ensure(store)
    for name, read in _LOOKED.items():
        store.ride(name, read)
    if (ridden := store.ridden) is not None and ridden[0] == version and "rejections_standing" in ridden[1]:
        got = ridden[1]
        last = (None if got["alerts_version"] is None else (int(got["alerts_version"]), int(got["alerts_minute"])))
        return last, int(got["rejections_standing"])
    with store.transaction() as tx:
        last = tx.rows(sa.select(record.runs_table.c.version, record.runs_table.c.minute))
        ((standing,),) = tx.rows(_LOOKED["rejections_standing"])
    return ((int(last[0][0]), int(last[0][1])) if last else None), int(standing)


def deliver_due(store: Store, *, given: Mapping[str, Any] | None = None, sleep: Any = time.sleep,
                delays: tuple[float, ...] = deliver.DELAYS) -> int:
    """Send the firing and resolved messages that are due on every configured channel; returns how many messages
    were sent (on at least one channel). Without a channel nothing is claimed: the alerts wait for one."""
    given = rules.secrets() if given is None else given
    configured = deliver.channels(given)
    if not configured:
        return 0
    firing, resolved = record.claim(store, tuple(configured))
    lang, base = deliver.language(given), deliver.configured("public_url", given)
    sent, down = 0, set()  # down: channels that failed every try in this pass, not tried again in it
    for frame, kind in ((firing, "firing"), (resolved, "resolved")):
        done = []
        for alert in frame.iter_rows(named=True):
            msg = deliver.message(alert, kind, lang=lang, base=base)
            took = False
            for name in alert["due"]:  # the channels that have not taken it (the delivery log says which)
                if name in down:
                    continue
                tries: list[bool] = []
                write = _logger(store, alert["id"], kind, name)

                def logged(attempt: int, ok: bool, detail: str, write: Any = write, tries: list = tries) -> None:
                    tries.append(ok)
                    write(attempt, ok, detail)

                if deliver.send(name, configured[name], msg, delays=delays, sleep=sleep, log=logged):
                    took = True
                elif len(tries) > len(delays):  # unreachable through every back-off: skip it for the rest
                    down.add(name)
            # Sent once one channel took it; each channel that did not tries it again at the next evaluation.
            if took:
                done.append(alert["id"])
        sent += len(done)
        record.delivered(store, done, resolved=kind == "resolved")
        record.release(store, [i for i in frame.get_column("id").to_list() if i not in done])
    return sent


_sending = threading.Lock()  # one delivery thread at a time per process


def deliver_in_background(store: Store) -> None:
    """deliver_due in a thread, unless one is sending already: a page or the folder watcher never waits on a
    robot that is slow or down."""
    if not deliver.channels() or not _sending.acquire(blocking=False):
        return

    def send() -> None:
        try:
            deliver_due(store)
        except Exception as error:  # an endpoint or the store: the log says which; the next evaluation tries again
            log.warning("alert messages were not sent: %s", error)
        finally:
            _sending.release()

    threading.Thread(target=send, name="relief-live alerts", daemon=True).start()


def _logger(store: Store, alert: int | None, kind: str, channel: str) -> Any:
    def write(attempt: int, ok: bool, detail: str) -> None:
        if not ok:
            log.warning("alert %s: %s message on %s, attempt %d: %s", alert, kind, channel, attempt, detail)
        record.log_delivery(store, alert=alert, message=kind, channel=channel, attempt=attempt, ok=ok, detail=detail)
    return write


def test_channel(store: Store, channel: str, *, given: Mapping[str, Any] | None = None, sleep: Any = time.sleep,
                 delays: tuple[float, ...] = deliver.DELAYS) -> bool:
    """Send a test message on one configured channel (KeyError when it is not configured)."""
    given = rules.secrets() if given is None else given
    configured = deliver.channels(given)
    if channel not in configured:
        raise KeyError(channel)
    msg = deliver.test_message(lang=deliver.language(given), base=deliver.configured("public_url", given))
    return deliver.send(channel, configured[channel], msg, delays=delays, sleep=sleep,
                        log=_logger(store, None, "test", channel))


def after_change(store: Store, *, live: Any = None, force: bool = False, background: bool = False) -> None:
    """The hook after an ingest, a retraction or a watcher's look: check, and never fail the caller (its data is
    stored either way); a failure is logged. `background`: messages are sent from a thread."""
    try:
        check(store, live=live, force=force, send=not background)
    except Exception as error:  # an endpoint, a setting or the store: the ingest itself went through
        log.warning("alerts were not evaluated: %s", error)
        return
    if background:
        deliver_in_background(store)


_watched: dict[str, tuple[tuple[int, int], frozenset[str]]] = {}


def after_watch(watcher: Any) -> None:
    """After a watcher's look: the rules, when the store, the minute or the files whose rejection the watcher
    stored (upload_rejected) changed since its last look."""
    folder = str(watcher.folder)
    try:
        key = (watcher.store.version(), int(time.time() // 60))
    except Exception as error:
        log.warning("alerts were not evaluated: %s", error)
        return
    state = (key, frozenset(watcher.rejected or ()))
    before = _watched.get(folder)
    if before == state:
        return
    _watched[folder] = state
    # Forced when the rejected files changed: the store's version does not move with them. In the background:
    # the next look does not wait on a robot.
    after_change(watcher.store, force=(before[1] if before else frozenset()) != state[1], background=True)


def after_ingest(store: Store) -> None:
    """The command line's hook after an ingest or a retraction: the rules evaluated and what began or cleared
    recorded (the bell and `alerts` show it with no dashboard open), messages sent where a channel is
    configured."""
    after_change(store)


def command(store: Store, words: list[str], *, as_json: bool, say: Any = print) -> int:
    """`alerts [--json]`: check now and list every alert; `alerts test CHANNEL`: a test message."""
    import json
    import sys

    if words:
        if len(words) != 2 or words[0] != "test" or words[1] not in deliver.CHANNELS:
            say(f"usage: alerts test CHANNEL (one of {', '.join(deliver.CHANNELS)})", sys.stderr)
            return 2
        try:
            ok = test_channel(store, words[1])
        except KeyError:
            say(f"{words[1]} is not configured (docs/alerts.md names its settings)", sys.stderr)
            return 1
        say(f"test message {'sent' if ok else 'NOT sent (the delivery log says why)'} on {words[1]}")
        return 0 if ok else 1
    try:
        outcome = check(store, force=True)
    except rules.SettingError as error:
        say(f"relief-live: {error}", sys.stderr)
        return 2
    listed = record.alerts(store)
    rows = [{
        "id": r["id"], "rule": r["rule"], "subject": r["subject"], "county": r["county"], "state": r["state"],
        "first_seen": deliver._iso(r["first_seen"]), "last_seen": deliver._iso(r["last_seen"]),
        "resolved_at": deliver._iso(r["resolved_at"]), "delivered": r["delivered_at"] is not None,
        "acknowledged_by": r["acknowledged_by"], "muted": bool(r["muted"]), "facts": json.loads(r["facts"]),
    } for r in listed.iter_rows(named=True)]
    if as_json:
        print(terminal.safe_json(json.dumps({"alerts": rows, "sent": outcome.sent}, ensure_ascii=False)))
        return 0
    if not rows:
        print("no alerts")
    for r in rows:
        mark = "  (muted)" if r["muted"] else "  (acknowledged)" if r["acknowledged_by"] else ""
        say(f"{r['state']:<9} {r['rule']:<21} {r['subject']}{mark}")
    if outcome.sent:
        say(f"{outcome.sent} message(s) sent")
    return 0
