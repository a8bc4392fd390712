"""The in-app inbox and the people's choices about how they are reached; outbox operations for admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument

from notify.outbox import INBOX, OUTBOX
from server.core.auth import ADMIN_ROLES, Principal
from server.core.errors import Conflict, NotFound
from server.core.scope import org_scope_filter, require_org_scope

if TYPE_CHECKING:
    from server.core.context import Context


class InboxService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._inbox = ctx.db[INBOX]

    async def list(
        self, user_id: ObjectId, *, unread_only: bool, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int, int]:
        query: dict[str, Any] = {"user_id": user_id}
        unread = await self._inbox.count_documents({"user_id": user_id, "read_at": None})
        if unread_only:
            query["read_at"] = None
        total = await self._inbox.count_documents(query)
        cursor = self._inbox.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total, unread

    async def mark_read(self, user_id: ObjectId, message_id: ObjectId | None) -> int:
        query: dict[str, Any] = {"user_id": user_id, "read_at": None}
        if message_id is not None:
            if await self._inbox.count_documents({"_id": message_id, "user_id": user_id}) == 0:
                raise NotFound("找不到该消息")
            query["_id"] = message_id
        result = await self._inbox.update_many(query, {"$set": {"read_at": self._ctx.clock.now()}})
        return result.modified_count


class PreferenceService:
    """Residents choose channels; SMS consent is recorded with its time (个人信息保护法 asks for proof)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._users = ctx.db["users"]

    async def get(self, user_id: ObjectId) -> dict[str, Any]:
        user = await self._users.find_one({"_id": user_id}, {"prefs": 1, "wechat_subscriptions": 1})
        if user is None:
            raise NotFound("找不到该用户")
        prefs = {"wechat": True, "sms_consent": False, "sms_consent_at": None} | (user.get("prefs") or {})
        return prefs | {"wechat_subscriptions": user.get("wechat_subscriptions") or {}}

    async def set(self, user_id: ObjectId, *, wechat: bool, sms_consent: bool) -> dict[str, Any]:
        now = self._ctx.clock.now()
        current = await self.get(user_id)
        changes: dict[str, Any] = {"prefs.wechat": wechat, "prefs.sms_consent": sms_consent}
        if sms_consent != current["sms_consent"]:
            changes["prefs.sms_consent_at"] = now
            await self._ctx.audit.record(
                action="user.sms_consent" if sms_consent else "user.sms_consent_withdrawn",
                actor_id=user_id,
                target_type="user",
                target_id=user_id,
                at=now,
            )
        await self._users.update_one({"_id": user_id}, {"$set": changes})
        return await self.get(user_id)

    async def add_subscriptions(self, user_id: ObjectId, template_ids: list[str]) -> dict[str, Any]:
        """The mini-program reports the one-time subscriptions the resident just accepted."""
        known = {t.template_id for t in self._ctx.config.wechat.templates.values()}
        increments = {f"wechat_subscriptions.{t}": 1 for t in template_ids if t in known}
        if increments:
            await self._users.update_one({"_id": user_id}, {"$inc": increments})
        return await self.get(user_id)


class OutboxAdmin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._outbox = ctx.db[OUTBOX]

    async def search(
        self, principal: Principal, *, status: str | None, channel: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, ADMIN_ROLES)
        if status:
            query["status"] = status
        if channel:
            query["channel"] = channel
        total = await self._outbox.count_documents(query)
        cursor = self._outbox.find(query).sort([("created_at", DESCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def retry(self, principal: Principal, message_id: ObjectId) -> dict[str, Any]:
        message = await self._outbox.find_one({"_id": message_id})
        if message is None:
            raise NotFound("找不到该消息")
        require_org_scope(principal, message["org_path"], ADMIN_ROLES, "消息")
        now = self._ctx.clock.now()
        retried = await self._outbox.find_one_and_update(
            {"_id": message_id, "status": "failed"},
            {
                "$set": {
                    "status": "pending",
                    "next_at": now,
                    "created_at": now,
                    "retried_by": ObjectId(principal.user_id),
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        if retried is None:
            raise Conflict("只有发送失败的消息可以重发", code="outbox_not_failed")
        return retried

    async def counts(self) -> list[dict[str, Any]]:
        pipeline = [{"$group": {"_id": {"status": "$status", "channel": "$channel"}, "n": {"$sum": 1}}}]
        return await (await self._outbox.aggregate(pipeline)).to_list(None)
