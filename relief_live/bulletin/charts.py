"""The bulletin's two charts as SVG (vector, text kept as text): GMV per day by host kind, sell-through by county."""

from __future__ import annotations

import atexit
import functools
import io
import shutil
import tempfile
from pathlib import Path
from typing import Final

import polars as pl

from relief_live.bulletin.content import Bulletin, host_kind_name, text
from relief_live.charts import HOST_COLOURS, REMAINING_COLOUR, SOLD_COLOUR

# Noto Sans CJK (Debian's fonts-noto-cjk): its collection's first face is the Japanese one; the glyphs are
# measured with it and the SVG names the Simplified Chinese face, which has the same metrics, for the PDF.
FONT_DIRS: Final = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts/noto-cjk"))
FONT_FILE: Final = "NotoSansCJK-Regular.ttc"
BOLD_FILE: Final = "NotoSansCJK-Bold.ttc"
MEASURED_AS: Final = "Noto Sans CJK JP"
SHOWN_AS: Final = "Noto Sans CJK SC"
WIDTH_IN: Final = 6.7  # the A4 text width, in inches
WAN: Final = 10_000


class FontMissing(RuntimeError):
    """The CJK font the bulletin embeds is not installed."""


def font_dir() -> Path:
    """The folder of the Noto CJK fonts; FontMissing names the package that brings them."""
    for folder in FONT_DIRS:
        if (folder / FONT_FILE).is_file():
            return folder
    raise FontMissing(f"the bulletin needs the Noto CJK fonts ({FONT_FILE}, in "
                      f"{' or '.join(map(str, FONT_DIRS))}): apt-get install fonts-noto-cjk")


@functools.cache
def typst_font_dir() -> str:
    """A folder of this process holding only the Sans faces (links): Typst reads every font in the folders it is
    given, and the Serif collections beside them would take a second of every PDF."""
    folder = Path(tempfile.mkdtemp(prefix="relief-live-fonts-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in (FONT_FILE, BOLD_FILE):
        source = font_dir() / name
        if source.is_file():
            (folder / name).symlink_to(source)
    return str(folder)


@functools.cache
def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font_manager.fontManager.addfont(str(font_dir() / FONT_FILE))
    plt.rcParams.update({
        "font.family": [MEASURED_AS], "svg.fonttype": "none", "svg.hashsalt": "relief-live",
        "text.parse_math": False,  # a "$" in a county's name is a dollar sign, not mathematics
        "axes.spines.top": False, "axes.spines.right": False, "font.size": 8, "axes.unicode_minus": False,
    })
    return plt


def _svg(figure) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    from matplotlib import pyplot

    pyplot.close(figure)
    return buffer.getvalue().replace(MEASURED_AS, SHOWN_AS)


def gmv_per_day(bulletin: Bulletin) -> str:
    """Bars of GMV (¥10,000) per day of the period, side by side per host kind."""
    plt = _pyplot()
    lang = bulletin.lang
    figure, axes = plt.subplots(figsize=(WIDTH_IN, 2.4))
    daily = bulletin.daily
    days = pl.date_range(bulletin.period.start, bulletin.period.end, "1d", eager=True)
    kinds = daily.get_column("host_kind").unique(maintain_order=True).to_list() if daily.height else []
    width = 0.8 / max(len(kinds), 1)
    for i, kind in enumerate(kinds):
        per_day = pl.DataFrame({"day": days}).join(daily.filter(pl.col("host_kind") == kind), on="day", how="left")
        values = (per_day.get_column("gmv").fill_null(0) / 100 / WAN).to_list()
        axes.bar([d + (i - (len(kinds) - 1) / 2) * width for d in range(len(days))], values, width,
                 label=host_kind_name(kind, lang), color=HOST_COLOURS.get(kind, HOST_COLOURS[None]))
    step = 1 if len(days) <= 10 else 3
    axes.set_xticks(range(0, len(days), step), [d.strftime("%m-%d") for d in days[::step]])
    axes.set_ylabel("万元" if lang == "zh" else "¥10,000")
    axes.set_title(text("chart_daily", lang), loc="left")
    if kinds:
        axes.legend(frameon=False)
    else:
        axes.text(0.5, 0.5, text("no_sessions", lang), ha="center", va="center", transform=axes.transAxes)
    return _svg(figure)


def sell_through_by_county(bulletin: Bulletin) -> str:
    """Horizontal bars of the share of each county's unsold stock value sold by the period's end."""
    plt = _pyplot()
    lang = bulletin.lang
    counties = bulletin.counties.sort("value_sell_through", nulls_last=True)
    figure, axes = plt.subplots(figsize=(WIDTH_IN, 0.6 + 0.28 * max(counties.height, 1)))
    names = [str(name or text("unknown", lang)) for name in counties.get_column("county")]
    shares = [min(share or 0.0, 1.0) for share in counties.get_column("value_sell_through")]
    axes.barh(names, [1.0] * len(names), color=REMAINING_COLOUR)
    axes.barh(names, shares, color=SOLD_COLOUR)
    for y, share in enumerate(counties.get_column("value_sell_through")):
        axes.text(1.01, y, "-" if share is None else f"{share:.0%}", va="center")
    axes.set_xlim(0, 1.1)
    axes.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    axes.set_title(text("chart_counties", lang), loc="left")
    return _svg(figure)
