"""Alert messages (Chinese by default) and their delivery: WeCom, DingTalk and Feishu robots, a JSON webhook, e-mail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Final
from zoneinfo import ZoneInfo

from relief_live.alerts.rules import RULES, secrets, setting
from relief_live.i18n import count, money, percent, unlinked
from relief_live.metrics.common import ZONE

CHANNELS: Final = ("wecom", "dingtalk", "feishu", "webhook", "email")
DELAYS: Final = (1.0, 4.0)  # seconds before the second and the third try (a 5xx or a network failure)
TIMEOUT: Final = 10.0  # seconds an endpoint may take to answer
_RULES: Final = {rule.name: rule for rule in RULES}

# What each kind of message says, by language. Every title holds 告警 (Alert): a DingTalk robot guarded by a
# custom keyword takes them all with that one keyword.
_WORDS: Final = {
    "zh": {"firing": "【告警】", "resolved": "【告警恢复】", "test": "【告警测试】", "open": "在看板中查看",
           "since": "首次发现", "resolved_at": "恢复时间", "no_link": "（未设置 RELIEF_LIVE_PUBLIC_URL，无看板链接）",
           "test_text": "relief-live 告警通道测试：收到此消息即表示配置正确。", "subject": "对象"},
    "en": {"firing": "[Alert] ", "resolved": "[Alert resolved] ", "test": "[Alert test] ", "open": "Open in the dashboard",
           "since": "First seen", "resolved_at": "Resolved", "no_link": "(RELIEF_LIVE_PUBLIC_URL is not set: no link)",
           "test_text": "relief-live alert channel test: this message means the channel is set up.",
           "subject": "Subject"},
}


def _qty(value: Any) -> str:  # a stock quantity keeps its decimals (i18n.count rounds to whole)
    return "—" if value is None else f"{float(value):,.10g}"


def _clock(iso: Any) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(str(iso)).astimezone(ZoneInfo(ZONE)).strftime("%H:%M")


# One line of facts per rule and language (facts: rules.py's, as stored).
_FACTS: Final[dict[str, dict[str, Callable[[Mapping[str, Any]], str]]]] = {
    "village_stalled": {
        "zh": lambda f: f"{f['village']} 的 {f['product']} 已 {f['days']} 天无销售：剩余 {_qty(f['remaining_qty'])} "
                        f"{f['unit']}，已售 {percent(f['sell_through'])}",
        "en": lambda f: f"{f['village']}'s {f['product']} has sold nothing for {f['days']} days: "
                        f"{_qty(f['remaining_qty'])} {f['unit']} remain, {percent(f['sell_through'])} sold"},
    "village_deadline": {
        "zh": lambda f: f"{f['village']} 的 {f['product']} 预计清零日 {f['clear_date'] or '无（没有销售进度）'}，"
                        f"晚于目标日期 {f['target']}；剩余 {_qty(f['remaining_qty'])} {f['unit']}",
        "en": lambda f: f"{f['village']}'s {f['product']} clears on {f['clear_date'] or 'no date (no pace)'}, after "
                        f"the target {f['target']}; {_qty(f['remaining_qty'])} {f['unit']} remain"},
    "session_viewers_drop": {
        "zh": lambda f: f"{f['title']}（{f['host']}）在线人数 5 分钟内从 {count(f['peak'])} 降至 {count(f['latest'])}"
                        f"（下降 {percent(f['fall'])}）",
        "en": lambda f: f"{f['title']} ({f['host']}): viewers online fell from {count(f['peak'])} to {count(f['latest'])} "
                        f"within 5 minutes ({percent(f['fall'])})"},
    "session_no_orders": {
        "zh": lambda f: f"{f['title']}（{f['host']}）{f['minutes']:g} 分钟无成交，在线 {count(f['viewers'])} 人",
        "en": lambda f: f"{f['title']} ({f['host']}): no order for {f['minutes']:g} minutes with "
                        f"{count(f['viewers'])} viewers online"},
    "session_gmv_slow": {
        "zh": lambda f: f"{f['title']}（{f['host']}）每小时成交额 {money(f['gmv_per_hour'], 'zh')}，"
                        f"低于同类直播中位数 {money(f['median'], 'zh')} 的一半",
        "en": lambda f: f"{f['title']} ({f['host']}): GMV per hour {money(f['gmv_per_hour'], 'en')}, under half the "
                        f"median of its host kind ({money(f['median'], 'en')})"},
    "ticks_stopped": {
        "zh": lambda f: f"{f['title']}（{f['host']}）的分钟数据已 {f['minutes']} 分钟未更新"
                        f"（最后一条 {_clock(f['last_tick'])}）：请检查平台导出或文件夹监控",
        "en": lambda f: f"{f['title']} ({f['host']}): no minute tick for {f['minutes']} minutes (the last at "
                        f"{_clock(f['last_tick'])}); check the platform's export or the folder watcher"},
    "upload_rejected": {
        "zh": lambda f: f"文件 {f['file']} 被拒收：{f.get('problem_zh') or f['problem']}",
        "en": lambda f: f"{f['file']} was rejected: {f['problem']}"},
}


@dataclass(frozen=True)
class Message:
    """One message, as every channel sends it: a title line, Markdown text, the same as plain text, a link."""

    kind: str  # firing | resolved | test
    title: str
    text: str  # Markdown (WeCom, DingTalk)
    plain: str  # plain text (Feishu, e-mail)
    link: str | None
    alert: Mapping[str, Any] | None = None


def link(page: str, params: Mapping[str, Any], lang: str, base: str | None) -> str | None:
    """The dashboard view of an alert, as a share link: the page's address and its URL params."""
    if not base:
        return None
    query = dict(params)
    if lang != "en":
        query["lang"] = lang
    address = base.rstrip("/") + (f"/{page}" if page else "")
    encoded = urllib.parse.urlencode(query, doseq=True)
    return f"{address}?{encoded}" if encoded else address


