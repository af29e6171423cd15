"""The bulletin's two charts as data for its Typst layout (vector shapes, words in the embedded font), and the
CJK font it embeds: GMV per day by host kind, and the share of each county's unsold stock value sold."""

from __future__ import annotations

import atexit
import functools
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Final

import polars as pl

from relief_live.bulletin.content import Bulletin, host_kind_name, text
from relief_live.charts import HOST_COLOURS, REMAINING_COLOUR, SOLD_COLOUR

# Noto Sans CJK (Debian's fonts-noto-cjk), whose collections hold the Simplified Chinese face.
FONT_DIRS: Final = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/noto-cjk"))
FONT_FILE: Final = "NotoSansCJK-Regular.ttc"
BOLD_FILE: Final = "NotoSansCJK-Bold.ttc"
FONT: Final = "Noto Sans CJK SC"
WAN: Final = 10_000
MOST_TICKS: Final = 5


class FontMissing(RuntimeError):
    """The CJK font the bulletin embeds is not installed."""


def font_dir() -> Path:
    """The folder of the Noto CJK fonts; FontMissing names the package that brings them."""
    for folder in FONT_DIRS:
        if (folder / FONT_FILE).is_file():
            return folder
    raise FontMissing(f"the bulletin needs the Noto CJK fonts ({FONT_FILE}, in "
                      f"{' or '.join(map(str, FONT_DIRS))}): apt-get install fonts-noto-cjk")


def typst_font_dir() -> str:
    """A folder of this process holding only the Sans faces (links): Typst reads every font in the folders it is
    given, and the Serif collections beside them would take a second of every PDF. FontMissing when the fonts
    are gone (looked for at every call: a link to a removed font would fall back to Typst's Latin fonts)."""
    return _sans_links(font_dir())


@functools.cache
def _sans_links(source: Path) -> str:
    folder = Path(tempfile.mkdtemp(prefix="relief-live-fonts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in (FONT_FILE, BOLD_FILE):
        if (source / name).is_file():
            (folder / name).symlink_to(source / name)
    return str(folder)


def axis(top: float) -> tuple[float, list[float]]:
    """A round axis end at or above `top` and its ticks (0 and steps of 1, 2 or 5 × 10^k, at most MOST_TICKS)."""
    if top <= 0:
        return 1.0, [0.0, 1.0]
    power = 10 ** math.floor(math.log10(top / MOST_TICKS))
    step = next(power * m for m in (1, 2, 5, 10) if top / (power * m) <= MOST_TICKS)
    end = step * math.ceil(top / step)
    return end, [step * i for i in range(round(end / step) + 1)]


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 or value == 0 else f"{value:g}"


def daily(bulletin: Bulletin) -> dict[str, Any]:
    """GMV (¥10,000) per day of the period, one bar per host kind."""
    lang = bulletin.lang
    days = pl.DataFrame({"day": pl.date_range(bulletin.period.start, bulletin.period.end, "1d", eager=True)})
    kinds = bulletin.daily.get_column("host_kind").unique().sort(nulls_last=True).to_list()
    grid = days.join(pl.DataFrame({"host_kind": kinds}, schema={"host_kind": pl.String}), how="cross").join(
        bulletin.daily, on=["day", "host_kind"], how="left", nulls_equal=True).with_columns(
        wan=pl.col("gmv").fill_null(0) / 100 / WAN)
    end, ticks = axis(float(grid.get_column("wan").max() or 0))
    label = "%m-%d" if bulletin.period.kind == "week" else "%-d"
    colour = {kind: HOST_COLOURS.get(kind, HOST_COLOURS[None]) for kind in kinds}
    return {
        "title": text("chart_daily", lang),
        "unit": "（万元）" if lang == "zh" else "(¥10,000)",
        "empty": text("no_sessions", lang),
        "ticks": [{"at": tick / end, "label": _tick_label(tick)} for tick in ticks],
        "series": [{"name": host_kind_name(kind, lang), "colour": colour[kind]} for kind in kinds],
        "days": [
            {"label": day.strftime(label),
             "bars": [{"at": wan / end, "colour": colour[kind]} for kind, wan in zip(part["host_kind"], part["wan"],
                                                                                       strict=True)]}
            for (day,), part in grid.sort("day", "host_kind", nulls_last=True).partition_by(
                "day", as_dict=True, maintain_order=True).items()
        ] if kinds else [],
    }


def counties(bulletin: Bulletin) -> dict[str, Any]:
    """Each county's share of its unsold stock value sold by the period's end, most sold first."""
    lang = bulletin.lang
    rows = bulletin.counties.sort("value_sell_through", "county", descending=[True, False], nulls_last=True)
    return {
        "title": text("chart_counties", lang),
        "sold": SOLD_COLOUR, "rest": REMAINING_COLOUR,
        "sold_name": text("sold_total", lang).split("（")[0].split(" (")[0],
        "rest_name": text("remaining_value", lang).split("（")[0].split(" (")[0],
        "rows": [{"name": county or text("unknown", lang), "at": min(share or 0.0, 1.0),
                  "label": "-" if share is None else f"{share:.0%}"}
                 for county, share in rows.select("county", "value_sell_through").iter_rows()],
    }
