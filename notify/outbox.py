"""The notification outbox: from "the case changed" to a message in someone's hand, without loss or doubles.

1. A case change records its notifications in the case document itself (one atomic write, see
   `server.cases.service`). The **relay** turns each into deliveries (one per recipient and channel) in `outbox`,
   keyed by a dedupe key under a unique index, then marks the notice relayed. A crash between the two steps
   only makes the next relay insert the same keys again, which the index refuses: nothing lost, nothing
   doubled. In-app messages go straight to the recipient's `inbox` the same way.
2. The **dispatcher** claims due deliveries in small batches under a lease (read the due ones, take
   those still due with one conditional update, read back what it took). Several dispatchers can run; a
   delivery whose dispatcher died is claimed again once its lease runs out.
3. SMS sending is not idempotent. Each SMS carries its delivery id as Aliyun's `OutId`. Whenever a
   previous attempt may have reached Aliyun (it timed out, or its dispatcher died mid-send), the next
   claim first asks QuerySendDetails whether a message with that OutId exists: if so it is marked sent,
   if Aliyun cannot say yet it waits, and only a confirmed absence sends again.
4. Failures: permanent ones (an illegal number, a refused or missing WeChat subscription, a bad template)
   are recorded with the provider's code and not retried; transient ones (throttling, timeouts, 5xx) are
   retried with exponential backoff and jitter until the message is `max_age_hours` old. WeChat's refusal
   (43101) falls back to SMS for residents who consented to SMS.
5. Etiquette: non-urgent SMS wait out quiet hours (22:00–07:00 by default, town time); red deadline
   warnings do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, get_args

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from notify.base import SendResult, SmsMessage, WebhookMessage, WechatMessage
from notify.inbox import InboxService
from notify.webhook import HttpWebhookSender
from server.cases.model import addressees
from server.cases.open311 import Open311
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound
from server.core.outage import DATABASE_DOWN
from server.core.scope import org_scope_filter, require_org_scope
from server.core.vocabulary import CATEGORIES, OUTCOME_LABELS, DeliveryChannel, DeliveryStatus
from server.people.partners import PartnerService, sign
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

log = logging.getLogger("sanyuan.outbox")

OUTBOX = "outbox"

indexes.declare(
    OUTBOX,
    IndexModel([("dedupe", ASCENDING)], name="dedupe", unique=True),
    IndexModel([("status", ASCENDING), ("next_at", ASCENDING)], name="due"),
    IndexModel([("org_path", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)], name="scope_status"),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING)], name="scope_created"),
    IndexModel([("user_id", ASCENDING), ("status", ASCENDING)], name="user_status"),
)

DEADLINE_NAMES = {"accept": "签收", "conclude": "办结", "follow_up": "回访", "supervision": "督办"}
TIER_NAMES = {"village": "村级", "town": "镇级", "county": "县级"}
# What each event says to each audience it goes to. `tests/test_notices.py` walks every pair the system
# sends and fails on a missing one; there is no generic fallback text.
EVENT_TEXT: dict[str, dict[str, str]] = {
    "case_registered": {"office": "新登记矛盾纠纷 {number}（{category}），请及时分派。"},
    "risk_high": {
        "office": "高风险矛盾纠纷 {number}（{category}），请立即研判处置。",
        "unit": "高风险矛盾纠纷 {number}（{category}）由你单位办理，请立即关注当事人情况。",
    },
    "risk_critical": {
        "office": "极高风险矛盾纠纷 {number}（{category}），可能激化（民转刑），请立即处置并考虑上报。",
        "unit": "极高风险矛盾纠纷 {number}（{category}）由你单位办理，请立即稳控当事人，必要时上报。",
    },
    "case_assigned": {"unit": "您有一件新的矛盾纠纷待签收：{number}（{category}），请在期限内签收。"},
    "case_assigned_resident": {"resident": "您反映的问题（{number}）已交调解组织办理。"},
    "case_accepted": {
        "resident": "您反映的问题（{number}）已由调解组织签收，正在调解。",
        "liaison": "贵单位转来的矛盾纠纷 {number}（{external_ref}）已由调解组织签收，正在调解。",
    },
    "case_concluded": {
        "resident": "您反映的问题（{number}）调解已结束：{outcome}。",
        "office": "矛盾纠纷 {number} 调解已结束（{outcome}），请核查。",
        "liaison": "贵单位转来的矛盾纠纷 {number}（{external_ref}）调解已结束：{outcome}。",
    },
    "case_closed": {"resident": "您反映的问题（{number}）已办结，感谢您的配合。"},
    "case_rejected": {"resident": "您反映的问题（{number}）不予受理，原因请在小程序中查看。"},
    "case_returned": {"office": "矛盾纠纷 {number} 被承办单位退回，请重新分派。"},
    "case_recalled": {"previous_unit": "矛盾纠纷 {number} 已被镇三源共治办公室收回，你单位无需继续办理。"},
    "case_escalated": {
        "unit": "矛盾纠纷 {number} 已上报至你单位（{tier}），请及时签收。",
        "office": "矛盾纠纷 {number} 已上报至{tier}调解组织。",
        "resident": "您反映的问题（{number}）已转由{tier}调解组织办理。",
    },
    "case_redo": {"unit": "矛盾纠纷 {number} 需要重新办理。"},
    "case_withdrawn": {"unit": "申请人已撤回矛盾纠纷 {number}，无需继续办理。"},
    "case_follow_up": {"office": "矛盾纠纷 {number} 已核查通过，请在期限内回访。"},
    "case_info_added": {"unit": "申请人为矛盾纠纷 {number} 补充了情况。"},
    "case_supervised": {"unit": "矛盾纠纷 {number} 已被督办，请按期办结。"},
    "suspend_requested": {"office": "矛盾纠纷 {number} 的承办单位申请挂起，等待您审批。"},
    "case_suspended": {"unit": "矛盾纠纷 {number} 的挂起申请已批准，期限暂停计算。"},
    "case_resumed": {"unit": "矛盾纠纷 {number} 已恢复办理，期限继续计算。"},
    "extension_requested": {"office": "矛盾纠纷 {number} 的承办单位申请延期，等待您审批。"},
    "extension_approved": {"unit": "矛盾纠纷 {number} 的延期申请已批准，办结期限已顺延。"},
    "extension_rejected": {"unit": "矛盾纠纷 {number} 的延期申请未获批准，请按原期限办结。"},
    "warning_yellow": {
        "unit": "矛盾纠纷 {number} 的{deadline}期限即将到期。",
        "office": "矛盾纠纷 {number} 的{deadline}期限即将到期，请督促承办单位。",
    },
    "warning_red": {
        "unit": "矛盾纠纷 {number} 已超过{deadline}期限，请立即处理。",
        "office": "矛盾纠纷 {number} 已超过{deadline}期限，请督促处理。",
    },
    "consultation_requested": {"expert": "您收到矛盾纠纷 {number}（{category}）的咨询请求，请在期限内答复。"},
    "consultation_answered": {"requester": "专家已答复矛盾纠纷 {number} 的咨询，请查看。"},
    "consultation_yellow": {
        "expert": "矛盾纠纷 {number} 的咨询即将到答复期限，请尽快答复。",
        "requester": "矛盾纠纷 {number} 的专家咨询即将到期，尚未答复。",
    },
    "consultation_red": {
        "expert": "矛盾纠纷 {number} 的咨询已超过答复期限，请尽快答复。",
        "requester": "矛盾纠纷 {number} 的专家咨询已超期未答复，可另请专家。",
    },
    "spot_check_mismatch": {"office": "抽查回访发现矛盾纠纷 {number} 的当事人不认可记录的办理结果，请核实。"},
    "request_updated": {"partner": "贵系统转来的矛盾纠纷 {number}（{external_ref}）办理状态有变化。"},
}
URGENT = {"warning_red", "risk_high", "risk_critical", "admin_new_device"}  # not held by quiet hours
SMS_EVENTS = {  # which audiences get an SMS for which events (in-app always)
    "unit": {
        "case_assigned",
        "case_escalated",
        "case_redo",
        "warning_yellow",
        "warning_red",
        "case_supervised",
        "risk_high",
        "risk_critical",
    },
    "previous_unit": {"case_recalled"},
    "office": {"warning_red", "risk_high", "risk_critical"},
    "resident": {
        "case_assigned_resident",
        "case_accepted",
        "case_concluded",
        "case_closed",
        "case_rejected",
        "case_escalated",
    },
    "liaison": {"case_accepted", "case_concluded"},
    "expert": {"consultation_requested", "consultation_yellow", "consultation_red"},
    "requester": set(),
    "partner": set(),  # a partner system hears through its webhook (`Relay._webhook`), never by SMS
}


def in_quiet_hours(now_local: datetime, window: str) -> datetime | None:
    """The end of the quiet window if `now_local` falls in it, else None (an empty window: never)."""
    if not window:
        return None
    start_text, end_text = window.split("-")
    start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    clock = now_local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    ends = now_local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return ends if ends > now_local else ends + timedelta(days=1)


# What every delivery and inbox message copies from its notice.
DELIVERY_BASE = ("case_id", "notice_id", "event", "org_path", "text", "params", "urgent", "created_at")


def message_base(
    about_id: ObjectId,
    event: str,
    org_path: list[ObjectId],
    text: str,
    now: datetime,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a message not raised by a case's notice carries (a rating published, a supervision notice, a
    warning, the daily 研判): the base of `inbox_message` and `new_delivery`."""
    return {
        "case_id": None,
        "notice_id": about_id,
        "event": event,
        "org_path": org_path,
        "text": text,
        "params": params or {},
        "urgent": False,
        "created_at": now,
    }


