"""The ways in: WeChat mini-program login, phone binding, and SMS verification codes.

SMS codes are 6 digits, stored only as a keyed hash, valid `login.code_ttl_seconds`, and each attempt is
counted atomically before it is checked, so at most `login.code_max_attempts` guesses are ever compared.
Sending is limited per phone (1 a minute, 5 an hour, 10 a day by default) and per client IP, and answers
the same whether or not the phone belongs to an account.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument

from notify.base import SmsMessage
from server.core import indexes
from server.core.errors import ServiceUnavailable, Unauthenticated
from server.core.pii import phone_input
from server.core.ratelimit import RateLimiter
from server.people.sessions import SessionService, TokenPair
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

CODES = "sms_codes"
CODE_TEMPLATE = "login_code"

indexes.declare(CODES, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))


@dataclass(frozen=True)
class Login:
    tokens: TokenPair
    user: dict[str, Any]
    is_new: bool


class LoginService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._codes = ctx.db[CODES]
        self._limits = ctx.config.login

    async def wechat(self, js_code: str, *, user_agent: str, ip: str) -> Login:
        ctx = self._ctx
        session = await ctx.wechat.code2session(js_code)
        user, is_new = await UserService(ctx).resident_by_openid(session.openid, session.unionid, ctx.clock.now())
        tokens = await SessionService(ctx).start(user, method="wechat", user_agent=user_agent, ip=ip)
        return Login(tokens, user, is_new)

    async def bind_phone(self, user_id: ObjectId, code: str) -> dict[str, Any]:
        phone = await self._ctx.wechat.phone_number(code)
        return await UserService(self._ctx).set_phone(user_id, phone, self._ctx.clock.now())

    async def send_code(self, raw_phone: str, *, ip: str) -> int:
        """Text a login code to `raw_phone`; return seconds until it expires."""
        ctx, limits = self._ctx, self._limits
        phone = phone_input(raw_phone)
        now = ctx.clock.now()
        limiter = RateLimiter(ctx.db)
        await limiter.hit(
            "sms:ip:" + ctx.cipher.lookup_hash(ip, "ip"),
            [(limits.ip_per_hour, timedelta(hours=1)), (limits.ip_per_day, timedelta(days=1))],
            now,
            "本网络发送验证码过于频繁，请 {seconds} 秒后再试",
        )
        phone_hash = ctx.cipher.lookup_hash(phone, "phone")
        await limiter.hit(
            "sms:phone:" + phone_hash,
            [
                (limits.phone_per_minute, timedelta(minutes=1)),
                (limits.phone_per_hour, timedelta(hours=1)),
                (limits.phone_per_day, timedelta(days=1)),
            ],
            now,
            "验证码发送过于频繁，请 {seconds} 秒后再试",
        )
        code = f"{secrets.randbelow(10**6):06d}"
        await self._codes.replace_one(
            {"_id": phone_hash},
            {
                "_id": phone_hash,
                "code_hash": self._code_hash(phone, code),
                "attempts": 0,
                "created_at": now,
                "expires_at": now + timedelta(seconds=limits.code_ttl_seconds),
            },
            upsert=True,
        )
        minutes = limits.code_ttl_seconds // 60
        result = await ctx.senders.sms.send(
            SmsMessage(
                phone=phone,
                template=CODE_TEMPLATE,
                params={"code": code},
                text=f"您的登录验证码是 {code}，{minutes} 分钟内有效。如非本人操作，请忽略。",
            )
        )
        if not result.ok:
            await self._codes.delete_one({"_id": phone_hash})
            raise ServiceUnavailable("短信发送失败，请稍后再试", code="sms_send_failed")
        return limits.code_ttl_seconds

    async def verify_code(self, raw_phone: str, code: str, *, user_agent: str, ip: str) -> Login:
        ctx = self._ctx
        phone = phone_input(raw_phone)
        phone_hash = ctx.cipher.lookup_hash(phone, "phone")
        now = ctx.clock.now()
        maximum = self._limits.code_max_attempts
        # Count the attempt before comparing, so concurrent guesses cannot exceed the limit.
        pending = await self._codes.find_one_and_update(
            {"_id": phone_hash, "expires_at": {"$gt": now}, "attempts": {"$lt": maximum}},
            {"$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if pending is None:
            raise await self._why_unusable(phone_hash, now)
        if not hmac.compare_digest(pending["code_hash"], self._code_hash(phone, code)):
            left = maximum - pending["attempts"]
            message = f"验证码不正确，还可以再试 {left} 次" if left else "验证码错误次数过多，请重新获取"
            raise Unauthenticated(message, code="sms_code_wrong", details={"attempts_left": left})
        used = await self._codes.delete_one({"_id": phone_hash, "code_hash": pending["code_hash"]})
        if used.deleted_count != 1:
            raise Unauthenticated("验证码已使用，请重新获取", code="sms_code_invalid")
        user, is_new = await UserService(ctx).resident_by_phone(phone, now)
        tokens = await SessionService(ctx).start(user, method="sms", user_agent=user_agent, ip=ip)
        return Login(tokens, user, is_new)

    async def _why_unusable(self, phone_hash: str, now: Any) -> Unauthenticated:
        pending = await self._codes.find_one({"_id": phone_hash})
        if pending is None:
            return Unauthenticated("请先获取验证码", code="sms_code_invalid")
        if pending["expires_at"] <= now:
            return Unauthenticated("验证码已过期，请重新获取", code="sms_code_expired")
        return Unauthenticated("验证码错误次数过多，请重新获取", code="sms_code_locked")

    def _code_hash(self, phone: str, code: str) -> str:
        return self._ctx.cipher.lookup_hash(f"{phone}:{code}", "sms_code")