def language(given: Mapping[str, Any] | None = None) -> str:
    value = configured("alert_lang", given) or "zh"
    return value if value in _WORDS else "zh"


def message(alert: Mapping[str, Any], kind: str, *, lang: str = "zh", base: str | None = None) -> Message:
    """The firing or resolved message of a stored alert (a row of the alerts table)."""
    words, rule = _WORDS[lang], _RULES[alert["rule"]]
    facts = json.loads(alert["facts"])
    name = rule.title if lang == "zh" else rule.title_en
    title = f"{words[kind]}{name}"
    when = datetime.fromtimestamp((alert["resolved_at"] if kind == "resolved" else alert["first_seen"]) / 1000, UTC)
    stamp = f"{words['resolved_at' if kind == 'resolved' else 'since']}：{when.astimezone(ZoneInfo(ZONE)):%Y-%m-%d %H:%M}"
    url = link(alert["page"], json.loads(alert["params"]), lang, base)
    tail_md = f"[{words['open']}]({url})" if url else words["no_link"]
    tail = f"{words['open']}：{url}" if url else words["no_link"]

    def said(inert: Callable[[Any], Any]) -> tuple[str, str]:  # the facts' line and the subject's, text made inert
        line = _FACTS[alert["rule"]][lang]({k: inert(v) for k, v in facts.items()})
        county = f"（{inert(alert['county'])}）" if alert.get("county") else ""
        return line, f"{words['subject']}：{inert(alert['subject'])}{county}"

    line_md, where_md = said(_inert_markdown)
    line, where = said(_unlinked)
    return Message(kind, title, f"**{title}**\n\n{line_md}\n\n{where_md}\n\n{stamp}\n\n{tail_md}",
                   f"{title}\n{line}\n{where}\n{stamp}\n{tail}", url, alert)


# Text from files (a session's title, a village, a file's problem) in a message: in Markdown, the characters
# that would make a link, an image, HTML, code or emphasis become their full-width forms (a Chinese reader
# reads them the same); a bare address, in either form, gets an invisible word joiner and is not linked.
_MARKUP: Final = str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "`": "｀",
                                "*": "＊", "_": "＿", "#": "＃", "!": "！", "|": "｜", "~": "～"})


def _unlinked(value: Any) -> Any:
    return unlinked(value) if isinstance(value, str) else value


def _inert_markdown(value: Any) -> Any:
    return _unlinked(value.translate(_MARKUP)) if isinstance(value, str) else value


