"""Bytes to a typed frame: encoding, table shape, headers and kind, numbers, times, durations, units."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import mmap
import os
import re
import shutil
import struct
import tempfile
import threading
import time
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from stat import S_ISREG
from typing import Final, cast

import numpy as np
import polars as pl
import pyarrow as pa

from relief_live import schema
from relief_live.i18n import PROBLEMS, Phrase, column_label, problem_text
from relief_live.schema import KINDS

DEFAULT_TZ: Final = "Asia/Shanghai"
MAX_PROBLEMS: Final = 50  # a file's problems are reported together, up to this many
# A CSV larger than this is read and checked in pieces of about this size, so that its text cells are never
# all held at once (peak memory of a large ingest); the rows and problems are the same as read whole. Three
# pieces are in hand at once (two typed ahead, one written): 5 MiB keeps a 1M-line ingest at ~3.7x its file's
# size in memory, imports included (6 MiB: ~3.8-3.9x on one machine measured; 8 MiB: more), in the same time.
PIECE_BYTES: Final = 5 * 1024 * 1024
# Typing a piece costs some time for each of its columns besides its cells (~100 queries into polars of ~0.1 ms
# each), which a piece of fewer lines pays more often a line; and more columns make longer lines. A file whose
# lines are longer than this on average (a shop's export of 15 or more columns, ~190 bytes a line) is read in
# pieces larger by the square of how much longer, up to four times PIECE_BYTES: a 1M-line 抖店 export, in pieces
# of 15 MiB, took 8-10% less CPU and time than in pieces of 8.7 MiB (then 20 MiB: 2% less again) and peaked at
# 2.5x its size. The demo's orders (~108 bytes a line) stay at PIECE_BYTES (10 MiB: 4.3x their file).
PIECE_LINE_BYTES: Final = 110
_LOOKED_AT: Final = 64 * 1024  # the bytes at a large file's start that decide its encoding before its pieces
_NOT_SPACE: Final = re.compile(rb"\S")  # searched in place, where `bytes.strip()` would copy a whole file
# A file last written (or its inode changed) at least this long before it is mapped is at rest: were it
# rewritten later, its times would change (they move in clock ticks of a few ms, so one written just before
# could be written again within the same tick, its times the same).
AT_REST_NS: Final = 2_000_000_000

# Limits that keep a hostile or broken file from exhausting memory; exports are far inside them.
MAX_COLUMNS: Final = 1_000
MAX_LINE_CHARS: Final = 1_000_000
MAX_XLSX_UNPACKED: Final = 512 * 1024 * 1024  # bytes inside the workbook's zip
MAX_XLSX_RATIO: Final = 200  # unpacked / packed: more is a zip bomb

XLSX_MAGIC: Final = b"PK\x03\x04"
OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0"  # legacy .xls
_CANONICAL: Final = frozenset(f.name for fields in KINDS.values() for f in fields)


@dataclass(frozen=True)
class Problem:
    """Something wrong with a file, where a person can find it: file, spreadsheet line, column, value, and what is
    wrong as a message of i18n.PROBLEMS (`key`, `fields`), said in either language."""

    file: str
    line: int | None
    column: str | None
    key: str
    value: str | None = None
    summary: bool = False  # "and N more problems", not a problem of its own
    fields: dict[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.key not in PROBLEMS:  # every problem can be said in Chinese: a new one needs its texts
            raise KeyError(f"no problem text {self.key!r} in i18n.PROBLEMS")

    @property
    def message(self) -> str:
        """What is wrong, in English (the CLI's, the watcher's and the logs' words)."""
        return self.text("en")

    def text(self, lang: str) -> str:
        """What is wrong, in `lang`."""
        return problem_text(self.key, self.fields, lang)

    def column_text(self, lang: str) -> str | None:
        """The column, as the file names it; a column the problem names by its canonical name in `lang`."""
        if self.column is None or lang != "zh" or self.column not in _CANONICAL:
            return self.column
        return column_label(self.column, lang)

    def located(self, lang: str = "en", *, file: bool = True) -> str:
        """The problem in a sentence, in `lang`: where, the value, what is wrong (without the file's name, when
        it is said already)."""
        value = f'"{_clip(self.value)}" ' if self.value is not None else ""
        if lang == "zh":
            value = f"“{_clip(self.value)}”" if self.value is not None else ""
            where = [f"第 {self.line} 行"] if self.line is not None else []
            where += [f"“{self.column_text(lang)}”列"] if self.column is not None else []
            head = "，".join([self.file] * file + where)
            return f"{head}：{value}{self.text(lang)}" if head else f"{value}{self.text(lang)}"
        where = self.file if file else ""
        if self.line is not None:
            where += f" line {self.line}"
        if self.column is not None:
            where += f", column {self.column}"
        where = where.lstrip(", ")
        return f"{where}: {value}{self.message}" if where else f"{value}{self.message}"

    def __str__(self) -> str:
        return self.located("en")

    def said(self) -> str:
        """What is wrong as JSON (key and fields), to keep in the store and say later in either language."""
        return json.dumps({"key": self.key, "fields": _phrase_data(self.fields)}, ensure_ascii=False)

    @classmethod
    def unsaid(cls, file: str, line: int | None, column: str | None, said: str) -> Problem:
        """The problem kept as `said` (Problem.said), at its place again."""
        data = json.loads(said, object_hook=_phrase)
        return cls(file, line, column, data["key"], fields=data["fields"])


def _phrase_data(fields: dict[str, object]) -> dict[str, object]:
    """Fields with each Phrase as a JSON object (json writes a NamedTuple as a list)."""
    return {name: {"phrase": value.key, "fields": _phrase_data(value.fields)} if isinstance(value, Phrase) else value
            for name, value in fields.items()}


def _phrase(data: dict[str, object]) -> object:
    return Phrase(data["phrase"], data["fields"]) if "phrase" in data else data  # type: ignore[arg-type]


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Rejected(Exception):
    """A file that is not accepted, with every problem found in it."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems
        # How many problems there are in all, those past the cap included.
        self.total = total if total is not None else sum(not p.summary for p in problems)
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class RawTable:
    """A file as text cells: its headers, its rows, and each row's line as a spreadsheet shows it."""

    name: str
    headers: list[str]
    frame: pl.DataFrame  # one String column per header, named c0, c1, ...
    lines: pl.Series  # Int64, spreadsheet line of each row (header = line 1)
    excel: bool = False


@dataclass
class Mapping:
    """How a file's headers map to a kind's canonical columns."""

    kind: str
    columns: dict[str, int]  # canonical -> position in the file
    scales: dict[str, int]  # canonical -> power of ten from the header's unit suffix
    sources: list[tuple[str, str | None]] = field(default_factory=list)  # (file header, canonical or None)
    shape: str | None = None  # the platform export it was recognised as (schema.EXPORT_SHAPES), if any

    @property
    def unknown(self) -> list[str]:
        return [h for h, c in self.sources if c is None and h.strip()]


# ---------------------------------------------------------------------------------------------
# Bytes -> text -> cells


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is strict UTF-8, checked in place by Arrow (no copy, no Python str)."""
    offsets = pa.py_buffer(struct.pack("<2q", 0, len(data)))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def utf8_bytes(name: str, data: bytes) -> bytes:
    """A CSV file's bytes as UTF-8 without BOM: UTF-8 as it is (checked strictly), else strict GB18030 re-encoded.

    A large UTF-8 export is never held as a Python str as well as its bytes.
    """
    raw, first = _utf8(name, data)
    return raw[first:] if first or isinstance(raw, MappedFile) else raw  # a mapped file's slice is bytes


def _utf8(name: str, data: bytes, *, start_only: bool = False) -> tuple[bytes, int]:
    """utf8_bytes, and where the text starts (3 after a UTF-8 BOM): a UTF-8 file is not copied to drop its BOM.

    With `start_only`, a file whose first _LOOKED_AT bytes are UTF-8 is taken for UTF-8 as it is (csv_pieces:
    each piece checks its own bytes as it is read)."""
    if _NOT_SPACE.search(data) is None:
        raise Rejected([Problem(name, None, None, "empty")])
    if b"\x00" in data[:65536]:
        raise Rejected([Problem(name, None, None, "binary")])
    first = 3 if data[:3] == b"\xef\xbb\xbf" else 0
    end = len(data)
    if start_only:
        end = min(end, first + _LOOKED_AT)
        while end < len(data) and end > first and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
    if _is_utf8(memoryview(data)[first:end]):
        return data, first
    data = data[first:]
    try:
        return data.decode("gb18030").encode("utf-8"), 0
    except UnicodeDecodeError as gb_error:
        # The encoding that decoded further is the one the file was meant to be in.
        at = max(_utf8_error_at(data), gb_error.start)
        line = data.count(b"\n", 0, at) + 1
        column = at - (data.rfind(b"\n", 0, at) + 1) + 1
        raise Rejected([Problem(name, line, None, "encoding",
                                fields={"bytes": data[at:at + 4].hex(" "), "at": column})]) from None


class NotUTF8(Exception):
    """Raised by a piece of a file that csv_pieces took for UTF-8 from its start, when the piece's own bytes are
    not: read the file again from `csv_pieces(..., checked=True)` (the whole file checked first, and re-encoded
    from GB18030, or refused with the place of its first bad byte)."""


def _utf8_error_at(data: bytes) -> int:
    """Where strict UTF-8 decoding of `data` stops (the offset of its first bad byte)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start
    return len(data)


class MappedFile(mmap.mmap):
    """A file's bytes mapped from disk (read-only), read like `bytes` where the readers need it.

    `release` lets go of the pages read so far (the OS keeps them cached; a later read maps them again), so a
    large export read piece by piece is never all resident in the process. What is mapped is a private copy
    of the file (map_file): a mapped file cut short by another program would end the process with a bus error.
    """

    path: str  # the file's own path (`source`), not the copy's
    _stat: os.stat_result  # the file's, when it was mapped
    _at_rest: bool  # whether it was last written AT_REST_NS or more before it was mapped

    def count(self, sub: bytes, start: int = 0, end: int | None = None) -> int:  # type: ignore[override]
        return self[start:end].count(sub)

    def startswith(self, prefix: bytes) -> bool:
        return self[: len(prefix)] == prefix

    def __contains__(self, sub: object) -> bool:
        return isinstance(sub, bytes) and self.find(sub) >= 0

    def release(self) -> None:
        if hasattr(mmap, "MADV_DONTNEED"):
            self.madvise(mmap.MADV_DONTNEED)

    def source(self) -> FileSource:
        """The file itself, to hash what it holds now."""
        return FileSource(self.path)

    def unchanged(self) -> bool:
        """Whether the file is known to hold the bytes it held when it was mapped, from its stat alone: at rest
        then, and the same inode, size and times now. False when its stat cannot tell (hash the bytes to know)."""
        if not self._at_rest:
            return False
        try:
            return _identity(os.stat(self.path)) == _identity(self._stat)
        except OSError:
            return False


def _identity(stat: os.stat_result) -> tuple[int, ...]:
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def open_file(path: str | Path, *, follow_symlinks: bool = True) -> io.BufferedReader:
    """A file opened for reading, refused (Rejected) unless it is a regular file: a device (`/dev/zero`), a pipe
    or a folder is never read (one would be read forever or block), nor, without `follow_symlinks`, a symbolic
    link (checked as it is opened: it cannot be swapped in between a check and the open)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError:
        if not follow_symlinks and os.path.islink(path):
            raise Rejected([Problem(str(path), None, None, "symlink")]) from None
        raise
    stat = os.fstat(fd)
    if not S_ISREG(stat.st_mode):
        os.close(fd)
        raise Rejected([Problem(str(path), None, None, "not_a_file")])
    return open(fd, "rb")


@dataclass(frozen=True)
class FileSource:
    """A file on disk by its path: what it holds now is read (never mapped) when hashed again."""

    path: str

    def __len__(self) -> int:
        try:
            return os.stat(self.path).st_size
        except OSError:
            return 0

    def chunks(self, size: int) -> Iterator[bytes]:
        """Its bytes as they are now; none when it is gone or is no longer a regular file."""
        try:
            with open_file(self.path) as f:
                while chunk := f.read(size):
                    yield chunk
        except (OSError, Rejected):
            return


def map_file(path: str | Path) -> bytes:
    """A file's bytes: mapped (MappedFile) when it is large enough to be read in pieces, else read.

    A large file is copied (by the kernel) into a temporary file no other process can name, and the copy is
    mapped: the file itself may be rewritten or cut short meanwhile (ingest then hashes it again and refuses
    it as changed), the mapped bytes cannot."""
    with open_file(path) as f:
        stat = os.fstat(f.fileno())
        if stat.st_size <= PIECE_BYTES:
            return f.read()
        with tempfile.TemporaryFile(prefix="relief-live-") as copy:
            try:  # in the kernel (Linux)
                offset = 0
                while sent := os.sendfile(copy.fileno(), f.fileno(), offset, 64 * 1024 * 1024):
                    offset += sent
            except OSError:  # sendfile to a file is Linux's alone (macOS: sockets only)
                f.seek(0)
                copy.seek(0)
                copy.truncate()
                shutil.copyfileobj(f, copy, 16 * 1024 * 1024)
                copy.flush()
            if os.fstat(copy.fileno()).st_size == 0:
                return b""
            mapped = MappedFile(copy.fileno(), 0, access=mmap.ACCESS_READ)
        mapped.path, mapped._stat = str(path), stat
        mapped._at_rest = time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) >= AT_REST_NS
        return mapped  # type: ignore[return-value]


def release(data: bytes) -> None:
    """Let the pages of a MappedFile read so far go (nothing for bytes)."""
    if isinstance(data, MappedFile):
        data.release()


def read_table(name: str, data: bytes) -> RawTable:
    """The cells of a CSV or XLSX file, all as text, with each row's spreadsheet line."""
    if data[:4] == XLSX_MAGIC:
        return _read_xlsx(name, bytes(data))
    if data[:4] == OLE_MAGIC:
        raise Rejected([Problem(name, None, None, "xls")])
    return _read_csv(name, utf8_bytes(name, data))


def csv_pieces(name: str, data: bytes, piece_bytes: int | None = None, *,
               checked: bool = False) -> list[Callable[[], RawTable]] | None:
    """A CSV export larger than `piece_bytes` as pieces to read one after another, else None (read it whole).

    Each piece is a run of whole records of about `piece_bytes` (by default PIECE_BYTES, more for a file of long
    lines: _piece_size), split at a newline outside quotes (an even
    number of quote characters before it), read with the header and given its true spreadsheet lines, so
    that its cells and problems are the whole file's. Only one piece's text cells need be held at a time.

    A file whose start is UTF-8 is taken for UTF-8, and each piece's bytes are checked as polars reads its cells
    (a piece that is not raises NotUTF8); with `checked`, or when the start is not, the whole file is checked
    first (and re-encoded from GB18030).
    """
    size = piece_bytes or PIECE_BYTES
    if len(data) <= size or data[:4] in (XLSX_MAGIC, OLE_MAGIC):
        return None
    raw, first = _utf8(name, data, start_only=not checked)
    lazily = not checked and raw is data  # taken for UTF-8 from its start: each piece checks its own bytes
    if raw.find(b"\n") < 0 and raw.find(b"\r") >= 0:  # classic Mac line ends: the whole-file reader converts them
        return None
    header_end = _first_record_end(raw, first)
    if _NOT_SPACE.search(raw, header_end) is None:  # a header and nothing else
        return None
    header_lines = raw.count(b"\n", first, header_end)
    if piece_bytes is None:
        size = _piece_size(raw, header_end)
    ranges: list[tuple[int, int]] = []  # (start, end)
    start = header_end
    quoted = raw.find(b'"', header_end) >= 0  # else every newline ends a record: no quotes to count
    while start < len(raw):
        # The last stretch in quarter pieces: the pieces are typed two at a time, and the file's end waits for
        # its last one alone (a whole piece kept one core idle for ~30 ms).
        step = size if len(raw) - start > size + size // 2 else size // 4
        end, quotes, scanned = start + step, 0, start
        while True:
            end = raw.find(b"\n", min(end, len(raw)))
            if end < 0:
                end = len(raw)
                break
            quotes += raw.count(b'"', scanned, end) if quoted else 0
            scanned = end
            if quotes % 2 == 0:
                end += 1
                break
            end += 1
        ranges.append((start, end))
        start = end
    release(raw)
    # The physical lines of each piece, counted by the first thread that needs them: a piece counts its own
    # as it is read (in the threads that read pieces, instead of all before the first is read), and the
    # lines before it (those of the pieces before it, counted already unless their reading has not begun).
    counts: list[int | None] = [None] * len(ranges)
    short: list[bool] = [False] * len(ranges)  # whether no line of the piece is 2 steps of _newlines long
    locks = [threading.Lock() for _ in ranges]

    def lines_in(i: int, text: bytes | None = None, skip: int = 0) -> int:
        with locks[i]:
            if counts[i] is None and text is not None:
                counts[i], short[i] = _line_ends(text, skip, len(text))
            elif counts[i] is None:  # a piece before this one, whose reading has not begun
                counts[i] = _newlines(raw, *ranges[i])
                release(raw)
            return cast(int, counts[i])

    def piece(i: int) -> RawTable:
        start, end = ranges[i]
        with memoryview(raw) as view:  # one copy of the piece, not a slice and then the slice again
            text = b"".join((view[first:header_end], view[start:end]))
        release(raw)
        lines_in(i, text, header_end - first)
        offset = sum(lines_in(j) for j in range(i))
        try:
            table = _read_csv(name, text, short_lines=short[i])
        except Exception as error:
            # polars refuses a cell that is not UTF-8 (the header is the file's start, checked already): only a
            # piece it refuses is looked through, to tell bytes of another encoding from a problem of shape.
            if lazily and not _is_utf8(text):
                raise NotUTF8(name) from None
            if isinstance(error, Rejected):
                raise Rejected([_shifted(p, header_lines, offset) for p in error.problems], error.total) from None
            raise
        return RawTable(name, table.headers, table.frame, table.lines + offset, table.excel)

    return [functools.partial(piece, i) for i in range(len(ranges))]


def _piece_size(raw: bytes, header_end: int) -> int:
    """PIECE_BYTES, or up to four times that for a file of long lines (PIECE_LINE_BYTES), as the mean length of
    the lines in its first _LOOKED_AT bytes gives it."""
    end = min(len(raw), header_end + _LOOKED_AT)
    lines = raw.count(b"\n", header_end, end)
    if lines == 0:
        return PIECE_BYTES
    return int(PIECE_BYTES * min(4.0, max(1.0, ((end - header_end) / lines / PIECE_LINE_BYTES) ** 2)))


_NEWLINES_STEP: Final = 256 * 1024  # bytes compared at a time by _newlines, into a mask kept per thread
_scratch = threading.local()


def _newlines(data: bytes, start: int, end: int) -> int:
    """The newlines in data[start:end] (see _line_ends)."""
    return _line_ends(data, start, end)[0]


def _line_ends(data: bytes, start: int, end: int) -> tuple[int, bool]:
    """The newlines in data[start:end], and whether every _NEWLINES_STEP bytes of it hold one (then no line there
    is as long as two steps). Counted in place by numpy (a sixth of the time of bytes.count), a step at a time
    into a mask kept by the thread: a piece's whole 5 MiB mask, allocated and faulted in for every piece, made
    the count 1.4-3.1 ms a piece instead of 0.9-1.2."""
    mask = getattr(_scratch, "mask", None)
    if mask is None:
        mask = _scratch.mask = np.empty(_NEWLINES_STEP, np.bool_)
    count, every = 0, True
    with memoryview(data) as view:
        codes = np.frombuffer(view[start:end], np.uint8)
        for at in range(0, len(codes), _NEWLINES_STEP):
            part = codes[at:at + _NEWLINES_STEP]
            found = int(np.count_nonzero(np.equal(part, 0x0A, out=mask[:len(part)])))
            count, every = count + found, every and found > 0
            del part
        del codes  # before the view is released
    return count, every


def _shifted(problem: Problem, header_lines: int, offset: int) -> Problem:
    if problem.line is None or problem.line <= header_lines:
        return problem
    return replace(problem, line=problem.line + offset)


def _read_csv(name: str, raw: bytes, *, short_lines: bool = False) -> RawTable:
    """The cells of a CSV file given as UTF-8 bytes (the bytes go to polars as they are, never via a str).
    `short_lines`: no line after the header is as long as two steps of _newlines (known from counting them)."""
    if b"\r" in raw and b"\n" not in raw:  # classic Mac line ends
        raw = raw.replace(b"\r", b"\n")
    nul = raw.find(b"\x00")  # past the start a binary file is told by (utf8_bytes): a damaged or joined file
    if nul >= 0:
        line_start = raw.rfind(b"\n", 0, nul) + 1
        at = len(raw[line_start:nul].decode("utf-8", "replace")) + 1
        raise Rejected([Problem(name, raw.count(b"\n", 0, nul) + 1, None, "nul_byte", fields={"at": at})])
    if _has_bom(raw):  # a byte order mark after the start (two exports joined): no part of any cell's text
        raw = raw.replace(_BOM, b"")
    header_end = _first_record_end(raw)
    columns = raw.count(b",", 0, header_end) + 1
    if columns > MAX_COLUMNS:
        raise Rejected([Problem(name, 1, None, "too_many_columns", fields={"columns": columns, "limit": MAX_COLUMNS})])
    header_text = raw[:header_end].decode("utf-8")
    if len(header_text) > MAX_LINE_CHARS:
        raise Rejected([Problem(name, 1, None, "first_line_long", fields={"limit": MAX_LINE_CHARS})])
    try:
        headers = next(csv.reader(io.StringIO(header_text, newline="")), [])
    except csv.Error as error:
        raise Rejected([Problem(name, 1, None, "header_csv", fields={"error": str(error)})]) from None
    if not any(h.strip() for h in headers):
        raise Rejected([Problem(name, 1, None, "no_headers")])
    quoted, multiline = b'"' in raw, False
    frame = None
    if not quoted:  # read first: a text whose commas add up needs no pass over its lines
        with contextlib.suppress(pl.exceptions.PolarsError):  # a line of extra fields: named below
            frame = _cells(raw)
    if frame is None or not _even(raw, len(headers), frame, short_lines=short_lines):
        line_frame = _line_frame(raw)
        multiline = quoted and _has_multiline_field(line_frame)
        _check_ragged(name, raw, len(headers), line_frame, multiline)
        del line_frame
        if frame is None:
            try:
                frame = _cells(raw)
            except pl.exceptions.PolarsError as error:  # the shape checks above catch what a person would do
                raise Rejected([Problem(name, None, None, "csv_unreadable", fields={"error": str(error)})]) from None
    frame = frame.rename(dict(zip(frame.columns, [f"c{i}" for i in range(frame.width)], strict=True)))
    lines = _record_lines(raw, header_end, frame.height, multiline)
    # Blank lines come back as rows of nulls: drop them, keeping the lines of the rest. A column without a null
    # (known without a pass) shows there is none.
    if frame.width and all(column.null_count() for column in frame.iter_columns()):
        mask = frame.select((~pl.all_horizontal(pl.all().is_null())).alias("k")).to_series()
        if not mask.all():
            frame, lines = frame.filter(mask), lines.filter(mask)
    return RawTable(name, [h.strip() for h in headers], frame, lines)


_BOM: Final = "\ufeff".encode()
_BOM_LOOKS: Final = 64  # its first byte looked for this many times before the whole text is searched


def _has_bom(raw: bytes) -> bool:
    """Whether a byte order mark is in `raw`. Its first byte (\xef) begins only full-width forms in Chinese text, so
    it is looked for (memchr, ~0.1 ms a piece) and the bytes after it compared, a few times; `_BOM in raw` (a
    search for three bytes: ~6 ms a 9 MB piece) only when it is met more often."""
    at = raw.find(b"\xef")
    for _ in range(_BOM_LOOKS):
        if at < 0:
            return False
        if raw[at:at + 3] == _BOM:
            return True
        at = raw.find(b"\xef", at + 1)
    return _BOM in raw


def _cells(raw: bytes) -> pl.DataFrame:
    """Every cell of a CSV text as text (a line of more fields than the header raises)."""
    return pl.read_csv(raw, has_header=True, infer_schema=False, raise_if_empty=False)


def _even(raw: bytes, width: int, frame: pl.DataFrame, *, short_lines: bool = False) -> bool:
    """Whether the `frame` polars read from a CSV text with no quote characters has the header's `width` fields
    on every line and no line over MAX_LINE_CHARS, known without a pass over its lines: polars refuses a line
    of more fields than the header (on a text that ends with a newline: an empty extra field on a last line
    without one passes) and leaves the missing fields of a shorter one null, so when no value of the last
    column is missing, or the text holds `width - 1` commas a line, no line has fewer. When not, the
    lines are looked at one by one (a blank line counts as short here, and is fine there)."""
    if frame.width != width or not raw.endswith(b"\n"):  # polars lets an empty extra field pass on a last line
        return False  # without a newline
    # A line with a value in the last column has every field (the usual export: no comma count needed); a blank
    # line is a row of nulls here, with no comma: it makes the count short, as a short line does.
    if frame.height == 0 or frame.get_column(frame.columns[-1]).null_count():
        if raw.count(b",") != (width - 1) * (frame.height + 1):
            return False
    if frame.height and len(raw) > MAX_LINE_CHARS and not (short_lines and 2 * _NEWLINES_STEP <= MAX_LINE_CHARS):
        # A line's bytes: its cells' and its commas (and a \r). (The header line is bounded on its own.)
        if sum(frame.select(pl.all().str.len_bytes().max()).fill_null(0).row(0)) + width <= MAX_LINE_CHARS:
            return True  # no line can be longer than its columns' longest cells side by side
        longest = frame.select(pl.sum_horizontal(pl.all().str.len_bytes().fill_null(0)).max()).item()
        return longest + width <= MAX_LINE_CHARS
    return True


def _first_record_end(raw: bytes, start: int = 0) -> int:
    """Offset just after the header record that begins at `start` (quotes may hold newlines)."""
    end = raw.find(b"\n", start)
    if end < 0:
        return len(raw)
    if raw.count(b'"', start, end) % 2 == 0:  # the usual case: no newline inside quotes
        return end + 1
    quoted = False
    for i, byte in enumerate(raw[start: start + 4 * MAX_LINE_CHARS + 1]):
        if byte == 0x22:  # "
            quoted = not quoted
        elif byte == 0x0A and not quoted:  # \n
            return start + i + 1
    return len(raw)


_QUOTED: Final = r'"(?:[^"]|"")*"'
# A quoted field, then more than a separator (`"芒果"x,`), walked field by field from the line's start: a comma
# inside a quoted field (`"=HYPERLINK(""a"",""b"")"`) starts no field.
_AFTER_QUOTE: Final = r'^(?:[^",]*,|"(?:[^"]|"")*",)*"(?:[^"]|"")*"[^,"]'


def _line_frame(raw: bytes) -> pl.DataFrame:
    """The file's physical lines (text, line number), read with no quoting or splitting."""
    if b"\x1f" in raw:  # the separator polars reads lines with below; rare, so split in Python
        text = raw.decode("utf-8")
        lines = pl.DataFrame({"text": text.split("\n")[: text.count("\n") + (not text.endswith("\n"))]})
    else:
        lines = pl.read_csv(
            raw, has_header=False, separator="\x1f", quote_char=None, new_columns=["text"],
            infer_schema=False, raise_if_empty=False,
        )
    text = pl.col("text").fill_null("")
    return lines.select(
        text.str.strip_suffix("\r") if b"\r" in raw else text, line=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
    )


def _check_ragged(name: str, raw: bytes, width: int, line_frame: pl.DataFrame, multiline: bool) -> None:
    """Reject rows whose number of fields differs from the header's."""
    if multiline:
        problems = []
        reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
        next(reader, None)
        for record in reader:
            if record and len(record) != width:
                problems.append(_ragged(name, reader.line_num, len(record), width, ",".join(record)))
        if problems:
            raise Rejected(problems[:MAX_PROBLEMS])
        return
    lines = line_frame.slice(1)
    long = lines.filter(pl.col("text").str.len_bytes() > MAX_LINE_CHARS).filter(
        pl.col("text").str.len_chars() > MAX_LINE_CHARS)
    if long.height:
        raise Rejected([Problem(name, int(long["line"][0]), None, "line_long", fields={"limit": MAX_LINE_CHARS})])
    # Count commas on every line; only the lines with quotes (rare) need their quoted fields taken out first.
    text = pl.col("text")
    quoted = text.str.contains('"', literal=True) if b'"' in raw else pl.lit(False)
    suspects = lines.filter(
        (text.str.count_matches(",", literal=True) + 1 != width) | quoted
    ).with_columns(
        n=text.str.replace_all(_QUOTED, "").str.count_matches(",", literal=True) + 1
    )
    # Only an empty line is blank: one of spaces is a row of one field, as the csv module reads it too. A line with
    # text after a quoted field's closing quote is one polars refuses (with no line): said here, with its line.
    broken = text.str.contains(_AFTER_QUOTE) if b'"' in raw else pl.lit(False)
    counts = suspects.with_columns(broken=broken).filter((text != "") & ((pl.col("n") != width) | pl.col("broken")))
    if counts.height:
        raise Rejected([
            Problem(name, row["line"], None, "after_quote", value=row["text"]) if row["broken"]
            else _ragged(name, row["line"], row["n"], width, row["text"])
            for row in counts.head(MAX_PROBLEMS).iter_rows(named=True)
        ])


def _ragged(name: str, line: int, got: int, width: int, text: str) -> Problem:
    return Problem(name, line, None, "ragged", value=text, fields={"got": got, "width": width})


def _has_multiline_field(line_frame: pl.DataFrame) -> bool:
    """Whether some quoted field spans lines (an odd number of quotes on a line)."""
    odd = line_frame.select(
        (pl.col("text").str.count_matches('"', literal=True) % 2 == 1).any()
    ).item()
    return bool(odd)


def _record_lines(raw: bytes, header_end: int, n: int, multiline: bool) -> pl.Series:
    """Spreadsheet line of each data record: physical lines, counting newlines inside quoted fields."""
    header_lines = raw.count(b"\n", 0, header_end)
    if multiline:
        reader = csv.reader(io.StringIO(raw[header_end:].decode("utf-8"), newline=""))
        starts, previous = [], 0
        for _ in reader:
            starts.append(header_lines + previous + 1)
            previous = reader.line_num
        return pl.Series("line", starts[:n], dtype=pl.Int64)
    return pl.int_range(header_lines + 1, header_lines + 1 + n, dtype=pl.Int64, eager=True).alias("line")


# What Python's zipfile and zlib raise for a damaged or unusual zip (a version they do not read, a name not in it).
_BROKEN_ZIP: Final = (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, ValueError, KeyError,
                      struct.error)


def _check_zip(name: str, data: bytes) -> None:
    """Refuse a workbook whose zip would unpack to more than the limits (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except _BROKEN_ZIP as error:
        raise Rejected([Problem(name, None, None, "xlsx_unreadable", fields={"error": str(error)})]) from None
    if unpacked > MAX_XLSX_UNPACKED or unpacked > MAX_XLSX_RATIO * max(len(data), 1):
        raise Rejected([Problem(name, None, None, "zip_bomb", fields={"unpacked": unpacked, "packed": len(data)})])


class _TooLarge(Exception):
    """Raised by an _Inflated stream past its cap."""


class _Inflated(io.RawIOBase):
    """A zip member's bytes, inflated from where its data starts until its deflate stream ends, whatever sizes
    the zip declares (they may lie: a reader that trusts them stops early, while another inflates all), and
    counted: past `cap` bytes it raises _TooLarge."""

    def __init__(self, data: bytes, info: zipfile.ZipInfo, cap: int):
        header = data[info.header_offset:info.header_offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {info.filename}")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        self._data, self._at = data, info.header_offset + 30 + name_length + extra_length
        self.left = cap
        if info.compress_type == zipfile.ZIP_STORED:
            self._inflate, self._end = None, min(len(data), self._at + info.compress_size)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            self._inflate, self._end = zlib.decompressobj(-15), len(data)
        else:
            raise zipfile.BadZipFile(f"{info.filename} is compressed in a way Excel does not write")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        want = min(len(buffer), 1024 * 1024)
        if self._inflate is None:
            chunk = self._data[self._at:min(self._end, self._at + want)]
            self._at += len(chunk)
        else:
            chunk = b""
            while not chunk and not self._inflate.eof and (self._at < self._end or self._inflate.unconsumed_tail):
                source = self._inflate.unconsumed_tail or self._data[self._at:self._at + 64 * 1024]
                if not self._inflate.unconsumed_tail:
                    self._at += len(source)
                chunk = self._inflate.decompress(source, want)
        self.left -= len(chunk)
        if self.left < 0:
            raise _TooLarge
        buffer[:len(chunk)] = chunk
        return len(chunk)


_SHEET: Final = re.compile(r"xl/worksheets/[^/]+\.xml")
_MAIN_NS: Final = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _column_number(cell: str) -> int:
    """1 for the A of `A7`, 27 for the AA of `AA7`."""
    number = 0
    for letter in cell:
        if not "A" <= letter <= "Z":
            break
        number = number * 26 + ord(letter) - 64
    return number


def _check_xlsx(name: str, data: bytes) -> None:
    """Read a workbook's zip as it will be read, under the limits: every member inflated (not its declared size)
    within MAX_XLSX_UNPACKED and MAX_XLSX_RATIO, no sheet row past MAX_COLUMNS, and no formula cell without a
    value Excel computed (a workbook written by a program holds none, or 0, until it is opened and saved)."""
    cap = min(MAX_XLSX_UNPACKED, MAX_XLSX_RATIO * max(len(data), 1))
    formulas: list[Problem] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            # fullCalcOnLoad: the writer asks for every formula to be computed when opened (none was).
            workbook = b""
            if "xl/workbook.xml" in names:
                workbook = _Inflated(data, archive.getinfo("xl/workbook.xml"), 16 * 1024 * 1024).read()
            uncomputed = re.search(rb'fullCalcOnLoad="(1|true)"', workbook) is not None
            for info in archive.infolist():
                member = _Inflated(data, info, cap)
                if _SHEET.fullmatch(info.filename):
                    _check_sheet(name, io.BufferedReader(member, 1024 * 1024), uncomputed, formulas)
                else:
                    while member.read(1024 * 1024):
                        pass
                cap = member.left
    except _TooLarge:
        raise Rejected([Problem(name, None, None, "zip_bomb_more", fields={
            "limit": min(MAX_XLSX_UNPACKED, MAX_XLSX_RATIO * len(data)), "packed": len(data)})]) from None
    except (*_BROKEN_ZIP, ET.ParseError, LookupError) as error:  # LookupError: an XML encoding unknown
        raise Rejected([Problem(name, None, None, "xlsx_unreadable", fields={"error": str(error)})]) from None
    if formulas:
        raise Rejected(formulas[:MAX_PROBLEMS], len(formulas))


def _check_sheet(name: str, stream: io.BufferedReader, uncomputed: bool, formulas: list[Problem]) -> None:
    """The rows of one sheet's XML, streamed: none wider than MAX_COLUMNS; formula cells without a computed value
    added to `formulas`."""
    parent = None
    for event, element in ET.iterparse(stream, events=("start", "end")):
        if event == "start":
            if element.tag == f"{_MAIN_NS}sheetData":
                parent = element
            continue
        if element.tag == f"{_MAIN_NS}c":
            formula = element.find(f"{_MAIN_NS}f")
            if formula is not None:
                value = element.find(f"{_MAIN_NS}v")
                if uncomputed or value is None or not (value.text or "").strip():
                    cell = element.get("r", "?")
                    row = re.sub(r"^[A-Z]+", "", cell)
                    formulas.append(Problem(name, int(row) if row.isdigit() else None, None, "formula",
                                            fields={"cell": cell}))
        elif element.tag == f"{_MAIN_NS}row":
            last = element[-1].get("r", "") if len(element) else ""
            width = max(len(element), _column_number(last))
            if width > MAX_COLUMNS:
                raise Rejected([Problem(name, int(element.get("r", "0")) or None, None, "too_many_columns",
                                        fields={"columns": width, "limit": MAX_COLUMNS})])
            element.clear()
            if parent is not None:
                parent.remove(element)


# The rows of a workbook's sheet looked at for its header row: a title line or two may come first.
HEADER_ROWS: Final = 10
_SECTION: Final = r"^\s*[【\[][^】\]]*[】\]]\s*$"  # a cell that is only a bracketed label: 【核心指标】


def _read_xlsx(name: str, data: bytes) -> RawTable:
    """The cells of a workbook: of the sheet, and from the header row, whose headers fit a kind best (a title line
    may come before it; a cell that is only a bracketed label such as 【核心指标】 is no header, and a row of
    such labels alone is no data); the first sheet's first row when none fits."""
    chosen: tuple[float, pl.DataFrame, int, list[str]] | None = None
    for raw in _sheets(name, data).values():
        for row in range(min(HEADER_ROWS, raw.height)):
            headers = [_header_cell(cell) for cell in raw.row(row)]
            if not any(headers):
                continue
            score = _header_fit(headers)
            if chosen is None or score > chosen[0]:  # ties keep the first: with no fit, the first sheet's first row
                chosen = (score, raw, row, headers)
    if chosen is None:
        raise Rejected([Problem(name, 1, None, "no_header_row")])
    _, raw, row, headers = chosen
    return _below(name, raw, row, headers)


def _sheets(name: str, data: bytes) -> dict[str, pl.DataFrame]:
    """Every sheet of a workbook, by name, as text cells (checked against the limits first)."""
    _check_zip(name, data)
    _check_xlsx(name, data)
    try:
        sheets = pl.read_excel(io.BytesIO(data), sheet_id=0, has_header=False, infer_schema_length=0,
                               drop_empty_rows=False, drop_empty_cols=False, raise_if_empty=False)
    except Exception as error:  # fastexcel raises its own types for corrupt workbooks
        raise Rejected([Problem(name, None, None, "xlsx_unreadable", fields={"error": str(error)})]) from None
    return {sheet: raw.with_columns(pl.all().cast(pl.String)) for sheet, raw in sheets.items()}


def _below(name: str, raw: pl.DataFrame, row: int, headers: list[str]) -> RawTable:
    """The rows of a sheet below its header row `row`: rows of nothing, or of section labels alone, are no data."""
    frame = raw.slice(row + 1)
    frame = frame.rename(dict(zip(frame.columns, [f"c{i}" for i in range(frame.width)], strict=True)))
    lines = pl.int_range(row + 2, row + 2 + frame.height, dtype=pl.Int64, eager=True).alias("line")
    if frame.width:
        cell = pl.all()
        keep = frame.select((~pl.all_horizontal(cell.is_null() | cell.str.contains(_SECTION))).alias("k")).to_series()
        frame, lines = frame.filter(keep), lines.filter(keep)
    return RawTable(name, headers, frame, lines, excel=True)


@dataclass
class LiveWorkbook:
    """A platform's workbook of one live session (抖店/罗盘's 直播复盘): the session, as one row of its summary
    sheets' keys and values, and the per-product totals of its products sheet (None when it has none)."""

    session: RawTable
    products: RawTable | None
    sheets: dict[str, str]  # sheet name -> what was read from it: "session", "products" or "" (nothing)


# A workbook is one session's when its summary sheets give it this many of the sessions' columns as key/value pairs
# (a key cell, its value in the next cell: 开播时间 | 2024-10-17 19:00), a start time among them.
LIVE_WORKBOOK_KEYS: Final = 3


def live_workbook(name: str, data: bytes) -> LiveWorkbook | None:
    """A workbook of one live session, read from every sheet by what it holds, never by its name or place: the
    session from key/value rows (under `【…】` section rows) and from header rows with one row of values below
    them (a metrics sheet); its products from the sheet whose headers are a products sheet's (a session_totals
    export shape, schema.EXPORT_SHAPES). None for any other workbook (or file)."""
    if data[:4] != XLSX_MAGIC:
        return None
    sheets = _sheets(name, bytes(data))
    aliases = schema.alias_table("sessions")
    products: tuple[str, int, list[str]] | None = None
    for sheet, raw in sheets.items():
        for row in range(min(HEADER_ROWS, raw.height)):
            headers = [_header_cell(cell) for cell in raw.row(row)]
            shaped = _map_shape(headers, "sales") if any(headers) else None
            if shaped is not None and _shape(shaped).basis == "session_totals" and products is None:
                products = (sheet, row, headers)
                break
    found: dict[str, tuple[str, str, int, str]] = {}  # canonical -> (header, value, line, sheet)
    problems: list[Problem] = []
    paired = 0
    read_from: dict[str, str] = {sheet: "" for sheet in sheets}
    for sheet, raw in sheets.items():
        if products is not None and sheet == products[0]:
            read_from[sheet] = "products"
            continue
        for header, value, line, pair in _session_cells(raw, aliases):
            canonical = aliases[schema.normalise_header(header)[0]]
            paired += pair
            read_from[sheet] = "session"
            held = found.get(canonical)
            if held is None:
                found[canonical] = (header, value, line, sheet)
            elif _plain(held[1]) != _plain(value):
                problems.append(Problem(f"{name} › {sheet}", line, header, "workbook_disagrees", fields={
                    "said": _clip(value), "sheet": held[3], "line": held[2], "other": _clip(held[1]),
                    "header": held[0]}))
    if paired < LIVE_WORKBOOK_KEYS or "started_at" not in found:
        return None
    if problems:
        raise Rejected(problems[:MAX_PROBLEMS])
    headers = [header for header, _, _, _ in found.values()]
    frame = pl.DataFrame({f"c{i}": [value] for i, (_, value, _, _) in enumerate(found.values())},
                         schema={f"c{i}": pl.String for i in range(len(found))})
    first = min(line for _, _, line, _ in found.values())
    session = RawTable(name, headers, frame, pl.Series("line", [first], pl.Int64), excel=True)
    table = None
    if products is not None:
        sheet, row, product_headers = products
        table = _below(f"{name} › {sheet}", sheets[sheet], row, product_headers)
    return LiveWorkbook(session, table, read_from)


def _session_cells(raw: pl.DataFrame, aliases: dict[str, str]) -> Iterator[tuple[str, str, int, bool]]:
    """The sessions' columns a sheet gives, as (header, value, spreadsheet line, whether a key/value pair): a key
    cell with its value in the next cell, or a header row of keys with the one row of values below it."""
    rows = [[(cell or "").strip() for cell in raw.row(i)] for i in range(raw.height)]

    def known(cell: str) -> bool:
        return bool(cell) and schema.normalise_header(cell)[0] in aliases

    filled = [i for i, cells in enumerate(rows) if any(c and not re.fullmatch(_SECTION, c) for c in cells)]
    for at, i in enumerate(filled):
        cells = rows[i]
        keys = [j for j, cell in enumerate(cells) if known(cell)]
        if any(j + 1 in keys for j in keys):  # keys side by side: a header row, whose values are the next row's
            # (when that is the sheet's last row of values: a table of several rows is no one session's)
            below = rows[filled[at + 1]] if at + 1 < len(filled) else None
            if below is not None and at + 2 == len(filled) and not any(known(c) for c in below):
                for j in keys:
                    if j < len(below) and below[j] not in _BLANK:
                        yield cells[j], below[j], filled[at + 1] + 1, False
            continue
        for j in keys:
            if j + 1 < len(cells) and cells[j + 1] not in _BLANK and not known(cells[j + 1]):
                yield cells[j], cells[j + 1], i + 1, True


def _plain(value: str) -> str:
    """A value as compared between two sheets: without money signs, thousands separators and spaces."""
    return re.sub(r"[¥￥,，\s]", "", value)


def _shape(mapping: Mapping) -> schema.Shape:
    """The export shape a mapping was recognised as."""
    return next(shape for shape in schema.EXPORT_SHAPES if shape.name == mapping.shape)


def _header_cell(cell: str | None) -> str:
    """A workbook cell as a header: a bracketed label alone (【基础信息】) or nothing is no header."""
    text = (cell or "").strip()
    return "" if re.fullmatch(_SECTION, text) else text


def _header_fit(headers: list[str]) -> float:
    """How well a row of cells fits as a file's headers: a platform's export, else the best fit of any kind."""
    if _map_shape(headers, None) is not None:
        return float("inf")
    return max(_fit(_map_headers(headers, kind)) for kind in KINDS)


# ---------------------------------------------------------------------------------------------
# Headers -> kind


def detect(table: RawTable, kind: str | None = None) -> Mapping:
    """The kind of a file from its headers (or `kind` when given), and its header mapping."""
    if kind is not None and kind not in KINDS:
        raise Rejected([Problem(table.name, None, None, "kind_given", fields={"given": kind, "kinds": list(KINDS)})])
    shaped = _map_shape(table.headers, kind)
    if shaped is not None:
        _check_duplicates(table, shaped)
        return shaped
    candidates = [kind] if kind else list(KINDS)
    scored = []
    for k in candidates:
        mapping = _map_headers(table.headers, k)
        scored.append((_fit(mapping), mapping))
    if kind is None:
        scored.sort(key=lambda s: s[0], reverse=True)
        best_score, best = scored[0]
        if best_score <= 0:
            raise Rejected([Problem(  # the headers found as the problem's value: `watch` logs no values
                table.name, 1, None, "no_kind", value=", ".join(table.headers[:12]),
                fields={"kinds": list(KINDS), "closest": _closest(scored)},
            )])
        ties = [m.kind for s, m in scored if s == best_score]
        if len(ties) > 1:
            raise Rejected([Problem(table.name, 1, None, "several_kinds", fields={"kinds": ties})])
        mapping = best
    else:
        mapping = scored[0][1]
    _check_duplicates(table, mapping)
    return mapping


def _map_shape(headers: list[str], kind: str | None) -> Mapping | None:
    """The mapping of a platform's own export (schema.EXPORT_SHAPES) whose signature headers the file holds: its
    headers as the shape names them, then the generic aliases for columns it leaves unnamed; None for no shape."""
    normalised = [schema.normalise_header(h) for h in headers]
    present = {norm for norm, _ in normalised}
    for shape in schema.EXPORT_SHAPES:
        if kind not in (None, shape.kind):
            continue
        if not all(schema.normalise_header(h)[0] in present for h in shape.signature):
            continue
        exact = {schema.exact_header(h): c for h, c in shape.columns.items()}
        stems = Counter(schema.normalise_header(h)[0] for h in shape.columns)
        loose = {schema.normalise_header(h)[0]: c for h, c in shape.columns.items()
                 if stems[schema.normalise_header(h)[0]] == 1}  # a stem two of its headers share names neither
        named = {*stems, *(schema.normalise_header(h)[0] for h in shape.ignored)}
        aliases = schema.alias_table(shape.kind)
        columns: dict[str, int] = {}
        scales: dict[str, int] = {}
        taken: list[str | None] = [None] * len(headers)
        # The shape's headers as written first, then by their stems, then the generic aliases for the headers
        # the shape does not name.
        as_written = [schema.exact_header(h) for h in headers]
        stem = [norm for norm, _ in normalised]
        unnamed = [None if norm in named else norm for norm in stem]
        for table, keys in ((exact, as_written), (loose, stem), (aliases, unnamed)):
            for i, key in enumerate(keys):
                canonical = table.get(key) if taken[i] is None and key is not None else None
                if canonical is not None and canonical not in columns:
                    columns[canonical], scales[canonical] = i, normalised[i][1]
                    taken[i] = canonical
        return Mapping(shape.kind, columns, scales, list(zip(headers, taken, strict=True)), shape.name)
    return None


def _map_headers(headers: list[str], kind: str) -> Mapping:
    aliases = schema.alias_table(kind)
    columns: dict[str, int] = {}
    scales: dict[str, int] = {}
    sources: list[tuple[str, str | None]] = []
    for i, header in enumerate(headers):
        norm, scale = schema.normalise_header(header)
        canonical = aliases.get(norm)
        sources.append((header, canonical))
        if canonical is not None and canonical not in columns:
            columns[canonical] = i
            scales[canonical] = scale
    return Mapping(kind, columns, scales, sources)


_SIGNATURE: Final[dict[str, tuple[str, ...]]] = {
    # columns that make a file look like this kind, beyond sharing generic ones
    "sessions": ("started_at", "host_kind", "peak_viewers", "duration", "ended_at", "title"),
    "ticks": ("ts", "viewers_online", "viewers_cum", "orders_cum", "gmv_cum", "views_cum", "entries"),
    "sales": ("product", "quantity", "amount", "order_id", "line_id", "unit_price", "order_status"),
    "stock": ("unsold_qty", "as_of", "unsold_value", "households", "unit_price"),
    "catalogue": ("sku", "product_id", "listing", "pack", "village", "product"),
}


# What a file must hold to be taken for a kind: each entry is a set of columns of which it needs one.
_NEEDS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "sessions": (("started_at", "host_kind"),),
    "ticks": (("ts",), schema.TICK_MEASURES),
    "sales": (("product",), ("quantity", "amount", "unit_price")),
    "stock": (("unsold_qty",),),
    "catalogue": (("village",), ("product",), ("sku", "product_id", "listing")),
}


