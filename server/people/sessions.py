"""Login sessions and refresh tokens.

A login starts a session and returns an access token (JWT) and a refresh token (opaque, 32 random bytes).
Only the refresh token's SHA-256 is stored. Each refresh consumes the token in one atomic update and issues
a new one in the same session; presenting a consumed token again means it leaked, so the whole session is
revoked and the event audited. Logout revokes the session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from server.core import indexes
from server.core.auth import Grant, Principal
from server.core.clock import aware
from server.core.context import Context
from server.core.errors import NotFound, Unauthenticated
from server.core.ids import parse_id
from server.core.permissions import TOWN_BOUND_ROLES
from server.orgs.tree import OrgService
from server.people.users import UserService, grants_of

SESSIONS = "sessions"
REFRESH_TOKENS = "refresh_tokens"

indexes.declare(
    SESSIONS,
    IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="user_created"),
    # Every process reads the recently revoked sessions every few seconds (`catch_up_revocations`).
    IndexModel([("revoked_at", ASCENDING)], name="revoked_at"),
)
# Revocations are read from a little before the last read, so that a revoking process's clock running
# behind this one's, or a write landing just after a read began, is not missed.
REVOCATION_OVERLAP = timedelta(seconds=30)
indexes.declare(
    REFRESH_TOKENS,
    IndexModel([("session_id", ASCENDING)], name="session"),
    # Expired refresh tokens are useless; MongoDB deletes them.
    IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0),
)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str
    second_factor_required: bool = False  # some grants wait for the second factor (server/people/second_factor.py)


def _digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


class SessionService:
    def __init__(self, ctx: Context) -> None:
        self._sessions = ctx.db[SESSIONS]
        self._refresh = ctx.db[REFRESH_TOKENS]
        self._users = UserService(ctx)
        self._tokens = ctx.tokens
        self._audit = ctx.audit
        self._clock = ctx.clock.now
        self._refresh_ttl = timedelta(days=ctx.config.auth.refresh_ttl_days)
        self._ctx = ctx

    async def start(
        self, user: dict[str, Any], *, method: str, user_agent: str = "", ip: str = "", second_factor: bool = False
    ) -> TokenPair:
        """Begin a login session for `user`; the login flows (WeChat, SMS code) call this. `second_factor`: the
        session starts with it confirmed (a test's or a script's stand-in for a whole login)."""
        if not user.get("active", True):
            raise Unauthenticated("该账号已停用，请联系镇三源共治办公室", code="user_inactive")
        now = self._clock()
        session_id = ObjectId()
        await self._sessions.insert_one(
            {
                "_id": session_id,
                "user_id": user["_id"],
                "method": method,
                "user_agent": user_agent[:200],
                "ip": ip,
                "created_at": now,
                "last_used_at": now,
                "revoked_at": None,
                "second_factor_at": now if second_factor else None,
            }
        )
        if is_staff_account(user):  # 等保: every sign-in of staff is on the audit log
            await self._audit.record(
                action="auth.login",
                actor_id=user["_id"],
                target_type="session",
                target_id=session_id,
                at=now,
                details={"method": method, "ip": ip, "user_agent": user_agent[:200]},
            )
        return await self._issue(user, session_id, now, second_factor)

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = self._clock()
        digest = _digest(refresh_token)
        consumed = await self._refresh.find_one_and_update({"_id": digest, "used_at": None}, {"$set": {"used_at": now}})
        if consumed is None:
            raise await self._unusable(digest, now)
        if consumed["expires_at"] <= now:
            raise Unauthenticated("登录已过期，请重新登录", code="refresh_expired")
        session = await self._sessions.find_one({"_id": consumed["session_id"]})
        if session is None or session["revoked_at"] is not None:
            raise Unauthenticated("已退出登录，请重新登录", code="session_revoked")
        user = await self._users.find(consumed["user_id"])
        if user is None or not user.get("active", True):
            await self._revoke(consumed["session_id"], now, reason="user_inactive")
            raise Unauthenticated("该账号已停用，请联系镇三源共治办公室", code="user_inactive")
        idle = timedelta(minutes=self._ctx.config.login.staff_idle_minutes)
        if is_staff_account(user) and now - aware(session["last_used_at"]) > idle:
            await self._revoke(session["_id"], now, reason="idle")
            raise Unauthenticated("长时间未操作，已退出登录，请重新登录", code="session_idle")
        await self._sessions.update_one({"_id": session["_id"]}, {"$set": {"last_used_at": now}})
        return await self._issue(user, session["_id"], now, session.get("second_factor_at") is not None)

    async def confirm_second_factor(self, user: dict[str, Any], session_id: ObjectId, now: datetime) -> TokenPair:
        """The session's second factor is confirmed: a token with every grant."""
        marked = await self._sessions.update_one(
            {"_id": session_id, "user_id": user["_id"], "revoked_at": None}, {"$set": {"second_factor_at": now}}
        )
        if not marked.matched_count:
            raise Unauthenticated("登录已失效，请重新登录", code="session_revoked")
        await self._audit.record(
            action="auth.second_factor", actor_id=user["_id"], target_type="session", target_id=session_id, at=now
        )
        return await self._issue(user, session_id, now, True)

    async def logout(self, principal: Principal) -> None:
        await self._revoke(parse_id(principal.session_id, "登录会话"), self._clock(), reason="logout")

    async def revoke(self, principal: Principal, session_id: ObjectId) -> None:
        """End one of the caller's own sessions (a lost phone, a shared device)."""
        session = await self._sessions.find_one({"_id": session_id, "user_id": ObjectId(principal.user_id)})
        if session is None:
            raise NotFound("找不到该登录会话")
        await self._revoke(session_id, self._clock(), reason="revoked_by_user")

    async def revoke_all(self, user_id: ObjectId, *, reason: str) -> int:
        """End every session of a user (deactivated, or a lost phone reported to the office)."""
        now = self._clock()
        sessions = await self._sessions.find({"user_id": user_id, "revoked_at": None}, {"_id": 1}).to_list(None)
        for session in sessions:
            await self._revoke(session["_id"], now, reason=reason)
        return len(sessions)

    async def list_active(self, user_id: ObjectId, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = {"user_id": user_id, "revoked_at": None}
        total = await self._sessions.count_documents(query)
        cursor = self._sessions.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        cursor = cursor.skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def _issue(self, user: dict[str, Any], session_id: ObjectId, now: datetime, second_factor: bool) -> TokenPair:
        refresh_token = secrets.token_urlsafe(32)
        refresh_expires = now + self._refresh_ttl
        await self._refresh.insert_one(
            {
                "_id": _digest(refresh_token),
                "session_id": session_id,
                "user_id": user["_id"],
                "created_at": now,
                "expires_at": refresh_expires,
                "used_at": None,
            }
        )
        grants = await self.grants_for(user)
        waiting = set() if second_factor else set(self._ctx.config.login.second_factor_roles)
        usable = [g for g in grants if g.role not in waiting]
        access, access_expires = self._tokens.mint_access(str(user["_id"]), str(session_id), usable)
        return TokenPair(
            access, access_expires, refresh_token, refresh_expires, str(session_id), len(usable) < len(grants)
        )

    async def grants_for(self, user: dict[str, Any]) -> list[Grant]:
        """The user's grants; those of center staff and liaisons carry their unit's town (`Grant.town_id`),
        read once per token issue, so that town-wide duties and a liaison's town cost no lookup per request."""
        grants = grants_of(user)
        bound = [ObjectId(g.org_id) for g in grants if g.org_id and g.role in TOWN_BOUND_ROLES]
        towns = {str(unit): str(town) for unit, town in (await OrgService(self._ctx).towns_of(bound)).items()}
        return [replace(g, town_id=towns.get(g.org_id or "")) if g.role in TOWN_BOUND_ROLES else g for g in grants]

    async def _unusable(self, digest: str, now: datetime) -> Unauthenticated:
        """Why a refresh token cannot be used; a consumed one coming back ends its session."""
        known = await self._refresh.find_one({"_id": digest})
        if known is None:
            return Unauthenticated("登录凭证无效，请重新登录", code="refresh_invalid")
        session = await self._sessions.find_one({"_id": known["session_id"]})
        if session is not None and session["revoked_at"] is not None:
            return Unauthenticated("已退出登录，请重新登录", code="session_revoked")
        # A consumed token came back: someone holds a copy. End the whole chain.
        await self._revoke(known["session_id"], now, reason="refresh_reuse")
        await self._audit.record(
            action="auth.refresh_reuse",
            actor_id=known["user_id"],
            target_type="session",
            target_id=known["session_id"],
            at=now,
        )
        return Unauthenticated("登录凭证已被使用过，为安全起见已退出登录，请重新登录", code="refresh_reused")

    async def catch_up_revocations(self) -> int:
        """Learn the sessions revoked by any process since the last successful read (the first looks back as far
        as an access token lives); returns how many were read. A read that fails is tried again after the
        interval, from the same point: an outage costs one slow request per interval, not every request."""
        now = self._clock()
        since = self._tokens.start_revocation_read(now)
        query = {"revoked_at": {"$gte": since - REVOCATION_OVERLAP}}
        revoked = await self._sessions.find(query, {"_id": 1}).to_list(None)
        self._tokens.finish_revocation_read((str(session["_id"]) for session in revoked), now)
        return len(revoked)

    async def _revoke(self, session_id: ObjectId, now: datetime, *, reason: str) -> None:
        await self._sessions.update_one(
            {"_id": session_id, "revoked_at": None}, {"$set": {"revoked_at": now, "revoke_reason": reason}}
        )
        await self._refresh.update_many({"session_id": session_id, "used_at": None}, {"$set": {"used_at": now}})
        self._tokens.forget_session(str(session_id))


def is_staff_account(user: dict[str, Any]) -> bool:
    """Whether the account holds any role besides a resident's (staff and auditors)."""
    return any(g.get("role") != "resident" for g in user.get("grants") or [])
