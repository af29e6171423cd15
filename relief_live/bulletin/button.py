"""The dashboard's 通报 / Bulletin button: the files of `python -m relief_live bulletin`, for the page's scope."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from relief_live import bulletin, ui
from relief_live.bulletin import content
from relief_live.i18n import plain

LABEL = {"zh": "通报", "en": "Bulletin"}
PERIOD = {"zh": "周期", "en": "Period"}
KIND_NAME = {"zh": {"week": "上周（周一至周日）", "month": "上月"}, "en": {"week": "Last week (Mon–Sun)",
                                                                        "month": "Last month"}}


def _made(version: int, kind: str, county: str | None, lang: str, today: str) -> content.Bulletin:
    """The bulletin, made once per store version, period, county, language and day and shared by every viewer."""
    def build() -> content.Bulletin:
        _, frames = ui.frames()
        return content.make(frames, ui.store().batches(), kind, county=county, lang=lang)

    return ui.shared(("bulletin", version, kind, county, lang, today), build)


def bulletin_button(lang: str, county: str | None = None) -> None:
    """A popover with the period to choose and the PDF and XLSX to download; the files are made on the click."""
    lang = "en" if lang == "en" else "zh"
    with st.popover(LABEL[lang], icon=":material/description:"):
        kind = st.radio(PERIOD[lang], content.KINDS, horizontal=True, key=f"bulletin_kind_{county}",
                        format_func=lambda k: KIND_NAME[lang][k])
        version, _ = ui.frames()
        made = _made(version, kind, county, lang, content.today_local(datetime.now(UTC)).isoformat())
        # The county is text from a file: through i18n.plain, as every such text a caption shows.
        st.caption(content.text("period", lang, start=made.period.start, end=made.period.end)
                   + (" · " + content.text("county", lang, county=plain(made.county)) if made.county else ""))
        for fmt in bulletin.FORMATS:
            # A callable: the PDF (a few seconds) is made when the button is clicked, not on every run of the page.
            st.download_button(fmt.upper(), data=lambda fmt=fmt: bulletin.render(made, fmt),
                               file_name=bulletin.file_name(made, fmt), mime=bulletin.MIME[fmt], on_click="ignore",
                               key=f"bulletin_{fmt}_{county}", icon=":material/download:")
