"""`make bench` (pages part): what each dashboard page sends and costs, against a minimal one-chart page.

For stores of the demo programme at ~100k and 1M order lines (and 10M with BENCH_PAGES_10M=1) the dashboard
is served by `streamlit run` as tests/e2e/conftest.py serves it, each page asked for over Streamlit's
websocket (as a browser does) and measured: the Plotly figure JSON it sends (all charts, and the largest),
and the server time from the rerun request to `script_finished`, cold (first visit after start) and warm
(median of later visits). bench/minimal_app.py, one 60-point chart, is served and measured the same way in
the same run, and every page is given as a ratio to it. Then headless Debian Chromium times the overview and
the minimal page from `goto` to their first drawn chart, interleaved, fresh context each time.

Writes bench/PAGES.md and bench/pages.json (BENCH_PAGES_OUT=dir writes them elsewhere, for a trial run;
BENCH_PAGES_SIZES=100000,... picks the sizes). `python bench/pages.py --render` rewrites PAGES.md from the JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.run import WORK, demo_files, host, log, scale_for, sqlite_url, step  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, READY, chromium_path, launch, stop  # noqa: E402
from tests.e2e.viewers import rerun_message  # noqa: E402

_SIZES_ENV: Final = os.environ.get("BENCH_PAGES_SIZES", "")
SIZES: Final = ([int(s) for s in _SIZES_ENV.split(",") if s.strip()] if _SIZES_ENV else
                [100_000, 1_000_000] + ([10_000_000] if os.environ.get("BENCH_PAGES_10M") == "1" else []))
OUT: Final = Path(os.environ.get("BENCH_PAGES_OUT") or ROOT / "bench")
PAGES: Final = {"overview": "", "live": "live", "villages": "villages", "hosts": "hosts"}
WARM: Final = 5  # warm visits per page after the cold one; the median is reported
BROWSER_REPEATS: Final = 5  # interleaved browser visits per page after one warm-up visit each
FIGURE_LIMIT: Final = 1024 * 1024  # target: the figure JSON a page sends stays under 1 MB
BROWSER_LIMIT: Final = 1.5  # target: overview's first chart within 1.5x of the minimal page's
MB: Final = 1024 * 1024
START_SECONDS: Final = 120
RUN_SECONDS: Final = 600  # one page run (a cold overview over 10M order lines took 28 s)
UNUSED_DB: Final = "sqlite:////tmp/relief_live_bench_pages_unused.sqlite3"  # the minimal page reads no store


def serve(script: str, db: str) -> tuple[subprocess.Popen, str]:
    """`streamlit run script` over the store `db`, started as the browser tests start it (returns once healthy)."""
    return launch(script, {"RELIEF_LIVE_DB": db}, timeout=START_SECONDS)


async def _visit(url: str, page: str, query: str) -> dict[str, Any]:
    """One page visit over the websocket: seconds from the rerun request to script_finished, figure JSON sent."""
    sizes: list[int] = []
    deadline = time.monotonic() + RUN_SECONDS
    async with websockets.connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None) as ws:  # type: ignore[list-item]
        started = time.perf_counter()
        await ws.send(rerun_message(page, query))
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=max(1.0, deadline - time.monotonic()))
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


def cold_and_warm(url: str, page: str, query: str = "") -> dict[str, Any]:
    """The first visit (cold), then WARM more; the figure sizes are the cold visit's (every visit sends the same)."""
    cold = visit(url, page, query)
    warm = [visit(url, page, query)["seconds"] for _ in range(WARM)]
    return {"charts": cold["charts"], "json_bytes": cold["json_bytes"], "largest_bytes": cold["largest_bytes"],
            "cold_seconds": cold["seconds"], "warm_seconds": statistics.median(warm),
            "warm_runs": [round(s, 4) for s in warm]}


def largest_session(db: str) -> str:
    """The session with most ticks: the live page's heaviest choice."""
    from relief_live.store import Store

    ticks = Store(db).read("ticks")
    return str(ticks.group_by("session_id").len().sort("len", descending=True)["session_id"][0])


def measure_pages(db: str) -> dict[str, Any]:
    session = largest_session(db)
    out: dict[str, Any] = {"live_session": session}
    process, url = serve("dashboard.py", db)
    try:
        for name, page in PAGES.items():
            out[name] = cold_and_warm(url, page, f"session={session}" if name == "live" else "")
            log(f"pages: {name}: {out[name]['charts']} charts, {out[name]['json_bytes'] / MB:.3f} MB, "
                f"cold {out[name]['cold_seconds']:.2f} s, warm {out[name]['warm_seconds']:.3f} s")
    finally:
        stop(process)
    return out


