"""Two PostgreSQL-backed app servers behind nginx (deploy/nginx.conf): an upload through one shows on the other."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tests import dashboard_data
from tests.conftest import _drop_pg_schema, pg_store
from tests.e2e.conftest import ROOT, chromium_path, free_port, open_page, shot, start_server, stop_server

pytestmark = pytest.mark.e2e
REFRESH_SECONDS = 2


def nginx_path() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must have nginx installed (.ci/run installs it)")
    pytest.skip("no nginx here (apt install nginx); CI runs this test")


def start_nginx(tmp: Path, upstreams: list[int], port: int) -> subprocess.Popen:
    """deploy/nginx.conf as shipped, with this test's ports, inside a standalone nginx.conf."""
    site = (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    servers = re.findall(r"server 127\.0\.0\.1:(\d+)", site)
    assert len(servers) == len(upstreams) == 2
    for shipped, ours in zip(servers, upstreams, strict=True):
        site = site.replace(f"server 127.0.0.1:{shipped}", f"server 127.0.0.1:{ours}")
    site = re.sub(r"listen \d+;", f"listen 127.0.0.1:{port};", site)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
    log_format upstream '$upstream_addr $request_uri';
    access_log {tmp}/access.log upstream;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
{site}
}}
""", encoding="utf-8")
    proc = subprocess.Popen([nginx_path(), "-c", str(conf), "-p", str(tmp)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"nginx did not start: {(tmp / 'error.log').read_text(errors='replace')}")


def test_upload_through_one_app_server_shows_on_the_other(tmp_path: Path, browser) -> None:  # type: ignore[no-untyped-def]
    chromium_path()
    store, schema_name = pg_store()
    servers, proxy = [], None
    try:
        dashboard_data.load(store)
        env = {"RELIEF_LIVE_DB": store.url, "RELIEF_LIVE_STAFF_PASSWORD": "deploy-staff",
               "RELIEF_LIVE_REFRESH_SECONDS": str(REFRESH_SECONDS)}
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            servers.append(start_server(tmp_path / name, env=env, load=False))
        ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
        proxy_port = free_port()
        (tmp_path / "nginx").mkdir()
        proxy = start_nginx(tmp_path / "nginx", ports, proxy_port)

        # Staff come in through nginx, which keeps them on one app server (ip_hash) ...
        staff = browser.new_context(viewport={"width": 1400, "height": 1200}).new_page()
        open_page(staff, f"http://127.0.0.1:{proxy_port}/upload")
        assert staff.locator("[data-testid='stFileUploader']").count() == 0  # proxied: not "this machine"
        staff.get_by_label("Staff password").fill("deploy-staff")
        staff.get_by_role("button", name="Sign in").click()
        staff.locator("[data-testid='stFileUploader']").wait_for(timeout=20_000)
        log = (tmp_path / "nginx" / "access.log").read_text()
        used = {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", log)}
        assert len(used) == 1, log  # sticky
        other = servers[1 - ports.index(used.pop())]

        # ... while a viewer watches the live session on the other app server.
        viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        open_page(viewer, f"{other.url}/live?session=live1")
        viewer.wait_for_selector(".js-plotly-plot .main-svg")
        count = "() => document.querySelector('.js-plotly-plot').data[0].x.length"
        before = viewer.evaluate(count)

        start = store.read("sessions").filter(pl.col("session_id") == "live1")["started_at"][0]
        trend = tmp_path / "trend_live1.csv"
        trend.write_text("直播ID,时间,实时在线人数,成交订单数,成交金额\n" + "".join(
            "live1," + dashboard_data.tick_line(start + timedelta(minutes=m), 4000 + m, 3, 150)
            for m in range(30, 34)), encoding="utf-8")
        staff.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(str(trend))
        commit = staff.get_by_role("button", name=f"Commit {trend.name}")
        commit.wait_for(timeout=20_000)
        commit.click()
        staff.get_by_text(f"{trend.name}: 4 rows stored as batch").wait_for(timeout=20_000)
        committed = time.monotonic()

        viewer.wait_for_function(f"() => document.querySelector('.js-plotly-plot').data[0].x.length >= {before + 4}",
                                 timeout=(REFRESH_SECONDS * 2 + 4) * 1000)
        waited = time.monotonic() - committed
        shot(viewer, "deploy_other_server_live")
        assert waited < REFRESH_SECONDS * 2 + 4
        assert store.read("ticks").filter(pl.col("session_id") == "live1").height == 34
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(10)
        for s in servers:
            stop_server(s)
        _drop_pg_schema(schema_name)
