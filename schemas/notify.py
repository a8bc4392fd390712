"""Notifications on the wire: the inbox, preferences, the outbox for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.base import PageParams, Schema
from server.core.vocabulary import DeliveryChannel, DeliveryStatus


class InboxQuery(PageParams):
    unread: bool = Field(False, description="只看未读")


class InboxItem(Schema):
    id: str
    event: str
    text: str
    case_id: str | None
    created_at: datetime
    read: bool


class InboxPage(Schema):
    items: list[InboxItem]
    total: int
    unread: int
    page: int
    page_size: int


class ReadOut(Schema):
    marked: int


class PreferencesIn(Schema):
    wechat: bool = Field(True, description="接收微信订阅消息")
    sms_consent: bool = Field(False, description="同意接收短信通知")


class PreferencesOut(Schema):
    wechat: bool
    sms_consent: bool
    sms_consent_at: datetime | None
    wechat_subscriptions: dict[str, int]


class SubscriptionsIn(Schema):
    template_ids: list[str] = Field(
        min_length=1, max_length=10, description="wx.requestSubscribeMessage 中用户同意的模板"
    )


class OutboxQuery(PageParams):
    status: DeliveryStatus | None = None
    channel: DeliveryChannel | None = None


class OutboxItem(Schema):
    id: str
    case_id: str | None
    event: str
    channel: str
    status: str
    attempts: int
    text: str
    error: dict[str, Any] | None
    next_at: datetime | None
    created_at: datetime
    sent_at: datetime | None = None


def inbox_item(doc: dict[str, Any]) -> InboxItem:
    return InboxItem(
        id=str(doc["_id"]),
        event=doc["event"],
        text=doc["text"],
        case_id=str(doc["case_id"]) if doc.get("case_id") else None,
        created_at=doc["created_at"],
        read=doc.get("read_at") is not None,
    )


def outbox_item(doc: dict[str, Any]) -> OutboxItem:
    error = doc.get("error")
    return OutboxItem(
        id=str(doc["_id"]),
        case_id=str(doc["case_id"]) if doc.get("case_id") else None,
        event=doc["event"],
        channel=doc["channel"],
        status=doc["status"],
        attempts=doc["attempts"],
        text=doc["text"],
        error={k: v for k, v in error.items()} if error else None,
        next_at=doc.get("next_at"),
        created_at=doc["created_at"],
        sent_at=doc.get("sent_at"),
    )