def measure_minimal() -> dict[str, Any]:
    process, url = serve("bench/minimal_app.py", UNUSED_DB)
    try:
        out = cold_and_warm(url, "")
    finally:
        stop(process)
    log(f"pages: minimal: cold {out['cold_seconds']:.3f} s, warm {out['warm_seconds']:.3f} s")
    return out


RESOURCES_JS: Final = """() => {
  const all = performance.getEntriesByType('resource');
  const js = all.filter(e => e.name.endsWith('.js'));
  const kib = list => Math.round(list.reduce((n, e) => n + (e.decodedBodySize || 0), 0) / 1024);
  const nav = performance.getEntriesByType('navigation')[0];
  return {files: all.length, kib: kib(all), js_files: js.length, js_kib: kib(js),
          dom_content_loaded_s: nav ? nav.domContentLoadedEventEnd / 1000 : null};
}"""


def measure_browser(db: str) -> dict[str, Any]:
    """Seconds from goto to the first drawn chart, overview and minimal page interleaved, fresh context each."""
    from playwright.sync_api import sync_playwright

    dash, dash_url = serve("dashboard.py", db)
    mini, mini_url = serve("bench/minimal_app.py", UNUSED_DB)
    urls = {"overview": dash_url, "minimal": mini_url}
    times: dict[str, list[float]] = {name: [] for name in urls}
    done: dict[str, list[float]] = {name: [] for name in urls}  # goto -> the script's run over (all drawn)
    loaded: dict[str, dict[str, Any]] = {}  # what the page fetched: files, KiB decoded, and the JS among them
    version = ""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            version = browser.version
            try:
                for warmup in (True, *[False] * BROWSER_REPEATS):  # the first round fills the servers' caches
                    for name, url in urls.items():
                        context = browser.new_context(viewport={"width": 1400, "height": 1000})
                        page = context.new_page()
                        started = time.perf_counter()
                        page.goto(url, timeout=RUN_SECONDS * 1000)
                        page.locator(".js-plotly-plot .main-svg").first.wait_for(state="visible",
                                                                                 timeout=RUN_SECONDS * 1000)
                        chart = time.perf_counter() - started
                        page.locator(READY).wait_for(timeout=RUN_SECONDS * 1000)
                        if not warmup:
                            times[name].append(chart)
                            done[name].append(time.perf_counter() - started)
                            loaded[name] = page.evaluate(RESOURCES_JS)
                        context.close()
            finally:
                browser.close()
    finally:
        stop(dash)
        stop(mini)
    out: dict[str, Any] = {name: {"median": statistics.median(v), "runs": [round(x, 3) for x in v],
                                  "script_done_median": statistics.median(done[name]), "loaded": loaded.get(name)}
                           for name, v in times.items()}
    out["chromium"] = version
    log(f"pages: browser: overview {out['overview']['median']:.2f} s, minimal {out['minimal']['median']:.2f} s")
    return out


