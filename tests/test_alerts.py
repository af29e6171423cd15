"""Alerts: each rule fires on the data a person would call alarming, once while it holds, resolves when it clears,
and its message reaches each robot, the JSON webhook and an SMTP server exactly as they expect it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import relief_live.store as store_module
from relief_live import alerts, ingest
from relief_live.alerts import deliver, record, rules
from relief_live.store import Store

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 20, 0, tzinfo=TZ)  # the evaluations' clock: the session below is on air
SESSIONS = ("直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,成交金额\n"
            "LIVE1,昭通腊肉专场,干部直播,李书记,抖音,2026-12-01 19:20,,\n"
            "OLD1,上周专场,干部直播,王县长,抖音,2026-11-24 19:00,2026-11-24 21:00,600\n"
            "OLD2,上上周专场,干部直播,王县长,抖音,2026-11-17 19:00,2026-11-17 20:00,400\n")
TICK_HEAD = "直播ID,时间,实时在线人数,成交订单数,成交金额(元)\n"


def ticks(until: int, *, collapse_from: int | None = None, orders_until: int = 100) -> str:
    """Minute ticks of LIVE1 from 19:20 to 19:20 + `until` minutes: 1,000 viewers online (300 from minute
    `collapse_from` on), one order a minute of ¥10 up to minute `orders_until`."""
    start = datetime(2026, 12, 1, 19, 20)
    lines = []
    for m in range(until + 1):
        viewers = 300 if collapse_from is not None and m >= collapse_from else 1000
        orders = 1 if m <= orders_until else 0
        lines.append(f"LIVE1,{start + timedelta(minutes=m):%Y-%m-%d %H:%M},{viewers},{orders},{orders * 10}.00\n")
    return TICK_HEAD + "".join(lines)


def load(store: Store, name: str, text: str) -> None:
    ingest.ingest_bytes(store, name, text.encode("utf-8"))


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests: no secrets.toml, no RELIEF_LIVE_* channel."""
    monkeypatch.setattr(rules, "SECRETS_FILES", (tmp_path / "none.toml",))
    for name in [n for n in __import__("os").environ if n.startswith("RELIEF_LIVE_") and n != "RELIEF_LIVE_TEST_PG"]:
        monkeypatch.delenv(name)
    alerts._held.clear()
    record._seen.clear()


def firing(store: Store) -> dict[tuple[str, str], dict]:
    frame = record.alerts(store)
    return {(r["rule"], r["subject"]): r for r in frame.filter(frame["state"] == "firing").iter_rows(named=True)}