def test_message(*, lang: str = "zh", base: str | None = None) -> Message:
    words = _WORDS[lang]
    url = link("alerts", {}, lang, base)
    title = f"{words['test']}relief-live"
    tail_md = f"[{words['open']}]({url})" if url else words["no_link"]
    tail = f"{words['open']}：{url}" if url else words["no_link"]
    return Message("test", title, f"**{title}**\n\n{words['test_text']}\n\n{tail_md}",
                   f"{title}\n{words['test_text']}\n{tail}", url)


# -- channels -------------------------------------------------------------------------------------------------
class Transient(Exception):
    """A failure worth another try (a 5xx answer, a network error)."""


class Refused(Exception):
    """A failure another try will not mend (a 4xx, a robot's error code: a wrong key or signature)."""


# The delivery settings: a key of secrets.toml, else its environment variable (docs/deployment.md, docs/alerts.md).
SETTINGS: Final[dict[str, tuple[str, str]]] = {
    "public_url": ("RELIEF_LIVE_PUBLIC_URL", "the dashboard's address as people open it: messages link to it"),
    "alert_lang": ("RELIEF_LIVE_ALERT_LANG", "zh (default) or en: the language of messages"),
    "wecom_webhook": ("RELIEF_LIVE_WECOM_WEBHOOK", "a WeCom group robot's webhook address"),
    "dingtalk_webhook": ("RELIEF_LIVE_DINGTALK_WEBHOOK", "a DingTalk group robot's webhook address"),
    "dingtalk_secret": ("RELIEF_LIVE_DINGTALK_SECRET", "its signing secret (SEC…), when signing is on"),
    "feishu_webhook": ("RELIEF_LIVE_FEISHU_WEBHOOK", "a Feishu group bot's webhook address"),
    "feishu_secret": ("RELIEF_LIVE_FEISHU_SECRET", "its signing secret, when signature verification is on"),
    "alert_webhook": ("RELIEF_LIVE_ALERT_WEBHOOK", "any address that takes a JSON POST of each message"),
    "smtp_host": ("RELIEF_LIVE_SMTP_HOST", "an SMTP server: e-mail on"),
    "smtp_port": ("RELIEF_LIVE_SMTP_PORT", "its port (default 465 with ssl, 587 with starttls, else 25)"),
    "smtp_tls": ("RELIEF_LIVE_SMTP_TLS", "ssl, starttls or none (default)"),
    "smtp_user": ("RELIEF_LIVE_SMTP_USER", "the SMTP login, when it asks for one"),
    "smtp_password": ("RELIEF_LIVE_SMTP_PASSWORD", "its password"),
    "smtp_from": ("RELIEF_LIVE_SMTP_FROM", "the sender address (default: the login)"),
    "smtp_to": ("RELIEF_LIVE_SMTP_TO", "the addresses, separated by commas"),
}


def configured(name: str, given: Mapping[str, Any] | None = None) -> str | None:
    """A delivery setting: secrets.toml's `name`, else its environment variable."""
    value = setting(name, secrets() if given is None else given, env_name=SETTINGS[name][0])
    return None if value is None else str(value)


