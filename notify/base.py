"""The sender interface: what the rest of the system asks of an SMS or WeChat channel.

Real senders (Aliyun SMS, WeChat subscribe messages) and the console senders used in demo mode implement
the same two protocols, so the dispatcher never knows which it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SmsMessage:
    phone: str
    template_code: str
    params: dict[str, str]
    text: str  # the message as the recipient reads it, for the console and the admin view


@dataclass(frozen=True)
class WechatMessage:
    openid: str
    template_id: str
    page: str
    data: dict[str, str]
    text: str


@dataclass(frozen=True)
class SendResult:
    """`permanent` failures are not retried; the provider's own code is kept for the admin view."""

    ok: bool
    provider_id: str | None = None
    error_code: str | None = None
    permanent: bool = False
    detail: str = ""


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> SendResult: ...


class WechatSender(Protocol):
    async def send(self, message: WechatMessage) -> SendResult: ...


@dataclass
class Senders:
    sms: SmsSender
    wechat: WechatSender
