"""Files the folder watcher rejected, kept in the store with their problems until the file is taken or removed."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

import polars as pl
import sqlalchemy as sa

from relief_live.read import Problem
from relief_live.store import Store, metadata

# How a rejection ended: a later version of the file was taken, the file left the folder, a staff member
# dismissed it, or the file was rejected again with other problems (that rejection stands in its place).
ENDINGS: Final = ("accepted", "removed", "dismissed", "replaced")

# In the store's own metadata: Store.create makes it with the other tables (a store made before gets it then, or
# from `ensure`), and a backup copies it.
_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
rejections_table = sa.Table(
    # One row per problem of a rejected file: where it is and what is wrong, never the cell's value (the
    # dashboard may be read by people the file is not for).
    "rejections", metadata,
    sa.Column("id", _id, primary_key=True, autoincrement=True),
    sa.Column("path", sa.Text, nullable=False),  # the file as the watcher found it
    sa.Column("folder", sa.Text, nullable=False),  # the watched folder
    sa.Column("at", sa.BigInteger, nullable=False),  # epoch ms: when this version of the file was rejected
    sa.Column("n", sa.Integer, nullable=False),  # the problem's place in the file's list
    sa.Column("line", sa.BigInteger),  # the line as a spreadsheet shows it; null: the whole file
    sa.Column("header", sa.Text),  # the column; null: none in particular
    sa.Column("message", sa.Text, nullable=False),  # in English, as the watcher's log says it
    sa.Column("said", sa.Text),  # what is wrong as Problem.said keeps it, to say it in the page's language
    sa.Column("resolved_at", sa.BigInteger),  # null: the rejection stands
    sa.Column("resolved", sa.Text),  # one of ENDINGS
    sa.Column("resolved_by", sa.Text),  # who dismissed it
    sa.Index("rejections_open", "path", "resolved_at"),
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def ensure(store: Store) -> None:
    """Create the table when missing (once per store URL in a process): a store made before it opens as it was."""
    store.ensure_tables((rejections_table,))


def _found(problem: Problem) -> tuple[int | None, str | None, str]:
    return problem.line, problem.column, problem.message


def record(store: Store, folder: str, path: str, problems: Iterable[Problem], *, at: int | None = None) -> bool:
    """Store a rejection of the file at `path` with its problems (line, column, message; never a value). The same
    problems as its latest rejection, standing or dismissed, are not stored again (a watcher restarted looks at
    every file anew); other problems replace a standing one. Returns whether anything was written."""
    ensure(store)
    at = _now_ms() if at is None else at
    problems = list(problems)
    found = [_found(p) for p in problems]
    r = rejections_table
    with store.transaction(write=True) as tx:
        latest = sa.select(sa.func.max(r.c.at)).where(r.c.path == path).scalar_subquery()
        held = tx.rows(sa.select(r.c.line, r.c.header, r.c.message, r.c.resolved)
                       .where(r.c.path == path, r.c.at == latest).order_by(r.c.n))
        if ([tuple(row[:3]) for row in held] == found
                and all(row[3] in (None, "dismissed") for row in held)):
            return False
        if any(row[3] is None for row in held):
            tx.execute(r.update().where(r.c.path == path, r.c.resolved_at.is_(None))
                       .values(resolved_at=at, resolved="replaced"))
        for n, problem in enumerate(problems):
            tx.execute(r.insert().values(path=path, folder=folder, at=at, n=n, line=problem.line,
                                         header=problem.column, message=problem.message, said=problem.said()))
    return True


def resolve(store: Store, paths: Iterable[str], how: str, *, by: str | None = None, at: int | None = None) -> int:
    """End the standing rejections of these files (`how`: one of ENDINGS); returns how many files had one."""
    assert how in ENDINGS, how
    paths = sorted(set(paths))
    if not paths:
        return 0
    ensure(store)
    r = rejections_table
    standing = (r.c.path.in_(paths)) & r.c.resolved_at.is_(None)
    with store.transaction(write=True) as tx:
        ended = tx.rows(sa.select(r.c.path).where(standing).distinct())
        if ended:
            tx.execute(r.update().where(standing).values(
                resolved_at=_now_ms() if at is None else at, resolved=how, resolved_by=by))
    return len(ended)


def current(store: Store, folder: str | None = None) -> pl.DataFrame:
    """The standing rejections (of the files in `folder`, when given), newest first, one row per problem:
    path, at (UTC datetime), line, header, message, said."""
    ensure(store)
    r = rejections_table
    query = sa.select(r).where(r.c.resolved_at.is_(None))
    if folder is not None:
        query = query.where(r.c.folder == folder)
    frame = store.select(query, r)
    return frame.sort(["at", "path", "n"], descending=[True, False, False]).select(
        "path", pl.col("at").cast(pl.Datetime("ms")).dt.replace_time_zone("UTC"), "line", "header", "message",
        "said")


def in_language(rejected: pl.DataFrame, lang: str) -> pl.DataFrame:
    """`current`'s rows with each problem's column and message in `lang` (as the Upload page says a file's own
    problems); a problem kept without its words (`said`) keeps its English message."""
    headers, messages = [], []
    for row in rejected.iter_rows(named=True):
        problem = (Problem.unsaid(row["path"], row["line"], row["header"], row["said"]) if row["said"] is not None
                   else None)
        headers.append(problem.column_text(lang) if problem is not None else row["header"])
        messages.append(problem.text(lang) if problem is not None else row["message"])
    return rejected.with_columns(pl.Series("header", headers, pl.String), pl.Series("message", messages, pl.String))


def where(line: int | None, header: str | None) -> str:
    """Where a problem is, as the watcher's log and the messages say it: `line 3, column 数量`."""
    parts = ([f"line {line}"] if line is not None else []) + ([f"column {header}"] if header is not None else [])
    return ", ".join(parts)


def summary(rejected: pl.DataFrame, most: int = 3) -> pl.DataFrame:
    """Each file of `current`'s rows with its first `most` problems in one line, in English and in Chinese
    (path, problem, problem_zh)."""
    if rejected.height == 0:
        return pl.DataFrame(schema={"path": pl.String, "problem": pl.String, "problem_zh": pl.String})
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for row in rejected.iter_rows(named=True):
        en, zh = rows.setdefault(row["path"], ([], []))
        if len(en) < most:
            place = where(row["line"], row["header"])
            en.append(f"{place}: {row['message']}" if place else row["message"])
            problem = (Problem.unsaid(row["path"], row["line"], row["header"], row["said"])
                       if row.get("said") is not None else None)
            zh.append(problem.located("zh", file=False) if problem is not None else en[-1])
    return pl.DataFrame({"path": list(rows), "problem": ["; ".join(en) for en, _ in rows.values()],
                         "problem_zh": ["；".join(zh) for _, zh in rows.values()]})
