"""The seeded demo programme: Shenzhen's 2020 relief-sales drive, written as the exports the ingester reads."""

from __future__ import annotations

import csv
import io
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import polars as pl
import xlsxwriter

if TYPE_CHECKING:
    from relief_live.ingest import FileResult
    from relief_live.store import Store

SEED: Final = 42
DEMO_DIR: Final = Path(__file__).resolve().parent.parent / "data" / "demo"
BY: Final = "demo"  # who the demo's batches are recorded as

# Asia/Shanghai kept no daylight saving in 2020: local time is UTC+8 all year.
UTC_OFFSET_MS: Final = 8 * 3_600_000
EPOCH: Final = datetime(1970, 1, 1)
FIRST_DAY: Final = date(2020, 1, 2)  # sessions of scale > 1 stay inside 2020
LAST_DAY: Final = date(2020, 12, 30)
XLSX_CREATED: Final = datetime(2021, 1, 4, 9, 0)  # fixed, so workbooks are byte-for-byte reproducible
EXTRA_FILE_LINES: Final = 400_000  # order lines per CSV of the sessions that scale > 1 adds

# Units the generator sells in; mass units convert through kilograms (docs/formats.md).
UNITS: Final[tuple[str, ...]] = ("斤", "公斤", "两", "吨", "箱", "只", "盒")
MASS_KG: Final[dict[str, float]] = {"斤": 0.5, "公斤": 1.0, "两": 0.05, "吨": 1000.0}
ORDER_MULTIPLES: Final = (np.array([1, 2, 3]), np.array([0.72, 0.2, 0.08]))  # packs bought per line
MULTI_LINE_SHARE: Final = 0.06  # lines that are a second product of the order before them
NO_VILLAGE_SHARE: Final = 0.05  # lines whose export leaves the village blank
REFUND_SHARE: Final = 0.03

# The Zhaotong cured-pork session: 4,000 斤 sold, worth 270,000 yuan (67.5 yuan a 斤).
ZHAOTONG_JIN: Final = 4000
ZHAOTONG_YUAN: Final = 270_000


@dataclass(frozen=True)
class DemoFile:
    """One written export: where it is, its kind, and the session id to supply when the file lacks one."""

    path: Path
    kind: str  # sessions | ticks | sales | stock | catalogue
    session_id: str | None = None


@dataclass(frozen=True)
class Produce:
    """A village's unsold product: its baselines (滞销台账 rows) and how it sells in a livestream."""

    key: str
    county: str
    village: str
    product: str
    unit: str  # the ledger's unit
    price: float  # yuan per ledger unit
    households: int
    baselines: tuple[tuple[date, float, float | None], ...]  # (as_of, unsold qty, sell-through bulk buying tops up to)
    sell: tuple[str, float, tuple[float, ...]]  # retail unit, yuan per retail unit, pack sizes
    alt: tuple[str, float, float] | None = None  # another unit some lines are written in: (unit, qty factor, share)
    weight: str | None = None  # weight of one ledger unit when that is a count unit, as the ledger writes it
    weight_kg: float | None = None

    @property
    def kg(self) -> float | None:
        """Kilograms in one ledger unit (None: a count unit without a weight)."""
        return MASS_KG.get(self.unit, self.weight_kg)


def _d(month: int, day: int) -> date:
    return date(2020, month, day)


JAN20: Final = _d(1, 20)
PRODUCE: Final[tuple[Produce, ...]] = (
    # Baise / Tianyang (Guangxi): mangoes in July-August, tomatoes stalled since spring.
    Produce("nm_mango", "田阳区", "那满村", "田阳芒果", "斤", 4.5, 58, ((_d(7, 10), 60_000, 0.92),),
            ("斤", 5.98, (5, 10)), ("公斤", 0.5, 0.1)),
    Produce("sn_mango", "田阳区", "四那村", "田阳芒果", "吨", 8000, 37, ((_d(7, 10), 40, 0.78),),
            ("斤", 5.5, (5, 10)), ("公斤", 0.5, 0.1)),
    Produce("bn_tomato", "田阳区", "百坭村", "田阳番茄", "斤", 1.8, 64, ((_d(3, 20), 100_000, None),),
            ("斤", 3.5, (5,))),
    # Leye (Guangxi): red-heart kiwifruit, old stock in March and the new crop in late August.
    Produce("hm_kiwi", "乐业县", "火卖村", "红心猕猴桃", "斤", 6, 44,
            ((_d(3, 31), 15_000, None), (_d(8, 31), 45_000, 0.88)), ("斤", 7.9, (3, 5)), ("公斤", 0.5, 0.12)),
    Produce("nf_kiwibox", "乐业县", "弄福村", "红心猕猴桃礼盒", "箱", 60, 29, ((_d(8, 31), 2400, 0.7),),
            ("箱", 68, (1,)), ("斤", 10, 0.08), weight="10斤", weight_kg=5.0),
    # Hechi (Guangxi): Dahua Qibainong chicken, Du'an Yaoshan beef.
    Produce("nt_chicken", "大化县", "弄腾村", "七百弄鸡", "只", 110, 52, ((_d(8, 15), 5000, 0.6),),
            ("只", 128, (1, 2))),
    Produce("gl_beef", "都安县", "高岭村", "瑶山牛肉", "公斤", 85, 41, ((_d(8, 15), 8000, 0.5),),
            ("斤", 45, (1, 2)), ("公斤", 0.5, 0.15)),
    # Zijin (Guangdong) green tea, stalled through both harvests; Zhaotong (Yunnan) cured pork.
    Produce("lw_tea", "紫金县", "龙窝村", "紫金绿茶", "盒", 40, 33, ((_d(4, 10), 8000, None), (_d(10, 15), 6000, None)),
            ("盒", 58, (1, 2)), ("两", 5, 0.2), weight="250g", weight_kg=0.25),
    Produce("dp_pork", "昭通市", "大坪村", "昭通腊肉", "斤", 60, 76, ((_d(11, 30), 8000, None),),
            ("斤", 67.5, (2, 3, 5))),
    # Shanwei (Guangdong): over 32 million yuan unsold at the start of the year, mostly sold by December.
    Produce("lh_squash", "海丰县", "联河村", "奶油南瓜", "斤", 2.2, 126,
            ((JAN20, 3_000_000, 0.93), (_d(6, 30), 1_200_000, 0.9)), ("斤", 2.98, (5, 10)), ("公斤", 0.5, 0.1)),
    Produce("dh_rice", "海丰县", "大湖村", "油占米", "斤", 3.2, 88, ((JAN20, 1_800_000, 0.95),),
            ("斤", 4.5, (10, 20)), ("公斤", 0.5, 0.1)),
    Produce("sy_yam", "陆丰市", "上英村", "陆丰番薯", "斤", 1.6, 142, ((JAN20, 3_500_000, 0.97),),
            ("斤", 2.6, (5, 10)), ("公斤", 0.5, 0.1)),
    Produce("jb_chestnut", "陆丰市", "碣北村", "马蹄", "斤", 2.5, 97, ((JAN20, 2_000_000, 0.9),),
            ("斤", 4.2, (3, 5))),
    Produce("xt_plum", "陆河县", "新田村", "陆河青梅", "吨", 5500, 73, ((JAN20, 900, 0.88),), ("斤", 6.8, (3, 5))),
    Produce("mg_fish", "汕尾市城区", "马宫村", "马宫鱼干", "斤", 30, 61, ((JAN20, 150_000, 0.55),),
            ("斤", 38, (1, 2))),
    Produce("lht_tea", "海丰县", "莲花村", "莲花山茶", "斤", 150, 45, ((JAN20, 12_000, 0.9),), ("斤", 168, (0.5, 1))),
)
STALLED: Final = frozenset({"bn_tomato", "lw_tea"})  # offered, rarely bought
SHANWEI: Final = frozenset({"海丰县", "陆丰市", "陆河县", "汕尾市城区"})


@dataclass(frozen=True)
class Show:
    """One livestream session of the story: who hosts it where, when, and what it sells."""

    sid: str
    platform: str  # douyin | kuaishou | pinduoduo | wechat_channels | tv
    host: str  # tv | influencer | county | secretary
    label: str  # the host kind as its export writes it
    host_name: str
    role: str
    county: str
    title: str
    start: datetime  # local time, Asia/Shanghai
    minutes: int
    lines: int  # retail order lines drawn (the Zhaotong session is then cut at 4,000 斤)
    sells: tuple[str, ...]  # produce keys, the first selling most
    bulk: tuple[str, ...] = ()  # produce that units buy in bulk during the session (per-product totals)


def _sid(platform: str, start: datetime, seq: int) -> str:
    return {
        "douyin": f"72130{start:%m%d%H%M}0000{seq:02d}",
        "kuaishou": f"KS{start:%Y%m%d}{seq:03d}",
        "pinduoduo": f"PDD{start:%Y%m%d}{seq:02d}",
        "wechat_channels": f"WXLIVE-{start:%y%m%d}-{seq:02d}",
        "tv": f"SZTV-{start:%Y%m%d}",
    }[platform]


def _tv(n: int, month: int, day: int, theme: str, sells: tuple[str, ...], bulk: bool = True, lines: int = 20) -> Show:
    start = datetime(2020, month, day, 19, 30)
    county = next(p.county for p in PRODUCE if p.key == sells[0])
    return Show(_sid("tv", start, n), "tv", "tv", "电视直播", "周末直播间主持人", "电视台主持人", county,
                f"消费扶贫周末直播间 第{n}期·{theme}", start, 90, lines, sells, sells if bulk else ())


def _show(seq: int, platform: str, host: str, label: str, name: str, role: str, county: str, title: str,
          start: datetime, minutes: int, lines: int, sells: tuple[str, ...], bulk: tuple[str, ...] = ()) -> Show:
    return Show(_sid(platform, start, seq), platform, host, label, name, role, county, title, start, minutes,
                lines, sells, bulk)


