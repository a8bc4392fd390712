"""Routing (分流) and deadlines as data: where a new case should go, and how long each step may take.

Both are settings of the case's town (`server/orgs/settings.py`): the town's own where the county allows,
else the county's, else the configured defaults, edited by the town or county admin. Rules are tried in
order; the first whose every condition holds names the target. A target is a kind of unit found relative
to the case's place: the village's mediation room, a town center of a given type, the town itself, or a
county committee of the case's category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.routing_rules import DEFAULT_DEADLINES, DEFAULT_RULES, check_rules, rule_matches
from server.orgs.settings import Resolved, SettingsService
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

# The next tier up for escalation (上报), and which kind of unit takes a case there.
NEXT_TIER = {"village": "town", "town": "county"}
ESCALATION_TARGET = {
    "town": {"kind": "center", "center_type": "mediation"},
    "county": {"kind": "committee"},
}


class Routing:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._settings = SettingsService(ctx)
        self._read: dict[tuple[str, ObjectId | None], Resolved] = {}  # one read per setting and town per request

    async def setting(self, key: str, town_id: ObjectId | None) -> Resolved:
        """Routing rules or deadlines for a town (the county's defaults with no town), read once per request."""
        if (key, town_id) not in self._read:
            defaults = {"routing_rules": self._default_rules, "deadlines": self._default_deadlines}
            self._read[key, town_id] = await self._settings.resolve(key, town_id, defaults[key]())
        return self._read[key, town_id]

    def _default_rules(self) -> list[dict[str, Any]]:
        return check_rules(self._ctx.config.cases.routing_rules or DEFAULT_RULES)

    def _default_deadlines(self) -> dict[str, Any]:
        return DEFAULT_DEADLINES | (self._ctx.config.cases.deadlines or {})

    async def rules(self, town_id: ObjectId | None) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = (await self.setting("routing_rules", town_id)).value
        return rules

    async def deadlines(self, town_id: ObjectId | None) -> dict[str, Any]:
        deadlines: dict[str, Any] = (await self.setting("deadlines", town_id)).value
        return deadlines

    async def specialist_categories(self, town_id: ObjectId | None = None) -> set[str]:
        """The categories the town's rules send straight to a county committee."""
        return {
            category
            for rule in await self.rules(town_id)
            if rule["target"].get("kind") == "committee"
            for category in rule.get("when", {}).get("category", [])
        }

    async def suggest(self, case: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The unit and tier the rules send this case to."""
        for rule in await self.rules(case.get("town_id")):
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
