"""WeChat subscribe messages (subscribeMessage.send) through our WeChat client.

Field values are cut to WeChat's limits by field type, so a long Chinese case title never makes the
whole message fail with 47003.
"""

from __future__ import annotations

import logging
import re

from tornado.httpclient import HTTPClientError

from notify.base import SendResult, WechatMessage
from server.core.errors import DomainError
from server.core.wechat import WechatClient

log = logging.getLogger("sanyuan.wechat")

# errcodes that will fail the same way however often they are retried
PERMANENT = {
    43101: "user_refused",  # no subscription left, or refused
    40003: "bad_openid",
    40037: "bad_template",
    47003: "bad_data",
    41030: "bad_page",
}
LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "name": 10, "number": 32, "letter": 32, "car_number": 8}


def fit(field: str, value: str) -> str:
    kind = re.sub(r"\d+$", "", field)
    limit = LIMITS.get(kind)
    if limit is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…" if kind == "thing" else value[:limit]


class WechatSubscribeSender:
    def __init__(self, client: WechatClient, miniprogram_state: str) -> None:
        self._client = client
        self._state = miniprogram_state

    async def send(self, message: WechatMessage) -> SendResult:
        payload = {
            "touser": message.openid,
            "template_id": message.template_id,
            "page": message.page,
            "data": {k: {"value": fit(k, v)} for k, v in message.data.items()},
            "miniprogram_state": self._state,
            "lang": "zh_CN",
        }
        try:
            errcode, errmsg = await self._client.subscribe_send(payload)
        except (HTTPClientError, OSError, ValueError, DomainError) as exc:
            return SendResult(ok=False, error_code="network", detail=type(exc).__name__)
        if errcode == 0:
            return SendResult(ok=True, provider_id="wechat")
        code = str(errcode)
        return SendResult(ok=False, error_code=code, permanent=errcode in PERMANENT, detail=errmsg[:200])
