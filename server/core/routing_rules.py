"""Routing rules and deadline settings as data: their defaults and the check that refuses a set that could
not route. Pure, so the configuration can validate rules at start-up and the case package can apply them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from server.core.errors import ValidationFailed
from server.core.vocabulary import TIERS

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


def window(deadlines: dict[str, Any], name: str, *, tier: str = "village", channel: str = "") -> timedelta:
    """How long step `name` (accept, conclude, follow_up) may take, from the deadline settings."""
    if name == "accept":
        return timedelta(hours=deadlines["accept_hours"])
    if name == "conclude":
        by_channel = deadlines.get("conclude_days_by_channel", {})
        return timedelta(days=int(by_channel.get(channel) or deadlines["conclude_days"][tier]))
    return timedelta(days=deadlines["follow_up_days"])
