"""Users (`users`): staff and residents, with role grants scoped to org units.

A phone is stored sealed (`phone_enc`) with a keyed hash beside it (`phone_hash`, unique) for lookup;
the clear number is never stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import LIAISON_SOURCES, ROLES, Grant
from server.core.context import Context
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.identity import seal, unseal
from server.core.pii import normalize_phone

COLLECTION = "users"

ROLE_NAMES = {
    "resident": "群众",
    "grid_worker": "网格员",
    "mediator": "调解员",
    "center_staff": "中心工作人员",
    "town_admin": "镇三源共治办公室",
    "county_admin": "县综治中心",
    "liaison": "对接联络员",
    "expert": "咨询专家",
    "supervisor": "督查",
}

indexes.declare(
    COLLECTION,
    IndexModel([("phone_hash", ASCENDING)], name="phone_hash", unique=True, sparse=True),
    IndexModel([("openid", ASCENDING)], name="openid", unique=True, sparse=True),
    IndexModel([("grants.org_id", ASCENDING), ("grants.role", ASCENDING)], name="grant_org_role"),
)


def grants_of(user: dict[str, Any]) -> list[Grant]:
    return [
        Grant(role=g["role"], org_id=str(g["org_id"]) if g.get("org_id") else None, liaison_for=g.get("liaison_for"))
        for g in user.get("grants", [])
    ]


def grant_doc(role: str, org_id: ObjectId | None, liaison_for: str | None = None) -> dict[str, Any]:
    if role not in ROLES:
        raise ValidationFailed(details=[{"field": "role", "message": "未知的角色"}])
    if role != "resident" and org_id is None:
        raise ValidationFailed(details=[{"field": "org_id", "message": "工作人员角色必须指定所属组织"}])
    if role == "liaison" and liaison_for not in LIAISON_SOURCES:
        raise ValidationFailed(
            details=[{"field": "liaison_for", "message": "对接联络员须指定 police、court 或 petition"}]
        )
    doc: dict[str, Any] = {"role": role, "org_id": org_id}
    if liaison_for:
        doc["liaison_for"] = liaison_for
    return doc


class UserService:
    def __init__(self, ctx: Context) -> None:
        self._users = ctx.db[COLLECTION]
        self._cipher = ctx.cipher

    async def get(self, user_id: ObjectId) -> dict[str, Any]:
        user = await self._users.find_one({"_id": user_id})
        if user is None:
            raise NotFound("找不到该用户")
        return user

    async def by_phone(self, phone: str) -> dict[str, Any] | None:
        return await self._users.find_one({"phone_hash": self._cipher.lookup_hash(normalize_phone(phone), "phone")})

    def phone_of(self, user: dict[str, Any]) -> str | None:
        return unseal(self._cipher, user)[0]

    async def create(
        self,
        *,
        name: str,
        now: datetime,
        phone: str | None = None,
        grants: list[dict[str, Any]] | None = None,
        _id: ObjectId | None = None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {
            "_id": _id or ObjectId(),
            "name": name,
            "grants": grants or [],
            "active": True,
            "created_at": now,
        }
        if phone is not None:
            user.update(seal(self._cipher, phone=phone))
        try:
            await self._users.insert_one(user)
        except DuplicateKeyError as exc:
            raise Conflict("该手机号已被其他账号使用", code="phone_taken") from exc
        return user

    async def resident_by_openid(self, openid: str, unionid: str | None, now: datetime) -> tuple[dict[str, Any], bool]:
        """Find or create the resident behind a WeChat openid, atomically; return it and whether it is new."""
        created_id = ObjectId()
        on_insert: dict[str, Any] = {
            "_id": created_id,
            "name": "微信用户",
            "grants": [grant_doc("resident", None)],
            "active": True,
            "created_at": now,
        }
        if unionid:
            on_insert["unionid"] = unionid
        try:
            user = await self._users.find_one_and_update(
                {"openid": openid},
                {"$setOnInsert": on_insert},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # a concurrent first login inserted it a moment ago
            user = await self._users.find_one({"openid": openid})
        return user, user["_id"] == created_id

    async def resident_by_phone(self, phone: str, now: datetime) -> tuple[dict[str, Any], bool]:
        """The account with this phone, or a new resident account for it; and whether it is new."""
        existing = await self.by_phone(phone)
        if existing is not None:
            return existing, False
        try:
            return await self.create(name="群众", phone=phone, now=now, grants=[grant_doc("resident", None)]), True
        except Conflict:  # created concurrently
            user = await self.by_phone(phone)
            if user is None:
                raise
            return user, False

    async def set_phone(self, user_id: ObjectId, phone: str, now: datetime) -> dict[str, Any]:
        try:
            user = await self._users.find_one_and_update(
                {"_id": user_id},
                {"$set": {**seal(self._cipher, phone=phone), "updated_at": now}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as exc:
            raise Conflict("该手机号已绑定其他账号，请改用短信验证码登录该账号", code="phone_taken") from exc
        if user is None:
            raise NotFound("找不到该用户")
        return user

    async def rename(self, user_id: ObjectId, name: str, now: datetime) -> dict[str, Any]:
        user = await self._users.find_one_and_update(
            {"_id": user_id}, {"$set": {"name": name, "updated_at": now}}, return_document=ReturnDocument.AFTER
        )
        if user is None:
            raise NotFound("找不到该用户")
        return user
