"""Who may upload and retract (SECURITY.md): OIDC staff, else a staff password, else the server's own machine."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import streamlit as st

from relief_live.i18n import plain, t

ENV_PASSWORD: Final = "RELIEF_LIVE_STAFF_PASSWORD"
SECRET_PASSWORD: Final = "staff_password"
SECRET_EMAILS: Final = "staff_emails"  # optional allow-list for OIDC sign-in
# A request relayed by a proxy: its connection comes from the proxy, not from the person's browser.
PROXY_HEADERS: Final[tuple[str, ...]] = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")
# Streamlit's XSRF cookie: a secret the signed-in browser holds and sends with every connection, and that no
# log records (the session id, by contrast, is in every upload's URL, so in a proxy's access log).
XSRF_COOKIE: Final = "_streamlit_xsrf"
STAFF_BROWSER: Final = "staff_browser"  # session_state: the digest of the browser that signed in
# Wrong staff passwords: each client may try this many, then waits 1 s, 2 s, 4 s… (at most MAX_WAIT_SECONDS)
# before each further try; all clients together get SERVER_FREE_FAILURES before every client waits (many
# sessions or forged client addresses). A client's count starts again after FORGET_SECONDS without a failure.
FREE_FAILURES: Final = 5
SERVER_FREE_FAILURES: Final = 20
MAX_WAIT_SECONDS: Final = 900
FORGET_SECONDS: Final = 3600
MAX_CLIENTS: Final = 10_000  # clients counted at once; the least recent are forgotten first
SERVER: Final = "(all clients)"
log = logging.getLogger(__name__)


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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback  # ::ffff:127.0.0.1 from a dual-stack socket


def host_name(host: str | None) -> str | None:
    """The name or address a Host header asks for ('[::1]:8501' gives '::1'), lower case; None if malformed."""
    if not host:
        return None
    try:
        parsed = urlsplit(f"//{host}")
        name, _ = parsed.hostname, parsed.port  # .port checks that a port is a number in range
    except ValueError:
        return None
    if not name or parsed.username is not None or parsed.path or parsed.query or parsed.fragment:
        return None
    return name.rstrip(".")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _listed(name: str, known: Iterable[str]) -> bool:
    for entry in known:
        pattern = entry.strip().lower().rstrip(".")
        if pattern == name or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True  # "*" (any name) is never a name of this machine
    return False


def host_is_this_machine(host: str | None, known: Iterable[str]) -> bool:
    """Whether a Host header names this machine: localhost, a loopback address, or a name in `known` (the
    server's configured address and `server.allowedHosts`). A page of another site whose name was made to
    point at 127.0.0.1 (DNS rebinding) sends its own name, so it does not."""
    name = host_name(host)
    return name is not None and (name == "localhost" or _loopback(name) or _listed(name, known))


def host_is_unknown(host: str | None, known: Iterable[str]) -> bool:
    """Whether a Host header asks for a name this server does not know: not an IP address, not localhost and
    not in `known`. A browser that reached this server by such a name may be running another site's page."""
    name = host_name(host)
    if host is None:
        return False  # no Host at all is no browser (every browser sends one), so no page of another site
    return name is None or not (_is_address(name) or host_is_this_machine(host, known))


def known_hosts() -> list[str]:
    """The names this server answers to besides localhost and addresses: its configured address and the
    names in Streamlit's `server.allowedHosts`."""
    names = [str(st.get_option("server.address") or "")]
    names += [str(h) for h in (st.get_option("server.allowedHosts") or [])]
    return [n for n in names if n and n != "*"]


def not_local_because(ip: str | None, headers: Mapping[str, str], known: Iterable[str] = ()) -> tuple[str, str] | None:
    """Why the browser does not count as the server's own machine, as (i18n key, detail), or None when it does.

    Local means a loopback connection that no proxy relayed, to a Host that names this machine
    (host_is_this_machine); Streamlit reports a loopback peer as None (st.context.ip_address).
    """
    relayed = sorted(h for h in headers if h.lower() in {p.lower() for p in PROXY_HEADERS})
    if relayed:
        return "conn_proxy", ", ".join(relayed)
    if ip is not None and not _loopback(ip):
        return "conn_remote", ip
    host = _header(headers, "Host")
    if not host_is_this_machine(host, known):
        return "conn_host", host or "—"
    return None


def is_local(ip: str | None, headers: Mapping[str, str], known: Iterable[str] = ()) -> bool:
    """Whether the browser runs on the server's machine: a loopback connection that no proxy relayed, to a
    Host that names this machine."""
    return not_local_because(ip, headers, known) is None


def _connection() -> tuple[str | None, dict[str, str]]:
    headers = dict(st.context.headers) if st.context.headers is not None else {}
    return st.context.ip_address, headers


def refuse_unknown_host(lang: str) -> None:
    """With neither a password nor OIDC, stop the page for a browser that asked for a name this server does
    not know (host_is_unknown): another site's page, its name pointed at this machine, would otherwise read
    the dashboard and act as "this machine"."""
    if mode(_secrets(), os.environ) != "local":
        return
    host = _header(_connection()[1], "Host")
    if host_is_unknown(host, known_hosts()):
        log.warning("refused a browser that asked for %r: not a name of this server (server.allowedHosts)", host)
        st.error(t("unknown_host", lang, host=plain(host)), icon=":material/block:")
        st.stop()


# -- password sign-in bound to the browser ---------------------------------------------------------
def browser_secret(cookies: Mapping[str, str]) -> str | None:
    """A digest of the token in this browser's XSRF cookie, or None without one. The cookie's text changes
    at each page load (a fresh mask over the token: "2|mask|masked token|time"); the token does not."""
    raw = (cookies.get(XSRF_COOKIE) or "").strip("\"'")
    try:
        if raw.startswith("2|"):
            _, mask_hex, masked_hex, _ = raw.split("|")
            mask, masked = bytes.fromhex(mask_hex), bytes.fromhex(masked_hex)
            token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)) if mask else b""
        else:
            token = bytes.fromhex(raw)
    except ValueError:
        return None
    return hashlib.sha256(token).hexdigest() if token else None


