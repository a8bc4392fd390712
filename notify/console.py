"""Console senders for demo mode: every message is printed in readable Chinese instead of being sent."""

from __future__ import annotations

import sys
from typing import TextIO

from notify.base import Senders, SendResult, SmsMessage, WechatMessage
from server.core.pii import mask_phone


class ConsoleSmsSender:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    async def send(self, message: SmsMessage) -> SendResult:
        # The content is shown in full (a demo user needs the login code); the number is masked.
        print(
            f"【短信·演示】发往 {mask_phone(message.phone)}：{message.text}", file=self._out or sys.stdout, flush=True
        )
        return SendResult(ok=True, provider_id="console")


class ConsoleWechatSender:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out

    async def send(self, message: WechatMessage) -> SendResult:
        print(
            f"【微信订阅消息·演示】发往 {message.openid[:6]}…：{message.text}（页面 {message.page}）",
            file=self._out or sys.stdout,
            flush=True,
        )
        return SendResult(ok=True, provider_id="console")


def console_senders(out: TextIO | None = None) -> Senders:
    return Senders(sms=ConsoleSmsSender(out), wechat=ConsoleWechatSender(out))
