"""The bulletin of a large programme against the report: `python bench/bulletin.py` (prints a Markdown table).

50 counties × 200 villages (one product each), a month of sessions and their order lines, made by a seeded
generator as store frames (saved as Parquet, so ingest is not measured). Each step runs in its own process,
so its peak memory (VmHWM) is its own: the report (build_report over every row), and the monthly bulletin
(content, XLSX and PDF). Times are the fastest of BENCH_BULLETIN_REPEATS (default 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: relief_live from this checkout

from bench.tasks import _peak_mb  # noqa: E402
from relief_live import schema  # noqa: E402

COUNTIES: Final = 50
VILLAGES_PER_COUNTY: Final = 200
SESSIONS: Final = 600  # over the 60 days that end with the bulletin's month
LINES: Final = int(os.environ.get("BENCH_BULLETIN_LINES", 500_000))
REPEATS: Final = int(os.environ.get("BENCH_BULLETIN_REPEATS", 3))
FIRST_DAY: Final = date(2020, 8, 1)
ENDING: Final = date(2020, 9, 30)
NOW: Final = datetime(2020, 10, 5, tzinfo=UTC)
SEED: Final = 42


def programme(folder: Path) -> None:
    """The four store frames and the batches, as Parquet files in `folder`."""
    rng = np.random.default_rng(SEED)
    n_villages = COUNTIES * VILLAGES_PER_COUNTY
    counties = [f"县{c:02d}" for c in range(COUNTIES)]
    stock = pl.DataFrame({
        "batch": 1, "line": np.arange(n_villages) + 2,
        "county": [counties[i // VILLAGES_PER_COUNTY] for i in range(n_villages)],
        "village": [f"村{i:05d}" for i in range(n_villages)],
        "product": [f"产品{i:05d}" for i in range(n_villages)],
        "unsold_qty": rng.integers(500, 20_000, n_villages).astype(float), "unit": "斤",
        "as_of": FIRST_DAY, "unit_price": rng.integers(500, 4_000, n_villages), "unsold_value": None,
        "households": rng.integers(10, 300, n_villages), "unit_kg": None,
    })
    start = datetime.combine(FIRST_DAY, datetime.min.time(), UTC)
    starts = [start + timedelta(minutes=int(m)) for m in np.sort(rng.integers(0, 61 * 24 * 60, SESSIONS))]
    ids = [f"S{i:05d}" for i in range(SESSIONS)]
    sessions = pl.DataFrame({
        "batch": 2, "line": np.arange(SESSIONS) + 2, "session_id": ids, "title": [f"助农直播 第{i}期" for i in range(SESSIONS)],
        "host_kind": rng.choice(["broadcast", "cadre"], SESSIONS), "host_name": [f"主播{i % 40}" for i in range(SESSIONS)],
        "host_role": None, "platform": rng.choice(["douyin", "kuaishou", "tv"], SESSIONS),
        "county": [counties[i % COUNTIES] for i in range(SESSIONS)], "started_at": starts,
        "ended_at": [s + timedelta(minutes=120) for s in starts], "peak_viewers": rng.integers(100, 5_000, SESSIONS),
        "avg_viewers": None, "viewers": rng.integers(1_000, 50_000, SESSIONS), "views": None, "orders": None,
        "buyers": None, "gmv": None,
    })
    which = rng.integers(0, SESSIONS, LINES)
    village = rng.integers(0, n_villages, LINES)
    sales = pl.DataFrame({
        "batch": 3, "line": np.arange(LINES) + 2, "session_id": np.array(ids)[which], "order_id": [f"O{i}" for i in range(LINES)],
        "ts": pl.Series(starts).gather(which) + pl.Series(rng.integers(0, 120 * 60_000, LINES)).cast(pl.Duration("ms")),
        "product": stock.get_column("product").gather(village), "village": stock.get_column("village").gather(village),
        "county": None, "quantity": rng.integers(1, 5, LINES).astype(float), "unit": "斤",
        "amount": rng.integers(1_000, 20_000, LINES), "refund": 0, "occ": 0,
    }) if LINES else pl.DataFrame(schema=schema.frame_schema("sales"))
    ticks = pl.DataFrame(schema=schema.frame_schema("ticks"))
    for kind, frame in (("stock", stock), ("sessions", sessions), ("sales", sales), ("ticks", ticks)):
        target = schema.frame_schema(kind)
        frame.select(pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                     for c, t in target.items()).write_parquet(folder / f"{kind}.parquet")
    pl.DataFrame({"batch": [1, 2, 3], "path": ["stock.csv", "sessions.csv", "sales.csv"],
                  "kind": ["stock", "sessions", "sales"], "rows": [n_villages, SESSIONS, LINES],
                  "at": [NOW] * 3, "by": ["bench"] * 3}).write_parquet(folder / "batches.parquet")


def task(name: str, folder: Path) -> dict:
    """One measured step, in this process."""
    from relief_live.bulletin import content

    frames = {kind: pl.read_parquet(folder / f"{kind}.parquet") for kind in content.FRAMES}
    batches = pl.read_parquet(folder / "batches.parquet")
    began = time.perf_counter()
    if name == "report":
        from relief_live import metrics

        report = metrics.build_report(*(frames[k] for k in content.FRAMES), now=NOW)
        out = {"villages": report.villages.height}
    else:
        from relief_live import bulletin

        made = content.make(frames, batches, "month", ending=ENDING, now=NOW)
        middle = time.perf_counter()
        xlsx = bulletin.render(made, "xlsx")
        after_xlsx = time.perf_counter()
        pdf = bulletin.render(made, "pdf")
        out = {"content_s": middle - began, "xlsx_s": after_xlsx - middle, "pdf_s": time.perf_counter() - after_xlsx,
               "pdf_bytes": len(pdf), "xlsx_bytes": len(xlsx), "villages": made.villages.height}
    return {"seconds": time.perf_counter() - began, "peak_mb": _peak_mb(), **out}


def main() -> None:
    if len(sys.argv) == 3:
        print(json.dumps(task(sys.argv[1], Path(sys.argv[2]))))
        return
    with tempfile.TemporaryDirectory(prefix="relief-bulletin-bench-") as tmp:
        programme(Path(tmp))
        runs: dict[str, list[dict]] = {"report": [], "bulletin": []}
        for _ in range(REPEATS):
            for name in runs:  # interleaved: the machine's noise falls on both
                done = subprocess.run([sys.executable, __file__, name, tmp], capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"the {name} step failed:\n{done.stderr}")
                runs[name].append(json.loads(done.stdout))
    best = {name: min(r, key=lambda run: run["seconds"]) | {"peak_mb": max(run["peak_mb"] for run in r)}
            for name, r in runs.items()}
    report, made = best["report"], best["bulletin"]
    print(f"{COUNTIES} counties × {VILLAGES_PER_COUNTY} villages, {SESSIONS} sessions, {LINES:,} order lines; "
          f"fastest of {REPEATS}\n")
    print("| step | seconds | peak MiB |\n|---|---:|---:|")
    print(f"| report (build_report) | {report['seconds']:.2f} | {report['peak_mb']:.0f} |")
    print(f"| monthly bulletin: content, XLSX, PDF | {made['seconds']:.2f} ({made['content_s']:.2f} + "
          f"{made['xlsx_s']:.2f} + {made['pdf_s']:.2f}) | {made['peak_mb']:.0f} |")
    print(f"\nbulletin / report: {made['seconds'] / report['seconds']:.1f}× the time, "
          f"{made['peak_mb'] / report['peak_mb']:.2f}× the peak memory; PDF {made['pdf_bytes'] / 1e6:.1f} MB, "
          f"XLSX {made['xlsx_bytes'] / 1e6:.1f} MB, {made['villages']:,} villages")


if __name__ == "__main__":
    main()
