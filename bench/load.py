"""`make bench` (load part): viewers on a live session page of one app server; writes bench/LOAD.md and load.json.

The same scenario as tests/e2e/test_load.py (which asserts on it): one Streamlit server on loopback over
a SQLite store, N websocket viewers and one headless Chromium tab on the live session, a writer adding a
minute of ticks every 3 s. Run at several crowd sizes to show where one server stops keeping up.
BENCH_LOAD_VIEWERS="50 100 200" overrides the sizes; BENCH_QUICK=1 runs 50 only.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.e2e.test_load import REFRESH, SECONDS, run_load  # noqa: E402

SIZES: Final = [int(n) for n in os.environ.get(
    "BENCH_LOAD_VIEWERS", "50" if os.environ.get("BENCH_QUICK") == "1" else "50 100 200").split()]


def _figure(value: float | None, spec: str) -> str:
    """A figure of the table, or a dash where the run gave none (no viewer got a refresh to time)."""
    return "—" if value is None else format(value, spec)


def table_row(r: dict) -> str:
    """One crowd size's row of LOAD.md, from its run_load result (errors counted)."""
    return (f"| {r['viewers']} | {r['pages_loaded']} | {r['errors'] + r['browser_errors']} | "
            f"{r['refreshes_min']} / {_figure(r['refreshes_median'], '.0f')} | "
            f"{_figure(r['gap_median'], '.2f')} / {_figure(r['gap_p95'], '.2f')} | "
            f"{_figure(r['first_page_median'], '.1f')} / {_figure(r['first_page_max'], '.1f')} | "
            f"{r['browser_updates']} | {_figure(r['server_cpu_share'], '.0%')} | {r['server_peak_mb']} |")


def main() -> int:
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        for count in SIZES:
            print(f"[load] {count} viewers for {SECONDS} s", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                result = run_load(Path(tmp), browser, count=count)
            result["errors"] = len(result["errors"])
            results.append(result)
        browser.close()
    (ROOT / "bench" / "load.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    rows = "\n".join(table_row(r) for r in results)
    (ROOT / "bench" / "LOAD.md").write_text(f"""# Load: viewers on a live session page

Written by `python bench/load.py` (part of `make bench`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.
One app server (`streamlit run dashboard.py`, this repository's `.streamlit/config.toml`) on loopback over a
SQLite store; N simulated viewers (websocket clients that load the page and rerun its live fragment on
the server's timer, as an open tab does: tests/e2e/viewers.py) and one real headless Chromium tab on the
live session for {SECONDS} s, refresh every {REFRESH} s, while a writer ingests a new minute of ticks every
3 s. The browsers and the writer share the machine's {os.cpu_count()} cores with the server.
Machine: {platform.machine()}, Python {platform.python_version()}, Streamlit {metadata.version('streamlit')}.

| viewers | pages loaded | errors seen | refreshes per viewer (min / median) | interval between refreshes, s (median / p95) | first page, s (median / max) | real tab's refreshes | server CPU (share of one core) | server peak RSS, MB |
|---:|---:|---:|---|---|---|---:|---:|---:|
{rows}

A dash: no viewer got a refresh in the run, so there is no interval to give (the server did not keep up).
`tests/e2e/test_load.py` runs the 50-viewer case in every test run and fails if a viewer sees an error,
misses refreshes, or the median interval drifts past 1.2× the one asked for.
Before `runner.postScriptGC = false` (Streamlit's full garbage collection after every script run), the
same 50 viewers waited 6.4 s for their first page and then got no refresh at all in 45 s.
""", encoding="utf-8")
    print((ROOT / "bench" / "LOAD.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
