"""The risk model (风险研判): rules as data, each adding to a case's score with its reason in words.

The rules are a town setting (`risk_rules`, the county's default from config, else `DEFAULT_RULES`; each save
a new version): a lexicon of danger words (violence, self-harm: 民转刑 prevention) with phrases that must and
must not match, repeats (the same party or household in other cases within a window), several sources on one
dispute, many parties (群体性), a place in a group-dispute cluster, failed mediation, overdue or returned
cases, escalations, and vulnerable-household tags. The score maps to low|medium|high|critical; staff's own
assessment at registration is a floor. A case is scored at registration and again after every change that
can move it (a transition, a link, a cluster); each change of level goes on the timeline with the reasons,
and a rise to high or critical tells the office and the handling unit at once (critical urgently) and offers
escalation to the town.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases.model import Case, notice, timeline_event
from server.cases.repository import CaseRepository
from server.core.vocabulary import REFER_OUT_OUTCOMES, RISKS
from server.orgs.settings import Resolved, SettingsService
from server.places.households import HouseholdService

if TYPE_CHECKING:
    from server.core.auth import Principal
    from server.core.context import Context

DEFAULT_RULES: dict[str, Any] = {
    "lexicon": [
        {"label": "暴力言语", "pattern": "杀人|砍|捅|同归于尽|报复|炸|纵火|放火|拼命|弄死", "points": 45},
        {"label": "自伤言语", "pattern": "跳楼|跳河|自杀|寻死|喝农药|上吊|不想活", "points": 45},
    ],
    "lexicon_tests": {
        "match": ["他扬言要报复对方", "再不解决我就喝农药", "说要跟他同归于尽", "我不想活了"],
        "no_match": ["邻居装修噪音扰民", "借款到期未还", "杀虫剂飘到我家菜地"],
    },
    "repeat": {"window_days": 180, "at_least": 2, "points": 15},
    "sources_points": 15,  # each source beyond the first on the case's dispute
    "parties": {"many": 5, "many_points": 20, "crowd": 10, "crowd_points": 40},
    "cluster_points": 30,
    "failed_mediation_points": 15,
    "overdue_points": 10,
    "returned_points": 5,
    "escalation_points": 10,  # each escalation
    "vulnerable_tags": {"独居老人": 10, "重点关注": 15, "低保户": 5, "留守儿童": 10},
    "levels": {"medium": 20, "high": 40, "critical": 70},
}
RISING = ("high", "critical")


def rule_errors(rules: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with a rule set, each naming its field: a pattern that is not a valid expression, a
    test phrase the lexicon misses (or one it should not match), levels out of order."""
    errors: list[dict[str, str]] = []
    compiled: list[tuple[str, re.Pattern[str]]] = []
    for index, entry in enumerate(rules["lexicon"]):
        try:
            compiled.append((entry["label"], re.compile(entry["pattern"])))
        except re.error as exc:
            errors.append({"field": f"lexicon.{index}.pattern", "message": f"不是有效的匹配规则：{exc.msg}"})
    if len(compiled) == len(rules["lexicon"]):
        for index, phrase in enumerate(rules["lexicon_tests"]["match"]):
            if not any(p.search(phrase) for _, p in compiled):
                errors.append({"field": f"lexicon_tests.match.{index}", "message": f"没有词条能识别「{phrase}」"})
        for index, phrase in enumerate(rules["lexicon_tests"]["no_match"]):
            wrong = [label for label, p in compiled if p.search(phrase)]
            if wrong:
                message = f"「{phrase}」被词条「{wrong[0]}」误识别"
                errors.append({"field": f"lexicon_tests.no_match.{index}", "message": message})
    levels = rules["levels"]
    if not levels["medium"] < levels["high"] < levels["critical"]:
        errors.append({"field": "levels", "message": "分数线须依次递增：中 < 高 < 极高"})
    return errors


@dataclass(frozen=True)
class Facts:
    """What the case alone does not say: the other cases and the household around it."""

    repeats: int = 0  # other cases (in the window) sharing a party or the household
    sources: int = 1  # sources on the case's dispute
    household_tags: tuple[str, ...] = ()
    in_cluster: bool = False


