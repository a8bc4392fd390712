"""The lifecycle runner: read the case, check the action against the table and the policy, read what the
transition needs, apply the pure transition, and write it in one version-checked update.

The write's filter names the version and state the caller's rights were checked against, so two people
acting at once cannot both win: the loser gets a 409 that says what the case allows now. The same write
appends the timeline event and the notices the change causes (the outbox rides in the case document, so a
change and its messages are never separated).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases import policy
from server.cases.actions import ACTIONS, Action
from server.cases.model import REFERRAL_CHANNELS, Case, next_due, notice, partner_notices, timeline_event
from server.cases.repository import CaseRepository
from server.cases.risk import RiskService
from server.cases.routing import ESCALATION_TARGET, NEXT_TIER, Routing
from server.cases.transitions import TRANSITIONS, Refused, Step
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.vocabulary import STATE_LABELS
from server.orgs.tree import OrgService
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

ASSIGNABLE_KINDS = ("mediation_room", "center", "committee", "village", "town")


def in_case_town(case: Case, unit: dict[str, Any]) -> bool:
    return case.get("town_id") is not None and case["town_id"] in unit["path"]


def county_level(case: Case, unit: dict[str, Any]) -> bool:
    """A committee or center right under the case's county (县专业调委会, 县矛调中心)."""
    county = (case.get("town_path") or [None])[0]
    return county is not None and unit["kind"] in ("committee", "center") and unit.get("parent_id") == county


def next_tier_unit(case: Case, unit: dict[str, Any], tier: str) -> bool:
    """Escalation climbs: to a center of the case's town, or to a county committee or center; never sideways."""
    if tier == "town":
        return unit["kind"] == "center" and in_case_town(case, unit)
    return county_level(case, unit)


def told_before(case: Case, event: str, tier: str | None) -> bool:
    """Residents hear of each change once: a re-assignment after a return or recall is not news to them;
    an escalation is, once per tier."""
    return any(
        n["audience"] == "resident" and n["event"] == event and (event != "case_escalated" or n.get("tier") == tier)
        for n in case.get("notifications", [])
    )


def conflict(principal: Principal, case: Case, message: str, code: str = "case_state_conflict") -> Conflict:
    """A 409 that tells the caller where the case stands and what they may do now."""
    return Conflict(
        message,
        code=code,
        details={
            "state": case["state"],
            "version": case["version"],
            "allowed_actions": policy.allowed_actions(principal, case),
        },
    )


def state_conflict(principal: Principal, case: Case, doing: str) -> Conflict:
    return conflict(principal, case, f"案件当前状态为「{STATE_LABELS[case['state']]}」，不能{doing}")


async def audit_state(
    ctx: Context, actor_id: ObjectId | None, case: Case, to_state: str, event: dict[str, Any], now: datetime
) -> None:
    """A change of a case's state on the audit log (registration: from none), pointing at the timeline entry
    that tells it (等保 安全审计: the timeline stays the case's own history)."""
    await ctx.audit.record(
        action="case.state",
        actor_id=actor_id,
        target_type="case",
        target_id=case["_id"],
        at=now,
        details={"action": event["action"], "from": case.get("state"), "to": to_state, "timeline_id": event["id"]},
    )


