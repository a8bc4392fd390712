"""Console senders for demo mode: every message is printed in readable Chinese instead of being sent."""

from __future__ import annotations

import sys
from typing import TextIO

from notify.base import Senders, SendResult, SmsMessage, WechatMessage
from server.core.pii import mask_phone


class ConsoleSmsSender:
    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._printed: set[str] = set()  # out ids, so that a reconcile after a crash finds them

    async def send(self, message: SmsMessage) -> SendResult:
        # The content is shown in full (a demo user needs the login code); the number is masked.
        print(
            f"【短信·演示】发往 {mask_phone(message.phone)}：{message.text}", file=self._out or sys.stdout, flush=True
        )
        if message.out_id:
            self._printed.add(message.out_id)
        return SendResult(ok=True, provider_id="console")

    async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
        """Printed in this process means sent; what another process printed is unknown (None: ask later)."""
        return True if out_id in self._printed else None


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
