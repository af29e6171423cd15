"""Alerts kept by the store: a message no channel took is tried again, and a backup keeps the alerts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from relief_live import alerts
from relief_live.alerts import record, rules
from relief_live.store import Store
from tests.test_alerts import NOW, SESSIONS, Endpoint, firing, load, ticks


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests (as in test_alerts)."""
    monkeypatch.setattr(rules, "SECRETS_FILES", (tmp_path / "none.toml",))
    for name in [n for n in os.environ if n.startswith("RELIEF_LIVE_") and n != "RELIEF_LIVE_TEST_PG"]:
        monkeypatch.delenv(name)
    alerts._held.clear()
    record._seen.clear()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def test_a_message_no_channel_took_is_tried_again_at_the_next_evaluation(store: Store, endpoint: Endpoint,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW, send=False)
    endpoint.answers = [(502, {})] * 3  # the endpoint is down for all three tries
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0
    (alert,) = firing(store).values()
    assert alert["delivered_at"] is None and alert["claimed_at"] is None
    assert alerts.deliver_due(store, sleep=lambda s: None) == 1  # it is back
    assert [body["state"] for _, body in endpoint.requests] == ["firing"] * 4
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0


def test_a_backup_keeps_the_alerts_so_a_restored_store_sends_nothing_again(store: Store, tmp_path: Path) -> None:
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW, send=False)
    copy = Store(f"sqlite:///{store.backup(tmp_path / 'backup.sqlite3')}")
    held = record.alerts(copy).select("rule", "subject", "state", "first_seen").rows()
    assert held == record.alerts(store).select("rule", "subject", "state", "first_seen").rows()
    assert [(rule, subject, state) for rule, subject, state, _ in held] == [
        ("session_viewers_drop", "LIVE1", "firing")]


def test_a_ledger_s_own_target_date_is_the_deadline_of_its_row(store: Store) -> None:
    stock = ("县区,村,产品,滞销数量,单位,统计日期,目标日期\n"
             "乐业县,上岗村,茶叶,10,斤,2026-11-01,2026-12-10\n"  # half sold in 14 days: clears mid-December
             "乐业县,上坪村,茶叶,10,斤,2026-11-01,\n")  # the same pace, no date of its own: the year's end
    sales = ("直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,订单金额\n"
             "OLD1,A1,2026-11-29 19:10,茶叶,上岗村,5,斤,50\n"
             "OLD1,A2,2026-11-29 19:10,茶叶,上坪村,5,斤,50\n")
    load(store, "stock.csv", stock)
    load(store, "sales.csv", sales)
    alerts.check(store, now=NOW, send=False)
    (alert,) = firing(store).values()
    assert (alert["rule"], alert["subject"]) == ("village_deadline", "上岗村 · 茶叶")
    facts = json.loads(alert["facts"])
    # Both clear in mid-December at their pace: after 上岗村's own date, before the year's end.
    assert facts["target"] == "2026-12-10" and "2026-12-10" < facts["clear_date"] < "2026-12-31"


def test_a_channel_down_is_tried_for_one_message_not_for_every_one(store: Store, endpoint: Endpoint,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Three alerts and an endpoint that answers 502: three tries for the first, none for the others, all due."""
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36, orders_until=3))
    alerts.check(store, now=NOW, send=False)
    assert len(firing(store)) == 3
    endpoint.answers = [(502, {})] * 9
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0
    assert len(endpoint.requests) == 3
    assert all(a["delivered_at"] is None and a["claimed_at"] is None for a in firing(store).values())


def test_a_message_one_channel_took_is_tried_again_on_the_other_only(store: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    wecom, dingtalk = Endpoint(), Endpoint()
    try:
        monkeypatch.setenv("RELIEF_LIVE_WECOM_WEBHOOK", wecom.url + "/wecom")
        monkeypatch.setenv("RELIEF_LIVE_DINGTALK_WEBHOOK", dingtalk.url + "/dingtalk")
        load(store, "sessions.csv", SESSIONS)
        load(store, "trend.csv", ticks(38, collapse_from=36))
        alerts.check(store, now=NOW, send=False)
        dingtalk.answers = [(502, {})] * 3  # DingTalk down through every back-off
        assert alerts.deliver_due(store, sleep=lambda s: None) == 1  # WeCom took it
        assert (len(wecom.requests), len(dingtalk.requests)) == (1, 3)
        (alert,) = firing(store).values()
        assert alert["delivered_at"] is not None and alert["claimed_at"] is None

        assert alerts.deliver_due(store, sleep=lambda s: None) == 1  # DingTalk is back: it alone gets it
        assert (len(wecom.requests), len(dingtalk.requests)) == (1, 4)
        assert dingtalk.requests[-1][1]["markdown"]["title"] == "【告警】直播在线人数骤降"
        assert alerts.deliver_due(store, sleep=lambda s: None) == 0
        assert (len(wecom.requests), len(dingtalk.requests)) == (1, 4)

        load(store, "trend.csv", ticks(39))  # the audience is back: a resolved message on each channel
        alerts.check(store, now=NOW + timedelta(minutes=1), send=False)
        dingtalk.answers = [(200, {"errcode": 310000, "errmsg": "sign not match"})]  # refused, this once
        assert alerts.deliver_due(store, sleep=lambda s: None) == 1
        assert alerts.deliver_due(store, sleep=lambda s: None) == 1
        assert alerts.deliver_due(store, sleep=lambda s: None) == 0
        assert [body["markdown"]["content"].split("\n")[0] for _, body in wecom.requests] == [
            "**【告警】直播在线人数骤降**", "**【告警恢复】直播在线人数骤降**"]
        assert [body["markdown"]["title"] for _, body in dingtalk.requests[4:]] == ["【告警恢复】直播在线人数骤降"] * 2
        log = record.delivery_log(store)
        assert log.filter(pl.col("ok") == 1).select("message", "channel").sort("channel", "message").rows() == [
            ("firing", "dingtalk"), ("resolved", "dingtalk"), ("firing", "wecom"), ("resolved", "wecom")]
    finally:
        wecom.close()
        dingtalk.close()


def test_a_channel_tries_a_message_it_refuses_for_a_day_then_no_more(store: Store, endpoint: Endpoint,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELIEF_LIVE_ALERT_WEBHOOK", endpoint.url + "/hook")
    load(store, "sessions.csv", SESSIONS)
    load(store, "trend.csv", ticks(38, collapse_from=36))
    alerts.check(store, now=NOW, send=False)
    endpoint.answers = [(403, {})] * 3
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0
    assert len(endpoint.requests) == 2  # a refusal is not retried within a pass; the next evaluation tries again
    later = record.now_ms() + record.RETRY_SECONDS * 1000 + 1
    monkeypatch.setattr(record, "now_ms", lambda: later)
    assert alerts.deliver_due(store, sleep=lambda s: None) == 0
    assert len(endpoint.requests) == 2
    (alert,) = firing(store).values()
    assert alert["delivered_at"] is None and alert["claimed_at"] is None
