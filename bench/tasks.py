"""One measured benchmark step per process: `python -m bench.tasks TASK ARGS…` prints one JSON line.

Each step runs in its own process so its peak memory (VmHWM) is its own. Timings use
time.perf_counter around the step only (imports and store creation are outside).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

NOW: Final = datetime(2021, 1, 1, tzinfo=UTC)  # reports are computed as at this instant
TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
KINDS: Final = ("sessions", "ticks", "sales", "stock", "catalogue")
REFRESH_REPEATS: Final = 10  # refreshes timed from the same cold report; the fastest is kept


def _peak_mb() -> float:
    """This process's peak resident memory, MiB: VmHWM (ru_maxrss on Linux carries the parent's over fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(step: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = step()
    return time.perf_counter() - start, out


def idle() -> dict:
    """Peak memory of a process that only imports what the ingest imports (the fixed cost)."""
    import polars  # noqa: F401
    import pyarrow  # noqa: F401
    import sqlalchemy  # noqa: F401

    from relief_live import ingest  # noqa: F401

    return {"seconds": 0.0}


def floor(path: str, time_column: str = "ts") -> dict:
    """The parser's floor: polars.read_csv of the file, its time column parsed with an explicit format."""
    import polars as pl

    def step() -> int:
        frame = pl.read_csv(path).with_columns(pl.col(time_column).str.to_datetime(TIME_FORMAT))
        return frame.height

    seconds, rows = _timed(step)
    return {"seconds": seconds, "rows": rows}


def pandas_sql(url: str, path: str) -> dict:
    """The typical Streamlit-app path: pandas.read_csv, then DataFrame.to_sql through a SQLAlchemy engine."""
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)

    def step() -> int:
        frame = pd.read_csv(path)
        frame["ts"] = pd.to_datetime(frame["ts"], format=TIME_FORMAT)
        frame.to_sql("pandas_sales", engine, if_exists="append", index=False)
        return len(frame)

    seconds, rows = _timed(step)
    engine.dispose()
    return {"seconds": seconds, "rows": rows}


def ingest(url: str, target: str) -> dict:
    """relief-live's ingest (read, validate, one transaction per file) of a CSV, or of the files a .json lists."""
    from relief_live.ingest import ingest_file
    from relief_live.store import Store

    store = Store(url)
    store.create()
    if target.endswith(".json"):
        files = json.loads(Path(target).read_text())  # [{"path", "kind", "session_id"}]
    else:
        files = [{"path": target, "kind": None, "session_id": None}]

    def step() -> int:
        return sum(ingest_file(store, f["path"], kind=f["kind"], session_id=f["session_id"], by="bench").rows
                   for f in files)

    seconds, rows = _timed(step)
    return {"seconds": seconds, "rows": rows}


def stages(url: str, path: str) -> dict:
    """Where an ingest's time goes: reading cells, typing and checking values, writing the batch."""
    from relief_live import read, validate
    from relief_live.store import Store

    store = Store(url)
    store.create()
    data = Path(path).read_bytes()
    t0 = time.perf_counter()
    table = read.read_table(path, data)
    t1 = time.perf_counter()
    mapping = read.detect(table)
    frame = validate.typed_frame(table, mapping)
    t2 = time.perf_counter()
    store.write(mapping.kind, frame, path=path, sha256="bench", by="bench")
    t3 = time.perf_counter()
    return {"read_table": t1 - t0, "typed_frame": t2 - t1, "write": t3 - t2, "seconds": t3 - t0}