def _cookies() -> dict[str, str]:
    return dict(st.context.cookies)


def signed_in() -> bool:
    """Whether this session signed in with the staff password from the browser that now drives it. Checked
    on every run, so at every upload, retract or clearing of the demo: a session resumed by another browser
    (its id is in the proxy's log) has the session's state but not the signed-in browser's cookie."""
    held = st.session_state.get(STAFF_BROWSER)
    here = browser_secret(_cookies())
    return isinstance(held, str) and here is not None and hmac.compare_digest(held, here)


class Throttle:
    """Counts wrong staff passwords per client and for the whole server, and says how long each must wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float, float]] = {}  # who -> (failures, last failure, wait until)

    def wait(self, client: str) -> float:
        """Seconds before `client` may try a password again (0: now)."""
        now = self._clock()
        with self._lock:
            return max(0.0, *(self._counts.get(k, (0, 0.0, 0.0))[2] - now for k in (client, SERVER)))

    def failed(self, client: str) -> float:
        """Counts a wrong password from `client` (logged); returns the seconds before its next try."""
        now = self._clock()
        with self._lock:
            for key, free in ((client, FREE_FAILURES), (SERVER, SERVER_FREE_FAILURES)):
                failures, last, until = self._counts.get(key, (0, now, 0.0))
                failures = 1 if now - last > FORGET_SECONDS else failures + 1
                if failures >= free:
                    until = now + min(2.0 ** min(failures - free, 20), MAX_WAIT_SECONDS)
                self._counts[key] = (failures, now, until)
            mine, everyone = self._counts[client][0], self._counts[SERVER][0]
            if len(self._counts) > MAX_CLIENTS:  # forged addresses must not grow this without end
                by_age = sorted(self._counts, key=lambda k: self._counts[k][1])
                for key in by_age[: len(by_age) - MAX_CLIENTS]:
                    if key not in (client, SERVER):
                        del self._counts[key]
        wait = self.wait(client)
        # %r: the client's address may come from a header, so it is quoted and escaped in the log
        log.warning("staff sign-in: wrong password from %r (%d in a row; %d on this server); next try in %.0f s",
                    client, mine, everyone, wait)
        return wait

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._counts.pop(client, None)


THROTTLE = Throttle()


def client_of(ip: str | None, headers: Mapping[str, str]) -> str:
    """Who tries a password, for the throttle: the address the project's nginx saw (X-Real-Ip, which it sets
    itself), else the connection's. A forged address only moves a client's count; the server's catches it."""
    return _header(headers, "X-Real-Ip") or ip or "127.0.0.1"


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
        return signed_in()
    return is_local(*_connection(), known_hosts())


def who() -> str:
    """The name recorded on batches this session writes."""
    if st.user.get("is_logged_in"):
        return str(st.user.get("email") or st.user.get("name") or "staff")
    return "staff" if signed_in() else "local"


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
        if signed_in():
            box.caption(t("signed_in_as", lang, who=t("staff", lang)))
            if box.button(t("sign_out", lang), key="sign_out"):
                st.session_state.pop(STAFF_BROWSER, None)
                st.rerun()
            return
        with box.form("staff_sign_in", clear_on_submit=True, border=False):
            given = st.text_input(t("password", lang), type="password", key="staff_password")
            if st.form_submit_button(t("sign_in", lang)):
                _try_password(given, staff_password(secrets, os.environ) or "", lang)
        return
    if may_write():
        box.caption(t("local_staff", lang))
    else:
        box.caption(t("viewer_only_local", lang))
        why = not_local_because(*_connection(), known_hosts())
        if why is not None:
            box.caption(t(why[0], lang, detail=plain(why[1])))


def _try_password(given: str, expected: str, lang: str) -> None:
    """Checks a password given in the sign-in form, unless this client (or the server) must wait first."""
    client = client_of(*_connection())
    wait = THROTTLE.wait(client)
    browser = browser_secret(_cookies())
    if wait > 0:
        st.error(t("sign_in_wait", lang, seconds=math.ceil(wait)))
    elif browser is None:
        st.error(t("sign_in_needs_cookies", lang))
    elif password_matches(given, expected):
        THROTTLE.succeeded(client)
        st.session_state[STAFF_BROWSER] = browser
        st.rerun()
    else:
        wait = THROTTLE.failed(client)
        st.error(t("wrong_password", lang) + (" " + t("sign_in_wait", lang, seconds=math.ceil(wait)) if wait else ""))
