"""The command line: ingest / batches / retract, exit codes, JSON shapes, rejections that change nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relief_live.__main__ import main
from relief_live.store import Store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite3'}"


def counts(db: str) -> dict[str, int]:
    store = Store(db)
    return {kind: store.read(kind).height for kind in ("sessions", "ticks", "sales", "stock")} | {
        "batches": store.batches().height}


def test_examples_ingest_with_json(capsys, db: str) -> None:
    code, out, _ = run(capsys, "ingest", "--db", db, "--json", str(EXAMPLES / "stock_ledger_gbk.csv"),
                       str(EXAMPLES / "sessions_douyin_bom.csv"))
    assert code == 0
    files = json.loads(out)["files"]
    assert [(Path(f["path"]).name, f["kind"], f["rows"], f["batch"], f["status"]) for f in files] == [
        ("stock_ledger_gbk.csv", "stock", 2, 1, "ingested"),
        ("sessions_douyin_bom.csv", "sessions", 1, 2, "ingested"),
    ]
    code, out, _ = run(capsys, "ingest", "--db", db, "--json", "--session-id", "7213000000000000001",
                       str(EXAMPLES / "ticks_minute_trend.csv"), str(EXAMPLES / "sales_orders.csv"))
    assert code == 0
    assert [f["rows"] for f in json.loads(out)["files"]] == [3, 2]
    code, out, _ = run(capsys, "ingest", "--db", db, "--json", str(EXAMPLES / "stock_ledger_gbk.csv"))
    assert json.loads(out)["files"][0]["status"] == "unchanged"
    assert counts(db) == {"sessions": 1, "ticks": 3, "sales": 2, "stock": 2, "batches": 4}
    session = Store(db).read("sessions").row(0, named=True)
    assert (session["peak_viewers"], session["views"], session["viewers"], session["gmv"]) == (6210, 98000, 51000, 6192000)


def test_batches_json_and_retract(capsys, db: str) -> None:
    run(capsys, "ingest", "--db", db, str(EXAMPLES / "stock_ledger_gbk.csv"))
    code, out, _ = run(capsys, "batches", "--db", db, "--json")
    [batch] = json.loads(out)["batches"]
    assert set(batch) == {"batch", "path", "kind", "sha256", "rows", "at", "by", "retracted"}
    assert (batch["batch"], batch["kind"], batch["rows"], batch["retracted"]) == (1, "stock", 2, False)
    assert batch["at"].endswith("+08:00")
    code, out, _ = run(capsys, "retract", "--db", db, "1")
    assert code == 0 and "retracted batch 1" in out
    assert counts(db)["stock"] == 0
    code, _, err = run(capsys, "retract", "--db", db, "1")
    assert code == 1 and "already retracted" in err
    code, out, _ = run(capsys, "batches", "--db", db, "--json")
    assert json.loads(out)["batches"][0]["retracted"] is True


def test_an_ignored_header_that_is_a_near_miss_is_offered_the_header_it_likely_means(capsys, db: str,
                                                                                     tmp_path: Path) -> None:
    path = tmp_path / "sessions.csv"
    path.write_text("直播ID,直播类型,开播时间,主播昵陈,备注\ns1,干部直播,2020-09-06 19:00,赵书记,无\n", encoding="utf-8")
    code, out, _ = run(capsys, "ingest", "--db", db, str(path))
    assert code == 0
    assert out.splitlines()[1] == '  headers ignored: 主播昵陈 (did you mean "主播昵称"?), 备注'
    retyped = tmp_path / "again.csv"
    retyped.write_text(path.read_text().replace("s1,", "s2,"), encoding="utf-8")
    code, out, _ = run(capsys, "ingest", "--db", db, "--json", str(retyped))
    [file] = json.loads(out)["files"]
    assert (file["ignored"], file["did_you_mean"]) == (["主播昵陈", "备注"], {"主播昵陈": "主播昵称"})
    assert Store(db).read("sessions")["host_name"].to_list() == [None, None]  # suggested, never guessed


GOOD_SALES = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n" + "".join(
    f"{i},2020-09-15 19:31:00,芒果,百色村,1,斤,10.00,s1\n" for i in range(100))


def _bad(name: str) -> tuple[str, bytes, str]:
    """(file name, bytes, what the message must contain) for each kind of bad input a user sends."""
    head = "订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID\n"
    row = "1,2020-09-15 19:31:00,芒果,百色村,{q},斤,{a},s1\n"
    cases = {
        "missing_column": ("m.csv", "商品名称,实付金额,直播ID\n芒果,1,s\n",
                           "m.csv line 1, column quantity: a sales file needs the column quantity"),
        "duplicate_column": ("d.csv", "商品名称,数量,数量,实付金额,直播ID\n芒果,1,1,1,s\n",
                             "d.csv line 1, column 数量: duplicate column"),
        "text_in_number": ("t.csv", head + row.format(q="abc", a="1"),
                           't.csv line 2, column 商品数量: "abc" is not a number'),
        "negative_quantity": ("n.csv", head + row.format(q="-3", a="1"),
                              'n.csv line 2, column 商品数量: "-3" is negative'),
        "bad_time": ("b.csv", head.replace("1,2020", "") + "1,昨天晚上,芒果,百色村,1,斤,1,s1\n",
                     'b.csv line 2, column 下单时间: "昨天晚上" is not a time'),
        "ragged_row": ("r.csv", head + "1,2020-09-15 19:31:00,芒果\n", 'r.csv line 2: "1,2020-09-15 19:31:00,芒果" has 3 fields'),
        "range": ("g.csv", head + row.format(q="1", a="7.5w~10w"), 'g.csv line 2, column 实付金额: "7.5w~10w" is a range'),
        "unknown_host_kind": ("h.csv", "直播ID,直播类型,开播时间\ns1,晚会,2020-09-06 19:00\n",
                              'h.csv line 2, column 直播类型: "晚会" is not a host kind'),
        "no_known_kind": ("k.csv", "a,b,c\n1,2,3\n", 'k.csv line 1: "a, b, c" are the headers: they fit no known kind'),
        "misspelt_header": ("s.csv", "直播ID,直播类型,开播时问\ns1,干部直播,2020-09-06 19:00\n",
                            's.csv line 1, column started_at: a sessions file needs the column started_at (headers: '
                            '开播时间, 开始时间, 直播开始时间, start, start_time); did you mean "开播时间" for the header '
                            '"开播时问"?'),
        "binary": ("x.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "x.csv: this is a binary file"),
        "empty": ("e.csv", b"", "e.csv: the file is empty"),
        "undecodable": ("u.csv", "商品名称,数量,实付金额,直播ID\n".encode() + b"\xff\xfe\x80\x80,1,1,s\n",
                        "u.csv line 2: bytes ff fe 80 80 at byte 1 of the line are neither UTF-8 nor GBK"),
    }
    file_name, content, message = cases[name]
    return file_name, content if isinstance(content, bytes) else content.encode(), message


BAD = ["missing_column", "duplicate_column", "text_in_number", "negative_quantity", "bad_time", "ragged_row",
       "range", "unknown_host_kind", "no_known_kind", "misspelt_header", "binary", "empty", "undecodable"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exit_1_names_file_line_column_and_changes_nothing(capsys, db: str, tmp_path: Path,
                                                                     case: str) -> None:
    good = tmp_path / "good.csv"
    good.write_text(GOOD_SALES, encoding="utf-8")
    assert run(capsys, "ingest", "--db", db, str(good))[0] == 0
    before = counts(db)
    name, content, message = _bad(case)
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run(capsys, "ingest", "--db", db, "--json", str(path))
    assert code == 1
    assert message in err.replace(str(tmp_path) + "/", "")
    assert json.loads(out) == {"files": []}
    assert counts(db) == before


def test_one_bad_row_among_100_stores_none(capsys, db: str, tmp_path: Path) -> None:
    lines = GOOD_SALES.splitlines(keepends=True)
    lines.insert(60, "60x,2020-09-15 19:31:00,芒果,百色村,1.5.0,斤,10.00,s1\n")
    path = tmp_path / "s.csv"
    path.write_text("".join(lines), encoding="utf-8")
    code, _, err = run(capsys, "ingest", "--db", db, str(path))
    assert code == 1 and "line 61, column 商品数量" in err
    assert counts(db)["sales"] == 0 and counts(db)["batches"] == 0


def test_good_and_bad_files_together_exit_1_but_keep_the_good(capsys, db: str, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD_SALES, encoding="utf-8")
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    code, out, err = run(capsys, "ingest", "--db", db, "--json", str(good), str(bad))
    assert code == 1 and "rejected: " in err
    assert [f["rows"] for f in json.loads(out)["files"]] == [100]


def test_process_exit_codes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    root = Path(__file__).resolve().parent.parent
    ok = subprocess.run([sys.executable, "-m", "relief_live", "ingest", "--db", db,
                         str(EXAMPLES / "stock_ledger_gbk.csv")], cwd=root, capture_output=True, text=True)
    assert ok.returncode == 0 and "ingested" in ok.stdout
    usage = subprocess.run([sys.executable, "-m", "relief_live", "ingest", "--kind", "nonsense", "x.csv"],
                           cwd=root, capture_output=True, text=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    missing = subprocess.run([sys.executable, "-m", "relief_live", "ingest", "--db", db, "nope.csv"],
                             cwd=root, capture_output=True, text=True)
    assert missing.returncode == 1 and "nope.csv: cannot be read" in missing.stderr


def test_env_var_selects_the_store(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "env.sqlite3"
    env = {"RELIEF_LIVE_DB": f"sqlite:///{target}", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "relief_live", "ingest", str(EXAMPLES / "stock_ledger_gbk.csv")],
                            cwd=root, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert Store(f"sqlite:///{target}").read("stock").height == 2


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty

    path = tmp_path / "big.csv"
    path.write_text(GOOD_SALES, encoding="utf-8")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "RELIEF_LIVE_PROGRESS_BYTES": "100"}
    args = [sys.executable, "-m", "relief_live", "ingest", "--db", f"sqlite:///{tmp_path / 'p.sqlite3'}", str(path)]
    piped = subprocess.run(args, cwd=root, capture_output=True, text=True, env=env)
    assert piped.returncode == 0 and "%" not in piped.stderr  # no bar into a pipe or log file

    (tmp_path / "big2.csv").write_text(GOOD_SALES.replace("芒果", "茶叶"), encoding="utf-8")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*args[:-1], str(tmp_path / "big2.csv")], cwd=root, stderr=follower,
                            stdout=subprocess.PIPE, env=env)
    proc.stdout.read()
    proc.wait(timeout=60)
    os.close(follower)
    drawn = b""
    try:
        while chunk := os.read(leader, 4096):
            drawn += chunk
    except OSError:
        pass
    assert proc.returncode == 0
    assert b"big2.csv" in drawn and b"%" in drawn
