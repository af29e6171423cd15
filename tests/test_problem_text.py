"""Every problem said of a file reads in Chinese when zh is chosen: the hostile corpus and a bad file for each
message go through the Upload page's check (ingest.inspect_bytes), and what the page shows of each problem holds
no English word but proper nouns, units, numbers and what came from the file."""

from __future__ import annotations

import io
import os
import string
import zipfile
from pathlib import Path

import pytest

from relief_live import i18n, ingest, read
from relief_live.i18n import PROBLEMS, Phrase
from relief_live.read import Problem, Rejected
from tests.conftest import sqlite_store
from tests.hostile import SALES_HEAD, Hostile, corpus, table, workbook, workbooks
from tests.latin import PROBLEM_ALLOWED, latin_words


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_problem_has_english_and_chinese_with_the_same_fields() -> None:
    for key, (en, zh) in PROBLEMS.items():
        assert en and zh, key
        # The Chinese says what a library's or the system's words mean instead of quoting them.
        assert fields(zh) <= fields(en) and fields(en) - fields(zh) <= i18n.DETAIL, key


def test_a_problem_without_chinese_cannot_be_made() -> None:
    with pytest.raises(KeyError):
        Problem("a.csv", 2, None, "is not a number")


def test_the_english_is_what_the_cli_and_the_logs_said_before() -> None:
    problem = Problem("sales.csv", 48, "数量", "not_a_number", "abc")
    assert str(problem) == 'sales.csv line 48, column 数量: "abc" is not a number'
    assert problem.message == "is not a number"
    assert problem.located("zh") == "sales.csv，第 48 行，“数量”列：“abc”不是数字"
    assert problem.located("zh", file=False) == "第 48 行，“数量”列：“abc”不是数字"
    assert problem.located("en", file=False) == 'line 48, column 数量: "abc" is not a number'
    more = Problem("sales.csv", None, None, "more", summary=True, fields={"n": 12})
    assert (str(more), more.text("zh")) == ("sales.csv: and 12 more problems", "另有 12 个问题")


def _from_file(problem: Problem) -> set[str]:
    """The words of what a problem quotes from the file or from what a person gave: its name, column, value and
    the fields that hold such text."""
    words = latin_words(" ".join(str(part) for part in (problem.file, problem.column, problem.value) if part))

    def of(fields: dict[str, object]) -> None:
        nonlocal words
        for name, value in fields.items():
            if isinstance(value, Phrase):
                of(value.fields)
            elif name == "missing":  # [[(canonical, [header alias, …]), …], …]: the aliases are headers
                words |= latin_words(" ".join(a for one_of in value for _, aliases in one_of for a in aliases))
            elif name in i18n.FROM_FILE:
                words |= latin_words(str(value))

    of(problem.fields)
    return words


def english_in(problem: Problem) -> set[str]:
    """The English words the Upload page shows of `problem` in Chinese (its column and message, as the problems
    table and an import's message say them) that are neither proper nouns nor units nor from the file."""
    shown = f"{problem.column_text('zh') or ''} {problem.located('zh', file=False)}"
    return latin_words(shown) - PROBLEM_ALLOWED - _from_file(problem)


def test_every_problem_text_in_chinese_holds_no_english_word() -> None:
    """Each message with fields as the readers give them (a library's error text included, which the Chinese
    does not quote)."""
    sample = {"bytes": "ff fe", "at": 3, "error": "Invalid zip file: bad magic number", "error_type": "ValueError",
              "size": "60.0 MB", "cap": "50.0 MB", "limit": 1000, "packed": 5000, "columns": 1001, "got": 2, "width": 8, "unpacked": 10**9,
              "cell": "E2", "given": "bogus", "kinds": ["sessions", "ticks"], "kind": "sales", "header": "备注",
              "other": "备注", "position": 3, "canonical": "session_id", "aliases": ["直播ID", "场次编号"], "n": 3,
              "how": Phrase("how_session", {}), "near": Phrase("near_miss", {"alias": "开播时间", "header": "开播时问"}),
              "closest": Phrase("closest", {"kind": "sales", "missing": [[("product", ["商品名称"])]]}),
              "missing": [[("product", ["商品名称"])]], "known": ["已完成", "待发货"], "session": "s1",
              "alias": "开播时间", "said": "19:00", "sheet": "核心数据", "line": 4}
    for key, (en, _) in PROBLEMS.items():
        problem = Problem("a.csv", 2, "session_id", key, fields={f: sample[f] for f in fields(en)})
        assert english_in(problem) == set(), (key, problem.located("zh"))


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b" " * 20_000_000)
    return buffer.getvalue()


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


ORDER = ["o1", "2020-09-06 19:30", "芒果", "1", "10", "s1"]
SESSIONS = "直播ID,直播标题,直播类型,开播时间,下播时间,直播时长\n"


