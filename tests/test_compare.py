"""Broadcast against cadre with denominators: pooled beside median, and the sessions that do not compare."""

from __future__ import annotations

import pytest

from relief_live.metrics.compare import compared, flagged
from tests.test_metrics import at, report


def _session(sid: str, kind: str, gmv: int, views: int = 1000, viewers: int | None = 500,
             buyers: int | None = 10) -> dict:
    return {"session_id": sid, "title": f"场次{sid}", "host_kind": kind, "host_name": f"主播{sid}",
            "started_at": at("2020-09-06 19:00"), "gmv": gmv, "views": views, "viewers": viewers, "buyers": buyers}


def _line(sid: str, order: str | None, fen: int) -> dict:
    return {"session_id": sid, "order_id": order, "ts": at("2020-09-06 19:30"), "product": "蜂蜜", "quantity": 1.0,
            "unit": "斤", "amount": fen}


# GMV per 1,000 views equals the GMV here (1,000 views each): broadcast GPMs of 1,000, 2,000, 3,000 and 4,000 元,
# b5 at 1,000,000 元, and b6 at 500,000 元 whose order lines carry 10,000 元 of it (2%); two cadre sessions.
SESSIONS = (_session("b1", "broadcast", 100_000), _session("b2", "broadcast", 200_000),
            _session("b3", "broadcast", 300_000), _session("b4", "broadcast", 400_000, viewers=None, buyers=None),
            _session("b5", "broadcast", 100_000_000), _session("b6", "broadcast", 50_000_000),
            _session("c1", "cadre", 600_000, views=2000, viewers=1000, buyers=30),
            _session("c2", "cadre", 90_000_000, views=3000, viewers=1000, buyers=20))
LINES = (_line("b1", "o1", 100_000), _line("b6", "o2", 1_000_000), _line("b6", None, 49_000_000))


@pytest.fixture(scope="module")
def sessions():  # type: ignore[no-untyped-def]
    return report(sessions=SESSIONS, sales=LINES).sessions


def test_order_gmv_is_what_lines_with_an_order_id_add_up_to(sessions) -> None:  # type: ignore[no-untyped-def]
    order_gmv = dict(sessions.select("session_id", "order_gmv").rows())
    assert (order_gmv["b1"], order_gmv["b6"], order_gmv["b2"]) == (100_000, 1_000_000, None)


def test_a_gmv_its_orders_do_not_support_and_a_gpm_beyond_the_kind_s_spread_are_flagged(sessions) -> None:  # type: ignore[no-untyped-def]
    flags = flagged(sessions)
    assert flags.select("session_id", "reason").rows() == [("b5", "gpm_spread"), ("b6", "unsupported")]
    # log10 GPMs of b1-b5 (b6 is left out of the spread): 5, 5.30, 5.48, 5.60, 8: quartiles 5.30 and 5.60
    # (2,000 and 4,000 元); the fence 5.60 + 1.5 × 0.30 = 6.05 lies far below b5's 8.
    b5 = flags.row(0, named=True)
    assert (b5["typical_low"], b5["typical_high"]) == (200_000, 400_000)
    # Two cadre sessions are too few for a spread: c2's 300,000 元 GPM is not flagged.
    assert "c2" not in flags["session_id"].to_list()


def test_each_figure_with_its_sessions_pooled_beside_the_median_and_without_the_flagged(sessions) -> None:  # type: ignore[no-untyped-def]
    rows = {r["host_kind"]: r for r in compared(sessions).to_dicts()}
    b, c = rows["broadcast"], rows["cadre"]
    assert (b["sessions"], b["flagged"], b["gpm_sessions"], b["fair_gpm_sessions"]) == (6, 2, 6, 4)
    # Median of 100,000, 200,000, 300,000, 400,000, 50,000,000 and 100,000,000 fen: (300,000 + 400,000) / 2.
    assert b["median_gpm"] == 350_000
    assert b["pooled_gpm"] == 25_166_667  # 151,000,000 fen × 1000 / 6,000 views
    assert (b["fair_median_gpm"], b["fair_pooled_gpm"]) == (250_000, 250_000)
    # Conversion: b4 has no viewers, so 5 sessions; pooled 50 buyers / 2,500 viewers.
    assert b["conversion_sessions"] == 5 and b["pooled_conversion"] == pytest.approx(50 / 2500)
    assert b["median_conversion"] == pytest.approx(0.02)
    # Cadre: GPMs 300,000 and 30,000,000 fen; pooled (600,000 + 90,000,000) × 1000 / 5,000 views.
    assert (c["median_gpm"], c["pooled_gpm"], c["flagged"]) == (15_150_000, 18_120_000, 0)
    assert c["pooled_conversion"] == pytest.approx(50 / 2000) and c["median_conversion"] == pytest.approx(0.025)


def test_no_sessions_compare_to_empty_tables() -> None:
    empty = report().sessions
    assert flagged(empty).height == 0 and compared(empty).height == 0