def channels(given: Mapping[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """The configured channels and their settings."""
    given = secrets() if given is None else given

    def get(name: str) -> str | None:
        return configured(name, given)

    found: dict[str, dict[str, str]] = {}
    if url := get("wecom_webhook"):
        found["wecom"] = {"url": url}
    if url := get("dingtalk_webhook"):
        found["dingtalk"] = {"url": url, "secret": get("dingtalk_secret") or ""}
    if url := get("feishu_webhook"):
        found["feishu"] = {"url": url, "secret": get("feishu_secret") or ""}
    if url := get("alert_webhook"):
        found["webhook"] = {"url": url}
    if host := get("smtp_host"):
        found["email"] = {"host": host, "port": get("smtp_port") or "", "user": get("smtp_user") or "",
                          "password": get("smtp_password") or "", "from": get("smtp_from") or "",
                          "to": get("smtp_to") or "", "tls": get("smtp_tls") or ""}
    return found


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature of a request: HMAC-SHA256 of "timestamp\\nsecret" keyed by the secret, base64."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature: HMAC-SHA256 keyed by "timestamp\\nsecret" of an empty message, base64."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _post(url: str, body: Mapping[str, Any]) -> dict[str, Any]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        raise (Transient if error.code >= 500 else Refused)(f"HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise Transient(str(getattr(error, "reason", error))) from None
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = {}
    return answer if isinstance(answer, dict) else {}


def _robot_ok(answer: Mapping[str, Any], code: str) -> str:
    """A robot's answer: errcode / code 0 is taken; another is refused with its own words."""
    value = answer.get(code, answer.get("StatusCode", 0))
    if value not in (0, None):
        raise Refused(f"{code} {value}: {answer.get('errmsg') or answer.get('msg') or ''}".strip())
    return "ok"


def send_wecom(config: Mapping[str, str], msg: Message) -> str:
    return _robot_ok(_post(config["url"], {"msgtype": "markdown", "markdown": {"content": msg.text}}), "errcode")


def send_dingtalk(config: Mapping[str, str], msg: Message, *, clock: Callable[[], float] = time.time) -> str:
    url = config["url"]
    if config.get("secret"):
        stamp = int(clock() * 1000)
        sign = urllib.parse.quote_plus(dingtalk_sign(config["secret"], stamp))
        url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={sign}"
    body = {"msgtype": "markdown", "markdown": {"title": msg.title, "text": msg.text}}
    return _robot_ok(_post(url, body), "errcode")


def send_feishu(config: Mapping[str, str], msg: Message, *, clock: Callable[[], float] = time.time) -> str:
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": msg.plain}}
    if config.get("secret"):
        stamp = int(clock())
        body = {"timestamp": str(stamp), "sign": feishu_sign(config["secret"], stamp), **body}
    return _robot_ok(_post(config["url"], body), "code")


def send_webhook(config: Mapping[str, str], msg: Message) -> str:
    alert = msg.alert or {}
    body = {
        "state": msg.kind, "title": msg.title, "text": msg.plain, "link": msg.link,
        "rule": alert.get("rule"), "subject": alert.get("subject"), "county": alert.get("county"),
        "first_seen": _iso(alert.get("first_seen")), "resolved_at": _iso(alert.get("resolved_at")),
        "facts": json.loads(alert["facts"]) if alert.get("facts") else {},
    }
    _post(config["url"], body)
    return "ok"


def _iso(ms: Any) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(ZONE)).isoformat()


def send_email(config: Mapping[str, str], msg: Message) -> str:
    to = [a.strip() for a in config.get("to", "").split(",") if a.strip()]
    if not to:
        raise Refused("RELIEF_LIVE_SMTP_TO names no address")
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = config.get("from") or config.get("user") or "relief-live@localhost"
    mail["To"] = ", ".join(to)
    mail.set_content(msg.plain)
    tls = (config.get("tls") or "").lower()
    port = int(config.get("port") or (465 if tls == "ssl" else 587 if tls == "starttls" else 25))
    try:
        if tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(config["host"], port, timeout=TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(config["host"], port, timeout=TIMEOUT)
        with client:
            if tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if config.get("user"):
                client.login(config["user"], config.get("password", ""))
            client.send_message(mail)
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as error:
        raise Refused(f"SMTP {type(error).__name__}") from None
    except (OSError, smtplib.SMTPException) as error:
        raise Transient(f"SMTP {type(error).__name__}: {error}") from None
    return "ok"


SENDERS: Final[dict[str, Callable[[Mapping[str, str], Message], str]]] = {
    "wecom": send_wecom, "dingtalk": send_dingtalk, "feishu": send_feishu, "webhook": send_webhook,
    "email": send_email,
}


def send(channel: str, config: Mapping[str, str], msg: Message, *,
         log: Callable[[int, bool, str], None] = lambda attempt, ok, detail: None,
         delays: tuple[float, ...] = DELAYS, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Send one message on one channel: a failure worth it is tried again after each of `delays` (back-off).
    Each attempt is logged (attempt number, taken, the endpoint's answer or the error)."""
    for attempt in range(1, len(delays) + 2):
        try:
            detail = SENDERS[channel](config, msg)
        except Transient as error:
            log(attempt, False, str(error))
            if attempt > len(delays):
                return False
            sleep(delays[attempt - 1])
            continue
        except Refused as error:
            log(attempt, False, str(error))
            return False
        log(attempt, True, detail)
        return True
    return False