# A file for each message the Upload page's check can give: (name, bytes, check's arguments, the key it gives).
BAD_FILES: list[tuple[str, bytes, dict[str, object], str]] = [
    ("empty.csv", b"  \n", {}, "empty"),
    ("binary.csv", b"\x00\x01", {}, "binary"),
    ("encoding.csv", _csv("订单编号,商品名称\n") + b"o1,\x80\x80\n", {}, "encoding"),
    ("old.xls", read.OLE_MAGIC + b"\x00" * 600, {}, "xls"),
    ("large.csv", table([ORDER]), {"max_bytes": 10}, "too_large"),
    ("nul.csv", table([ORDER] * 4000) + b"o2,\x00\n", {}, "nul_byte"),
    ("wide.csv", _csv(",".join(f"h{i}" for i in range(1_001)) + "\n"), {}, "too_many_columns"),
    ("long_head.csv", _csv(",".join(["订单编号", "x" * (read.MAX_LINE_CHARS + 1)]) + "\n"), {}, "first_line_long"),
    ("big_field.csv", _csv("订单编号," + "x" * 200_000 + "\n"), {}, "header_csv"),
    ("no_head.csv", _csv(",,\n1,2,3\n"), {}, "no_headers"),
    ("long_line.csv", table([ORDER, ["o2", "x" * (read.MAX_LINE_CHARS + 1), "芒果", "1", "10", "s1"]]), {}, "line_long"),
    ("ragged.csv", table([ORDER, [*ORDER, "extra"]]), {}, "ragged"),
    ("quote.csv", table([ORDER]) + _csv('o2,2020-09-06 19:31,"芒果"x,1,10,s1\n'), {}, "after_quote"),
    ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, {}, "xlsx_unreadable"),
    ("bomb.xlsx", _zip_bomb(), {}, "zip_bomb"),
    ("no_rows.xlsx", workbook([[None]]), {}, "no_header_row"),
    ("bogus.csv", table([ORDER]), {"kind": "bogus"}, "kind_given"),
    ("no_kind.csv", _csv("备注,说明\n1,2\n"), {}, "no_kind"),
    ("near_kind.csv", _csv("订单编号,下单时间,商品数\no1,2020-09-06 19:30,1\n"), {}, "no_kind"),
    ("dup.csv", table([[*ORDER, "芒果"]], [*SALES_HEAD, "商品"]), {}, "duplicate_column"),
    ("dup_unknown.csv", table([[*ORDER, "", ""]], [*SALES_HEAD, "备注", "备注"]), {}, "duplicate_header"),
    ("stock.csv", _csv("村,滞销数量\n那满村,10\n"), {}, "missing_column"),
    ("sessions_typo.csv", _csv("直播ID,直播标题,直播类形,开播时间\ns1,a,干部直播,2020-09-06 19:00\n"), {},
     "missing_column"),
    ("sessions.csv", _csv("直播标题,直播类型,开播时间\na,干部直播,2020-09-06 19:00\nb,干部直播,2020-09-07 19:00\n"),
     {"session_id": "s9"}, "sessions_one_id"),
    ("ticks.csv", _csv("直播ID,时间\ns1,2020-09-06 19:00\n"), {"kind": "ticks"}, "no_measure"),
    ("number.csv", table([["o1", "2020-09-06 19:30", "芒果", "1", "abc", "s1"]]), {}, "not_a_number"),
    ("range.csv", table([["o1", "2020-09-06 19:30", "芒果", "1", "10-20", "s1"]]), {}, "number_range"),
    ("digits.csv", table([["o1", "2020-09-06 19:30", "芒果", "١", "10", "s1"]]), {}, "number_digits"),
    ("whole.csv", _csv("直播ID,直播标题,直播类型,开播时间,成交订单数\ns1,a,干部直播,2020-09-06 19:00,1.5\n"), {},
     "not_whole"),
    ("negative.csv", table([["o1", "2020-09-06 19:30", "芒果", "-1", "10", "s1"]]), {}, "negative"),
    ("time.csv", table([["o1", "yesterday", "芒果", "1", "10", "s1"]]), {}, "not_a_time"),
    ("date.csv", _csv("村,产品,滞销数量,单位,统计日期\n那满村,芒果,10,斤,someday\n"), {}, "not_a_date"),
    ("far.csv", table([["o1", "1800-01-01 10:00", "芒果", "1", "10", "s1"]]), {}, "far_time"),
    ("duration.csv", _csv(SESSIONS + "s1,a,干部直播,2020-09-06 19:00,,long\n"), {}, "not_a_duration"),
    ("host_kind.csv", _csv(SESSIONS + "s1,a,主持人,2020-09-06 19:00,,2小时\n"), {}, "not_a_host_kind"),
    ("host_kind_given.csv", _csv("直播ID,直播标题,开播时间\ns1,a,2020-09-06 19:00\n"), {"host_kind": "主持人"},
     "host_kind_given"),
    ("scientific.csv", table([["6.9311E+18", "2020-09-06 19:30", "芒果", "1", "10", "s1"]]), {}, "scientific_id"),
    ("status.csv", table([[*ORDER, "lost"]], [*SALES_HEAD, "订单状态"]), {}, "unknown_status"),
    ("weight.csv", _csv("村,产品,滞销数量,单位,单件重量,统计日期\n那满村,芒果,10,箱,heavy,2020-03-31\n"), {}, "not_a_weight"),
    ("required.csv", table([["o1", "2020-09-06 19:30", "", "1", "10", "s1"]]), {}, "empty_required"),
    ("backwards.csv", _csv(SESSIONS + "s1,a,干部直播,2020-09-06 19:00,2020-09-06 18:00,\n"), {}, "ends_before_start"),
    ("time_of_day.csv", table([["o1", "19:30", "芒果", "1", "10", "nowhere"]]), {}, "time_of_day_only"),
    ("many.csv", table([["o1", "2020-09-06 19:30", "芒果", "1", "abc", "s1"]] * 60), {}, "more"),
    ("货品明细.csv", _csv("商品名称,直播间价格,成交件数,用户支付金额\n赣南脐橙 10斤,59.90,26,\"1,557.40\"\n"), {},
     "totals_no_session"),
]
# Said by the other steps (a folder's files, the store, a file rewritten while read) or by no file the
# readers above let through: their texts are checked by test_every_problem_text_in_chinese_holds_no_english_word.
NOT_FROM_A_FILE_CHECK = {"symlink", "not_a_file", "os_error", "changed", "unexpected", "store_failed",
                         "csv_unreadable", "several_kinds", "zip_bomb_more", "formula", "workbook_disagrees"}
