"""Hostile shapes are refused without exhausting memory: huge headers, huge lines, zip bombs, big uploads."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from relief_live import ingest, read
from relief_live.read import Rejected

ROOT = Path(__file__).resolve().parent.parent
_PEAK = """
import resource, sys
from relief_live import ingest
from relief_live.read import Rejected
data = open(sys.argv[1], 'rb').read()
try:
    ingest.parse(sys.argv[1].rsplit('/', 1)[-1], data, session_id='s')
    print('ACCEPTED')
except Rejected as rejected:
    print(rejected.problems[0])
# VmHWM is this process's own peak: ru_maxrss carries the parent's over fork + exec, so a test run that had grown
# (a browser test's million-line store) made every file here look like it used 1.5 GB.
hwm = [int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')]
print(hwm[0] // 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def reject_in_subprocess(path: Path) -> tuple[str, int]:
    """The first problem and the peak memory (MB) of parsing `path` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    message, peak = out.stdout.strip().rsplit("\n", 1)
    return message, int(peak)


def test_a_million_columns(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n", encoding="utf-8")
    message, peak = reject_in_subprocess(path)
    assert message == "wide.csv line 1: has 1,000,000 columns; exports have at most 1,000"
    assert peak < 1_000


def test_a_single_100_mb_line(tmp_path: Path) -> None:
    path = tmp_path / "line.csv"
    with path.open("wb") as f:
        f.write(b"x" * 100_000_000)
    message, peak = reject_in_subprocess(path)
    assert message == "line.csv line 1: the first line is over 1,000,000 characters long; this is not a sales export"
    assert peak < 1_000  # a few copies of the file at most


def test_a_100_mb_data_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    with path.open("wb") as f:
        f.write("商品名称,数量,实付金额\n芒果,1,2\n".encode() + b"9" * 100_000_000 + b",1,1\n")
    message, peak = reject_in_subprocess(path)
    assert message == "data.csv line 3: is over 1,000,000 characters long; this is not a sales export"
    assert peak < 1_500


def test_xlsx_zip_bomb(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            chunk = b"<row>" + b" " * (1024 * 1024) + b"</row>"
            for _ in range(600):
                sheet.write(chunk)
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 5_000_000
    message, peak = reject_in_subprocess(path)
    assert message.startswith("bomb.xlsx: unpacks to 629,152,208 bytes") and message.endswith("refused as a zip bomb")
    assert peak < 1_000


def test_upload_size_cap() -> None:
    ingest.check_upload_size("ok.csv", 1024)
    with pytest.raises(Rejected) as caught:
        ingest.check_upload_size("big.csv", 60 * 1024 * 1024, limit=50 * 1024 * 1024)
    assert str(caught.value.problems[0]).startswith("big.csv: is 60.0 MB; uploads are capped at 50.0 MB")


def test_limits_leave_real_exports_alone() -> None:
    text = "商品名称,数量,实付金额,直播ID\n" + "芒果,1,2,s\n" * 1000
    assert ingest.parse("ok.csv", text.encode())[1].height == 1000
    assert read.MAX_COLUMNS >= 100 and read.MAX_LINE_CHARS >= 100_000


def test_an_upload_over_the_cap_is_refused_before_reading() -> None:
    result = ingest.inspect_bytes("big.csv", b"x" * 2048, max_bytes=1024)
    assert not result.ok and result.kind is None
    assert str(result.problems[0]).startswith("big.csv: is 2.0 KB; uploads are capped at 1.0 KB")