def _fit(mapping: Mapping) -> float:
    """How well a file's headers fit a kind: 0 when it lacks a column the kind needs (_NEEDS)."""
    cols = mapping.columns
    if _lacking(mapping):
        return 0
    return sum(1 for c in _SIGNATURE[mapping.kind] if c in cols) * 2 + len(cols)


def _lacking(mapping: Mapping) -> list[tuple[str, ...]]:
    """The sets of columns of which the file holds none, though its kind needs one of each."""
    return [one_of for one_of in _NEEDS[mapping.kind] if not any(c in mapping.columns for c in one_of)]


def _closest(scored: list[tuple[float, Mapping]]) -> Phrase | None:
    """Which kind a file of no known kind comes closest to, and what it misses (None when none is close: two
    of its headers at least must be a kind's)."""
    near = [m for _, m in scored if len(m.columns) >= 2]
    if not near:
        return None
    best = max(near, key=lambda m: len(m.columns) - len(_lacking(m)))
    missing = [[(c, list(schema.field(best.kind, c).aliases[:3])) for c in one_of[:3]] for one_of in _lacking(best)]
    return Phrase("closest", {"kind": best.kind, "missing": missing})


def _check_duplicates(table: RawTable, mapping: Mapping) -> None:
    seen: dict[str, str] = {}
    problems = []
    for i, (header, canonical) in enumerate(mapping.sources):
        key = canonical or f"?{schema.exact_header(header)}"  # 技术服务费(…) is another column than 技术服务费
        if key == "?":  # a column without a header (a workbook's empty cell) is no column to give twice
            continue
        if key in seen:
            problems.append(Problem(
                table.name, 1, header, "duplicate_column" if canonical else "duplicate_header",
                fields={"header": header, "position": i + 1, "other": seen[key], "canonical": canonical},
            ))
        else:
            seen[key] = header
    if problems:
        raise Rejected(problems)