CORPUS: list[Hostile] = corpus() + workbooks()


def test_the_bad_files_give_every_message_a_file_can_give() -> None:
    parts = {"closest", "how_session", "how_host_kind", "near_miss"}
    assert {key for *_, key in BAD_FILES} | NOT_FROM_A_FILE_CHECK | parts == set(PROBLEMS)


@pytest.mark.parametrize(("name", "data", "given", "key"), BAD_FILES, ids=[f[0] for f in BAD_FILES])
def test_each_bad_file_is_said_in_chinese(name: str, data: bytes, given: dict[str, object], key: str,
                                          tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    inspection = ingest.inspect_bytes(name, data, store=store, **{"max_bytes": ingest.MAX_UPLOAD_BYTES, **given})
    assert key in {p.key for p in inspection.problems}, [str(p) for p in inspection.problems]
    for problem in inspection.problems:
        assert english_in(problem) == set(), problem.located("zh")


@pytest.mark.parametrize("case", [c for c in CORPUS if c.refused], ids=[c.name for c in CORPUS if c.refused])
def test_each_refused_hostile_file_is_said_in_chinese(case: Hostile, tmp_path: Path) -> None:
    inspection = ingest.inspect_bytes(case.name, case.data, store=sqlite_store(tmp_path),
                                      max_bytes=ingest.MAX_UPLOAD_BYTES)
    assert inspection.problems
    for problem in inspection.problems:
        assert english_in(problem) == set(), problem.located("zh")


def test_the_near_miss_of_a_header_is_said_in_chinese(tmp_path: Path) -> None:
    data = _csv("直播ID,直播标题,直播类型,开播时问\ns1,a,干部直播,2020-09-06 19:00\n")
    [problem] = ingest.inspect_bytes("typo.csv", data, store=sqlite_store(tmp_path)).problems
    assert problem.text("zh") == ("场次文件需要“开播时间”列（表头可写：开播时间、开始时间、直播开始时间、start、"
                                  "start_time）；表头“开播时问”是否应为“开播时间”？")
    assert problem.message.endswith('; did you mean "开播时间" for the header "开播时问"?')


def test_a_folder_a_link_and_a_missing_file_are_said_in_chinese(tmp_path: Path) -> None:
    (tmp_path / "real.csv").write_bytes(table([ORDER]))
    os.symlink(tmp_path / "real.csv", tmp_path / "link.csv")
    said = {}
    for path, follow in ((tmp_path, True), (tmp_path / "link.csv", False)):
        with pytest.raises(Rejected) as caught:
            read.open_file(path, follow_symlinks=follow)
        [problem] = caught.value.problems
        said[problem.key] = problem
    with pytest.raises(Rejected) as caught:
        ingest.ingest_file(sqlite_store(tmp_path), tmp_path / "gone.csv")
    [problem] = caught.value.problems
    said[problem.key] = problem
    assert set(said) == {"not_a_file", "symlink", "os_error"}
    assert said["os_error"].message == "cannot be read: No such file or directory"
    for problem in said.values():
        assert english_in(problem) == set(), problem.located("zh")


def test_a_problem_kept_as_json_is_said_again_in_either_language(tmp_path: Path) -> None:
    data = _csv("直播ID,直播标题,直播类型,开播时问\ns1,a,干部直播,2020-09-06 19:00\n")
    [problem] = ingest.inspect_bytes("typo.csv", data, store=sqlite_store(tmp_path)).problems
    again = Problem.unsaid(problem.file, problem.line, problem.column, problem.said())
    assert (again.text("zh"), str(again)) == (problem.text("zh"), str(problem))
    assert "；表头“开播时问”是否应为“开播时间”？" in again.text("zh")
