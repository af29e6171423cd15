"""The Alerts page and the bell through AppTest: a viewer sees the alerts but cannot acknowledge or mute; staff can."""

from __future__ import annotations

from pathlib import Path

import pytest

from relief_live import ingest
from relief_live.alerts import board, record
from relief_live.i18n import plain, t
from relief_live.store import Store
from tests.test_pages import PASSWORD, app, browser_cookie  # noqa: F401 (the fixture: one browser's cookie)

STOCK = "县区,村,产品,滞销数量,单位,统计日期\n乐业县,火卖村,红心猕猴桃,1000,斤,2026-11-01\n"
SALES = ("直播ID,订单编号,下单时间,商品名称,村,商品数量,单位,订单金额\n"
         "S1,A1,2026-11-02 19:10,红心猕猴桃,火卖村,10,斤,100\n"  # then nothing for four weeks: stalled
         "S1,A2,2026-11-30 19:10,板栗,上岗村,1,斤,10\n")


@pytest.fixture
def stalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    store = Store(url)
    store.create()
    ingest.ingest_bytes(store, "stock.csv", STOCK.encode())
    ingest.ingest_bytes(store, "sales.csv", SALES.encode())
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    monkeypatch.delenv("RELIEF_LIVE_STAFF_PASSWORD", raising=False)
    return store


def bell(at) -> str:  # type: ignore[no-untyped-def]
    return next(p.proto.label for p in at.sidebar.get("page_link"))


def test_a_viewer_sees_the_alert_and_the_bell_but_no_acknowledge_or_mute(stalled: Store) -> None:
    at = app("views/alerts.py")
    assert bell(at) == "Alerts · 1"
    assert at.subheader[0].value == "Firing (1)"
    table = at.dataframe[0].value
    assert list(table["Rule"]) == ["Village stalled"] and list(table["County"]) == ["乐业县"]
    assert table["What"][0] == "火卖村's 红心猕猴桃 has sold nothing for 28 days: 990 斤 remain, 1.0% sold"
    assert not [b for b in at.button if b.label in ("Acknowledge", "Mute (no more messages)")]
    assert at.caption[0].value == t("alert_staff_only", "en")


def test_staff_mute_an_alert_and_the_bell_drops_it(stalled: Store) -> None:
    at = app("views/alerts.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    next(b for b in at.button if b.label == "Mute (no more messages)").click()
    at.run()
    assert bell(at) == "Alerts · 0"
    (alert,) = record.alerts(stalled).iter_rows(named=True)
    assert (alert["state"], alert["muted"], alert["acknowledged_by"]) == ("firing", 1, "staff")


def test_the_bell_and_the_page_in_chinese(stalled: Store) -> None:
    at = app("views/alerts.py", params={"lang": "zh"})
    assert bell(at) == "告警 · 1"
    assert at.title[0].value == "告警"
    assert at.dataframe[0].value["规则"][0] == "帮扶村滞销停滞"


def test_the_wall_screen_shows_a_ticker_of_firing_alerts(stalled: Store) -> None:
    at = app(params={"kiosk": "1", "lang": "zh"})
    tickers = [h.value for h in at.main.html if 'class="wall-ticker"' in h.value]
    assert len(tickers) == 1 and ">帮扶村滞销停滞：火卖村 的 红心猕猴桃 已 28 天无销售：剩余 990 斤，已售 1.0%<" in tickers[0]


def test_staff_acknowledge_an_alert_it_stays_on_the_bell(stalled: Store) -> None:
    at = app("views/alerts.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    next(b for b in at.button if b.label == "Acknowledge").click()
    at.run()
    assert bell(at) == "Alerts · 1"
    assert list(at.dataframe[0].value["Status"]) == ["acknowledged by staff"]


def test_the_rule_and_county_filters_come_from_the_url(stalled: Store) -> None:
    at = app("views/alerts.py", params={"rule": "village_deadline"})
    assert at.subheader[0].value == "Firing (0)"
    at = app("views/alerts.py", params={"county": "乐业县", "rule": "village_stalled"})
    assert at.subheader[0].value == "Firing (1)"



def test_an_import_on_the_upload_page_records_its_alerts_and_the_bell_counts_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'upload.sqlite3'}"
    store = Store(url)
    store.create()
    ingest.ingest_bytes(store, "stock.csv", STOCK.encode())  # a ledger, no sale yet: no alert
    monkeypatch.setenv("RELIEF_LIVE_DB", url)
    monkeypatch.setenv("RELIEF_LIVE_AUTO_DEMO", "0")
    at = app("views/upload.py", secrets={"staff_password": PASSWORD}, password=PASSWORD)
    assert bell(at) == "Alerts · 0"
    with monkeypatch.context() as patched:  # no bell drawn: the page itself evaluates after the import
        patched.setattr(board, "bell", lambda lang: None)
        at.file_uploader[0].set_value(("sales.csv", SALES.encode(), "text/csv")).run()
        next(b for b in at.button if b.label == f"Commit {plain('sales.csv')}").click().run()
        assert not at.exception
        assert [(a["rule"], a["subject"], a["state"]) for a in record.alerts(store).iter_rows(named=True)] == [
            ("village_stalled", "火卖村 · 红心猕猴桃", "firing")]
    at.run()
    assert bell(at) == "Alerts · 1"
