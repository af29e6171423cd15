"""The leadership bulletin: a week's or a month's figures, against the period before, as PDF and XLSX."""

from __future__ import annotations

import re
from typing import Final

from relief_live.bulletin.content import Bulletin, Period

FORMATS: Final = ("pdf", "xlsx")
MIME: Final = {"pdf": "application/pdf",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def file_name(period: Period, county: str | None, fmt: str) -> str:
    """bulletin-week-2020-09-07-2020-09-13[-county].pdf: the county's name kept to letters, digits and CJK."""
    place = "-" + re.sub(r"[^\w]+", "_", county).strip("_") if county else ""
    return f"bulletin-{period.kind}-{period.start}-{period.end}{place}.{fmt}"


def render(bulletin: Bulletin, fmt: str) -> bytes:
    """The bulletin as a PDF or an XLSX file."""
    if fmt == "pdf":
        from relief_live.bulletin.pdf import to_pdf

        return to_pdf(bulletin)
    if fmt == "xlsx":
        from relief_live.bulletin.xlsx import to_xlsx

        return to_xlsx(bulletin)
    raise ValueError(f"format must be pdf or xlsx, not {fmt!r}")