def main() -> int:
    if sys.argv[1:] == ["--render"]:
        write(json.loads((OUT / "pages.json").read_text(encoding="utf-8")))
        return 0
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": host("streamlit", "plotly", "polars", "playwright"), "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "sizes": []}
    for rows in SIZES:
        scale = scale_for(rows)
        files = demo_files(scale)
        db = sqlite_url(f"pages_{rows}")
        log(f"pages {rows:,}: ingest {len(files)} demo files (scale {scale})")
        ingested = step("ingest", db, str(WORK / f"demo_s{scale}" / "manifest.json"))
        try:
            entry: dict[str, Any] = {"rows": rows, "ingest": ingested, "minimal": measure_minimal(),
                                     "pages": measure_pages(db), "browser": measure_browser(db)}
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(db.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        results["sizes"].append(entry)
    results["elapsed"] = time.perf_counter() - started
    results["chromium"] = next((e["browser"]["chromium"] for e in results["sizes"]), "")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pages.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write(results)
    log(f"wrote {OUT / 'PAGES.md'} in {results['elapsed'] / 60:.1f} min")
    return 0


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write(results: dict[str, Any]) -> None:
    info = results.get("machine", {})
    lines = [
        "# Pages: what each page sends and costs, against a minimal one-chart page",
        "",
        f"Written by `python bench/pages.py` (part of `make bench`) on "
        f"{results.get('written', '?')}; the run took {results.get('elapsed', 0) / 60:.1f} min. "
        f"Machine: {info.get('cores', '?')} cores ({info.get('cpu', '?')}), {info.get('memory', '?')}; "
        f"Python {info.get('python', '?')}, Streamlit {info.get('streamlit', '?')}, Plotly {info.get('plotly', '?')}, "
        f"polars {info.get('polars', '?')}, Playwright {info.get('playwright', '?')}, "
        f"Debian Chromium {results.get('chromium') or '?'}.",
        "",
        "How: each size is a SQLite store of the demo programme (`relief_live.demo`, the scale bench/run.py maps "
        "to that many order lines). The dashboard is served by `streamlit run dashboard.py` (RELIEF_LIVE_DB at the "
        "store, RELIEF_LIVE_AUTO_DEMO=0, loopback, as tests/e2e/conftest.py serves it) and each page is asked for "
        "over Streamlit's websocket as a browser does: *figure JSON* is the sum of the `plotly_chart.spec` "
        "lengths in the ForwardMsgs, *server time* runs from the rerun request to `script_finished`; *cold* is "
        f"the first visit after the server started (it builds the report), *warm* the median of the next {WARM} "
        "(new sessions each). bench/minimal_app.py, one 60-point line chart and a title, is served and measured "
        "the same way in the same run, just before; the ratios are page ÷ minimal. The browser rows: headless "
        "Debian Chromium, a fresh context for every visit, seconds from `goto` to the first visible "
        f"`.js-plotly-plot .main-svg`, overview and minimal page interleaved, {BROWSER_REPEATS} each after one "
        "warm-up visit each (servers already running).",
        "",
    ]
    worst_json = 0
    ratios: list[tuple[int, float]] = []
    for entry in results["sizes"]:
        pages, mini = entry["pages"], entry["minimal"]
        lines += [
            f"## {entry['rows']:,} order lines",
            "",
            f"Live page: session {pages['live_session']} (the one with most ticks).",
            "",
            "| page | charts | figure JSON, KiB (all) | largest figure, KiB | cold s | cold ÷ minimal "
            "| warm s (median) | warm ÷ minimal |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in [*PAGES, "minimal"]:
            p = pages[name] if name in PAGES else mini
            lines.append(f"| {name} | {p['charts']} | {p['json_bytes'] / 1024:.1f} | {p['largest_bytes'] / 1024:.1f} "
                         f"| {p['cold_seconds']:.3f} | {p['cold_seconds'] / mini['cold_seconds']:.1f}× "
                         f"| {p['warm_seconds']:.3f} | {p['warm_seconds'] / mini['warm_seconds']:.1f}× |")
        worst = max(pages[n]["json_bytes"] for n in PAGES)
        worst_json = max(worst_json, worst)
        lines += ["", f"Figure JSON: the heaviest page sends {worst / MB:.3f} MB "
                      f"(target under 1 MB: {_verdict(worst < FIGURE_LIMIT)}).", ""]
        b = entry.get("browser")
        if b:
            ratio = b["overview"]["median"] / b["minimal"]["median"]
            ratios.append((entry["rows"], ratio))
            lines += [
                "| browser | goto → first chart, median s | runs, s | goto → script done, median s |",
                "|---|---:|---|---:|",
                *[f"| {name} | {b[name]['median']:.2f} | {', '.join(f'{x:.2f}' for x in b[name]['runs'])} "
                  f"| {b[name].get('script_done_median', float('nan')):.2f} |" for name in ("overview", "minimal")],
                "",
                *[f"The {name} page fetched {b[name]['loaded']['files']} files, {b[name]['loaded']['kib']:,} KiB "
                  f"decoded ({b[name]['loaded']['js_files']} JavaScript files, {b[name]['loaded']['js_kib']:,} KiB); "
                  f"DOMContentLoaded at {b[name]['loaded']['dom_content_loaded_s']:.2f} s.\n"
                  for name in ("overview", "minimal") if b[name].get("loaded")],
                f"Overview ÷ minimal: {ratio:.2f}× (target within {BROWSER_LIMIT}×: {_verdict(ratio <= BROWSER_LIMIT)}).",
                "",
            ]
    largest = max((e["rows"] for e in results["sizes"]), default=0)
    lines += [
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| figure JSON per page under 1 MB at 10M order lines | heaviest page {worst_json / MB:.3f} MB, largest store "
        f"{largest:,} lines | {_verdict(worst_json < FIGURE_LIMIT) if largest >= 10_000_000 else 'not run at 10M'} |",
    ]
    for rows, ratio in ratios:
        lines.append(f"| overview's first chart within {BROWSER_LIMIT}× of the minimal page ({rows:,} lines) "
                     f"| {ratio:.2f}× | {_verdict(ratio <= BROWSER_LIMIT)} |")
    lines += ["", "Timings are medians from one run on a shared 2-core machine; compare ratios, not seconds.", ""]
    (OUT / "PAGES.md").write_text("\n".join(lines), encoding="utf-8")
    print((OUT / "PAGES.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    raise SystemExit(main())
