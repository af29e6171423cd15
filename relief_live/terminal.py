"""Text from files made safe to print on a terminal: control and text-direction characters shown as escapes."""

from __future__ import annotations

import re
from typing import Final

# C0 controls but tab (ESC starts the terminal's escape sequences; CR and backspace overwrite what was printed), DEL,
# C1 controls (CSI among them), and the marks that reorder how a line is drawn.
_UNSAFE: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """`text` with every character that could drive a terminal or disguise a line written as a visible escape
    (`\\x1b`, `\\n`, `\\u202e`); printable text in any script is kept as it is."""
    return _UNSAFE.sub(_escape, text)


def safe_lines(text: str) -> str:
    """`safe` of each line of a text laid out in lines (a report), its line breaks kept."""
    return "\n".join(safe(line) for line in text.split("\n"))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return repr(match.group())[1:-1] if code < 0x100 else f"\\u{code:04x}"


def safe_json(text: str) -> str:
    """A JSON text (json.dumps with ensure_ascii=False) with the characters `safe` escapes written as JSON's
    `\\u` escapes: the same values for a program that reads it, nothing that drives a terminal."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
