"""Watch a folder: ingest export files as they appear and as they grow, one log line per ingest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from stat import S_ISDIR, S_ISLNK, S_ISREG
from typing import Final

from relief_live import alerts, ingest, read, rejections
from relief_live.read import XLSX_MAGIC, Problem, Rejected
from relief_live.store import Store, describe_failure

SUFFIXES: Final = (".csv", ".xlsx", ".txt")
DEFAULT_INTERVAL: Final = 2.0  # seconds between looks at the folder


def _named(path: Path) -> str:
    """How a rejection names a file or folder: its full path, the same whichever way the folder was given (its
    parent's links resolved; the file itself is never followed)."""
    return str(path.parent.resolve() / path.name)


@dataclass
class _Seen:
    size: int = -1
    mtime_ns: int = -1
    done: int = 0  # bytes of the file already ingested (up to the last complete line)
    reported: str = ""  # the last problem reported, so a bad file is named once, not every poll
    tail: bool = False  # bytes after the last newline wait: a line being written, or a last line without one


@dataclass
class Watcher:
    """Polls `folder`; each new or grown file goes through the same ingest as the CLI."""

    store: Store
    folder: Path
    kind: str | None = None
    session_id: str | None = None
    host_kind: str | None = None
    log: Callable[[str], None] = print
    seen: dict[Path, _Seen] = field(default_factory=dict)
    # Files of this folder whose rejection stands in the store (read from it at the first look, so that a file
    # taken or removed while no watcher ran is resolved too); the Upload and Live pages show them.
    rejected: set[str] | None = None

    def poll(self) -> int:
        """Look once; ingest what changed. Returns how many files were ingested.

        Only regular files in the folder itself are read: a symbolic link (which could lead anywhere the
        watcher may read), a pipe or a device is named once in the log and left alone, its contents never read."""
        count = 0
        try:
            paths = sorted(self.folder.iterdir())
        except OSError as error:  # the folder removed or unmounted: said once, looked at again next time
            self._say(self.folder, self.seen.setdefault(self.folder, _Seen()),
                      f"cannot look in {self.folder}: {error.strerror or error}")
            return 0
        self.seen.pop(self.folder, None)
        if self.rejected is None:
            self._remember_rejected()
        if self.rejected:
            self._resolve(self.rejected - {_named(path) for path in paths}, "removed")
        for path in paths:
            if path.suffix.lower() not in SUFFIXES or path.name.startswith((".", "~$")):
                continue
            try:
                stat = path.lstat()
            except FileNotFoundError:
                continue
            seen = self.seen.setdefault(path, _Seen())
            if not S_ISREG(stat.st_mode):
                if not S_ISDIR(stat.st_mode):
                    what = "a symbolic link" if S_ISLNK(stat.st_mode) else "not a file (a pipe or a device)"
                    self._say(path, seen, f"refused {path.name}: {what}; only files in {self.folder} are read")
                continue
            if (stat.st_size, stat.st_mtime_ns) == (seen.size, seen.mtime_ns):
                if seen.tail:  # unchanged for a whole interval: the file ends without a newline
                    seen.tail = False
                    count += self._take(path, seen, whole=True)
                continue
            seen.size, seen.mtime_ns = stat.st_size, stat.st_mtime_ns
            count += self._take(path, seen)
        return count

    def _say(self, path: Path, seen: _Seen, message: str) -> None:
        """Log `message` about a file unless it is the last one said about it (a bad file is named once)."""
        if message != seen.reported:
            seen.reported = message
            self.log(message)

    def _take(self, path: Path, seen: _Seen, *, whole: bool = False) -> int:
        """Ingest a file as it is now; any failure is logged (once) and the watcher goes on with the others."""
        try:
            return self._ingest(path, seen, whole=whole)
        except Rejected as rejected:
            # Where and what, without the cells' values: the log may be read by people the files are not for.
            message = "; ".join(str(replace(p, value=None)) for p in rejected.problems[:3])
            self._say(path, seen, f"rejected {path.name}: {message}")
            self._store_rejection(path, rejected)
        except Exception as error:
            if not ingest.store_failure(error):
                raise
            seen.size = seen.mtime_ns = -1  # tried again at the next look
            self._say(path, seen, f"failed {path.name}: nothing was stored: {describe_failure(self.store, error)}")
        return 0

    def _ingest(self, path: Path, seen: _Seen, *, whole: bool) -> int:
        try:
            with read.open_file(path, follow_symlinks=False) as f:
                data = f.read()
        except FileNotFoundError:  # gone since the folder was listed
            return 0
        except OSError as error:
            raise Rejected([Problem(str(path), None, None, "os_error",
                                    fields={"error": error.strerror or str(error)})]) from None
        if not whole and not data.startswith(XLSX_MAGIC):
            # A line still being written is left for the next look: cut at the last newline.
            end = data.rfind(b"\n") + 1
            seen.tail = end < len(data)
            if end <= seen.done:
                return 0
            data = data[:end]
        result = ingest.ingest_bytes(self.store, str(path), data, kind=self.kind, session_id=self.session_id,
                                     host_kind=self.host_kind, by="watch")
        seen.done, seen.reported = len(data), ""
        if self.rejected and _named(path) in self.rejected:
            self._resolve({_named(path)}, "accepted")
        if result.status == "unchanged":
            return 0
        for each in (result, *result.also):  # a live workbook: its session, then its product totals
            self.log(f"{time.strftime('%H:%M:%S')} ingested {path.name}: {each.kind}, {each.rows} rows, "
                     f"batch {each.batch}")
        return 1

    def _remember_rejected(self) -> None:
        try:
            self.rejected = set(rejections.current(self.store, _named(self.folder))["path"].to_list())
        except Exception as error:
            if not ingest.store_failure(error):
                raise
            self.log(f"rejections not read: {describe_failure(self.store, error)}")  # tried again at the next look

    def _store_rejection(self, path: Path, rejected: Rejected) -> None:
        """Keep a rejection in the store (where the pages show it); a store that fails is said, never fatal."""
        try:
            rejections.record(self.store, _named(self.folder), _named(path), rejected.problems)
        except Exception as error:
            if not ingest.store_failure(error):
                raise
            self.log(f"rejection of {path.name} not stored: {describe_failure(self.store, error)}")
            return
        if self.rejected is not None:
            self.rejected.add(_named(path))

    def _resolve(self, paths: set[str], how: str) -> None:
        if not paths or self.rejected is None:
            return
        try:
            rejections.resolve(self.store, paths, how)
        except Exception as error:
            if not ingest.store_failure(error):
                raise
            self.log(f"rejections not updated: {describe_failure(self.store, error)}")  # tried again next time
            return
        self.rejected -= paths

    def run(self, interval: float = DEFAULT_INTERVAL, *, until: Callable[[], bool] | None = None) -> None:
        """Poll every `interval` seconds until `until()` is true (or forever)."""
        self.log(f"watching {self.folder} every {interval:g}s (Ctrl-C to stop)")
        while True:
            self.poll()
            alerts.after_watch(self)
            if until is not None and until():
                return
            time.sleep(interval)
