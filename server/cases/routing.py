"""Routing (分流) and deadlines as data: where a new case should go, and how long each step may take.

Both live in the `settings` collection, seeded from the defaults below the first time they are read, and
are edited by the town or county admin. Rules are tried in order; the first whose every condition holds
names the target. A target is a kind of unit found relative to the case's place: the village's mediation
room, a town center of a given type, the town itself, or a county committee of the case's category.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.routing_rules import DEFAULT_DEADLINES, DEFAULT_RULES, check_rules, rule_matches, window
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

SETTINGS = "settings"
indexes.declare(SETTINGS)  # one document per setting, by key

# The next tier up for escalation (上报), and which kind of unit takes a case there.
NEXT_TIER = {"village": "town", "town": "county"}
ESCALATION_TARGET = {
    "town": {"kind": "center", "center_type": "mediation"},
    "county": {"kind": "committee"},
}


class Routing:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._settings = ctx.db[SETTINGS]
        self._read: dict[str, Any] = {}  # one read per setting for the life of this object (one request)

    async def _setting(self, key: str, default: Any) -> Any:
        if key in self._read:
            return self._read[key]
        doc = await self._settings.find_one({"_id": key})
        if doc is None:
            await self._settings.update_one({"_id": key}, {"$setOnInsert": {"value": default}}, upsert=True)
            doc = await self._settings.find_one({"_id": key})
        self._read[key] = doc["value"]
        return self._read[key]

    async def rules(self) -> list[dict[str, Any]]:
        seed = self._ctx.config.cases.routing_rules or DEFAULT_RULES
        return await self._setting("routing_rules", check_rules(seed))

    async def deadlines(self) -> dict[str, Any]:
        seed = DEFAULT_DEADLINES | (self._ctx.config.cases.deadlines or {})
        return await self._setting("deadlines", seed)

    async def specialist_categories(self) -> set[str]:
        """The categories the rules send straight to a county committee."""
        return {
            category
            for rule in await self.rules()
            if rule["target"].get("kind") == "committee"
            for category in rule.get("when", {}).get("category", [])
        }

    async def save(self, principal: Principal, key: str, value: Any) -> None:
        """An admin's change to a setting; audited."""
        await self._settings.update_one({"_id": key}, {"$set": {"value": value}}, upsert=True)
        self._read[key] = value
        await self._ctx.audit.record_for(principal, f"settings.{key}", "settings", key, self._ctx.clock.now())

    async def suggest(self, case: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The unit and tier the rules send this case to."""
        for rule in await self.rules():
            if rule_matches(rule, case):
                return await self.resolve(rule["target"], case), rule["tier"]
        raise NotFound("没有适用的分流规则", code="no_routing_rule")

    async def resolve(
        self, target: dict[str, Any], case: dict[str, Any], *, escalation: bool = False
    ) -> dict[str, Any]:
        """Find the unit a target names, relative to the case's village and town. An escalation never lands
        below the tier it climbs to."""
        units = OrgService(self._ctx)
        village_id, town_id = case.get("village_id"), case.get("town_id")
        kind = target["kind"]
        if kind == "village_room":
            query: dict[str, Any] = {"kind": "mediation_room", "parent_id": village_id}
        elif kind == "center":
            query = {"kind": "center", "center_type": target["center_type"], "parent_id": town_id}
        elif kind == "town":
            query = {"_id": town_id}
        elif kind == "committee":
            town = await units.find(town_id) if town_id else None
            committee_type = target.get("committee_type") or case.get("category")
            query = {
                "kind": "committee",
                "committee_type": committee_type,
                "parent_id": town["parent_id"] if town else None,
            }
        else:
            raise ValidationFailed(details=[{"field": "target.kind", "message": "未知的分流目标"}])
        unit = await units.find_unit(**query)
        if unit is None and kind == "committee":
            # No committee of this kind: the county's general mediation center. 难事不出县 — a county target
            # stays in the county; only a first routing (not an escalation) may fall back to the town.
            unit = await units.find_unit(kind="center", center_type="mediation", parent_id=query["parent_id"])
            if unit is None and escalation:
                raise Conflict(
                    "县级没有可承办的专业调委会或矛盾纠纷调解中心，请先在组织架构中设立", code="county_target_missing"
                )
        if unit is None and kind in ("village_room", "committee"):
            # No room in this village: the town's mediation center takes it.
            unit = await units.find_unit(kind="center", center_type="mediation", parent_id=town_id)
        if unit is None:
            raise NotFound("找不到分流目标单元，请检查组织架构", code="routing_target_missing")
        return unit

    async def window(self, name: str, *, tier: str = "village", channel: str = "") -> timedelta:
        return window(await self.deadlines(), name, tier=tier, channel=channel)


def place_of(unit: dict[str, Any], units: dict[ObjectId, dict[str, Any]]) -> tuple[ObjectId | None, ObjectId | None]:
    """The village and town on a unit's path, if any."""
    village = town = None
    for org_id in unit["path"]:
        kind = units[org_id]["kind"] if org_id in units else None
        if kind == "village":
            village = org_id
        elif kind == "town":
            town = org_id
    return village, town