def score(case: Case, rules: dict[str, Any], facts: Facts) -> tuple[int, str, list[str]]:
    """(score, level, reasons) of a case under `rules`."""
    points, reasons = 0, []

    def add(amount: int, reason: str) -> None:
        nonlocal points
        if amount:
            points += amount
            reasons.append(f"{reason}（+{amount}）")

    text = case.get("description") or ""
    for entry in rules["lexicon"]:
        found = re.search(entry["pattern"], text)
        if found:
            add(entry["points"], f"{entry['label']}：「{found.group(0)}」")
    repeat = rules["repeat"]
    if facts.repeats >= repeat["at_least"]:
        add(repeat["points"], f"同一当事人或同一户 {repeat['window_days']} 天内另有 {facts.repeats} 件纠纷")
    if facts.sources > 1:
        add(rules["sources_points"] * (facts.sources - 1), f"同一纠纷来自 {facts.sources} 个来源")
    # A partner system may say how many people a dispute involves without naming them all.
    parties, many = max(len(case.get("parties") or []), case.get("reported_parties") or 0), rules["parties"]
    if parties >= many["crowd"]:
        add(many["crowd_points"], f"群体性：{parties} 名当事人")
    elif parties >= many["many"]:
        add(many["many_points"], f"当事人较多：{parties} 名")
    if facts.in_cluster:
        add(rules["cluster_points"], "多名群众针对同一对象（群体性纠纷预警）")
    outcome = (case.get("outcome") or {}).get("type")
    if outcome in REFER_OUT_OUTCOMES or case.get("complaints"):
        add(rules["failed_mediation_points"], "调解未成或回访不满意")
    if "red" in (case.get("warnings") or {}).values():
        add(rules["overdue_points"], "超过办理期限")
    actions = [e["action"] for e in case.get("timeline") or []]
    if "return" in actions:
        add(rules["returned_points"], "曾被承办单位退回")
    escalations = actions.count("escalate")
    if escalations:
        add(rules["escalation_points"] * escalations, f"已上报 {escalations} 次")
    for tag in facts.household_tags:
        add(rules["vulnerable_tags"].get(tag, 0), f"住户标签：{tag}")
    levels = rules["levels"]
    level = next((name for name in ("critical", "high", "medium") if points >= levels[name]), "low")
    level = max(level, case.get("risk_given") or "low", key=RISKS.index)
    return points, level, reasons


class RiskService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)

    async def resolved(self, town_id: ObjectId | None) -> Resolved:
        """The town's rules (its own, the county's, the configured default, else `DEFAULT_RULES`)."""
        default = self._ctx.config.prevention.risk_rules or DEFAULT_RULES
        return await SettingsService(self._ctx).resolve("risk_rules", town_id, default)

    async def rules(self, town_id: ObjectId | None) -> dict[str, Any]:
        found: dict[str, Any] = (await self.resolved(town_id)).value
        return found

    async def facts(self, case: Case, rules: dict[str, Any]) -> Facts:
        since = self._ctx.clock.now() - timedelta(days=rules["repeat"]["window_days"])
        repeats = await self._cases.sharing(case, since)
        household = await HouseholdService(self._ctx).find(case["household_id"]) if case.get("household_id") else None
        sources = (
            len({m["source"] for m in await self._cases.dispute_members([case["dispute_id"]])})
            if case.get("dispute_id")
            else 1
        )
        return Facts(repeats, max(sources, 1), tuple((household or {}).get("tags") or ()), bool(case.get("cluster_id")))

    async def reassess(self, case: Case, actor_id: ObjectId | None) -> Case:
        """Score the case again; record a change of level with its reasons, and tell people of a rise."""
        rules = await self.rules(case.get("town_id"))
        points, level, reasons = score(case, rules, await self.facts(case, rules))
        if (points, level, reasons) == (case.get("risk_score"), case["risk"], case.get("risk_reasons")):
            return case
        update: dict[str, Any] = {"$set": {"risk": level, "risk_score": points, "risk_reasons": reasons}}
        if level != case["risk"]:
            now = self._ctx.clock.now()
            words = "、".join(reasons) or "无风险因素"
            note = f"风险等级由「{case['risk']}」变为「{level}」：{words}"
            pushed: dict[str, Any] = {
                "timeline": timeline_event(
                    actor_id, "risk_changed", case["state"], case["state"], note, now, public=False
                )
            }
            if RISKS.index(level) > RISKS.index(case["risk"]) and level in RISING:
                pushed["notifications"] = {"$each": rising_notices(case, level, now)}
                if case.get("tier") == "village":
                    update["$set"]["escalation_suggested"] = True
            update["$push"] = pushed
        return await self._cases.note(case["_id"], update) or case

    async def reassess_all(self, case_ids: list[ObjectId], principal: Principal | None) -> None:
        actor = ObjectId(principal.user_id) if principal else None
        for case_id in case_ids:
            case = await self._cases.get(case_id)
            if case is not None and case["state"] != "draft":
                await self.reassess(case, actor)


def rising_notices(case: Case, level: str, now: datetime) -> list[dict[str, Any]]:
    """The office and the handling unit (or the unit the rules would send it to), at once."""
    event = "risk_critical" if level == "critical" else "risk_high"
    unit = (
        case if case.get("assigned_org_id") else case | {"assigned_org_id": (case.get("suggested") or {}).get("org_id")}
    )
    return [notice(event, "office", now, case), notice(event, "unit", now, unit)]
