"""Two factors for administrators (等保 身份鉴别): after the SMS code, a TOTP code (RFC 6238) from an
authenticator app, or one of ten recovery codes.

An account holding a role of `login.second_factor_roles` (town and county admins by default) signs in with
its SMS code to a session whose token carries only its other grants; confirming the second factor marks the
session and issues a token with all of them. Enrolment gives the secret (as an `otpauth://` URI and a QR) and
ten recovery codes, shown once; the secret is sealed like a phone number, the recovery codes kept as keyed
hashes, each usable once. A code is accepted once (a replay of the same time step is refused). Wrong codes in a
row lock the second factor for a while; every failure, lock, enrolment and use of a recovery code is audited.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyotp
from bson import ObjectId

from server.core.auth import Principal
from server.core.clock import aware
from server.core.errors import Conflict, Forbidden, TooManyRequests, ValidationFailed
from server.people.sessions import SessionService, TokenPair
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

ISSUER = "三源共治"
RECOVERY_CODES = 10
SECRET_FIELD = "totp_secret"  # noqa: S105 - the name of a sealed field
STEP_SECONDS = 30


def recovery_code() -> str:
    raw = secrets.token_hex(5)
    return f"{raw[:5]}-{raw[5:]}"


class SecondFactor:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._users = UserService(ctx)

    def required_for(self, user: dict[str, Any]) -> bool:
        roles = set(self._ctx.config.login.second_factor_roles)
        return any(g.get("role") in roles for g in user.get("grants") or [])

    async def enrol(self, principal: Principal) -> dict[str, Any]:
        """A new secret and recovery codes for the caller (replacing an enrolment never confirmed)."""
        user = await self._users.get(ObjectId(principal.user_id))
        if not self.required_for(user):
            raise Forbidden("您的账号不需要第二重验证", code="second_factor_not_required")
        if (user.get("totp") or {}).get("confirmed"):
            raise Conflict(
                "已经启用第二重验证；如需更换请联系上级管理员重置（POST /api/users/{id}/second-factor/reset）",
                code="second_factor_enrolled",
            )
        secret = pyotp.random_base32()
        codes = [recovery_code() for _ in range(RECOVERY_CODES)]
        cipher = self._ctx.cipher
        await self._users.set_second_factor(
            user["_id"],
            {
                "secret_enc": cipher.encrypt(secret, SECRET_FIELD),
                "confirmed": False,
                "recovery": [cipher.lookup_hash(c, "recovery_code") for c in codes],
                "last_step": 0,
                "failures": 0,
                "locked_until": None,
                "enrolled_at": self._ctx.clock.now(),
            },
        )
        label = user.get("name") or "管理员"
        uri = pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=ISSUER)
        await self._audit(principal, "auth.second_factor_enrol", user["_id"])
        return {"secret": secret, "otpauth_uri": uri, "recovery_codes": codes}

    async def verify(self, principal: Principal, code: str | None, recovery: str | None) -> TokenPair:
        """Confirm the second factor for the caller's session (the first time: the enrolment too); a token
        with every grant comes back."""
        user = await self._users.get(ObjectId(principal.user_id))
        totp = user.get("totp")
        if not self.required_for(user) or not totp:
            raise Conflict("请先启用第二重验证", code="second_factor_not_enrolled")
        now = self._ctx.clock.now()
        locked = totp.get("locked_until")
        if locked is not None and aware(locked) > now:
            wait = int((aware(locked) - now).total_seconds()) + 1
            raise TooManyRequests(
                f"验证错误次数过多，已锁定，请 {wait // 60 + 1} 分钟后再试", details={"retry_after": wait}
            )
        if recovery:
            ok = await self._users.use_recovery_code(
                user["_id"], self._ctx.cipher.lookup_hash(recovery, "recovery_code")
            )
            if ok:
                await self._audit(principal, "auth.recovery_code_used", user["_id"])
        else:
            ok = await self._take_step(user, code or "", now)
        if not ok:
            await self._failed(principal, user, now)
            raise ValidationFailed(
                details=[{"field": "recovery_code" if recovery else "code", "message": "验证码不正确"}]
            )
        await self._users.set_second_factor_fields(user["_id"], {"totp.failures": 0, "totp.confirmed": True})
        return await SessionService(self._ctx).confirm_second_factor(user, ObjectId(principal.session_id), now)

    async def _take_step(self, user: dict[str, Any], code: str, now: datetime) -> bool:
        """Whether `code` is the TOTP of this or a neighbouring time step not used before; it is then used."""
        if not (code.isdigit() and len(code) == 6):
            return False
        totp = pyotp.TOTP(self._ctx.cipher.decrypt(user["totp"]["secret_enc"], SECRET_FIELD))
        step = int(now.timestamp()) // STEP_SECONDS
        for candidate in (step - 1, step, step + 1):
            if secrets.compare_digest(totp.at(candidate * STEP_SECONDS), code):
                return await self._users.use_totp_step(user["_id"], candidate)
        return False

    async def _failed(self, principal: Principal, user: dict[str, Any], now: datetime) -> None:
        login = self._ctx.config.login
        failures = await self._users.count_second_factor_failure(user["_id"])
        await self._audit(principal, "auth.second_factor_failed", user["_id"], {"failures": failures})
        if failures >= login.second_factor_max_failures:
            until = now + timedelta(minutes=login.second_factor_lock_minutes)
            await self._users.set_second_factor_fields(user["_id"], {"totp.failures": 0, "totp.locked_until": until})
            await self._audit(principal, "auth.second_factor_locked", user["_id"], {"until": until})

    async def _audit(
        self, principal: Principal, action: str, user_id: ObjectId, details: dict[str, Any] | None = None
    ) -> None:
        await self._ctx.audit.record_for(principal, action, "user", user_id, self._ctx.clock.now(), details)
