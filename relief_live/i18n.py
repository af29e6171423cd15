"""Every string the dashboard shows, in English and Chinese, the lookup that picks one, and `plain` for text from files."""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

LANGS: Final[tuple[str, ...]] = ("en", "zh")
DEFAULT_LANG: Final = "en"

# key -> (English, 中文). Placeholders are str.format fields and must match in both.
TEXT: Final[dict[str, tuple[str, str]]] = {
    # app and navigation
    "app_title": ("Relief livestream sales", "消费帮扶直播带货"),
    "page_overview": ("Overview", "总览"),
    "page_live": ("Live session", "直播场次"),
    "page_villages": ("Villages", "帮扶村"),
    "page_hosts": ("Hosts", "主播"),
    "page_upload": ("Upload", "上传数据"),
    "language": ("Language", "语言"),
    "share_link": ("Share this view", "分享此视图"),
    "share_help": ("Copy this link (right-click it, or select it): it opens this page with the same filters.",
                   "复制此链接（右键点击或选中）：打开后显示相同页面和筛选条件。"),
    "kiosk_on": ("Wall-screen view", "大屏模式"),
    "demo_banner": ("Demo data: a seeded sample programme, not real sales.",
                    "演示数据：系统生成的示例项目，并非真实销售。"),
    "clear_demo": ("Clear demo data", "清除演示数据"),
    "demo_cleared": ("Demo data cleared.", "演示数据已清除。"),
    "clear_demo_confirm": ("Clear the demo programme ({n} batches)? The pages will then show uploaded data only.",
                           "确定清除演示数据（{n} 个批次）？清除后各页面只显示上传的数据。"),
    "clear_demo_yes": ("Yes, clear the demo data", "确定清除"),
    "cancel": ("Cancel", "取消"),
    "empty_store": ("No data yet. Staff can add exports on the Upload page.",
                    "暂无数据。工作人员可在“上传数据”页面导入平台导出文件。"),
    "updated_at": ("updated {time}", "更新于 {time}"),
    "latest_seconds": ("latest data {n} s ago", "最新数据 {n} 秒前"),
    "latest_minutes": ("latest data {n} min ago", "最新数据 {n} 分钟前"),
    "latest_at": ("latest data {time}", "最新数据 {time}"),
    "no_data_yet": ("no data yet", "尚无数据"),
    "feed_silent": ("feed silent for {n} min", "数据中断 {n} 分钟"),
    "freshness_help": ("How old this session's newest row (minute tick or order) is. Amber: later than {late} s; "
                       "red, and no LIVE badge: nothing new for {silent} min, so the feed has stopped.",
                       "本场最新一条数据（分钟数据或订单）距今多久。黄色：超过 {late} 秒；红色且不再显示“直播中”："
                       "{silent} 分钟没有新数据，数据源已中断。"),
    "store_reading": ("Reading the stored exports (once after the server starts; about a second per million "
                      "order lines)…", "正在读取已存数据（服务器启动后仅一次；每百万条订单约需一秒）……"),
    "store_rereading": ("A batch was retracted: reading the stored exports again (about a second per million "
                        "order lines)…", "有批次已撤回：正在重新读取已存数据（每百万条订单约需一秒）……"),
    "seconds_waited": (" s", " 秒"),
    "report_building": ("Computing the figures over every order line (once; later uploads only add to them)…",
                        "正在按全部订单计算指标（仅一次；之后上传的数据只做增量更新）……"),
    "store_upgrading": ("Moving the store to this version's layout (once; about 4 s per million order lines)…",
                        "正在将数据库转换为新版本格式（仅此一次；每百万条订单约 4 秒）…"),
    "store_unavailable": ("The store cannot be opened, so there is nothing to show: {why}. Fix the store "
                          "setting (`RELIEF_LIVE_DB`) or the database, then reload this page.",
                          "无法打开数据库，页面暂无数据可显示：{why}。请检查数据库设置（`RELIEF_LIVE_DB`）或数据库本身，然后刷新本页。"),
    "no_chart_data": ("Nothing to chart yet.", "暂无可绘制的数据。"),
    # auth
    "staff": ("Staff", "工作人员"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出登录"),
    "password": ("Staff password", "工作人员密码"),
    "wrong_password": ("Wrong password.", "密码错误。"),
    "signed_in_as": ("Signed in as {who}", "已登录：{who}"),
    "local_staff": ("Uploads allowed from this machine.", "本机可上传数据。"),
    "viewer_only": ("View only: sign in as staff to upload.", "仅可查看：工作人员登录后可上传。"),
    "viewer_only_local": ("View only: uploads are allowed only from the server's own machine.",
                          "仅可查看：只有服务器本机可以上传数据。"),
    "conn_proxy": ("This browser's connection was relayed by a proxy ({detail}).",
                   "本浏览器的连接经代理转发（{detail}）。"),
    "conn_remote": ("This browser connects from {detail}.", "本浏览器从 {detail} 连接。"),
    "conn_host": ("This browser asked for {detail}, which is not a name of this machine.",
                  "本浏览器访问的是 {detail}，不是本机的名称。"),
    "unknown_host": ("This server does not answer to {host}. Open it by its IP address or localhost; a name of "
                     "your own goes in Streamlit's server.allowedHosts.",
                     "本服务器不接受 {host} 这个名称。请用 IP 地址或 localhost 打开；自己的域名请加入 Streamlit 的 "
                     "server.allowedHosts。"),
    "sign_in_wait": ("Too many wrong passwords: try again in {seconds} s.", "密码错误次数过多：请 {seconds} 秒后再试。"),
    "sign_in_needs_cookies": ("Signing in needs the site's security cookie, and this browser sent none: allow "
                              "cookies for this site (or, on the server, keep server.enableXsrfProtection on).",
                              "登录需要本站的安全 Cookie，但浏览器没有发送：请允许本站的 Cookie（服务器端请保持 "
                              "server.enableXsrfProtection 开启）。"),
    # KPIs
    "kpi_gmv": ("GMV", "成交额"),
    "kpi_orders": ("Orders", "订单数"),
    "kpi_viewers": ("Viewers", "观看人数"),
    "kpi_sell_through": ("Unsold stock sold (value)", "滞销货值售出比例"),
    "kpi_households": ("Households helped", "带动农户数"),
    "kpi_sessions": ("Sessions", "场次"),
    "viewers_now": ("Viewers online now", "当前在线人数"),
    "on_air": ("Sessions on air", "正在直播场次"),
    "village_board": ("Villages with most stock left", "剩余货值最多的村"),
    "kpi_peak": ("Peak viewers online", "最高在线人数"),
    "kpi_gpm": ("GPM (元 per 1000 views)", "千次观看成交额 GPM（元）"),
    "kpi_conversion": ("Conversion", "转化率"),
    "kpi_new_followers": ("New followers", "新增粉丝"),
    # overview
    "live_now": ("Live now", "正在直播"),
    "no_live": ("No session is live right now.", "当前没有正在进行的直播。"),
    "live_badge": ("LIVE", "直播中"),
    "open_session": ("Open", "查看"),
    "broadcast_vs_cadre": ("Broadcasts and cadre-hosted sessions", "媒体/达人直播与干部直播对比"),
    "top_villages": ("Top villages by sell-through", "售出比例最高的村"),
    "stalled_villages": ("Stalled villages", "滞销未动的村"),
    "stalled_help": ("Stock remains, under {share} sold, and nothing sold in the {days} days up to the latest "
                     "sale in the data; most remaining value first.",
                     "仍有库存、售出不足 {share}，且截至数据中最近一笔销售的 {days} 天内没有销售；按剩余货值排列。"),
    "none": ("None.", "无。"),
    # charts
    "chart_gmv_per_day": ("GMV per day by host kind", "按主播类型的每日成交额"),
    "chart_gmv_per_week": ("GMV per week by host kind", "按主播类型的每周成交额"),
    "chart_gmv_per_month": ("GMV per month by host kind", "按主播类型的每月成交额"),
    "chart_host_compare": ("Broadcast vs cadre", "媒体/达人直播与干部直播对比"),
    "chart_viewers_online": ("Viewers online", "实时在线人数"),
    "chart_orders_per_min": ("Orders per minute", "每分钟订单数"),
    "chart_gmv_cum": ("Cumulative GMV", "累计成交额"),
    "chart_session_title": ("{title}: minute by minute", "{title}：分钟走势"),
    "chart_products": ("Sales by product", "各商品销售额"),
    "chart_villages_products": ("Sales by village", "各村销售额"),
    "chart_previous": ("Cumulative GMV against the previous episode", "与上一期的累计成交额对比"),
    "chart_village_progress": ("Sold and remaining per village and product", "各村产品已售与剩余"),
    "chart_hosts": ("Hosts ranked by {metric}", "主播按{metric}排名"),
    "chart_host_kinds": ("Host kinds by {metric}", "主播类型按{metric}排名"),
    "peak": ("peak {value}", "峰值 {value}"),
    "minutes_since_start": ("minutes since start", "开播后分钟数"),
    "time": ("Time", "时间"),
    "time_shanghai": ("Time (UTC+8)", "时间（北京时间）"),
    "day": ("Day", "日期"),
    "week": ("Week (from Monday)", "周（自周一起）"),
    "month": ("Month", "月份"),
    "grain": ("Bars per", "柱形按"),
    "grain_auto": ("as the span suits", "按时间跨度自动"),
    "grain_day": ("day", "日"),
    "grain_week": ("week", "周"),
    "grain_month": ("month", "月"),
    "date_range": ("Dates", "日期范围"),
    "this_session": ("this session", "本场"),
    "previous_session": ("previous episode: {title}", "上一期：{title}"),
    "no_previous": ("No previous episode of this programme.", "没有同一节目的上一期。"),
    "sold": ("sold", "已售"),
    "remaining": ("remaining", "剩余"),
    "people": ("people", "人"),
    "orders_unit": ("orders", "单"),
    # units
    "yuan": ("元", "元"),
    "wan_yuan": ("万元", "万元"),
    # live session
    "session": ("Session", "场次"),
    "pick_session": ("Pick a session", "选择场次"),
    "no_sessions": ("No sessions yet.", "暂无直播场次。"),
    "no_ticks": ("This session has no minute-by-minute data.", "该场次没有分钟级数据。"),
    "no_sales": ("No order lines for this session.", "该场次没有订单明细。"),
    "refresh_every": ("Refreshes every {seconds} s while live.", "直播期间每 {seconds} 秒自动刷新。"),
    "ended": ("ended", "已结束"),
    # villages
    "county": ("County", "县区"),
    "village": ("Village", "村"),
    "product": ("Product", "产品"),
    "status": ("Status", "状态"),
    "status_sold_out": ("sold out", "已售完"),
    "status_on_track": ("on track", "正常销售"),
    "status_at_risk": ("at risk", "有售不完风险"),
    "status_stalled": ("stalled", "滞销未动"),
    "hard_to_clear": ("will not clear at the current pace", "按当前速度难以售完"),
    "unit": ("Unit", "单位"),
    "as_of": ("Baseline date", "登记日期"),
    "unsold_qty": ("Unsold (baseline)", "滞销数量"),
    "sold_qty": ("Sold", "已售数量"),
    "remaining_qty": ("Remaining", "剩余数量"),
    "sell_through": ("Sell-through", "售出比例"),
    "unsold_value": ("Unsold value (元)", "滞销货值（元）"),
    "sold_value": ("Sold value (元)", "已售金额（元）"),
    "households": ("Households", "带动户数"),
    "projected_clear_date": ("Projected clear date", "预计售完日期"),
    "target_date": ("Target date", "目标日期"),
    "remaining_value": ("Remaining value (元)", "剩余货值（元）"),
    "unattributed": ("Unattributed sales", "未归属到村的销售"),
    "unattributed_help": ("Sales with no village whose product more than one village (or none) registered.",
                          "没有村名、且产品对应不止一个村（或没有村）的销售。"),
    "unconvertible": ("Unconvertible sales", "单位无法换算的销售"),
    "unconvertible_help": ("Sales in a unit that cannot be converted to the baseline's unit: counted in value, not in quantity.",
                           "单位无法换算为台账单位的销售：计入金额，不计入数量。"),
    "rows_amount": ("{rows} rows, {amount}", "{rows} 行，{amount}"),
    "routes": ("How sales found their villages", "销售归属到村的途径"),
    "routes_help": ("Order lines without a village are tied to one through the product catalogue: by the seller's "
                    "code, else the platform's product id, else the exact listing title. Money: of the lines that "
                    "are sales.",
                    "没有村名的订单行通过产品名录归属到村：先按商家编码，再按平台商品ID，最后按完全相同的商品标题。"
                    "金额只计成交（不含退款、取消）的行。"),
    "channels": ("Sales by channel", "分渠道销售"),
    "channels_help": ("Each village's sales by the traffic source of its order lines (流量来源: live room, short "
                      "video, product card …), of the lines whose export gives one: sell-through counts every "
                      "channel; a session only its live-room lines.",
                      "各村按订单流量来源（直播、短视频、商品卡等）分列的销售（仅限导出文件注明来源的订单）："
                      "售出比例计入所有渠道，直播场次只计直播间的订单。"),
    "channel": ("Channel", "渠道"),
    "route": ("Route", "途径"),
    "lines": ("Lines", "行数"),
    "route_village": ("village given in the file", "文件自带村名"),
    "route_sku": ("seller's code (商家编码)", "商家编码"),
    "route_product_id": ("platform product id (商品ID)", "平台商品ID"),
    "route_title": ("listing title", "商品标题"),
    "route_none": ("no match", "未匹配"),
    "all": ("all", "全部"),
    # hosts
    "rank_by": ("Rank by", "排名依据"),
    "m_gmv": ("GMV", "成交额"),
    "m_gmv_per_hour": ("GMV per hour", "每小时成交额"),
    "m_gpm": ("GPM", "GPM"),
    "m_conversion": ("conversion", "转化率"),
    "host_name": ("Host", "主播"),
    "host_kind": ("Host kind", "主播类型"),
    "host_role": ("Role", "职务"),
    "platform": ("Platform", "平台"),
    "hours": ("Hours", "时长（小时）"),
    "gmv": ("GMV (元)", "成交额（元）"),
    "gmv_per_hour": ("GMV per hour (元)", "每小时成交额（元）"),
    "gpm": ("GPM (元)", "GPM（元）"),
    "conversion": ("Conversion", "转化率"),
    "median_gpm": ("Median GPM (元)", "GPM 中位数（元）"),
    "median_conversion": ("Median conversion", "转化率中位数"),
    "fair_median_gpm": ("Median GPM, flagged sessions left out (元)", "GPM 中位数（不含标记场次，元）"),
    "n_sessions": ("{n} sessions", "{n} 场"),
    "compare_note": ("{flagged} of {sessions} sessions are left out of the GPM medians: their GMV or GPM does not "
                     "compare as it stands (the Hosts page says why).",
                     "{sessions} 场中有 {flagged} 场未计入 GPM 中位数：其成交额或 GPM 不宜直接比较（原因见“主播”页）。"),
    "compare_title": ("Broadcast vs cadre: what each figure rests on", "媒体/达人直播与干部直播：各项数字的依据"),
    "compare_help": ("Each median beside its pooled ratio (sums over the same sessions) and the number of sessions "
                     "behind it; then the same without the flagged sessions listed below.",
                     "每个中位数旁列出合计比率（同一批场次的总和之比）及其所依据的场次数；再列出不含下方标记场次的结果。"),
    "flagged": ("Flagged", "标记场次"),
    "compare_figure": ("Figure", "指标"),
    "gpm_sessions": ("Sessions with a GPM", "有 GPM 的场次"),
    "pooled_gpm": ("Pooled GPM (Σ GMV × 1000 / Σ views, 元)", "合计 GPM（总成交额×1000/总观看人次，元）"),
    "fair_gpm_sessions": ("Sessions with a GPM, flagged left out", "有 GPM 的场次（不含标记）"),
    "fair_pooled_gpm": ("Pooled GPM, flagged left out (元)", "合计 GPM（不含标记，元）"),
    "conversion_sessions": ("Sessions with a conversion", "有转化率的场次"),
    "pooled_conversion": ("Pooled conversion (Σ buyers / Σ viewers)", "合计转化率（总成交人数/总观看人数）"),
    "flagged_title": ("Sessions that do not compare as they stand", "不宜直接比较的场次"),
    "reason": ("Why", "原因"),
    "flag_unsupported": ("GMV {gmv}, but its order lines add up to {orders} ({share}): the rest is per-product "
                         "totals or the platform's summary, not single orders.",
                         "成交额 {gmv}，但订单明细合计只有 {orders}（{share}）：其余来自按商品汇总或平台汇总，并非单笔订单。"),
    "flag_gpm_spread": ("GPM {gpm} is far above this kind's usual {low} to {high}.",
                        "GPM {gpm} 远高于该类型通常的 {low} 至 {high}。"),
    "orders": ("Orders", "订单数"),
    "sessions": ("Sessions", "场次数"),
    "title": ("Title", "标题"),
    "started_at": ("Started", "开播时间"),
    "ended_at": ("Ended", "下播时间"),
    "viewers": ("Viewers", "观看人数"),
    "views": ("Views", "观看人次"),
    "peak_viewers": ("Peak online", "最高在线"),
    "avg_viewers": ("Average online", "平均在线"),
    "buyers": ("Buyers", "成交人数"),
    "live": ("Live", "直播中"),
    "session_id": ("Session ID", "场次ID"),
    "order_id": ("Order", "订单编号"),
    "ts": ("Time", "时间"),
    "amount": ("Amount (元)", "金额（元）"),
    "quantity": ("Quantity", "数量"),
    "rows": ("Rows", "行数"),
    # upload
    "upload_files": ("CSV or XLSX exports (one or many)", "CSV 或 XLSX 导出文件（可多选）"),
    "detected_kind": ("Detected kind: {kind}", "识别的数据类型：{kind}"),
    "kind_unknown": ("Kind not recognised", "无法识别数据类型"),
    "mapping": ("Header mapping", "表头对应"),
    "source_header": ("Column in file", "文件中的列"),
    "canonical": ("Recognised as", "识别为"),
    "unknown_headers": ("Unknown headers (kept out): {headers}", "未识别的表头（不导入）：{headers}"),
    "preview": ("Preview ({rows} rows)", "预览（{rows} 行）"),
    "problems": ("Problems: nothing from this file is stored until they are fixed", "问题：修正前不会导入此文件的任何数据"),
    "problem_line": ("Line", "行"),
    "problem_column": ("Column", "列"),
    "problem_value": ("Value", "值"),
    "problem_message": ("Problem", "问题"),
    "needs_fields": ("This file lacks some session fields: give them here.", "文件缺少场次信息，请在此填写。"),
    "commit": ("Commit {name}", "导入 {name}"),
    "committed": ("{name}: {rows} rows stored as batch {batch}.", "{name}：已导入 {rows} 行，批次 {batch}。"),
    "unchanged": ("{name}: already stored (batch {batch}); nothing changed.", "{name}：已导入过（批次 {batch}），无变化。"),
    "history": ("Ingest history", "导入记录"),
    "no_history": ("Nothing ingested yet.", "尚未导入任何数据。"),
    "retract": ("Retract a batch", "撤回批次"),
    "retract_pick": ("Batch to retract", "要撤回的批次"),
    "retract_confirm": ("I understand: the store will read as if batch {batch} had never been ingested.",
                        "我确认：撤回后数据将恢复为从未导入批次 {batch} 的状态。"),
    "retract_button": ("Retract batch {batch}", "撤回批次 {batch}"),
    "retracted": ("Batch {batch} ({path}) retracted.", "批次 {batch}（{path}）已撤回。"),
    "batch": ("Batch", "批次"),
    "path": ("File", "文件"),
    "kind": ("Kind", "类型"),
    "at": ("When", "时间"),
    "by": ("By", "操作人"),
    "retracted_col": ("Retracted", "已撤回"),
    "sha256": ("SHA-256", "SHA-256"),
    "upload_denied": ("Uploading and retracting need staff rights.", "上传和撤回需要工作人员权限。"),
    "upload_list": ("Files", "文件列表"),
    "upload_state_checked": ("Checked: ready to import", "已检查：可导入"),
    "upload_state_needs": ("Waiting for the fields below", "待补充信息"),
    "upload_state_rejected": ("Not accepted: fix the file and upload it again", "未通过：请修正文件后重新上传"),
    "upload_state_imported": ("Imported", "已导入"),
    "upload_dismiss": ("Remove from the list", "移出列表"),
    "watch_rejected": ("Files the folder watcher rejected ({n})", "文件夹监控拒收的文件（{n} 个）"),
    "watch_rejected_note": ("Nothing from these files is stored until a corrected version is saved in the watched "
                            "folder (or the file is removed from it).",
                            "修正后的文件保存到监控文件夹（或将文件移出该文件夹）之前，不会导入其中任何数据。"),
    "watch_rejected_at": ("{name} · rejected {time}", "{name} · 拒收于 {time}"),
    "watch_rejected_dismiss": ("Dismiss", "忽略"),
    "watch_rejected_dismissed": ("{name}: dismissed. It shows again if the watcher rejects a new version of it.",
                                 "{name}：已忽略。若文件夹监控再次拒收它的新版本，会重新显示。"),
    "upload_dismiss_imported": ("Remove the imported files from the list", "从列表移除已导入的文件"),
    "upload_import_all": ("Import all ({n} files)", "全部导入（{n} 个文件）"),
    "upload_already_listed": ("{name} is already in the list (same content).", "{name} 已在列表中（内容相同）。"),
    "upload_failed": ("{name}: {error}", "{name}：{error}"),
    "upload_placed": ("{name}: {n} lines name no session; {placed} found one by host account and time.",
                      "{name}：{n} 行未注明场次，其中 {placed} 行已按主播账号和时间匹配到场次。"),
    "pick_session_for": ("Session these rows belong to", "这些数据所属的场次"),
    "pick_session_optional": ("Session (optional: without one the lines stay sessionless and count for their village)",
                              "所属场次（可不选：不选则这些订单不归入场次，仍计入所属村）"),
    "upload_will_place": ("{n} lines name no session: {placed} find a stored session by host account and order "
                          "time; {rest} stay sessionless and still count for their village.",
                          "{n} 行订单未注明场次：{placed} 行将按主播账号和下单时间归入已有场次，{rest} 行不归入场次，"
                          "仍计入所属村。"),
    "pick_session_placeholder": ("Choose a stored session", "请选择已有场次"),
    "no_session_to_pick": ("No session is stored yet: import the sessions file first.",
                           "尚无场次：请先导入场次文件。"),
    "did_you_mean": ("“{header}” is not a known header: did you mean “{alias}”? Correct it and upload the file again.",
                     "表头“{header}”未识别：是否应为“{alias}”？改正后请重新上传。"),
    "demo_before_upload": ("The store holds the demo programme: its made-up figures would add to yours, and the "
                           "demo banner would stay. Clear the demo before importing?",
                           "当前数据中含有演示数据：如不清除，演示数据会与真实数据相加，演示提示也会一直显示。"
                           "导入前是否先清除演示数据？"),
    "demo_choice_clear": ("Clear the demo data, then import", "先清除演示数据，再导入"),
    "demo_choice_keep": ("Keep the demo data beside mine", "保留演示数据"),
    "demo_cleared_first": ("Demo data cleared ({n} batches) before this import.", "导入前已清除演示数据（{n} 个批次）。"),
    # downloads
    "download_csv": ("CSV", "CSV"),
    "download_xlsx": ("Excel", "Excel"),
    "download": ("Download {what}", "下载{what}"),
    # value vocabularies
    "hk_broadcast": ("Broadcast", "媒体/达人直播"),
    "hk_cadre": ("Cadre-hosted", "干部直播"),
    "hk_unknown": ("Unknown", "未知"),
    "pf_douyin": ("Douyin", "抖音"),
    "pf_kuaishou": ("Kuaishou", "快手"),
    "pf_pinduoduo": ("Pinduoduo", "拼多多"),
    "pf_taobao": ("Taobao Live", "淘宝直播"),
    "pf_wechat_channels": ("WeChat Channels", "视频号"),
    "pf_tv": ("TV", "电视"),
    "kind_sessions": ("sessions", "场次"),
    "kind_ticks": ("minute trend", "分钟走势"),
    "kind_sales": ("sales", "销售明细"),
    "kind_stock": ("unsold-stock baseline", "滞销台账"),
    "kind_catalogue": ("product catalogue", "商品目录"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    # alerts: the bell, a session's banner, the Alerts page
    "page_alerts": ("Alerts", "告警"),
    "alert_bell": ("Alerts · {n}", "告警 · {n}"),
    "alert_bell_help": ("Firing alerts (muted ones left out): open the Alerts page",
                        "正在告警的数量（不含已静音）：打开告警页"),
    "alert_firing": ("Firing", "正在告警"),
    "alert_history": ("History", "历史记录"),
    "alert_none_firing": ("No alert is firing.", "当前没有告警。"),
    "alert_no_history": ("No resolved alert yet.", "暂无已恢复的告警。"),
    "alert_rule": ("Rule", "规则"),
    "alert_county": ("County", "县区"),
    "alert_what": ("What", "情况"),
    "alert_first_seen": ("First seen", "首次发现"),
    "alert_last_seen": ("Last seen", "最近一次"),
    "alert_resolved_at": ("Resolved", "恢复时间"),
    "alert_status": ("Status", "状态"),
    "alert_sent": ("Sent", "已发送"),
    "alert_acknowledged": ("acknowledged by {who}", "已由 {who} 确认"),
    "alert_muted": ("muted", "已静音"),
    "alert_all": ("All", "全部"),
    "alert_pick": ("Alert", "告警"),
    "alert_acknowledge": ("Acknowledge", "确认"),
    "alert_mute": ("Mute (no more messages)", "静音（不再发送消息）"),
    "alert_done_ack": ("Acknowledged.", "已确认。"),
    "alert_done_mute": ("Muted: no more messages about it, and off the bell.",
                        "已静音：不再发送该告警的消息，也不计入告警数。"),
    "alert_staff_only": ("Staff can acknowledge or mute an alert (sign in on the sidebar).",
                         "工作人员可确认或静音告警（请在侧边栏登录）。"),
    "alert_settings_error": ("Alerts are not evaluated: {error}", "告警未能评估：{error}"),
    "alert_unreadable": ("The alerts cannot be read from the store now; the server's log says why.",
                         "暂时无法从数据库读取告警，原因见服务器日志。"),
}


def t(key: str, lang: str = DEFAULT_LANG, /, **fields: object) -> str:
    """The text of `key` in `lang`, with its fields filled in; an unknown key is a bug (KeyError)."""
    en, zh = TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**fields) if fields else text


def money(fen: int | float | None, lang: str = DEFAULT_LANG) -> str:
    """Fen as the pages show money, everywhere: whole 元 up to 100,000 元, then 万元 with one decimal, and
    from 1,000 万元 whole 万元 (short enough for a card); "—" when unknown."""
    if fen is None:
        return "—"
    yuan = fen / 100
    if abs(yuan) >= 10_000_000:
        return f"{yuan / 10_000:,.0f} {t('wan_yuan', lang)}"
    if abs(yuan) >= 99_999.5:  # what would read "100,000 元" reads "10.0 万元"
        return f"{yuan / 10_000:,.1f} {t('wan_yuan', lang)}"
    return f"{yuan:,.0f} {t('yuan', lang)}"


def count(value: int | float | None) -> str:
    """A count with thousands separators; "—" when unknown."""
    return "—" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    """A share (1 = 100%) to one decimal; "—" when unknown."""
    return "—" if value is None else f"{value * 100:.1f}%"


def vocab(prefix: str, value: str | None, lang: str = DEFAULT_LANG) -> str:
    """A stored vocabulary value (host kind, platform, kind) shown in `lang`; unknown values as written."""
    if value is None:
        return t(f"{prefix}_unknown", lang) if f"{prefix}_unknown" in TEXT else ""
    key = f"{prefix}_{value}"
    return t(key, lang) if key in TEXT else value


# Every ASCII punctuation character: CommonMark lets each be backslash-escaped, and between them they start
# all of markdown (links, images, emphasis, HTML, lists) and Streamlit's own additions (:red[…], :material/…:,
# $LaTeX$). A newline could start a new block, so lines are joined.
_MARKDOWN: Final = re.compile(r"([!-/:-@\[-`{-~])")
# GitHub-flavoured markdown also makes links of bare addresses (http://…, www.…, a@b.cn) found in the text
# after escapes are read; an invisible word joiner where they start keeps them text.
_BARE_LINK: Final = re.compile(r"(?=://)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER: Final = "\u2060"


def unlinked(text: str) -> str:
    """Text on one line in which a bare address (http://…, www.…, a@b.cn) gets an invisible word joiner where it
    starts: shown as written, never made a link (markdown here and in a robot's message, a mail reader)."""
    return _BARE_LINK.sub(WORD_JOINER, " ".join(text.splitlines()))


def plain(value: Any) -> str:
    """Text from a file (a name, a title, a header, a file name) as markdown that shows exactly that text: for
    st.markdown, captions, messages and widget labels, which all read markdown. A bare address gets an invisible
    word joiner, so it is shown but not linked. (HTML, as in small_table, is escaped with html.escape; charts
    make text inert in charts.figure.)"""
    return _MARKDOWN.sub(r"\\\1", unlinked("" if value is None else str(value)))


# A problem found in a file (read.Problem), said after its place and value: key -> (English, 中文). The fields
# are str.format fields; a Chinese text names the same ones, except DETAIL fields: a library's or the system's
# own words, which the English keeps (for the log and a report) and the Chinese says the meaning of instead.
# The English texts are what the CLI, `watch` and the logs print.
PROBLEMS: Final[dict[str, tuple[str, str]]] = {
    # the file as a whole
    "empty": ("the file is empty", "文件是空的"),
    "binary": ("this is a binary file, not a CSV or XLSX export", "这是二进制文件，不是 CSV 或 XLSX 导出文件"),
    "encoding": ("bytes {bytes} at byte {at} of the line are neither UTF-8 nor GBK/GB18030; save the file as UTF-8 "
                 "or GBK and upload it again",
                 "本行第 {at} 个字节起的字节 {bytes} 既不是 UTF-8 也不是 GBK/GB18030 编码；请将文件另存为 UTF-8 或 GBK "
                 "编码后重新上传"),
    "symlink": ("is a symbolic link; only files in the folder itself are read",
                "是符号链接；只读取文件夹中的文件本身"),
    "not_a_file": ("is not a file (a folder, a device or a pipe); give an exported CSV or XLSX file",
                   "不是普通文件（而是文件夹、设备或管道）；请提供导出的 CSV 或 XLSX 文件"),
    "os_error": ("cannot be read: {error}", "无法读取此文件（操作系统报错：没有权限、文件已不存在或磁盘出错）"),
    "xls": ("old .xls workbooks are not read; save it as .xlsx or CSV",
            "不支持旧版 XLS 工作簿；请另存为 XLSX 或 CSV 后重新上传"),
    "too_large": ("is {size}; uploads are capped at {cap} (RELIEF_LIVE_MAX_UPLOAD_MB); split the file, or load it "
                  "with `python -m relief_live ingest`",
                  "文件大小为 {size}，超过上传上限 {cap}；请拆分文件，或请管理员从命令行导入"),
    "changed": ("changed while it was being read; ingest it again once it is complete",
                "读取过程中文件被修改；请等文件写完后重新导入"),
    "unexpected": ("cannot be read ({error_type}: {error}); nothing was stored. Please report this with the file",
                   "读取时出现意外错误，未存入任何数据。请将此文件发给技术支持人员"),
    "store_failed": ("cannot be checked: the store failed ({error})",
                     "无法检查：数据库出错（磁盘已满、文件损坏或被占用）；请联系管理员"),
    # CSV text
    "nul_byte": ("holds a NUL byte at character {at} of the line: the file is damaged or not text; export it again",
                 "本行第 {at} 个字符处有空字节：文件已损坏或不是文本文件；请重新导出"),
    "too_many_columns": ("has {columns:,} columns; exports have at most {limit:,}",
                         "有 {columns:,} 列；导出文件最多 {limit:,} 列"),
    "first_line_long": ("the first line is over {limit:,} characters long; this is not a sales export",
                        "第一行超过 {limit:,} 个字符；这不是销售导出文件"),
    "header_csv": ("the header line cannot be read as CSV: {error}",
                   "表头行无法按 CSV 格式读取（引号不成对或格式有误）；请重新导出"),
    "no_headers": ("the first line has no column headers", "第一行没有列标题"),
    "csv_unreadable": ("cannot be read as CSV: {error}", "无法按 CSV 格式读取：引号或分隔符有误；请重新导出"),
    "line_long": ("is over {limit:,} characters long; this is not a sales export",
                  "本行超过 {limit:,} 个字符；这不是销售导出文件"),
    "ragged": ("has {got} fields where the header has {width}", "有 {got} 个字段，而表头有 {width} 个"),
    "after_quote": ("has text after the closing quote of a quoted field: its quotes are broken; export the file "
                    "again", "带引号的字段在结束引号之后还有文字：引号有误；请重新导出"),
    # workbooks
    "xlsx_unreadable": ("cannot be read as an XLSX workbook: {error}",
                        "无法作为 XLSX 工作簿读取：文件已损坏，或不是 Excel、WPS 保存的工作簿；请重新导出"),
    "zip_bomb": ("unpacks to {unpacked:,} bytes from {packed:,}; refused as a zip bomb",
                 "解压后为 {unpacked:,} 字节（文件本身 {packed:,} 字节）；疑似压缩炸弹，已拒绝"),
    "zip_bomb_more": ("unpacks to more than {limit:,} bytes from {packed:,}; refused as a zip bomb",
                      "解压后超过 {limit:,} 字节（文件本身 {packed:,} 字节）；疑似压缩炸弹，已拒绝"),
    "formula": ("cell {cell} is a formula whose value was never computed (the workbook was written by a program and "
                "not saved by Excel or WPS since); open it and save it, or export CSV",
                "单元格 {cell} 是公式，但其值从未计算过（工作簿由程序生成，之后未用 Excel 或 WPS 保存）；请打开并保存，"
                "或导出为 CSV"),
    "no_header_row": ("the first row has no column headers", "第一行没有列标题"),
    "workbook_disagrees": ('says "{said}" where sheet {sheet} line {line} says "{other}" ({header}); the workbook '
                           "disagrees with itself: export it again",
                           "为“{said}”，而工作表 {sheet} 第 {line} 行（{header}）为“{other}”：工作簿前后不一致；请重新导出"),
    "totals_no_session": ("holds one live session's product totals (罗盘 货品明细) and names no session: put the "
                          "session's id or room number (房间号) in the file's name, or give --session-id (on the "
                          "Upload page, choose the session)",
                          "这是单场直播的商品汇总（罗盘货品明细），但未指明场次：请在文件名中写上场次ID或房间号，"
                          "或在上传页选择场次（命令行：--session-id）"),
    # headers and kind
    "kind_given": ("unknown kind {given!r}; use one of {kinds}", "未知的数据类型“{given}”；可选：{kinds}"),
    "no_kind": ("are the headers: they fit no known kind of file ({kinds}){closest}",
                "是文件的表头：不符合任何已知的数据类型（{kinds}）{closest}"),
    "several_kinds": ("the headers fit several kinds ({kinds}); choose one with --kind",
                      "表头同时符合多种数据类型（{kinds}）；请只保留一种数据类型的列"),
    "duplicate_column": ("duplicate column: {header!r} (column {position}) and {other!r} both give {canonical}; "
                         "keep one", "重复的列：“{header}”（第 {position} 列）和“{other}”都对应“{canonical}”；请只保留一列"),
    "duplicate_header": ("duplicate column: {header!r} (column {position}) and {other!r} both give the same header; "
                         "keep one", "重复的列：“{header}”（第 {position} 列）和“{other}”表头相同；请只保留一列"),
    "missing_column": ("a {kind} file needs the column {canonical} (headers: {aliases}){how}{near}",
                       "{kind}文件需要“{canonical}”列（表头可写：{aliases}）{how}{near}"),
    "sessions_one_id": ("has {n} sessions and no session id column; a session id given at upload (--session-id) would "
                        "make them one session, each row overwriting the one before: add a 直播ID column, or upload "
                        "the sessions one file each",
                        "有 {n} 场直播但没有“直播ID”列；上传时填写的直播ID会把它们合成一场，后一行覆盖前一行：请添加"
                        "“直播ID”列，或每场直播单独一个文件上传"),
    "no_measure": ("a ticks file needs at least one measure column, such as 实时在线人数 or 成交金额",
                   "分钟走势文件至少需要一个指标列，例如“实时在线人数”或“成交金额”"),
    # values
    "not_a_number": ("is not a number", "不是数字"),
    "number_range": ("is a range; give one number (ranges are estimates, not figures)",
                     "是一个范围；请填写一个数字（范围是估计值，不是实际数字）"),
    "number_digits": ("is not a number: write its digits as 0-9", "不是数字：请用 0-9 书写数字"),
    "not_whole": ("is not a whole number", "不是整数"),
    "negative": ("is negative; quantities, counts and amounts must be 0 or more",
                 "是负数；数量、计数和金额不能小于 0"),
    "not_a_time": ("is not a time (write e.g. 2020-09-06 19:01, 2020/9/6 19:01 or 2020年9月6日 19:01)",
                   "不是时间（例如 2020-09-06 19:01、2020/9/6 19:01 或 2020年9月6日 19:01）"),
    "not_a_date": ("is not a date (write e.g. 2020-03-31, 2020/3/31 or 20200331)",
                   "不是日期（例如 2020-03-31、2020/3/31 或 20200331）"),
    "far_time": ("is before 1900 or after 2199: not a time of a sale or a broadcast",
                 "早于 1900 年或晚于 2199 年：不是销售或直播的时间"),
    "not_a_duration": ("is not a duration (write e.g. 2小时30分, 150分钟 or 5400 seconds)",
                       "不是时长（例如 2小时30分、150分钟 或 5400 秒）"),
    "not_a_host_kind": ("is not a host kind: use broadcast (电视直播, 媒体直播, 达人直播, 网红) or cadre (干部直播, 干部带货, "
                        "书记直播, 县长直播)", "不是主播类型：请填写媒体/达人直播（电视直播、媒体直播、达人直播、网红）或"
                        "干部直播（干部直播、干部带货、书记直播、县长直播）"),
    "host_kind_given": ('"{given}" is not a host kind: use broadcast or cadre',
                        "“{given}”不是主播类型：请选择媒体/达人直播或干部直播"),
    "scientific_id": ("is an id in scientific notation: the spreadsheet has rounded its digits away; export the file "
                      "again with this column as text",
                      "是科学计数法形式的编号：表格软件已把它的末几位数字舍掉；请将此列设为文本格式后重新导出"),
    "unknown_status": ("is not a status this dashboard knows (known: {known} …)",
                       "不是本系统认识的状态（已知：{known} …）"),
    "not_a_weight": ("is not a weight (write e.g. 10斤 or 5kg)", "不是重量（例如 10斤 或 5kg）"),
    "empty_required": ("is empty; it is required", "为空；此列必填"),
    "ends_before_start": ("ends before it starts", "下播时间早于开播时间"),
    "time_of_day_only": ("gives a time of day only, and session {session} has no start time in the store: ingest its "
                         "sessions file first, or give full dates",
                         "只有时刻没有日期，而数据库中场次 {session} 没有开播时间：请先导入其场次文件，或填写完整日期"),
    "more": ("and {n} more problems", "另有 {n} 个问题"),
    # parts of the texts above (Phrase fields)
    "closest": ("; it comes closest to a {kind} file, which needs a column {missing}",
                "；最接近{kind}文件，但缺少以下列：{missing}"),
    "how_session": ("; or give the session id (--session-id or the upload form)", "；或在上传表单中选择或填写场次"),
    "how_host_kind": ("; or give the host kind (--host-kind or the upload form)", "；或在上传表单中选择主播类型"),
    "near_miss": ('; did you mean "{alias}" for the header "{header}"?', "；表头“{header}”是否应为“{alias}”？"),
}

# Problem fields that are the system's or a library's own words: the English says them, the Chinese its meaning.
DETAIL: Final = frozenset({"error", "error_type"})
# Problem fields whose values come from the file or from what a person gave (headers, cells, ids, the header
# vocabulary): shown as they are, in either language (and through `plain` where markdown shows them).
FROM_FILE: Final = frozenset({"bytes", "cell", "given", "header", "other", "aliases", "alias", "known", "session",
                              "said", "sheet"})


class Phrase(NamedTuple):
    """A part of a problem's text (a PROBLEMS key and its fields), given as a field of another."""

    key: str
    fields: dict[str, Any]


def problem_text(key: str, fields: dict[str, Any], lang: str = DEFAULT_LANG) -> str:
    """A problem's text in `lang`: fields naming kinds and columns in that language, lists joined as it writes them."""
    en, zh = PROBLEMS[key]
    shown = {name: _problem_field(name, value, lang) for name, value in fields.items()}
    return (zh if lang == "zh" else en).format(**shown)


def _problem_field(name: str, value: Any, lang: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, Phrase):
        return problem_text(value.key, value.fields, lang)
    if name == "missing":  # the columns a kind needs: [[(canonical, [alias, …]), …], …], one of each inner list
        if lang == "zh":
            return "；".join("或".join(f"“{column_label(c, lang)}”（{'、'.join(a)} …）" for c, a in one_of)
                            for one_of in value)
        return "; ".join(" or ".join(f"{c} ({', '.join(a)} …)" for c, a in one_of) for one_of in value)
    if lang != "zh":
        return ", ".join(map(str, value)) if isinstance(value, list | tuple) else value
    if name == "kind":
        return vocab("kind", value, lang)
    if name == "kinds":
        return "、".join(vocab("kind", k, lang) for k in value)
    if name == "canonical":
        return column_label(value, lang)
    return "、".join(map(str, value)) if isinstance(value, list | tuple) else value


def column_label(name: str, lang: str = DEFAULT_LANG) -> str:
    """A canonical column (schema) as a person reads it: its English name, or in Chinese its label (its first
    header alias where the dashboard has none)."""
    if lang != "zh":
        return name
    if name in TEXT:
        return t(name, lang)
    from relief_live import schema  # schema is data about files; the texts need it only here

    aliases = [f.aliases[0] for fields in schema.KINDS.values() for f in fields if f.name == name and f.aliases]
    return aliases[0] if aliases else name
