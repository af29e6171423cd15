"""`make bench`: ingest, metrics and scaling benchmarks, side by side, written to bench/RESULTS.md and scaling.png.

Every comparison is measured in the same run, interleaved, each step in its own process (bench/tasks.py);
a time is the fastest of its repeats (the machine is shared and noisy), a peak memory the largest.
BENCH_QUICK=1 runs small sizes once (about 2 minutes). BENCH_PG overrides the PostgreSQL server URL.
`--shops` measures the shop exports' section alone (a shop's 抖店 export against plain order lines) and rewrites
it in RESULTS.md; `--render` rewrites RESULTS.md from results.json.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
BENCH: Final = ROOT / "bench"
WORK: Final = BENCH / "work"
PY: Final = sys.executable
sys.path.insert(0, str(ROOT))  # run as a script: relief_live from this checkout
QUICK: Final = os.environ.get("BENCH_QUICK") == "1"
# The code before the ingest was made fast (pieces, Parquet parts), measured alongside the current code.
BASELINE_REF: Final = os.environ.get("BENCH_BASELINE_REF", "51af51a6db4ec9a59794376db789f19130ba0a79")
PG_SERVER: Final = os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB: Final = "relief_bench"
LINES_PER_SCALE: Final = 3_745  # order lines that each demo --scale step adds

INGEST_ROWS: Final = 200_000 if QUICK else 1_000_000
SCALING_ROWS: Final = (10_000, 100_000, 300_000) if QUICK else (10_000, 100_000, 1_000_000, 10_000_000)
REPEATS: Final = 1 if QUICK else 7  # rounds of the floor and the ingests (the machine is noisy: fastest of 7)
NEW_ROWS: Final = 1_000


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# Data


def demo_files(scale: int) -> list[dict[str, Any]]:
    """The demo programme at `scale`, written once under bench/work/ (the same arguments give the same bytes)."""
    out = WORK / f"demo_s{scale}"
    manifest = out / "manifest.json"
    if not manifest.exists():
        log(f"writing demo files at scale {scale}")
        from relief_live.demo import write_demo

        files = write_demo(out, scale=scale)
        manifest.write_text(json.dumps(
            [{"path": str(f.path), "kind": f.kind, "session_id": f.session_id} for f in files]))
    return json.loads(manifest.read_text())


def scale_for(rows: int) -> int:
    return max(2, math.ceil(rows / LINES_PER_SCALE) + 1)


def sales_file(rows: int) -> Path:
    """One CSV of exactly `rows` order lines (the demo's large sales export, cut to size)."""
    path = WORK / f"sales_{rows}.csv"
    if path.exists():
        return path
    extras = sorted(f["path"] for f in demo_files(scale_for(rows)) if "sales_scale_extra" in f["path"])
    with path.open("wb") as out:
        left = rows
        for i, name in enumerate(extras):
            with open(name, "rb") as src:
                header = src.readline()
                if i == 0:
                    out.write(header)
                for line in src:
                    if left == 0:
                        break
                    out.write(line)
                    left -= 1
    return path


def new_rows_file() -> Path:
    """NEW_ROWS order lines that no store holds yet (fresh order ids), as a dashboard upload during a session."""
    path = WORK / f"sales_new_{NEW_ROWS}.csv"
    if not path.exists():
        lines = sales_file(10_000).read_text(encoding="utf-8").splitlines()
        body = []
        for line in lines[1:NEW_ROWS + 1]:
            session, order, rest = line.split(",", 2)
            body.append(f"{session},NEW{order},{rest}")
        path.write_text("\n".join([lines[0], *body]) + "\n", encoding="utf-8")
    return path


SHOP_ROWS: Final = 200_000 if QUICK else 1_000_000
SHOP_STORE_SCALE: Final = 30  # the demo's sessions, stock and ticks beside the shop's lines: ~1,000 sessions
SHOP_LIVE_SHARE: Final = 0.3  # lines sold in a session's live room, by its host (the rest: 商品卡 / 短视频)


def shop_file(rows: int, *, new: bool = False) -> Path:
    """`rows` lines of the demo shop's 抖店 export (商品维度: BOM, tab-wrapped ids, `-` for empty, 商品金额 a unit
    price, statuses and refunds, 流量来源), drawn as relief_live.demo draws its story's: its listings, catalogued by
    商家编码, 商品ID or not at all, and live lines in the hosts' sessions of the demo at SHOP_STORE_SCALE.
    `new`: lines no store holds yet (fresh order ids), as an upload during a session."""
    path = WORK / f"shop_{'new_' if new else ''}{rows}.csv"
    if path.exists():
        return path
    import numpy as np
    import polars as pl

    from relief_live import demo

    extra = next(f["path"] for f in demo_files(SHOP_STORE_SCALE) if f["path"].endswith("sessions_scale_extra.csv"))
    sessions = pl.read_csv(extra, infer_schema=False).select(
        "host_name", *(pl.col(c).str.to_datetime("%Y-%m-%d %H:%M:%S").dt.epoch("ms") for c in ("started_at", "ended_at")))
    rng = np.random.default_rng([demo.SEED, rows, int(new)])
    listing = rng.integers(len(demo.LISTINGS), size=rows)
    live = rng.random(rows) < SHOP_LIVE_SHARE
    session = rng.integers(sessions.height, size=rows)
    start, end = sessions["started_at"].to_numpy()[session], sessions["ended_at"].to_numpy()[session]
    year = demo._local_ms(demo.FIRST_DAY), demo._local_ms(demo.LAST_DAY)
    ts = np.where(live, start + rng.random(rows) * (end - start), year[0] + rng.random(rows) * (year[1] - year[0]))
    video = ~live & (rng.random(rows) < 0.4)
    hosts = sorted(demo.DOUYIN_ACCOUNTS)
    host = np.where(live, sessions["host_name"].to_numpy()[session],
                    np.where(video, np.array(hosts)[rng.integers(len(hosts), size=rows)], "-"))
    packs = rng.choice([1, 1, 1, 2, 3], size=rows)
    price = np.array([demo._pack_fen(li) for li in demo.LISTINGS])[listing]
    amount = price * packs - np.where(price * packs > 3000, rng.choice([0, 0, 0, 300, 500], size=rows), 0)
    u = rng.random(rows)
    # 订单状态, 售后状态, paid, as relief_live.demo._write_shop writes a line of each outcome
    status = np.select([u < 0.03, u < 0.05, u < 0.06], ["已关闭", "已关闭", "已完成"], "已完成")
    after = np.select([u < 0.03, u < 0.05, u < 0.06, u < 0.08], ["退款成功", "-", "售后完成", "售后关闭"], "-")
    paid = ~((u >= 0.03) & (u < 0.05))
    second = np.r_[False, rng.random(rows - 1) < demo.SHOP_SECOND_LINE]  # a second line of the order before
    second[1:] &= ~second[:-1].copy()  # orders of two lines at most: each line's key once, as in an export
    main = np.cumsum(~second) + (5_000_000 if new else 0)
    ts = np.where(second, np.r_[ts[:1], ts[:-1]], ts).astype(np.int64) // 1000 * 1000
    base = 6_917_926_768_800_000_000
    titles = pl.Series([li.title for li in demo.LISTINGS])
    ids = pl.Series([demo._product_ids(i)[0] for i in range(len(demo.LISTINGS))])
    skus = pl.Series([f"\t{li.sku}" if li.sku else "-" for li in demo.LISTINGS])
    accounts = {name: f"\t{account}" for name, account in demo.DOUYIN_ACCOUNTS.items()}

    def yuan(name: str) -> pl.Expr:
        return (pl.col(name) // 100).cast(pl.String) + "." + (pl.col(name) % 100).cast(pl.String).str.zfill(2)

    when = pl.col("ts").cast(pl.Datetime("ms"))
    frame = pl.DataFrame({"main": base + main * 10, "second": second, "listing": listing, "packs": packs,
                          "price": price, "amount": amount, "ts": ts, "paid": paid, "status": status,
                          "after": after, "host": host, "live": live, "video": video}).select(
        主订单编号="\t" + pl.col("main").cast(pl.String),
        子订单编号="\t" + (pl.col("main") + 1 + pl.col("second")).cast(pl.String),
        选购商品="\t" + titles.gather(listing),
        商品数量=pl.col("packs"),
        商品ID="\t" + ids.gather(listing),
        商家编码=skus.gather(listing),
        商品金额=yuan("price"), 订单应付金额=yuan("amount"),
        订单提交时间=when.dt.strftime("%Y-%m-%d %H:%M:%S"),
        支付完成时间=pl.when("paid").then((when + pl.duration(seconds=12)).dt.strftime("%Y-%m-%d %H:%M:%S"))
        .otherwise(pl.lit("-")),
        订单状态=pl.col("status"), 售后状态=pl.col("after"),
        达人ID=pl.col("host").replace_strict(accounts, default="-"),
        达人昵称=pl.col("host"),
        流量来源=pl.when("live").then(pl.lit("直播")).when("video").then(pl.lit("短视频")).otherwise(pl.lit("商品卡")),
    )
    path.write_bytes(b"\xef\xbb\xbf" + frame.write_csv().encode("utf-8"))
    return path


def shop_manifest(rows: int) -> Path:
    """The files of a store of `rows` shop lines: the demo's stock, catalogue, sessions and ticks at
    SHOP_STORE_SCALE (not its own order lines), then the shop's export."""
    path = WORK / f"shop_store_{rows}.json"
    if not path.exists():
        files = [f for f in demo_files(SHOP_STORE_SCALE) if f["kind"] != "sales"]
        files.append({"path": str(shop_file(rows)), "kind": None, "session_id": None})
        path.write_text(json.dumps(files))
    return path


# ---------------------------------------------------------------------------------------------
# Stores


def sqlite_url(name: str) -> str:
    db = WORK / "db" / f"{name}.sqlite3"
    db.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{db}"


def pg_admin(sql: str, database: str = "test") -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(f"{PG_SERVER}/{database}", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def pg_url() -> str | None:
    """A fresh, empty benchmark database on the PostgreSQL server, or None when there is no server."""
    try:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB}")
        # The server writes out what the run before left (pandas + to_sql: ~200 MB) now, not during the next one.
        pg_admin("CHECKPOINT")
    except Exception as error:  # no server: the PostgreSQL rows say so
        log(f"PostgreSQL unavailable: {error}")
        return None
    return f"{PG_SERVER}/{PG_DB}"


def drop_pg() -> None:
    try:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
    except Exception:
        pass


# ---------------------------------------------------------------------------------------------
# Running steps


def baseline_path() -> Path:
    """relief_live as of BASELINE_REF, unpacked under bench/work/baseline/."""
    out = WORK / "baseline" / BASELINE_REF[:12]
    if not (out / "relief_live").exists():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE_REF, "relief_live"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def step(task: str, *args: str, baseline: bool = False) -> dict[str, Any]:
    """Run one task in a fresh process; its JSON result."""
    env = dict(os.environ, PYTHONPATH=str(baseline_path() if baseline else ROOT), POLARS_VERBOSE="0")
    done = subprocess.run([PY, str(BENCH / "tasks.py"), task, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{task} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest run, with the largest peak memory of all runs."""
    fastest = dict(min(runs, key=lambda r: r["seconds"]))
    fastest["peak_mb"] = max(r["peak_mb"] for r in runs)
    fastest["runs"] = [round(r["seconds"], 3) for r in runs]
    return fastest


def bench_ingest(pg: str | None) -> dict[str, Any]:
    """Ingest of one large sales file: the floor, relief-live now and before, pandas + to_sql; SQLite and PostgreSQL."""
    path = sales_file(INGEST_ROWS)
    contenders: list[tuple[str, str, tuple[str, ...], bool, int]] = [("floor", "floor", (str(path),), False, REPEATS)]
    for db in ["sqlite"] + (["postgresql"] if pg else []):
        contenders += [
            (f"relief-live {db}", "ingest", (db, str(path)), False, REPEATS),
            (f"relief-live before {db}", "ingest", (db, str(path)), True, 1),
            (f"pandas to_sql {db}", "pandas", (db, str(path)), False, 1),
        ]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in contenders}
    for round_ in range(REPEATS):  # interleaved, so the machine's noise falls on every contender alike
        for name, task, args, baseline, repeats in contenders:
            if round_ >= repeats:
                continue
            args = tuple(_resolve(a, pg) for a in args)
            log(f"ingest {INGEST_ROWS:,}: {name} (round {round_ + 1})")
            runs[name].append(step(task, *args, baseline=baseline))
    stage = {"now": step("stages", sqlite_url("stages"), str(path)),
             "before": step("stages", sqlite_url("stages"), str(path), baseline=True)}
    idle = step("idle")
    return {"rows": INGEST_ROWS, "file_mb": path.stat().st_size / 1e6, "file_mib": path.stat().st_size / 2**20,
            "results": {name: best(r) for name, r in runs.items()}, "stages": stage, "idle_mb": idle["peak_mb"]}


def _resolve(arg: str, pg: str | None) -> str:
    if arg == "sqlite":
        return sqlite_url("ingest")
    if arg == "postgresql":
        assert pg is not None
        pg_url()  # a fresh database for each run
        return pg
    return arg


def bench_scaling() -> list[dict[str, Any]]:
    """Ingest of the whole demo programme at growing scale, then the report cold and after NEW_ROWS new rows."""
    out = []
    new = new_rows_file()
    for rows in SCALING_ROWS:
        files = demo_files(scale_for(rows))
        manifest = WORK / f"demo_s{scale_for(rows)}" / "manifest.json"
        url = sqlite_url(f"scale_{rows}")
        log(f"scaling {rows:,}: ingest {len(files)} files")
        ingested = step("ingest", url, str(manifest))
        log(f"scaling {rows:,}: report")
        reported = step("report", url, str(new))
        out.append({"target_rows": rows, "files": len(files), "ingest": ingested, "report": reported})
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    return out


SHOP_REPEATS: Final = 3 if QUICK else 5  # interleaved rounds of the four ingests; their ratios taken round by round


def bench_shops() -> dict[str, Any]:
    """The shop's 抖店 export against the plain order lines, at SHOP_ROWS each: ingest against each file's floor,
    interleaved; then the report of a store of each, cold and after NEW_ROWS new lines of its kind."""
    shop, plain = shop_file(SHOP_ROWS), sales_file(SHOP_ROWS)
    load = [os.getloadavg()[0]]
    contenders = [("floor", "floor", (str(plain),)), ("relief-live", "ingest", ("sqlite", str(plain))),
                  ("shop floor", "floor", (str(shop), "订单提交时间")), ("relief-live shop", "ingest", ("sqlite", str(shop)))]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in contenders}
    for round_ in range(SHOP_REPEATS):
        for name, task, args in contenders:
            log(f"shops {SHOP_ROWS:,}: {name} (round {round_ + 1})")
            runs[name].append(step(task, *(_resolve(a, None) for a in args)))
    stages = {name: step("stages", sqlite_url("stages"), str(path)) for name, path in (("plain", plain), ("shop", shop))}
    reports = {}
    for name, manifest, new in (("plain", WORK / f"demo_s{scale_for(SHOP_ROWS)}" / "manifest.json", new_rows_file()),
                                ("shop", shop_manifest(SHOP_ROWS), shop_file(NEW_ROWS, new=True))):
        demo_files(scale_for(SHOP_ROWS))
        url = sqlite_url(f"shops_{name}")
        log(f"shops {SHOP_ROWS:,}: {name} store, ingest")
        ingested = step("ingest", url, str(manifest))
        log(f"shops {SHOP_ROWS:,}: {name} store, report")
        reports[name] = {"ingest": ingested, "report": step("report", url, str(new))}
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    load.append(os.getloadavg()[0])
    return {"rows": SHOP_ROWS, "quick": QUICK, "repeats": SHOP_REPEATS, "load": load, "written_at": time.strftime("%Y-%m-%d %H:%M %Z"),
            "file_mib": shop.stat().st_size / 2**20, "plain_file_mib": plain.stat().st_size / 2**20,
            "results": {name: best(r) for name, r in runs.items()}, "stages": stages, "reports": reports}


def shop_section(shops: dict[str, Any]) -> list[str]:
    """RESULTS.md's section on the shop exports."""
    ok = {True: "met", False: "**missed**"}
    res, reports = shops["results"], shops["reports"]
    plain = res["relief-live"]["seconds"] / res["floor"]["seconds"]
    shop = res["relief-live shop"]["seconds"] / res["shop floor"]["seconds"]
    lines = [
        f"## Shop exports: {shops['rows']:,} 抖店 order lines",
        "",
        f"Measured on {shops['written_at']}"
        + (" (BENCH_QUICK=1: small size)" if shops["quick"] else "") + f", fastest of {shops['repeats']} runs"
        + (f" (load average {shops['load'][0]:.0f} at the start, {shops['load'][1]:.0f} at the end, on "
           f"{os.cpu_count()} cores: ratios of one run's figures, not seconds, compare)" if "load" in shops else "")
        + " by `python bench/run.py --shops`, which rewrites this section alone. The file is the demo shop's 抖店 "
        f"export ({shops['file_mib']:.0f} MiB: BOM, tab-wrapped ids, `-` for empty, 商品金额 a unit price, order and "
        "after-sale statuses, 流量来源, 达人ID): lines of its listings, which the catalogue ties by 商家编码, by 商品ID "
        f"alone or not at all, {SHOP_LIVE_SHARE:.0%} of them sold in a live room of the demo's sessions (placed by "
        "host account and time), none naming a session or a village. *plain*: the same number of the demo's own "
        f"order lines ({shops['plain_file_mib']:.0f} MiB), each with its session and village, as in the ingest "
        "table above, measured in the same run. Each against its own file's floor (`polars.read_csv` and the time "
        "column parsed).",
        "",
        "| path | seconds | × its floor | peak MiB |", "|---|---:|---:|---:|",
    ]
    for name, floor_name in (("floor", "floor"), ("relief-live", "floor"), ("shop floor", "shop floor"),
                             ("relief-live shop", "shop floor")):
        r = res[name]
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / res[floor_name]['seconds']:.1f} | "
                     f"{r['peak_mb']:.0f} |")
    shop_rounds = _rounds(res["relief-live shop"]["runs"], res["shop floor"]["runs"])
    plain_rounds = _rounds(res["relief-live"]["runs"], res["floor"]["runs"])
    both = (f"; round by round: median {shop_rounds[0]:.2f}× against {plain_rounds[0]:.2f}×, worst "
            f"{shop_rounds[1]:.2f}× against {plain_rounds[1]:.2f}×" if shop_rounds and plain_rounds else "")
    lines += [
        "",
        f"- shop ingest within the ratio of the plain ingest to its floor, measured alongside (its statuses, unit "
        f"prices, wrapped ids and `-` read besides): {shop:.2f}× against {plain:.2f}× ({ok[shop <= plain]}{both})",
        f"- within 3× of its floor, the plain ingest's target in the ingest table above: shop {shop:.2f}× "
        f"({ok[shop <= 3]}), plain {plain:.2f}× in this run (a floor's time varies more from run to run than an "
        "ingest's: compare the ratios of one run)",
    ]
    if "stages" in shops:
        st = shops["stages"]
        lines += [
            "",
            "Where the time goes (one run each, in process: `read_table`, `detect` + `typed_frame`, `Store.write`):",
            "",
            "| stage | plain (s) | shop (s) | shop ÷ plain |", "|---|---:|---:|---:|",
            *[f"| {k} | {st['plain'][k]:.2f} | {st['shop'][k]:.2f} | {st['shop'][k] / st['plain'][k]:.1f} |"
              for k in ("read_table", "typed_frame", "write", "seconds")],
        ]
    lines += [
        "",
        "The report of a store of each (the demo's sessions, ticks, stock and catalogue beside the lines), cold and "
        f"refreshed after {NEW_ROWS:,} new lines of the same kind, as in the metrics table above. *re-placing*: "
        "what placing every held line again would cost a refresh: in its session by host account and time "
        "(`place_sales`) and in its village through the catalogue (`catalogued`). A refresh places only the new "
        "lines and keeps the held lines' placement from the report before (the sessions and the catalogue being "
        "unchanged; a change of either is a cold report).",
        "",
        "| store | order lines | sessionless | placed | cold | refresh | refresh ÷ cold | re-placing | of it: sessions | "
        "of it: catalogue | re-placing ÷ refresh | same |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in reports.items():
        r = s["report"]
        lines.append(
            f"| {name} | {r['sales_rows']:,} | {r['sessionless_rows']:,} | {r['placed_rows']:,} | {r['cold']:.2f} | "
            f"{r['splice']:.3f} | {100 * r['splice'] / r['cold']:.1f}% | {r['replace']:.3f} | "
            f"{r['replace_sessions']:.3f} | {r['replace_catalogue']:.3f} | {100 * r['replace'] / r['splice']:.0f}% | "
            f"{'yes' if r['same'] else '**no**'} |")
    r = reports["shop"]["report"]
    share = r["splice"] / r["cold"]
    lines += ["", f"- shop store: refresh ≤ 5% of cold — {100 * share:.1f}% ({ok[share <= 0.05]})", ""]
    return lines


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def host(*packages: str) -> dict[str, str]:
    """Cores, memory, CPU and Python of this machine, and the installed versions of `packages`."""
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cores": str(os.cpu_count()), "memory": f"{int(mem) / 2**20:.1f} GiB", "cpu": cpu,
            "python": platform.python_version(), **{name: metadata.version(name) for name in packages}}


def machine() -> dict[str, str]:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    with adbc_sqlite.connect(":memory:") as conn, conn.cursor() as cursor:
        cursor.execute("select sqlite_version()")
        sqlite = cursor.fetchone()[0]
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(f"{PG_SERVER}/test")
        with engine.connect() as conn:
            pg = str(conn.execute(sa.text("show server_version")).scalar())
        engine.dispose()
    except Exception:
        pg = "unavailable"
    return {**host("polars", "pyarrow", "pandas", "SQLAlchemy", "adbc-driver-sqlite", "adbc-driver-postgresql",
                   "psycopg"), "sqlite (ADBC)": sqlite, "postgresql": pg}


def plot(scaling: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s["report"]["sales_rows"] for s in scaling]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.loglog(rows, [s["ingest"]["seconds"] for s in scaling], "o-", label="ingest (all demo files → SQLite)")
    ax.loglog(rows, [s["report"]["cold"] for s in scaling], "s-", label="report, cold (read all + build + carry)")
    ax.loglog(rows, [s["report"]["splice"] for s in scaling], "^-",
              label=f"report refreshed after {NEW_ROWS:,} new rows (read since + merge + refresh_report)")
    lo, hi = min(rows), max(rows)
    ref = scaling[-1]["ingest"]["seconds"]
    ax.loglog([lo, hi], [ref * lo / hi, ref], ":", color="grey", label="linear (slope 1)")
    ax.set_xlabel("order lines in the store")
    ax.set_ylabel("seconds")
    ax.set_title("relief-live scaling" + (" (BENCH_QUICK)" if QUICK else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _rounds(runs: list[float], floor_runs: list[float]) -> tuple[float, float] | None:
    """Each round's ingest over the same round's floor (run next to it), as their median and worst: the fastest of
    each favours the shorter job on a machine whose noise comes in bursts."""
    if len(runs) != len(floor_runs) or len(runs) < 3:
        return None
    ratios = sorted(a / b for a, b in zip(runs, floor_runs, strict=True))
    return statistics.median(ratios), ratios[-1]


def _paired(runs: list[float], floor_runs: list[float]) -> str:
    rounds = _rounds(runs, floor_runs)
    return "" if rounds is None else f"; round by round: median {rounds[0]:.2f}×, worst {rounds[1]:.2f}×"


def write_results(info: dict[str, str], ingest: dict[str, Any], scaling: list[dict[str, Any]],
                  elapsed: float, written_at: str, shops: dict[str, Any] | None = None) -> str:
    from bench.tasks import REFRESH_REPEATS

    res = ingest["results"]
    fl = res["floor"]["seconds"]
    file_mb = ingest["file_mib"]
    ok = {True: "met", False: "**missed**"}
    lines = [
        "# relief-live benchmarks",
        "",
        f"Written by `make bench` ({'BENCH_QUICK=1, small sizes, one run each' if QUICK else 'full run'}) "
        f"on {written_at}, in {elapsed / 60:.1f} min. Raw numbers: `bench/results.json`.",
        "Every ratio compares runs of the same `make bench`, interleaved, each in its own process; a time is the "
        f"fastest of {REPEATS} run(s) (the machine is shared and noisy; all runs are in results.json), "
        "a peak memory (VmHWM of the process) the largest.",
        "",
        "## Machine",
        "",
        "| | |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in info.items()],
        "",
        f"## Ingest: {ingest['rows']:,} order lines, one CSV of {file_mb:.0f} MiB",
        "",
        "The file is the demo's large sales export (`demo --scale`), cut to size. *floor*: `polars.read_csv` of the "
        "file with `ts` parsed by `str.to_datetime(\"%Y-%m-%d %H:%M:%S\")`. *relief-live*: `ingest_file` "
        "(decode, shape checks, header mapping, every value parsed and checked, keys, one transaction). "
        f"*before*: the same at commit {BASELINE_REF[:12]}, before the ingest was made fast. *pandas to_sql*: "
        "`pandas.read_csv`, `to_datetime(format=…)`, `DataFrame.to_sql` through a SQLAlchemy engine "
        "(sqlite3 / psycopg). "
        f"Peak memory includes the interpreter and libraries: a process that only imports them peaks at "
        f"{ingest['idle_mb']:.0f} MiB.",
        "",
        "| path | seconds | × floor | pandas ÷ this | peak MiB | peak ÷ file | (peak − imports) ÷ file | runs (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in res.items():
        db = name.rsplit(" ", 1)[-1]
        pandas = res.get(f"pandas to_sql {db}")
        vs_pandas = f"{pandas['seconds'] / r['seconds']:.1f}" if pandas and name != "floor" else ""
        lines.append(f"| {name} | {r['seconds']:.2f} | {r['seconds'] / fl:.1f} | {vs_pandas} | {r['peak_mb']:.0f} | "
                     f"{r['peak_mb'] / file_mb:.1f} | {(r['peak_mb'] - ingest['idle_mb']) / file_mb:.1f} | "
                     f"{', '.join(map(str, r['runs']))} |")
    lines += ["", "Targets:", ""]
    for db in ("sqlite", "postgresql"):
        r = res.get(f"relief-live {db}")
        if r is None:
            lines.append(f"- {db}: not measured (no server)")
            continue
        pandas = res[f"pandas to_sql {db}"]["seconds"] / r["seconds"]
        lines.append(
            f"- {db}: within 3× of the floor — {r['seconds'] / fl:.2f}× ({ok[r['seconds'] / fl <= 3]}"
            f"{_paired(r['runs'], res['floor']['runs'])}); "
            f"≥ 3× faster than pandas — {pandas:.1f}× ({ok[pandas >= 3]}); peak memory ≤ 4× the file — "
            f"{r['peak_mb'] / file_mb:.1f}× ({ok[r['peak_mb'] / file_mb <= 4]}; "
            f"{(r['peak_mb'] - ingest['idle_mb']) / file_mb:.1f}× without the imports' "
            f"{ingest['idle_mb']:.0f} MiB)")
    st = ingest["stages"]
    lines += [
        "",
        "Where the SQLite ingest's time goes (one run each, in process: `read_table`, `detect` + `typed_frame`, "
        "`Store.write`):",
        "",
        "| stage | before (s) | now (s) | before ÷ now |", "|---|---:|---:|---:|",
        *[f"| {k} | {st['before'][k]:.2f} | {st['now'][k]:.2f} | {st['before'][k] / st['now'][k]:.1f} |"
          for k in ("read_table", "typed_frame", "write", "seconds")],
        f"| peak MiB | {st['before']['peak_mb']:.0f} | {st['now']['peak_mb']:.0f} | "
        f"{st['before']['peak_mb'] / st['now']['peak_mb']:.1f} |",
        "",
        "## Metrics: the full report, cold and after new rows",
        "",
        "Store: the whole demo programme at the scale that gives the order lines shown (stock, sessions, ticks, "
        "sales). *cold*: `store.read` of every kind + `incremental.cold_report` (`build_report` and `with_carry`: the per-session sales "
        "sums, latest sale, undated lines, pace window, host-kind sums and medians, and session starts by id that the dashboard keeps with its report; the sales lines grouped per session once for both) + the sales key index "
        "(`live.KeyIndex`). *refresh*: after an ingest of "
        f"{NEW_ROWS:,} new order lines, what the dashboard's LiveFrames does: "
        "`store.read('sales', since_batch=last)` + `live.merge_indexed` + `metrics.refresh_report` (fastest of "
        f"{REFRESH_REPEATS} from the same cold report). *rebuild*: the refresh before the incremental report (`store.merge` + "
        "`build_report` over the merged frames), for comparison; `same` says the two gave the same report.",
        "",
        "| order lines | sessions | cold read | cold build + carry | index | cold total | refresh read | refresh merge | "
        "refresh_report | refresh total | refresh ÷ cold | rebuild | same | peak MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for s in scaling:
        r = s["report"]
        lines.append(
            f"| {r['sales_rows']:,} | {r['sessions_rows']:,} | {r['cold_read']:.2f} | {r['cold_build']:.2f} | "
            f"{r['cold_carry']:.2f} | {r['cold']:.2f} | {r['splice_read']:.3f} | {r['splice_merge']:.3f} | "
            f"{r['splice_refresh']:.3f} | {r['splice']:.3f} | {100 * r['splice'] / r['cold']:.1f}% | "
            f"{r['incremental']:.2f} | {'yes' if r['same'] else '**no**'} | {r['peak_mb']:.0f} |")
    big = [s for s in scaling if s["report"]["sales_rows"] >= 900_000]
    if big:
        lines += ["", "Targets: refresh ≤ 5% of cold, about the same at 1M and 10M:", ""]
        for s in big:
            r = s["report"]
            share = r["splice"] / r["cold"]
            lines.append(f"- {r['sales_rows']:,} lines: refresh {1000 * r['splice']:.0f} ms = {100 * share:.1f}% "
                         f"of cold ({ok[share <= 0.05]}); the merge is {100 * r['splice_merge'] / r['splice']:.0f}% "
                         "of it")
        if len(big) > 1:
            a, b = big[0]["report"], big[-1]["report"]
            grew = b["splice"] / a["splice"]
            lines.append(f"- refresh at {b['sales_rows']:,} ÷ refresh at {a['sales_rows']:,}: {grew:.1f}× for "
                         f"{b['sales_rows'] / a['sales_rows']:.0f}× the lines ({ok[grew <= 1.5]}, taking "
                         "\"about the same\" as within 1.5×)")
    if shops is not None:
        lines += ["", *shop_section(shops)[:-1]]
    lines += [
        "",
        "## Scaling",
        "",
        "![ingest and report time vs order lines](scaling.png)",
        "",
        "| order lines | files | ingest (s) | ingest µs/line | report cold (s) | cold µs/line | refresh (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scaling:
        r, i = s["report"], s["ingest"]
        n = r["sales_rows"]
        files = s.get("files") or len(demo_files(scale_for(s["target_rows"])))
        lines.append(f"| {n:,} | {files} | {i['seconds']:.2f} | {1e6 * i['seconds'] / n:.2f} | {r['cold']:.2f} | "
                     f"{1e6 * r['cold'] / n:.2f} | {r['splice']:.3f} |")
    lines += [
        "",
        "## Live viewers, pages and browser",
        "",
        "Viewers on a live session page of one app server (CPU, memory, refresh intervals): `bench/LOAD.md`, "
        "written by `bench/load.py`. "
        + ("Figure JSON per page, server time per page render and time to the first chart in Chromium, each "
           "against a minimal one-chart page: `bench/PAGES.md`." if (BENCH / "PAGES.md").exists() else
           "The figure JSON per page at 10M order lines, server time per page render against a minimal "
           "one-chart page, and time to the first chart in Chromium are not measured yet."),
        "",
        "What each benchmark measures and how to run it: `bench/README.md`; the design decisions these figures led "
        "to: `bench/NOTES.md`.",
    ]
    return "\n".join(lines) + "\n"


def render(elapsed: float | None = None, *, plotted: bool = True) -> None:
    """RESULTS.md and scaling.png from bench/results.json: the latest run only (earlier runs are in git)."""
    data = json.loads((BENCH / "results.json").read_text())
    if plotted:
        plot(data["scaling"], BENCH / "scaling.png")
    # The time of the run, not of this rendering (--render only re-reads results.json).
    written_at = data.get("written_at") or "an unrecorded date"
    text = write_results(data["machine"], data["ingest"], data["scaling"], elapsed or data.get("elapsed", 0.0),
                         written_at, data.get("shops"))
    (BENCH / "RESULTS.md").write_text(text, encoding="utf-8")


def main() -> int:
    if sys.argv[1:] == ["--render"]:
        render()
        return 0
    if sys.argv[1:] == ["--shops"]:  # the shop exports' section alone; the rest of results.json stays
        WORK.mkdir(parents=True, exist_ok=True)
        data = json.loads((BENCH / "results.json").read_text())
        data["shops"] = bench_shops()
        (BENCH / "results.json").write_text(json.dumps(data, indent=1))
        render(plotted=False)
        shutil.rmtree(WORK / "db", ignore_errors=True)
        return 0
    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine()
    pg = pg_url()
    try:
        ingest = bench_ingest(pg)
    finally:
        drop_pg()
    scaling = bench_scaling()
    shops = bench_shops()
    elapsed = time.perf_counter() - started
    (BENCH / "results.json").write_text(json.dumps(
        {"machine": info, "quick": QUICK, "elapsed": elapsed, "written_at": time.strftime("%Y-%m-%d %H:%M %Z"),
         "ingest": ingest, "scaling": scaling, "shops": shops}, indent=1))
    render(elapsed)
    shutil.rmtree(WORK / "db", ignore_errors=True)
    log(f"wrote bench/RESULTS.md in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