def inbox_message(base: dict[str, Any], key: str, user_id: ObjectId) -> dict[str, Any]:
    """An in-app message for one recipient; `key` + ":inapp" is its dedupe key."""
    return {**base, "dedupe": f"{key}:inapp", "channel": "inapp", "user_id": user_id, "read_at": None}


def new_delivery(
    base: dict[str, Any], key: str, channel: str, user_id: ObjectId | None, **target: Any
) -> dict[str, Any]:
    """A pending outbox delivery for one recipient on one channel; `key` + channel is its dedupe key. The one
    builder of the delivery document (relay, WeChat→SMS fallback, tests and the benchmark all use it)."""
    return {
        **base,
        **target,
        "_id": ObjectId(),
        "dedupe": f"{key}:{channel}",
        "channel": channel,
        "user_id": user_id,
        "status": "pending",
        "next_at": base["created_at"],
        "attempts": 0,
        "attempt_days": [],
        "holder": None,
        "error": None,
    }


async def enqueue(ctx: Context, deliveries: list[dict[str, Any]]) -> None:
    """Queue deliveries built with `new_delivery` directly (operators' bulk sends, the benchmark)."""
    if deliveries:
        await ctx.db[OUTBOX].insert_many(deliveries)


async def tell_new_device(ctx: Context, user: dict[str, Any], user_agent: str) -> None:
    """An administrator's account signed in from a new device: the account's phone hears of it at once (an
    urgent SMS, through quiet hours), so that a stolen code shows."""
    if not user.get("phone_enc"):
        return
    now = ctx.clock.now()
    when = now.astimezone(ctx.tz).strftime("%m月%d日 %H:%M")
    device = (user_agent or "未知设备")[:40]
    text = f"您的管理员账号于{when}在新设备（{device}）登录。如非本人操作，请立即联系县综治中心。"
    base = message_base(user["_id"], "admin_new_device", [], text, now, {"time": when})
    base["urgent"] = True
    key = f"new-device:{user['_id']}:{int(now.timestamp() * 1000)}"
    await enqueue(ctx, [new_delivery(base, key, "sms", user["_id"], to_enc=user["phone_enc"])])


