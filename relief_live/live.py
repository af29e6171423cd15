"""Incremental reads of the store for live charts: frames cached by store version, topped up with new batches."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import polars as pl

from relief_live import schema
from relief_live.metrics.incremental import Changes, at_time, refresh_report
from relief_live.metrics.report import Report, build_report
from relief_live.store import Store, merge_replacing

KINDS: Final[tuple[str, ...]] = tuple(schema.KINDS)
log = logging.getLogger(__name__)
ENV_REFRESH: Final = "RELIEF_LIVE_REFRESH_SECONDS"
ENV_LIVE_MINUTES: Final = "RELIEF_LIVE_LIVE_MINUTES"
DEFAULT_REFRESH_SECONDS: Final = 5.0


def refresh_seconds() -> float:
    """How often live charts refresh themselves (RELIEF_LIVE_REFRESH_SECONDS, default 5)."""
    try:
        return max(1.0, float(os.environ.get(ENV_REFRESH, DEFAULT_REFRESH_SECONDS)))
    except ValueError:
        return DEFAULT_REFRESH_SECONDS


def live_minutes() -> float:
    """Minutes after its last tick that a session without an end still counts as live."""
    try:
        return float(os.environ.get(ENV_LIVE_MINUTES, 10.0))
    except ValueError:
        return 10.0


@dataclass
class LiveFrames:
    """The current rows of every kind, kept in memory and topped up with the rows of new batches only.

    A refresh when nothing changed costs one query (the store version), and callers that arrive while
    another is checking share that check: fifty viewers refreshing together make one query. New batches
    are read with `since_batch` and laid over the held frames; a retraction, which can bring back
    overwritten values, makes the next refresh read everything again.
    """

    store: Store
    version: int = -1
    last_batch: int = 0
    retracted: frozenset[int] = frozenset()
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    reads: list[tuple[str, int]] = field(default_factory=list)  # (kind, since_batch) of each read, newest last
    checks: int = 0  # store version queries made
    changes: Changes = field(default_factory=Changes)  # what the latest refresh changed
    _report: Report | None = field(default=None, repr=False)  # the report of `frames`, once asked for
    _checked_at: float = -1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refresh(self) -> tuple[int, dict[str, pl.DataFrame]]:
        """(store version, frames) as of now: as of a version check that began after this call did."""
        asked = time.monotonic()
        with self._lock:
            if self._checked_at >= asked:  # a check began while this caller waited: its answer is fresh
                return self.version, self.frames
            self._checked_at = time.monotonic()
            self.checks += 1
            version = self.store.version()
            if version == self.version:
                return self.version, self.frames
            batches = self.store.batches()
            retracted = frozenset(batches.filter(pl.col("retracted"))["batch"].to_list())
            last = int(batches["batch"].max() or 0)  # type: ignore[arg-type]
            full = self.version < 0 or retracted != self.retracted
            new_kinds = set(batches.filter(pl.col("batch") > self.last_batch)["kind"].to_list())
            frames = dict(self.frames)
            changes = Changes(full=full)
            for kind in KINDS:
                if full:
                    frames[kind] = self._read(kind, 0)
                elif kind in new_kinds:
                    new = self._read(kind, self.last_batch)
                    frames[kind], replaced = merge_replacing(kind, frames[kind], new)
                    if replaced is None:
                        changes = Changes(full=True)
                    elif not changes.full and new.height:
                        changes.new[kind], changes.replaced[kind] = new, replaced
            if self._report is not None and not changes.full:
                try:
                    self._report = refresh_report(self._report, frames, changes, now=now(),
                                                  live_minutes=live_minutes())
                except Exception:  # a refresh it cannot do: the next report() builds the report whole
                    log.exception("incremental report refresh failed; rebuilding the report")
                    self._report = None
            else:
                self._report = None
            self.frames, self.version, self.last_batch, self.retracted = frames, version, last, retracted
            self.changes = changes
            return version, frames

    def report(self, *, now: datetime, live_minutes: float) -> tuple[int, Report]:
        """(store version, metrics.build_report of the frames as at `now`): built once, then after each
        refresh that only added batches, refreshed from the previous report (metrics.refresh_report)."""
        self.refresh()
        with self._lock:
            if self._report is None:
                f = self.frames
                self._report = build_report(f["sessions"], f["ticks"], f["sales"], f["stock"],
                                            now=now, live_minutes=live_minutes)
            return self.version, at_time(self._report, now, live_minutes)

    def _read(self, kind: str, since_batch: int) -> pl.DataFrame:
        self.reads.append((kind, since_batch))
        del self.reads[:-100]
        return self.store.read(kind, since_batch=since_batch)


def now() -> datetime:
    return datetime.now(UTC)


def session_ticks(frames: dict[str, pl.DataFrame], session_id: str) -> pl.DataFrame:
    return frames["ticks"].filter(pl.col("session_id") == session_id)


def session_sales(frames: dict[str, pl.DataFrame], session_id: str) -> pl.DataFrame:
    return frames["sales"].filter(pl.col("session_id") == session_id)
