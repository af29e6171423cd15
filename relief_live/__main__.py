"""Command line: python -m relief_live ingest | batches | retract | report | bulletin | demo."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

from relief_live import alerts, ingest, schema, terminal
from relief_live.i18n import t
from relief_live.read import Rejected
from relief_live.store import Store, StoreError, default_url, describe_failure

LARGE_FILE: int = int(os.environ.get("RELIEF_LIVE_PROGRESS_BYTES", 5_000_000))  # bar above this, on a terminal


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "no_store", False):
        return int(args.run(None, args) or 0)
    store = None
    try:
        store = Store(args.db)
        if store.needs_upgrade():
            print(f"relief-live: {t('store_upgrading')}", file=sys.stderr, flush=True)
        store.create()
        return int(args.run(store, args) or 0)
    except StoreError as error:
        _say(f"relief-live: {error}", sys.stderr)
    except Exception as error:
        if not ingest.store_failure(error):
            raise
        _say(f"relief-live: {describe_failure(store, error)}", sys.stderr)
    return 1


def _say(text: str, file=None) -> None:  # type: ignore[no-untyped-def]
    """Print a line that may hold text from a file (a name, a header, a cell), made safe for a terminal."""
    print(terminal.safe(text), file=file or sys.stdout, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m relief_live", description=__doc__)
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", default=None, metavar="URL",
                    help=f"SQLAlchemy URL of the store (default: $RELIEF_LIVE_DB or "
                         f"{make_url(default_url()).render_as_string(hide_password=True)})")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("ingest", parents=[db], help="ingest CSV/XLSX exports")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--kind", choices=list(schema.KINDS), help="the kind of the files (default: from headers)")
    p.add_argument("--session-id", help="session of ticks or sales files that lack a session column")
    p.add_argument("--host-kind", help="host kind of sessions files that lack one: broadcast or cadre")
    p.add_argument("--platform", help="platform of sessions files that lack one: douyin, kuaishou, 抖音, …")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("batches", parents=[db], help="the ingest history, oldest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_batches)

    p = sub.add_parser("retract", parents=[db], help="undo a batch")
    p.add_argument("batch", type=int)
    p.set_defaults(run=_retract)

    p = sub.add_parser("report", parents=[db], help="sessions, host kinds and villages (docs/metrics.md)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--from", dest="start", type=_day, metavar="DATE", help="only sessions and sales from this day on")
    p.add_argument("--to", dest="end", type=_day, metavar="DATE", help="only sessions, sales and baselines up to this day")
    p.add_argument("--county", help="only this county's sessions and villages")
    p.set_defaults(run=_report)

    p = sub.add_parser("alerts", parents=[db], help="evaluate the alert rules, send what is new, list the alerts; "
                                                    "`alerts test CHANNEL` sends a test message (docs/alerts.md)")
    p.add_argument("test", nargs="*", metavar="test CHANNEL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=lambda store, args: alerts.command(store, args.test, as_json=args.json, say=_say))

    p = sub.add_parser("bulletin", parents=[db], help="the week's or month's bulletin as PDF and XLSX (docs/cli.md)")
    p.add_argument("--period", choices=["week", "month"], default="week")
    p.add_argument("--ending", type=_day, metavar="DATE",
                   help="a day of the period (default: the last complete one; docs/cli.md)")
    p.add_argument("--county", help="only this county's sessions and villages")
    p.add_argument("--format", choices=["pdf", "xlsx", "both"], default="both")
    p.add_argument("--lang", choices=["zh", "en"], default="zh")
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR", help="folder for the files (default: .)")
    p.set_defaults(run=_bulletin)

    p = sub.add_parser("backup", parents=[db], help="a consistent copy of the store, while it runs")
    p.add_argument("path", type=Path, help="the new SQLite file")
    p.set_defaults(run=_backup)

    p = sub.add_parser("watch", parents=[db], help="ingest files in a folder as they appear or grow")
    p.add_argument("folder", metavar="DIR", type=Path)
    p.add_argument("--kind", choices=list(schema.KINDS))
    p.add_argument("--session-id")
    p.add_argument("--host-kind")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks (default 2)")
    p.set_defaults(run=_watch)

    p = sub.add_parser("simulate", help="play a demo session into CSV files in real time (for watch)")
    p.add_argument("folder", metavar="DIR", type=Path, help="where the sessions and ticks files are written")
    p.add_argument("--session", default=None, help="demo session to play (default: the Zhaotong cured pork show)")
    p.add_argument("--speed", type=float, default=60.0, help="minutes played per real minute (default 60)")
    p.add_argument("--minutes", type=int, default=None, help="stop after this many minutes of the session")
    p.add_argument("--collapse-at", type=int, default=None, metavar="MINUTE",
                   help="viewers online fall to a quarter from this minute on (to rehearse alerts)")
    p.set_defaults(run=_simulate, no_store=True)

    p = sub.add_parser("demo", parents=[db], help="load the seeded demo programme")
    p.add_argument("--scale", type=int, default=1, metavar="N",
                   help="for load tests: the story's sessions N times on nearby days, with new orders (the villages' "
                        "unsold stock stays as registered, so their sell-through passes 100%%)")
    p.set_defaults(run=_demo)
    return parser


def _progress_bar(path: Path):  # type: ignore[no-untyped-def]
    """A progress callback drawing a bar on stderr for a large file on a terminal, else None."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size < LARGE_FILE or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    size = shutil.get_terminal_size()  # 80x24 when the terminal reports none (tqdm would then draw nothing)
    bar = tqdm(total=100, desc=path.name, unit="%", file=sys.stderr, leave=False, ncols=size.columns,
               nrows=size.lines,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")

    def update(stage: str, fraction: float) -> None:
        bar.set_postfix_str(stage)
        bar.update(int(fraction * 100) - bar.n)
        if fraction >= 1:
            bar.close()

    return update


def _ingest(store: Store, args: argparse.Namespace) -> int:
    results, failed = [], False
    for name in args.files:
        path = Path(name)
        try:
            result = ingest.ingest_file(store, path, kind=args.kind, session_id=args.session_id,
                                        host_kind=args.host_kind, platform=args.platform,
                                        progress=_progress_bar(path))
        except Rejected as rejected:
            failed = True
            _say(f"rejected: {name}", sys.stderr)
            for problem in rejected.problems:
                _say(f"  {problem}", sys.stderr)
            continue
        except Exception as error:  # the store's: this file is not in it; the next may be
            if not ingest.store_failure(error):
                raise
            failed = True
            _say(f"failed: {name}: nothing was stored: {describe_failure(store, error)}", sys.stderr)
            continue
        results.append(result)
        if not args.json:
            for each in (result, *result.also):  # a live workbook: its session, then its product totals
                _say(each.said())
            if result.ignored:
                near = dict(result.near)
                _say("  headers ignored: " + ", ".join(
                    f'{h} (did you mean "{near[h]}"?)' if h in near else h for h in result.ignored))
    if args.json:
        print(terminal.safe_json(json.dumps({"files": [r.as_json() for r in results]}, ensure_ascii=False)))
    alerts.after_ingest(store)
    return 1 if failed else 0


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(_tz()).isoformat() if value is not None else None


def _tz():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    from relief_live.read import DEFAULT_TZ

    return ZoneInfo(DEFAULT_TZ)


def _batches(store: Store, args: argparse.Namespace) -> int:
    frame = store.batches()
    rows = [
        {"batch": r["batch"], "path": r["path"], "kind": r["kind"], "sha256": r["sha256"], "rows": r["rows"],
         "at": _iso(r["at"]), "by": r["by"], "retracted": r["retracted"]}
        for r in frame.iter_rows(named=True)
    ]
    if args.json:
        print(terminal.safe_json(json.dumps({"batches": rows}, ensure_ascii=False)))
        return 0
    if not rows:
        print("no batches yet")
    for r in rows:
        mark = "  (retracted)" if r["retracted"] else ""
        _say(f"{r['batch']:>5}  {r['at'][:19]}  {r['kind']:<8} {r['rows']:>9} rows  {r['by']:<10} {r['path']}{mark}")
    return 0


def _retract(store: Store, args: argparse.Namespace) -> int:
    try:
        path = store.retract(args.batch)
    except (KeyError, ValueError) as error:
        _say(f"cannot retract: {error.args[0]}", sys.stderr)
        return 1
    _say(f"retracted batch {args.batch} ({path})")
    alerts.after_ingest(store)
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2020-09-13") from None


def _report(store: Store, args: argparse.Namespace) -> int:
    from relief_live import live, metrics
    from relief_live.metrics.period import of_county, period_report

    if args.start is not None and args.end is not None and args.start > args.end:
        _say(f"--from {args.start} is after --to {args.end}", sys.stderr)
        return 2
    frames = [store.read(kind) for kind in ("sessions", "ticks", "sales", "stock", "catalogue")]
    if args.start is not None or args.end is not None:
        report = period_report(*frames, start=args.start, end=args.end or date.max - timedelta(days=1),
                               now=datetime.now(UTC), county=args.county)
    else:
        report = metrics.build_report(*frames, now=datetime.now(UTC), live_minutes=live.live_minutes())
        report = of_county(report, args.county) if args.county else report
    if args.json:
        print(terminal.safe_json(json.dumps(metrics.report_json(report), ensure_ascii=False)))
    else:
        print(terminal.safe_lines(metrics.format_report(report)))
    return 0


def _bulletin(store: Store, args: argparse.Namespace) -> int:
    from relief_live import bulletin
    from relief_live.bulletin import content
    from relief_live.bulletin.charts import FontMissing

    frames = {kind: store.read(kind) for kind in (*content.FRAMES, "catalogue")}
    if args.county is not None:
        known = set(frames["stock"].get_column("county").drop_nulls()) | set(
            frames["sessions"].get_column("county").drop_nulls())
        if args.county not in known:
            _say(f"no county named {args.county!r}; the store has: {', '.join(sorted(known)) or 'none'}", sys.stderr)
            return 1
    made = content.make(frames, store.batches(), args.period, ending=args.ending, county=args.county,
                        lang=args.lang)
    args.out.mkdir(parents=True, exist_ok=True)
    for fmt in bulletin.FORMATS if args.format == "both" else (args.format,):
        try:
            data = bulletin.render(made, fmt)
        except FontMissing as error:
            _say(f"cannot make the PDF: {error}", sys.stderr)
            return 1
        path = args.out / bulletin.file_name(made.period, made.county, fmt)
        path.write_bytes(data)
        _say(f"wrote {path} ({made.period.start} to {made.period.end})")
    return 0


def _backup(store: Store, args: argparse.Namespace) -> int:
    try:
        target = store.backup(args.path)
    except FileExistsError as error:
        _say(f"cannot back up: {error}", sys.stderr)
        return 1
    print(f"backed up {store.last_batch()} batches to {target}")
    return 0


def _watch(store: Store, args: argparse.Namespace) -> int:
    from relief_live.watch import Watcher

    if not args.folder.is_dir():
        _say(f"{args.folder}: not a folder", sys.stderr)
        return 2
    watcher = Watcher(store, args.folder, kind=args.kind, session_id=args.session_id, host_kind=args.host_kind,
                      log=_say)
    try:
        watcher.run(args.interval)
    except KeyboardInterrupt:
        pass
    return 0


def _simulate(_store: None, args: argparse.Namespace) -> int:
    from relief_live import simulate

    try:
        simulate.simulate(args.folder, speed=args.speed, minutes=args.minutes, collapse_at=args.collapse_at,
                          log=lambda line: print(line, flush=True),
                          **({"session": args.session} if args.session else {}))
    except KeyError as error:
        print(error.args[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


def _demo(store: Store, args: argparse.Namespace) -> int:
    from relief_live import demo

    results = demo.load_demo(store, scale=args.scale)
    rows = sum(r.rows for r in results)
    print(f"demo programme loaded: {len(results)} files, {rows} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