def _secretary(seq: int, platform: str, month: int, day: int, hour: int, minutes: int, lines: int,
               sells: tuple[str, ...], bulk: bool = True) -> Show:
    first = next(p for p in PRODUCE if p.key == sells[0])
    names = "、".join(next(p.product for p in PRODUCE if p.key == k) for k in sells)
    return _show(seq, platform, "secretary", "书记直播", f"{first.village}第一书记", "驻村第一书记", first.county,
                 f"第一书记带货·{first.village}{names}", datetime(2020, month, day, hour, 0 if hour == 15 else 30),
                 minutes, lines, sells, sells if bulk else ())


SHOWS: Final[tuple[Show, ...]] = (
    # The weekly TV relief special (broadcast, tv).
    _tv(1, 8, 1, "田阳芒果", ("nm_mango", "sn_mango")),
    _tv(2, 8, 8, "汕尾南瓜番薯", ("lh_squash", "sy_yam")),
    _tv(3, 8, 15, "百色芒果再出发", ("sn_mango", "nm_mango")),
    _tv(4, 8, 22, "海丰油占米·陆丰马蹄", ("dh_rice", "jb_chestnut")),
    _tv(5, 8, 29, "七百弄鸡·瑶山牛肉", ("nt_chicken", "gl_beef")),
    _tv(6, 9, 5, "乐业红心猕猴桃", ("hm_kiwi",)),
    _tv(7, 9, 12, "陆河青梅·马宫鱼干", ("xt_plum", "mg_fish")),
    _tv(8, 9, 19, "猕猴桃礼盒季", ("nf_kiwibox", "hm_kiwi")),
    _tv(9, 9, 26, "田阳番茄·紫金绿茶", ("bn_tomato", "lw_tea"), bulk=False, lines=12),
    _tv(10, 10, 10, "莲花山茶·奶油南瓜", ("lht_tea", "lh_squash")),
    # Influencer streams (broadcast, douyin / kuaishou).
    _show(1, "douyin", "influencer", "达人直播", "山货阿强", "助农达人", "田阳区", "芒果季 田阳芒果产地直发",
          datetime(2020, 7, 18, 20, 0), 130, 320, ("nm_mango",)),
    _show(2, "kuaishou", "influencer", "influencer", "助农小鹿", "快手达人", "田阳区", "百色芒果现摘现发",
          datetime(2020, 7, 25, 20, 0), 120, 220, ("sn_mango", "bn_tomato")),
    _show(3, "douyin", "influencer", "网红", "桂姐带货", "助农达人", "大化县", "七百弄鸡 瑶山牛肉 大山好味道",
          datetime(2020, 8, 20, 19, 30), 150, 230, ("nt_chicken", "gl_beef")),
    _show(4, "kuaishou", "influencer", "influencer", "小满爱吃", "快手达人", "乐业县", "深夜食堂·乐业红心猕猴桃",
          datetime(2020, 9, 10, 22, 30), 130, 240, ("hm_kiwi", "nf_kiwibox")),
    _show(5, "douyin", "influencer", "达人直播", "山货阿强", "助农达人", "乐业县", "猕猴桃礼盒 送给远方的你",
          datetime(2020, 9, 24, 20, 0), 120, 220, ("nf_kiwibox", "hm_kiwi")),
    _show(6, "kuaishou", "influencer", "influencer", "大山里的阿布", "快手达人", "都安县", "瑶山牛肉 七百弄鸡 年货提前囤",
          datetime(2020, 10, 17, 19, 0), 140, 200, ("gl_beef", "nt_chicken")),
    _show(7, "douyin", "influencer", "达人直播", "吃货老周", "助农达人", "陆丰市", "陆丰番薯 紫金绿茶 冬日暖心",
          datetime(2020, 11, 14, 20, 0), 110, 180, ("sy_yam", "lw_tea")),
    _show(8, "kuaishou", "influencer", "influencer", "小满爱吃", "快手达人", "昭通市", "昭通腊肉 年味提前到",
          datetime(2020, 12, 5, 20, 0), 120, 220, ("dp_pork", "nt_chicken")),
    # Officials: a district head and a county head together on Pinduoduo, and county heads (cadre).
    _show(1, "pinduoduo", "county", "区长直播", "区长、县长", "帮扶区区长、昭通县长", "昭通市",
          "区长县长同台带货 昭通腊肉年货节", datetime(2020, 12, 12, 19, 0), 150, 1300, ("dp_pork",)),
    _show(1, "wechat_channels", "county", "干部带货", "田阳区副区长", "副区长", "田阳区", "副区长带你吃田阳芒果",
          datetime(2020, 8, 10, 15, 0), 90, 140, ("nm_mango", "sn_mango")),
    _show(2, "douyin", "county", "县长直播", "乐业县副县长", "副县长", "乐业县", "县长来了 乐业红心猕猴桃",
          datetime(2020, 9, 16, 19, 30), 105, 200, ("hm_kiwi", "nf_kiwibox")),
    _show(9, "kuaishou", "county", "official", "都安县副县长", "副县长", "都安县", "副县长直播 瑶山牛肉",
          datetime(2020, 8, 25, 19, 30), 100, 150, ("gl_beef",)),
    # First secretaries (驻村第一书记) streaming for Shanwei villages (cadre).
    _secretary(3, "douyin", 2, 18, 15, 90, 30, ("lh_squash",)),
    _secretary(4, "douyin", 2, 26, 15, 80, 30, ("sy_yam",)),
    _secretary(2, "wechat_channels", 3, 6, 19, 90, 25, ("dh_rice",)),
    _secretary(10, "kuaishou", 3, 18, 19, 80, 25, ("jb_chestnut",)),
    _secretary(5, "douyin", 4, 2, 15, 90, 25, ("xt_plum",)),
    _secretary(3, "wechat_channels", 4, 16, 19, 100, 30, ("lh_squash", "lht_tea")),
    _secretary(6, "douyin", 5, 9, 15, 90, 25, ("mg_fish",)),
    _secretary(11, "kuaishou", 5, 22, 19, 90, 40, ("sy_yam", "jb_chestnut"), bulk=False),
    _secretary(7, "douyin", 7, 11, 19, 90, 30, ("lh_squash",)),
    _secretary(4, "wechat_channels", 9, 5, 15, 80, 30, ("lht_tea",), bulk=False),
    _secretary(8, "douyin", 10, 24, 15, 90, 30, ("dh_rice",)),
    _secretary(12, "kuaishou", 11, 21, 19, 100, 30, ("mg_fish", "xt_plum")),
)
ZHAOTONG: Final = next(s.sid for s in SHOWS if s.platform == "pinduoduo")
CLOCK_TICKS: Final = next(s.sid for s in SHOWS if s.title.startswith("深夜食堂"))  # crosses midnight
TREND_TICKS: Final = (SHOWS[10].sid, next(s.sid for s in SHOWS if s.label == "县长直播"),
                      next(s.sid for s in SHOWS if s.host == "secretary" and s.sells == ("lht_tea",)))
UNCONVERTIBLE: Final = ((SHOWS[10].sid, "nm_mango", 37 * 60 + 12, 1, 4990), (SHOWS[10].sid, "nm_mango", 88 * 60 + 40, 2, 9980))


# ---------------------------------------------------------------------------------------------
# Drawing order lines, vectorised over sessions (the same code for the story and for --scale)

_P: Final = {p.key: i for i, p in enumerate(PRODUCE)}
_U: Final = {u: i for i, u in enumerate(UNITS)}
_P_ID: Final = {p.product: i + 1 for i, p in enumerate(PRODUCE)}  # the platform's product id, for show


def _produce_arrays() -> dict[str, np.ndarray]:
    packs = np.zeros((len(PRODUCE), 3))
    n_packs = np.zeros(len(PRODUCE), dtype=np.int64)
    for i, p in enumerate(PRODUCE):
        packs[i, : len(p.sell[2])] = p.sell[2]
        n_packs[i] = len(p.sell[2])
    # Kilograms in one of each unit for each produce; a count unit weighs only where its ledger says.
    unit_kg = np.full((len(PRODUCE), len(UNITS)), np.nan)
    for i, p in enumerate(PRODUCE):
        for u, kg in MASS_KG.items():
            unit_kg[i, _U[u]] = kg
        if p.weight_kg is not None:
            unit_kg[i, _U[p.unit]] = p.weight_kg
    return {
        "packs": packs, "n_packs": n_packs,
        "price_fen": np.array([round(p.sell[1] * 100) for p in PRODUCE], dtype=np.int64),
        "unit": np.array([_U[p.sell[0]] for p in PRODUCE]),
        "alt_unit": np.array([_U[p.alt[0]] if p.alt else 0 for p in PRODUCE]),
        "alt_factor": np.array([p.alt[1] if p.alt else 1.0 for p in PRODUCE]),
        "alt_share": np.array([p.alt[2] if p.alt else 0.0 for p in PRODUCE]),
        "base_unit": np.array([_U[p.unit] for p in PRODUCE]),
        "name": np.array([[q.product for q in PRODUCE].index(p.product) for p in PRODUCE]),
        "unit_kg": unit_kg,
    }


PRODUCE_ARRAYS: Final = _produce_arrays()


