"""The README lists every column and header alias of every kind, as schema.py defines them."""

from __future__ import annotations

import re
from pathlib import Path

from relief_live import schema

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _readme_rows(kind: str) -> dict[str, list[str]]:
    section = README.split(f"#### {kind}\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = [a.strip() for a in cells[2].split(",") if a.strip()]
    return rows


def test_readme_lists_every_column_and_alias() -> None:
    for kind, fields in schema.KINDS.items():
        rows = _readme_rows(kind)
        assert list(rows) == [f.name for f in fields], kind
        for f in fields:
            assert rows[f.name] == list(f.aliases), f"{kind}.{f.name}"


def test_readme_has_the_two_setup_commands() -> None:
    commands = re.findall(r"^make (\w+)", README, flags=re.M)
    assert commands[:2] == ["run", "test"]


def test_readme_documents_every_setting_the_code_reads() -> None:
    root = Path(__file__).resolve().parent.parent
    code = "".join(p.read_text(encoding="utf-8") for p in [*root.glob("relief_live/**/*.py"), *root.glob("views/*.py"),
                                                          root / "dashboard.py"])
    used = set(re.findall(r"RELIEF_LIVE_[A-Z_]+", code))
    table = README.split("Settings (environment variables):", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(RELIEF_LIVE_[A-Z_]+)`", table))
    assert used == documented
