"""The first visit after the server starts: "reading the stored data" said at once, before the slow part begins."""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Iterator
from typing import Final

import streamlit as st

from relief_live.i18n import t

# Set once a visit has read the store: later visits have nothing to wait for (a retraction's re-read is said by
# ui.frames' own spinner).
_read = threading.Event()

# A spinning ring and the seconds waited, in CSS alone: the browser counts, so the server, busy reading, sends
# nothing more until it is done. (@property makes --waited an integer that the animation can step.)
_STYLE: Final = """<style>
  /* \\3C is "<": the page's HTML sanitiser drops a style whose text has "<" before a letter */
  @property --waited {syntax: '\\3C integer>'; inherits: false; initial-value: 0;}
  @keyframes waiting-spin {to {transform: rotate(360deg);}}
  @keyframes waiting-count {to {--waited: 3600;}}
  .waiting {display: flex; align-items: center; gap: 0.6rem; padding: 0.5rem 0;}
  .waiting-ring {flex: none; width: 1rem; height: 1rem; border-radius: 50%; border: 0.18rem solid rgba(128, 128, 128, 0.3);
    border-top-color: #ff4b4b; animation: waiting-spin 0.8s linear infinite;}
  .waiting-time {opacity: 0.7; animation: waiting-count 3600s linear forwards; counter-reset: waited var(--waited);}
  .waiting-time::after {content: counter(waited) "UNIT";}
</style>"""


def notice_html(lang: str) -> str:
    """The notice: a spinner, "reading the stored data…" and the seconds since it appeared."""
    unit = t("seconds_waited", lang).replace("\\", "").replace('"', "")
    return (_STYLE.replace("UNIT", unit) + '<div class="waiting" role="status"><span class="waiting-ring"></span>'
            f'<span>{html.escape(t("store_reading", lang))}</span><span class="waiting-time"></span></div>')


@contextlib.contextmanager
def first_visit(lang: str) -> Iterator[bool]:
    """Around what the server's first visit does before its page can draw: loading the dashboard's code (polars,
    plotly, SQLAlchemy: about a second) and reading every stored row. The notice shows at once, where st.spinner
    would wait half a second and could only start after the code has loaded; it goes when the block ends.
    Yields whether it is shown (then the block need not say the same again)."""
    if _read.is_set():
        yield False
        return
    box = st.empty()
    box.html(notice_html(lang))
    try:
        yield True
        _read.set()
    finally:
        box.empty()
