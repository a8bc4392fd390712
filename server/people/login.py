"""The ways in: WeChat mini-program login, phone binding, and SMS verification codes.

SMS codes are 6 digits, stored only as a keyed hash, valid `login.code_ttl_seconds`, and each attempt is
counted atomically before it is checked, so at most `login.code_max_attempts` guesses are ever compared.
Sending is limited per phone (1 a minute, 5 an hour, 10 a day by default) and per client IP, and answers
the same whether or not the phone belongs to an account.

The owner keeps a way in that a stranger cannot take away: a successful SMS login returns a `device_token`
(random, stored as a hash, bound to that phone, 180 days). A code requested with it is counted against that
device's own allowance (the same limits, no per-IP limit) and kept apart from codes requested without it, so
someone who burns the phone's ten daily codes, or keeps replacing its pending code, locks out only new
devices, never the phone's owner on a phone or computer they logged in from before. A token that does not
belong to the phone counts as none, and says nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument

from notify.base import SmsMessage
from server.core import indexes
from server.core.errors import BadRequest, ServiceUnavailable, Unauthenticated
from server.core.pii import phone_input
from server.core.ratelimit import RateLimiter
from server.people.sessions import SessionService, TokenPair, is_staff_account
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

CODES = "sms_codes"
DEVICES = "sms_devices"
CODE_TEMPLATE = "login_code"
DEVICE_TTL = timedelta(days=180)

indexes.declare(CODES, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))
indexes.declare(DEVICES, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))


@dataclass(frozen=True)
class Login:
    tokens: TokenPair
    user: dict[str, Any]
    is_new: bool
    device_token: str | None = None  # SMS logins: lets this device request codes on its own allowance
    new_device: bool = False  # an SMS login from a device that never signed in to this account before


class LoginService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._codes = ctx.db[CODES]
        self._devices = ctx.db[DEVICES]
        self._limits = ctx.config.login

    async def wechat(self, js_code: str, *, user_agent: str, ip: str) -> Login:
        ctx = self._ctx
        try:
            session = await ctx.wechat.code2session(js_code)
        except BadRequest as refused:  # a code WeChat does not know or has seen: the login fails, 401
            raise Unauthenticated(refused.message, code=refused.code) from refused
        user, is_new = await UserService(ctx).resident_by_openid(session.openid, session.unionid, ctx.clock.now())
        tokens = await SessionService(ctx).start(user, method="wechat", user_agent=user_agent, ip=ip)
        return Login(tokens, user, is_new)

    async def bind_phone(self, user_id: ObjectId, code: str) -> dict[str, Any]:
        phone = await self._ctx.wechat.phone_number(code)
        return await UserService(self._ctx).set_phone(user_id, phone, self._ctx.clock.now())

    async def send_code(self, raw_phone: str, *, ip: str, device_token: str | None = None) -> int:
        """Text a login code to `raw_phone`; return seconds until it expires."""
        ctx, limits = self._ctx, self._limits
        phone = phone_input(raw_phone)
        now = ctx.clock.now()
        phone_hash = ctx.cipher.lookup_hash(phone, "phone")
        device = await self._trusted_device(phone_hash, device_token, now)
        limiter = RateLimiter(ctx.db)
        if device is None:
            await limiter.hit(
                "sms:ip:" + ctx.cipher.lookup_hash(ip, "ip"),
                [(limits.ip_per_hour, timedelta(hours=1)), (limits.ip_per_day, timedelta(days=1))],
                now,
                "本网络发送验证码过于频繁，请 {seconds} 秒后再试",
            )
        await limiter.hit(
            "sms:phone:" + self._code_key(phone_hash, device),
            [
                (limits.phone_per_minute, timedelta(minutes=1)),
                (limits.phone_per_hour, timedelta(hours=1)),
                (limits.phone_per_day, timedelta(days=1)),
            ],
            now,
            "验证码发送过于频繁，请 {seconds} 秒后再试",
        )
        code = f"{secrets.randbelow(10**6):06d}"
        key = self._code_key(phone_hash, device)
        await self._codes.replace_one(
            {"_id": key},
            {
                "_id": key,
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
            await self._codes.delete_one({"_id": key})
            raise ServiceUnavailable("短信发送失败，请稍后再试", code="sms_send_failed")
        return limits.code_ttl_seconds

    async def verify_code(
        self, raw_phone: str, code: str, *, user_agent: str, ip: str, device_token: str | None = None
    ) -> Login:
        ctx = self._ctx
        phone = phone_input(raw_phone)
        phone_hash = ctx.cipher.lookup_hash(phone, "phone")
        now = ctx.clock.now()
        device = await self._trusted_device(phone_hash, device_token, now)
        key = self._code_key(phone_hash, device)
        maximum = self._limits.code_max_attempts
        # Count the attempt before comparing, so concurrent guesses cannot exceed the limit.
        pending = await self._codes.find_one_and_update(
            {"_id": key, "expires_at": {"$gt": now}, "attempts": {"$lt": maximum}},
            {"$inc": {"attempts": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if pending is None:
            raise await self._why_unusable(key, now)
        if not hmac.compare_digest(pending["code_hash"], self._code_hash(phone, code)):
            await self._audit_failure(phone, ip, now)
            left = maximum - pending["attempts"]
            message = f"验证码不正确，还可以再试 {left} 次" if left else "验证码错误次数过多，请重新获取"
            raise Unauthenticated(message, code="sms_code_wrong", details={"attempts_left": left})
        used = await self._codes.delete_one({"_id": key, "code_hash": pending["code_hash"]})
        if used.deleted_count != 1:
            raise Unauthenticated("验证码已使用，请重新获取", code="sms_code_invalid")
        user, is_new = await UserService(ctx).resident_by_phone(phone, now)
        tokens = await SessionService(ctx).start(user, method="sms", user_agent=user_agent, ip=ip)
        kept = device_token if device is not None else None
        return Login(tokens, user, is_new, await self._trust_device(phone_hash, kept, now), device is None)

    async def _audit_failure(self, phone: str, ip: str, now: datetime) -> None:
        """A wrong code for a staff account is on the audit log (a resident's is not: nothing of theirs is at
        stake beyond their own account, and the limits above stop guessing)."""
        user = await UserService(self._ctx).by_phone(phone)
        if user is not None and is_staff_account(user):
            await self._ctx.audit.record(
                action="auth.login_failed",
                actor_id=user["_id"],
                target_type="user",
                target_id=user["_id"],
                at=now,
                details={"ip": ip},
            )

    async def _trusted_device(self, phone_hash: str, device_token: str | None, now: Any) -> str | None:
        """The device's key if `device_token` was issued to this phone at an earlier login, else None."""
        if not device_token:
            return None
        digest = _device_digest(device_token)
        found = await self._devices.find_one({"_id": digest, "phone_hash": phone_hash, "expires_at": {"$gt": now}})
        return digest[:24] if found else None

    async def _trust_device(self, phone_hash: str, device_token: str | None, now: Any) -> str:
        """Issue a device token after a successful login (or renew the one the device used)."""
        token = device_token or secrets.token_urlsafe(32)
        await self._devices.update_one(
            {"_id": _device_digest(token)},
            {"$set": {"phone_hash": phone_hash, "last_used_at": now, "expires_at": now + DEVICE_TTL}},
            upsert=True,
        )
        return token

    @staticmethod
    def _code_key(phone_hash: str, device: str | None) -> str:
        return phone_hash if device is None else f"{phone_hash}:{device}"

    async def _why_unusable(self, key: str, now: Any) -> Unauthenticated:
        pending = await self._codes.find_one({"_id": key})
        if pending is None:
            return Unauthenticated("请先获取验证码", code="sms_code_invalid")
        if pending["expires_at"] <= now:
            return Unauthenticated("验证码已过期，请重新获取", code="sms_code_expired")
        return Unauthenticated("验证码错误次数过多，请重新获取", code="sms_code_locked")

    def _code_hash(self, phone: str, code: str) -> str:
        return self._ctx.cipher.lookup_hash(f"{phone}:{code}", "sms_code")


def _device_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
