"""Settings that belong to a place: each county's defaults and each town's own values.

Routing rules and deadlines live here, and so does every setting a later feature adds (rating schemes,
lexicons, templates): one document per setting and unit, `_id` `"<key>:<unit id>"`. A setting is resolved
for a town: the town's own value if it has one and the county lets towns override that setting, else the
county's, else the configured default. A document with `_id` `"<key>"` alone is a value saved before
settings had places (one county per deployment then); it reads as that county's value until one is saved.

Reading: staff read the settings of the town or county they work in (a unit on their grants' paths) or of a
unit under their grants. Editing: a town admin edits their town's values where the county allows; a county
admin edits the county's defaults (and whether towns may override each), and any of its towns' values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from bson import ObjectId

from server.core import indexes
from server.core.auth import Principal
from server.core.cache import copy_of
from server.core.errors import Forbidden, NotFound, ValidationFailed
from server.core.scope import granted_orgs, in_org_scope
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

SETTINGS = "settings"
indexes.declare(SETTINGS)  # read by `_id` only

Source = Literal["town", "county", "default"]


@dataclass(frozen=True)
class Resolved:
    """A setting's value for a place, and where the value comes from."""

    value: Any
    source: Source
    org_id: ObjectId | None  # the town or county the value is read for
    town_may_override: bool
    version: str = "default"  # which saved value: "<unit id>:<n>", n counting that unit's saves


def _version(doc: dict[str, Any]) -> str:
    return f"{doc.get('org_id', '')}:{doc.get('version', 0)}"


class SettingsService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._settings = ctx.db[SETTINGS]
        self._orgs = OrgService(ctx)

    async def resolve(self, key: str, place_id: ObjectId | None, default: Any) -> Resolved:
        """The value for a town (or a county, or with no place the deployment's first county)."""
        place = await self._orgs.find(place_id) if place_id else None
        if place is None:
            counties = await self._orgs.of_kind("county")
            place = counties[0] if counties else None
        if place is None:
            return Resolved(default, "default", None, True)
        town_id = place["_id"] if place["kind"] == "town" else None
        county_id = place["parent_id"] if town_id else place["_id"]
        docs = await self._documents()
        county = docs.get(f"{key}:{county_id}") or docs.get(key)
        may_override = bool(county.get("town_may_override", True)) if county else True
        own = docs.get(f"{key}:{town_id}")
        if own is not None and may_override:
            return Resolved(copy_of(own["value"]), "town", place["_id"], may_override, _version(own))
        if county is not None:
            return Resolved(copy_of(county["value"]), "county", place["_id"], may_override, _version(county))
        return Resolved(default, "default", place["_id"], may_override)

    async def _documents(self) -> dict[str, dict[str, Any]]:
        """Every settings document by id, from this process's cached copy (`server.core.cache`)."""

        async def load() -> dict[str, dict[str, Any]]:
            return {doc["_id"]: doc async for doc in self._settings.find({})}

        documents: dict[str, dict[str, Any]] = await self._ctx.caches.get(SETTINGS, load)
        return documents

    async def place_for(self, principal: Principal, org_id: ObjectId | None, capability: str) -> dict[str, Any]:
        """The town or county whose settings the caller asks for (their own when `org_id` is not given)."""
        grant_units = await self._orgs.by_ids(granted_orgs(principal, capability))
        if org_id is None:
            home = await self._home(list(grant_units.values()))
            if home is None:
                raise NotFound("找不到所属镇或县", code="no_home_place")
            return home
        unit = await self._orgs.find(org_id)
        on_my_paths = any(org_id in g["path"] for g in grant_units.values())
        if unit is None or not (on_my_paths or in_org_scope(principal, unit["path"], capability)):
            raise NotFound("找不到该组织单元")
        if unit["kind"] not in ("town", "county"):
            raise NotFound("设置属于镇或县，找不到该镇或县", code="no_such_place")
        return unit

    async def save(
        self, principal: Principal, key: str, place: dict[str, Any], value: Any, town_may_override: bool | None
    ) -> None:
        """Save a town's or a county's value; audited."""
        await self._may_edit(principal, key, place)
        fields: dict[str, Any] = {"key": key, "org_id": place["_id"], "value": value}
        if place["kind"] == "county":
            fields["town_may_override"] = True if town_may_override is None else town_may_override
        elif town_may_override is not None:
            raise ValidationFailed(details=[{"field": "town_may_override", "message": "只能在县级设置"}])
        fields |= {"updated_at": self._ctx.clock.now(), "updated_by": ObjectId(principal.user_id)}
        await self._settings.update_one(
            {"_id": f"{key}:{place['_id']}"}, {"$set": fields, "$inc": {"version": 1}}, upsert=True
        )
        await self._ctx.caches.changed(SETTINGS)
        await self._audit(principal, key, place, "saved")

    async def clear(self, principal: Principal, key: str, place: dict[str, Any]) -> None:
        """Drop a town's own value (it follows the county again) or a county's (the configured default)."""
        await self._may_edit(principal, key, place)
        await self._settings.delete_one({"_id": f"{key}:{place['_id']}"})
        await self._ctx.caches.changed(SETTINGS)
        await self._audit(principal, key, place, "cleared")

    async def _may_edit(self, principal: Principal, key: str, place: dict[str, Any]) -> None:
        if not in_org_scope(principal, place["path"], "settings.edit"):
            raise Forbidden("只有本镇或县的管理员可以修改设置", code="action_forbidden")
        if place["kind"] == "town":
            county = await self._settings.find_one({"_id": f"{key}:{place['parent_id']}"})
            if county is not None and not county.get("town_may_override", True):
                raise Forbidden("县级统一设置，镇不能单独修改（县管理员可先允许各镇修改）", code="settings_locked")

    async def _home(self, grant_units: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The town of the caller's first grant, or the county if the grant is at the county."""
        paths = sorted((tuple(u["path"]) for u in grant_units), key=len)
        units = await self._orgs.by_ids(list({o for p in paths for o in p}))
        for path in paths:
            town = next((units[o] for o in path if o in units and units[o]["kind"] == "town"), None)
            county = next((units[o] for o in path if o in units and units[o]["kind"] == "county"), None)
            if town or county:
                return town or county
        return None

    async def _audit(self, principal: Principal, key: str, place: dict[str, Any], what: str) -> None:
        await self._ctx.audit.record_for(
            principal,
            f"settings.{key}",
            "settings",
            key,
            self._ctx.clock.now(),
            details={"org_id": place["_id"], "change": what},
        )
