"""Who may upload and retract (SECURITY.md): OIDC staff, else a staff password, else the server's own machine."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from typing import Any, Final

import streamlit as st

from relief_live.i18n import plain, t

ENV_PASSWORD: Final = "RELIEF_LIVE_STAFF_PASSWORD"
SECRET_PASSWORD: Final = "staff_password"
SECRET_EMAILS: Final = "staff_emails"  # optional allow-list for OIDC sign-in
# A request relayed by a proxy: its connection comes from the proxy, not from the person's browser.
PROXY_HEADERS: Final[tuple[str, ...]] = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


def _secrets() -> Mapping[str, Any]:
    try:
        return st.secrets.to_dict() if len(st.secrets) else {}
    except Exception:  # no secrets.toml
        return {}


def mode(secrets: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """'oidc' when [auth] is configured for st.login, else 'password' when one is set, else 'local'."""
    auth = secrets.get("auth")
    if isinstance(auth, Mapping) and auth.get("redirect_uri"):
        return "oidc"
    return "password" if staff_password(secrets, env) else "local"


def staff_password(secrets: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    value = secrets.get(SECRET_PASSWORD) or env.get(ENV_PASSWORD)
    return str(value) if value else None


def password_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so timing tells nothing about the password."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def not_local_because(ip: str | None, headers: Mapping[str, str]) -> tuple[str, str] | None:
    """Why the browser does not count as the server's own machine, as (i18n key, detail), or None when it does.

    Local means a loopback connection that no proxy relayed; Streamlit reports a loopback peer as None
    (st.context.ip_address).
    """
    relayed = sorted(h for h in headers if h.lower() in {p.lower() for p in PROXY_HEADERS})
    if relayed:
        return "conn_proxy", ", ".join(relayed)
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
        loopback = (mapped or address).is_loopback
    except ValueError:
        loopback = False
    return None if loopback else ("conn_remote", ip)


def is_local(ip: str | None, headers: Mapping[str, str]) -> bool:
    """Whether the browser runs on the server's machine: a loopback connection that no proxy relayed."""
    return not_local_because(ip, headers) is None


def _connection() -> tuple[str | None, dict[str, str]]:
    headers = dict(st.context.headers) if st.context.headers is not None else {}
    return st.context.ip_address, headers


def oidc_allowed(email: str | None, secrets: Mapping[str, Any]) -> bool:
    allowed = secrets.get(SECRET_EMAILS)
    if not allowed:
        return True
    return email is not None and email.lower() in {str(e).lower() for e in allowed}


def may_write() -> bool:
    """Whether this browser session may upload and retract."""
    secrets = _secrets()
    how = mode(secrets, os.environ)
    if how == "oidc":
        return bool(st.user.get("is_logged_in")) and oidc_allowed(st.user.get("email"), secrets)
    if how == "password":
        return bool(st.session_state.get("staff_signed_in"))
    return is_local(*_connection())


def who() -> str:
    """The name recorded on batches this session writes."""
    if st.user.get("is_logged_in"):
        return str(st.user.get("email") or st.user.get("name") or "staff")
    return "staff" if st.session_state.get("staff_signed_in") else "local"


def sign_in_box(lang: str, where: Any = st.sidebar) -> None:
    """The sign-in control of the configured mode (or a note on who may upload)."""
    secrets = _secrets()
    how = mode(secrets, os.environ)
    box = where.container()
    if how == "oidc":
        if st.user.get("is_logged_in"):
            box.caption(t("signed_in_as", lang, who=plain(st.user.get("email") or st.user.get("name"))))
            if box.button(t("sign_out", lang), key="sign_out"):
                st.logout()
        elif box.button(t("sign_in", lang), key="sign_in"):
            st.login()
        return
    if how == "password":
        if st.session_state.get("staff_signed_in"):
            box.caption(t("signed_in_as", lang, who=t("staff", lang)))
            if box.button(t("sign_out", lang), key="sign_out"):
                st.session_state["staff_signed_in"] = False
                st.rerun()
            return
        with box.form("staff_sign_in", clear_on_submit=True, border=False):
            given = st.text_input(t("password", lang), type="password", key="staff_password")
            if st.form_submit_button(t("sign_in", lang)):
                expected = staff_password(secrets, os.environ) or ""
                if password_matches(given, expected):
                    st.session_state["staff_signed_in"] = True
                    st.rerun()
                else:
                    st.error(t("wrong_password", lang))
        return
    if may_write():
        box.caption(t("local_staff", lang))
    else:
        box.caption(t("viewer_only_local", lang))
        why = not_local_because(*_connection())
        if why is not None:
            box.caption(t(why[0], lang, detail=plain(why[1])))
