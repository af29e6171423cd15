"""Put on PYTHONPATH of a dashboard server under test: its first store read and its first report wait while
their gate files exist (RELIEF_LIVE_TEST_GATES: the two paths, os.pathsep between), so that a browser test
sees what a page shows while they run, as on a big store. Nothing else changes: the real read and report run."""

from __future__ import annotations

import os
import time

_GATES = os.environ.get("RELIEF_LIVE_TEST_GATES")
_MOST_SECONDS = 120.0  # a test that never opens a gate fails on its own timeouts, not by a hung server


def _wait(path: str) -> None:
    deadline = time.monotonic() + _MOST_SECONDS
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


if _GATES:
    from relief_live import live, store

    _read_gate, _report_gate = _GATES.split(os.pathsep)
    _read_keyed, _cold_report = store.Store.read_keyed, live.cold_report

    def _gated_read(self, kind, since_batch=0):  # type: ignore[no-untyped-def]
        _wait(_read_gate)
        return _read_keyed(self, kind, since_batch)

    def _gated_report(*args, **kwargs):  # type: ignore[no-untyped-def]
        _wait(_report_gate)
        return _cold_report(*args, **kwargs)

    store.Store.read_keyed = _gated_read  # type: ignore[method-assign]
    live.cold_report = _gated_report
