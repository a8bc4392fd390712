"""Households (`households`): a micro-grid's homes, their members, tags and QR plate token.

Members' phones and ID numbers are sealed with the field cipher, with a keyed hash beside each for lookup.
Responses mask them; a caller whose work needs the full numbers asks for them explicitly (`reveal`), and
every such read is audited. The plate token is random and opaque: it names the household without carrying
anything about it, and replacing it retires the old plate.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import Principal
from server.core.crypto import FieldCipher
from server.core.errors import Forbidden, Gone, NotFound, ValidationFailed
from server.core.identity import seal
from server.core.pii import InvalidIdNumber, InvalidPhone, phone_input
from server.core.references import refers_to_org
from server.core.scope import in_org_scope, org_scope_filter, require_org_scope
from server.orgs.tree import OrgService
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "households"
RETIRED_TOKENS = "retired_qr_tokens"


indexes.declare(
    COLLECTION,
    IndexModel([("qr_token", ASCENDING)], name="qr_token", unique=True),
    # Lists by unit then address: `org_path` is an array and cannot give the order; the micro-grid can.
    IndexModel(
        [("org_path", ASCENDING), ("micro_grid_id", ASCENDING), ("address", ASCENDING)], name="scope_grid_address"
    ),
    IndexModel([("micro_grid_id", ASCENDING), ("address", ASCENDING)], name="micro_grid_address"),
    IndexModel([("members.phone_hash", ASCENDING)], name="member_phone"),
    IndexModel([("members.id_hash", ASCENDING)], name="member_id_number"),
)
refers_to_org(COLLECTION, "org_path")
indexes.declare(RETIRED_TOKENS, IndexModel([("household_id", ASCENDING), ("retired_at", DESCENDING)], name="household"))


def new_qr_token() -> str:
    """16 random bytes, URL-safe: short enough for a small QR symbol, far too many to guess."""
    return secrets.token_urlsafe(16)


def member_doc(
    cipher: FieldCipher,
    *,
    name: str,
    relation: str,
    phone: str | None = None,
    id_number: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A member as stored: clear name and relation; phone and ID number sealed, with lookup hashes."""
    member: dict[str, Any] = {"id": ObjectId(), "name": name, "relation": relation}
    member.update(seal(cipher, phone=phone, id_number=id_number))
    member.update({k: v for k, v in extra.items() if v is not None})
    return member


def new_household(
    *,
    micro_grid: dict[str, Any],
    address: str,
    members: list[dict[str, Any]],
    tags: list[str],
    now: datetime,
    created_by: ObjectId | None,
    _id: ObjectId | None = None,
) -> dict[str, Any]:
    """A household as stored (members already built with `member_doc`), with a fresh plate token."""
    return {
        "_id": _id or ObjectId(),
        "micro_grid_id": micro_grid["_id"],
        "org_path": micro_grid["path"],
        "address": address,
        "members": members,
        "tags": tags,
        "qr_token": new_qr_token(),
        "created_at": now,
        "created_by": created_by,
    }


