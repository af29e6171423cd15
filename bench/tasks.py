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
KINDS: Final = ("sessions", "ticks", "sales", "stock")


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


def floor(path: str) -> dict:
    """The parser's floor: polars.read_csv of the file, its time column parsed with an explicit format."""
    import polars as pl

    def step() -> int:
        frame = pl.read_csv(path).with_columns(pl.col("ts").str.to_datetime(TIME_FORMAT))
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
    """The dashboard's report paths: cold (read every kind, build_report), then two refreshes after new rows.

    The rebuild (`inc_*`, `incremental`) is what the dashboard did before the incremental report:
    `store.read(kind, since_batch=last)`, `store.merge(kind, old, new)`, and build_report over the merged
    frames. The splice (`splice_*`, `splice`) is what LiveFrames does now: the same read, `store.merge_replacing`
    (merge that also hands back the replaced rows), and `metrics.refresh_report` from the cold report.
    `same` checks that both refreshes give the same report.
    """
    from polars.testing import assert_frame_equal

    from relief_live.ingest import ingest_file
    from relief_live.metrics import build_report
    from relief_live.metrics.incremental import Changes, refresh_report
    from relief_live.store import Store, merge, merge_replacing

    store = Store(url)
    t0 = time.perf_counter()
    frames = {kind: store.read(kind) for kind in KINDS}
    t1 = time.perf_counter()
    cold = build_report(frames["sessions"], frames["ticks"], frames["sales"], frames["stock"], now=NOW)
    t2 = time.perf_counter()
    held = dict(frames)
    last = store.last_batch()
    ingest_file(store, new_file, kind="sales", by="bench")
    t3 = time.perf_counter()
    new = store.read("sales", since_batch=last)
    t4 = time.perf_counter()
    frames["sales"] = merge("sales", frames["sales"], new)
    t5 = time.perf_counter()
    rep = build_report(frames["sessions"], frames["ticks"], frames["sales"], frames["stock"], now=NOW)
    t6 = time.perf_counter()
    new = store.read("sales", since_batch=last)
    t7 = time.perf_counter()
    spliced_frames = dict(held)
    spliced_frames["sales"], replaced = merge_replacing("sales", held["sales"], new)
    assert replaced is not None
    t8 = time.perf_counter()
    spliced = refresh_report(cold, spliced_frames, Changes(new={"sales": new}, replaced={"sales": replaced}),
                             now=NOW)
    t9 = time.perf_counter()
    same = spliced.totals == rep.totals
    for name in ("sessions", "host_kinds", "villages", "unattributed", "unconvertible"):
        try:
            assert_frame_equal(getattr(spliced, name), getattr(rep, name), check_exact=False, rel_tol=1e-9)
        except AssertionError:
            same = False
    return {
        "sales_rows": frames["sales"].height, "ticks_rows": frames["ticks"].height,
        "sessions_rows": frames["sessions"].height, "new_rows": new.height,
        "cold_read": t1 - t0, "cold_build": t2 - t1, "cold": t2 - t0,
        "new_ingest": t3 - t2, "inc_read": t4 - t3, "inc_merge": t5 - t4, "inc_build": t6 - t5,
        "incremental": t6 - t3, "gmv": rep.totals["gmv"],
        "splice_read": t7 - t6, "splice_merge": t8 - t7, "splice_refresh": t9 - t8, "splice": t9 - t6,
        "replaced_rows": replaced.height, "same": same,
    }


TASKS: Final = {"idle": idle, "stages": stages, "floor": floor, "pandas": pandas_sql, "ingest": ingest, "report": report}


def main(argv: list[str]) -> int:
    result = TASKS[argv[0]](*argv[1:])
    result["peak_mb"] = _peak_mb()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