class Lifecycle:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)
        self._routing = Routing(ctx)

    async def act(self, principal: Principal, case: Case, name: str, body: dict[str, Any]) -> Case:
        action = ACTIONS.get(name)
        if action is None:
            raise NotFound("没有这个操作", code="no_such_action")
        if body.get("version") is not None and body["version"] != case["version"]:
            raise conflict(
                principal,
                case,
                f"案件已被他人更新（当前版本 {case['version']}），请刷新后再试",
                "case_version_conflict",
            )
        if case["state"] not in action.from_states:
            raise state_conflict(principal, case, action.label)
        if not policy.holds_any(principal, case, action.who):
            raise Forbidden(f"您没有权限对该案件执行「{action.label}」", code="action_forbidden")
        reason = (body.get("reason") or "").strip()
        if action.reason and not reason:
            raise ValidationFailed(details=[{"field": "reason", "message": f"{action.label}须说明理由"}])
        step = await self._step(principal, case, name, body)
        try:
            change = TRANSITIONS[name](case, step)
        except Refused as refused:
            raise conflict(principal, case, refused.message, refused.code) from None
        return await self._write(principal, case, name, action, change.changes, change.notices, step)

    async def _step(self, principal: Principal, case: Case, name: str, body: dict[str, Any]) -> Step:
        """Read what the transition needs, so that the transition itself stays pure."""
        step = Step(
            now=self._ctx.clock.now(),
            actor_id=ObjectId(principal.user_id),
            body=body,
            deadlines=await self._routing.deadlines(case.get("town_id")),
        )
        if name == "assign":
            unit, tier = await self._assign_target(case, body)
            if not policy.may_assign_to(principal, case, unit["path"]):
                raise Forbidden("只能分派给本人管辖范围内的单位", code="action_forbidden")
            mediators = await self._mediators(body.get("mediator_ids") or [], unit)
            return replace(step, unit=unit, tier=tier, mediator_ids=mediators)
        if name == "escalate":
            next_tier = NEXT_TIER.get(case["tier"] or "")
            if next_tier is None:
                raise conflict(principal, case, "县级是最高一级，不能再上报（矛盾不上交）", "case_tier_top")
            if body.get("org_id"):
                found = await OrgService(self._ctx).find(ObjectId(body["org_id"]))
                if found is None or not next_tier_unit(case, found, next_tier):
                    where = "本镇的矛盾纠纷调解中心等中心" if next_tier == "town" else "本县的专业调委会或调解中心"
                    raise ValidationFailed(details=[{"field": "org_id", "message": f"上报须交给{where}"}])
                unit = found
            else:
                unit = await self._routing.resolve(ESCALATION_TARGET[next_tier], case, escalation=True)
            return replace(step, unit=unit, tier=next_tier)
        return step

    async def _assign_target(self, case: Case, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        orgs = OrgService(self._ctx)
        if body.get("org_id"):
            unit = await orgs.find(ObjectId(body["org_id"]))
            if unit is None or unit["kind"] not in ASSIGNABLE_KINDS:
                raise ValidationFailed(details=[{"field": "org_id", "message": "请选择调解室、中心或专业调委会"}])
            if not (in_case_town(case, unit) or county_level(case, unit)):
                message = "只能交给本镇的调解组织，或本县的专业调委会、调解中心"
                raise ValidationFailed(details=[{"field": "org_id", "message": message}])
            tier = (
                body.get("tier")
                or {"committee": "county"}.get(unit["kind"])
                or ("village" if unit["kind"] in ("mediation_room", "village") else "town")
            )
            return unit, tier
        suggested = await orgs.find(case["suggested"]["org_id"])
        if suggested is None:
            raise ValidationFailed(details=[{"field": "org_id", "message": "建议的承办单位已不存在，请指定"}])
        return suggested, case["suggested"]["tier"]

    async def _mediators(self, ids: list[str], unit: dict[str, Any]) -> list[ObjectId]:
        wanted = [ObjectId(i) for i in ids]
        if wanted and not await UserService(self._ctx).are_active_mediators(wanted, unit["path"]):
            raise ValidationFailed(details=[{"field": "mediator_ids", "message": "调解员须是承办单位的在职调解员"}])
        return wanted

    async def _write(
        self,
        principal: Principal,
        case: Case,
        name: str,
        action: Action,
        changes: dict[str, Any],
        notices: list[tuple[str, str]],
        step: Step,
    ) -> Case:
        now = step.now
        to_state = action.to or case["state"]
        changes = dict(changes)
        if action.to:
            changes["state"] = action.to
        if "deadlines" in changes:
            changes["next_due"] = next_due(changes["deadlines"])
        changes["updated_at"] = now
        note = step.reason or (step.body.get("note") or "").strip() or None
        event = timeline_event(step.actor_id, name, case["state"], to_state, note, now, public=action.public)
        after = {**case, **changes}
        addressed = [
            notice(n, a, now, case if a == "previous_unit" else after, tier=after.get("tier"))
            for n, a in notices
            if not (a == "resident" and told_before(case, n, after.get("tier")))
            and not (a == "liaison" and case["channel"] not in REFERRAL_CHANNELS)
        ]
        addressed += partner_notices(case, after, now)
        update = {
            "$set": changes,
            "$push": {"timeline": event, "notifications": {"$each": addressed}},
        }
        updated = await self._cases.update_versioned(case, update, state=case["state"])
        if updated is None:
            current = await self._cases.get(case["_id"]) or case
            raise conflict(principal, current, f"案件已被他人更新，不能{action.label}，请刷新后再试")
        if to_state != case["state"]:
            await audit_state(self._ctx, step.actor_id, case, to_state, event, now)
        if updated["state"] == "closed" and updated.get("dispute_role") == "lead":
            await self.close_with_lead(updated, step.actor_id, now)
        return await RiskService(self._ctx).reassess(updated, step.actor_id)

    async def close_with_lead(self, lead: Case, actor_id: ObjectId | None, now: datetime) -> None:
        """一件事 ends once: when its lead case closes, every other case of the dispute still open closes with
        the lead's outcome, each in its own history (a timeline entry, its own notices)."""
        outcome = dict(lead["outcome"] or {}) | {"note": f"随一件事主案 {lead['number']} 一并办结", "at": now}
        for member in await self._cases.dispute_members([lead["dispute_id"]]):
            for _ in range(3):  # a member changed meanwhile: read it again
                if member["_id"] == lead["_id"] or member["state"] in ("closed", "rejected", "draft"):
                    break
                event = timeline_event(
                    actor_id, "dispute_closed", member["state"], "closed", outcome["note"], now, public=True
                )
                after = member | {"outcome": outcome}
                told = [notice("case_closed", "resident", now, after)]
                if member["channel"] in REFERRAL_CHANNELS:
                    told.append(notice("case_concluded", "liaison", now, after))
                told += partner_notices(member, after | {"state": "closed"}, now)
                changes = {
                    "state": "closed",
                    "outcome": outcome,
                    "closed_at": now,
                    "deadlines": {},
                    "warnings": {},
                    "next_due": None,
                    "suspended": None,
                    "updated_at": now,
                }
                update = {"$set": changes, "$push": {"timeline": event, "notifications": {"$each": told}}}
                if await self._cases.update_versioned(member, update, state=member["state"]) is not None:
                    await audit_state(self._ctx, actor_id, member, "closed", event, now)
                    break
                member = await self._cases.get(member["_id"]) or member