async def cancel_for(ctx: Context, user_id: ObjectId) -> int:
    """Messages not yet sent to a closed account: never sent (failed, `account_closed`), their number dropped."""
    changed = await ctx.db[OUTBOX].update_many(
        {"user_id": user_id, "status": {"$in": ["pending", "uncertain"]}},
        {
            "$set": {"status": "failed", "next_at": None, "error": {"code": "account_closed", "at": ctx.clock.now()}},
            "$unset": {"to_enc": "", "openid": ""},
        },
    )
    return int(changed.modified_count)


class Relay:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._db = ctx.db
        self._outbox = ctx.db[OUTBOX]

    async def run_once(self, limit: int = 200) -> int:
        """Relay pending notices from up to `limit` cases; return how many notices were relayed."""
        relayed = 0
        cases, inbox = CaseRepository(self._db), InboxService(self._ctx)
        async for case in cases.with_pending_notices(limit):
            for notice in case["notifications"]:
                if notice["status"] != "pending":
                    continue
                for delivery in await self._deliveries(case, notice):
                    if delivery["channel"] == "inapp":
                        await inbox.put(delivery)
                        continue
                    with contextlib.suppress(DuplicateKeyError):  # relayed before a crash: the first copy stands
                        await self._outbox.insert_one(delivery)
                await cases.mark_relayed(case["_id"], notice["id"])
                relayed += 1
        return relayed

    async def _recipients(self, case: dict[str, Any], notice: dict[str, Any]) -> list[dict[str, Any]]:
        """The people the notice was addressed to when the case changed (a notice recorded before notices
        carried their addressees: as the case is now)."""
        users, audience = UserService(self._ctx), notice["audience"]
        if "user_ids" not in notice:
            notice = notice | addressees(case, "unit" if audience == "previous_unit" else audience)
        if audience == "office":
            return await users.active_with_role_at(("town_admin",), notice.get("org_id"))
        if audience == "resident":
            found = [await users.find(user_id) for user_id in notice["user_ids"]]
            return [user for user in found if user]
        if notice["user_ids"]:
            return await users.active_by_ids(notice["user_ids"])
        if notice.get("org_id"):
            return await users.active_with_role_at(("mediator", "center_staff"), notice["org_id"])
        return []

    async def _deliveries(self, case: dict[str, Any], notice: dict[str, Any]) -> list[dict[str, Any]]:
        event, audience = notice["event"], notice["audience"]
        text = self._text(case, notice)
        now = self._ctx.clock.now()
        if audience == "partner":
            return await self._webhook(case, notice, text, now)
        base = {
            "case_id": case["_id"],
            "notice_id": notice["id"],
            "event": event,
            "org_path": case["org_path"],
            "text": text,
            "params": {"number": case["number"], "category": CATEGORIES.get(case["category"], "")},
            "urgent": event in URGENT,
            "created_at": now,
        }
        deliveries = []
        recipients = await self._recipients(case, notice)
        for user in recipients:
            key = f"{case['_id']}:{notice['id']}:{user['_id']}"
            deliveries.append(inbox_message(base, key, user["_id"]))
            channel = self._channel_for(user, audience, event)
            if channel == "wechat":
                deliveries.append(new_delivery(base, key, "wechat", user["_id"], to_enc=None, openid=user["openid"]))
            elif channel == "sms":
                deliveries.append(new_delivery(base, key, "sms", user["_id"], to_enc=user["phone_enc"]))
        if (
            audience == "resident"
            and not recipients
            and case.get("consent_contact")
            and event in SMS_EVENTS["resident"]
        ):
            applicant = next((p for p in case["parties"] if p["role"] == "applicant" and p.get("phone_enc")), None)
            if applicant:  # registered on the resident's behalf: they gave a phone and agreed to be contacted
                key = f"{case['_id']}:{notice['id']}:{applicant['phone_hash'][:16]}"
                deliveries.append(new_delivery(base, key, "sms", None, to_enc=applicant["phone_enc"]))
        return deliveries

    async def _webhook(
        self, case: dict[str, Any], notice: dict[str, Any], text: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The partner that handed the case over, told at its webhook URL (if it named one and is active) of
        the request as it is now, as the partner reads it through Open311."""
        partner_id = notice.get("partner_id") or case.get("partner_id")
        partner = await PartnerService(self._ctx).find(partner_id) if partner_id else None
        if partner is None or partner["revoked_at"] is not None or not partner.get("webhook_url"):
            return []
        case = await CaseRepository(self._db).get(case["_id"]) or case  # the relay reads only part of a case
        [request] = await Open311(self._ctx).views([case], partner["_id"])
        base = message_base(notice["id"], notice["event"], case["org_path"], text, now, {"number": case["number"]})
        payload = {
            "event": notice["event"],
            "jurisdiction_id": str(case["town_id"]),
            "external_ref": case.get("external_ref"),
            "service_request": request,
        }
        key = f"{case['_id']}:{notice['id']}:{partner['_id']}"
        delivery = new_delivery(
            base | {"case_id": case["_id"]}, key, "webhook", None, partner_id=partner["_id"], payload=payload
        )
        return [delivery]

    def _channel_for(self, user: dict[str, Any], audience: str, event: str) -> str | None:
        if event not in SMS_EVENTS.get(audience, set()):
            return None
        prefs = user.get("prefs") or {}
        if audience == "resident":
            wechat_ready = (
                user.get("openid") and prefs.get("wechat", True) and event in self._ctx.config.wechat.templates
            )
            if wechat_ready:
                return "wechat"
            return "sms" if prefs.get("sms_consent") and user.get("phone_enc") else None
        return "sms" if user.get("phone_enc") else None

    @staticmethod
    def _text(case: dict[str, Any], notice: dict[str, Any]) -> str:
        outcome = OUTCOME_LABELS.get((case.get("outcome") or {}).get("type", ""), "")
        template = EVENT_TEXT[notice["event"]][notice["audience"]]
        return template.format(
            number=case["number"],
            category=CATEGORIES.get(case["category"], ""),
            outcome=outcome,
            deadline=DEADLINE_NAMES.get(notice.get("deadline", ""), ""),
            tier=TIER_NAMES.get(notice.get("tier") or "", ""),
            external_ref=case.get("external_ref") or "无编号",
        )


class Dispatcher:
    def __init__(self, ctx: Context, holder: str | None = None) -> None:
        self._ctx = ctx
        self._outbox = ctx.db[OUTBOX]
        self._config = ctx.config.notify
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"

    async def claim(self, size: int = 1) -> list[dict[str, Any]]:
        """Take up to `size` due deliveries (pending, or whose lease or reconcile wait ran out), oldest due
        first, under one lease; [] when none is due. Each comes back as it is now, with `claimed_from`: the
        status it had (whether an earlier attempt may have reached the provider depends on it). Three
        index-served steps whatever `size` is: read the due ones, take those still due, read what was taken.
        When another dispatcher took them all in between, it tries again: there may be more."""
        while True:
            now = self._ctx.clock.now()
            due = {"status": {"$in": ["pending", "sending", "uncertain"]}, "next_at": {"$lte": now}}
            cursor = self._outbox.find(due, {"status": 1}).sort([("next_at", ASCENDING)]).limit(size)
            found = await cursor.to_list(None)
            if not found:
                return []
            claim = ObjectId()
            lease = {"status": "sending", "holder": self.holder, "claim": claim}
            lease["next_at"] = now + timedelta(seconds=self._config.lease_seconds)
            for status in {d["status"] for d in found}:
                ids = [d["_id"] for d in found if d["status"] == status]
                await self._outbox.update_many(
                    {"_id": {"$in": ids}, "status": status, "next_at": {"$lte": now}},
                    {"$set": lease | {"claimed_from": status}},
                )
            order = {d["_id"]: n for n, d in enumerate(found)}
            claimed = await self._outbox.find({"_id": {"$in": list(order)}, "claim": claim}).to_list(None)
            if claimed:
                return sorted(claimed, key=lambda message: order[message["_id"]])

    async def run_once(self) -> int:
        """Deliver everything due now; return how many deliveries were handled. One feeder claims batches of
        `claim_batch` and `concurrency` lanes send; the feeder stays at most one batch ahead of them, so a
        claimed delivery waits for a lane, not for its lease to run out."""
        handled = 0
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=self._config.claim_batch)

        async def feed() -> None:
            try:
                while batch := await self.claim(self._config.claim_batch):
                    for message in batch:
                        await queue.put(message)
            finally:
                for _ in range(self._config.concurrency):
                    await queue.put(None)

        async def lane() -> None:
            nonlocal handled
            while (message := await queue.get()) is not None:
                await self.process(message)
                handled += 1

        async with asyncio.TaskGroup() as group:  # one failing cancels the others; leases bring work back
            group.create_task(feed())
            for _ in range(self._config.concurrency):
                group.create_task(lane())
        return handled

    async def process(self, message: dict[str, Any]) -> None:
        now = self._ctx.clock.now()
        try:
            earlier = message["claimed_from"]
            if message["channel"] == "sms" and earlier in ("sending", "uncertain") and message["attempts"]:
                found = await self._ctx.senders.sms.was_sent(
                    self._phone(message), message["attempt_days"][-1], str(message["_id"])
                )
                if found is True:
                    await self._finish(message, {"status": "sent", "sent_at": now, "reconciled": True})
                    return
                if found is None:
                    await self._finish(
                        message,
                        {
                            "status": "uncertain",
                            "next_at": now + timedelta(seconds=self._config.reconcile_after_seconds),
                        },
                    )
                    return
            if now - message["created_at"] > timedelta(hours=self._config.max_age_hours):
                await self._finish(
                    message, {"status": "failed", "error": {"code": "expired", "detail": "超过最长重试时间", "at": now}}
                )
                return
            if message["channel"] == "sms" and not message["urgent"]:
                quiet_end = in_quiet_hours(now.astimezone(self._ctx.tz), self._config.quiet_hours)
                if quiet_end is not None:
                    await self._finish(message, {"status": "pending", "next_at": quiet_end, "held": True})
                    return
            result = await self._send(message, now)
            await self._record(message, result, now)
        except DATABASE_DOWN:
            raise  # the lease runs out and the delivery is claimed again once the database is back
        except Exception:
            log.exception("delivery %s failed unexpectedly; it will be retried", message["_id"])
            await self._finish(
                message, {"status": "pending", "next_at": now + timedelta(seconds=self._config.backoff_seconds)}
            )

    async def _send(self, message: dict[str, Any], now: datetime) -> SendResult:
        day = now.astimezone(self._ctx.tz).strftime("%Y%m%d")
        await self._outbox.update_one(
            {"_id": message["_id"], "holder": self.holder},
            {"$addToSet": {"attempt_days": day}, "$inc": {"attempts": 1}},
        )
        message["attempts"] += 1
        if message["channel"] == "webhook":
            return await self._send_webhook(message, now)
        if message["channel"] == "sms":
            sms = SmsMessage(
                phone=self._phone(message),
                template=message["event"],
                params=message["params"],
                text=message["text"],
                out_id=str(message["_id"]),
            )
            return await self._ctx.senders.sms.send(sms)
        template = self._ctx.config.wechat.templates.get(message["event"])
        if template is None:
            return SendResult(ok=False, error_code="template_not_configured", permanent=True)
        # One-time subscriptions allow one message each: take one, atomically, or there is none.
        if not await UserService(self._ctx).use_wechat_subscription(message["user_id"], template.template_id):
            return SendResult(ok=False, error_code="no_subscription", permanent=True)
        values = message["params"] | {"text": message["text"]}
        data = {field: pattern.format(**values) for field, pattern in template.data.items()}
        page = self._ctx.config.wechat.case_page.format(case_id=message["case_id"])
        wechat = WechatMessage(
            openid=message["openid"], template_id=template.template_id, page=page, data=data, text=message["text"]
        )
        return await self._ctx.senders.wechat.send(wechat)

    async def _send_webhook(self, message: dict[str, Any], now: datetime) -> SendResult:
        """Sign the payload with the partner's current secret and post it (a revoked partner: not at all)."""
        partners = PartnerService(self._ctx)
        partner = await partners.find(message["partner_id"])
        if partner is None or partner["revoked_at"] is not None or not partner.get("webhook_url"):
            return SendResult(ok=False, error_code="partner_inactive", permanent=True)
        body = json.dumps(message["payload"], ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Sanyuan-Delivery": str(message["_id"]),
            "X-Sanyuan-Timestamp": timestamp,
            "X-Sanyuan-Signature": "sha256=" + sign(partners.signing_secret(partner), timestamp, body),
        }
        sender = self._ctx.senders.webhook or HttpWebhookSender(self._ctx.config.open311.webhook_timeout_seconds)
        return await sender.send(WebhookMessage(url=partner["webhook_url"], body=body, headers=headers))

    async def _record(self, message: dict[str, Any], result: SendResult, now: datetime) -> None:
        if result.ok:
            await self._finish(
                message, {"status": "sent", "sent_at": now, "provider_id": result.provider_id, "error": None}
            )
            return
        error = {"code": result.error_code, "detail": result.detail, "at": now}
        if result.uncertain:
            wait = timedelta(seconds=self._config.reconcile_after_seconds)
            await self._finish(message, {"status": "uncertain", "next_at": now + wait, "error": error})
            return
        if result.permanent:
            await self._finish(message, {"status": "failed", "error": error})
            if message["channel"] == "wechat":
                await self._fall_back_to_sms(message, now)
            return
        backoff = min(self._config.backoff_max_seconds, self._config.backoff_seconds * 2 ** (message["attempts"] - 1))
        next_at = now + timedelta(seconds=backoff * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy
        if next_at - message["created_at"] > timedelta(hours=self._config.max_age_hours):
            await self._finish(message, {"status": "failed", "error": error | {"code": f"expired:{result.error_code}"}})
            return
        await self._finish(message, {"status": "pending", "next_at": next_at, "error": error})

    async def _fall_back_to_sms(self, message: dict[str, Any], now: datetime) -> None:
        user = await UserService(self._ctx).find(message["user_id"])
        if not user or not (user.get("prefs") or {}).get("sms_consent") or not user.get("phone_enc"):
            return
        base = {k: v for k, v in message.items() if k in DELIVERY_BASE} | {"created_at": now}
        key = message["dedupe"].rsplit(":", 1)[0]
        fallback = new_delivery(
            base, key, "sms", message["user_id"], to_enc=user["phone_enc"], fallback_of=message["_id"]
        )
        fallback["created_at"] = message["created_at"]  # its age counts from the first attempt
        with contextlib.suppress(DuplicateKeyError):
            await self._outbox.insert_one(fallback)

    async def _finish(self, message: dict[str, Any], changes: dict[str, Any]) -> None:
        """Record the outcome, unless the lease was lost to another dispatcher meanwhile."""
        changes = {"holder": None, **changes}
        if changes["status"] in ("sent", "failed"):
            changes["next_at"] = None
        await self._outbox.update_one(
            {"_id": message["_id"], "holder": self.holder, "status": "sending"}, {"$set": changes}
        )

    def _phone(self, message: dict[str, Any]) -> str:
        return self._ctx.cipher.decrypt(message["to_enc"], "phone")


class OutboxAdmin:
    """What administrators do with the outbox: look, retry a failed message, count for monitoring."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._outbox = ctx.db[OUTBOX]

    async def search(
        self, principal: Principal, *, status: str | None, channel: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "outbox.admin")
        if status:
            query["status"] = status
        if channel:
            query["channel"] = channel
        total = await self._outbox.count_documents(query)
        cursor = self._outbox.find(query).sort([("created_at", DESCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def retry(self, principal: Principal, message_id: ObjectId) -> dict[str, Any]:
        message = await self._outbox.find_one({"_id": message_id})
        if message is None:
            raise NotFound("找不到该消息")
        require_org_scope(principal, message["org_path"], "outbox.admin", "消息")
        now = self._ctx.clock.now()
        retried = await self._outbox.find_one_and_update(
            {"_id": message_id, "status": "failed"},
            {
                "$set": {
                    "status": "pending",
                    "next_at": now,
                    "created_at": now,
                    "retried_by": ObjectId(principal.user_id),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if retried is None:
            raise Conflict("只有发送失败的消息可以重发", code="outbox_not_failed")
        return retried

    async def counts(self) -> list[dict[str, Any]]:
        """Deliveries by status and channel: one index-served count each, not a pass over the whole outbox."""
        counts = []
        for status in get_args(DeliveryStatus):
            for channel in get_args(DeliveryChannel):
                n = await self._outbox.count_documents({"status": status, "channel": channel})
                if n:
                    counts.append({"_id": {"status": status, "channel": channel}, "n": n})
        return counts


async def run_forever(ctx: Context, stop: asyncio.Event | None = None) -> None:
    """Relay and dispatch until `stop` is set; each round never lets one failure end the loop."""
    relay, dispatcher = Relay(ctx), Dispatcher(ctx)
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await relay.run_once()
            await dispatcher.run_once()
        except DATABASE_DOWN as exc:
            ctx.outage.failed(exc, "the outbox")  # logged once per outage; the next rounds catch up
        except Exception:
            log.exception("outbox round failed; retrying")
        else:
            ctx.outage.ok()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=ctx.config.notify.poll_seconds)