class HouseholdService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._households = ctx.db[COLLECTION]
        self._retired = ctx.db[RETIRED_TOKENS]

    # ---- what other services ask of the households collection (its one owner) ----------------------------
    async def under(self, org_ids: list[ObjectId], fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """The households under any of `org_ids` with `fields`, by unit and address."""
        cursor = self._households.find({"org_path": {"$in": org_ids}}, dict.fromkeys(fields, 1))
        return await cursor.sort([("micro_grid_id", 1), ("address", 1)]).to_list(None)

    async def count_under(self, org_id: ObjectId) -> dict[ObjectId, int]:
        """How many households each micro-grid under `org_id` has (one aggregation)."""
        pipeline = [
            {"$match": {"org_path": org_id}},
            {"$project": {"micro_grid_id": 1}},
            {"$group": {"_id": "$micro_grid_id", "n": {"$sum": 1}}},
        ]
        return {row["_id"]: row["n"] async for row in await self._households.aggregate(pipeline)}

    async def by_ids(self, household_ids: list[ObjectId], fields: tuple[str, ...]) -> list[dict[str, Any]]:
        """The households `household_ids` with `fields`, in that order (missing ones left out)."""
        cursor = self._households.find({"_id": {"$in": household_ids}}, dict.fromkeys(fields, 1))
        found = {h["_id"]: h for h in await cursor.to_list(None)}
        return [found[h] for h in household_ids if h in found]

    async def exists_at(self, micro_grid_id: ObjectId, address: str) -> bool:
        return bool(await self._households.count_documents({"micro_grid_id": micro_grid_id, "address": address}))

    async def insert(self, households: list[dict[str, Any]]) -> None:
        """Store households built with `member_doc` and `new_qr_token` (imports, the demo seed)."""
        if households:
            await self._households.insert_many(households)

    async def residents_per_unit(self) -> dict[ObjectId, int]:
        """How many registered residents live under each unit."""
        totals: dict[ObjectId, int] = {}
        async for household in self._households.find({}, {"org_path": 1, "members": 1}):
            for org_id in household["org_path"]:
                totals[org_id] = totals.get(org_id, 0) + len(household["members"])
        return totals

    def _members(self, members: list[dict[str, Any]], field_prefix: str = "members") -> list[dict[str, Any]]:
        docs, errors = [], []
        for index, member in enumerate(members):
            try:
                docs.append(member_doc(self._ctx.cipher, **member))
            except (InvalidPhone, InvalidIdNumber) as exc:
                errors.append({"field": f"{field_prefix}.{index}.{exc.field}", "message": str(exc)})
        if errors:
            raise ValidationFailed(details=errors)
        return docs

    async def create(
        self,
        principal: Principal,
        *,
        micro_grid_id: ObjectId,
        address: str,
        members: list[dict[str, Any]],
        tags: list[str],
    ) -> dict[str, Any]:
        now = self._ctx.clock.now()
        micro = await OrgService(self._ctx).get_in_scope(principal, micro_grid_id, "household.edit")
        if micro["kind"] != "micro_grid":
            raise ValidationFailed(details=[{"field": "micro_grid_id", "message": "住户须登记在微网格下"}])
        household = new_household(
            micro_grid=micro,
            address=address,
            members=self._members(members),
            tags=tags,
            now=now,
            created_by=ObjectId(principal.user_id),
        )
        await self._households.insert_one(household)
        await self._audit(principal, "household.create", household["_id"], now)
        return household

    async def get(self, principal: Principal, household_id: ObjectId, *, reveal: str | None = None) -> dict[str, Any]:
        """Staff in scope, or a resident who is a member (by phone), may read; anyone else gets a 404. `reveal`:
        the reason the caller gives for the full numbers (audited)."""
        household = await self._households.find_one({"_id": household_id})
        if household is None:
            raise NotFound("找不到该住户")
        if not in_org_scope(principal, household["org_path"], "household.view") and not await self._is_member(
            principal, household
        ):
            raise NotFound("找不到该住户")
        if reveal:
            if not in_org_scope(principal, household["org_path"], "household.reveal"):
                raise Forbidden("只有网格员和管理员可以查看完整号码", code="reveal_forbidden")
            await self._audit(principal, "household.reveal", household_id, self._ctx.clock.now(), {"reason": reveal})
        return household

    async def _is_member(self, principal: Principal, household: dict[str, Any]) -> bool:
        if not principal.has_role("resident"):
            return False
        user = await UserService(self._ctx).find(ObjectId(principal.user_id))
        phone_hash = user.get("phone_hash") if user else None
        return bool(phone_hash) and any(m.get("phone_hash") == phone_hash for m in household["members"])

    async def search(
        self,
        principal: Principal,
        *,
        org_id: ObjectId | None,
        tag: str | None,
        address: str | None,
        phone: str | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "household.view")
        if org_id is not None:
            await OrgService(self._ctx).get_in_scope(principal, org_id, "household.view")
            query = {"$and": [query, {"org_path": org_id}]}
        if tag:
            query["tags"] = tag
        if address:
            query["address"] = {"$regex": re.escape(address)}
        if phone:
            query["members.phone_hash"] = self._ctx.cipher.lookup_hash(phone_input(phone), "phone")
        total = await self._households.count_documents(query)
        cursor = self._households.find(query).sort([("micro_grid_id", ASCENDING), ("address", ASCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def with_member_phone(self, phone_hash: str, limit: int = 20) -> list[dict[str, Any]]:
        """The households where a member has this phone (by its keyed hash): a person's own data export."""
        return await self._households.find({"members.phone_hash": phone_hash}).limit(limit).to_list(None)

    async def update(self, principal: Principal, household_id: ObjectId, changes: dict[str, Any]) -> dict[str, Any]:
        now = self._ctx.clock.now()
        await self.get_for_edit(principal, household_id)
        household = await self._households.find_one_and_update(
            {"_id": household_id}, {"$set": {**changes, "updated_at": now}}, return_document=ReturnDocument.AFTER
        )
        await self._audit(principal, "household.update", household_id, now, {"fields": sorted(changes)})
        return household

    async def add_member(self, principal: Principal, household_id: ObjectId, member: dict[str, Any]) -> dict[str, Any]:
        now = self._ctx.clock.now()
        await self.get_for_edit(principal, household_id)
        (doc,) = self._members([member], field_prefix="member")
        household = await self._households.find_one_and_update(
            {"_id": household_id},
            {"$push": {"members": doc}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        await self._audit(principal, "household.member_add", household_id, now, {"member_id": doc["id"]})
        return household

    async def remove_member(self, principal: Principal, household_id: ObjectId, member_id: ObjectId) -> dict[str, Any]:
        now = self._ctx.clock.now()
        await self.get_for_edit(principal, household_id)
        household = await self._households.find_one_and_update(
            {"_id": household_id, "members.id": member_id},
            {"$pull": {"members": {"id": member_id}}, "$set": {"updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if household is None:
            raise NotFound("找不到该成员")
        await self._audit(principal, "household.member_remove", household_id, now, {"member_id": member_id})
        return household

    async def replace_plate(self, principal: Principal, household_id: ObjectId) -> dict[str, Any]:
        """A new plate token; the old one is retired so a scan of the old plate says it was replaced."""
        now = self._ctx.clock.now()
        current = await self.get_for_edit(principal, household_id)
        new_token = new_qr_token()
        household = await self._households.find_one_and_update(
            {"_id": household_id, "qr_token": current["qr_token"]},
            {"$set": {"qr_token": new_token, "qr_replaced_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if household is None:  # replaced concurrently: the other replacement stands
            return await self.get_for_edit(principal, household_id)
        with contextlib.suppress(DuplicateKeyError):  # already retired by a concurrent replacement
            await self._retired.insert_one(
                {"_id": current["qr_token"], "household_id": household_id, "retired_at": now}
            )
        await self._audit(principal, "household.plate_replace", household_id, now)
        return household

    async def find(self, household_id: ObjectId) -> dict[str, Any] | None:
        """The household, without any access check: for services that check scope themselves."""
        return await self._households.find_one({"_id": household_id})

    async def by_qr_token(self, token: str) -> dict[str, Any]:
        household = await self._households.find_one({"qr_token": token})
        if household is not None:
            return household
        if await self._retired.find_one({"_id": token}) is not None:
            raise Gone("该门牌二维码已更换，请扫描新的门牌", code="plate_replaced")
        raise NotFound("无效的门牌二维码", code="plate_unknown")

    async def get_for_edit(self, principal: Principal, household_id: ObjectId) -> dict[str, Any]:
        household = await self._households.find_one({"_id": household_id})
        if household is None:
            raise NotFound("找不到该住户")
        require_org_scope(principal, household["org_path"], "household.edit", "住户")
        return household

    async def _audit(
        self,
        principal: Principal,
        action: str,
        household_id: ObjectId,
        now: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._ctx.audit.record_for(principal, action, "household", household_id, now, details)
