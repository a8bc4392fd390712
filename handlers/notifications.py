"""The in-app inbox, notification preferences, and outbox operations (admins, monitoring)."""

from __future__ import annotations

import hmac

from bson import ObjectId

from handlers.base import BaseHandler, api, public, requires
from notify.inbox import InboxService, PreferenceService
from notify.outbox import OutboxAdmin
from schemas.base import Page
from schemas.notify import (
    InboxPage,
    InboxQuery,
    OutboxItem,
    OutboxQuery,
    PreferencesIn,
    PreferencesOut,
    ReadOut,
    SubscriptionsIn,
    inbox_item,
    outbox_item,
)
from server.core.errors import Unauthenticated
from server.core.ids import parse_id


class NotificationsHandler(BaseHandler):
    @api("站内消息（含未读数）", query=InboxQuery, response=InboxPage, tags=["notifications"])
    async def get(self) -> None:
        query = self.read_query(InboxQuery)
        items, total, unread = await InboxService(self.ctx).list(
            ObjectId(self.caller.user_id), unread_only=query.unread, skip=query.skip, limit=query.page_size
        )
        self.write_json(
            InboxPage(
                items=[inbox_item(i) for i in items],
                total=total,
                unread=unread,
                page=query.page,
                page_size=query.page_size,
            )
        )


class ReadHandler(BaseHandler):
    @api("标记一条消息已读", response=ReadOut, tags=["notifications"])
    async def post(self, message_id: str) -> None:
        marked = await InboxService(self.ctx).mark_read(ObjectId(self.caller.user_id), parse_id(message_id, "消息"))
        self.write_json(ReadOut(marked=marked))


class ReadAllHandler(BaseHandler):
    @api("全部标记已读", response=ReadOut, tags=["notifications"])
    async def post(self) -> None:
        marked = await InboxService(self.ctx).mark_read(ObjectId(self.caller.user_id), None)
        self.write_json(ReadOut(marked=marked))


class PreferencesHandler(BaseHandler):
    @api("我的通知方式", response=PreferencesOut, tags=["notifications"])
    async def get(self) -> None:
        self.write_json(PreferencesOut(**await PreferenceService(self.ctx).get(ObjectId(self.caller.user_id))))

    @api("设置通知方式（短信同意会记录时间）", request=PreferencesIn, response=PreferencesOut, tags=["notifications"])
    async def put(self) -> None:
        body = self.read_json(PreferencesIn)
        prefs = await PreferenceService(self.ctx).set(
            ObjectId(self.caller.user_id), wechat=body.wechat, sms_consent=body.sms_consent
        )
        self.write_json(PreferencesOut(**prefs))


class SubscriptionsHandler(BaseHandler):
    @api("登记用户同意的一次性订阅消息", request=SubscriptionsIn, response=PreferencesOut, tags=["notifications"])
    async def post(self) -> None:
        body = self.read_json(SubscriptionsIn)
        prefs = await PreferenceService(self.ctx).add_subscriptions(ObjectId(self.caller.user_id), body.template_ids)
        self.write_json(PreferencesOut(**prefs))


class OutboxHandler(BaseHandler):
    @requires("outbox.admin")
    @api("发件箱（按状态、渠道）", query=OutboxQuery, response=Page[OutboxItem], tags=["notifications"])
    async def get(self) -> None:
        query = self.read_query(OutboxQuery)
        items, total = await OutboxAdmin(self.ctx).search(
            self.caller, status=query.status, channel=query.channel, skip=query.skip, limit=query.page_size
        )
        self.write_page([outbox_item(i) for i in items], total, query)


class RetryHandler(BaseHandler):
    @requires("outbox.admin")
    @api("重发一条失败的消息", response=OutboxItem, tags=["notifications"])
    async def post(self, message_id: str) -> None:
        message = await OutboxAdmin(self.ctx).retry(self.caller, parse_id(message_id, "消息"))
        self.write_json(outbox_item(message))


class MetricsHandler(BaseHandler):
    @public
    @api(
        "监控指标（Prometheus 文本格式）",
        media=["text/plain"],
        tags=["system"],
        description="需要 Authorization: Bearer <notify.metrics_token>；未配置令牌时不提供。",
    )
    async def get(self) -> None:
        token = self.ctx.config.notify.metrics_token
        given = self.request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or not hmac.compare_digest(token, given):
            raise Unauthenticated("需要监控令牌", code="metrics_token_required")
        lines = [
            "# HELP sanyuan_outbox_messages Outbound messages by status and channel.",
            "# TYPE sanyuan_outbox_messages gauge",
        ]
        for row in sorted(
            await OutboxAdmin(self.ctx).counts(), key=lambda r: (r["_id"]["channel"], r["_id"]["status"])
        ):
            labels = f'channel="{row["_id"]["channel"]}",status="{row["_id"]["status"]}"'
            lines.append(f"sanyuan_outbox_messages{{{labels}}} {row['n']}")
        self.write_bytes(("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")


default_handlers = [
    (r"/api/notifications", NotificationsHandler),
    (r"/api/notifications/read-all", ReadAllHandler),
    (r"/api/notifications/(?P<message_id>[0-9a-f]{24})/read", ReadHandler),
    (r"/api/me/preferences", PreferencesHandler),
    (r"/api/me/wechat-subscriptions", SubscriptionsHandler),
    (r"/api/admin/outbox", OutboxHandler),
    (r"/api/admin/outbox/(?P<message_id>[0-9a-f]{24})/retry", RetryHandler),
    (r"/api/metrics", MetricsHandler),
]
