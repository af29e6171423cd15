"""A dashboard server on a free port over a seeded store, and a headless Debian Chromium to drive it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from relief_live.store import Store
from tests import dashboard_data

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
# --no-proxy-server: the tests talk to loopback servers; a proxy from the environment must not relay them
# (a relayed request does not count as the server's own machine, so uploads would be refused).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--no-proxy-server"]
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"


def chromium_path() -> str:
    for candidate in (os.environ.get("RELIEF_LIVE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must have chromium installed (.ci/run installs it): the browser tests run there")
    pytest.skip("no chromium here (apt install chromium fonts-noto-cjk); CI runs these tests")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    db: str
    store: Store
    process: subprocess.Popen
    log: Path


def start_server(tmp: Path, *, env: dict[str, str] | None = None, load: bool = True,
                 address: str = "127.0.0.1") -> Server:
    db = f"sqlite:///{tmp / 'e2e.sqlite3'}"
    store = Store(db)
    store.create()
    if load:
        dashboard_data.load(store)
    log = tmp / "streamlit.log"
    environment = {"RELIEF_LIVE_DB": db, "RELIEF_LIVE_REFRESH_SECONDS": "2", **(env or {})}
    process, url = launch("dashboard.py", environment, address=address, log=log)
    return Server(url, db, store, process, log)


def launch(script: str, env: dict[str, str], *, address: str = "127.0.0.1", log: Path | None = None,
           timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """`streamlit run script` on a free port (as in production, no demo loaded), returned once healthy."""
    port = free_port()
    environment = {**os.environ, "RELIEF_LIVE_AUTO_DEMO": "0", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.port", str(port), "--server.address", address, "--server.fileWatcherType", "none"],
        cwd=ROOT, env=environment, stderr=subprocess.STDOUT,
        stdout=log.open("wb") if log is not None else subprocess.DEVNULL,
    )
    url = f"http://{address}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            said = log.read_text(errors="replace") if log is not None else ""
            raise RuntimeError(f"streamlit run {script} did not start:\n{said}")
        time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def stop_server(server: Server) -> None:
    stop(server.process)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    chromium_path()
    # This server's data is written once, at its start (live1's latest tick a minute before): a silence limit of
    # an hour keeps live1 on air while the module's tests run, however long a loaded machine takes over them.
    s = start_server(tmp_path_factory.mktemp("e2e"), env={"RELIEF_LIVE_SILENT_MINUTES": "60"})
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # a loaded CI machine renders slower than a laptop
    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    p = context.new_page()
    yield p
    context.close()


def open_page(page, url: str, *, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    """Go to `url` and wait until the script has run and no spinner is left."""
    page.goto(url)
    wait_ready(page, timeout=timeout)


def wait_ready(page, *, timeout: float = 30_000) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_selector(READY, timeout=timeout)
    page.wait_for_timeout(400)
    page.wait_for_selector(READY, timeout=timeout)


def choose(page, select, option: str, *, tries: int = 4) -> None:  # type: ignore[no-untyped-def]
    """Open a select box (`select`, a locator) and click its `option`. The dropdown is opened again when it
    shows no such option within a few seconds (a click that landed while the page was still settling on a
    loaded CI machine); after `tries`, a screenshot is kept and the last error raised."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    for attempt in range(tries):
        select.click()
        wanted = page.get_by_role("option", name=option)
        try:
            wanted.wait_for(timeout=5_000)
            wanted.click()
            return
        except PlaywrightTimeoutError:
            if attempt == tries - 1:
                shot(page, "choose_failed")
                raise
            page.keyboard.press("Escape")
            wait_ready(page)


def sidebar_text(page) -> str:  # type: ignore[no-untyped-def]
    """What the sidebar says (who may upload and why), for failure messages."""
    sidebar = page.locator("[data-testid='stSidebar']")
    return sidebar.inner_text() if sidebar.count() else "(no sidebar)"


def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
