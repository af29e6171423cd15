"""Simulated dashboard viewers: Streamlit websocket clients that behave like an open browser tab.

A viewer connects to /_stcore/stream, asks for a page as the browser does (a rerun with the page's
name and query string), and, when the server says a fragment reruns on a timer (ForwardMsg.auto_rerun),
sends that fragment's reruns at the interval, as the browser's timer would. It records when each run
finished and whether any element was an exception or an error alert. Many viewers share one event loop:
the load is the server's, not a browser's.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg


@dataclass
class Viewer:
    """What one simulated viewer saw."""

    finished: list[float] = field(default_factory=list)  # monotonic times of finished fragment reruns
    full_runs: int = 0
    errors: list[str] = field(default_factory=list)
    interval: float | None = None
    first_run: float | None = None  # seconds from connecting to the page's first complete run


def rerun_message(page: str, query: str, fragment_id: str = "") -> bytes:
    """The BackMsg a browser sends to run `page?query` (or, with `fragment_id`, that fragment on its timer)."""
    msg = BackMsg()
    state = msg.rerun_script
    state.query_string = query
    state.page_name = page
    if fragment_id:
        state.fragment_id = fragment_id
        state.is_auto_rerun = True
    return msg.SerializeToString()


def _errors_in(msg: ForwardMsg) -> list[str]:
    if not msg.HasField("delta") or not msg.delta.HasField("new_element"):
        return []
    element = msg.delta.new_element
    if element.HasField("exception"):
        return [f"{element.exception.type}: {element.exception.message}"]
    if element.HasField("alert") and element.alert.format == Alert.ERROR:
        return [element.alert.body]
    return []


async def _view(url: str, page: str, query: str, seconds: float, viewer: Viewer) -> None:
    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    started = time.monotonic()
    deadline = started + seconds
    async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send(rerun_message(page, query))
        timer: asyncio.Task[None] | None = None

        async def tick(fragment_id: str, interval: float) -> None:
            while True:
                await asyncio.sleep(interval)
                await ws.send(rerun_message(page, query, fragment_id))

        try:
            while (left := deadline - time.monotonic()) > 0:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=left)
                except TimeoutError:
                    break
                msg = ForwardMsg()
                msg.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
                viewer.errors += _errors_in(msg)
                kind = msg.WhichOneof("type")
                if kind == "auto_rerun" and timer is None:
                    viewer.interval = msg.auto_rerun.interval
                    timer = asyncio.create_task(tick(msg.auto_rerun.fragment_id, msg.auto_rerun.interval))
                elif kind == "script_finished":
                    if msg.script_finished == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                        viewer.finished.append(time.monotonic())
                    elif msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                        viewer.full_runs += 1
                        if viewer.first_run is None:
                            viewer.first_run = time.monotonic() - started
                    elif msg.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        viewer.errors.append("the page failed to compile")
        finally:
            if timer is not None:
                timer.cancel()


def watch(url: str, page: str, query: str, *, viewers: int, seconds: float) -> list[Viewer]:
    """`viewers` simulated tabs on `page?query` for `seconds`, all at once; what each saw."""
    seen = [Viewer() for _ in range(viewers)]

    async def main() -> None:
        await asyncio.gather(*(_view(url, page, query, seconds, v) for v in seen))

    asyncio.run(main())
    return seen


def process_usage(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, resident MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return cpu, int(match.group(1)) // 1024 if match else 0


class Usage(threading.Thread):
    """Samples a process's CPU and memory every half second until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self._done = pid, 0, threading.Event()
        self.cpu0, self.t0 = process_usage(pid)[0], time.monotonic()
        self.cpu_share = 0.0

    def run(self) -> None:
        while not self._done.wait(0.5):
            self.peak_mb = max(self.peak_mb, process_usage(self.pid)[1])

    def stop(self) -> None:
        self._done.set()
        self.join()
        cpu1 = process_usage(self.pid)[0]
        self.cpu_share = (cpu1 - self.cpu0) / (time.monotonic() - self.t0)


def summary(seen: list[Viewer]) -> dict[str, Any]:
    """Refresh counts and the intervals between refreshes, over all viewers."""
    gaps = sorted(b - a for v in seen for a, b in zip(v.finished, v.finished[1:], strict=False))
    runs = [len(v.finished) for v in seen]
    first = sorted(v.first_run for v in seen if v.first_run is not None)
    return {
        "viewers": len(seen),
        "errors": [e for v in seen for e in v.errors],
        "interval": next((v.interval for v in seen if v.interval), None),
        "refreshes_min": min(runs),
        "refreshes_median": statistics.median(runs),
        "gap_median": statistics.median(gaps) if gaps else None,
        "gap_p95": gaps[int(len(gaps) * 0.95)] if gaps else None,
        "first_page_median": statistics.median(first) if first else None,
        "first_page_max": first[-1] if first else None,
        "pages_loaded": len(first),
    }
