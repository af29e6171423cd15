"""`make bench` (pages part): what each dashboard page sends and costs, against a minimal one-chart page.

For a store of the demo programme at 1M order lines (and 10M with BENCH_PAGES_10M=1): the dashboard is
served by `streamlit run` as in production, each page asked for over Streamlit's websocket (as a browser
does) and measured: the Plotly figure JSON it sends (all charts, and the largest), and the server time
from the request to the end of the run, cold (first visit after start) and warm (median of later
visits). bench/minimal_app.py, one 60-point chart, is served and measured the same way. Then headless
Chromium times the overview and the minimal page to their first drawn chart, interleaved.
Writes bench/PAGES.md and bench/pages.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.run import WORK, demo_files, log, scale_for, sqlite_url, step  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, free_port  # noqa: E402

SIZES: Final = [1_000_000] + ([10_000_000] if os.environ.get("BENCH_PAGES_10M") == "1" else [])
PAGES: Final = {"overview": "", "live": "live", "villages": "villages", "hosts": "hosts"}
WARM: Final = 5
BROWSER_REPEATS: Final = 5
MB: Final = 1024 * 1024


def serve(script: str, db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "RELIEF_LIVE_DB": db, "RELIEF_LIVE_AUTO_DEMO": "0", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{script} did not start")


async def _visit(url: str, page: str, query: str) -> dict[str, Any]:
    """One page visit over the websocket: seconds to the end of the run, and the figure JSON it sent."""
    msg = BackMsg()
    msg.rerun_script.page_name = page
    msg.rerun_script.query_string = query
    sizes: list[int] = []
    async with websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None) as ws:  # type: ignore[list-item]
        started = time.perf_counter()
        await ws.send(msg.SerializeToString())
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=600)
            fwd = ForwardMsg()
            fwd.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
            if fwd.HasField("delta") and fwd.delta.HasField("new_element") \
                    and fwd.delta.new_element.HasField("plotly_chart"):
                sizes.append(len(fwd.delta.new_element.plotly_chart.spec.encode()))
            if fwd.WhichOneof("type") == "script_finished":
                break
        return {"seconds": time.perf_counter() - started, "charts": len(sizes), "json_bytes": sum(sizes),
                "largest_bytes": max(sizes, default=0)}


def visit(url: str, page: str, query: str = "") -> dict[str, Any]:
    return asyncio.run(_visit(url, page, query))


def largest_session(db: str) -> str:
    from relief_live.store import Store

    ticks = Store(db).read("ticks")
    return str(ticks.group_by("session_id").len().sort("len", descending=True)["session_id"][0])


def measure_pages(db: str) -> dict[str, Any]:
    session = largest_session(db)
    out: dict[str, Any] = {"live_session": session}
    process, url = serve("dashboard.py", db)
    try:
        for name, page in PAGES.items():
            query = f"session={session}" if name == "live" else ""
            cold = visit(url, page, query)
            warm = [visit(url, page, query) for _ in range(WARM)]
            out[name] = {**cold, "cold_seconds": cold["seconds"],
                         "warm_seconds": statistics.median(w["seconds"] for w in warm)}
            log(f"pages: {name}: {cold['charts']} charts, {cold['json_bytes'] / MB:.2f} MB, "
                f"cold {cold['seconds']:.2f} s, warm {out[name]['warm_seconds']:.3f} s")
    finally:
        process.terminate()
        process.wait(10)
    return out


def measure_minimal() -> dict[str, Any]:
    process, url = serve("bench/minimal_app.py", "sqlite:////tmp/relief_live_bench_unused.sqlite3")
    try:
        cold = visit(url, "")
        warm = [visit(url, "") for _ in range(WARM)]
    finally:
        process.terminate()
        process.wait(10)
    return {**cold, "cold_seconds": cold["seconds"], "warm_seconds": statistics.median(w["seconds"] for w in warm)}


def measure_browser(db: str) -> dict[str, Any]:
    """Seconds from goto to the first drawn chart, overview and minimal page interleaved, fresh context each."""
    from playwright.sync_api import sync_playwright

    dash, dash_url = serve("dashboard.py", db)
    mini, mini_url = serve("bench/minimal_app.py", "sqlite:////tmp/relief_live_bench_unused.sqlite3")
    times: dict[str, list[float]] = {"overview": [], "minimal": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            for url in (dash_url, mini_url):  # one visit each first: server caches and the browser's code cache
                page = browser.new_context().new_page()
                page.goto(url)
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=600_000)
                page.context.close()
            for _ in range(BROWSER_REPEATS):
                for name, url in (("overview", dash_url), ("minimal", mini_url)):
                    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                    started = time.perf_counter()
                    page.goto(url)
                    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=600_000)
                    times[name].append(time.perf_counter() - started)
                    page.context.close()
            browser.close()
    finally:
        for process in (dash, mini):
            process.terminate()
            process.wait(10)
    return {name: {"median": statistics.median(v), "runs": [round(x, 3) for x in v]} for name, v in times.items()}


def main() -> int:
    results: dict[str, Any] = {"minimal": measure_minimal(), "sizes": []}
    log(f"pages: minimal: warm {results['minimal']['warm_seconds']:.3f} s")
    for rows in SIZES:
        manifest = WORK / f"demo_s{scale_for(rows)}" / "manifest.json"
        files = demo_files(scale_for(rows))
        db = sqlite_url(f"pages_{rows}")
        log(f"pages {rows:,}: ingest {len(files)} files")
        step("ingest", db, str(manifest))
        entry: dict[str, Any] = {"rows": rows, "pages": measure_pages(db)}
        if rows == SIZES[0]:
            entry["browser"] = measure_browser(db)
        results["sizes"].append(entry)
        Path(db.removeprefix("sqlite:///")).unlink(missing_ok=True)
    (ROOT / "bench" / "pages.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write(results)
    return 0


def write(results: dict[str, Any]) -> None:
    mini = results["minimal"]
    lines = [
        "# Pages: what each page sends and costs, against a minimal one-chart page",
        "",
        f"Written by `python bench/pages.py` (part of `make bench`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        "Each page served by `streamlit run dashboard.py` over a SQLite store of the demo programme, asked for "
        "over Streamlit's websocket as a browser does; *cold* is the first visit after the server started "
        "(it builds the report), *warm* the median of the next "
        f"{WARM}. The minimal page (bench/minimal_app.py: one 60-point chart) is served and measured the same way: "
        f"cold {mini['cold_seconds']:.3f} s, warm {mini['warm_seconds']:.3f} s, "
        f"{mini['json_bytes'] / 1024:.1f} KiB of figure JSON.",
        "",
    ]
    for entry in results["sizes"]:
        pages = entry["pages"]
        lines += [
            f"## {entry['rows']:,} order lines (live page: session {pages['live_session']}, the one with most ticks)",
            "",
            "| page | charts | figure JSON, MB (all) | largest figure, MB | cold s | warm s | warm ÷ minimal |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name in PAGES:
            p = pages[name]
            lines.append(f"| {name} | {p['charts']} | {p['json_bytes'] / MB:.3f} | {p['largest_bytes'] / MB:.3f} | "
                         f"{p['cold_seconds']:.2f} | {p['warm_seconds']:.3f} | "
                         f"{p['warm_seconds'] / mini['warm_seconds']:.1f} |")
        worst = max(pages[n]["json_bytes"] for n in PAGES)
        lines += ["", f"Target, figure JSON under 1 MB per page: the largest page sends {worst / MB:.3f} MB "
                      f"({'met' if worst < MB else '**missed**'}).", ""]
        if "browser" in entry:
            b = entry["browser"]
            ratio = b["overview"]["median"] / b["minimal"]["median"]
            lines += [
                "Headless Debian Chromium, fresh context each time, from `goto` to the first drawn chart "
                f"(median of {BROWSER_REPEATS}, interleaved, after one visit each):",
                "",
                "| page | seconds (median) | runs |",
                "|---|---:|---|",
                f"| overview | {b['overview']['median']:.2f} | {b['overview']['runs']} |",
                f"| minimal | {b['minimal']['median']:.2f} | {b['minimal']['runs']} |",
                "",
                f"Target, overview within 1.5× of the minimal page: {ratio:.2f}× "
                f"({'met' if ratio <= 1.5 else '**missed**'}).",
                "",
            ]
    (ROOT / "bench" / "PAGES.md").write_text("\n".join(lines), encoding="utf-8")
    print((ROOT / "bench" / "PAGES.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    raise SystemExit(main())
