"""URL state: every filter, the session, the language and kiosk mode live in st.query_params."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import urlencode

import streamlit as st

from relief_live import i18n

PREFIX: Final = "qp_"  # session-state keys of URL-bound widgets
STICKY: Final[dict[str, str]] = {"lang": i18n.DEFAULT_LANG, "kiosk": "0"}  # kept across pages


def _key(name: str) -> str:
    return PREFIX + name


def _write(name: str, value: str | list[str] | None, default: Any) -> None:
    """Put a value in the URL, leaving defaults out so links stay short."""
    if value is None or value == default or value == [] or value == "":
        if name in st.query_params:
            del st.query_params[name]
    elif isinstance(value, list):
        st.query_params[name] = value
    elif st.query_params.get(name) != value:
        st.query_params[name] = value


def sticky() -> dict[str, str]:
    """The params that survive page switches (lang, kiosk): URL first, else this browser session's."""
    values = {}
    for name, default in STICKY.items():
        url = st.query_params.get(name)
        if name == "lang" and url is None and f"sticky_{name}" not in st.session_state:
            default = browser_lang() or default  # a link without lang opens in the browser's language
        held = st.session_state.get(f"sticky_{name}", default)
        value = url if url is not None else held
        if name == "lang" and value not in i18n.LANGS:
            value = default
        if name == "kiosk":
            value = "1" if value in ("1", "true", "yes") else "0"
        st.session_state[f"sticky_{name}"] = value
        _write(name, value, default)  # a page switch clears the URL's params: put these back
        values[name] = value
    return values


def preferred_lang(accept_language: str | None) -> str | None:
    """The first of i18n.LANGS that an Accept-Language header asks for, by its q-values ('zh-CN,zh;q=0.9,en;q=0.8'
    -> 'zh'); None when it asks for none of them."""
    ranked = []
    for place, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, place, tag.split("-")[0].lower()))
    return next((lang for q, _, lang in sorted(ranked) if q < 0 and lang in i18n.LANGS), None)


def browser_lang() -> str | None:
    """The language the browser asks for (its Accept-Language header, else its locale), if it is one of ours."""
    try:
        return preferred_lang(st.context.headers.get("Accept-Language")) or preferred_lang(st.context.locale)
    except Exception:  # outside a browser session (AppTest, bare mode)
        return None


def set_sticky(name: str, value: str) -> None:
    st.session_state[f"sticky_{name}"] = value
    _write(name, value, STICKY[name])


def lang() -> str:
    """The language shown: 'en' or 'zh'."""
    return st.session_state.get("sticky_lang", i18n.DEFAULT_LANG)


def kiosk() -> bool:
    return st.session_state.get("sticky_kiosk", "0") == "1"


def select(name: str, label: str, options: Sequence[str], *, default: str | None = None,
           format_func: Callable[[str], str] = str, where: Any = st, always: bool = False,
           **kwargs: Any) -> str | None:
    """A selectbox bound to URL param `name`: the URL sets its value, a choice writes the URL.

    With `always`, the value is written even when it is the default (a session id: the default changes).
    """
    options = list(options)
    if not options:
        _write(name, None, default)
        return None
    key = _key(name)
    fallback = default if default in options else options[0]
    if key not in st.session_state or st.session_state[key] not in options:
        url = st.query_params.get(name)
        st.session_state[key] = url if url in options else fallback
    value = where.selectbox(label, options, key=key, format_func=format_func, **kwargs)
    _write(name, value, None if always else fallback)
    return value


def multiselect(name: str, label: str, options: Sequence[str], *, format_func: Callable[[str], str] = str,
                where: Any = st, **kwargs: Any) -> list[str]:
    """A multiselect bound to repeated URL param `name` (empty means all)."""
    options = list(options)
    key = _key(name)
    if key not in st.session_state:
        st.session_state[key] = [v for v in st.query_params.get_all(name) if v in options]
    else:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    values = where.multiselect(label, options, key=key, format_func=format_func, **kwargs)
    _write(name, list(values), [])
    return list(values)


def date_range(name: str, label: str, first: date, last: date, *, where: Any = st, **kwargs: Any) -> tuple[date, date]:
    """A date range bound to URL param `name` (`2020-09-01..2020-10-31`) within first..last; the whole span
    when the URL has none (and then the URL stays without it)."""
    key = _key(name)
    if key not in st.session_state:
        st.session_state[key] = _parse_range(st.query_params.get(name), first, last)
    else:  # the span can change under a kept choice (new data): clip it
        st.session_state[key] = _clip_range(tuple(st.session_state[key]), first, last)
    chosen = where.date_input(label, key=key, min_value=first, max_value=last, format="YYYY-MM-DD", **kwargs)
    picked = tuple(chosen) if isinstance(chosen, (tuple, list)) else (chosen,)
    start, end = (*picked, last)[:2] if picked else (first, last)  # one end picked so far: up to the last day
    _write(name, f"{start.isoformat()}..{end.isoformat()}", f"{first.isoformat()}..{last.isoformat()}")
    return start, end


def _parse_range(text: str | None, first: date, last: date) -> tuple[date, date]:
    try:
        start, end = (date.fromisoformat(part) for part in (text or "").split(".."))
    except ValueError:
        return first, last
    return _clip_range((start, end), first, last)


def _clip_range(picked: tuple[Any, ...], first: date, last: date) -> tuple[date, date]:
    start, end = (*picked, last)[:2] if picked else (first, last)
    start, end = max(first, min(start, last)), max(first, min(end, last))
    return (start, end) if start <= end else (first, last)


def share_url(base: str | None = None) -> str:
    """This view as a link: the page's address and every URL param, including the sticky ones."""
    params: dict[str, str | list[str]] = {}
    for name in st.query_params:
        values = st.query_params.get_all(name)
        params[name] = values if len(values) > 1 else values[0]
    for name, default in STICKY.items():
        value = st.session_state.get(f"sticky_{name}", default)
        if value != default:
            params[name] = value
    if base is None:
        try:
            base = st.context.url or ""
        except Exception:  # outside a browser session (AppTest)
            base = ""
    query = urlencode(params, doseq=True)
    return f"{base}?{query}" if query else base
