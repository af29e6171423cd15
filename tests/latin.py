"""What counts as an English word on a Chinese page: Latin letters, less the proper nouns and units a Chinese
page may show (the browser walk of every page and the problems said of files both use it)."""

from __future__ import annotations

import re
from typing import Final

# The words a Chinese page may show in Latin letters: proper nouns and units (GPM, the file formats, the
# language switch's own "English"), and Streamlit's own text that 1.67 offers no way to set: the hidden
# "Skip to main content" link and the file uploader's button and limits line.
LATIN_ALLOWED: Final = {"GPM", "CSV", "Excel", "XLSX", "TXT", "MB", "English", "UTC", "PDF",
                        "Skip", "to", "main", "content", "Upload", "per", "file"}
# And in what is said of a file: encodings, the programs that save workbooks, file formats, units, and ID as the
# platforms' own headers write it (直播ID).
PROBLEM_ALLOWED: Final = LATIN_ALLOWED | {"UTF", "GBK", "GB", "WPS", "XLS", "KB", "kg", "ID"}
_WORD: Final = re.compile(r"[A-Za-z]{2,}")


def latin_words(text: str) -> set[str]:
    """The words of two or more Latin letters in `text`."""
    return set(_WORD.findall(text))
