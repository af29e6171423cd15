"""Dashboard building blocks without a browser: translations, charts, downloads, auth rules, incremental reads."""

from __future__ import annotations

import io
import re
import string
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from relief_live import auth, charts, download, i18n, ingest, live, ui
from relief_live.store import Store
from tests import dashboard_data
from tests.conftest import sqlite_store

ROOT = Path(__file__).resolve().parent.parent
UI_SOURCES = [ROOT / "dashboard.py", *sorted((ROOT / "views").glob("*.py")),
              *(ROOT / "relief_live" / n for n in ("charts.py", "ui.py", "auth.py"))]


# -- i18n -----------------------------------------------------------------------------------------------
def test_every_text_has_english_and_chinese_with_the_same_fields() -> None:
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}  # noqa: E731
    for key, (en, zh) in i18n.TEXT.items():
        assert en and zh, key
        assert fields(en) == fields(zh), key


def test_every_key_the_pages_use_is_translated() -> None:
    used: set[str] = set()
    for path in UI_SOURCES:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_0-9]+)["']""", path.read_text()))
    assert len(used) > 60
    assert used - set(i18n.TEXT) == set()


def test_chinese_shows_chinese() -> None:
    assert i18n.t("page_villages", "zh") == "帮扶村"
    assert i18n.t("updated_at", "zh", time="19:05:00") == "更新于 19:05:00"
    assert i18n.vocab("hk", "cadre", "zh") == "干部直播"
    assert i18n.vocab("pf", "somewhere", "zh") == "somewhere"


# -- charts ---------------------------------------------------------------------------------------------
def _colours(fig) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {trace.name: trace.marker.color for trace in fig.data if trace.type == "bar"}


def test_each_host_kind_has_one_colour_on_every_chart() -> None:
    days = pl.DataFrame({"day": [datetime(2020, 9, 6).date()] * 2, "host_kind": ["broadcast", "cadre"],
                         "gmv": [1_000_00, 2_000_00]})
    fig = charts.gmv_per_day(days, "en")
    assert _colours(fig) == {"Broadcast": "#0072B2", "Cadre-hosted": "#E69F00"}
    kinds = pl.DataFrame({"host_kind": ["broadcast", "cadre"], "gmv_per_hour": [100, 200],
                          "median_gpm": [10, 20], "median_conversion": [0.1, 0.2]})
    compare = charts.host_compare(kinds, "en")
    assert all(list(trace.marker.color) == ["#0072B2", "#E69F00"] for trace in compare.data)
    hosts = pl.DataFrame({"host_name": ["a", "b"], "host_kind": ["cadre", "broadcast"], "gmv": [5, 7]})
    assert _colours(charts.ranked(hosts, "host_name", "gmv", "en", title="x", money=True)) == {
        "Broadcast": "#0072B2", "Cadre-hosted": "#E69F00"}


def test_money_in_wan_yuan_from_100000_yuan() -> None:
    days = pl.DataFrame({"day": [datetime(2020, 9, 6).date()], "host_kind": ["cadre"], "gmv": [123_456_78_00]})
    fig = charts.gmv_per_day(days, "zh")
    assert fig.layout.title.text == "按主播类型的每日成交额 (万元)"
    assert fig.data[0].y[0] == pytest.approx(1_234.5678)  # 12,345,678 元
    assert fig.layout.yaxis.tickformat == ",.1~f"  # 1,234.5 but 500 rather than 500.0 on the ticks
    assert charts.money_scale(99_999, "en")[1] == "元"


def test_gmv_bars_carry_the_year_when_they_span_years_and_say_when_there_is_nothing() -> None:
    from datetime import date

    one_year = pl.DataFrame({"day": [date(2020, 9, 6), date(2020, 9, 7)], "host_kind": ["cadre"] * 2,
                             "gmv": [100_00, 0]})
    assert charts.gmv_per_day(one_year, "en").data[0].x == ("09-06", "09-07")
    years = pl.DataFrame({"day": [date(2020, 9, 1), date(2026, 12, 1)], "host_kind": ["cadre"] * 2,
                          "gmv": [100_00, 200_00]})
    fig = charts.gmv_per_day(years, "zh", grain="month")
    assert fig.data[0].x == ("2020-09", "2026-12")
    assert fig.layout.title.text == "按主播类型的每月成交额 (元)"
    assert charts.gmv_per_day(years, "en").data[0].x == ("2020-09-01", "2026-12-01")
    # No sale in the span, or no day at all: the chart says so instead of drawing empty axes.
    for nothing in (years.with_columns(gmv=pl.lit(0)), years.clear()):
        fig = charts.gmv_per_day(nothing, "zh", grain="week")
        assert [a.text for a in fig.layout.annotations] == [i18n.t("no_chart_data", "zh")]
        assert fig.layout.title.text == "按主播类型的每周成交额"


