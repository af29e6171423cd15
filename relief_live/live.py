"""Incremental reads of the store for live charts: frames cached by store version, topped up with new batches."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import polars as pl

from relief_live import schema
from relief_live.metrics.common import without_rows
from relief_live.metrics.incremental import Changes, at_time, cold_report, refresh_report
from relief_live.metrics.report import Report
from relief_live.metrics.sessions import LIVE_MINUTES
from relief_live.store import Store, key_hashes, merge_replacing

KINDS: Final[tuple[str, ...]] = tuple(schema.KINDS)
log = logging.getLogger(__name__)
ENV_REFRESH: Final = "RELIEF_LIVE_REFRESH_SECONDS"
ENV_SILENT_MINUTES: Final = "RELIEF_LIVE_SILENT_MINUTES"
DEFAULT_REFRESH_SECONDS: Final = 5.0


def refresh_seconds() -> float:
    """How often live charts refresh themselves (RELIEF_LIVE_REFRESH_SECONDS, default 5)."""
    try:
        return max(1.0, float(os.environ.get(ENV_REFRESH, DEFAULT_REFRESH_SECONDS)))
    except ValueError:
        return DEFAULT_REFRESH_SECONDS


LATE_REFRESHES: Final = 2  # data older than this many refresh intervals is late: the next row should be here


def live_minutes() -> float:
    """The silence limit (RELIEF_LIVE_SILENT_MINUTES, default 3): a session is live while its latest minute tick
    is at most this many minutes old, and a feed silent for longer has stopped. The one definition of "live":
    the LIVE badge, the lists of live sessions, the wall screen's rotation and the alert rules all use it."""
    try:
        minutes = float(os.environ.get(ENV_SILENT_MINUTES, LIVE_MINUTES))
    except ValueError:
        return LIVE_MINUTES
    return minutes if minutes > 0 else LIVE_MINUTES


def freshness(latest: datetime | None, now: datetime) -> tuple[float | None, str]:
    """(age in seconds, 'fresh' | 'late' | 'silent') of a live session's latest row at `now`: late after
    LATE_REFRESHES refresh intervals, silent past the silence limit (live_minutes; or with no row at all)."""
    if latest is None:
        return None, "silent"
    age = max(0.0, (now - latest).total_seconds())
    if age > live_minutes() * 60:
        return age, "silent"
    return age, "late" if age > LATE_REFRESHES * refresh_seconds() else "fresh"


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
    indexes: dict[str, KeyIndex] = field(default_factory=dict, repr=False)  # where each held frame's keys are
    _report: Report | None = field(default=None, repr=False)  # the report of `frames`, once asked for
    reading_all: bool = False  # a refresh is reading every row (the first, or the first after a retraction)
    _checked_at: float = -1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refresh(self, reading: Callable[[], contextlib.AbstractContextManager[object]] | None = None,
                ) -> tuple[int, dict[str, pl.DataFrame]]:
        """(store version, frames) as of now: as of a version check that began after this call did.
        `reading`: what to hold open (a message) while this call reads every row (the first read, or the first
        after a retraction); `reading_all` tells callers waiting meanwhile."""
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
            indexes = dict(self.indexes)
            with self._reading(full, reading):
                for kind in KINDS:
                    if full:
                        frames[kind], hashes = self._read_keyed(kind, 0)
                        indexes[kind] = KeyIndex.of(kind, frames[kind], hashes)
                    elif kind in new_kinds:
                        new = self._read(kind, self.last_batch)
                        frames[kind], replaced, indexes[kind] = merge_indexed(kind, frames[kind], indexes[kind], new)
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
            self.indexes = indexes
            self.changes = changes
            return version, frames

    @contextlib.contextmanager
    def _reading(self, full: bool, reading: Callable[[], contextlib.AbstractContextManager[object]] | None,
                 ) -> Iterator[None]:
        """While a refresh reads: `reading_all` says whether it reads every row, and then `reading` is held open."""
        self.reading_all = full
        try:
            with reading() if reading is not None and full else contextlib.nullcontext():
                yield
        finally:
            self.reading_all = False

    @property
    def has_report(self) -> bool:
        """Whether a report is held: else the next report() computes it over every row (seconds on a big store)."""
        return self._report is not None

    def report(self, *, now: datetime, live_minutes: float, refresh: bool = True) -> tuple[int, Report]:
        """(store version, metrics.build_report of the frames as at `now`): built once, then after each
        refresh that only added batches, refreshed from the previous report (metrics.refresh_report).
        `refresh=False`: of the frames as held, when the caller has just refreshed them (no version query)."""
        if refresh or self.version < 0:
            self.refresh()
        with self._lock:
            if self._report is None:
                f = self.frames
                self._report = cold_report(f["sessions"], f["ticks"], f["sales"], f["stock"], f.get("catalogue"),
                                           now=now, live_minutes=live_minutes)
            return self.version, at_time(self._report, now, live_minutes)

    def _read(self, kind: str, since_batch: int) -> pl.DataFrame:
        return self._read_keyed(kind, since_batch)[0]

    def _read_keyed(self, kind: str, since_batch: int) -> tuple[pl.DataFrame, pl.Series]:
        self.reads.append((kind, since_batch))
        del self.reads[:-100]
        return self.store.read_keyed(kind, since_batch=since_batch)


