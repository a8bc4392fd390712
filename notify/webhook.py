"""Webhooks to partner systems: a signed JSON POST telling a partner that a request it handed over changed.

Each message carries its delivery id (`X-Sanyuan-Delivery`, the same on every retry, so a partner can drop a
repeat), the time it was signed (`X-Sanyuan-Timestamp`, Unix seconds) and `X-Sanyuan-Signature:
sha256=<hex>`, the HMAC-SHA256 of `timestamp.body` under the partner's webhook secret (server/people/partners.py
says how the partner derives it from its key). A 2xx answer is success; a 4xx other than 408 and 429 is
permanent (the partner refused it); anything else is retried by the outbox with backoff.
"""

from __future__ import annotations

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from notify.base import SendResult, WebhookMessage

RETRIED_4XX = {408, 425, 429}


class HttpWebhookSender:
    def __init__(self, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds

    async def send(self, message: WebhookMessage) -> SendResult:
        try:
            response = await AsyncHTTPClient().fetch(
                message.url,
                method="POST",
                body=message.body,
                headers=message.headers,
                request_timeout=self._timeout,
                connect_timeout=self._timeout,
                follow_redirects=False,
                raise_error=False,
            )
        except (OSError, HTTPClientError) as exc:  # refused, unreachable, timed out: try again later
            return SendResult(ok=False, error_code="unreachable", detail=type(exc).__name__)
        if 200 <= response.code < 300:
            return SendResult(ok=True, provider_id=str(response.code))
        permanent = 400 <= response.code < 500 and response.code not in RETRIED_4XX
        return SendResult(ok=False, error_code=f"http_{response.code}", permanent=permanent)