def test_session_curves_mark_the_peak_and_show_shanghai_time() -> None:
    start = datetime(2020, 9, 6, 11, 0, tzinfo=UTC)  # 19:00 in Shanghai
    curves = pl.DataFrame({"ts": [start + timedelta(minutes=i) for i in range(3)], "viewers_online": [10, 1500, 30],
                           "orders": [0, 2, 1], "gmv_cum": [0, 20_000, 30_000]})
    fig = charts.session_curves(curves, "en", title="s", host_kind="cadre")
    peak = next(trace for trace in fig.data if trace.mode == "markers+text")
    assert peak.y == (1500,) and peak.text == ("peak 1,500",)
    assert peak.x[0] == datetime(2020, 9, 6, 19, 1)
    assert {trace.line.color for trace in fig.data if trace.type == "scatter" and trace.line.color} == {"#E69F00"}
    assert "Noto Sans CJK SC" in fig.layout.font.family
    assert fig.data[-1].y[-1] == 300.0  # yuan


def test_empty_frames_give_a_titled_figure_that_says_so() -> None:
    fig = charts.village_progress(pl.DataFrame(), "zh")
    assert fig.layout.title.text == "各村产品已售与剩余"
    assert fig.layout.annotations[0].text == "暂无可绘制的数据。"


def test_village_progress_shares_of_the_baseline() -> None:
    villages = pl.DataFrame({"village": ["甲村", "乙村"], "product": ["芒果", "茶叶"], "unit": ["斤", "斤"],
                             "unsold_qty": [100.0, 50.0], "sold_qty": [25.0, 80.0], "remaining_qty": [75.0, 0.0],
                             "sell_through": [0.25, 1.6]})
    fig = charts.village_progress(villages, "en")
    sold = fig.data[0]
    assert list(sold.y) == ["乙村 · 茶叶 (斤)", "甲村 · 芒果 (斤)"]
    assert list(sold.x) == [100.0, 25.0]  # over-sold is capped at the whole bar


def test_small_table_shows_names_as_text_a_dash_for_missing_and_a_bar_for_shares() -> None:
    frame = pl.DataFrame({"village": ["<img src=x onerror=alert(1)>", "新田村"], "sell_through": [3.84, None],
                          "remaining_qty": [64733.0, 104.343], "projected_clear_date": [None, datetime(2020, 12, 29).date()]})
    shown = ui.small_table_html(frame, "en", progress=("sell_through",))
    assert "<img" not in shown and "&lt;img src=x onerror=alert(1)&gt;" in shown
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td [^>]*>(.*?)</td>", shown)]
    assert cells == ["&lt;img src=x onerror=alert(1)&gt;", "384.0%", "64,733", "—", "新田村", "—", "104.343", "2020-12-29"]
    assert "width: 100.0%" in shown  # a share above 1 fills the bar, as ProgressColumn's max_value=1 does
    assert re.findall(r"<th [^>]*>(.*?)</th>", shown)[:2] == [i18n.t("village"), i18n.t("sell_through")]


# -- downloads ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["=HYPERLINK(\"x\")", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    frame = pl.DataFrame({"v": [cell, "芒果"], "n": [1, -2]})
    assert download.neutralise(frame)["v"].to_list() == ["'" + cell, "芒果"]
    csv = download.to_csv(frame)
    assert csv.startswith(b"\xef\xbb\xbf")
    assert pl.read_csv(io.BytesIO(csv[3:]))["v"][0] == "'" + cell
    sheet = pl.read_excel(io.BytesIO(download.to_xlsx(frame)))
    assert sheet["v"].to_list() == ["'" + cell, "芒果"]
    assert sheet["n"].to_list() == [1, -2]  # numbers stay numbers


