"""Canonical columns, header aliases, value vocabularies and units of the four data kinds, as data."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Final

import polars as pl

# Value types of a column. Money is stored as integer fen (1 yuan = 100 fen), never as a float;
# times as integer epoch milliseconds (UTC); dates as ISO text "YYYY-MM-DD".
TEXT: Final = "text"
COUNT: Final = "count"  # whole number >= 0 (viewers, orders, households)
QTY: Final = "qty"  # number >= 0, may have decimals (2.5 公斤)
MONEY: Final = "money"  # yuan in the file, integer fen in the store
TIME: Final = "time"  # instant; naive times are in the configured zone (Asia/Shanghai)
DATE: Final = "date"  # calendar date
DURATION: Final = "duration"  # seconds
HOST_KIND: Final = "host_kind"  # broadcast | cadre
PLATFORM: Final = "platform"  # douyin | kuaishou | ...
UNIT: Final = "unit"  # a unit of quantity, normalised (公斤 -> kg)
ID: Final = "id"  # an identifier: text without the wrappers spreadsheets put round it (="…", a leading ', tabs)
STATUS: Final = "status"  # an order's or after-sale's status, from ORDER_STATUSES / AFTER_SALE_STATUSES


@dataclass(frozen=True)
class Field:
    """One canonical column of a kind: its name, value type, whether it is required, and its aliases."""

    name: str
    type: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    help: str = ""


def _f(name: str, type_: str, aliases: str = "", required: bool = False, help: str = "") -> Field:
    return Field(name, type_, required, tuple(a for a in aliases.split("|") if a), help)


SESSIONS: Final[tuple[Field, ...]] = (
    _f("session_id", ID, "直播ID|直播id|场次ID|场次编号|场次id|live_id|直播间ID|session", True),
    _f("title", TEXT, "直播标题|标题|场次名称|直播名称|name|直播间标题"),
    _f("host_kind", HOST_KIND, "直播类型|主播类型|类型|host_type|kind", True,
       "may be supplied at upload instead (--host-kind)"),
    _f("host_name", TEXT, "主播|主播昵称|带货人|主播名称|host"),
    _f("host_id", ID, "达人ID|达人id|主播ID|作者ID", help="the host's account: a shop's order lines find their session by it"),
    _f("room_id", ID, "房间号|房间ID"),
    _f("host_role", TEXT, "职务|身份|role"),
    _f("platform", PLATFORM, "平台|直播平台"),
    _f("county", TEXT, "县区|县|帮扶县|区县"),
    _f("started_at", TIME, "开播时间|开始时间|直播开始时间|start|start_time|started", True),
    _f("ended_at", TIME, "下播时间|结束时间|直播结束时间|end|end_time|ended|关播时间"),
    _f("duration", DURATION, "直播时长|时长|duration_s",
       help="used for ended_at when that is missing: started_at + duration"),
    _f("peak_viewers", COUNT, "最高在线人数|最高在线|峰值在线人数|peak_online|pcu|人气峰值"),
    _f("avg_viewers", COUNT, "平均在线人数|平均在线|avg_online|acu"),
    _f("viewers", COUNT, "直播间观看人数|观看人数|累计观看人数|uv"),
    _f("views", COUNT, "观看人次|累计观看人次|pv"),
    _f("orders", COUNT, "成交订单数|订单数|成交单数"),
    _f("buyers", COUNT, "成交人数|购买人数|下单人数|直播间成交人数"),
    _f("gmv", MONEY, "直播间成交金额|成交金额|销售额|成交额|gmv_yuan"),
    _f("new_followers", COUNT, "新增粉丝数|新增关注|新增粉丝|涨粉"),
)

TICKS: Final[tuple[Field, ...]] = (
    _f("session_id", ID, "直播ID|直播id|场次ID|场次编号|场次id|live_id|session", True,
       "may be supplied at upload instead (--session-id)"),
    _f("ts", TIME, "时间|时间点|分钟|time|timestamp|minute", True,
       "a time of day alone (19:01) lies on the session's start date, rolling over midnight"),
    _f("viewers_online", COUNT, "实时在线人数|在线人数|当前在线人数|online"),
    _f("viewers_cum", COUNT, "累计观看人数|观看人数累计"),
    _f("views_cum", COUNT, "累计观看人次"),
    _f("entries", COUNT, "进入直播间人数|进场人数"),
    _f("orders", COUNT, "成交订单数|订单数"),
    _f("orders_cum", COUNT, "累计成交订单数|累计订单数"),
    _f("gmv", MONEY, "成交金额|销售额"),
    _f("gmv_cum", MONEY, "累计成交金额|累计销售额"),
    _f("likes", COUNT, "点赞数|点赞|新增点赞数"),
    _f("comments", COUNT, "评论数|评论|新增评论数"),
    _f("new_followers", COUNT, "新增粉丝数|新增关注|新增粉丝|涨粉"),
)

SALES: Final[tuple[Field, ...]] = (
    _f("session_id", ID, "直播ID|直播id|场次ID|场次编号|场次id|live_id|session", False,
       "may be supplied at upload instead (--session-id); shop order exports carry none"),
    _f("order_id", ID, "订单编号|订单号|订单id|主订单编号|order",
       help="the order (main order id): orders are counted as distinct order ids, never as lines"),
    _f("line_id", ID, "子订单编号|子订单号", help="one line of an order (sub-order id)"),
    _f("ts", TIME, "下单时间|支付时间|成交时间|订单提交时间|订单创建时间|订单成交时间|time|order_time"),
    _f("paid_at", TIME, "支付完成时间|订单付款时间|付款时间",
       help="when the order was paid: a closed line that was paid counts as refunded, one never paid as cancelled"),
    _f("product", TEXT, "商品名称|商品|产品|商品标题|品名|选购商品|宝贝标题", True),
    _f("product_id", ID, "商品ID|商品id|宝贝ID"),
    _f("sku", ID, "商家编码|SKU编码|商品编码|商家编码-规格维度", help="the seller's own code of the product"),
    _f("spec", TEXT, "商品规格|商品属性|销售属性"),
    _f("village", TEXT, "村|村名|行政村|帮扶村"),
    _f("county", TEXT, "县区|县|帮扶县|区县"),
    _f("quantity", QTY, "商品数量|成交件数|数量|销量|qty|宝贝总数量|购买数量", True),
    _f("unit", UNIT, "单位|计量单位"),
    _f("unit_price", MONEY, "单价|商品单价|商品价格|直播间价格",
       help="a price per unit, never a line's amount: with no amount column, amount = unit_price × quantity"),
    _f("amount", MONEY, "订单金额|实付金额|成交金额|金额|支付金额|订单应付金额|用户实付金额|买家实际支付金额|买家实付金额|用户支付金额",
       True, "may come from unit_price × quantity instead"),
    _f("refund", MONEY, "退款金额|退款|买家退款金额"),
    _f("order_status", STATUS, "订单状态|交易状态",
       help="closed, cancelled and refunded lines are not sales (ORDER_STATUSES)"),
    _f("after_sale", STATUS, "售后状态|退款状态", help="a completed refund makes a line refunded (AFTER_SALE_STATUSES)"),
    _f("channel", TEXT, "流量来源|流量渠道|渠道|流量类型", help="the traffic source: 直播, 短视频, 商品卡 …"),
    _f("host_id", ID, "达人ID|达人id|作者ID|主播ID"),
    _f("host_name", TEXT, "达人昵称|作者昵称|主播昵称|主播"),
    _f("room_id", ID, "直播间ID|直播间id|房间号|房间ID"),
)

STOCK: Final[tuple[Field, ...]] = (
    _f("county", TEXT, "县区|县|帮扶县|区县"),
    _f("village", TEXT, "村|村名|行政村|帮扶村", True),
    _f("product", TEXT, "产品|品名|商品名称|商品|农产品", True),
    _f("unsold_qty", QTY, "滞销数量|滞销量|库存数量|滞销库存|unsold", True),
    _f("unit", UNIT, "单位|计量单位", True),
    _f("unit_weight", TEXT, "单件重量|规格|每件重量|件重",
       help="a count unit's weight, e.g. 10斤 for a 箱; also written in the unit as 箱(10斤) or 1箱=10斤"),
    _f("as_of", DATE, "统计日期|截至日期|登记日期|日期|date", True),
    _f("unit_price", MONEY, "单价|价格|price"),
    _f("unsold_value", MONEY, "滞销金额|货值|滞销货值|value"),
    _f("households", COUNT, "带贫户数|带动贫困户数|帮扶户数|贫困户数"),
    _f("target_date", DATE, "目标日期|清零目标日期|目标清零日期|target_date",
       help="the day the stock is meant to be sold by: the village_deadline alert's target for this row"),
)

# The product catalogue (产品名录): what a shop sells, tied to the village and ledger product it comes from. A sales
# line finds its entry by its seller's code, else its platform product id, else its exact listing title
# (CATALOGUE_ROUTES); the pack weight turns its packs into kilograms.
CATALOGUE: Final[tuple[Field, ...]] = (
    _f("product_id", ID, "商品ID|商品id|宝贝ID"),
    _f("sku", ID, "商家编码|SKU编码|商品编码|商家编码-规格维度", help="the seller's own code of the product"),
    _f("listing", TEXT, "商品名称|商品标题|宝贝标题|链接标题", help="the shop's listing title, matched exactly"),
    _f("county", TEXT, "县区|县|帮扶县|区县"),
    _f("village", TEXT, "村名|村|行政村|帮扶村", True),
    _f("product", TEXT, "品名|产品|农产品", True, "the stock ledger's product"),
    _f("pack", TEXT, "规格|包装规格|单件重量", help="the weight of one pack as sold, e.g. 10斤, 500g, 5kg"),
    _f("households", COUNT, "带贫户数|带动贫困户数|帮扶户数|贫困户数"),
    _f("target_date", DATE, "目标日期|清零目标日期|目标清零日期|target_date",
       help="the day the stock is meant to be sold by: the village_deadline alert's target for this row"),
)

KINDS: Final[dict[str, tuple[Field, ...]]] = {
    "sessions": SESSIONS,
    "ticks": TICKS,
    "sales": SALES,
    "stock": STOCK,
    "catalogue": CATALOGUE,
}
# Weights written as text ("10斤") and the column of kilograms each becomes: (kind, column) -> kg column.
WEIGHTS: Final[dict[tuple[str, str], str]] = {("stock", "unit_weight"): "unit_kg", ("catalogue", "pack"): "pack_kg"}
# How a sales line without a village finds its catalogue entry: (sales column, catalogue column), the first match
# winning; its name is the route the report counts lines and money by.
CATALOGUE_ROUTES: Final[tuple[tuple[str, str, str], ...]] = (
    ("sku", "sku", "sku"), ("product_id", "product_id", "product_id"), ("title", "product", "listing"),
)

# How an order line without a session id finds its session: the first of these host columns that the line and a
# session both give, and whose session's start..end holds the line's time. A session without an end holds the
# OPEN_SESSION_HOURS after its start (a broadcast still on air).
SESSION_HOST_KEYS: Final[tuple[str, ...]] = ("host_id", "room_id", "host_name")
# Traffic sources (a line's `channel`) of the live room: only such lines, or lines that give none, find a session.
# A line sold through a short video or the product card at the same time counts for its village, not the session.
LIVE_CHANNELS: Final[tuple[str, ...]] = ("直播", "直播间", "直播带货")
OPEN_SESSION_HOURS: Final = 12

# Store keys (docs/store.md). Sales with an order id are keyed by (order_id, line_id, product, occ); without one
# by (session_id, product, village, ts, occ); occ is the row's occurrence among identical keys in
# its file, so identical lines of a growing export stay distinct and a longer re-upload adds only
# the new ones. An order with two product lines keeps both.
KEYS: Final[dict[str, tuple[str, ...]]] = {
    "sessions": ("session_id",),
    "ticks": ("session_id", "ts"),
    "sales": ("order_id", "line_id", "session_id", "product", "village", "ts", "occ"),
    "stock": ("village", "product", "as_of"),
    "catalogue": ("sku", "product_id", "listing"),
}

# Columns a kind needs besides its required ones before a file is recognised as that kind:
# at least one of these (ticks need a measure; sales a quantity or an amount).
TICK_MEASURES: Final[tuple[str, ...]] = tuple(f.name for f in TICKS[2:])

HOST_KINDS: Final[dict[str, str]] = {
    "broadcast": "broadcast", "电视直播": "broadcast", "媒体直播": "broadcast", "卫视": "broadcast",
    "电视": "broadcast", "达人直播": "broadcast", "网红": "broadcast", "网红直播": "broadcast",
    "达人": "broadcast", "媒体": "broadcast", "tv": "broadcast", "influencer": "broadcast",
    "cadre": "cadre", "干部直播": "cadre", "干部带货": "cadre", "书记直播": "cadre",
    "县长直播": "cadre", "干部": "cadre", "书记": "cadre", "县长": "cadre", "区长直播": "cadre",
    "官员直播": "cadre", "official": "cadre",
}

PLATFORMS: Final[dict[str, str]] = {
    "douyin": "douyin", "抖音": "douyin", "kuaishou": "kuaishou", "快手": "kuaishou",
    "pinduoduo": "pinduoduo", "拼多多": "pinduoduo", "pdd": "pinduoduo",
    "taobao": "taobao", "淘宝直播": "taobao", "淘宝": "taobao", "点淘": "taobao",
    "wechat_channels": "wechat_channels", "视频号": "wechat_channels", "微信视频号": "wechat_channels",
    "tv": "tv", "电视": "tv", "卫视": "tv", "电视台": "tv",
}

# Order statuses as the shops write them, each to what it means for a sales line: `sale` (paid, not closed:
# waiting to ship, shipped, received, completed), `closed` (closed or cancelled: a refund when it was paid,
# else nothing), `refunded` (refunded in full) or `unpaid` (no money yet). Matched ignoring spaces; a full-width
# comma matches a comma. A status not listed here is refused with the file's line, never guessed.
ORDER_STATUSES: Final[dict[str, str]] = {
    # 抖店, 快手, 视频号
    "待发货": "sale", "已发货": "sale", "已完成": "sale", "已签收": "sale", "待收货": "sale", "备货中": "sale",
    "部分发货": "sale", "已支付": "sale", "已付款": "sale", "待评价": "sale", "交易完成": "sale",
    "已关闭": "closed", "已取消": "closed", "订单关闭": "closed", "交易取消": "closed",
    "待付款": "unpaid", "待支付": "unpaid", "未付款": "unpaid",
    # 拼多多
    "已发货，待签收": "sale", "待成团": "unpaid",
    "未发货，退款成功": "refunded", "已发货，退款成功": "refunded", "已签收，退款成功": "refunded",
    # 淘宝 / 千牛 / 天猫
    "交易成功": "sale", "买家已付款，等待卖家发货": "sale", "卖家已发货，等待买家确认": "sale",
    "买家已付款": "sale", "卖家已发货": "sale", "等待卖家发货": "sale", "等待买家确认收货": "sale",
    "交易关闭": "closed", "等待买家付款": "unpaid",
    "退款成功": "refunded", "已退款": "refunded", "全额退款": "refunded",
    # 快手小店 (also 待付款, 待发货, 已发货, 交易成功, 交易关闭 above)
    "已收货": "sale",
}
# After-sale (refund) statuses: `none` (no after-sale, or one refused or withdrawn), `pending` (still a sale until
# it is done) or `refunded` (a refund paid: the whole line unless a refund amount says less). `-` is none.
AFTER_SALE_STATUSES: Final[dict[str, str]] = {
    "-": "none", "无": "none", "无售后": "none", "暂无": "none", "没有申请退款": "none", "售后关闭": "none",
    "退款关闭": "none", "退款失败": "none", "售后取消": "none", "拒绝退款": "none", "已撤销": "none",
    "退款中": "pending", "售后中": "pending", "退款待处理": "pending", "待商家处理": "pending",
    "待买家退货": "pending", "买家已退货": "pending", "待商家收货": "pending", "买家已经申请退款，等待卖家同意": "pending",
    "卖家已经同意退款，等待买家退货": "pending", "买家已经退货，等待卖家确认收货": "pending",
    "退款成功": "refunded", "退款完成": "refunded", "售后完成": "refunded", "已退款": "refunded",
    "退货退款成功": "refunded", "仅退款成功": "refunded",
    # 快手小店 (also 退款成功, 售后关闭 above)
    "售后处理中": "pending", "售后失败": "none",
}
# The vocabulary each status column is read with.
STATUS_VOCABULARIES: Final[dict[str, dict[str, str]]] = {
    "order_status": ORDER_STATUSES, "after_sale": AFTER_SALE_STATUSES,
}
# Columns a file may give through another when it lacks them: 抖音's live lists name each broadcast by its
# room number (房间号), unique to it.
STANDS_IN: Final[dict[tuple[str, str], str]] = {("sessions", "session_id"): "room_id"}
# Columns of a session that a live workbook (抖店/罗盘 直播复盘) does not give: kept from the stored session of the same
# id (the platform's live list, ingested before it) rather than emptied by the workbook's row. The host kind too:
# the workbook asks for it only when the store holds none.
WORKBOOK_KEEPS: Final[tuple[str, ...]] = ("host_kind", "host_id", "host_role", "platform", "county")
# Columns a file may give as the product of two others instead: a line's amount from its unit price and quantity.
PRODUCT_OF: Final[dict[tuple[str, str], tuple[str, str]]] = {("sales", "amount"): ("unit_price", "quantity")}
# What a sales line is once its statuses are read, kept as its `status`: sale (counted), refunded (paid, then
# refunded or closed: its money counts as refunded, its quantity moves no stock) or cancelled (never paid). A report
# also makes a session's product totals `covered` where the session's order lines count the same sales (BASES).
LINE_STATUSES: Final[tuple[str, ...]] = ("sale", "refunded", "cancelled", "covered")


def status_key(text: str) -> str:
    """A status as matched: without spaces, a comma written full-width."""
    return re.sub(r"\s+", "", text).replace(",", "，")


@dataclass(frozen=True)
class Shape:
    """One platform's export as it comes: what names it, which of its headers is which canonical column.

    A file holding every `signature` header is read with `columns` (file header -> canonical), whatever generic
    aliases its other headers match; headers of neither, and the `ignored` ones (a header the export uses for
    something else than its generic alias says), are reported and ignored. A header of `columns` is matched as
    written, bracketed part included (微信小店's 商品实际价格(单件) is not its 商品实际价格(总共)), else without its
    unit suffix when no other header of the shape has the same stem. A unit-price header maps to unit_price,
    never to amount. `basis` marks every sales row of the export (BASES): what its rows
    stand for."""

    name: str
    kind: str
    signature: tuple[str, ...]
    columns: dict[str, str]
    ignored: tuple[str, ...] = ()
    basis: str | None = None


# The shops' order exports, by the headers their back offices write (one row per order line unless said).
EXPORT_SHAPES: Final[tuple[Shape, ...]] = (
    Shape("抖店 订单导出 (商品维度)", "sales", ("主订单编号", "子订单编号", "选购商品"), {
        "主订单编号": "order_id", "子订单编号": "line_id", "选购商品": "product", "商品ID": "product_id",
        "商家编码": "sku", "商品规格": "spec", "商品数量": "quantity", "商品金额": "unit_price",
        "订单应付金额": "amount", "订单提交时间": "ts", "支付完成时间": "paid_at", "订单状态": "order_status",
        "售后状态": "after_sale", "达人ID": "host_id", "达人昵称": "host_name", "流量来源": "channel",
    }),
    Shape("天猫 订单明细", "sales", ("主订单编号", "子订单编号", "商品标题"), {
        "主订单编号": "order_id", "子订单编号": "line_id", "商品标题": "product", "商品ID": "product_id",
        "商家编码": "sku", "商品属性": "spec", "购买数量": "quantity", "商品价格": "unit_price",
        "买家实付金额": "amount", "退款金额": "refund", "订单创建时间": "ts", "订单付款时间": "paid_at",
        "订单状态": "order_status", "退款状态": "after_sale",
    }),
    Shape("拼多多 订单导出", "sales", ("订单号", "订单成交时间", "用户实付金额(元)"), {
        "订单号": "order_id", "商品": "product", "商品id": "product_id", "商家编码-规格维度": "sku",
        "商品规格": "spec", "商品数量(件)": "quantity", "用户实付金额(元)": "amount", "订单成交时间": "ts",
        "订单状态": "order_status", "售后状态": "after_sale",
    }),
    # One row per order: its titles and total quantity.
    Shape("淘宝/千牛 订单报表", "sales", ("订单编号", "买家实际支付金额", "宝贝标题"), {
        "订单编号": "order_id", "宝贝标题": "product", "宝贝总数量": "quantity", "买家实际支付金额": "amount",
        "退款金额": "refund", "订单创建时间": "ts", "订单付款时间": "paid_at", "订单状态": "order_status",
    }),
    Shape("淘宝/千牛 宝贝报表", "sales", ("订单编号", "标题", "价格", "购买数量"), {
        "订单编号": "order_id", "标题": "product", "价格": "unit_price", "购买数量": "quantity",
        "商家编码": "sku", "订单状态": "order_status",
    }),
    # One row per order, which holds one product. 订单载体 is where it was sold (直播, 商品卡, 短视频, 其他);
    # 渠道 (分销 / 自营) says whether a promoter sold it, no traffic source; CPS达人 is the promoting account.
    Shape("快手小店 订单导出", "sales", ("订单号", "实付款", "成交数量"), {
        "订单号": "order_id", "商品名称": "product", "商品ID": "product_id", "SKU编码": "sku", "商品规格": "spec",
        "成交数量": "quantity", "商品单价": "unit_price", "实付款": "amount", "订单创建时间": "ts",
        "订单支付时间": "paid_at", "订单状态": "order_status", "售后状态": "after_sale", "订单载体": "channel",
        "CPS达人ID": "host_id", "CPS达人昵称": "host_name",
    }, ignored=("渠道",)),
    # One row per product line; 订单实际支付金额 and the fees are the order's, repeated on each of its lines, so
    # a line's money is 商品实际价格(总共) and its refund 商品已退款金额.
    Shape("微信小店 (视频号小店) 订单导出", "sales", ("订单号", "订单下单时间", "订单实际支付金额"), {
        "订单号": "order_id", "商品名称": "product", "商品编码(平台)": "product_id", "SKU编码(自定义)": "sku",
        "商品属性": "spec", "商品数量": "quantity", "商品价格(单件)": "unit_price", "商品实际价格(总共)": "amount",
        "商品已退款金额": "refund", "订单下单时间": "ts", "支付时间": "paid_at", "订单状态": "order_status",
        "带货账号昵称": "host_name",
    }),
    # 抖店/罗盘's products of one live session (直播复盘 → 货品明细): one row per product, its totals for the session.
    Shape("罗盘 货品明细", "sales", ("商品名称", "成交件数", "用户支付金额"), {
        "商品ID": "product_id", "商品名称": "product", "直播间价格": "unit_price", "成交件数": "quantity",
        "用户支付金额": "amount", "退款金额": "refund",
    }, basis="session_totals"),
)

# What a sales row stands for, when it is not one order line (basis null): `session_totals` is a product's total over
# a whole live session as the platform's analytics count it (罗盘's 货品明细). Such totals hold the same sales as the
# shop's order lines of that session: a village's sell-through and a session's GMV take them only where no order line
# (a row with an order id) belongs to the session (metrics.sessions.settle_totals).
BASES: Final[dict[str, str]] = {
    "session_totals": "a product's total over one live session (罗盘 货品明细); counted only for a session without order lines",
}



# Mass units in kilograms; a quantity in one converts to any other.
MASS_UNITS_KG: Final[dict[str, float]] = {"kg": 1.0, "斤": 0.5, "两": 0.05, "g": 0.001, "t": 1000.0}
# Spellings of units, normalised to one name each.
UNIT_NAMES: Final[dict[str, str]] = {
    "kg": "kg", "公斤": "kg", "千克": "kg", "斤": "斤", "市斤": "斤", "两": "两",
    "g": "g", "克": "g", "t": "t", "吨": "t",
    "件": "件", "箱": "箱", "盒": "盒", "袋": "袋", "瓶": "瓶", "只": "只", "头": "头",
    "个": "个", "份": "份", "罐": "罐", "包": "包", "提": "提", "桶": "桶", "斤装": "斤",
}
COUNT_UNITS: Final[frozenset[str]] = frozenset(u for u in UNIT_NAMES.values() if u not in MASS_UNITS_KG)

# Scale factors written in a header's unit suffix: 金额(万元) is in units of 10^4 yuan.
HEADER_SCALES: Final[dict[str, int]] = {"万元": 4, "万": 4, "元": 0, "分": -2, "亿元": 8}

# Number suffixes written in a value: 1.2万, 3亿, 1.2w, 12.3%.
NUMBER_SUFFIXES: Final[dict[str, int]] = {"万": 4, "w": 4, "W": 4, "亿": 8, "%": -2, "k": 3, "K": 3}


_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")"})
_SUFFIX = re.compile(r"\(([^()]*)\)\s*$")


def normalise_header(header: str) -> tuple[str, int]:
    """A header as matched against aliases (case, spaces, brackets, unit suffix ignored), and its scale.

    The scale is the power of ten that the header's unit suffix multiplies values by:
    "成交金额(万元)" -> ("成交金额", 4); "GMV (元)" -> ("gmv", 0).
    """
    text = header.translate(_BRACKETS).strip().lstrip("\ufeff")
    scale = 0
    match = _SUFFIX.search(text)
    if match:
        scale = HEADER_SCALES.get(match.group(1).strip(), 0)
        text = text[: match.start()]
    return re.sub(r"\s+", "", text).lower(), scale


def exact_header(header: str) -> str:
    """A header as a shape names it: case, spaces and the width of brackets ignored, its bracketed part kept."""
    return re.sub(r"\s+", "", header.translate(_BRACKETS).lstrip("\ufeff")).lower()


def alias_table(kind: str) -> dict[str, str]:
    """Normalised header -> canonical column, for one kind (canonical names match themselves)."""
    table: dict[str, str] = {}
    for field in KINDS[kind]:
        for name in (field.name, *field.aliases):
            table[normalise_header(name)[0]] = field.name
    return table


# How far a header may be from an alias to be offered as its likely spelling: one edit in a short header
# (开播时问 for 开播时间), two in a long one.
SUGGEST_EDITS: Final[tuple[tuple[int, int], ...]] = ((6, 1), (10**9, 2))  # (longest alias, edits allowed)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions that make `a` into `b`."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def suggest_header(kind: str, header: str, columns: Collection[str] | None = None) -> str | None:
    """The alias of `kind` (of one of `columns`, else of any column) that `header` most likely misspells: the
    nearest by edit distance within SUGGEST_EDITS; None for a header that is an alias, is near none, or is as
    near to two columns' aliases."""
    norm = normalise_header(header)[0]
    if len(norm) < 2 or norm in alias_table(kind):
        return None
    best: dict[str, tuple[int, str]] = {}  # column -> (edits, alias)
    for f in KINDS[kind]:
        if columns is not None and f.name not in columns:
            continue
        for alias in (f.name, *f.aliases):
            target = normalise_header(alias)[0]
            allowed = next(edits for longest, edits in SUGGEST_EDITS if len(target) <= longest)
            edits = _edits(norm, target)
            if edits <= min(allowed, len(target) - 1) and edits < best.get(f.name, (edits + 1, ""))[0]:
                best[f.name] = (edits, alias)
    if not best:
        return None
    nearest = min(edits for edits, _ in best.values())
    found = [alias for edits, alias in best.values() if edits == nearest]
    return found[0] if len(found) == 1 else None


def near_misses(kind: str, unknown: Iterable[str], mapped: Collection[str]) -> dict[str, str]:
    """Of a file's `unknown` headers, those that are near misses of an alias of a column it lacks (none of its
    headers `mapped` to it): header -> the alias it likely means."""
    lacking = [f.name for f in KINDS[kind] if f.name not in mapped]
    found = {header: suggest_header(kind, header, lacking) for header in unknown}
    return {header: alias for header, alias in found.items() if alias is not None}


def field(kind: str, name: str) -> Field:
    """The field `name` of `kind`."""
    for f in KINDS[kind]:
        if f.name == name:
            return f
    raise KeyError(f"{kind} has no column {name}")


# How each value type is held in a polars frame read from the store.
_DTYPES: Final = {
    TEXT: pl.String, HOST_KIND: pl.String, PLATFORM: pl.String, UNIT: pl.String,
    COUNT: pl.Int64, QTY: pl.Float64, MONEY: pl.Int64, DURATION: pl.Int64,
    TIME: pl.Datetime("ms", "UTC"), DATE: pl.Date, ID: pl.String, STATUS: pl.String,
}

# Columns a kind keeps in the store beyond its fields, and fields it does not keep as such.
EXTRA_COLUMNS: Final[dict[str, dict[str, pl.DataType]]] = {
    "sessions": {},
    "ticks": {},
    # status: one of LINE_STATUSES (null: a sale); basis: null for an order line, else one of BASES
    "sales": {"occ": pl.Int64(), "status": pl.String(), "basis": pl.String()},
    "stock": {"unit_kg": pl.Float64()},  # kilograms in one `unit` when that is a count unit with a known weight
    "catalogue": {"pack_kg": pl.Float64()},  # kilograms in one pack (`pack`)
}
DROPPED: Final[dict[str, tuple[str, ...]]] = {
    "sessions": ("duration",),  # folded into ended_at
    "ticks": (),
    "sales": ("paid_at", "unit_price", "order_status", "after_sale"),  # folded into status, amount and refund
    "stock": ("unit_weight",),  # folded into unit_kg
    "catalogue": ("pack",),  # folded into pack_kg
}


def frame_schema(kind: str) -> dict[str, pl.DataType]:
    """Columns and dtypes of `kind` as read from the store: batch, line, its fields, its extras.

    Money is Int64 fen, times Datetime(ms, UTC), dates Date, quantities Float64.
    """
    schema: dict[str, pl.DataType] = {"batch": pl.Int64(), "line": pl.Int64()}
    for f in KINDS[kind]:
        if f.name not in DROPPED[kind]:
            schema[f.name] = _DTYPES[f.type]
    schema.update(EXTRA_COLUMNS[kind])
    return schema