# -- rules and docs ------------------------------------------------------------------------------------------------
def test_docs_list_every_rule_and_its_settings() -> None:
    doc = (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8")
    table = doc.split("## Rules", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert listed == list(rules.RULE_NAMES)
    for rule in rules.RULES:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{rule.name}` |"))
        assert rule.title in row
        for param in rule.params:
            assert f"`{param.env}`" in row and f"`{param.setting}`" in row, (rule.name, param.setting)
    assert "docs/alerts.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_threshold_is_read_from_secrets_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rules.thresholds({}, {})["alert_session_viewers_drop"] == 40
    assert rules.thresholds({}, {"RELIEF_LIVE_ALERT_SESSION_VIEWERS_DROP": "25"})["alert_session_viewers_drop"] == 25
    assert rules.thresholds({"alert_session_viewers_drop": 30},
                            {"RELIEF_LIVE_ALERT_SESSION_VIEWERS_DROP": "25"})["alert_session_viewers_drop"] == 30
    with pytest.raises(rules.SettingError, match=r"RELIEF_LIVE_ALERT_VILLAGE_DEADLINE .* 'soon': not a date"):
        rules.thresholds({}, {"RELIEF_LIVE_ALERT_VILLAGE_DEADLINE": "soon"})


def test_a_collapsing_quiet_session_fires_its_rules_and_they_resolve_as_it_recovers(store: Store) -> None:
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36, orders_until=3))  # last tick 19:58, two minutes old
    alerts.check(store, now=NOW, send=False)
    held = firing(store)
    assert set(held) == {("session_viewers_drop", "LIVE1"), ("session_no_orders", "LIVE1"),
                         ("session_gmv_slow", "LIVE1")}
    drop = json.loads(held["session_viewers_drop", "LIVE1"]["facts"])
    assert (drop["peak"], drop["latest"], drop["fall"]) == (1000, 300, 0.7)
    assert json.loads(held["session_no_orders", "LIVE1"]["facts"])["viewers"] == 300
    slow = json.loads(held["session_gmv_slow", "LIVE1"]["facts"])
    # 4 orders of ¥10 in the 40 minutes on air: ¥60 an hour, under half the median of the finished cadre
    # sessions (¥300 and ¥400 an hour: ¥350).
    assert (slow["gmv_per_hour"], slow["median"]) == (6_000, 35_000)

    # Two minutes later nothing new arrived: the ticks stopped (four minutes ago: the session is no longer live);
    # the other conditions still hold as its latest ticks showed them, fired once.
    alerts.check(store, now=NOW + timedelta(minutes=2), send=False)
    _, later = alerts._held[store.url].report(now=NOW + timedelta(minutes=2), live_minutes=3)
    assert later.sessions.filter(later.sessions["session_id"] == "LIVE1")["live"].to_list() == [False]
    again = firing(store)
    assert ("ticks_stopped", "LIVE1") in again
    assert json.loads(again["ticks_stopped", "LIVE1"]["facts"])["minutes"] == 4
    assert again["session_viewers_drop", "LIVE1"]["id"] == held["session_viewers_drop", "LIVE1"]["id"]
    assert len(record.alerts(store)) == 4

    # The audience comes back and orders resume: those alerts resolve; a new tick ends ticks_stopped.
    load(store, "trend.csv", ticks(42, collapse_from=36, orders_until=3)
         .replace(",300,0,0.00\n", ",900,2,20.00\n"))
    alerts.check(store, now=NOW + timedelta(minutes=3), send=False)
    frame = record.alerts(store)
    assert {r["rule"]: r["state"] for r in frame.iter_rows(named=True)} == {
        "session_viewers_drop": "resolved", "session_no_orders": "resolved", "session_gmv_slow": "resolved",
        "ticks_stopped": "resolved"}


def test_ticks_stopped_holds_for_an_hour_after_the_last_tick_unless_the_session_ends(store: Store) -> None:
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38))  # last tick 19:58
    alerts.check(store, now=NOW, send=False)
    assert ("ticks_stopped", "LIVE1") not in firing(store)  # two minutes: live, late at most
    alerts.check(store, now=NOW + timedelta(minutes=2), send=False)
    assert ("ticks_stopped", "LIVE1") in firing(store)
    alerts.check(store, now=NOW + timedelta(minutes=61), send=False)  # an hour after 19:58: taken as ended
    assert ("ticks_stopped", "LIVE1") not in firing(store)

    load(store, "trend.csv", ticks(100))  # the feed comes back: a tick at 21:00
    alerts.check(store, now=NOW + timedelta(minutes=64), send=False)
    assert ("ticks_stopped", "LIVE1") in firing(store)  # silent again since 21:00
    load(store, "sessions-end.csv", SESSIONS.replace("2026-12-01 19:20,,", "2026-12-01 19:20,2026-12-01 21:01,"))
    alerts.check(store, now=NOW + timedelta(minutes=65), send=False)  # its end is given, and reached
    assert ("ticks_stopped", "LIVE1") not in firing(store)
    assert [r["state"] for r in record.alerts(store).iter_rows(named=True)] == ["resolved", "resolved"]


def test_a_session_counted_only_in_cumulative_orders_goes_quiet_and_its_ticks_stop_at_the_minute(
        store: Store) -> None:
    """No order for 10 minutes read from a cumulative count alone; ticks_stopped from the very millisecond its
    latest tick is 3 minutes old, with the whole minutes since it."""
    start = datetime(2026, 12, 1, 19, 20)
    lines = [f"LIVE1,{start + timedelta(minutes=m):%Y-%m-%d %H:%M},1000,{min(m, 28)}\n" for m in range(39)]
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", "直播ID,时间,实时在线人数,累计成交订单数\n" + "".join(lines))  # last tick 19:58
    alerts.check(store, now=NOW + timedelta(minutes=1) - timedelta(milliseconds=1), send=False)
    assert set(firing(store)) == {("session_no_orders", "LIVE1"), ("session_gmv_slow", "LIVE1")}
    alerts.check(store, now=NOW + timedelta(minutes=1), send=False)
    held = firing(store)
    assert set(held) == {("session_no_orders", "LIVE1"), ("session_gmv_slow", "LIVE1"), ("ticks_stopped", "LIVE1")}
    assert json.loads(held["ticks_stopped", "LIVE1"]["facts"])["minutes"] == 3
    assert json.loads(held["session_no_orders", "LIVE1"]["facts"])["viewers"] == 1000


def test_villages_stalled_and_late_at_the_data_s_own_clock(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    stock = ("县区,村,产品,滞销数量,单位,统计日期,单价\n"
             "乐业县,火卖村,红心猕猴桃,1000,斤,2026-11-01,10\n"
             "乐业县,弄福村,板栗,1000,斤,2026-11-01,10\n"
             "乐业县,上岗村,茶叶,10,斤,2026-11-01,10\n"
             "乐业县,上坪村,蜂蜜,100,斤,2026-11-01,10\n")
    sales = ("直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,订单金额\n"
             "OLD1,A1,2026-11-02 19:10,红心猕猴桃,火卖村,10,斤,100\n"  # nothing since: 27 days
             "OLD1,A2,2026-11-28 19:10,板栗,弄福村,1,斤,10\n"  # 1 jin in 14 days: clears long after the target
             "OLD1,A3,2026-11-29 19:10,茶叶,上岗村,5,斤,50\n"  # 5 of 10 in 14 days: clears in 14 more days
             "OLD1,A4,2026-11-21 19:10,蜂蜜,上坪村,50,斤,500\n")  # half in one sale 8 days ago: on track, quiet
    load(store, "stock.csv", stock)
    load(store, "sales.csv", sales)
    alerts.check(store, now=NOW, send=False)  # the clock: the latest sale, 2026-11-29 19:10
    held = firing(store)
    assert set(held) == {("village_stalled", "火卖村 · 红心猕猴桃"), ("village_stalled", "上坪村 · 蜂蜜"),
                         ("village_deadline", "弄福村 · 板栗")}
    assert json.loads(held["village_stalled", "火卖村 · 红心猕猴桃"]["facts"])["days"] == 27
    assert json.loads(held["village_stalled", "上坪村 · 蜂蜜"]["facts"])["days"] == 8
    late = json.loads(held["village_deadline", "弄福村 · 板栗"]["facts"])
    assert late["target"] == "2026-12-31" and late["clear_date"] > "2026-12-31"

    monkeypatch.setenv("RELIEF_LIVE_ALERT_VILLAGE_STALLED", "10")  # 8 quiet days are not yet stalled
    alerts.check(store, now=NOW, send=False, force=True)
    assert set(firing(store)) == {("village_stalled", "火卖村 · 红心猕猴桃"), ("village_deadline", "弄福村 · 板栗")}


def test_a_village_is_stalled_from_the_very_minute_its_quiet_days_are_up(store: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The bounds of village_stalled to the minute: a baseline's day counts from its midnight in China, a village
    whose baseline is dated after the latest sale is not quiet (its days are negative), only late."""
    stock = ("县区,村,产品,滞销数量,单位,统计日期\n"
             "乐业县,一村,茶叶,100,斤,2026-11-01\n"  # no sale since its baseline: 7 days to the clock
             "乐业县,二村,茶叶,100,斤,2026-10-20\n"  # its last sale a minute under 7 days before the clock
             "乐业县,三村,茶叶,100,斤,2026-11-10\n"  # a baseline dated after the latest sale, no sale yet
             "乐业县,四村,茶叶,10,斤,2026-10-20\n")  # sold out by the sale that sets the clock
    sales = ("直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,订单金额\n"
             "OLD1,B1,2026-11-01 00:01,茶叶,二村,1,斤,10\n"
             "OLD1,B2,2026-11-08 00:00,茶叶,四村,10,斤,100\n")
    monkeypatch.setenv("RELIEF_LIVE_ALERT_VILLAGE_DEADLINE", "2099-12-31")
    load(store, "stock.csv", stock)
    load(store, "sales.csv", sales)
    alerts.check(store, now=NOW, send=False)
    held = {key: json.loads(row["facts"])["days"] for key, row in firing(store).items()}
    assert held == {("village_stalled", "一村 · 茶叶"): 7, ("village_deadline", "三村 · 茶叶"): -2}

    monkeypatch.setenv("RELIEF_LIVE_ALERT_VILLAGE_STALLED", "6")  # 二村: 6 whole days and 23 h 59 min
    alerts.check(store, now=NOW, send=False, force=True)
    held = {key: json.loads(row["facts"])["days"] for key, row in firing(store).items()}
    assert held == {("village_stalled", "一村 · 茶叶"): 7, ("village_stalled", "二村 · 茶叶"): 6,
                    ("village_deadline", "三村 · 茶叶"): -2}


# -- state in the store --------------------------------------------------------------------------------------------
class Endpoint:
    """A local HTTP server standing in for a robot: records each request, answers with `answers` in turn."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.answers: list[tuple[int, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
                outer.requests.append((self.path, body))
                status, answer = outer.answers.pop(0) if outer.answers else (200, {"errcode": 0, "code": 0})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def test_one_message_while_a_condition_holds_a_resolved_one_after_and_none_again_after_a_restart(
        store: Store, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIEF_LIVE_WECOM_WEBHOOK", f"{endpoint.url}/cgi-bin/webhook/send?key=K")
    monkeypatch.setenv("RELIEF_LIVE_PUBLIC_URL", "https://relief.example.cn/")
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW)
    assert [body["markdown"]["content"].split("\n")[0] for _, body in endpoint.requests] == [
        "**【告警】直播在线人数骤降**"]
    text = endpoint.requests[0][1]["markdown"]["content"]
    assert "昭通腊肉专场（李书记）在线人数 5 分钟内从 1,000 降至 300（下降 70.0%）" in text
    assert "[在看板中查看](https://relief.example.cn/live?session=LIVE1&lang=zh)" in text

    alerts.check(store, now=NOW + timedelta(seconds=30), force=True)  # held: no second message
    alerts._held.clear()
    store_module._ENSURED.clear()  # a new process: state comes from the store alone
    record._seen.clear()
    alerts.check(store, now=NOW + timedelta(seconds=50), force=True)
    assert len(endpoint.requests) == 1

    load(store, "trend.csv", ticks(39))  # the audience is back
    alerts.check(store, now=NOW + timedelta(minutes=1))
    assert len(endpoint.requests) == 2
    assert endpoint.requests[1][1]["markdown"]["content"].startswith("**【告警恢复】直播在线人数骤降**")
    alerts.check(store, now=NOW + timedelta(minutes=1), force=True)
    assert len(endpoint.requests) == 2


def test_a_muted_alert_sends_nothing_and_leaves_the_bell(store: Store, endpoint: Endpoint,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW, send=False)
    (alert,) = firing(store).values()
    assert record.firing_count(store) == 1
    record.mute(store, alert["id"], "staff")
    assert record.firing_count(store) == 0
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    assert alerts.deliver_due(store) == 0 and endpoint.requests == []
    assert record.row(store, alert["id"])["acknowledged_by"] == "staff"


# -- each channel, as its endpoint receives it -----------------------------------------------------------------
def _alert_row() -> dict:
    return {"id": 7, "rule": "ticks_stopped", "subject": "LIVE1", "county": "昭阳区", "page": "live",
            "params": json.dumps({"session": "LIVE1"}),
            "facts": json.dumps({"title": "昭通腊肉专场", "host": "李书记", "minutes": 4,
                                 "last_tick": "2026-12-01T11:56:00+00:00"}, ensure_ascii=False),
            "first_seen": int(NOW.timestamp() * 1000), "resolved_at": None}


TEXT = ("**【告警】直播数据中断**\n\n昭通腊肉专场（李书记）的分钟数据已 4 分钟未更新（最后一条 19:56）：请检查平台导出或文件夹监控"
        "\n\n对象：LIVE1（昭阳区）\n\n首次发现：2026-12-01 20:00\n\n"
        "[在看板中查看](http://board:8501/live?session=LIVE1&lang=zh)")
PLAIN = ("【告警】直播数据中断\n昭通腊肉专场（李书记）的分钟数据已 4 分钟未更新（最后一条 19:56）：请检查平台导出或文件夹监控\n"
         "对象：LIVE1（昭阳区）\n首次发现：2026-12-01 20:00\n在看板中查看：http://board:8501/live?session=LIVE1&lang=zh")


def test_wecom_gets_markdown(endpoint: Endpoint) -> None:
    msg = deliver.message(_alert_row(), "firing", base="http://board:8501")
    assert deliver.send("wecom", {"url": endpoint.url + "/cgi-bin/webhook/send?key=K"}, msg)
    assert endpoint.requests == [("/cgi-bin/webhook/send?key=K", {"msgtype": "markdown", "markdown": {"content": TEXT}})]


def test_dingtalk_request_is_signed_as_dingtalk_checks_it(endpoint: Endpoint) -> None:
    msg = deliver.message(_alert_row(), "firing", base="http://board:8501")
    secret = "SECabc123"
    assert deliver.send_dingtalk({"url": endpoint.url + "/robot/send?access_token=T", "secret": secret}, msg,
                                 clock=lambda: 1764590400.123) == "ok"
    path, body = endpoint.requests[0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert query["access_token"] == ["T"] and query["timestamp"] == ["1764590400123"]
    # What DingTalk computes on its side: HMAC-SHA256 keyed by the secret of "timestamp\nsecret", base64.
    expected = base64.b64encode(hmac.new(secret.encode(), f"1764590400123\n{secret}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == [expected]
    assert body == {"msgtype": "markdown", "markdown": {"title": "【告警】直播数据中断", "text": TEXT}}


def test_feishu_gets_signed_text(endpoint: Endpoint) -> None:
    msg = deliver.message(_alert_row(), "firing", base="http://board:8501")
    assert deliver.send_feishu({"url": endpoint.url + "/open-apis/bot/v2/hook/H", "secret": "s3"}, msg,
                               clock=lambda: 1764590400.9) == "ok"
    sign = base64.b64encode(hmac.new(b"1764590400\ns3", b"", hashlib.sha256).digest()).decode()
    assert endpoint.requests == [("/open-apis/bot/v2/hook/H", {
        "timestamp": "1764590400", "sign": sign, "msg_type": "text", "content": {"text": PLAIN}})]


def test_a_robot_error_code_is_a_failure_not_retried(endpoint: Endpoint) -> None:
    endpoint.answers = [(200, {"errcode": 310000, "errmsg": "sign not match"})]
    attempts: list[tuple[int, bool, str]] = []
    msg = deliver.message(_alert_row(), "firing")
    assert not deliver.send("dingtalk", {"url": endpoint.url + "/robot/send?access_token=T", "secret": "x"}, msg,
                            log=lambda *a: attempts.append(a), sleep=lambda s: None)
    assert attempts == [(1, False, "errcode 310000: sign not match")]


def test_the_webhook_is_tried_again_after_a_500_with_back_off_and_the_log_says_so(
        store: Store, endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    monkeypatch.setenv("RELIEF_LIVE_PUBLIC_URL", "http://board:8501")
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW, send=False)
    endpoint.answers = [(500, {}), (503, {})]
    slept: list[float] = []
    assert alerts.deliver_due(store, sleep=slept.append) == 1
    assert slept == list(deliver.DELAYS)
    assert len(endpoint.requests) == 3
    body = endpoint.requests[-1][1]
    assert (body["state"], body["rule"], body["subject"], body["link"]) == (
        "firing", "session_viewers_drop", "LIVE1", "http://board:8501/live?session=LIVE1&lang=zh")
    assert body["facts"]["peak"] == 1000 and body["title"] == "【告警】直播在线人数骤降"
    log = record.delivery_log(store)
    assert [(r["attempt"], r["ok"], r["detail"][:8]) for r in log.iter_rows(named=True)] == [
        (1, 0, "HTTP 500"), (2, 0, "HTTP 503"), (3, 1, "ok")]


def test_email_reaches_an_smtp_server(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink

    received: list[bytes] = []

    class Keep(Sink):
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        msg = deliver.message(_alert_row(), "firing", base="http://board:8501")
        assert deliver.send("email", {"host": "127.0.0.1", "port": str(port), "from": "alerts@county.gov.cn",
                                      "to": "a@county.gov.cn, b@county.gov.cn"}, msg)
    finally:
        controller.stop()
    (raw,) = received
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "【告警】直播数据中断"
    assert mail["To"] == "a@county.gov.cn, b@county.gov.cn" and mail["From"] == "alerts@county.gov.cn"
    assert mail.get_content().strip() == PLAIN


def _cli_files(tmp_path: Path) -> tuple[str, Path, Path]:
    """A store URL and the two files the command-line tests ingest: 火卖村 stalled since 11-02 (a sale elsewhere on
    11-30 moves the data's clock)."""
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    stock = tmp_path / "stock.csv"
    stock.write_text("县区,村,产品,滞销数量,单位,统计日期\n乐业县,火卖村,红心猕猴桃,1000,斤,2026-11-01\n", encoding="utf-8")
    sales = tmp_path / "sales.csv"
    sales.write_text("直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,订单金额\n"
                     "S1,A1,2026-11-02 19:10,红心猕猴桃,火卖村,10,斤,100\n"
                     "S1,A2,2026-11-30 19:10,板栗,上岗村,1,斤,10\n", encoding="utf-8")
    return db, stock, sales


def test_cli_lists_alerts_as_json_and_sends_a_test_message(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           endpoint: Endpoint,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from relief_live.__main__ import main

    db, stock, sales = _cli_files(tmp_path)
    assert main(["ingest", "--db", db, str(stock), str(sales)]) == 0
    capsys.readouterr()
    assert main(["alerts", "--db", db, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["alerts"]
    assert [(a["rule"], a["subject"], a["state"], a["county"]) for a in listed] == [
        ("village_stalled", "火卖村 · 红心猕猴桃", "firing", "乐业县")]

    assert main(["alerts", "--db", db, "test", "webhook"]) == 1  # not configured
    assert "webhook is not configured" in capsys.readouterr().err
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    assert main(["alerts", "--db", db, "test", "webhook"]) == 0
    assert capsys.readouterr().out.strip() == "test message sent on webhook"
    (path, body), = endpoint.requests
    assert (path, body["state"], body["title"]) == ("/hook", "test", "【告警测试】relief-live")


def test_an_ingest_and_a_retraction_by_the_command_line_record_alerts_with_no_channel_set(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from relief_live.__main__ import main

    db, stock, sales = _cli_files(tmp_path)
    assert main(["ingest", "--db", db, str(stock), str(sales)]) == 0
    store = Store(db)
    assert [(a["rule"], a["subject"], a["state"], a["delivered_at"]) for a in record.alerts(store).iter_rows(named=True)
            ] == [("village_stalled", "火卖村 · 红心猕猴桃", "firing", None)]
    assert main(["retract", "--db", db, "2"]) == 0  # the sales gone: no sale, no clock, nothing stalls
    assert [(a["rule"], a["state"]) for a in record.alerts(store).iter_rows(named=True)] == [
        ("village_stalled", "resolved")]
    assert record.delivery_log(store).height == 0  # nowhere to send


def test_a_file_the_watcher_rejects_is_an_alert_until_a_good_version_is_taken(tmp_path: Path) -> None:
    from relief_live.watch import Watcher
    from tests.conftest import sqlite_store

    store = sqlite_store(tmp_path)
    folder = tmp_path / "drop"
    folder.mkdir()
    watcher = Watcher(store, folder, log=lambda line: None)
    bad = folder / "trend.csv"
    bad.write_text(TICK_HEAD + "LIVE1,2026-12-01 19:20,many,1,10.00\n", encoding="utf-8")
    watcher.poll()
    alerts.after_watch(watcher)
    (alert,) = firing(store).values()
    assert (alert["rule"], alert["subject"]) == ("upload_rejected", str(bad))
    facts = json.loads(alert["facts"])
    assert "line 2" in facts["problem"] and "实时在线人数" in facts["problem"]
    # In Chinese, as the Upload page says it: the message a zh channel sends has no English words.
    assert facts["problem_zh"] == "第 2 行，“实时在线人数”列：不是数字"  # never the cell's value
    assert deliver.message(alert, "firing", lang="zh").text.count("不是") == 1
    bad.write_text(TICK_HEAD + "LIVE1,2026-12-01 19:20,100,1,10.00\n", encoding="utf-8")
    watcher.poll()
    alerts.after_watch(watcher)
    assert firing(store) == {}
    assert record.alerts(store)["state"].to_list() == ["resolved"]


def test_the_dashboards_check_sees_a_rejection_and_an_evaluation_stored_just_before_its_refresh(
        tmp_path: Path) -> None:
    """The dashboard's check takes the standing rejections and the last evaluation from its refresh's version
    query (no read of its own): a rejection another process stored before that refresh is an alert at once, and
    the same version and minute, once evaluated, are not evaluated again."""
    from relief_live.live import LiveFrames
    from relief_live.watch import Watcher
    from tests.conftest import sqlite_store

    store = sqlite_store(tmp_path)
    folder = tmp_path / "drop"
    folder.mkdir()
    bad = folder / "trend.csv"
    bad.write_text(TICK_HEAD + "LIVE1,2026-12-01 19:20,many,1,10.00\n", encoding="utf-8")
    Watcher(Store(store.url), folder, log=lambda line: None).poll()  # the watcher's process
    held, now = LiveFrames(store), datetime.now(ZoneInfo("UTC"))
    version, _ = held.refresh()
    done = alerts.check(store, live=held, now=now, send=False, version=version)
    assert [(a["rule"], a["subject"]) for a in firing(store).values()] == [("upload_rejected", str(bad))]
    assert done.fired and done.key == (version, int(now.timestamp() // 60))
    version, _ = held.refresh()
    assert alerts.check(store, live=held, now=now, send=False, version=version).key is None


def test_text_from_a_file_makes_no_link_image_or_markup_in_a_message() -> None:
    """A session titled as a Markdown link (with HTML) reaches the chat as text: no link, no image, no tag."""
    row = _alert_row()
    row["facts"] = json.dumps({"title": "![x](http://evil.example/a.png)[点我](http://evil.example)<b>大</b>",
                               "host": "李*书记*\n# 标题", "minutes": 4, "last_tick": None}, ensure_ascii=False)
    msg = deliver.message(row, "firing", base="http://board:8501")
    line = msg.text.split("\n\n")[1]
    assert line.startswith("！［x］（http\u2060://evil.example/a.png）［点我］（http\u2060://evil.example）＜b＞大＜/b＞"
                           "（李＊书记＊ ＃ 标题）的分钟数据")
    assert "](" not in msg.text.replace(f"]({msg.link})", "") and "<" not in msg.text
    assert "[点我](http\u2060://evil.example)" in msg.plain  # plain text keeps the characters, unlinked
