"""The in-app inbox (`inbox`, its one owner) and the people's choices about how they are reached."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.errors import NotFound
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context


INBOX = "inbox"

indexes.declare(
    INBOX,
    IndexModel([("dedupe", ASCENDING)], name="dedupe", unique=True),
    IndexModel([("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="user_created_id"),
    IndexModel([("user_id", ASCENDING), ("read_at", ASCENDING)], name="user_unread"),
)


class InboxService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._inbox = ctx.db[INBOX]

    async def put(self, message: dict[str, Any]) -> None:
        """File a message (built by `notify.outbox.inbox_message`); a repeat of its dedupe key is ignored."""
        with contextlib.suppress(DuplicateKeyError):  # relayed before a crash: the first copy stands
            await self._inbox.insert_one(message)

    async def put_history(self, messages: list[dict[str, Any]]) -> None:
        """File messages of the past at once (the demo's history), each built by `inbox_message`."""
        await self._inbox.insert_many(messages)

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

    async def delete_for(self, user_id: ObjectId) -> int:
        """Every message of a closed account."""
        return int((await self._inbox.delete_many({"user_id": user_id})).deleted_count)

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
        self._users = UserService(ctx)

    async def get(self, user_id: ObjectId) -> dict[str, Any]:
        user = await self._users.find(user_id)
        if user is None:
            raise NotFound("找不到该用户")
        prefs = {"wechat": True, "sms_consent": False, "sms_consent_at": None} | (user.get("prefs") or {})
        return prefs | {"wechat_subscriptions": user.get("wechat_subscriptions") or {}}

    async def set(self, user_id: ObjectId, *, wechat: bool, sms_consent: bool) -> dict[str, Any]:
        now = self._ctx.clock.now()
        current = await self.get(user_id)
        changes: dict[str, Any] = {"wechat": wechat, "sms_consent": sms_consent}
        if sms_consent != current["sms_consent"]:
            changes["sms_consent_at"] = now
            await self._ctx.audit.record(
                action="user.sms_consent" if sms_consent else "user.sms_consent_withdrawn",
                actor_id=user_id,
                target_type="user",
                target_id=user_id,
                at=now,
            )
        await self._users.set_prefs(user_id, changes)
        return await self.get(user_id)

    async def add_subscriptions(self, user_id: ObjectId, template_ids: list[str]) -> dict[str, Any]:
        """The mini-program reports the one-time subscriptions the resident just accepted."""
        known = {t.template_id for t in self._ctx.config.wechat.templates.values()}
        await self._users.add_wechat_subscriptions(user_id, [t for t in template_ids if t in known])
        return await self.get(user_id)