# ---------------------------------------------------------------------------------------------
# Value parsers. Each takes a String Series and returns Series: the value, and `bad` marking cells
# that are present but not understood. The forms platforms write most (plain numbers, ISO-like
# times) take a fast path; the general one, regular expressions over every form, runs only on
# the cells left over, so a million plain cells cost what the parse itself costs.

# Digits are 0-9 only (`\d` is any script's digit, which polars' casts then refuse); full-width ones, as a Chinese
# input method types them (`５９`), are made plain by NFKC first, and any other digit is not a number.
_NUMBER: Final = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(万|亿|w|W|%|k|K)?$"
_PLAIN_NUMBER: Final = r"^[0-9]{1,15}(?:\.[0-9]{1,9})?$"
_RANGE: Final = r"\d\s*(?:万|w|W|亿|k|K|元)?\s*(?:~|～|—|–|至|到|-)\s*[¥￥]?\s*\d"
_CLEAN: Final = r"[,，\s¥￥]|元$|RMB$|rmb$"


def _present(series: pl.Series) -> pl.Series:
    return (series.is_not_null() & (series.str.strip_chars() != "")).alias("present")


def const(value: object, n: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """A Series of `n` copies of `value` (made from one, without the query pl.repeat runs: 0.004 ms, not 0.14)."""
    return pl.Series("literal", [value], dtype=dtype).new_from_index(0, n)


def _eval(series: pl.Series, **exprs: pl.Expr) -> pl.DataFrame:
    """Evaluate expressions over `series` (as column `c`) in one pass."""
    return pl.DataFrame({"c": series.cast(pl.String)}).select(**exprs)


def _patch(base: pl.Series, mask: pl.Series, values: pl.Series) -> pl.Series:
    """`base` with the cells where `mask` holds replaced by `values` (which has one value per such cell)."""
    if len(values) == 0:
        return base
    return base.scatter(mask.arg_true(), values)


def parse_number(series: pl.Series, *, scale: int = 0, kind: str = schema.QTY) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Numbers as the platforms write them: (value, bad, negative).

    `12,345`, `1.2万`, `3亿`, `1.2w`, `¥1,234.50`, `元`, `12.3%`; `scale` is the header's power of ten.
    MONEY gives Int64 fen (exact, half-up); COUNT gives Int64 and marks fractions as bad; QTY Float64.
    """
    series = series.cast(pl.String)
    whole = None
    if kind != schema.MONEY and scale >= 0:
        # A column of whole numbers (most counts and quantities) is read by polars' integer parse alone, even of
        # few distinct cells: half the time of finding and parsing those (0.6 against 1.3 ms a piece of 43k).
        whole = _whole_numbers(series, scale=scale, kind=kind)
        if whole[1].all():
            return _parse_number_cells(series, scale=scale, kind=kind, whole=whole)
    if len(series) > _SAMPLE and series.head(_SAMPLE).n_unique() <= _FEW:
        return _parse_number_few(series, scale=scale, kind=kind)
    return _parse_number_cells(series, scale=scale, kind=kind, whole=whole)


def _parse_number_few(series: pl.Series, *, scale: int, kind: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """parse_number of a column of few distinct cells (quantities, prices): each distinct cell parsed once, then
    every cell given its distinct cell's results through its index among them (an Enum of them)."""
    distinct, at = _by_distinct(series)
    if distinct.len() > _MANY_KEPT:
        value, bad, negative = _parse_number_cells(distinct, scale=scale, kind=kind)
    else:
        value, bad, negative = _parse_numbers(tuple(distinct.to_list()), scale, kind)
    if not bad.any() and not negative.any():  # the usual column
        return value.gather(at), const(False, len(series), pl.Boolean), const(False, len(series), pl.Boolean)
    return value.gather(at), bad.gather(at).fill_null(False), negative.gather(at).fill_null(False)


def _by_distinct(cells: pl.Series) -> tuple[pl.Series, pl.Series]:
    """A text column's distinct cells but null, sorted (so that the pieces of a file that hold the same find
    them parsed), and each cell's index among them (an Enum of them; null for a null cell): parse the few
    distinct cells, then gather their results by index."""
    distinct = cells.unique().drop_nulls().sort()
    return distinct, cells.cast(pl.Enum(distinct)).to_physical()


@functools.lru_cache(maxsize=64)
def _parse_numbers(distinct: tuple[str, ...], scale: int, kind: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """_parse_number_cells of a few distinct cells, kept: the pieces of a file often hold the same (quantities)."""
    return _parse_number_cells(pl.Series("c", distinct, pl.String), scale=scale, kind=kind)


def _parse_number_cells(series: pl.Series, *, scale: int, kind: str,
                        whole: tuple[pl.Series, pl.Series] | None = None) -> tuple[pl.Series, pl.Series, pl.Series]:
    """parse_number of each cell (`whole`: _whole_numbers of them, when already taken)."""
    if kind == schema.MONEY or scale < 0:
        return _parse_number_text(series, scale=scale, kind=kind)
    value, quick = whole or _whole_numbers(series, scale=scale, kind=kind)
    if quick.all():
        return value, const(False, len(series), pl.Boolean), const(False, len(series), pl.Boolean)
    rest = ~quick
    other, bad, negative = _parse_number_text(series.filter(rest), scale=scale, kind=kind)
    return (_patch(pl.select(pl.when(pl.lit(quick)).then(pl.lit(value))).to_series(), rest, other),
            _patch(const(False, len(series), pl.Boolean), rest, bad),  # (_patch writes into its base)
            _patch(const(False, len(series), pl.Boolean), rest, negative))


def _whole_numbers(series: pl.Series, *, scale: int, kind: str) -> tuple[pl.Series, pl.Series]:
    """(value, quick) of COUNT or QTY cells (`scale` 0 or more) read by polars' integer parse, which takes digits
    with a sign at most: the values the text forms give them, within the plain form's 15 digits and 64 bits
    once scaled; `quick` marks the cells so read (the others are to be read as text)."""
    whole = series.cast(pl.Int64, strict=False)
    quick = ((whole >= 0) & (whole <= min(10**15 - 1, (2**63 - 1) // 10**scale))).fill_null(False)
    if kind == schema.QTY:
        return pl.select(pl.lit(whole).cast(pl.Float64) * pl.lit(10.0).pow(float(scale))).to_series(), quick
    return whole * 10**scale, quick


def _parse_number_text(series: pl.Series, *, scale: int, kind: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """parse_number of cells as text: the plain form in a few vectorised steps, then every form the rest."""
    plain = series.str.contains(_PLAIN_NUMBER).fill_null(False)
    value, bad = _plain_value(series.filter(plain), scale=scale, kind=kind)
    out_dtype = pl.Float64 if kind == schema.QTY else pl.Int64
    negatives = const(False, len(series), pl.Boolean)
    if len(value) == len(series):  # the usual column: every cell a plain number
        return value, bad, negatives
    present = _present(series)
    result = _patch(const(None, len(series), out_dtype), plain, value)
    bads = _patch(const(False, len(series), pl.Boolean), plain, bad)
    rest = present & ~plain
    if rest.any():
        g = (series.filter(rest).str.normalize("NFKC").str.strip_chars().str.replace_all(_CLEAN, "")
             .str.extract_groups(_NUMBER).struct.unnest())
        ok = g["2"].is_not_null()
        v, b, n = _number_value(sign=g["1"], whole=g["2"], frac=g["3"], suffix=g["4"], scale=scale, kind=kind)
        result = _patch(result, rest, v)
        bads = _patch(bads, rest, (b | ~ok).fill_null(True))
        negatives = _patch(negatives, rest, n.fill_null(False))
    result = pl.select(pl.when(~bads).then(pl.lit(result))).to_series()
    return result, bads, negatives & ~bads


_EXACT: Final = pl.Decimal(38, 9)  # holds every plain number (15 digits, 9 decimals) exactly


def _plain_value(cells: pl.Series, *, scale: int, kind: str) -> tuple[pl.Series, pl.Series]:
    """(value, bad) of cells that are plain numbers (_PLAIN_NUMBER), as _number_value gives them (a number of
    more than 18 digits is bad), in a few vectorised steps: exact decimals for money and counts, digits times
    a power of ten for quantities."""
    power = scale + (2 if kind == schema.MONEY else 0)
    if kind != schema.QTY and power < 0:  # a header in 分 over counts (rare): digits and exponent, as in general
        parts = cells.str.split_exact(".", 1).struct.unnest()
        value, bad, _ = _number_value(
            sign=const("", len(parts), pl.String), whole=parts["field_0"], frac=parts["field_1"],
            suffix=const(None, len(parts), pl.String), scale=scale, kind=kind)
        return pl.select(pl.when(~bad).then(pl.lit(value))).to_series(), bad
    c = pl.col("c")
    n, dot = c.str.len_bytes(), c.str.find(".", literal=True)
    if kind != schema.QTY and (cells.str.len_bytes().max() or 0) <= 19:  # type: ignore[operator]
        bad = pl.lit(False)  # no cell of 19 bytes or fewer has more than 18 digits (15 at most without a dot)
    else:
        bad = (n - dot.is_not_null().cast(pl.UInt32)) > 18
    if kind == schema.QTY:
        decimals = (n - 1 - dot).fill_null(0).cast(pl.Int64)
        digits = c.str.replace(".", "", literal=True).cast(pl.Int64, strict=False)
        value = digits.cast(pl.Float64) * pl.lit(10.0).pow((scale - decimals).cast(pl.Float64))
    elif kind == schema.MONEY:  # fen, half up
        value = (c.cast(_EXACT) * 10 ** power + pl.lit(0.5).cast(_EXACT)).floor().cast(pl.Int64, strict=False)
    else:  # a count: a whole number once scaled
        scaled = c.cast(_EXACT) * 10 ** power
        value = scaled.floor().cast(pl.Int64, strict=False)
        bad = bad | (scaled.floor() != scaled)
    out = pl.DataFrame({"c": cells}).select(value=value, bad=bad)
    value, bad = out["value"], out["bad"]
    if bad.any() or bad.null_count() or value.null_count():  # not the usual column: every cell a number
        bad = (bad | value.is_null()).fill_null(True)
        value = pl.select(value=pl.when(~pl.lit(bad)).then(pl.lit(value))).to_series()
    return value, bad


def _number_value(*, sign: pl.Series, whole: pl.Series, frac: pl.Series, suffix: pl.Series, scale: int,
                  kind: str) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Exact value from a number's parts: Int64 fen for money, Int64 for counts, Float64 for quantities."""
    frame = pl.DataFrame({"sign": sign, "whole": whole, "frac": frac, "suffix": suffix})
    frac_e = pl.col("frac").fill_null("")
    digits = pl.col("whole").fill_null("") + frac_e
    mantissa = pl.when((digits.str.len_chars() > 0) & (digits.str.len_chars() <= 18)).then(digits).cast(
        pl.Int64, strict=False)
    exponent = (
        pl.lit(scale + (2 if kind == schema.MONEY else 0), dtype=pl.Int64)
        + pl.col("suffix").replace_strict(schema.NUMBER_SUFFIXES, default=0, return_dtype=pl.Int64)
        - frac_e.str.len_chars().cast(pl.Int64)
    )
    step = frame.with_columns(m=mantissa, e=exponent)
    m, e = pl.col("m"), pl.col("e")
    if kind == schema.QTY:
        value, exact = m.cast(pl.Float64) * pl.lit(10.0).pow(e.cast(pl.Float64)), pl.lit(True)
    else:
        up = pl.lit(10, dtype=pl.Int64).pow(e.clip(0, 18))
        down = pl.lit(10, dtype=pl.Int64).pow((-e).clip(0, 18))
        if kind == schema.MONEY:
            value, exact = pl.when(e >= 0).then(m * up).otherwise((m + down // 2) // down), pl.lit(True)
        else:
            value = pl.when(e >= 0).then(m * up).otherwise(m // down)
            exact = (e >= 0) | (m % down == 0)
    minus = pl.col("sign") == "-"
    out = step.select(
        value=pl.when(minus).then(-value).otherwise(value),
        bad=(m.is_null() | ~exact).fill_null(True),
        negative=(minus & (m > 0)).fill_null(False),
    )
    return out["value"], out["bad"], out["negative"]


def number_message(value: str, kind: str) -> str:
    """Why a cell is not a number of `kind`, in words a person can act on (a key of i18n.PROBLEMS)."""
    if re.search(_RANGE, value):
        return "number_range"
    plain = unicodedata.normalize("NFKC", value)
    if any(c.isdigit() and not "0" <= c <= "9" for c in plain):
        return "number_digits"
    if kind == schema.COUNT and re.fullmatch(r"[0-9,，.\s]+(万|w|W|亿)?", plain.strip()):
        return "not_whole"
    return "not_a_number"


# Times outside these years are refused: a misread column (or a typo) rather than a sale; within them every time
# is stored and shown as it was written, before 1970 too.
EARLIEST_MS: Final = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp() * 1000) - 86_400_000
LATEST_MS: Final = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp() * 1000)

# Formats tried first, in order, on the cells still unparsed (chrono accepts 9 for 09).
_FAST_TIMES: Final = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")
_DATETIME: Final = (
    r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_TIME_OF_DAY: Final = r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$"


def parse_time(series: pl.Series, *, tz: str = DEFAULT_TZ, excel: bool = False) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Instants as the platforms write them: (epoch ms UTC, time-of-day ms for `19:01` cells, bad).

    `2020-09-06 19:01:00`, `2020/9/6 19:01`, `2020年9月6日 19:01`, `20200906`, ISO 8601 with offset,
    epoch seconds or milliseconds, Excel serial days in XLSX. Naive times are in `tz`. An empty mark
    (EMPTY_MARKS: 抖店's `-` for a payment not made) is empty, as a blank cell is.
    """
    cells = series.cast(pl.String)
    # Without polars' cache of parsed values: an export's times are nearly all distinct (3.4 -> 1.9 ms a piece).
    ms = local_ms(cells.str.to_datetime(_FAST_TIMES[0], time_unit="ms", strict=False, cache=False), tz)
    n = len(cells)
    no_tod, no_bad = const(None, n, pl.Int64), const(False, n, pl.Boolean)
    if ms.null_count() == cells.null_count():  # the usual column: every cell in the first form, a time of the zone
        return ms, no_tod, no_bad
    # The other cells alone: blanks and empty marks mostly, a few other forms.
    rest = ms.is_null() & cells.is_not_null()
    text = cells.filter(rest).str.strip_chars()
    dated = _present(text) & ~text.is_in(EMPTY_MARKS)
    if not dated.any():
        return ms, no_tod, no_bad
    rest_ms, tod, bad = _parse_time_text(text, dated, tz, excel)
    return _patch(ms, rest, rest_ms), _patch(no_tod, rest, tod), _patch(no_bad, rest, bad)


def _parse_time_text(text: pl.Series, dated: pl.Series, tz: str, excel: bool) -> tuple[pl.Series, pl.Series, pl.Series]:
    """parse_time of cells not in the first form, without spaces at their ends: those `dated` (neither blank nor
    an empty mark) in the other quick forms, then in every form."""
    n = len(text)
    naive = const(None, n, pl.Datetime("ms"))
    for fmt in _FAST_TIMES:
        todo = naive.is_null() & dated
        if not todo.any():
            break
        parsed = text.filter(todo).str.to_datetime(fmt, time_unit="ms", strict=False, cache=False)
        naive = _patch(naive, todo, parsed)
    ms = local_ms(naive, tz)
    tod = const(None, n, pl.Int64)
    rest = dated & ms.is_null()
    if rest.any():
        general = _eval(text.filter(rest), ms=_general_time(pl.col("c"), tz, excel), tod=_time_of_day(pl.col("c")))
        ms = _patch(ms, rest, general["ms"])
        tod = _patch(tod, rest, pl.select(pl.when(pl.lit(general["ms"]).is_null()).then(pl.lit(general["tod"])))
                     .to_series())
    bad = dated & ms.is_null() & tod.is_null()
    return ms, tod, bad


_ONE_OFFSET_DAYS: Final = 400  # the longest span of times whose zone offsets local_ms looks at hour by hour
_STEADY_MARGIN: Final = timedelta(days=31)  # looked at around a span too, so that the next pieces find it known
_STEADY_KEPT: Final = 32  # spans kept for each zone
# Spans of hours (first, last, offset in ms) in which a zone keeps one offset, as local_ms found them.
_steady: dict[str, tuple[tuple[datetime, datetime, int], ...]] = {}
_steady_lock = threading.Lock()


def local_ms(naive: pl.Series, tz: str) -> pl.Series:
    """Epoch ms (UTC) of naive wall-clock times in `tz`; a time that does not exist there is null, an ambiguous
    one the earlier. When the zone keeps one offset from the first hour of these times to the hour after the
    last (Asia/Shanghai has since 1991), that offset is subtracted, instead of the zone database being asked
    for every time (a third of a piece's time parse). The spans found so are kept, a month wider on each side
    when the zone keeps its offset over those too: the pieces of a file then look at no hours at all."""
    def exact(times: pl.Series) -> pl.Series:
        return times.dt.replace_time_zone(tz, non_existent="null", ambiguous="earliest").dt.epoch("ms")

    low, high = naive.min(), naive.max()
    if (not isinstance(low, datetime) or not isinstance(high, datetime) or high - low > timedelta(_ONE_OFFSET_DAYS)
            or low.year < 2 or high.year > 9998):  # a month either side of year 1 or 9999 is no Python datetime
        return exact(naive)
    first, last = low.replace(minute=0, second=0, microsecond=0), high + timedelta(hours=1)
    for known_first, known_last, offset in _steady.get(tz, ()):
        if known_first <= first and last <= known_last:
            return naive.dt.epoch("ms") - offset
    for span in ((first - _STEADY_MARGIN, last + _STEADY_MARGIN), (first, last)):
        # A change of offset between two of these hours (a zone changes at most once in an hour) shows in them.
        hours = pl.datetime_range(*span, "1h", time_unit="ms", eager=True)
        offsets = hours.dt.epoch("ms") - exact(hours)
        if not offsets.null_count() and offsets.n_unique() == 1:
            with _steady_lock:
                _steady[tz] = (*_steady.get(tz, ())[-(_STEADY_KEPT - 1):], (*span, int(offsets[0])))
            return naive.dt.epoch("ms") - offsets[0]
    return exact(naive)


def _general_time(text: pl.Expr, tz: str, excel: bool) -> pl.Expr:
    norm = (
        text.str.replace_all(r"[年月/]", "-").str.replace_all(r"日", " ").str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    g = norm.str.extract_groups(_DATETIME)
    part = [g.struct.field(str(i)) for i in range(1, 9)]

    def pad(e: pl.Expr) -> pl.Expr:
        return e.fill_null("0").str.zfill(2)

    canonical = pl.concat_str([
        part[0], pl.lit("-"), pad(part[1]), pl.lit("-"), pad(part[2]), pl.lit(" "),
        pad(part[3]), pl.lit(":"), pad(part[4]), pl.lit(":"), pad(part[5]), pl.lit("."),
        part[6].fill_null("0").str.slice(0, 3).str.pad_end(3, "0"),
    ])
    naive = canonical.str.to_datetime("%Y-%m-%d %H:%M:%S%.3f", time_unit="ms", strict=False)
    offset = part[7]
    offset_min = pl.when(offset == "Z").then(0).otherwise(
        offset.str.slice(0, 1).replace_strict({"+": 1, "-": -1}, default=0, return_dtype=pl.Int64)
        * (offset.str.slice(1, 2).cast(pl.Int64, strict=False) * 60
           + offset.str.replace(":", "").str.slice(3, 2).cast(pl.Int64, strict=False))
    )
    local_ms = naive.dt.replace_time_zone(tz, non_existent="null", ambiguous="earliest").dt.epoch("ms")
    utc_ms = naive.dt.replace_time_zone("UTC").dt.epoch("ms") - offset_min * 60_000
    from_text = pl.when(offset.is_not_null()).then(utc_ms).otherwise(local_ms)

    digits = text.str.extract(r"^(\d+)$")
    n = digits.str.len_chars()
    compact = pl.when(n == 8).then(digits.str.to_datetime("%Y%m%d", time_unit="ms", strict=False)).when(
        n == 14).then(digits.str.to_datetime("%Y%m%d%H%M%S", time_unit="ms", strict=False))
    compact_ms = compact.dt.replace_time_zone(tz, non_existent="null", ambiguous="earliest").dt.epoch("ms")
    as_int = digits.cast(pl.Int64, strict=False)
    epoch = pl.when(n == 10).then(as_int * 1000).when(n == 13).then(as_int)
    value = pl.coalesce(from_text, compact_ms, epoch)
    if excel:
        serial = text.str.extract(r"^(\d{1,5}(?:\.\d+)?)$").cast(pl.Float64, strict=False)
        serial_naive = ((serial - 25569.0) * 86_400_000).round(0).cast(pl.Int64).cast(pl.Datetime("ms"))
        serial_ms = serial_naive.dt.replace_time_zone(tz, non_existent="null", ambiguous="earliest").dt.epoch("ms")
        value = pl.coalesce(value, pl.when(serial > 0).then(serial_ms))
    return value


def _time_of_day(text: pl.Expr) -> pl.Expr:
    tod = text.str.extract_groups(_TIME_OF_DAY)
    h, m, s = (tod.struct.field(str(i)).cast(pl.Int64, strict=False) for i in (1, 2, 3))
    return pl.when((h < 24) & (m < 60) & (s.fill_null(0) < 60)).then(((h * 60 + m) * 60 + s.fill_null(0)) * 1000)


_DURATION: Final = (
    r"^(?:(\d+(?:\.\d+)?)\s*(?:小时|时|h|hr|hours?))?\s*(?:(\d+(?:\.\d+)?)\s*(?:分钟|分|min|m|minutes?))?"
    r"\s*(?:(\d+(?:\.\d+)?)\s*(?:秒钟|秒|s|sec|seconds?))?$"
)


MAX_DURATION_S: Final = 10**9  # ~32 years: a longer "duration" is a misread column, and would overflow times


def parse_duration(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Durations in seconds: `2小时30分`, `150分钟`, `1:45:00`, `5400` (seconds)."""
    text = pl.col("c").str.strip_chars().str.to_lowercase()
    g = text.str.extract_groups(_DURATION)
    h, m, s = (g.struct.field(str(i)).cast(pl.Float64, strict=False) for i in (1, 2, 3))
    worded = pl.when(h.is_not_null() | m.is_not_null() | s.is_not_null()).then(
        h.fill_null(0) * 3600 + m.fill_null(0) * 60 + s.fill_null(0))
    clock = text.str.extract_groups(r"^(\d+):(\d{2}):(\d{2})$")
    ch, cm, cs = (clock.struct.field(str(i)).cast(pl.Float64, strict=False) for i in (1, 2, 3))
    seconds = text.str.extract(r"^(\d+(?:\.\d+)?)$").cast(pl.Float64, strict=False)
    seconds = pl.coalesce(ch * 3600 + cm * 60 + cs, worded, seconds)
    value = pl.when(seconds < MAX_DURATION_S).then(seconds.round(0).cast(pl.Int64))
    out = _eval(series, value=value)["value"]
    return out, _present(series) & out.is_null()


def parse_vocab(series: pl.Series, table: dict[str, str]) -> tuple[pl.Series, pl.Series]:
    """A value from a vocabulary (host kinds, platforms), matched ignoring case and spaces."""
    key = series.cast(pl.String).str.strip_chars().str.replace_all(r"\s+", "").str.to_lowercase()
    value = key.replace_strict({k.lower(): v for k, v in table.items()}, default=None, return_dtype=pl.String)
    return value, _present(series) & value.is_null()


# Cells that say "nothing here" in the shops' exports (抖店 writes `-` for an empty cell): read as empty.
EMPTY_MARKS: Final[tuple[str, ...]] = ("-", "--", "—")
# What text and ids lose at their ends: spaces and tabs (抖店 puts a tab before each id so that Excel keeps its
# digits) and a `="…"` round the whole cell (淘宝 wraps ids and titles so); ids also lose a leading `'`. Each is
# taken off as the spreadsheet put it on, never a lone `=`, `'` or `"` of the text itself (`=HYPERLINK(…)` and
# `'; DROP …` stay as written). (Spaces as polars' strip_chars() takes them: Unicode's White_Space.)
WHITESPACE: Final = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_FORMULA_TEXT: Final = r'(?s)^="(.*)"$'
_SCIENTIFIC: Final = r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$"


def parse_id(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Identifiers without the wrappers spreadsheets put round them (spaces, tabs, `="…"`, a leading `'`), and `bad`
    marking ids in scientific notation (`6.9311E+18`: Excel has rounded their digits away)."""
    text, few = _parse_text(series.cast(pl.String), apostrophe=True)
    if few is None:
        return text, _scientific(text)
    distinct, values = few  # product ids, seller codes, host accounts: each distinct id looked at once
    scientific = _scientific(values)
    if not scientific.any():
        return text, const(False, len(text), pl.Boolean)
    return text, scientific.gather(series.cast(pl.String).cast(pl.Enum(distinct)).to_physical()).fill_null(False)


def _scientific(ids: pl.Series) -> pl.Series:
    """Whether each id is in scientific notation."""
    maybe = ids.str.contains("+", literal=True)  # one pass over the usual column (Excel writes E+18)
    if not maybe.any():
        return const(False, len(ids), pl.Boolean)
    return (maybe & ids.str.contains(_SCIENTIFIC)).fill_null(False)


def is_empty_mark(cells: pl.Series) -> pl.Series:
    """Whether each cell is an empty mark (EMPTY_MARKS), spaces around it allowed: for the few cells a parser
    found bad, which then are empty instead."""
    return cells.str.strip_chars().is_in(EMPTY_MARKS).fill_null(False)


def parse_status(series: pl.Series, table: dict[str, str]) -> tuple[pl.Series, pl.Series]:
    """A status from a vocabulary (schema.ORDER_STATUSES …) as what it means, matched by schema.status_key;
    `bad` marks a status the vocabulary does not hold. Each distinct cell is looked up once."""
    distinct, at = _by_distinct(series.cast(pl.String))
    keys = {schema.status_key(k): v for k, v in table.items()}
    cells = distinct.to_list()
    found = [keys.get(schema.status_key(cell)) for cell in cells]
    unknown = [meaning is None and cell.strip() not in _BLANK for cell, meaning in zip(cells, found, strict=True)]
    return (pl.Series(series.name, found, pl.String).gather(at),
            pl.Series("bad", unknown, pl.Boolean).gather(at).fill_null(False))


_UNIT_WEIGHT: Final = r"^\s*(?:1\s*)?([^\d\s(（=]+)\s*(?:[(（]\s*|=\s*)(\d+(?:\.\d+)?)\s*([^\d\s)）]+)\s*[)）]?\s*$"


# Text columns whose first _SAMPLE cells hold at most _FEW distinct values are looked at through their distinct
# values: sessions, products, villages, counties and units repeat down an export.
_SAMPLE: Final = 512
_FEW: Final = 64
_MANY_KEPT: Final = 256  # more distinct cells than this (units, numbers, text) are looked at without keeping the result


def parse_text(series: pl.Series, *, apostrophe: bool = False) -> pl.Series:
    """Text cells without spaces at their ends and without a `="…"` round the whole cell (and, with `apostrophe`,
    without a leading `'`: ids), a blank cell or an empty mark (EMPTY_MARKS) null.

    A column of few distinct values is looked at through them: handed back as it is (not copied) when none of
    them has such wrappers or is blank, else each cell given its distinct value's text; each other column is
    unwrapped cell by cell.
    """
    return _parse_text(series.cast(pl.String), apostrophe=apostrophe)[0]


def _parse_text(cells: pl.Series, *, apostrophe: bool) -> tuple[pl.Series, tuple[list[str], pl.Series] | None]:
    """parse_text of text `cells`, and for a column of few distinct cells those cells (sorted, no null) and their
    text."""
    if cells.head(_SAMPLE).n_unique() <= _FEW:
        distinct = cells.unique().drop_nulls().sort()
        if len(distinct) <= _MANY_KEPT:
            values = tuple(distinct.to_list())
            text = _text_few(values, apostrophe)
            if text is None:
                return cells, (list(values), distinct)
            # Each cell's index among the distinct cells (an Enum of them), its text gathered by it.
            return text.gather(cells.cast(pl.Enum(values)).to_physical()), (list(values), text)
        if _clean(distinct, apostrophe):
            return cells, None
    return unwrap(cells, apostrophe=apostrophe).replace(_BLANK, None), None


@functools.lru_cache(maxsize=256)
def _text_few(distinct: tuple[str, ...], apostrophe: bool) -> pl.Series | None:
    """parse_text of a column's few distinct cells, kept (the pieces of a file hold the same): None when none of
    them has wrappers or is blank."""
    cells = pl.Series("c", distinct, pl.String)
    return None if _clean(cells, apostrophe) else unwrap(cells, apostrophe=apostrophe).replace(_BLANK, None)


def unwrap(cells: pl.Series, *, apostrophe: bool = False) -> pl.Series:
    """Cells without spaces at their ends and a `="…"` round the whole cell (then spaces inside it), and with
    `apostrophe` a leading `'`. The wrappers are looked for only in columns that hold one."""
    out = cells.str.strip_chars()  # WHITESPACE, by polars' own set: three times as fast as naming it
    if out.str.starts_with('="').any():
        out = out.str.replace(_FORMULA_TEXT, "${1}").str.strip_chars()
    if apostrophe and out.str.starts_with("'").any():
        out = out.str.strip_prefix("'").str.strip_chars()
    return out


_BLANK: Final = ["", *EMPTY_MARKS]


def _clean(distinct: pl.Series, apostrophe: bool) -> bool:
    """Whether none of these cells has wrappers at its ends or is blank or an empty mark."""
    unwrapped = unwrap(distinct, apostrophe=apostrophe)
    return bool((unwrapped == distinct).all() and not unwrapped.is_in(_BLANK).any())


def parse_unit(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """A unit normalised (公斤 -> kg), and the kg in one unit when written `箱(10斤)` or `1箱=10斤`."""
    # A column holds a handful of units: parse each distinct cell once (the same few in every piece of a
    # file: parsed once for all of them), then look every row up.
    distinct, at = _by_distinct(series.cast(pl.String))
    if distinct.len() > _MANY_KEPT:
        unit, kg = _parse_unit(distinct)
    else:
        unit, kg = _parse_units(tuple(distinct.to_list()))
    kg_of = const(None, len(series), pl.Float64) if kg.null_count() == len(kg) else kg.gather(at)
    return unit.gather(at).alias(series.name), kg_of.alias(series.name)


@functools.lru_cache(maxsize=64)
def _parse_units(distinct: tuple[str | None, ...]) -> tuple[pl.Series, pl.Series]:
    return _parse_unit(pl.Series("c", distinct, pl.String))


def _parse_unit(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    text = pl.col("c").str.strip_chars()
    g = text.str.extract_groups(_UNIT_WEIGHT)
    base = pl.coalesce(g.struct.field("1"), text)
    known = list(schema.UNIT_NAMES.values())
    unit = base.replace(schema.UNIT_NAMES)
    unit = pl.when(unit.is_in(known)).then(unit).otherwise(base.str.to_lowercase().replace(schema.UNIT_NAMES))
    out = _eval(series, unit=pl.when(text != "").then(unit), kg=_weight_kg(g.struct.field("2"), g.struct.field("3")))
    return out["unit"], out["kg"]


def parse_weight(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """A weight such as `10斤` or `5kg` in kilograms: (kg, bad)."""
    g = pl.col("c").str.strip_chars().str.extract_groups(r"^(\d+(?:\.\d+)?)\s*(\S+)$")
    kg = _eval(series, kg=_weight_kg(g.struct.field("1"), g.struct.field("2")))["kg"]
    return kg, _present(series) & kg.is_null()


def _weight_kg(amount: pl.Expr, unit: pl.Expr) -> pl.Expr:
    name = unit.str.to_lowercase().replace(schema.UNIT_NAMES)
    per_kg = name.replace_strict(schema.MASS_UNITS_KG, default=None, return_dtype=pl.Float64)
    return amount.cast(pl.Float64, strict=False) * per_kg


def file_name(path: str | Path) -> str:
    """The name a problem message uses for a file."""
    return Path(path).name
