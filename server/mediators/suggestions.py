"""Whom to assign: the handling unit's active mediators, ranked by specialty, stars and load.

A suggestion, never a rule: the office still picks. Each mediator gets points for the case's category among
their specialties (3), their confirmed star level (1 a star), a 金牌 honour (1), and loses half a point for
every case they already have open; the reasons say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases.lifecycle import county_level, in_case_town
from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.errors import ValidationFailed
from server.core.vocabulary import CATEGORIES
from server.mediators.profiles import Roster
from server.mediators.ratings import live_figures
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

SHOWN = 10


@dataclass(frozen=True)
class Suggestion:
    profile: dict[str, Any]
    figures: dict[str, Any]
    score: float
    reasons: list[str]


def ranked(
    case: dict[str, Any], profiles: list[dict[str, Any]], figures: dict[ObjectId, dict[str, Any]]
) -> list[Suggestion]:
    suggestions = []
    for profile in profiles:
        score, reasons = 0.0, []
        if case.get("category") in (profile.get("specialties") or []):
            score += 3
            reasons.append(f"擅长{CATEGORIES.get(case['category'], '')}")
        level = (profile.get("star") or {}).get("level") or 0
        if level:
            score += level
            reasons.append(f"{level} 星调解员")
        if profile.get("gold"):
            score += 1
            reasons.append("金牌调解员")
        load = figures.get(profile["_id"], {}).get("open") or 0
        score -= load / 2
        reasons.append(f"在办 {load} 件")
        suggestions.append(Suggestion(profile, figures.get(profile["_id"], {}), score, reasons))
    return sorted(suggestions, key=lambda s: (-s.score, s.profile["name"]))[:SHOWN]


async def suggest(ctx: Context, principal: Principal, case_id: ObjectId, org_id: ObjectId | None) -> list[Suggestion]:
    case = await CaseService(ctx).get(principal, case_id)
    target = org_id or case.get("assigned_org_id") or (case.get("suggested") or {}).get("org_id")
    if target is None:
        raise ValidationFailed(details=[{"field": "org_id", "message": "请指定拟分派的单位"}])
    unit = await OrgService(ctx).find(target)
    if unit is None or not (in_case_town(case, unit) or county_level(case, unit)):
        message = "只能是本镇的调解组织，或本县的专业调委会、调解中心"
        raise ValidationFailed(details=[{"field": "org_id", "message": message}])
    profiles = [p for p in await Roster(ctx).all_in(unit["_id"], {"status": "active"}) if p.get("user_id")]
    return ranked(case, profiles, await live_figures(ctx, profiles))