# -- auth -----------------------------------------------------------------------------------------------
def test_auth_mode_order() -> None:
    oidc = {"auth": {"redirect_uri": "https://x/oauth2callback", "client_id": "c"}}
    assert auth.mode(oidc, {"RELIEF_LIVE_STAFF_PASSWORD": "p"}) == "oidc"
    assert auth.mode({"staff_password": "p"}, {}) == "password"
    assert auth.mode({}, {"RELIEF_LIVE_STAFF_PASSWORD": "p"}) == "password"
    assert auth.mode({}, {}) == "local"


def test_password_comparison() -> None:
    assert auth.password_matches("s3cret", "s3cret")
    assert not auth.password_matches("s3cre", "s3cret")
    assert auth.password_matches("密码", "密码")


def test_only_an_unproxied_loopback_browser_is_local() -> None:
    here = {"Host": "127.0.0.1:8501"}
    assert auth.is_local(None, here)
    assert auth.is_local("127.0.0.1", here)
    assert auth.is_local("::1", {"host": "[::1]:8501"})
    assert auth.is_local("::1", {"Host": "localhost:8501"})
    assert not auth.is_local("192.168.1.20", here)
    assert not auth.is_local(None, {**here, "X-Forwarded-For": "203.0.113.9"})  # a proxy on the same machine
    assert not auth.is_local("not an ip", here)
    assert auth.is_local("::ffff:127.0.0.1", here)


def test_a_page_of_another_site_pointed_at_loopback_is_not_local() -> None:
    """DNS rebinding: a browser on this machine loads attacker.example, whose name then resolves to 127.0.0.1;
    its requests come from loopback but carry the other site's name."""
    assert not auth.is_local(None, {"Host": "attacker.example:8501"})
    assert not auth.is_local(None, {})  # no Host: no browser's page
    assert not auth.is_local(None, {"Host": "localhost.attacker.example"})
    assert not auth.is_local(None, {"Host": "127.0.0.1@attacker.example"})
    assert not auth.is_local(None, {"Host": "attacker.example"}, ["*"])  # "any name" names nothing
    assert auth.is_local(None, {"Host": "relief.lan:8501"}, ["relief.lan"])  # a name of this machine, listed
    assert auth.is_local(None, {"Host": "a.relief.lan"}, ["*.relief.lan"])
    assert auth.not_local_because(None, {"Host": "attacker.example:8501"}) == ("conn_host", "attacker.example:8501")


def test_only_unknown_names_are_refused_the_app() -> None:
    assert auth.host_is_unknown("attacker.example:8501", [])
    assert auth.host_is_unknown("bad host:x", [])
    for host in ("127.0.0.1:8501", "192.168.1.20:8501", "[::1]:8501", "localhost", "LocalHost:1", None):
        assert not auth.host_is_unknown(host, []), host  # addresses can be viewed from any machine
    assert not auth.host_is_unknown("relief.lan", ["relief.lan"])


def test_a_view_only_browser_is_told_why() -> None:
    assert auth.not_local_because(None, {"Host": "localhost"}) is None
    assert auth.not_local_because("192.168.1.20", {}) == ("conn_remote", "192.168.1.20")
    assert auth.not_local_because(None, {"x-forwarded-for": "203.0.113.9", "Via": "1.1 squid"}) == (
        "conn_proxy", "x-forwarded-for")


def test_staff_rights_follow_the_browser_cookie_not_the_session() -> None:
    token = bytes(range(32))
    mask = b"\x01\x02\x03\x04"
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(token))
    cookie = f"2|{mask.hex()}|{masked.hex()}|1700000000"
    other_mask = b"\x09\x08\x07\x06"
    same_token = f"2|{other_mask.hex()}|{bytes(b ^ other_mask[i % 4] for i, b in enumerate(token)).hex()}|1700000000"
    secret = auth.browser_secret({auth.XSRF_COOKIE: cookie})
    assert secret is not None
    assert auth.browser_secret({auth.XSRF_COOKIE: same_token}) == secret  # a new mask on the next page load
    assert auth.browser_secret({auth.XSRF_COOKIE: token.hex()}) == secret  # the unmasked form
    assert auth.browser_secret({auth.XSRF_COOKIE: bytes(32).hex()}) != secret  # another browser
    assert auth.browser_secret({}) is None
    assert auth.browser_secret({auth.XSRF_COOKIE: "2|zz|zz|1"}) is None


