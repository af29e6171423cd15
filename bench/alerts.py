"""What evaluating the alerts adds to the dashboard's refresh after an ingest: bench/ALERTS.md.

A store of the demo programme at ~1M order lines (SQLite). Each round ingests 1,000 new order lines (fresh
order ids), then times, as the dashboard's evaluation does them: the refresh (`LiveFrames.report`: the new
rows read and merged, the report refreshed from them) and the evaluation (`alerts.rules.holding` over that
report, then `alerts.record.record` laying it over the alerts table in one write transaction). The fastest of
ROUNDS of each is kept (the machine is shared). BENCH_QUICK=1: ~100k lines, 3 rounds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: this checkout's relief_live

from bench.run import BENCH, LINES_PER_SCALE, WORK, demo_files, log, sales_file, scale_for, sqlite_url

QUICK: Final = os.environ.get("BENCH_QUICK") == "1"
ROWS: Final = 100_000 if QUICK else 1_000_000
ROUNDS: Final = 3 if QUICK else 10
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
    now = datetime.now(UTC)
    held.report(now=now, live_minutes=live_minutes())  # the cold report, as after a server start
    limits = rules.thresholds({}, {})
    refreshes, evaluations, rules_times, fired = [], [], [], 0
    for round_ in range(ROUNDS):
        ingest_file(store, new_rows(round_), kind="sales", by="bench")
        t0 = time.perf_counter()
        version, report = held.report(now=now, live_minutes=live_minutes())
        t1 = time.perf_counter()
        holding = rules.holding(report, held.frames["ticks"], held.frames["sales"], now=now, limits=limits)
        rules_times.append(time.perf_counter() - t1)
        done = record.record(store, holding, key=(version, int(now.timestamp() // 60)))
        t2 = time.perf_counter()
        refreshes.append(t1 - t0)
        evaluations.append(t2 - t1)
        fired += len(done.fired)
    refresh, evaluation = min(refreshes), min(evaluations)
    Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    return {"sales_rows": held.frames["sales"].height, "new_rows": NEW_ROWS, "rounds": ROUNDS,
            "refresh": refresh, "evaluation": evaluation, "share": evaluation / refresh, "rules": min(rules_times),
            "alerts": len(holding.rows), "fired": fired,
            "refresh_runs": [round(r, 4) for r in refreshes], "evaluation_runs": [round(e, 4) for e in evaluations]}


def render(result: dict) -> str:
    ok = "under" if result["share"] < 0.05 else "OVER"
    return "\n".join([
        "# Alerts: evaluation after an ingest",
        "",
        "Written by `python bench/alerts.py` (what it times: its docstring). The fastest of "
        f"{result['rounds']} rounds, each after {result['new_rows']:,} new order lines.",
        "",
        "| order lines | refresh (s) | evaluation (s) | of which the rules (s) | evaluation ÷ refresh | conditions held |",
        "|---|---|---|---|---|---|",
        f"| {result['sales_rows']:,} | {result['refresh']:.3f} | {result['evaluation']:.3f} | {result['rules']:.3f} | "
        f"{100 * result['share']:.1f}% ({ok} 5%) | {result['alerts']} |",
        "",
        f"Every round: refresh {result['refresh_runs']} s, evaluation {result['evaluation_runs']} s.",
        "",
        "The rules themselves (`holding`: a few polars expressions over the report's villages and live sessions) "
        "take the third column. The rest is `record`: the process remembers what it last found in the alerts "
        "table, so an evaluation in which no alert began or ended neither reads nor writes it (the held alerts' "
        "last seen and figures are renewed once a minute); the first round, which records the alerts, writes. "
        "The dashboard pays this once per store version and minute per server, not per viewer.",
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
