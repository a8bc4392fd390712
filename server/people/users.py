"""Users (`users`): staff and residents, with role grants scoped to org units.

A phone is stored sealed (`phone_enc`) with a keyed hash beside it (`phone_hash`, unique) for lookup;
the clear number is never stored.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import Grant
from server.core.context import Context
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.identity import seal, unseal
from server.core.permissions import LIAISON_SOURCES, ROLES
from server.core.pii import normalize_phone
from server.core.references import refers_to_org

COLLECTION = "users"

CLOSED_NAME = "已注销用户"
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
    "auditor": "安全审计员",
}

indexes.declare(
    COLLECTION,
    IndexModel([("phone_hash", ASCENDING)], name="phone_hash", unique=True, sparse=True),
    IndexModel([("openid", ASCENDING)], name="openid", unique=True, sparse=True),
    IndexModel([("grants.org_id", ASCENDING), ("grants.role", ASCENDING)], name="grant_org_role"),
    IndexModel([("grants.org_id", ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)], name="grant_org_name"),
)
refers_to_org(COLLECTION, "grants.org_id")


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
        self._ctx = ctx
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

    async def rename(self, user_id: ObjectId, name: str) -> dict[str, Any]:
        user = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"name": name, "updated_at": self._ctx.clock.now()}},
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            raise NotFound("找不到该用户")
        return user

    # ---- what other services ask of the users collection (its one owner) ----------------------------------
    async def find(self, user_id: ObjectId) -> dict[str, Any] | None:
        user: dict[str, Any] | None = await self._users.find_one({"_id": user_id})
        return user

    async def names_and_roles(self, user_ids: list[ObjectId]) -> dict[ObjectId, tuple[str, str]]:
        """Each user's name and first role, for showing who did what (nothing personal beyond the name)."""
        found = await self._users.find({"_id": {"$in": user_ids}}, {"name": 1, "grants": 1}).to_list(None)
        return {u["_id"]: (u["name"], (u.get("grants") or [{"role": "resident"}])[0]["role"]) for u in found}

    async def active_by_ids(self, user_ids: list[ObjectId]) -> list[dict[str, Any]]:
        return await self._users.find({"_id": {"$in": user_ids}, "active": True}).to_list(None)

    async def active_with_role_at(
        self, roles: tuple[str, ...], org_ids: ObjectId | list[ObjectId] | None
    ) -> list[dict[str, Any]]:
        """Active users holding one of `roles` exactly at the unit(s) `org_ids`."""
        at = {"$in": org_ids} if isinstance(org_ids, list) else org_ids
        query = {"grants": {"$elemMatch": {"role": {"$in": list(roles)}, "org_id": at}}, "active": True}
        return await self._users.find(query).to_list(None)

    async def are_active_mediators(self, user_ids: list[ObjectId], unit_path: list[ObjectId]) -> bool:
        """Whether every one of `user_ids` is an active mediator at the unit or above it on `unit_path`."""
        query = {
            "_id": {"$in": user_ids},
            "active": True,
            "grants": {"$elemMatch": {"role": "mediator", "org_id": {"$in": unit_path}}},
        }
        return len(await self._users.find(query, {"_id": 1}).to_list(None)) == len(set(user_ids))

    async def with_role_in(self, role: str, scope: list[ObjectId]) -> list[dict[str, Any]]:
        """Everyone granted `role` at a unit of `scope` (names and grants only)."""
        query = {"grants": {"$elemMatch": {"role": role, "org_id": {"$in": scope}}}}
        return await self._users.find(query, {"name": 1, "grants": 1, "active": 1}).to_list(None)

    async def granted_at(self, org_id: ObjectId) -> bool:
        """Whether anybody holds a role at the unit (it cannot be deleted then)."""
        return bool(await self._users.count_documents({"grants.org_id": org_id}, limit=1))

    async def use_wechat_subscription(self, user_id: ObjectId, template_id: str) -> bool:
        """One-time subscriptions allow one message each: take one, atomically, or report there is none."""
        field = f"wechat_subscriptions.{template_id}"
        result = await self._users.update_one({"_id": user_id, field: {"$gt": 0}}, {"$inc": {field: -1}})
        return bool(result.modified_count == 1)

    async def add_wechat_subscriptions(self, user_id: ObjectId, template_ids: list[str]) -> None:
        if template_ids:
            await self._users.update_one(
                {"_id": user_id}, {"$inc": {f"wechat_subscriptions.{t}": 1 for t in template_ids}}
            )

    async def close(self, user_id: ObjectId, now: datetime) -> None:
        """A resident's account closed: its name, phone, WeChat identity, preferences and second factor go;
        what remains is an inactive id with the consents it gave (the record that they were given)."""
        await self._users.update_one(
            {"_id": user_id},
            {
                "$set": {"name": CLOSED_NAME, "active": False, "closed_at": now, "grants": []},
                "$unset": {k: "" for k in ("phone_enc", "phone_hash", "openid", "unionid", "prefs", "totp")}
                | {"wechat_subscriptions": ""},
            },
        )

    async def record_privacy_consent(self, user_id: ObjectId, consent: dict[str, Any]) -> dict[str, Any]:
        """The current acceptance of the privacy notice, and every one before it."""
        user = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"privacy_consent": consent}, "$push": {"privacy_consents": consent}},
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            raise NotFound("找不到该用户")
        return dict(user)

    # ---- the second factor (server/people/second_factor.py) ----
    async def set_second_factor(self, user_id: ObjectId, totp: dict[str, Any]) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"totp": totp}})

    async def set_second_factor_fields(self, user_id: ObjectId, fields: dict[str, Any]) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": fields})

    async def use_totp_step(self, user_id: ObjectId, step: int) -> bool:
        """Take a TOTP time step for this account, if no later or equal one was taken (no replays)."""
        taken = await self._users.update_one(
            {"_id": user_id, "totp.last_step": {"$lt": step}}, {"$set": {"totp.last_step": step}}
        )
        return bool(taken.modified_count)

    async def use_recovery_code(self, user_id: ObjectId, code_hash: str) -> bool:
        """Spend one recovery code (each works once)."""
        used = await self._users.update_one(
            {"_id": user_id, "totp.recovery": code_hash}, {"$pull": {"totp.recovery": code_hash}}
        )
        return bool(used.modified_count)

    async def count_second_factor_failure(self, user_id: ObjectId) -> int:
        user = await self._users.find_one_and_update(
            {"_id": user_id}, {"$inc": {"totp.failures": 1}}, return_document=ReturnDocument.AFTER
        )
        return int(((user or {}).get("totp") or {}).get("failures", 0))

    async def set_prefs(self, user_id: ObjectId, prefs: dict[str, Any]) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {f"prefs.{k}": v for k, v in prefs.items()}})

    async def add_grants(
        self, user_id: ObjectId, grants: list[dict[str, Any]], name: str, now: datetime
    ) -> dict[str, Any]:
        """Give an existing account more grants (a resident becoming staff)."""
        user = await self._users.find_one_and_update(
            {"_id": user_id},
            {"$set": {"name": name, "updated_at": now}, "$push": {"grants": {"$each": grants}}},
            return_document=ReturnDocument.AFTER,
        )
        if user is None:
            raise NotFound("找不到该用户")
        return user

    async def add_grant_once(self, user_id: ObjectId, grant: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """Add a grant unless the same role at the same unit is there already (None then)."""
        match = {"role": grant["role"], "org_id": grant["org_id"]}
        user: dict[str, Any] | None = await self._users.find_one_and_update(
            {"_id": user_id, "grants": {"$not": {"$elemMatch": match}}},
            {"$push": {"grants": grant}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return user

    async def remove_grant(
        self, user_id: ObjectId, role: str, org_id: ObjectId, now: datetime
    ) -> dict[str, Any] | None:
        """Remove a grant; None if the user did not hold it."""
        user: dict[str, Any] | None = await self._users.find_one_and_update(
            {"_id": user_id, "grants": {"$elemMatch": {"role": role, "org_id": org_id}}},
            {"$pull": {"grants": {"role": role, "org_id": org_id}}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return user

    async def set_active_in(
        self, user_id: ObjectId, scope: list[ObjectId], active: bool, now: datetime
    ) -> dict[str, Any] | None:
        """(De)activate a user granted somewhere in `scope`; None if they are not."""
        user: dict[str, Any] | None = await self._users.find_one_and_update(
            {"_id": user_id, "grants.org_id": {"$in": scope}},
            {"$set": {"active": active, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return user

    async def granted_in(self, user_id: ObjectId, scope: list[ObjectId]) -> dict[str, Any] | None:
        user: dict[str, Any] | None = await self._users.find_one({"_id": user_id, "grants.org_id": {"$in": scope}})
        return user

    async def search_granted(
        self,
        scope: list[ObjectId],
        *,
        role: str | None,
        name: str | None,
        phone: str | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Users granted a role somewhere in `scope`, by name (part), exact phone and role."""
        grant_match: dict[str, Any] = {"org_id": {"$in": scope}}
        if role:
            grant_match["role"] = role
        query: dict[str, Any] = {"grants": {"$elemMatch": grant_match}}
        if name:
            query["name"] = {"$regex": re.escape(name)}
        if phone:
            query["phone_hash"] = self._cipher.lookup_hash(normalize_phone(phone), "phone")
        total = await self._users.count_documents(query)
        cursor = self._users.find(query).sort([("name", 1), ("_id", 1)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total