# -- finding the rows new ones replace ---------------------------------------------------------------------
_LINE_BITS: Final = 32  # a place is batch << _LINE_BITS | line


def _places(frame: pl.DataFrame) -> pl.Series:
    """Each row's place in the store, batch and line in one UInt64 (the held frames are in this order)."""
    return frame.select((pl.col("batch").cast(pl.UInt64) * 2**_LINE_BITS + pl.col("line").cast(pl.UInt64)
                         ).alias("place")).to_series()


@dataclass(frozen=True)
class KeyIndex:
    """Where a held frame's keys are, so that new rows find the rows they replace by searches, not by a pass
    over every held row: each row's key hash with its place (batch, line), in chunks sorted by hash, and the
    places of the rows held now (sorted: the frame's order). A chunk keeps the entries of rows replaced since
    it was made until it is merged with another; their places are no longer held, so lookups skip them."""

    places: pl.Series  # UInt64, sorted
    chunks: tuple[pl.DataFrame, ...]  # h, place: UInt64, each chunk sorted by h

    @property
    def last_batch(self) -> int | None:
        """The held frame's last batch, from its last place (a max over the frame's batch column read every row:
        6.5 ms at 10M lines on a slow machine, a tenth of a refresh); None when it holds no rows."""
        return self.places[-1] >> _LINE_BITS if self.places.len() else None

    @classmethod
    def of(cls, kind: str, frame: pl.DataFrame, hashes: pl.Series | None = None) -> KeyIndex:
        """The index of a held frame; `hashes`: its rows' key hashes when known (Store.read_keyed)."""
        places = _places(frame)
        entries = pl.DataFrame({"h": key_hashes(kind, frame) if hashes is None else hashes,
                                "place": places}).sort("h")
        return cls(places, (entries,) if entries.height else ())

    def lookup(self, hashes: pl.Series) -> pl.Series:
        """Positions in the held frame of the rows whose key hash is among `hashes` (a superset of the rows
        with those keys: a hash may collide)."""
        found = []
        for chunk in self.chunks:
            h = chunk.get_column("h")
            span = pl.DataFrame({"lo": h.search_sorted(hashes, side="left"),
                                 "hi": h.search_sorted(hashes, side="right")}).filter(pl.col("hi") > pl.col("lo"))
            if span.height:
                at = span.select(pl.int_ranges("lo", "hi").explode().alias("i")).to_series().drop_nulls()
                found.append(chunk.get_column("place").gather(at))
        if not found:
            return pl.Series("pos", [], pl.UInt32)
        places = pl.concat(found).unique()
        pos = self.places.search_sorted(places, side="left")
        held = pos < self.places.len()
        pos, places = pos.filter(held), places.filter(held)
        return pos.filter(self.places.gather(pos) == places).sort().alias("pos")

    def after(self, kind: str, gone: pl.Series, new: pl.DataFrame) -> KeyIndex:
        """The index once the rows at positions `gone` went and the `new` rows (of newer batches) came."""
        places = without_rows(self.places.to_frame(), gone).to_series()
        new_places = _places(new)
        chunks = list(self.chunks)
        chunks.append(pl.DataFrame({"h": key_hashes(kind, new), "place": new_places}).sort("h"))
        places = pl.concat([places, new_places])
        # Chunks of like size are merged (each entry is merged O(log n) times); entries of rows gone are dropped.
        while len(chunks) > 1 and chunks[-1].height * 2 >= chunks[-2].height:
            last = chunks.pop()
            merged = chunks.pop().merge_sorted(last, key="h")
            pos = places.search_sorted(merged.get_column("place"), side="left")
            live = (pos < places.len()) & (places.gather(pos.clip(upper_bound=max(places.len() - 1, 0)))
                                           == merged.get_column("place")) if places.len() else pos < 0
            chunks.append(merged.filter(live))
        return KeyIndex(places, tuple(chunks))


def merge_indexed(kind: str, old: pl.DataFrame, index: KeyIndex,
                  new: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None, KeyIndex]:
    """store.merge_replacing with the rows to replace found through `index` (the cost follows the new rows,
    not the held ones, save for taking replaced rows out), and the index after the merge."""
    if new.height == 0:
        return old, old.clear(), index
    held_last = index.last_batch
    if held_last is not None and new.get_column("batch").min() <= held_last:  # type: ignore[operator]
        frame, replaced = merge_replacing(kind, old, new)  # not newer batches: resolved together
        return frame, replaced, KeyIndex.of(kind, frame)
    pos = index.lookup(key_hashes(kind, new))
    candidates = old[pos]
    _, replaced = merge_replacing(kind, candidates, new)  # the exact key match, among the few candidates
    assert replaced is not None
    gone = pos.filter(_places(candidates).is_in(_places(replaced).implode()))
    return pl.concat([without_rows(old, gone), new], how="vertical", rechunk=False), replaced, index.after(kind, gone, new)


def now() -> datetime:
    return datetime.now(UTC)


def session_ticks(frames: dict[str, pl.DataFrame], session_id: str) -> pl.DataFrame:
    return frames["ticks"].filter(pl.col("session_id") == session_id)


def session_sales(frames: dict[str, pl.DataFrame], session_id: str) -> pl.DataFrame:
    return frames["sales"].filter(pl.col("session_id") == session_id)
