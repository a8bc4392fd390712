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
    template: str  # the event type, e.g. "login_code"; config maps it to the provider's template code
    params: dict[str, str]
    text: str  # the message as the recipient reads it, for the console and the admin view
    out_id: str | None = None  # our id for the message, echoed by the provider's delivery records


@dataclass(frozen=True)
class WechatMessage:
    openid: str
    template_id: str
    page: str
    data: dict[str, str]
    text: str


@dataclass(frozen=True)
class WebhookMessage:
    """One signed POST to a partner system's webhook (notify/webhook.py)."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class SendResult:
    """`permanent` failures are not retried; the provider's own code is kept for the admin view."""

    ok: bool
    provider_id: str | None = None
    error_code: str | None = None
    permanent: bool = False
    uncertain: bool = False  # no answer came back: the message may or may not have gone out
    detail: str = ""


class SmsSender(Protocol):
    async def send(self, message: SmsMessage) -> SendResult: ...

    async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
        """Did a message with `out_id` reach the provider on `day` (yyyyMMdd)? None: cannot tell now."""
        ...


class WechatSender(Protocol):
    async def send(self, message: WechatMessage) -> SendResult: ...


class WebhookSender(Protocol):
    async def send(self, message: WebhookMessage) -> SendResult: ...


@dataclass
class Senders:
    """The channels' senders. Webhooks go to partners' own servers in every mode: None means the real HTTP
    sender (`notify.webhook.HttpWebhookSender`), which the dispatcher builds from config."""

    sms: SmsSender
    wechat: WechatSender
    webhook: WebhookSender | None = None


class UnconfiguredSender:
    """Stands in for a channel that config does not set up: every send fails, permanently, and says why."""

    def __init__(self, channel: str) -> None:
        self._code = f"{channel}_not_configured"

    async def send(self, message: SmsMessage | WechatMessage) -> SendResult:
        return SendResult(ok=False, error_code=self._code, permanent=True)

    async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
        return False
