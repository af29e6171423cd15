"""Watch a folder: ingest export files as they appear and as they grow, one log line per ingest."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from relief_live import ingest
from relief_live.read import XLSX_MAGIC, Rejected
from relief_live.store import Store

SUFFIXES: Final = (".csv", ".xlsx", ".txt")
DEFAULT_INTERVAL: Final = 2.0  # seconds between looks at the folder


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

    def poll(self) -> int:
        """Look once; ingest what changed. Returns how many files were ingested."""
        count = 0
        for path in sorted(self.folder.iterdir()):
            if path.suffix.lower() not in SUFFIXES or not path.is_file() or path.name.startswith((".", "~$")):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            seen = self.seen.setdefault(path, _Seen())
            if (stat.st_size, stat.st_mtime_ns) == (seen.size, seen.mtime_ns):
                if seen.tail:  # unchanged for a whole interval: the file ends without a newline
                    seen.tail = False
                    count += self._take(path, seen, whole=True)
                continue
            seen.size, seen.mtime_ns = stat.st_size, stat.st_mtime_ns
            count += self._take(path, seen)
        return count

    def _take(self, path: Path, seen: _Seen, *, whole: bool = False) -> int:
        data = path.read_bytes()
        if not whole and not data.startswith(XLSX_MAGIC):
            # A line still being written is left for the next look: cut at the last newline.
            end = data.rfind(b"\n") + 1
            seen.tail = end < len(data)
            if end <= seen.done:
                return 0
            data = data[:end]
        try:
            result = ingest.ingest_bytes(self.store, str(path), data, kind=self.kind,
                                         session_id=self.session_id, host_kind=self.host_kind, by="watch")
        except Rejected as rejected:
            message = "; ".join(str(p) for p in rejected.problems[:3])
            if message != seen.reported:
                seen.reported = message
                self.log(f"rejected {path.name}: {message}")
            return 0
        seen.done, seen.reported = len(data), ""
        if result.status == "unchanged":
            return 0
        self.log(f"{time.strftime('%H:%M:%S')} ingested {path.name}: {result.kind}, {result.rows} rows, "
                 f"batch {result.batch}")
        return 1

    def run(self, interval: float = DEFAULT_INTERVAL, *, until: Callable[[], bool] | None = None) -> None:
        """Poll every `interval` seconds until `until()` is true (or forever)."""
        self.log(f"watching {self.folder} every {interval:g}s (Ctrl-C to stop)")
        while True:
            self.poll()
            if until is not None and until():
                return
            time.sleep(interval)
