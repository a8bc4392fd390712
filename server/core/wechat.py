"""A small client for the WeChat mini-program server APIs, on Tornado's `AsyncHTTPClient`.

The base URL comes from config so tests aim the real HTTP code at a fake WeChat server. The interface
access token comes from `stable_token`, cached in the database (sealed) and in memory, renewed five minutes
before it expires; renewal is single-flight within the process, and a call that reports a bad token
(40001, 42001) forces one renewal and is retried once. WeChat's error codes become domain errors here.
`session_key` is dropped as soon as the answer is read: nothing in this system needs it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from server.core import indexes
from server.core.config import WechatConfig
from server.core.crypto import FieldCipher
from server.core.db import Database
from server.core.errors import BadRequest, DomainError, Forbidden, ServiceUnavailable, TooManyRequests

log = logging.getLogger("sanyuan.wechat")

TOKENS = "wechat_tokens"
indexes.declare(TOKENS)  # one document: the sealed access token and its expiry
RENEW_BEFORE = timedelta(seconds=300)
BAD_TOKEN = (40001, 42001)


class WechatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def to_domain_error(error: WechatError) -> DomainError:
    """What a WeChat failure means to the person who made the request."""
    match error.errcode:
        case 40029:
            return BadRequest("微信登录凭证无效，请重新打开小程序再试", code="wechat_code_invalid")
        case 40163:
            return BadRequest("微信登录凭证已使用过，请重新打开小程序再试", code="wechat_code_used")
        case 45011:
            return TooManyRequests("微信登录过于频繁，请稍后再试", code="wechat_rate_limited")
        case 40226:
            return Forbidden("该微信账号被微信判定为高风险，暂时无法登录", code="wechat_user_risky")
        case -1:
            return ServiceUnavailable("微信服务繁忙，请稍后再试", code="wechat_busy")
        case _:
            return ServiceUnavailable("微信服务暂时不可用，请稍后再试", code="wechat_error")


@dataclass(frozen=True)
class WechatSession:
    openid: str
    unionid: str | None


class WechatClient:
    def __init__(self, config: WechatConfig, db: Database, cipher: FieldCipher, clock: Callable[[], datetime]) -> None:
        self._config = config
        self._tokens = db[TOKENS]
        self._cipher = cipher
        self._clock = clock
        self._cached: tuple[str, datetime] | None = None
        self._renewing: asyncio.Lock | None = None

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    def _require_enabled(self) -> None:
        if not self.enabled:
            raise ServiceUnavailable("本系统尚未配置微信小程序，请使用短信验证码登录", code="wechat_not_configured")

    async def code2session(self, js_code: str) -> WechatSession:
        self._require_enabled()
        query = {
            "appid": self._config.appid,
            "secret": self._config.secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        answer = await self._call("GET", "/sns/jscode2session", query=query)
        return WechatSession(openid=answer["openid"], unionid=answer.get("unionid"))

    async def phone_number(self, code: str) -> str:
        """The phone a user chose with the mini-program's phone button (mainland numbers only)."""
        self._require_enabled()
        answer = await self._call_with_token("/wxa/business/getuserphonenumber", {"code": code})
        info = answer.get("phone_info") or {}
        if info.get("countryCode") not in (None, "86"):
            raise BadRequest("暂只支持中国大陆手机号", code="phone_not_mainland")
        return str(info["purePhoneNumber"])

    async def subscribe_send(self, payload: dict[str, Any]) -> tuple[int, str]:
        """Send one subscribe message; return WeChat's (errcode, errmsg), 0 meaning sent.

        Unlike the login calls this reports every errcode: the dispatcher decides what is worth a retry.
        """
        for force in (False, True):
            token = await self.access_token(force=force)
            url = f"{self._config.base_url.rstrip('/')}/cgi-bin/message/subscribe/send?access_token={token}"
            response = await AsyncHTTPClient().fetch(
                url,
                method="POST",
                body=json.dumps(payload, ensure_ascii=False),
                headers={"Content-Type": "application/json"},
                request_timeout=self._config.timeout_seconds,
                connect_timeout=self._config.timeout_seconds,
            )
            answer = json.loads(response.body)
            errcode = int(answer.get("errcode") or 0)
            if errcode not in BAD_TOKEN:
                return errcode, str(answer.get("errmsg", ""))
        return errcode, str(answer.get("errmsg", ""))

    async def access_token(self, *, force: bool = False) -> str:
        now = self._clock()
        if not force and self._cached and self._cached[1] - RENEW_BEFORE > now:
            return self._cached[0]
        if self._renewing is None:
            self._renewing = asyncio.Lock()
        stale = self._cached[0] if self._cached else None
        async with self._renewing:
            if (
                self._cached
                and self._cached[1] - RENEW_BEFORE > self._clock()
                and (not force or self._cached[0] != stale)
            ):
                return self._cached[0]  # another caller renewed it while this one waited
            if not force:
                stored = await self._tokens.find_one({"_id": self._config.appid})
                if stored and stored["expires_at"] - RENEW_BEFORE > self._clock():
                    self._cached = (self._cipher.decrypt(stored["token_enc"], "wechat_token"), stored["expires_at"])
                    return self._cached[0]
            return await self._renew(force)

    async def _renew(self, force: bool) -> str:
        body = {
            "grant_type": "client_credential",
            "appid": self._config.appid,
            "secret": self._config.secret,
            "force_refresh": force,
        }
        answer = await self._call("POST", "/cgi-bin/stable_token", body=body)
        token = answer["access_token"]
        expires_at = self._clock() + timedelta(seconds=int(answer.get("expires_in", 7200)))
        await self._tokens.update_one(
            {"_id": self._config.appid},
            {"$set": {"token_enc": self._cipher.encrypt(token, "wechat_token"), "expires_at": expires_at}},
            upsert=True,
        )
        self._cached = (token, expires_at)
        log.info("wechat access token renewed (force=%s)", force)
        return token

    async def _call_with_token(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        token = await self.access_token()
        try:
            return await self._call("POST", path, query={"access_token": token}, body=body)
        except WechatError:  # WeChat says the token is bad: renew it once and try again
            token = await self.access_token(force=True)
        try:
            return await self._call("POST", path, query={"access_token": token}, body=body)
        except WechatError as error:
            raise to_domain_error(error) from error

    async def _call(
        self, method: str, path: str, *, query: dict[str, str] | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = self._config.base_url.rstrip("/") + path + ("?" + urlencode(query) if query else "")
        try:
            response = await AsyncHTTPClient().fetch(
                url,
                method=method,
                body=json.dumps(body, ensure_ascii=False) if body is not None else None,
                headers={"Content-Type": "application/json"} if body is not None else None,
                request_timeout=self._config.timeout_seconds,
                connect_timeout=self._config.timeout_seconds,
            )
            answer = json.loads(response.body)
        except (HTTPClientError, OSError, ValueError) as exc:
            log.warning("wechat %s failed: %s", path, type(exc).__name__)
            raise ServiceUnavailable("微信服务暂时不可用，请稍后再试", code="wechat_unavailable") from exc
        errcode = int(answer.get("errcode") or 0)
        if errcode:
            log.warning("wechat %s answered errcode %s", path, errcode)
            error = WechatError(errcode, str(answer.get("errmsg", "")))
            if error.errcode in BAD_TOKEN:
                raise error
            raise to_domain_error(error) from error
        answer.pop("session_key", None)
        return answer
