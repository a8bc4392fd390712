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

from server.core.auth import Principal
from server.core.errors import NotFound, ValidationFailed

if TYPE_CHECKING:
    from server.core.context import Context

SETTINGS = "settings"
TIERS = ("village", "town", "county")

CATEGORIES = {
    "neighbour": "邻里纠纷",
    "land": "土地宅基地纠纷",
    "family": "婚姻家庭纠纷",
    "labour": "劳动工资纠纷",
    "property": "物业租赁纠纷",
    "traffic": "交通事故纠纷",
    "medical": "医疗纠纷",
    "consumer": "消费纠纷",
    "debt": "债务纠纷",
    "environment": "环境污染纠纷",
    "other": "其他",
}

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "警调对接",
        "when": {"source": ["police"]},
        "target": {"kind": "center", "center_type": "police"},
        "tier": "town",
    },
    {
        "name": "诉调对接",
        "when": {"source": ["litigation"]},
        "target": {"kind": "center", "center_type": "court"},
        "tier": "town",
    },
    {
        "name": "访调对接",
        "when": {"source": ["petition"]},
        "target": {"kind": "center", "center_type": "petition"},
        "tier": "town",
    },
    {
        "name": "涉法涉诉",
        "when": {"law_related": True},
        "target": {"kind": "center", "center_type": "legal"},
        "tier": "town",
    },
    {
        "name": "高风险直报镇",
        "when": {"risk": ["high", "critical"]},
        "target": {"kind": "center", "center_type": "mediation"},
        "tier": "town",
    },
    {
        "name": "专业纠纷到县专业调委会",
        "when": {"category": ["medical", "traffic", "labour"]},
        "target": {"kind": "committee"},
        "tier": "county",
    },
    {"name": "默认：村调解室", "when": {}, "target": {"kind": "village_room"}, "tier": "village"},
]

DEFAULT_DEADLINES: dict[str, Any] = {
    "accept_hours": 24,
    "conclude_days": {"village": 7, "town": 15, "county": 30},
    "conclude_days_by_channel": {"court_referral": 30, "petition_referral": 60},
    "follow_up_days": 3,
    "warning_ratio": 0.8,
}

# The next tier up for escalation (上报), and which kind of unit takes a case there.
NEXT_TIER = {"village": "town", "town": "county"}
ESCALATION_TARGET = {
    "town": {"kind": "center", "center_type": "mediation"},
    "county": {"kind": "committee"},
}


RULE_CONDITIONS = ("source", "channel", "category", "risk", "law_related")
TARGET_KINDS = ("village_room", "center", "town", "committee")


def check_rules(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refuse a rule set that could not route: unknown conditions or targets, or no catch-all at the end."""
    errors = []
    for index, rule in enumerate(rules):
        where = f"rules.{index}"
        unknown = set(rule.get("when", {})) - set(RULE_CONDITIONS)
        if unknown:
            errors.append({"field": f"{where}.when", "message": f"未知的条件：{'、'.join(sorted(unknown))}"})
        target = rule.get("target") or {}
        if target.get("kind") not in TARGET_KINDS:
            errors.append(
                {"field": f"{where}.target.kind", "message": "分流目标应为 village_room、center、town 或 committee"}
            )
        if target.get("kind") == "center" and not target.get("center_type"):
            errors.append({"field": f"{where}.target.center_type", "message": "必填"})
        if rule.get("tier") not in TIERS:
            errors.append({"field": f"{where}.tier", "message": "层级应为 village、town 或 county"})
    if rules and rules[-1].get("when"):
        errors.append({"field": f"rules.{len(rules) - 1}.when", "message": "最后一条规则须无条件（兜底）"})
    if errors:
        raise ValidationFailed(details=errors)
    return rules


def rule_matches(rule: dict[str, Any], case: dict[str, Any]) -> bool:
    for key, wanted in rule.get("when", {}).items():
        value = case.get(key)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


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
        self._read[key] = doc["value"]  # type: ignore[index]
        return self._read[key]

    async def rules(self) -> list[dict[str, Any]]:
        seed = self._ctx.config.cases.routing_rules or DEFAULT_RULES
        return await self._setting("routing_rules", check_rules(seed))  # type: ignore[no-any-return]

    async def deadlines(self) -> dict[str, Any]:
        seed = DEFAULT_DEADLINES | (self._ctx.config.cases.deadlines or {})
        return await self._setting("deadlines", seed)  # type: ignore[no-any-return]

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

    async def resolve(self, target: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
        """Find the unit a target names, relative to the case's village and town."""
        units = self._ctx.db["org_units"]
        village_id, town_id = case.get("village_id"), case.get("town_id")
        kind = target["kind"]
        if kind == "village_room":
            query: dict[str, Any] = {"kind": "mediation_room", "parent_id": village_id}
        elif kind == "center":
            query = {"kind": "center", "center_type": target["center_type"], "parent_id": town_id}
        elif kind == "town":
            query = {"_id": town_id}
        elif kind == "committee":
            town = await units.find_one({"_id": town_id}) if town_id else None
            committee_type = target.get("committee_type") or case.get("category")
            query = {
                "kind": "committee",
                "committee_type": committee_type,
                "parent_id": town["parent_id"] if town else None,
            }
        else:
            raise ValidationFailed(details=[{"field": "target.kind", "message": "未知的分流目标"}])
        unit = await units.find_one(query)
        if unit is None and kind in ("village_room", "committee"):
            # No room in this village, or no committee of this kind: the town's mediation center takes it.
            unit = await units.find_one({"kind": "center", "center_type": "mediation", "parent_id": town_id})
        if unit is None:
            raise NotFound("找不到分流目标单元，请检查组织架构", code="routing_target_missing")
        return unit

    async def conclude_days(self, tier: str, channel: str) -> int:
        deadlines = await self.deadlines()
        by_channel = deadlines.get("conclude_days_by_channel", {})
        return int(by_channel.get(channel) or deadlines["conclude_days"][tier])

    async def window(self, name: str, *, tier: str = "village", channel: str = "") -> timedelta:
        deadlines = await self.deadlines()
        if name == "accept":
            return timedelta(hours=deadlines["accept_hours"])
        if name == "conclude":
            return timedelta(days=await self.conclude_days(tier, channel))
        return timedelta(days=deadlines["follow_up_days"])


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