def report(url: str, new_file: str) -> dict:
    """The dashboard's report paths: cold, then the refresh after new rows, both as LiveFrames does them.

    *cold*: read every kind, `incremental.cold_report` (build_report and the report's carry, with_carry) and
    the sales key index (`live.KeyIndex`): what the dashboard keeps so that later refreshes need only the new rows. *splice* (the
    dashboard's refresh): `store.read(kind, since_batch=last)`, `live.merge_indexed` (the merge that finds the
    rows replaced through the index and hands them back) and `metrics.refresh_report` from the cold report; timed REFRESH_REPEATS times from the same cold report, the
    fastest kept. *rebuild* (`inc_*`, `incremental`): what the dashboard did before the incremental report,
    `store.merge` and build_report over the merged frames. `same` checks that both give the same report.
    """
    from polars.testing import assert_frame_equal

    from relief_live.ingest import ingest_file
    from relief_live.live import KeyIndex, merge_indexed
    from relief_live.metrics import build_report
    from relief_live.metrics.catalogue import catalogued
    from relief_live.metrics.common import conform
    from relief_live.metrics.incremental import Changes, cold_report, refresh_report
    from relief_live.metrics.sessions import place_sales
    from relief_live.store import Store, merge

    store = Store(url)
    t0 = time.perf_counter()
    keyed = {kind: store.read_keyed(kind) for kind in KINDS}
    frames = {kind: frame for kind, (frame, _) in keyed.items()}
    t1 = time.perf_counter()
    cold = cold_report(frames["sessions"], frames["ticks"], frames["sales"], frames["stock"], frames["catalogue"],
                       now=NOW)
    t2 = time.perf_counter()
    index = KeyIndex.of("sales", frames["sales"], keyed["sales"][1])
    t2c = time.perf_counter()
    held = dict(frames)
    last = store.last_batch()
    ingest_file(store, new_file, kind="sales", by="bench")
    t3 = time.perf_counter()
    new = store.read("sales", since_batch=last)
    t4 = time.perf_counter()
    frames["sales"] = merge("sales", frames["sales"], new)
    t5 = time.perf_counter()
    rep = build_report(frames["sessions"], frames["ticks"], frames["sales"], frames["stock"], frames["catalogue"],
                       now=NOW)
    t6 = time.perf_counter()
    splices = []
    for _ in range(REFRESH_REPEATS):
        s0 = time.perf_counter()
        new = store.read("sales", since_batch=last)
        s1 = time.perf_counter()
        spliced_frames = dict(held)
        spliced_frames["sales"], replaced, _ = merge_indexed("sales", held["sales"], index, new)
        assert replaced is not None
        s2 = time.perf_counter()
        spliced = refresh_report(cold, spliced_frames, Changes(new={"sales": new}, replaced={"sales": replaced}),
                                 now=NOW)
        s3 = time.perf_counter()
        splices.append((s3 - s0, s1 - s0, s2 - s1, s3 - s2))
    splice, splice_read, splice_merge, splice_refresh = min(splices)
    # What each refresh pays for the held lines that name no session or village: placing them in their sessions
    # again and matching them to the catalogue again (refresh_report does both over every held line).
    sessions, catalogue = conform(spliced_frames["sessions"], "sessions"), conform(spliced_frames["catalogue"], "catalogue")
    held_sales = conform(spliced_frames["sales"], "sales")
    placements = []
    for _ in range(REFRESH_REPEATS):
        p0 = time.perf_counter()
        placed = place_sales(held_sales, sessions)
        p1 = time.perf_counter()
        catalogued(placed, catalogue)
        placements.append((time.perf_counter() - p0, p1 - p0))
    place_total, place_sessions = min(placements)
    same = spliced.totals == rep.totals
    for name in ("sessions", "host_kinds", "villages", "unattributed", "unconvertible", "routes", "channels"):
        try:
            assert_frame_equal(getattr(spliced, name), getattr(rep, name), check_exact=False, rel_tol=1e-9)
        except AssertionError:
            same = False
    return {
        "sales_rows": frames["sales"].height, "ticks_rows": frames["ticks"].height,
        "sessions_rows": frames["sessions"].height, "new_rows": new.height,
        "cold_read": t1 - t0, "cold_build": t2 - t1, "cold_carry": t2c - t2, "cold": t2c - t0,
        "new_ingest": t3 - t2c, "inc_read": t4 - t3, "inc_merge": t5 - t4, "inc_build": t6 - t5,
        "incremental": t6 - t3, "gmv": rep.totals["gmv"],
        "splice_read": splice_read, "splice_merge": splice_merge, "splice_refresh": splice_refresh,
        "splice": splice, "splice_runs": [round(r[0], 4) for r in splices],
        "replaced_rows": replaced.height, "same": same,
        "sessionless_rows": held_sales.get_column("session_id").null_count(),
        "placed_rows": held_sales.get_column("session_id").null_count() - placed.get_column("session_id").null_count(),
        "villageless_rows": held_sales.get_column("village").null_count(),
        "replace": place_total, "replace_sessions": place_sessions, "replace_catalogue": place_total - place_sessions,
    }


TASKS: Final = {"idle": idle, "stages": stages, "floor": floor, "pandas": pandas_sql, "ingest": ingest, "report": report}


def main(argv: list[str]) -> int:
    result = TASKS[argv[0]](*argv[1:])
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
