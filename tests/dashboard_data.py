"""A small seeded programme for the dashboard tests: sessions (one live), minute ticks, order lines, baseline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from relief_live import ingest
from relief_live.store import Store

SHANGHAI = ZoneInfo("Asia/Shanghai")
VILLAGES = (("百色县", "百色村", "芒果", "斤", 5000, 8), ("紫金县", "紫金村", "茶叶", "斤", 800, 120),
            ("紫金县", "新田村", "土鸡蛋", "盒", 1200, 30))


def _fmt(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def programme(now: datetime | None = None, seed: int = 42) -> dict[str, bytes]:
    """CSV files by name: sessions.csv, ticks_<id>.csv, sales.csv, stock.csv. The session 'live1' is on air now."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    sessions = [  # id, title, kind, host, platform, start, minutes (None: still live)
        ("tv1", "扶贫好物 第1期", "电视直播", "王主持", "电视", now - timedelta(days=8), 90),
        ("tv2", "扶贫好物 第2期", "电视直播", "王主持", "电视", now - timedelta(days=1), 90),
        ("cadre1", "县长带你看紫金", "干部直播", "李县长", "抖音", now - timedelta(days=3), 60),
        ("live1", "扶贫好物 第3期", "电视直播", "王主持", "抖音", now - timedelta(minutes=30), None),
    ]
    out: dict[str, bytes] = {}
    lines = ["直播ID,直播标题,直播类型,主播,平台,开播时间,下播时间,观看人次,观看人数"]
    sales = ["订单编号,下单时间,商品名称,村,商品数量,单位,实付金额,直播ID"]
    order = 1
    for sid, title, kind, host, platform, start, minutes in sessions:
        end = "" if minutes is None else _fmt(start + timedelta(minutes=minutes))
        views = rng.randint(20_000, 90_000)
        lines.append(f"{sid},{title},{kind},{host},{platform},{_fmt(start)},{end},{views},{views // 3}")
        ticks = ["时间,实时在线人数,成交订单数,成交金额"]
        span = minutes if minutes is not None else 30
        for m in range(span):
            ordered = rng.randint(0, 6)
            for _ in range(ordered):
                county, village, product, unit, _qty, price = VILLAGES[rng.randrange(len(VILLAGES))]
                qty = rng.randint(1, 5)
                sales.append(f"o{order},{_fmt(start + timedelta(minutes=m))},{product},{village},{qty},{unit},"
                             f"{qty * price}.00,{sid}")
                order += 1
            ticks.append(f"{_fmt(start + timedelta(minutes=m))},{rng.randint(800, 3000) + 40 * m},{ordered},"
                         f"{ordered * 50}.00")
        out[f"ticks_{sid}.csv"] = ("\n".join(ticks) + "\n").encode()
    out["sessions.csv"] = ("\n".join(lines) + "\n").encode()
    out["sales.csv"] = ("\n".join(sales) + "\n").encode()
    as_of = (now - timedelta(days=10)).astimezone(SHANGHAI).strftime("%Y-%m-%d")
    stock = ["县区,村,产品,滞销数量,单位,统计日期,单价,带贫户数"]
    for county, village, product, unit, qty, price in VILLAGES:
        stock.append(f"{county},{village},{product},{qty},{unit},{as_of},{price},{rng.randint(10, 60)}")
    out["stock.csv"] = ("\n".join(stock) + "\n").encode()
    return out


def load(store: Store, now: datetime | None = None) -> None:
    """Ingest the programme: sessions first (ticks' times of day need their start), then the rest."""
    files = programme(now)
    ingest.ingest_bytes(store, "sessions.csv", files.pop("sessions.csv"), by="test")
    for name, data in files.items():
        sid = name[len("ticks_"):-4] if name.startswith("ticks_") else None
        ingest.ingest_bytes(store, name, data, session_id=sid, by="test")


def tick_line(moment: datetime, viewers: int, orders: int, gmv_yuan: int) -> str:
    return f"{_fmt(moment)},{viewers},{orders},{gmv_yuan}.00\n"
