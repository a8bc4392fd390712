"""The roster (调解力量, `roster`) and the consulting experts (咨询专家库, `experts`): one profile per person.

Every mediator account has a roster profile and every expert account an expert profile, made the first time
anyone looks (an account granted the role later gets one then); social forces who sit in sessions without an
account (党员干部, 人大代表, 乡贤, 五老 …) are roster entries an admin adds. A profile belongs where its units
are: `org_path` is the union of their paths, so a town admin sees and edits their town's roster, the county
all of it. Experts at the county serve every town: a town's staff see the county's experts beside their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument

from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.scope import granted_orgs, in_org_scope
from server.orgs.tree import OrgService
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

ROSTER = "roster"
EXPERTS = "experts"
ONE_PER_ACCOUNT = IndexModel([("user_id", ASCENDING)], name="user", unique=True, sparse=True)
BY_SCOPE = IndexModel([("org_path", ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)], name="scope_name_id")
indexes.declare(ROSTER, ONE_PER_ACCOUNT, BY_SCOPE)
indexes.declare(EXPERTS, ONE_PER_ACCOUNT, BY_SCOPE)


class Directory:
    """What the roster and the expert pool share: profiles placed by their units, one per account."""

    collection: str
    role: str  # the role whose accounts get a profile
    what: str  # for messages

    def __init__(self, ctx: Context, profiles: Any) -> None:
        self._ctx = ctx
        self._profiles = profiles
        self._orgs = OrgService(ctx)

    def defaults(self) -> dict[str, Any]:
        raise NotImplementedError

    async def placed(self, unit_ids: list[ObjectId], field: str = "org_ids") -> dict[str, Any]:
        """Where a profile with these units belongs: the units, their paths' union, the town and county."""
        units = await self._orgs.by_ids(unit_ids)
        if len(units) != len(set(unit_ids)) or not units:
            raise NotFound("找不到该组织单元")
        path = list(dict.fromkeys(o for u in units.values() for o in u["path"]))
        kinds = {o: u["kind"] for o, u in (await self._orgs.by_ids(path)).items()}
        towns = {o for o in path if kinds.get(o) == "town"}
        if len(towns) > 1:
            raise ValidationFailed(details=[{"field": field, "message": "所属单位须在同一个镇"}])
        return {
            "org_ids": list(units),
            "org_path": path,
            "town_id": next(iter(towns), None),
            "county_id": next((o for o in path if kinds.get(o) == "county"), None),
        }

    async def _roots(self, principal: Principal, capability: str) -> list[ObjectId]:
        roots = granted_orgs(principal, capability)
        if not roots:
            raise Forbidden()
        return roots

    async def sync(self, roots: list[ObjectId]) -> None:
        """A profile for every account holding the role under `roots` that has none yet."""
        accounts = await UserService(self._ctx).with_role_in(self.role, await self._orgs.subtree_ids(roots))
        if not accounts:
            return
        have = {
            p["user_id"]
            async for p in self._profiles.find({"user_id": {"$in": [a["_id"] for a in accounts]}}, {"user_id": 1})
        }
        for account in accounts:
            if account["_id"] in have:
                continue
            units = [g["org_id"] for g in account["grants"] if g["role"] == self.role and g.get("org_id")]
            await self.ensure(account, units)

    async def ensure(self, account: dict[str, Any], unit_ids: list[ObjectId]) -> dict[str, Any]:
        """The account's profile, made with the defaults if it has none."""
        now = self._ctx.clock.now()
        doc = {
            "user_id": account["_id"],
            "name": account["name"],
            **self.defaults(),
            **await self.placed(unit_ids),
            "created_at": now,
            "updated_at": now,
        }
        found: dict[str, Any] = await self._profiles.find_one_and_update(
            {"user_id": account["_id"]}, {"$setOnInsert": doc}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return found

    async def scope_filter(self, roots: list[ObjectId]) -> dict[str, Any]:
        return {"org_path": {"$in": roots}}

    async def sync_roots(self, roots: list[ObjectId]) -> list[ObjectId]:
        """Where the accounts a caller may list are granted (profiles are made for them on the first look)."""
        return roots

    async def search(
        self,
        principal: Principal,
        capability: str,
        filters: dict[str, Any],
        *,
        org_id: ObjectId | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """Profiles in the caller's scope (or under `org_id`, a unit in it) matching `filters`."""
        roots = await self._roots(principal, capability)
        await self.sync(await self.sync_roots(roots))
        if org_id is not None:
            await self._orgs.get_in_scope(principal, org_id, capability)
            query = {"org_path": org_id, **filters}
        else:
            query = {**await self.scope_filter(roots), **filters}
        total = await self._profiles.count_documents(query)
        cursor = self._profiles.find(query).sort([("name", ASCENDING), ("_id", ASCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def all_in(self, org_id: ObjectId, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """Every profile under the unit (a town's roster for a rating run or a statement)."""
        await self.sync([org_id])
        cursor = self._profiles.find({"org_path": org_id, **filters}).sort([("name", ASCENDING)])
        return await cursor.to_list(None)

    async def by_user_ids(self, user_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        found = await self._profiles.find({"user_id": {"$in": user_ids}}).to_list(None)
        return {p["user_id"]: p for p in found}

    async def by_ids(self, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        return {p["_id"]: p for p in await self._profiles.find({"_id": {"$in": ids}}).to_list(None)}

    async def get(self, principal: Principal, profile_id: ObjectId, capability: str) -> dict[str, Any]:
        profile = await self._profiles.find_one({"_id": profile_id})
        if profile is None or not await self.visible(principal, profile, capability):
            raise NotFound(f"找不到该{self.what}")
        return profile

    async def visible(self, principal: Principal, profile: dict[str, Any], capability: str) -> bool:
        return in_org_scope(principal, profile["org_path"], capability)

    async def mine(self, principal: Principal) -> dict[str, Any]:
        """The caller's own profile (made now if this is the first look)."""
        user_id = ObjectId(principal.user_id)
        profile = await self._profiles.find_one({"user_id": user_id})
        if profile is not None:
            return profile
        units = [ObjectId(g.org_id) for g in principal.grants if g.role == self.role and g.org_id]
        if not units:
            raise NotFound(f"您没有{self.what}档案")
        return await self.ensure(await UserService(self._ctx).get(user_id), units)

    async def add(self, principal: Principal, capability: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A profile without an account (a social force in the roster)."""
        placed = await self.placed(fields.pop("org_ids"))
        if not in_org_scope(principal, placed["org_path"], capability):
            raise ValidationFailed(details=[{"field": "org_ids", "message": "只能添加到本人管辖范围内的单位"}])
        now = self._ctx.clock.now()
        doc = {"_id": ObjectId(), **self.defaults(), **fields, **placed, "created_at": now, "updated_at": now}
        await self._profiles.insert_one(doc)
        await self._audit(principal, "add", doc["_id"], {"name": doc["name"]})
        return doc

    async def change(
        self, principal: Principal, capability: str, profile_id: ObjectId, changes: dict[str, Any]
    ) -> dict[str, Any]:
        profile = await self.get(principal, profile_id, capability)
        # Seeing is not editing: a town sees the county's experts but does not edit them.
        if not in_org_scope(principal, profile["org_path"], capability):
            raise Forbidden(f"只能修改本人管辖范围内的{self.what}", code="action_forbidden")
        if "org_ids" in changes:
            placed = await self.placed(changes.pop("org_ids"))
            if not in_org_scope(principal, placed["org_path"], capability):
                raise ValidationFailed(details=[{"field": "org_ids", "message": "只能调整到本人管辖范围内的单位"}])
            changes |= placed
        if profile.get("user_id") and "name" in changes:
            raise ValidationFailed(details=[{"field": "name", "message": "有账号的人员请在人员管理中改名"}])
        changes["updated_at"] = self._ctx.clock.now()
        updated: dict[str, Any] = await self._profiles.find_one_and_update(
            {"_id": profile_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )
        await self._audit(principal, "change", profile_id, {"fields": sorted(changes)})
        return updated

    async def set_fields(
        self, profile_id: ObjectId, fields: dict[str, Any], guard: dict[str, Any] | None = None
    ) -> bool:
        """Set fields on a profile (a published star, an honour) if it still matches `guard`."""
        result = await self._profiles.update_one({"_id": profile_id, **(guard or {})}, {"$set": fields})
        return bool(result.modified_count)

    async def _audit(self, principal: Principal, what: str, profile_id: ObjectId, details: dict[str, Any]) -> None:
        await self._ctx.audit.record_for(
            principal, f"{self.collection}.{what}", self.collection, profile_id, self._ctx.clock.now(), details
        )


class Roster(Directory):
    collection, role, what = ROSTER, "mediator", "调解员"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.db[ROSTER])

    def defaults(self) -> dict[str, Any]:
        return {
            "kind": "people",
            "force": None,
            "specialties": [],
            "tier": None,
            "certificate": None,
            "training_hours": 0,
            "status": "active",
            "star": None,
            "gold": [],
        }

    async def session_members(self, ids: list[ObjectId], case: dict[str, Any]) -> list[ObjectId]:
        """Roster entries named on a session of `case`: each must be of the case's town or of its county."""
        if not ids:
            return []
        found = await self.by_ids(ids)
        places = set(case.get("town_path") or [])
        ok = [
            i for i in dict.fromkeys(ids) if i in found and (found[i].get("town_id") or found[i]["county_id"]) in places
        ]
        if len(ok) != len(set(ids)):
            raise ValidationFailed(details=[{"field": "roster_ids", "message": "须是本镇或本县调解名册中的人员"}])
        return ok

    async def set_publicity_consent(self, principal: Principal, given: bool) -> dict[str, Any]:
        """The mediator's own consent (or its withdrawal) to be publicised as a 先进典型 (audited)."""
        profile = await self.mine(principal)
        consent = {"given": given, "at": self._ctx.clock.now()}
        updated = await self._profiles.find_one_and_update(
            {"_id": profile["_id"]}, {"$set": {"publicity_consent": consent}}, return_document=ReturnDocument.AFTER
        )
        await self._audit(principal, "publicity_consent", profile["_id"], {"given": given})
        return dict(updated)

    async def grant_gold(self, principal: Principal, profile_id: ObjectId, period: str, reason: str) -> dict[str, Any]:
        """金牌调解员: the county's honour for a mediator whose confirmed star for `period` is five."""
        profile = await self.get(principal, profile_id, "mediator.honour")
        star = profile.get("star") or {}
        if star.get("level") != 5 or star.get("period") != period:
            raise Conflict(f"只有 {period} 年度评定为五星的调解员可以授予金牌调解员", code="not_five_star")
        honour = {"period": period, "by": ObjectId(principal.user_id), "at": self._ctx.clock.now(), "reason": reason}
        granted = await self._profiles.find_one_and_update(
            {"_id": profile_id, "gold.period": {"$ne": period}},
            {"$push": {"gold": honour}},
            return_document=ReturnDocument.AFTER,
        )
        if granted is None:
            raise Conflict("该调解员已获得本周期的金牌调解员称号", code="already_granted")
        await self._audit(principal, "gold", profile_id, {"period": period, "reason": reason})
        return dict(granted)


class Experts(Directory):
    collection, role, what = EXPERTS, "expert", "专家"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.db[EXPERTS])

    def defaults(self) -> dict[str, Any]:
        return {"field": "other", "organisation": "", "title": "", "available": True, "status": "active"}

    async def _served(self, roots: list[ObjectId]) -> tuple[list[ObjectId], list[ObjectId]]:
        """The towns of the caller's grants, and their counties: the experts who serve them."""
        towns = list(set((await self._orgs.towns_of(roots)).values()))
        counties = list({u["path"][0] for u in (await self._orgs.by_ids(roots)).values()})
        return towns, counties

    async def sync_roots(self, roots: list[ObjectId]) -> list[ObjectId]:
        return (await self._served(roots))[1]

    async def scope_filter(self, roots: list[ObjectId]) -> dict[str, Any]:
        # A town's experts serve the whole town (its rooms and centers); the county's own serve every town.
        towns, counties = await self._served(roots)
        return {"$or": [{"org_path": {"$in": [*roots, *towns]}}, {"org_path": {"$in": counties}, "town_id": None}]}

    async def visible(self, principal: Principal, profile: dict[str, Any], capability: str) -> bool:
        if in_org_scope(principal, profile["org_path"], capability):
            return True
        towns, counties = await self._served(granted_orgs(principal, capability))
        return profile["town_id"] in towns or (profile["town_id"] is None and profile["county_id"] in counties)