def test_wrong_passwords_wait_longer_and_longer(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    throttle = auth.Throttle(clock=lambda: now[0])

    def tries_in(seconds: float, client: str) -> int:
        """Wrong passwords a client gets in `seconds`, trying again the moment it may."""
        end, tried = now[0] + seconds, 0
        while True:
            now[0] += throttle.wait(client)
            if now[0] >= end:
                return tried
            throttle.failed(client)
            tried += 1
            now[0] += 0.05  # 20 tries a second when nothing stops them

    with caplog.at_level("WARNING", logger="relief_live.auth"):
        assert tries_in(60, "203.0.113.9") == 10  # 5 at once, then after 1, 2, 4, 8 and 16 s
    assert "wrong password from '203.0.113.9' (10 in a row" in caplog.records[-1].getMessage()
    assert tries_in(3600, "203.0.113.9") < 16  # an hour: each wait doubles, up to 15 minutes
    assert throttle.wait("203.0.113.9") <= auth.MAX_WAIT_SECONDS
    now[0] += auth.FORGET_SECONDS + auth.MAX_WAIT_SECONDS + 1
    throttle.succeeded("203.0.113.9")
    assert throttle.wait("203.0.113.9") == 0

    # Many clients (or forged addresses) together: after 20 wrong passwords on the server, everyone waits.
    fresh = auth.Throttle(clock=lambda: now[0])
    for i in range(auth.SERVER_FREE_FAILURES):
        assert fresh.wait(f"10.0.0.{i}") == 0
        fresh.failed(f"10.0.0.{i}")
    assert fresh.wait("10.0.0.250") > 0

    # Forged addresses, one per try, are counted by the server but do not grow the count table without end.
    for i in range(auth.MAX_CLIENTS + 50):
        fresh.failed(f"forged-{i}")
    assert len(fresh._counts) <= auth.MAX_CLIENTS + 1
    assert fresh.wait("anyone") > 0


def test_oidc_allow_list() -> None:
    assert auth.oidc_allowed("a@x.cn", {})
    assert auth.oidc_allowed("A@x.cn", {"staff_emails": ["a@x.cn"]})
    assert not auth.oidc_allowed("b@x.cn", {"staff_emails": ["a@x.cn"]})


# -- incremental reads ------------------------------------------------------------------------------------
def _current(store: Store) -> dict[str, pl.DataFrame]:
    return {kind: store.read(kind) for kind in live.KINDS}


def _same(held: dict[str, pl.DataFrame], store: Store) -> None:
    for kind, frame in _current(store).items():
        assert_frame_equal(held[kind].sort("batch", "line"), frame.sort("batch", "line"), check_row_order=False)


def test_live_refresh_reads_only_new_batches(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    dashboard_data.load(store)
    frames = live.LiveFrames(store)
    frames.refresh()
    assert {since for _, since in frames.reads} == {0}
    frames.reads.clear()
    frames.refresh()
    assert frames.reads == []  # nothing new: only the version was asked
    last = store.last_batch()
    start = store.read("sessions").filter(pl.col("session_id") == "live1")["started_at"][0]
    head = "时间,实时在线人数,成交订单数,成交金额\n"
    more = head + dashboard_data.tick_line(start + timedelta(minutes=30), 5000, 3, 90)
    ingest.ingest_bytes(store, "ticks_live1.csv", more.encode(), session_id="live1")
    version, held = frames.refresh()
    assert frames.reads == [("ticks", last)]  # one kind, only the new batch
    assert version == store.version()
    assert held["ticks"].filter(pl.col("session_id") == "live1")["viewers_online"].max() == 5000
    _same(held, store)


def test_viewers_refreshing_together_share_one_version_check(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    dashboard_data.load(store)
    frames = live.LiveFrames(store)
    frames.refresh()
    slow = store.version

    def version() -> int:  # a check that takes a while, so the other viewers arrive during it
        time.sleep(0.2)
        return slow()

    store.version = version  # type: ignore[method-assign]
    checks = frames.checks
    threads = [threading.Thread(target=frames.refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    assert frames.checks - checks <= 3  # twenty viewers, a handful of queries
    before = frames.checks
    frames.refresh()  # a later caller still checks afresh: it sees what was written meanwhile
    assert frames.checks == before + 1


def test_live_refresh_after_a_retraction_matches_the_store(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path)
    dashboard_data.load(store)
    frames = live.LiveFrames(store)
    frames.refresh()
    start = store.read("sessions").filter(pl.col("session_id") == "tv1")["started_at"][0]
    head = "时间,实时在线人数,成交订单数,成交金额\n"
    changed = ingest.ingest_bytes(store, "fix.csv", (head + dashboard_data.tick_line(start, 99_999, 1, 1)).encode(),
                                  session_id="tv1")
    _, held = frames.refresh()
    assert held["ticks"]["viewers_online"].max() == 99_999
    store.retract(changed.batch)
    _, held = frames.refresh()
    assert held["ticks"]["viewers_online"].max() != 99_999  # the overwritten value is back
    _same(held, store)


def test_a_refresh_says_when_it_reads_every_row_and_only_then(tmp_path: Path) -> None:
    # What the dashboard's waiting message follows: the visitor whose refresh reads every row (the first read,
    # or the first after a retraction), and one arriving meanwhile, is told so; a refresh of new batches is not.
    store = sqlite_store(tmp_path)
    dashboard_data.load(store)
    frames = live.LiveFrames(store)
    start = store.read("sessions").filter(pl.col("session_id") == "tv1")["started_at"][0]
    seen, opened = [], []
    real_read = store.read_keyed

    def read_keyed(kind: str, since_batch: int = 0):  # type: ignore[no-untyped-def]
        seen.append((since_batch, frames.reading_all))
        return real_read(kind, since_batch)

    store.read_keyed = read_keyed  # type: ignore[method-assign]

    class Notice:
        def __enter__(self) -> None:
            opened.append(frames.reading_all)

        def __exit__(self, *exc: object) -> None:
            opened.append(frames.reading_all)

    frames.refresh(reading=Notice)
    assert seen and all(since == 0 and reading for since, reading in seen)
    assert opened == [True, True] and frames.reading_all is False
    opened.clear()
    seen.clear()
    head = "时间,实时在线人数,成交订单数,成交金额\n"
    added = ingest.ingest_bytes(store, "more.csv", (head + dashboard_data.tick_line(start, 7, 1, 1)).encode(),
                                session_id="tv1")
    frames.refresh(reading=Notice)
    assert seen == [(added.batch - 1, False)] and opened == []  # only the new batch, no message
    seen.clear()
    store.retract(added.batch)
    frames.refresh(reading=Notice)
    assert seen and all(since == 0 and reading for since, reading in seen)
    assert opened == [True, True] and frames.reading_all is False
    # A read that fails leaves no message behind.
    store.retract(added.batch - 1)

    def failing(kind: str, since_batch: int = 0):  # type: ignore[no-untyped-def]
        raise OSError("disk gone")

    store.read_keyed = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        frames.refresh(reading=Notice)
    assert frames.reading_all is False


def test_long_names_are_cut_on_chart_axes_but_stay_distinct() -> None:
    long_a, long_b = "长" * 10_000, "长" * 9_999 + "短"
    frame = pl.DataFrame({"host_name": [long_a, long_b, "王主持"], "gmv": [300, 200, 100],
                          "host_kind": ["cadre", "cadre", "broadcast"]})
    fig = charts.ranked(frame, "host_name", "gmv", "en", title="GMV", money=True)
    axis = fig.layout.yaxis
    assert list(axis.tickvals) == ["王主持", long_b, long_a]  # every bar keeps its own category
    assert max(len(text) for text in axis.ticktext) == charts.LABEL_CHARS
    assert axis.ticktext[0] == "王主持"


def test_broadcast_against_cadre_writes_each_value_with_its_unit_on_the_bar() -> None:
    kinds = pl.DataFrame({"host_kind": ["broadcast", "cadre"],
                          "gmv_per_hour": [39_002_200, 80_300_000],  # fen: 390,022 元 and 803,000 元
                          "median_gpm": [1_386_300, 3_039_800],
                          "median_conversion": [0.03, 0.026]})
    fig = charts.host_compare(kinds, "en")
    assert [list(bar.text) for bar in fig.data] == [["39.0 万元", "80.3 万元"], ["13,863 元", "30,398 元"], ["3.0%", "2.6%"]]
    assert all(axis.showticklabels is False for axis in (fig.layout.yaxis, fig.layout.yaxis2, fig.layout.yaxis3))
    assert fig.layout.uniformtext.minsize == 12  # labels wider than a bar are not shrunk out of sight


# -- uploaded text stays text ---------------------------------------------------------------------------------
MARKUP = ['<a href="http://127.0.0.1:9/x">X</a>', '<span style="font-size:80px">big</span>', "a<br>b", "&lt;b&gt;",
          "![px](http://127.0.0.1:9/md.png)", "**b** :red[x] $x$ www.example.com"]


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if hasattr(value, "tolist"):  # numpy arrays in a figure's JSON
        return _strings(value.tolist())
    return []


def test_no_string_in_any_chart_carries_markup_from_a_file() -> None:
    """Plotly draws <a href>, <span style>, <br> and entities in every string of a figure: names from files must
    reach it as the text they are. Only the charts' own <br> and <extra> may remain."""
    name = " ".join(MARKUP)
    start = datetime(2020, 9, 6, 11, 0, tzinfo=UTC)
    curves = pl.DataFrame({"ts": [start + timedelta(minutes=i) for i in range(3)], "viewers_online": [10, 15, 30],
                           "orders": [0, 2, 1], "gmv_cum": [0, 20_000, 30_000]})
    figures = [
        charts.breakdown(pl.DataFrame({"product": [name, "芒果"], "amount": [500, 100]}), "product", "en", title=name),
        charts.ranked(pl.DataFrame({"host_name": [name, "王"], "gmv": [5, 7], "host_kind": [name, "cadre"]}),
                      "host_name", "gmv", "en", title=name, money=True),
        charts.village_progress(pl.DataFrame({"village": [name], "product": [name], "unit": [name],
                                              "unsold_qty": [10.0], "sold_qty": [2.0], "remaining_qty": [8.0],
                                              "sell_through": [0.2]}), "en"),
        charts.session_curves(curves, "en", title=name, host_kind=name),
        charts.previous_compare(curves, curves, "en", current_start=start, previous_start=start,
                                previous_title=name),
        charts.host_compare(pl.DataFrame({"host_kind": [name], "gmv_per_hour": [100], "median_gpm": [10],
                                          "median_conversion": [0.1]}), "en"),
    ]
    for fig in figures:
        strings = _strings(fig.to_plotly_json())
        assert any(charts.inert(name) in s for s in strings), fig.layout.title.text  # the name is there, inert
        for s in strings:
            assert not re.search(r"<(?!/?(br|extra)>)", s), s
            assert not re.search(r"&(?!amp;|lt;|gt;)", s), s  # every & starts an entity the chart wrote


def test_inert_text_shows_as_written_and_cuts_as_shown() -> None:
    shown = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
    for text in MARKUP:
        assert re.sub(r"&(amp|lt|gt);", lambda m: shown[m[0]], charts.inert(text)) == text
    labels = ["<" * 50, "王主持"]
    fig = charts.ranked(pl.DataFrame({"host_name": labels, "gmv": [2, 1], "host_kind": ["cadre", "cadre"]}),
                        "host_name", "gmv", "en", title="GMV", money=True)
    assert fig.layout.yaxis.ticktext[1] == "&lt;" * (charts.LABEL_CHARS - 1) + "…"  # no entity cut in two


def test_plain_escapes_every_markdown_character() -> None:
    for text in MARKUP:
        escaped = i18n.plain(text)
        # CommonMark shows an escaped character as itself; the word joiner is invisible
        assert re.sub(r"\\(.)", r"\1", escaped).replace(i18n.WORD_JOINER, "") == text
        assert not re.search(r"(?<!\\)[!-/:-@\[-`{-~]", re.sub(r"\\.", "", escaped)), escaped
    # A bare address is no autolink: http://, www. and a@ are broken by the word joiner.
    assert not re.search(r"https?://|www\.|@\w", re.sub(r"\\", "", i18n.plain("http://a.cn www.b.cn c@d.cn")))
    assert i18n.plain("第一行\n# 第二行") == "第一行 \\# 第二行"  # a newline cannot start a heading
    assert i18n.plain(None) == ""


def test_every_chart_builder_makes_its_text_inert() -> None:
    """A new chart takes uploaded text through charts.figure too (style and empty take only the charts' own)."""
    builders = [name for name, value in vars(charts).items() if callable(value) and not name.startswith("_")
                and getattr(value, "__module__", "") == charts.__name__
                and "Figure" in str(getattr(value, "__annotations__", {}).get("return", ""))]
    assert len(builders) >= 9
    assert [name for name in builders if name not in ("style", "empty", "figure") and not hasattr(vars(charts)[name], "__wrapped__")] == []


def test_one_money_format_in_each_language_whole_yuan_then_wan_yuan() -> None:
    assert [i18n.money(fen, "zh") for fen in (None, 0, 99_999_00, 99_999_50, 1_234_567_00, 123_456_789_00)] == [
        "—", "0 元", "99,999 元", "10.0 万元", "123.5 万元", "12,346 万元"]
    assert i18n.money(1_318_167_53, "en") == "131.8 万元"
    assert (i18n.count(4_342_341), i18n.percent(0.0256)) == ("4,342,341", "2.6%")


def test_money_columns_of_a_table_always_show_two_decimals() -> None:
    import json

    from streamlit.testing.v1 import AppTest

    def page() -> None:
        import polars as pl

        from relief_live import ui

        ui.table(ui.yuan_columns(pl.DataFrame({"gmv": [1_227_833_12, 434_234_100, 155_765_342]}), ["gmv"]),
                 "t", "en", key="t")

    at = AppTest.from_function(page).run()
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["gmv"]["type_config"]["format"] == "%,.2f"  # 1,227,833.12 / 4,342,341.00 / 1,557,653.42


def test_freshness_is_late_after_two_refreshes_and_silent_after_three_minutes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from relief_live import live

    monkeypatch.setenv("RELIEF_LIVE_REFRESH_SECONDS", "5")
    now = datetime(2020, 9, 6, 12, 0, tzinfo=UTC)
    ages = (0, 10, 11, 180, 181)
    assert [live.freshness(now - timedelta(seconds=a), now)[1] for a in ages] == [
        "fresh", "fresh", "late", "late", "silent"]
    assert live.freshness(None, now) == (None, "silent")  # a live session without any row yet


def test_the_browser_s_language_is_the_first_of_ours_it_asks_for() -> None:
    from relief_live.state import preferred_lang

    assert preferred_lang("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert preferred_lang("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert preferred_lang("fr-FR, zh-TW;q=0.5, en;q=0.4") == "zh"  # by q-value, French being none of ours
    assert preferred_lang("en;q=0.1, zh-Hans") == "zh"  # no q means 1
    assert [preferred_lang(h) for h in (None, "", "de-DE", "zh;q=0")] == [None, None, None, None]


def test_the_upload_preview_speaks_the_chosen_language() -> None:
    from relief_live import ui

    ms = int(datetime(2020, 9, 6, 11, 0, tzinfo=UTC).timestamp() * 1000)  # 19:00 in Shanghai
    frame = pl.DataFrame({"batch": [1], "line": [2], "session_id": ["s1"], "host_kind": ["cadre"],
                          "platform": [None], "started_at": [ms], "duration": [5400], "gmv": [12_345]},
                         schema_overrides={"platform": pl.String})
    zh = ui.preview("sessions", frame, "zh")
    # Raw codes and column names (host_kind, cadre) read as people write them; a column without a translation
    # by its first accepted header (直播时长); bookkeeping columns gone.
    assert zh.columns == ["场次ID", "主播类型", "平台", "开播时间", "直播时长", "成交额（元）"]
    assert zh.row(0)[:3] == ("s1", "干部直播", None) and str(zh.row(0)[5]) == "123.45"
    assert zh.row(0)[3].hour == 19
    assert ui.preview("sessions", frame, "en").columns == [
        "Session ID", "Host kind", "Platform", "Started", "duration", "GMV (元)"]