def _offers(sells: Sequence[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(session, produce, weight) of every offer: the first product sells most, stalled ones least."""
    session, produce, weight = [], [], []
    for s, keys in enumerate(sells):
        for j, key in enumerate(keys):
            session.append(s)
            produce.append(_P[key])
            weight.append((1.0, 0.5, 0.3)[j] * (0.15 if key in STALLED else 1.0))
    return np.array(session), np.array(produce), np.array(weight)


def _draw(rng: np.random.Generator, starts: np.ndarray, minutes: np.ndarray, counts: np.ndarray,
          offer_session: np.ndarray, offer_produce: np.ndarray, offer_weight: np.ndarray) -> dict[str, np.ndarray]:
    """Retail order lines of many sessions at once, sorted by session and time (ts: local epoch ms)."""
    a = PRODUCE_ARRAYS
    n = int(counts.sum())
    session = np.repeat(np.arange(len(counts)), counts)
    # Pick an offer of the line's session: cumulative weights within each session, searched at session + u.
    share = offer_weight / np.bincount(offer_session, weights=offer_weight)[offer_session]
    total = np.cumsum(share)
    first = np.searchsorted(offer_session, offer_session)  # each offer's session's first offer (sorted by session)
    within = total - total[first] + share[first]
    within[np.r_[offer_session[1:] != offer_session[:-1], True]] = 1.0  # exactly 1 at each session's last offer
    pick = np.searchsorted(offer_session + within, session + rng.random(n), side="right")
    produce = offer_produce[pick]
    pack = a["packs"][produce, (rng.random(n) * a["n_packs"][produce]).astype(np.int64)]
    qty = pack * rng.choice(ORDER_MULTIPLES[0], size=n, p=ORDER_MULTIPLES[1])
    amount = np.rint(qty * a["price_fen"][produce]).astype(np.int64)
    unit = a["unit"][produce].copy()
    alt = rng.random(n) < a["alt_share"][produce]
    qty = np.where(alt, qty * a["alt_factor"][produce], qty)
    unit[alt] = a["alt_unit"][produce[alt]]
    blank = rng.random(n) < NO_VILLAGE_SHARE
    ts = starts[session] + (rng.random(n) * minutes[session] * 60).astype(np.int64) * 1000
    lines = {"session": session, "produce": produce, "qty": qty, "unit": unit, "amount": amount,
             "blank": blank, "ts": ts, "fixed": np.zeros(n, dtype=bool)}
    return _sorted(lines)


def _sorted(lines: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.lexsort((lines["ts"], lines["session"]))
    return {k: v[order] for k, v in lines.items()}


def _orders(rng: np.random.Generator, lines: dict[str, np.ndarray], first_order: int) -> dict[str, np.ndarray]:
    """Group lines into orders: a few lines are a second product of the order before them (same time)."""
    session, fixed = lines["session"], lines["fixed"]
    name = PRODUCE_ARRAYS["name"][lines["produce"]]  # order id + product name is the store's key
    n = len(session)
    same = np.r_[False, (session[1:] == session[:-1]) & (name[1:] != name[:-1]) & ~fixed[:-1]]
    candidate = (rng.random(n) < MULTI_LINE_SHARE) & same & ~fixed
    join = candidate & ~np.r_[False, candidate[:-1]]
    ts = lines["ts"].copy()
    joined = np.flatnonzero(join)
    ts[joined] = ts[joined - 1]
    first = ~join
    return {**lines, "ts": ts, "first": first, "order_no": first_order + np.cumsum(first) - 1}


def _sold_in_ledger_units(lines: dict[str, np.ndarray]) -> np.ndarray:
    """Each line's quantity in its produce's ledger unit; NaN where it cannot convert (箱 without a weight)."""
    a = PRODUCE_ARRAYS
    produce, unit = lines["produce"], lines["unit"]
    base = a["base_unit"][produce]
    factor = a["unit_kg"][produce, unit] / a["unit_kg"][produce, base]
    return np.where(unit == base, lines["qty"], lines["qty"] * factor)


# ---------------------------------------------------------------------------------------------
# The story (scale 1) and the sessions that --scale adds


@dataclass
class Programme:
    """Everything the export files are written from."""

    sessions: pl.DataFrame  # one row per session: ids, hosts, times (local), summary values
    lines: pl.DataFrame  # retail order lines
    totals: pl.DataFrame  # per-product totals of bulk buying during a session
    ticks: dict[str, pl.DataFrame]  # minute series of some sessions
    shop: pl.DataFrame  # the shop's order lines on 抖店, 拼多多 and 淘宝 (_shop)
    extra_sessions: pl.DataFrame | None = None
    extra_lines: pl.DataFrame | None = None


def _local_ms(when: datetime | date) -> int:
    if not isinstance(when, datetime):
        when = datetime(when.year, when.month, when.day)
    return int((when - EPOCH).total_seconds()) * 1000


def _story(seed: int) -> Programme:
    rng = np.random.default_rng(seed)
    starts = np.array([_local_ms(s.start) for s in SHOWS], dtype=np.int64)
    minutes = np.array([s.minutes for s in SHOWS], dtype=np.int64)
    counts = np.array([s.lines for s in SHOWS], dtype=np.int64)
    lines = _draw(rng, starts, minutes, counts, *_offers([s.sells for s in SHOWS]))
    lines = _orders(rng, _cut_zhaotong(_with_unconvertible(lines, starts)), first_order=1)
    totals = _bulk(rng, lines, starts)
    sessions, ticks = _summaries(rng, lines, totals, starts, minutes)
    shop = _shop(seed)
    return Programme(_with_shop_sales(sessions, shop), _lines_frame(lines, sessions), totals, ticks, shop)


def _with_unconvertible(lines: dict[str, np.ndarray], starts: np.ndarray) -> dict[str, np.ndarray]:
    """Add mango sold by the 箱 against a ledger in 斤 that gives no box weight: unconvertible."""
    index = {s.sid: i for i, s in enumerate(SHOWS)}
    extra: dict[str, list[Any]] = {k: [] for k in lines}
    for sid, key, second, qty, fen in UNCONVERTIBLE:
        s = index[sid]
        for name, value in (("session", s), ("produce", _P[key]), ("qty", float(qty)), ("unit", _U["箱"]),
                            ("amount", fen), ("blank", False), ("ts", starts[s] + second * 1000), ("fixed", True)):
            extra[name].append(value)
    return _sorted({k: np.concatenate([v, np.array(extra[k], dtype=v.dtype)]) for k, v in lines.items()})


def _cut_zhaotong(lines: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """End the Zhaotong session's orders where they reach 4,000 斤 (270,000 yuan at 67.5 a 斤)."""
    s = next(i for i, show in enumerate(SHOWS) if show.sid == ZHAOTONG)
    mine = np.flatnonzero(lines["session"] == s)
    before = np.cumsum(lines["qty"][mine]) - lines["qty"][mine]
    assert before[-1] + lines["qty"][mine[-1]] > ZHAOTONG_JIN, "draw more Zhaotong lines"
    keep = np.ones(len(lines["session"]), dtype=bool)
    keep[mine[before >= ZHAOTONG_JIN]] = False
    last = mine[np.flatnonzero(before < ZHAOTONG_JIN)[-1]]
    lines = {k: v.copy() for k, v in lines.items()}
    lines["qty"][last] = ZHAOTONG_JIN - before[np.flatnonzero(mine == last)[0]]
    lines["amount"][last] = round(lines["qty"][last] * PRODUCE_ARRAYS["price_fen"][_P["dp_pork"]])
    lines = {k: v[keep] for k, v in lines.items()}
    assert lines["amount"][lines["session"] == s].sum() == ZHAOTONG_YUAN * 100
    return lines


def _bulk(rng: np.random.Generator, lines: dict[str, np.ndarray], starts: np.ndarray) -> pl.DataFrame:
    """Per-product totals: units buying in bulk during sessions until each baseline's target sell-through."""
    sold = _sold_in_ledger_units(lines)
    names = [p.product for p in PRODUCE]
    unique = np.array([names.count(n) == 1 for n in names])
    counted = np.isfinite(sold) & (~lines["blank"] | unique[lines["produce"]])
    rows = []
    for i, p in enumerate(PRODUCE):
        ends = [_local_ms(b[0]) for b in p.baselines[1:]] + [_local_ms(date(2021, 1, 1))]
        for (as_of, qty, target), end in zip(p.baselines, ends, strict=True):
            if target is None:
                continue
            begin = _local_ms(as_of)
            retail = sold[counted & (lines["produce"] == i) & (lines["ts"] >= begin) & (lines["ts"] < end)].sum()
            buyers = [s for s, show in enumerate(SHOWS) if p.key in show.bulk and begin <= starts[s] < end]
            assert buyers, f"no bulk session for {p.key} after {as_of}"
            need = max(target * qty - retail, 0.0)
            step = {"吨": 0.5, "公斤": 50, "斤": 100}.get(p.unit, 10)
            for s, share in zip(buyers, rng.dirichlet(np.full(len(buyers), 4.0)), strict=True):
                bought = round(need * share / step) * step
                price = p.price * rng.uniform(0.92, 1.0)
                rows.append({"session": s, "produce": i, "qty": float(bought), "unit": p.unit,
                             "amount": round(bought * price) * 100, "orders": int(rng.integers(5, 40))})
    frame = pl.DataFrame(rows, schema={"session": pl.Int64, "produce": pl.Int64, "qty": pl.Float64,
                                       "unit": pl.String, "amount": pl.Int64, "orders": pl.Int64})
    frame = frame.sort("session", "produce")
    produce = frame["produce"]
    return frame.with_columns(
        session_id=pl.Series([s.sid for s in SHOWS]).gather(frame["session"]),
        product=pl.Series([p.product for p in PRODUCE]).gather(produce),
        village=pl.Series([p.village for p in PRODUCE]).gather(produce),
        county=pl.Series([p.county for p in PRODUCE]).gather(produce),
    )


_CONVERSION: Final = {"influencer": (0.02, 0.045), "county": (0.015, 0.03), "secretary": (0.01, 0.025),
                      "tv": (0.004, 0.01)}


def _summaries(rng: np.random.Generator, lines: dict[str, np.ndarray], totals: pl.DataFrame, starts: np.ndarray,
               minutes: np.ndarray) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """Session summaries and minute series, from the session's own order lines and bulk totals."""
    rows, ticks = [], {}
    tick_ids = {ZHAOTONG, CLOCK_TICKS, *TREND_TICKS}
    for s, show in enumerate(SHOWS):
        mine = lines["session"] == s
        first = lines["first"] & mine
        bulk = totals.filter(pl.col("session") == s)
        retail_orders = int(first.sum())
        retail_buyers = round(retail_orders * rng.uniform(0.9, 0.97))
        conversion = rng.uniform(*_CONVERSION[show.host])
        uv = round(retail_buyers / conversion)
        views = round(uv * rng.uniform(1.4, 1.9))
        stay = rng.uniform(2.5, 6.0)  # minutes an average viewer stays
        m = int(minutes[s])
        at = np.arange(m)
        shape = (1 - np.exp(-(at + 1) / 6)) * (1 - 0.45 * (at / m) ** 2) * np.exp(rng.normal(0, 0.06, m))
        arrivals = rng.multinomial(uv, shape / shape.sum())
        visits = arrivals + rng.multinomial(views - uv, shape / shape.sum())  # PV: first visits and returns
        # Viewers online: each arrival stays a while (exponentially, `stay` minutes on average).
        online = np.rint(np.convolve(arrivals, np.exp(-np.arange(m) / stay))[:m]).astype(np.int64)
        minute = (lines["ts"][mine] - starts[s]) // 60_000
        orders = np.bincount(minute[lines["first"][mine]], minlength=m)
        gmv = np.bincount(minute, weights=lines["amount"][mine], minlength=m).round().astype(np.int64)
        if show.sid in tick_ids:
            likes = rng.poisson(online * 0.8)
            ticks[show.sid] = pl.DataFrame({
                "ts": [show.start + timedelta(minutes=int(i)) for i in at],
                "viewers_online": online, "viewers_cum": np.cumsum(arrivals), "views_cum": np.cumsum(visits),
                "entries": arrivals, "orders": orders, "orders_cum": np.cumsum(orders), "gmv": gmv,
                "gmv_cum": np.cumsum(gmv), "likes": likes, "comments": rng.poisson(online * 0.05),
                "new_followers": rng.poisson(arrivals * 0.03),
            })
        tv = show.host == "tv"
        rows.append({
            "session_id": show.sid, "title": show.title, "host_kind": "broadcast" if show.host in ("tv", "influencer")
            else "cadre", "host": show.host, "label": show.label, "host_name": show.host_name, "host_role": show.role,
            "platform": show.platform, "county": show.county, "started_at": show.start,
            "ended_at": show.start + timedelta(minutes=m), "minutes": m,
            "peak_viewers": None if tv else int(online.max()), "avg_viewers": None if tv else round(online.mean()),
            "viewers": None if tv else uv, "views": views,
            "orders": retail_orders + int(bulk["orders"].sum()),
            "buyers": retail_buyers + int(bulk["orders"].sum()),
            "gmv": int(lines["amount"][mine].sum()) + int(bulk["amount"].sum()),
        })
    return pl.DataFrame(rows, infer_schema_length=None), ticks


def _lines_frame(lines: dict[str, np.ndarray], sessions: pl.DataFrame) -> pl.DataFrame:
    """Order lines as text-ready columns: ids, local time, product, village (null when blank), qty, unit."""
    produce = pl.Series(lines["produce"])
    frame = pl.DataFrame({
        "session": lines["session"], "order_no": lines["order_no"], "first": lines["first"],
        "ts": pl.Series(lines["ts"]).cast(pl.Datetime("ms")),
        "product": pl.Series([p.product for p in PRODUCE]).gather(produce),
        "village": pl.Series([p.village for p in PRODUCE]).gather(produce),
        "county": pl.Series([p.county for p in PRODUCE]).gather(produce),
        "blank": lines["blank"], "qty": lines["qty"],
        "unit": pl.Series(list(UNITS)).gather(pl.Series(lines["unit"])),
        "amount": lines["amount"],
    })
    ids = sessions.select("session_id", "platform").with_row_index("session").with_columns(
        pl.col("session").cast(pl.Int64))
    frame = frame.join(ids, on="session", how="left", maintain_order="left")
    no = pl.col("order_no")
    order_id = (
        pl.when(pl.col("platform") == "douyin").then((no + 4915000000000000).cast(pl.String))
        .when(pl.col("platform") == "kuaishou").then((no + 2300000000000000000).cast(pl.String))
        .when(pl.col("platform") == "pinduoduo").then(
            pl.col("ts").dt.strftime("%y%m%d") + "-" + no.cast(pl.String).str.zfill(15))
        .when(pl.col("platform") == "wechat_channels").then("3700" + no.cast(pl.String).str.zfill(15))
        .otherwise("TV2020" + no.cast(pl.String).str.zfill(10))
    )
    return frame.with_columns(
        order_id=order_id,
        village=pl.when(pl.col("blank")).then(None).otherwise(pl.col("village")),
    )


def _extras(seed: int, scale: int, story: Programme) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sessions that --scale adds: each story session again (scale - 1) times, on nearby days, with new orders."""
    rng = np.random.default_rng([seed, scale])
    reps = scale - 1
    n_story = len(SHOWS)
    profile = np.tile(np.arange(n_story), reps)
    replica = np.repeat(np.arange(1, scale), n_story)
    story_start = np.array([_local_ms(s.start) for s in SHOWS], dtype=np.int64)[profile]
    day = 86_400_000
    lo = np.maximum(-45, (_local_ms(FIRST_DAY) - story_start) // day + 1)
    hi = np.minimum(45, (_local_ms(LAST_DAY) - story_start) // day)
    shift = lo + (rng.random(len(profile)) * (hi - lo + 1)).astype(np.int64)
    starts = story_start + shift * day
    minutes = np.array([s.minutes for s in SHOWS], dtype=np.int64)[profile]
    story_counts = story.lines.group_by("session").len().sort("session")["len"].to_numpy()
    counts = rng.poisson(story_counts[profile])
    o_session, o_produce, o_weight = _offers([s.sells for s in SHOWS])
    per = np.bincount(o_session, minlength=n_story)
    offset = np.r_[0, np.cumsum(per)[:-1]]
    size = per[profile]
    # The offers of each added session: its profile's run of offers, laid end to end.
    take = np.repeat(offset[profile], size) + np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
    lines = _draw(rng, starts, minutes, counts, np.repeat(np.arange(len(profile)), size), o_produce[take],
                  o_weight[take])
    first_order = int(story.lines["order_no"].max()) + 1
    lines = _orders(rng, lines, first_order)

    host = np.array([s.host for s in SHOWS])[profile]
    orders = np.bincount(lines["session"], weights=lines["first"], minlength=len(profile)).astype(np.int64)
    gmv = np.bincount(lines["session"], weights=lines["amount"], minlength=len(profile)).round().astype(np.int64)
    buyers = np.rint(orders * rng.uniform(0.9, 0.97, len(profile))).astype(np.int64)
    low = np.array([_CONVERSION[h][0] for h in host])
    high = np.array([_CONVERSION[h][1] for h in host])
    uv = np.rint(buyers / rng.uniform(low, high)).astype(np.int64)
    views = np.rint(uv * rng.uniform(1.4, 1.9, len(profile))).astype(np.int64)
    avg = np.rint(uv * rng.uniform(2.5, 6.0, len(profile)) / minutes).astype(np.int64)
    base = story.sessions.select(
        "session_id", "title", "host_kind", "host_name", "host_role", "platform", "county").with_row_index("profile")
    sessions = pl.DataFrame({
        "profile": profile.astype(np.uint32), "replica": replica, "tv": host == "tv",
        "started_at": pl.Series(starts).cast(pl.Datetime("ms")),
        "ended_at": pl.Series(starts + minutes * 60_000).cast(pl.Datetime("ms")),
        "peak_viewers": pl.Series(np.rint(avg * 1.35).astype(np.int64)), "avg_viewers": avg,
        "viewers": uv, "views": views, "orders": orders, "buyers": buyers, "gmv": gmv,
    }).join(base, on="profile", how="left", maintain_order="left").with_columns(
        *(pl.when(pl.col("tv")).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("peak_viewers", "avg_viewers", "viewers")),
        session_id=pl.col("session_id") + "-R" + pl.col("replica").cast(pl.String).str.zfill(4),
    ).drop("tv")
    return sessions, _lines_frame(lines, sessions)


def programme(seed: int = SEED, scale: int = 1) -> Programme:
    """The demo programme: the 2020 story, and with scale > 1 as many copies again of its sessions."""
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    story = _story(seed)
    if scale > 1:
        story.extra_sessions, story.extra_lines = _extras(seed, scale, story)
    return story


# ---------------------------------------------------------------------------------------------
# The programme's shop: its listings, the catalogue that ties them to villages, and its order lines on 抖店,
# 拼多多 and 淘宝. None of these lines names a session or a village: the catalogue finds the village, the host
# account and the time find the session (metrics.place_sales).


@dataclass(frozen=True)
class Listing:
    """A product the shop sells: its produce, pack and titles, and how the catalogue knows it."""

    key: str  # produce
    pack: float  # packs are weighed in the produce's retail unit (斤)
    title: str  # the 抖店 and 拼多多 listing title
    sku: str | None  # 商家编码; None: the shop never gave one, so the catalogue knows the listing by its product id
    taobao: str  # the 淘宝 listing title: 淘宝's 订单报表 carries titles only
    catalogued: bool = True  # False: no catalogue row names it (a box of several villages' produce)
    price: float | None = None  # yuan a pack, when not the produce's retail price times the pack


LISTINGS: Final[tuple[Listing, ...]] = (
    Listing("nm_mango", 5, "田阳芒果 5斤装 产地直发", "TY-MG-05", "百色田阳芒果5斤 新鲜现摘 产地直发"),
    Listing("nm_mango", 10, "田阳芒果 10斤装 产地直发", "TY-MG-10", "百色田阳芒果10斤 新鲜现摘 产地直发"),
    Listing("hm_kiwi", 3, "乐业红心猕猴桃 3斤", "LY-MHT-03", "乐业红心猕猴桃3斤 当季现摘"),
    Listing("hm_kiwi", 5, "乐业红心猕猴桃 5斤", None, "乐业红心猕猴桃5斤 当季现摘 坏果包赔"),
    Listing("gl_beef", 1, "都安瑶山牛肉 1斤装", "DA-NR-01", "都安瑶山黄牛肉1斤 真空包装"),
    Listing("dp_pork", 3, "昭通腊肉 3斤 农家柴火烟熏", "ZT-LR-03", "云南昭通农家腊肉3斤 柴火烟熏"),
    Listing("lh_squash", 10, "海丰奶油南瓜 10斤", "HF-NG-10", "海丰奶油南瓜10斤 粉糯香甜"),
    Listing("dh_rice", 20, "海丰油占米 20斤", None, "海丰油占米20斤 当季新米"),
    Listing("sy_yam", 5, "陆丰番薯 5斤", "LF-FS-05", "陆丰番薯5斤 农家红薯"),
    Listing("jb_chestnut", 5, "陆丰马蹄 5斤", "LF-MT-05", "陆丰马蹄5斤 新鲜荸荠"),
    Listing("mg_fish", 1, "马宫鱼干 1斤", "SW-YG-01", "汕尾马宫鱼干1斤 海边晒制"),
    Listing("lht_tea", 0.5, "莲花山茶 半斤礼盒", "HF-CY-05", "海丰莲花山茶半斤 礼盒装"),
    Listing("lh_squash", 10, "汕尾农家年货礼盒 南瓜番薯马蹄", "SW-LB-01", "汕尾农家年货礼盒 南瓜番薯马蹄", False, 88),
)
SHOP_NAME: Final = "深圳消费帮扶馆"
SHOP_ACCOUNT: Final = "1038475629301847562"  # the shop's own 抖音 account: its own broadcasts are no demo session
PDD_UNCODED: Final = frozenset({"TY-MG-05", "TY-MG-10"})  # on 拼多多 the mangoes carry no 商家编码: found by 商品id
RETITLED: Final = ("sy_yam", _d(11, 1), "【新品】")  # on 淘宝 the yams were retitled then: a title no catalogue row has
SEASON_END: Final = {"nm_mango": _d(9, 15)}  # produce the shop sells only until then (else until LAST_DAY)
# 抖店 lines sold in the live room of a demo session: (platform, start day, listings by produce, lines).
SHOP_IN_SESSIONS: Final = (
    ("douyin", _d(7, 11), ("lh_squash",), 20), ("douyin", _d(8, 20), ("gl_beef",), 30),
    ("douyin", _d(9, 24), ("hm_kiwi",), 36), ("douyin", _d(10, 24), ("dh_rice",), 20),
    ("douyin", _d(11, 14), ("sy_yam",), 30),
)
SHOP_BROADCASTS: Final = (_d(8, 8), _d(9, 9), _d(10, 1), _d(11, 11), _d(12, 12))  # the shop's own, 20:00-22:00
SHOP_OFF_AIR_LINES: Final = 420  # 抖店 lines through the product card (商品卡) or a short video (短视频)
SHOP_PDD_ORDERS: Final = 200
SHOP_TAOBAO_ORDERS: Final = 150
SHOP_SECOND_LINE: Final = 0.1  # 抖店 orders of two listings
# 淘宝/千牛's 订单报表, its 69 headers as it writes them (three with a trailing space).
TAOBAO_HEADERS: Final = (
    "订单编号", "买家会员名", "买家支付宝账号", "支付单号", "支付详情", "买家应付货款", "买家应付邮费", "买家支付积分", "总金额",
    "返点积分", "买家实际支付金额", "买家实际支付积分", "订单状态", "买家留言", "收货人姓名", "收货地址", "运送方式",
    "联系电话", "联系手机", "订单创建时间", "订单付款时间", "宝贝标题 ", "宝贝种类 ", "物流单号 ", "物流公司",
    "订单备注", "宝贝总数量", "店铺Id", "店铺名称", "订单关闭原因", "卖家服务费", "买家服务费", "发票抬头", "是否手机订单",
    "分阶段订单信息", "特权订金订单id", "是否上传合同照片", "是否上传小票", "是否代付", "定金排名", "修改后的sku",
    "修改后的收货地址", "异常信息", "天猫卡券抵扣", "集分宝抵扣", "是否是O2O交易", "O2O交易类型", "O2O店铺id",
    "O2O店铺名称", "O2O导购员id", "O2O导购员姓名", "O2O提货类型", "O2O外部订单id", "新零售交易类型", "新零售导购门店名称",
    "新零售导购门店id", "新零售发货门店名称", "新零售发货门店id", "退款金额", "预约门店", "是否村淘订单", "确认收货时间",
    "打款商家金额", "含应开票给个人的个人红包", "是否信用购", "体验期结束时间", "前N有礼", "配送类型", "主订单编号",
)


def _pack_text(pack: float) -> str:
    return f"{round(pack * 500)}g" if pack < 1 else f"{_qty(pack)}斤"


def _pack_fen(listing: Listing) -> int:
    """A pack's price in fen: the produce's retail price times the pack, ending in .90 as shops price."""
    produce = PRODUCE[_P[listing.key]]
    yuan = listing.price if listing.price is not None else round(produce.sell[1] * listing.pack)
    return int(yuan * 100) - 10


def _window(listing: Listing) -> tuple[int, int]:
    """Local epoch ms the shop sells the listing between: its produce's first baseline to its season's end."""
    produce = PRODUCE[_P[listing.key]]
    end = SEASON_END.get(listing.key, LAST_DAY)
    return _local_ms(produce.baselines[0][0]), _local_ms(end + timedelta(days=1))


def _douyin_accounts() -> dict[str, str]:
    """达人ID of each host who streams on 抖音, the same in the sessions file and the shop's export."""
    names = sorted({s.host_name for s in SHOWS if s.platform == "douyin"})
    return {name: str(7_592_255_573_464_597_541 + 7_919 * i) for i, name in enumerate(names)}


DOUYIN_ACCOUNTS: Final = _douyin_accounts()


def _shop(seed: int) -> pl.DataFrame:
    """The shop's order lines (local times): platform, order, line, listing, packs, unit price, amount, status,
    refund, channel, host account and the session whose live room sold it (None: sessionless)."""
    rng = np.random.default_rng([seed, 2])
    windows = [_window(li) for li in LISTINGS]
    by_key = {key: [i for i, li in enumerate(LISTINGS) if li.key == key] for key in {li.key for li in LISTINGS}}
    rows: list[dict[str, Any]] = []
    orders = 0

    def sellable(at: int) -> list[int]:
        return [i for i, (lo, hi) in enumerate(windows) if lo <= at < hi]

    def order(platform: str, at: int, listing: int, channel: str | None = None, host: str | None = None,
              session: str | None = None) -> None:
        """One order of the listing at `at`; on 抖店 now and then a second listing in the same order."""
        nonlocal orders
        orders += 1
        picks = [listing]
        others = [i for i in sellable(at) if i != listing]
        if platform == "doudian" and others and rng.random() < SHOP_SECOND_LINE:
            picks.append(int(rng.choice(others)))
        u = rng.random()
        for line, i in enumerate(picks):
            packs = int(rng.choice([1, 1, 1, 2, 3]))
            price = _pack_fen(LISTINGS[i])
            coupon = int(rng.choice([0, 0, 0, 300, 500])) if price * packs > 3000 else 0
            rows.append({"platform": platform, "seq": orders, "line": line, "listing": i, "qty": packs,
                         "price": price, "amount": price * packs - coupon, "ts": at, "u": u, "channel": channel,
                         "host_name": host, "host_id": DOUYIN_ACCOUNTS.get(host, SHOP_ACCOUNT) if host else None,
                         "session_id": session})

    for platform, day, keys, n in SHOP_IN_SESSIONS:
        show = next(s for s in SHOWS if s.platform == platform and s.start.date() == day)
        start = _local_ms(show.start)
        for at in np.sort(start + (rng.random(n) * show.minutes * 60).astype(np.int64) * 1000):
            order("doudian", int(at), int(rng.choice([i for k in keys for i in by_key[k]])), "直播",
                  show.host_name, show.sid)
    for day in SHOP_BROADCASTS:
        start = _local_ms(datetime(day.year, day.month, day.day, 20, 0))
        for at in np.sort(start + (rng.random(12) * 7_200).astype(np.int64) * 1000):
            order("doudian", int(at), int(rng.choice(sellable(int(at)))), "直播", SHOP_NAME)
    hosts = sorted(DOUYIN_ACCOUNTS)
    for _ in range(SHOP_OFF_AIR_LINES):
        listing = int(rng.integers(len(LISTINGS)))
        lo, hi = windows[listing]
        at = lo + int(rng.random() * (hi - lo)) // 1000 * 1000
        video = rng.random() < 0.4
        order("doudian", at, listing, "短视频" if video else "商品卡", str(rng.choice(hosts)) if video else None)
    for platform, n in (("pdd", SHOP_PDD_ORDERS), ("taobao", SHOP_TAOBAO_ORDERS)):
        for _ in range(n):
            listing = int(rng.choice([i for i, li in enumerate(LISTINGS) if li.catalogued or platform == "pdd"]))
            lo, hi = windows[listing]
            order(platform, lo + int(rng.random() * (hi - lo)) // 1000 * 1000, listing)
    # Orders numbered in time order on each platform; the lines of an order share its number, time and status.
    frame = pl.DataFrame(rows, infer_schema_length=None).sort("platform", "ts", "seq", "line").with_columns(
        order_no=(pl.col("seq") != pl.col("seq").shift()).fill_null(True).cum_sum().over("platform").cast(pl.Int64))
    late = pl.col("ts") >= _local_ms(_d(12, 24))
    u = pl.col("u")
    status = (pl.when(u < 0.03).then(pl.lit("refunded")).when(u < 0.05).then(pl.lit("cancelled"))
              .when(u < 0.06).then(pl.lit("returned")).when(u < 0.08).then(pl.lit("partial"))
              .when(late & (u < 0.5)).then(pl.lit("waiting")).when(late).then(pl.lit("shipped"))
              .otherwise(pl.lit("done")))
    return frame.with_columns(outcome=status, ts=pl.col("ts").cast(pl.Datetime("ms"))).drop("seq", "u")


SALE_OUTCOMES: Final = ("done", "partial", "waiting", "shipped")  # of _shop's outcomes, those that stay sales


def _with_shop_sales(sessions: pl.DataFrame, shop: pl.DataFrame) -> pl.DataFrame:
    """Sessions with their 抖音 hosts' accounts (达人ID), and with the shop's lines sold in their live room in
    their summary: a platform's session figures count every order of the room, whichever shop it went to."""
    sold = (shop.filter(pl.col("session_id").is_not_null() & pl.col("outcome").is_in(SALE_OUTCOMES))
            .group_by("session_id").agg(shop_orders=pl.col("order_no").n_unique().cast(pl.Int64),
                                        shop_gmv=pl.col("amount").sum()))
    return sessions.join(sold, on="session_id", how="left", maintain_order="left").with_columns(
        pl.col("orders") + pl.col("shop_orders").fill_null(0),
        pl.col("buyers") + pl.col("shop_orders").fill_null(0),
        pl.col("gmv") + pl.col("shop_gmv").fill_null(0),
        host_id=pl.when(pl.col("platform") == "douyin").then(
            pl.col("host_name").replace_strict(DOUYIN_ACCOUNTS, default=None)),
    ).drop("shop_orders", "shop_gmv")


# ---------------------------------------------------------------------------------------------
# Values as the exports write them


def _money(fen: int, style: str = "plain") -> str:
    yuan, cents = divmod(int(fen), 100)
    if style == "yen":
        return f"¥{yuan:,}.{cents:02d}"
    if style == "fullwidth":
        return f"￥{yuan:,}.{cents:02d}"
    if style == "wan" and fen % 1_000_000 == 0:
        return f"{fen // 1_000_000}万"
    if style == "wan":
        return f"￥{yuan:,}.{cents:02d}"
    return f"{yuan}.{cents:02d}"


def _count(n: int | None, style: str = "plain") -> str | None:
    if n is None:
        return None
    if style == "wan" and n >= 10_000:
        return f"{n / 10_000:.1f}万"
    if style in ("comma", "wan"):
        return f"{n:,}"
    return str(n)


def _qty(q: float) -> str:
    return str(int(q)) if float(q).is_integer() else f"{q:.2f}".rstrip("0").rstrip(".")


def _ledger_qty(q: float) -> str:
    """A ledger quantity: round ten-thousands as 万 (`6万`, `4.5万`), else with a thousands separator."""
    if q >= 40_000 and q % 5_000 == 0:
        return f"{_qty(q / 10_000)}万"
    return f"{int(q):,}" if float(q).is_integer() else _qty(q)


def _duration(minutes: int, i: int) -> str:
    hours, rest = divmod(minutes, 60)
    if i % 3 == 2:
        return f"{minutes}分钟"
    if rest == 0:
        return f"{hours}小时"
    return f"{hours}小时{rest}分" if hours else f"{rest}分"


def _date_text(day: date, i: int) -> str:
    return (f"{day:%Y-%m-%d}", f"{day.year}/{day.month}/{day.day}", f"{day:%Y%m%d}")[i % 3]


def _cn_time(when: datetime, seconds: bool = False) -> str:
    text = f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"
    return text + f":{when:%S}" if seconds else text


def _slash_time(when: datetime, seconds: bool = False) -> str:
    return f"{when.year}/{when.month}/{when.day} {when:%H:%M}" + (f":{when:%S}" if seconds else "")


# ---------------------------------------------------------------------------------------------
# Files


def _csv(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, encoding: str = "utf-8", bom: bool = False,
         crlf: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return _encode(buffer.getvalue(), encoding, bom)


def _encode(text: str, encoding: str, bom: bool = False) -> bytes:
    if encoding == "gbk":
        data = text.encode("gbk")  # strict: a character outside GBK is a bug in the generator
        assert data.decode("gb18030") == text
        return data
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def _xlsx(path: Path, sheet: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A workbook of one sheet: datetimes as Excel date cells, numbers as numbers, ids as text."""
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": XLSX_CREATED, "author": "relief-live demo"})
    sheet_ = book.add_worksheet(sheet)
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet_.write_row(0, 0, headers)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime):
                sheet_.write_datetime(r, c, value, when)
            elif isinstance(value, date):
                sheet_.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif isinstance(value, str):
                sheet_.write_string(r, c, value)
            else:
                sheet_.write_number(r, c, value)
    sheet_.set_column(0, len(headers) - 1, 16)
    book.close()


def _baselines(*keys_at: tuple[str, int]) -> list[tuple[Produce, date, float]]:
    return [(PRODUCE[_P[k]], PRODUCE[_P[k]].baselines[at][0], PRODUCE[_P[k]].baselines[at][1]) for k, at in keys_at]


def _write_stock(out: Path) -> list[DemoFile]:
    files = []
    guangxi = _baselines(("nm_mango", 0), ("sn_mango", 0), ("bn_tomato", 0), ("hm_kiwi", 0), ("nf_kiwibox", 0),
                         ("nt_chicken", 0), ("gl_beef", 0))
    notes = {"bn_tomato": "疫情期间滞销", "hm_kiwi": "去年库存", "nf_kiwibox": "每箱10斤"}
    rows = [[p.county, p.village, p.product, _ledger_qty(q), p.unit, p.weight,
             f"￥{p.price:,.0f}" if p.price >= 1000 else _qty(p.price), p.households, _date_text(as_of, i),
             notes.get(p.key)] for i, (p, as_of, q) in enumerate(guangxi)]
    path = out / "stock_guangxi_gbk.csv"
    path.write_bytes(_csv(["县区", "行政村", "产品", "滞销量", "单位", "规格", "单价(元)", "带动贫困户数", "截至日期", "备注"],
                          rows, encoding="gbk", crlf=True))
    files.append(DemoFile(path, "stock"))

    shanwei = _baselines(*((p.key, 0) for p in PRODUCE if p.county in SHANWEI))
    path = out / "stock_shanwei_2020.xlsx"
    _xlsx(path, "滞销台账", ["县区", "村名", "品名", "滞销数量", "计量单位", "滞销金额(万元)", "带贫户数", "统计日期"],
          [[p.county, p.village, p.product, q, p.unit, round(q * p.price / 10_000, 4), p.households, as_of]
           for p, as_of, q in shanwei])
    files.append(DemoFile(path, "stock"))

    partners = _baselines(("lw_tea", 0), ("dp_pork", 0))
    path = out / "stock_partners_en.csv"
    path.write_bytes(_csv(
        ["county", "village", "product", "unsold", "unit", "price", "households", "date"],
        [[p.county, p.village, p.product, _qty(q), f"{p.unit}({p.weight})" if p.weight else p.unit, _qty(p.price),
          p.households, f"{as_of:%Y-%m-%d}"] for p, as_of, q in partners]))
    files.append(DemoFile(path, "stock"))

    later = _baselines(("lh_squash", 1), ("hm_kiwi", 1), ("lw_tea", 1))
    path = out / "stock_update_bom.csv"
    path.write_bytes(_csv(
        ["县区", "村", "品名", "库存数量", "计量单位", "单件重量", "单价", "帮扶户数", "登记日期"],
        [[p.county, p.village, p.product, _ledger_qty(q), p.unit, p.weight, _qty(p.price), p.households,
          f"{as_of.year}年{as_of.month}月{as_of.day}日"] for p, as_of, q in later], bom=True))
    files.append(DemoFile(path, "stock"))
    return files


def _write_sessions(out: Path, sessions: pl.DataFrame, extra: pl.DataFrame | None) -> list[DemoFile]:
    files = []
    rows = list(sessions.iter_rows(named=True))
    tv = [r for r in rows if r["platform"] == "tv"]
    path = out / "sessions_tv_2020.xlsx"
    _xlsx(path, "直播场次", ["场次编号", "场次名称", "类型", "主播", "职务", "平台", "县区", "开播时间", "下播时间", "观看人次",
                         "成交订单数", "成交人数", "成交金额(万元)"],
          [[r["session_id"], r["title"], r["label"], r["host_name"], r["host_role"], "电视", r["county"],
            r["started_at"], r["ended_at"], r["views"], r["orders"], r["buyers"], round(r["gmv"] / 1_000_000, 6)]
           for r in tv])
    files.append(DemoFile(path, "sessions"))

    douyin = [r for r in rows if r["platform"] == "douyin"]
    path = out / "sessions_douyin_bom.csv"
    path.write_bytes(_csv(
        ["直播ID", "直播标题", "直播类型", "主播", "达人ID", "职务", "平台", "开播时间", "直播时长", "最高在线人数",
         "平均在线人数", "观看人次", "直播间观看人数", "成交订单数", "成交人数", "直播间成交金额"],
        [[r["session_id"], r["title"], r["label"], r["host_name"], r["host_id"], r["host_role"], "抖音",
          f"{r['started_at']:%Y-%m-%d %H:%M:%S}", _duration(r["minutes"], i % 2), _count(r["peak_viewers"], "comma"),
          _count(r["avg_viewers"], "comma"), _count(r["views"], "wan"), _count(r["viewers"], "wan"),
          _count(r["orders"], "comma"), _count(r["buyers"], "comma"), _money(r["gmv"], "yen")]
         for i, r in enumerate(douyin)], bom=True, crlf=True))
    files.append(DemoFile(path, "sessions"))

    kuaishou = [r for r in rows if r["platform"] == "kuaishou"]
    path = out / "sessions_kuaishou_en.csv"
    path.write_bytes(_csv(
        ["live_id", "title", "host_type", "host", "role", "platform", "county", "start_time", "end_time", "pcu", "acu",
         "uv", "pv", "orders", "buyers", "gmv"],
        [[r["session_id"], r["title"], r["label"], r["host_name"], r["host_role"], "快手", r["county"],
          f"{r['started_at']:%Y-%m-%dT%H:%M:%S}+08:00", f"{r['ended_at']:%Y-%m-%dT%H:%M:%S}+08:00",
          r["peak_viewers"], r["avg_viewers"], r["viewers"], r["views"], r["orders"], r["buyers"],
          _money(r["gmv"])] for r in kuaishou]))
    files.append(DemoFile(path, "sessions"))

    cadre = [r for r in rows if r["platform"] in ("pinduoduo", "wechat_channels")]
    path = out / "sessions_cadre_gbk.csv"
    path.write_bytes(_csv(
        ["场次ID", "标题", "主播类型", "带货人", "职务", "直播平台", "帮扶县", "开始时间", "直播时长", "平均在线人数",
         "累计观看人数", "累计观看人次", "成交单数", "下单人数", "销售额"],
        [[r["session_id"], r["title"], r["label"], r["host_name"], r["host_role"],
          "拼多多" if r["platform"] == "pinduoduo" else "视频号", r["county"], _cn_time(r["started_at"]),
          _duration(r["minutes"], i + 1), _count(r["avg_viewers"], "comma"), _count(r["viewers"], "comma"),
          _count(r["views"], "comma"), r["orders"], r["buyers"], _money(r["gmv"], "wan")]
         for i, r in enumerate(cadre)], encoding="gbk"))
    files.append(DemoFile(path, "sessions"))

    if extra is not None:
        path = out / "sessions_scale_extra.csv"
        extra.select(
            "session_id", "title", "host_kind", "host_name", "host_role", "platform", "county",
            pl.col("started_at").dt.strftime("%Y-%m-%d %H:%M:%S"), pl.col("ended_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
            "peak_viewers", "avg_viewers", "viewers", "views", "orders", "buyers", _money_expr("gmv"),
        ).write_csv(path)
        files.append(DemoFile(path, "sessions"))
    return files


LUOPAN_FILE: Final = "session_luopan_review.xlsx"


def _write_luopan(out: Path, prog: Programme) -> list[DemoFile]:
    """抖店/罗盘's 直播复盘 workbook of the first 抖音 session, after the live list: its summary as 罗盘 lays it out
    (key/value rows under 【…】 sections, a metrics sheet, a title line above each table) with the same figures
    as the live list, and its 货品明细 from the session's order lines (件 = lines). Those lines are in the store
    too, so the totals are covered by them and count nowhere: the workbook changes no figure."""
    r = next(r for r in prog.sessions.iter_rows(named=True) if r["platform"] == "douyin")
    sid = r["session_id"]
    products = (prog.lines.filter(pl.col("session_id") == sid)
                .group_by("product", maintain_order=True).agg(lines=pl.len(), amount=pl.col("amount").sum()))
    path = out / LUOPAN_FILE
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": XLSX_CREATED, "author": "relief-live demo"})
    sheets = {
        "场次概览": [[f"{r['title']} 直播复盘"], ["【基础信息】"], ["直播标题", r["title"]], ["主播昵称", r["host_name"]],
                     ["房间号", sid], ["开播时间", f"{r['started_at']:%Y-%m-%d %H:%M:%S}"],
                     ["直播时长", _duration(r["minutes"], 0)]],
        "核心指标": [["核心指标"],
                     ["直播间成交金额", "成交订单数", "成交人数", "观看人数", "观看人次", "最高在线人数", "平均在线人数"],
                     [_money(r["gmv"], "yen"), _count(r["orders"], "comma"), _count(r["buyers"], "comma"),
                      _count(r["viewers"], "wan"), _count(r["views"], "wan"), _count(r["peak_viewers"], "comma"),
                      _count(r["avg_viewers"], "comma")]],
        "货品明细": [[f"{r['title']} 货品明细"], ["商品名称", "成交件数", "用户支付金额"],
                     *[[p["product"], str(p["lines"]), _money(p["amount"], "yen")]
                       for p in products.iter_rows(named=True)]],
    }
    for title, rows in sheets.items():
        sheet = book.add_worksheet(title)
        for i, row in enumerate(rows):
            sheet.write_row(i, 0, row)
        sheet.set_column(0, 7, 16)
    book.close()
    return [DemoFile(path, "sessions")]


def _write_ticks(out: Path, ticks: dict[str, pl.DataFrame]) -> list[DemoFile]:
    files = []
    clock = ticks[CLOCK_TICKS]
    path = out / f"ticks_{CLOCK_TICKS}_clock_times.csv"
    path.write_bytes(_csv(
        ["时间", "实时在线人数", "累计观看人数", "成交订单数", "成交金额(元)"],
        [[f"{r['ts']:%H:%M}", _count(r["viewers_online"], "comma"), _count(r["viewers_cum"], "comma"), r["orders"],
          _money(r["gmv"])] for r in clock.iter_rows(named=True)]))
    files.append(DemoFile(path, "ticks", session_id=CLOCK_TICKS))

    path = out / "ticks_trend_gbk.csv"
    path.write_bytes(_csv(
        ["直播ID", "时间", "在线人数", "累计观看人数", "累计观看人次", "进入直播间人数", "成交订单数", "累计成交订单数",
         "成交金额", "累计成交金额", "点赞数", "评论数", "新增粉丝数"],
        [[sid, _slash_time(r["ts"]), r["viewers_online"], r["viewers_cum"], r["views_cum"], r["entries"], r["orders"],
          r["orders_cum"], _money(r["gmv"]), _money(r["gmv_cum"]), r["likes"], r["comments"], r["new_followers"]]
         for sid in TREND_TICKS for r in ticks[sid].iter_rows(named=True)], encoding="gbk"))
    files.append(DemoFile(path, "ticks"))

    path = out / "ticks_zhaotong_pdd.xlsx"
    _xlsx(path, "trend", ["session", "minute", "online", "viewers_cum", "views_cum", "orders_cum", "gmv_cum", "likes",
                          "comments", "new_followers"],
          [[ZHAOTONG, r["ts"], r["viewers_online"], r["viewers_cum"], r["views_cum"], r["orders_cum"],
            r["gmv_cum"] / 100, r["likes"], r["comments"], r["new_followers"]]
           for r in ticks[ZHAOTONG].iter_rows(named=True)])
    files.append(DemoFile(path, "ticks"))
    return files


def _money_expr(name: str) -> pl.Expr:
    fen = pl.col(name)
    return ((fen // 100).cast(pl.String) + "." + (fen % 100).cast(pl.String).str.zfill(2)).alias(name)


def _qty_expr(name: str) -> pl.Expr:
    q = pl.col(name)
    return pl.when(q == q.round()).then(q.cast(pl.Int64).cast(pl.String)).otherwise(q.round(2).cast(pl.String)).alias(name)


def _write_sales(out: Path, prog: Programme, seed: int) -> list[DemoFile]:
    files = []
    lines = prog.lines
    rows = list(lines.iter_rows(named=True))

    douyin = [r for r in rows if r["platform"] == "douyin"]
    path = out / "sales_douyin_orders_bom.csv"
    path.write_bytes(_csv(
        ["直播ID", "订单编号", "下单时间", "商品名称", "商品ID", "村", "商品数量", "单位", "实付金额"],
        [[r["session_id"], r["order_id"], f"{r['ts']:%Y-%m-%d %H:%M:%S}", r["product"],
          f"3{_P_ID[r['product']]:05d}{r['session']:03d}", r["village"], _qty(r["qty"]), r["unit"],
          _money(r["amount"])] for r in douyin], bom=True, crlf=True))
    files.append(DemoFile(path, "sales"))

    kuaishou = [r for r in rows if r["platform"] == "kuaishou"]
    path = out / "sales_kuaishou_orders.xlsx"
    _xlsx(path, "orders", ["session", "order", "order_time", "product", "village", "county", "qty", "unit", "amount"],
          [[r["session_id"], r["order_id"], r["ts"], r["product"], r["village"], r["county"], r["qty"], r["unit"],
            r["amount"] / 100] for r in kuaishou])
    files.append(DemoFile(path, "sales"))

    pdd = [r for r in rows if r["platform"] == "pinduoduo"]
    path = out / f"sales_pdd_{ZHAOTONG}.csv"
    path.write_bytes(_csv(
        ["订单号", "支付时间", "商品", "数量", "单位", "订单金额(元)"],
        [[r["order_id"], _slash_time(r["ts"], seconds=True), r["product"], _qty(r["qty"]), r["unit"],
          _money(r["amount"])] for r in pdd]))
    files.append(DemoFile(path, "sales", session_id=ZHAOTONG))

    wechat = [r for r in rows if r["platform"] == "wechat_channels"]
    refund = np.random.default_rng([seed, 0]).random(len(wechat)) < REFUND_SHARE
    path = out / "sales_cadre_wechat_gbk.csv"
    path.write_bytes(_csv(
        ["场次编号", "订单号", "支付时间", "商品标题", "帮扶村", "县区", "销量", "计量单位", "支付金额", "退款金额"],
        [[r["session_id"], r["order_id"], _cn_time(r["ts"], seconds=True), r["product"], r["village"], r["county"],
          _qty(r["qty"]), r["unit"], _money(r["amount"], "fullwidth"), _money(r["amount"] if back else 0, "fullwidth")]
         for r, back in zip(wechat, refund, strict=True)], encoding="gbk"))
    files.append(DemoFile(path, "sales"))

    tv = [r for r in rows if r["platform"] == "tv"]
    path = out / "sales_tv_app.csv"
    path.write_bytes(_csv(
        ["直播ID", "订单编号", "下单时间", "产品", "村名", "数量", "单位", "金额(元)"],
        [[r["session_id"], r["order_id"], (_local_ms(r["ts"]) - UTC_OFFSET_MS) // 1000, r["product"], r["village"],
          _qty(r["qty"]), r["unit"], _money(r["amount"])] for r in tv]))
    files.append(DemoFile(path, "sales"))

    path = out / "sales_product_totals.xlsx"
    _xlsx(path, "商品汇总", ["场次ID", "商品名称", "行政村", "县区", "成交件数", "单位", "成交金额(元)"],
          [[r["session_id"], r["product"], r["village"], r["county"], r["qty"], r["unit"], r["amount"] / 100]
           for r in prog.totals.iter_rows(named=True)])
    files.append(DemoFile(path, "sales"))

    if prog.extra_lines is not None:
        text = prog.extra_lines.select(
            "session_id", "order_id", pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S"), "product", "village", "county",
            _qty_expr("qty").alias("quantity"), "unit", _money_expr("amount"))
        for part, start in enumerate(range(0, text.height, EXTRA_FILE_LINES), start=1):
            path = out / f"sales_scale_extra_{part:03d}.csv"
            text.slice(start, EXTRA_FILE_LINES).write_csv(path)
            files.append(DemoFile(path, "sales"))
    return files


def _doudian_id(order_no: int, line: int | None = None) -> str:
    main = 6_917_926_768_800_000_000 + order_no * 10
    return str(main if line is None else main + line + 1)


def _product_ids(i: int) -> tuple[str, str, str]:
    """A listing's product id on 抖店, 拼多多 and 淘宝."""
    return f"35884917{72611 + 17 * i}", f"{431234567 + 1_009 * i}", f"{623456789012 + 7_177 * i}"


def _write_catalogue(out: Path) -> list[DemoFile]:
    """The programme's product catalogue (产品名录): a row per shop listing on each platform, tied to its village,
    and a row per product title of the live rooms."""
    rows = []
    for i, li in enumerate(LISTINGS):
        if not li.catalogued:
            continue
        p = PRODUCE[_P[li.key]]
        douyin, pdd, taobao = _product_ids(i)
        tail = [p.county, p.village, p.product, _pack_text(li.pack), p.households]
        rows += [["抖店", douyin, li.sku or "-", li.title, *tail],
                 ["拼多多", pdd, "-" if li.sku is None or li.sku in PDD_UNCODED else li.sku, li.title, *tail],
                 ["淘宝", taobao, li.sku or "-", li.taobao, *tail]]
    # The sessions' own order lists title a product by its ledger name: the catalogue ties each name that one
    # village alone registered (田阳芒果, of two villages, it cannot).
    names = [p.product for p in PRODUCE]
    rows += [["直播间", "-", "-", p.product, p.county, p.village, p.product, "-", p.households]
             for p in PRODUCE if names.count(p.product) == 1]
    path = out / "catalogue_shop_listings.csv"
    path.write_bytes(_csv(["店铺", "商品ID", "商家编码", "商品名称", "县区", "村名", "品名", "规格", "带贫户数"], rows))
    return [DemoFile(path, "catalogue")]


def _time(when: datetime | None) -> str:
    return "-" if when is None else f"{when:%Y-%m-%d %H:%M:%S}"


def _write_shop(out: Path, shop: pl.DataFrame) -> list[DemoFile]:
    """The shop's order exports as its back offices write them: 抖店 (商品维度: a row per line, UTF-8 with a BOM,
    ids tab-wrapped, `-` for empty, 商品金额 a unit price), 拼多多 (a row per order, GBK) and 淘宝/千牛's
    订单报表 (a row per order, 69 columns, ids and titles as ="…")."""
    files = []
    rows = list(shop.filter(pl.col("platform") == "doudian").iter_rows(named=True))
    doudian = {  # outcome -> 订单状态, 售后状态, paid, 取消原因
        "done": ("已完成", "-", True, ""), "partial": ("已完成", "售后关闭", True, ""),
        "refunded": ("已关闭", "退款成功", True, ""), "returned": ("已完成", "售后完成", True, ""),
        "cancelled": ("已关闭", "-", False, "超时未支付"), "waiting": ("待发货", "-", True, ""),
        "shipped": ("已发货", "退款中", True, ""),
    }
    lines = []
    for r in rows:
        li = LISTINGS[r["listing"]]
        status, after, paid, reason = doudian[r["outcome"]]
        done = r["ts"] + timedelta(days=5) if status == "已完成" else None
        lines.append([f"\t{_doudian_id(r['order_no'])}", f"\t{_doudian_id(r['order_no'], r['line'])}", f"\t{li.title}",
                      f"\t{_pack_text(li.pack)}装", r["qty"], f"\t{_product_ids(r['listing'])[0]}",
                      f"\t{li.sku}" if li.sku else "-", _money(r["price"]), _money(r["amount"]), "0.00",
                      _time(r["ts"]), _time(r["ts"] + timedelta(seconds=11 + r["qty"])) if paid else "-", _time(done),
                      status, after, reason or "-", f"\t{r['host_id']}" if r["host_id"] else "-", r["host_name"] or "-",
                      r["channel"]])
    path = out / "sales_doudian_shop_bom.csv"
    path.write_bytes(_csv(
        ["主订单编号", "子订单编号", "选购商品", "商品规格", "商品数量", "商品ID", "商家编码", "商品金额", "订单应付金额", "运费",
         "订单提交时间", "支付完成时间", "订单完成时间", "订单状态", "售后状态", "取消原因", "达人ID", "达人昵称", "流量来源"],
        lines, bom=True, crlf=True))
    files.append(DemoFile(path, "sales"))

    pdd = {  # outcome -> 订单状态, 售后状态
        "done": ("已签收", "无售后"), "partial": ("已签收", "退款关闭"), "refunded": ("已签收，退款成功", "退款成功"),
        "returned": ("已签收，退款成功", "退款成功"), "cancelled": ("未发货，退款成功", "退款成功"),
        "waiting": ("待发货", "无售后"), "shipped": ("已发货，待签收", "退款中"),
    }
    lines = []
    for r in shop.filter(pl.col("platform") == "pdd").iter_rows(named=True):
        li = LISTINGS[r["listing"]]
        status, after = pdd[r["outcome"]]
        total = r["price"] * r["qty"]
        shop_off, platform_off = total - r["amount"], (200 if r["order_no"] % 4 == 0 else 0)
        shipped = status.startswith(("已签收", "已发货"))
        lines.append([li.title, f"{r['ts']:%y%m%d}-6{r['order_no']:014d}", status, _money(total), _money(shop_off),
                      _money(platform_off), _money(r["amount"] - platform_off), _money(r["amount"]), r["qty"],
                      _time(r["ts"] + timedelta(hours=20)) if shipped else "",
                      _time(r["ts"] + timedelta(days=3)) if status.startswith("已签收") else "",
                      _product_ids(r["listing"])[1], f"{_pack_text(li.pack)}装", after,
                      f"YT{4_300_000_000 + r['order_no']}" if shipped else "", "圆通快递" if shipped else "",
                      _time(r["ts"]), "" if li.sku is None or li.sku in PDD_UNCODED else li.sku])
    path = out / "sales_pdd_shop_gbk.csv"
    path.write_bytes(_csv(
        ["商品", "订单号", "订单状态", "商品总价(元)", "店铺优惠折扣(元)", "平台优惠折扣(元)", "用户实付金额(元)", "商家实收金额(元)",
         "商品数量(件)", "发货时间", "确认收货时间", "商品id", "商品规格", "售后状态", "快递单号", "快递公司", "订单成交时间",
         "商家编码-规格维度"], lines, encoding="gbk"))
    files.append(DemoFile(path, "sales"))

    taobao = {  # outcome -> 订单状态, paid, refund (None: none; True: all it paid; False: one pack)
        "done": ("交易成功", True, None), "partial": ("交易成功", True, False), "refunded": ("交易关闭", True, True),
        "returned": ("交易关闭", True, True), "cancelled": ("交易关闭", False, None),
        "waiting": ("买家已付款，等待卖家发货", True, None), "shipped": ("卖家已发货，等待买家确认", True, None),
    }
    lines = []
    for r in shop.filter(pl.col("platform") == "taobao").iter_rows(named=True):
        li = LISTINGS[r["listing"]]
        status, paid, refund = taobao[r["outcome"]]
        key, since, prefix = RETITLED
        title = prefix + li.taobao if li.key == key and r["ts"].date() >= since else li.taobao
        back = 0 if refund is None else r["amount"] if refund else min(r["price"], r["amount"] // 2)
        order = f"{1_289_000_000_000_000_000 + r['order_no'] * 7}"
        cells = dict.fromkeys(TAOBAO_HEADERS, "")
        cells.update({
            "订单编号": f'="{order}"', "买家会员名": f"tb{38_100_000 + r['order_no'] * 13}",
            "买家应付货款": _money(r["price"] * r["qty"]), "买家应付邮费": "0.00", "总金额": _money(r["amount"]),
            "买家实际支付金额": _money(r["amount"]), "订单状态": status, "订单创建时间": _time(r["ts"]),
            "订单付款时间": _time(r["ts"] + timedelta(seconds=30)) if paid else "", "宝贝标题 ": f'="{title}"',
            "宝贝种类 ": "1", "宝贝总数量": str(r["qty"]), "店铺名称": SHOP_NAME,
            "订单关闭原因": "买家申请退款" if refund else ("超时未付款" if not paid else ""),
            "是否手机订单": "手机订单", "退款金额": _money(back),
            "确认收货时间": _time(r["ts"] + timedelta(days=4)) if status == "交易成功" else "",
            "主订单编号": f'="{order}"',
        })
        lines.append(list(cells.values()))
    # Written as 千牛 writes it: ="…" bare, never quoted (no cell holds a comma or a quote of its own).
    assert not any("," in c or '"' in c.strip('="') for row in lines for c in row)
    path = out / "sales_taobao_shop_orders.csv"
    path.write_bytes(_encode("".join(",".join(row) + "\n" for row in [list(TAOBAO_HEADERS), *lines]), "utf-8"))
    files.append(DemoFile(path, "sales"))
    return files


def write_demo(out_dir: Path, *, scale: int = 1, seed: int = SEED) -> list[DemoFile]:
    """Write the demo programme's export files into out_dir, in ingest order (stock, catalogue, sessions, ticks,
    sales: the shop's exports after the sessions, so that ingest says how many of their lines found one).

    The same arguments give the same bytes. Scale N adds N - 1 copies of every session with fresh orders
    (about N times the order lines), written as large UTF-8 CSVs.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    prog = programme(seed, scale)
    return [
        *_write_stock(out_dir),
        *_write_catalogue(out_dir),
        *_write_sessions(out_dir, prog.sessions, prog.extra_sessions),
        *_write_luopan(out_dir, prog),
        *_write_ticks(out_dir, prog.ticks),
        *_write_shop(out_dir, prog.shop),
        *_write_sales(out_dir, prog, seed),
    ]


Progress = Callable[[str, float], None]  # (what is happening, fraction done)


def load_demo(store: Store, *, scale: int = 1, seed: int = SEED, progress: Progress | None = None,
              ) -> list[FileResult]:
    """Write the demo files to a temporary directory and ingest each through the real ingest path."""
    from relief_live.ingest import ingest_bytes

    results = []
    with tempfile.TemporaryDirectory(prefix="relief-live-demo-") as tmp:
        files = write_demo(Path(tmp), scale=scale, seed=seed)
        for i, f in enumerate(files):
            step = None
            if progress is not None:
                def step(stage: str, fraction: float, i: int = i, name: str = f.path.name) -> None:
                    progress(f"{name}: {stage}", (i + fraction) / len(files))
            # recorded as demo/NAME: the temporary folder means nothing in the ingest history
            results.append(ingest_bytes(store, f"demo/{f.path.name}", f.path.read_bytes(), kind=f.kind,
                                        session_id=f.session_id, by=BY, progress=step))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """python -m relief_live.demo [DIR] [--scale N] [--seed S]: write the demo files (default data/demo/)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m relief_live.demo", description=main.__doc__)
    parser.add_argument("out", nargs="?", default=str(DEMO_DIR), type=Path)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    for f in write_demo(args.out, scale=args.scale, seed=args.seed):
        extra = f" (session {f.session_id})" if f.session_id else ""
        print(f"{f.kind:<8} {f.path}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
