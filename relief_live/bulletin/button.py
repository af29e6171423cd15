"""The dashboard's 通报 / Bulletin button: the files of `python -m relief_live bulletin`, for the page's scope."""

from __future__ import annotations

import streamlit as st

from relief_live import bulletin, ui
from relief_live.bulletin import content
from relief_live.bulletin.charts import FontMissing, font_dir
from relief_live.i18n import plain

LABEL = {"zh": "通报", "en": "Bulletin"}
PERIOD = {"zh": "周期", "en": "Period"}
KIND_NAME = {"zh": {"week": "上周（周一至周日）", "month": "上月"},
             "en": {"week": "Last week (Mon–Sun)", "month": "Last month"}}


def bulletin_button(lang: str, county: str | None = None) -> None:
    """A popover with the period to choose and the PDF and XLSX to download. The page only works out the period
    (column maxima); the bulletin itself is made when a button is clicked, not on every run of the page."""
    lang = "en" if lang == "en" else "zh"
    with st.popover(LABEL[lang], icon=":material/description:"):
        kind = st.radio(PERIOD[lang], content.KINDS, horizontal=True, key=f"bulletin_kind_{county}",
                        format_func=lambda k: KIND_NAME[lang][k])
        _, frames = ui.frames()
        store = ui.store()
        period = content.choose_period(kind, frames)
        # The county is text from a file: through i18n.plain, as every such text a caption shows.
        st.caption(content.text("period", lang, start=period.start, end=period.end)
                   + (" · " + content.text("county", lang, county=plain(county)) if county else ""))

        def made(fmt: str) -> bytes:  # runs on the click, outside the page's run: it reads no page state
            return bulletin.render(content.make(frames, store.batches(), kind, ending=period.end, county=county,
                                                lang=lang), fmt)

        formats = list(bulletin.FORMATS)
        try:
            font_dir()
        except FontMissing as missing:  # the workbook needs no font; the PDF says what to install
            st.caption(plain(str(missing)))
            formats.remove("pdf")
        for fmt in formats:
            st.download_button(fmt.upper(), data=lambda fmt=fmt: made(fmt),
                               file_name=bulletin.file_name(period, county, fmt), mime=bulletin.MIME[fmt],
                               on_click="ignore", key=f"bulletin_{fmt}_{county}", icon=":material/download:")
