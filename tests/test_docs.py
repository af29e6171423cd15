"""The documentation a newcomer reads is true to the code and complete: every column and alias of every kind,
every setting, links that open, a README short enough to read with the two set-up commands on its first screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relief_live import schema

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted([README, ROOT / "SECURITY.md", *ROOT.glob("docs/*.md"), *ROOT.glob("examples/*.md"),
               ROOT / "bench" / "README.md", ROOT / "bench" / "NOTES.md"])
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target)


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _rows(doc: str, kind: str) -> dict[str, list[str]]:
    """The columns table under `### kind`: column -> its accepted headers."""
    section = doc.split(f"### {kind}\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = [a.strip() for a in cells[2].split(",") if a.strip()]
    return rows


def test_formats_lists_every_column_and_alias() -> None:
    doc = _text(ROOT / "docs" / "formats.md")
    for kind, fields in schema.KINDS.items():
        rows = _rows(doc, kind)
        assert list(rows) == [f.name for f in fields], kind
        for f in fields:
            assert rows[f.name] == list(f.aliases), f"{kind}.{f.name}"


def test_deployment_documents_every_setting_the_code_reads() -> None:
    code = "".join(_text(p) for p in [*ROOT.glob("relief_live/**/*.py"), *ROOT.glob("views/*.py"),
                                      ROOT / "dashboard.py"])
    used = set(re.findall(r"RELIEF_LIVE_[A-Z_]+", code))
    table = _text(ROOT / "docs" / "deployment.md").split("## Settings", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(RELIEF_LIVE_[A-Z_]+)`", table))
    assert used == documented


def test_readme_is_short_with_the_two_setup_commands_on_its_first_screen() -> None:
    assert README.stat().st_size <= 6 * 1024
    first_screen = _text(README).splitlines()[:40]
    commands = [m.group(1) for line in first_screen if (m := re.match(r"make (\w+)", line))]
    assert commands == ["run", "test"]


def test_readme_shows_the_overview_the_live_page_and_a_bulletin_page() -> None:
    """The screenshots and the bulletin's first page are in the README, are PNGs a browser shows and stay small
    (docs/screenshots.py, docs/bulletin_page.py)."""
    shown = re.findall(r"!\[[^]]*\]\(([^)]+)\)", _text(README))
    assert shown == ["docs/overview.png", "docs/live.png", "docs/bulletin.png"]
    for name in shown:
        data = (ROOT / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
        assert 10_000 < len(data) < 300 * 1024, name


def _anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+ (.+)$", _text(doc), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_opens_a_file_in_the_repository(doc: Path) -> None:
    broken = []
    for target in LINK.findall(_text(doc)):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert broken == [], f"{doc.name}: links that open nothing in the repository"


def test_metrics_defines_every_village_status_as_the_code_does() -> None:
    from relief_live.metrics.villages import STATUSES

    table = _text(ROOT / "docs" / "metrics.md").split("| status | when |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
    assert rows == [[f"`{name}`", means] for name, means, _ in STATUSES]


def test_metrics_gives_every_comparison_flag_as_the_code_does() -> None:
    from relief_live.metrics.compare import REASONS

    table = _text(ROOT / "docs" / "metrics.md").split("| reason | when |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()]
    assert rows == [[f"`{name}`", means] for name, means in REASONS]


def test_readme_and_formats_list_every_shop_export_as_the_code_reads_it() -> None:
    """README's Accepted files has a line per shape of schema.EXPORT_SHAPES, and docs/formats.md's table gives
    each shape's headers that recognise it and its columns as the code does."""
    section = _text(README).split("## Accepted files\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^- \*\*(.+?)\*\*", section, flags=re.M) == [shape.name for shape in schema.EXPORT_SHAPES]
    table = _text(ROOT / "docs" / "formats.md").split("| export | recognised by | its columns |\n|---|---|---|\n", 1)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.split("\n\n", 1)[0].splitlines()]
    assert rows == [[shape.name, ", ".join(shape.signature),
                     ", ".join(f"{header} → `{column}`" for header, column in shape.columns.items())
                     + "".join(f"; {header} is ignored" for header in shape.ignored)]
                    for shape in schema.EXPORT_SHAPES]


def test_formats_and_metrics_say_what_each_basis_of_sales_rows_stands_for() -> None:
    for basis in schema.BASES:
        assert f"`{basis}`" in _text(ROOT / "docs" / "formats.md"), basis
        assert f"`{basis}`" in _text(ROOT / "docs" / "metrics.md"), basis
