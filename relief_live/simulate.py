"""Play a demo session into CSV files in real time, as a platform's minute-trend export grows."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import polars as pl

from relief_live import demo
from relief_live.read import DEFAULT_TZ

TICK_HEADER: Final = "直播ID,时间,实时在线人数,累计观看人数,累计观看人次,成交订单数,成交金额(元),点赞数,评论数\n"
SESSION_HEADER: Final = "直播ID,直播标题,直播类型,主播,平台,开播时间\n"
COLLAPSE: Final = 4  # a collapse leaves a quarter of the viewers online
_KINDS: Final = {"broadcast": "达人直播", "cadre": "干部直播"}
_PLATFORMS: Final = {"douyin": "抖音", "kuaishou": "快手", "pinduoduo": "拼多多", "wechat_channels": "视频号", "tv": "电视"}


def sessions_with_ticks() -> list[str]:
    """Ids of the demo sessions that have minute ticks to play."""
    return list(demo.programme().ticks)


def simulate(out_dir: Path, *, session: str = demo.ZHAOTONG, speed: float = 60.0, minutes: int | None = None,
             start: datetime | None = None, log: Callable[[str], None] = print,
             sleep: Callable[[float], None] = time.sleep, collapse_at: int | None = None) -> tuple[Path, Path]:
    """Write a sessions file, then the session's ticks one minute at a time (`speed` minutes per minute).
    With `collapse_at`, viewers online fall to a quarter from that minute on (a stream cut off, a platform's
    limit): what the alerts are for, to rehearse them.

    The session is played as starting at `start` (default now), under a new id, so it is live on the
    dashboard while it plays. Each tick line is written in two parts, as an export being appended to.
    Returns (sessions file, ticks file).
    """
    story = demo.programme()
    if session not in story.ticks:
        raise KeyError(f"demo session {session} has no ticks; choose one of {', '.join(story.ticks)}")
    ticks = story.ticks[session]
    if minutes is not None:
        ticks = ticks.head(minutes)
    if collapse_at is not None:
        ticks = ticks.with_columns(viewers_online=pl.when(pl.int_range(pl.len()) >= collapse_at)
                                   .then(pl.col("viewers_online") // COLLAPSE).otherwise(pl.col("viewers_online")))
    info = story.sessions.filter(story.sessions["session_id"] == session).row(0, named=True)
    tz = ZoneInfo(DEFAULT_TZ)
    start = (start or datetime.now(tz)).astimezone(tz).replace(second=0, microsecond=0)
    sid = f"SIM-{start:%Y%m%d%H%M}"
    out_dir.mkdir(parents=True, exist_ok=True)

    sessions_path = out_dir / f"sessions_{sid}.csv"
    sessions_path.write_text(SESSION_HEADER + ",".join([
        sid, f"{info['title']}（重播演示）", _KINDS[info["host_kind"]], info["host_name"],
        _PLATFORMS.get(info["platform"], info["platform"]), f"{start:%Y-%m-%d %H:%M}",
    ]) + "\n", encoding="utf-8")
    log(f"session {sid}: {info['title']} — {ticks.height} minutes at {speed:g}× into {out_dir}")

    ticks_path = out_dir / f"ticks_{sid}.csv"
    first = ticks["ts"][0]
    with ticks_path.open("w", encoding="utf-8") as f:
        f.write(TICK_HEADER)
        f.flush()
        for i, row in enumerate(ticks.iter_rows(named=True)):
            if i:
                sleep(60.0 / speed)
            at = start + (row["ts"] - first if isinstance(row["ts"], datetime) else timedelta(minutes=i))
            line = (f"{sid},{at:%Y-%m-%d %H:%M:%S},{row['viewers_online']},{row['viewers_cum']},{row['views_cum']},"
                    f"{row['orders']},{row['gmv'] / 100:.2f},{row['likes']},{row['comments']}\n")
            half = len(line) // 2
            f.write(line[:half])
            f.flush()
            f.write(line[half:])
            f.flush()
            log(f"{at:%H:%M} online {row['viewers_online']:,}  orders +{row['orders']}  GMV +¥{row['gmv'] / 100:,.2f}")
    return sessions_path, ticks_path
