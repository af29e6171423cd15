"""What evaluating the alerts adds to the dashboard's refresh after an ingest: bench/ALERTS.md.

A store of the demo programme at ~1M order lines (SQLite). Each round ingests 1,000 new order lines (fresh
order ids), then times, as the dashboard's evaluation does them: the refresh (`LiveFrames.report`: the new
rows read and merged, the report refreshed from them), the evaluation of the rules (`alerts.rules.holding`
over that report, then `alerts.record.record` laying it over the alerts table), and `alerts.check` as the
dashboard calls it after that refresh (the same, with the last evaluation and the folder watchers' standing
rejections as the refresh's version query read them: no read of the store of its own). Two clocks:
the present, when none of the demo's sessions is on air (the village rules run, the session rules find
nothing to read), and half a minute after the demo's latest tick, when its last session is on air (every
rule runs, over its ticks). The fastest of ROUNDS of each is kept (the machine is shared). BENCH_QUICK=1: ~100k lines, 3 rounds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: this checkout's relief_live

from bench.run import BENCH, LINES_PER_SCALE, WORK, demo_files, log, sales_file, scale_for, sqlite_url

QUICK: Final = os.environ.get("BENCH_QUICK") == "1"
ROWS: Final = 100_000 if QUICK else 1_000_000
ROUNDS: Final = 3 if QUICK else 20  # the fastest is kept: on a shared machine, more rounds find a quiet moment
NEW_ROWS: Final = 1_000


def new_rows(round_: int) -> Path:
    """NEW_ROWS order lines no store holds (order ids marked with the round)."""
    path = WORK / f"alerts_new_{round_}.csv"
    lines = sales_file(10_000).read_text(encoding="utf-8").splitlines()
    body = [f"{session},A{round_}N{order},{rest}"
            for session, order, rest in (line.split(",", 2) for line in lines[1:NEW_ROWS + 1])]
    path.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    return path


def measure() -> dict:
    from relief_live import alerts
    from relief_live.alerts import record, rules
    from relief_live.ingest import ingest_file
    from relief_live.live import LiveFrames, live_minutes
    from relief_live.store import Store

    url = sqlite_url("alerts")
    store = Store(url)
    store.create()
    manifest = demo_files(scale_for(ROWS))
    log(f"ingest {len(manifest)} files (~{scale_for(ROWS) * LINES_PER_SCALE:,} order lines)")
    for f in manifest:
        ingest_file(store, f["path"], kind=f["kind"], session_id=f["session_id"], by="bench")
    held = LiveFrames(store)
    present = datetime.now(UTC)
    _, report = held.report(now=present, live_minutes=live_minutes())  # the cold report, as after a server start
    # Half a minute after the demo's latest tick: its session is on air (its end is a minute later), its feed fresh.
    on_air = report.sessions.get_column("last_tick").max() + timedelta(seconds=30)
    limits = rules.thresholds({}, {})
    out, loads = [], [os.getloadavg()[0]]  # the machine is shared: its load is said with the figures
    for n, (clock, now) in enumerate((("present", present), ("on air", on_air))):
        refreshes, checks, evaluations, rules_times, fired = [], [], [], [], 0
        for round_ in range(ROUNDS):
            ingest_file(store, new_rows(n * ROUNDS + round_), kind="sales", by="bench")
            t0 = time.perf_counter()
            version, report = held.report(now=now, live_minutes=live_minutes())
            t1 = time.perf_counter()
            done = alerts.check(store, live=held, now=now, send=False, version=version)  # as the dashboard does
            t2 = time.perf_counter()
            rules._villages_last.clear()  # the rules again, as check ran them (not from its kept result)
            holding = rules.holding(report, held.frames["ticks"], held.frames["sales"], now=now, limits=limits)
            t3 = time.perf_counter()
            record.record(store, holding, key=(version, int(now.timestamp() // 60)))
            t4 = time.perf_counter()
            refreshes.append(t1 - t0)
            checks.append(t2 - t1)
            evaluations.append(t4 - t2)
            rules_times.append(t3 - t2)
            fired += len(done.fired)
        refresh, evaluation, check = min(refreshes), min(evaluations), min(checks)
        out.append({"clock": clock, "live_sessions": report.sessions.get_column("live").sum(),
                    "sales_rows": held.frames["sales"].height, "refresh": refresh, "evaluation": evaluation,
                    "share": evaluation / refresh, "rules": min(rules_times), "check": check,
                    "check_share": check / refresh, "alerts": len(holding.rows), "fired": fired,
                    "refresh_runs": [round(r, 4) for r in refreshes],
                    "evaluation_runs": [round(e, 4) for e in evaluations],
                    "check_runs": [round(c, 4) for c in checks]})
        loads.append(os.getloadavg()[0])
    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    return {"new_rows": NEW_ROWS, "rounds": ROUNDS, "runs": out, "load": [round(x, 1) for x in loads]}


def render(result: dict) -> str:
    rows, rounds = [], []
    for run in result["runs"]:
        ok = "under" if run["share"] < 0.05 else "OVER"
        rows.append(f"| {run['clock']} | {run['live_sessions']} | {run['sales_rows']:,} | {run['refresh']:.4f} | "
                    f"{run['evaluation']:.4f} | {run['rules']:.4f} | {100 * run['share']:.1f}% ({ok} 5%) | "
                    f"{run['check']:.4f} | {100 * run['check_share']:.1f}% | {run['alerts']} |")
        rounds.append(f"- {run['clock']}: refresh {run['refresh_runs']} s, evaluation {run['evaluation_runs']} s, "
                      f"check {run['check_runs']} s.")
    return "\n".join([
        "# Alerts: evaluation after an ingest",
        "",
        "Written by `python bench/alerts.py` (what it times: its docstring). The fastest of "
        f"{result['rounds']} rounds, each after {result['new_rows']:,} new order lines, at two clocks: the present "
        "(none of the demo's sessions on air) and half a minute after the demo's latest tick (its last session on "
        "air). "
        + (f"The machine's load (one-minute average) at the start, after the first clock and at the end: "
           f"{', '.join(str(x) for x in result['load'])}, on {os.cpu_count()} cores." if "load" in result else ""),
        "",
        "| clock | sessions on air | order lines | refresh (s) | evaluation (s) | of which the rules (s) | "
        "evaluation ÷ refresh | check (s) | check ÷ refresh | conditions held |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Every round:",
        "",
        *rounds,
        "",
        "The evaluation is the rules (`holding`, the sixth column) and `record`. `check` adds what the dashboard's "
        "call does around them: the report as at its clock, and the last evaluation and how many of the folder "
        "watchers' rejections stand, read with the store's version by the refresh's own query (a read of its own "
        "would open a connection, 1.5-3 ms). "
        "The rules: the village rules pick their rows with one filter "
        "over the report's villages and the session rules read the live sessions' last minutes of ticks, each "
        "in a query or two whose bounds are numbers worked out beforehand (the host kinds' medians with Series "
        "operations); the few rows that hold are written in "
        "Python. A batch that leaves the report's villages as they were (ticks, sessions) reuses the village "
        "rules' last result; every round here adds sales, so each one evaluates them. The rest is `record`: the "
        "process remembers what it last found in the alerts table, so an evaluation in which no alert began or "
        "ended neither reads nor writes it (the held alerts' last seen and figures are renewed once a minute); the "
        "first round, which records the alerts, writes. The dashboard pays this once per store version and "
        "minute per server, not per viewer.",
        "",
    ])


def main() -> int:
    if sys.argv[1:] == ["--render"]:  # the Markdown again from the last measurement
        result = json.loads((BENCH / "alerts.json").read_text(encoding="utf-8"))
        (BENCH / "ALERTS.md").write_text(render(result), encoding="utf-8")
        return 0
    result = measure()
    (BENCH / "alerts.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (BENCH / "ALERTS.md").write_text(render(result), encoding="utf-8")
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
