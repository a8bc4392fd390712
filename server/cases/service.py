"""Cases (`cases`, 矛盾纠纷): intake from every channel, routing, the lifecycle, mediation and follow-up.

Every change is one `find_one_and_update` whose filter names the version the caller's rights were checked
against, so two people acting at once cannot both win: the loser gets a 409 that says what the case allows
now. The same write appends the timeline event and the notifications the change causes (the outbox rides
in the case document, so a change and its messages are never separated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.cases.routing import CATEGORIES, ESCALATION_TARGET, NEXT_TIER, Routing, place_of
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.identity import seal
from server.core.pii import InvalidIdNumber, InvalidPhone
from server.core.scope import in_org_scope
from server.places.households import HouseholdService
from server.places.orgs import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "cases"
COUNTERS = "counters"

STATE_LABELS = {
    "draft": "草稿，尚未提交",
    "registered": "已登记，正在安排调解组织",
    "assigned": "已交调解组织，等待签收",
    "in_mediation": "调解组织正在调解",
    "concluded": "调解已结束，等待核查",
    "follow_up": "等待回访",
    "closed": "已办结",
    "rejected": "不予受理",
}
OPEN_STATES = ("draft", "registered", "assigned", "in_mediation", "concluded", "follow_up")
CHANNEL_SOURCE = {
    "miniprogram": "grassroots",
    "grid_visit": "grassroots",
    "walk_in": "grassroots",
    "hotline": "grassroots",
    "police_referral": "police",
    "court_referral": "litigation",
    "petition_referral": "petition",
}
REFERRAL_FOR = {"police_referral": "police", "court_referral": "court", "petition_referral": "petition"}
LIAISON_SOURCE = {"police": "police", "court": "litigation", "petition": "petition"}
OUTCOME_LABELS = {
    "agreement": "调解成功，已签订调解协议",
    "withdrawn": "申请人撤回",
    "failed_litigation": "调解未成，已引导通过诉讼解决",
    "failed_arbitration": "调解未成，已引导通过仲裁解决",
    "transferred_admin": "已移交行政机关处理",
    "not_accepted": "不予受理",
}
ADMIN = ("town_admin", "county_admin")
UNIT = ("mediator", "center_staff")
VIEW = ("grid_worker", "mediator", "center_staff", "town_admin", "county_admin", "supervisor")
# Words that signal violence or self-harm: a dispute that may turn criminal (民转刑) is high risk at once.
DANGER_WORDS = re.compile(r"杀|砍|捅|同归于尽|报复|跳楼|跳河|自杀|寻死|喝农药|上吊|炸|纵火|放火|拼命")


@dataclass(frozen=True)
class Action:
    label: str
    from_states: frozenset[str]
    to: str | None  # None: an overlay, the state stays
    who: tuple[str, ...]  # any of: owner, unit, admin, assigner, supervisor, office
    reason: bool = False
    public: bool = False


def _a(label: str, states: str, to: str | None, who: str, *, reason: bool = False, public: bool = False) -> Action:
    return Action(label, frozenset(states.split()), to, tuple(who.split()), reason, public)


ACTIONS: dict[str, Action] = {
    "submit": _a("提交", "draft", "registered", "owner", public=True),
    "reject": _a("不予受理", "registered", "rejected", "admin", reason=True, public=True),
    "assign": _a("分派", "registered", "assigned", "assigner", public=True),
    "accept": _a("签收", "assigned", "in_mediation", "unit", public=True),
    "return": _a("退回", "assigned", "registered", "unit", reason=True),
    "recall": _a("撤回重派", "assigned in_mediation", "registered", "admin", reason=True),
    "escalate": _a("上报上一级", "assigned in_mediation", "assigned", "unit admin", reason=True, public=True),
    "conclude": _a("结束调解", "in_mediation", "concluded", "unit", public=True),
    "refer_out": _a("移交", "in_mediation", "concluded", "unit", reason=True, public=True),
    "review_pass": _a("核查通过", "concluded", "follow_up", "admin"),
    "review_fail": _a("核查不通过，重新办理", "concluded", "in_mediation", "admin", reason=True),
    "follow_up_satisfied": _a("回访满意，办结", "follow_up", "closed", "office", public=True),
    "follow_up_unsatisfied": _a(
        "回访不满意，重新办理", "follow_up", "in_mediation", "office", reason=True, public=True
    ),
    "withdraw": _a("申请人撤回", "draft registered assigned in_mediation", "closed", "owner", public=True),
    "suspend_request": _a("申请挂起", "assigned in_mediation", None, "unit", reason=True),
    "suspend_approve": _a("批准挂起", "assigned in_mediation", None, "admin"),
    "resume": _a("恢复办理", "assigned in_mediation", None, "unit admin"),
    "extension_request": _a("申请延期", "assigned in_mediation", None, "unit", reason=True),
    "extension_approve": _a("批准延期", "assigned in_mediation", None, "admin"),
    "extension_reject": _a("驳回延期", "assigned in_mediation", None, "admin", reason=True),
    "supervise": _a("督办", "registered assigned in_mediation concluded follow_up", None, "supervisor", reason=True),
}

indexes.declare(
    COLLECTION,
    IndexModel([("number", ASCENDING)], name="number", unique=True),
    IndexModel([("external_key", ASCENDING)], name="external_key", unique=True, sparse=True),
    IndexModel([("org_path", ASCENDING), ("state", ASCENDING), ("next_due", ASCENDING)], name="scope_state_due"),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING)], name="scope_created"),
    IndexModel([("resident_id", ASCENDING), ("created_at", DESCENDING)], name="resident_created"),
    IndexModel([("source", ASCENDING), ("town_id", ASCENDING), ("created_at", DESCENDING)], name="source_town"),
    IndexModel([("assigned_org_id", ASCENDING), ("state", ASCENDING)], name="assigned_state"),
    IndexModel([("mediator_ids", ASCENDING), ("state", ASCENDING)], name="mediator_state"),
    IndexModel([("state", ASCENDING), ("next_due", ASCENDING)], name="state_due"),
    IndexModel([("household_id", ASCENDING), ("state", ASCENDING)], name="household_state"),
    IndexModel([("parties.phone_hash", ASCENDING)], name="party_phone"),
    IndexModel([("notifications.status", ASCENDING)], name="notification_status"),  # the outbox relay's query
)


def status_label(case: dict[str, Any]) -> str:
    if case["state"] == "closed" and case.get("outcome"):
        return f"已办结：{OUTCOME_LABELS.get(case['outcome']['type'], '')}"
    if case.get("suspended"):
        return "暂停办理（挂起）"
    return STATE_LABELS[case["state"]]


def assess_risk(description: str, parties: int, given: str | None) -> str:
    order = ["low", "medium", "high", "critical"]
    risk = given or "low"
    if DANGER_WORDS.search(description):
        risk = max(risk, "high", key=order.index)
    if parties >= 10:
        risk = max(risk, "high", key=order.index)  # 群体性
    elif parties >= 5:
        risk = max(risk, "medium", key=order.index)
    return risk


def next_due(deadlines: dict[str, Any]) -> datetime | None:
    dues = [d["due"] for d in deadlines.values() if d and d.get("due")]
    return min(dues) if dues else None


def timeline_event(
    principal: Principal | None,
    action: str,
    from_state: str | None,
    to_state: str | None,
    note: str | None,
    now: datetime,
    *,
    public: bool,
) -> dict[str, Any]:
    """One entry of a case's append-only timeline; `public` entries are shown to the resident."""
    return {
        "id": ObjectId(),
        "at": now,
        "actor_id": ObjectId(principal.user_id) if principal else None,
        "action": action,
        "from": from_state,
        "to": to_state,
        "note": note,
        "public": public,
    }


def notice(event: str, audience: str, now: datetime, **extra: Any) -> dict[str, Any]:
    """A notification recorded in the case document, for the outbox relay to deliver."""
    return {"id": ObjectId(), "event": event, "audience": audience, "created_at": now, "status": "pending", **extra}


class CaseService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = ctx.db[COLLECTION]
        self._routing = Routing(ctx)

    # ---- who may do what ----------------------------------------------------------------------------
    def _roles_for(self, principal: Principal, case: dict[str, Any], who: tuple[str, ...]) -> bool:
        assigned_path = case.get("assigned_path") or []
        for kind in who:
            if kind == "owner" and case.get("resident_id") == ObjectId(principal.user_id):
                return True
            if kind == "unit" and (
                in_org_scope(principal, assigned_path, UNIT)
                or ObjectId(principal.user_id) in case.get("mediator_ids", [])
            ):
                return True
            if kind == "admin" and in_org_scope(principal, case["org_path"], ADMIN):
                return True
            if kind == "office" and in_org_scope(principal, case["org_path"], (*ADMIN, "center_staff")):
                return True
            if kind == "supervisor" and in_org_scope(principal, case["org_path"], (*ADMIN, "supervisor")):
                return True
            if kind == "assigner" and (
                in_org_scope(principal, case["org_path"], ADMIN) or in_org_scope(principal, case["location_path"], UNIT)
            ):
                return True
        return False

    async def _liaison_scopes(self, principal: Principal) -> list[dict[str, Any]]:
        """Liaisons see their own source's cases in the town where they sit."""
        scopes = []
        for grant in principal.grants:
            if grant.role == "liaison" and grant.org_id:
                unit = await self._ctx.db["org_units"].find_one({"_id": ObjectId(grant.org_id)}, {"path": 1})
                if unit:
                    scopes.append(
                        {"source": LIAISON_SOURCE[grant.liaison_for or ""], "town_path": {"$in": unit["path"]}}
                    )
        return scopes

    async def can_view(self, principal: Principal, case: dict[str, Any]) -> bool:
        if case.get("resident_id") == ObjectId(principal.user_id):
            return True
        if in_org_scope(principal, case["org_path"], VIEW) or ObjectId(principal.user_id) in case.get(
            "mediator_ids", []
        ):
            return True
        return any(
            scope["source"] == case["source"]
            and not set(scope["town_path"]["$in"]).isdisjoint(case.get("town_path", []))
            for scope in await self._liaison_scopes(principal)
        )

    def can_attach(self, principal: Principal, case: dict[str, Any]) -> bool:
        """The resident while the case is open; the people handling it until it is closed."""
        if case["state"] not in OPEN_STATES:
            return False
        return self._roles_for(principal, case, ("owner", "unit", "admin", "office"))

    def allowed_actions(self, principal: Principal, case: dict[str, Any]) -> list[str]:
        return [
            name
            for name, action in ACTIONS.items()
            if case["state"] in action.from_states and self._roles_for(principal, case, action.who)
        ]

    async def get(self, principal: Principal, case_id: ObjectId) -> dict[str, Any]:
        case = await self._cases.find_one({"_id": case_id})
        if case is None or not await self.can_view(principal, case):
            raise NotFound("找不到该案件")
        return case

    # ---- intake -------------------------------------------------------------------------------------
    async def create(self, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
        now = self._ctx.clock.now()
        channel = data["channel"]
        self._check_channel(principal, channel, data)
        if data["category"] not in CATEGORIES:
            raise ValidationFailed(details=[{"field": "category", "message": "未知的纠纷类别"}])
        location, household = await self._location(principal, data)
        village_id, town_id = location["village_id"], location["town_id"]
        staff = channel != "miniprogram"
        case: dict[str, Any] = {
            "_id": ObjectId(),
            "number": None,  # numbered last, once everything else is valid, so numbers have no gaps
            "version": 0,
            "state": "draft" if data.get("draft") and not staff else "registered",
            "channel": channel,
            "source": CHANNEL_SOURCE[channel],
            "category": data["category"],
            "description": data["description"],
            "parties": self._parties(data["parties"]),
            "risk": assess_risk(data["description"], len(data["parties"]), data.get("risk") if staff else None),
            "law_related": bool(data.get("law_related")) and staff,
            "resident_id": ObjectId(principal.user_id) if channel == "miniprogram" else None,
            "registered_by": ObjectId(principal.user_id),
            "consent_contact": bool(data.get("consent_contact")),
            "household_id": household["_id"] if household else None,
            "visit_id": ObjectId(data["visit_id"]) if data.get("visit_id") else None,
            "gps": data.get("gps"),
            "village_id": village_id,
            "town_id": town_id,
            "micro_grid_id": location["micro_grid_id"],
            "location_path": location["path"],
            "town_path": location["town_path"],
            "org_path": location["path"],
            "assigned_org_id": None,
            "assigned_path": [],
            "tier": None,
            "mediator_ids": [],
            "deadlines": {},
            "next_due": None,
            "warnings": {},
            "suspended": None,
            "suspend_request": None,
            "extension": None,
            "supervised": None,
            "escalation_suggested": False,
            "outcome": None,
            "sessions": [],
            "attachments": [],
            "rating": None,
            "judicial_confirmation": False,
            "created_at": now,
            "updated_at": now,
        }
        if data.get("external_ref"):
            case["external_ref"] = data["external_ref"]
            case["external_key"] = f"{case['source']}:{data['external_ref']}"
            case["received_at"] = data.get("received_at")
        target, tier = await self._routing.suggest(case)
        case["suggested"] = {"org_id": target["_id"], "org_name": target["name"], "tier": tier}
        case["timeline"] = [timeline_event(principal, "submit", None, case["state"], None, now, public=True)]
        if "external_key" in case and await self._cases.find_one({"external_key": case["external_key"]}, {"_id": 1}):
            raise await self._duplicate_referral(case)
        case["number"] = await self._next_number(now)
        case["notifications"] = [] if case["state"] == "draft" else [notice("case_registered", "office", now)]
        try:
            await self._cases.insert_one(case)
        except DuplicateKeyError as exc:
            if "external_key" in case:  # registered concurrently; the unique index decides
                raise await self._duplicate_referral(case) from exc
            raise
        return case

    async def _duplicate_referral(self, case: dict[str, Any]) -> Conflict:
        existing = await self._cases.find_one({"external_key": case["external_key"]}, {"_id": 1})
        return Conflict(
            "该编号的案件已经登记过",
            code="duplicate_referral",
            details={"case_id": str(existing["_id"]) if existing else None},
        )

    def _check_channel(self, principal: Principal, channel: str, data: dict[str, Any]) -> None:
        if channel == "miniprogram":
            allowed = principal.has_role("resident")
        elif channel == "grid_visit":
            allowed = principal.has_role("grid_worker")
        elif channel in ("walk_in", "hotline"):
            allowed = principal.has_role("center_staff", *ADMIN)
        else:
            allowed = any(g.role == "liaison" and g.liaison_for == REFERRAL_FOR[channel] for g in principal.grants)
            if allowed:
                missing = [f for f in ("external_ref", "received_at") if not data.get(f)]
                if missing:
                    raise ValidationFailed(details=[{"field": f, "message": "转来的案件必须填写"} for f in missing])
        if not allowed:
            raise Forbidden("您不能以该渠道登记案件", code="channel_not_allowed")
        if channel == "grid_visit" and not (data.get("household_id") or data.get("qr_token")):
            raise ValidationFailed(details=[{"field": "household_id", "message": "走访发现的纠纷须关联住户"}])

    async def _location(
        self, principal: Principal, data: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        households = HouseholdService(self._ctx)
        household = None
        if data.get("qr_token"):
            household = await households.by_qr_token(data["qr_token"])
        elif data.get("household_id"):
            household = await households.find(ObjectId(data["household_id"]))
            if household is None:
                raise ValidationFailed(details=[{"field": "household_id", "message": "找不到该住户"}])
        if household is not None:
            unit_id = household["micro_grid_id"]
        elif data.get("micro_grid_id") or data.get("village_id"):
            unit_id = ObjectId(data.get("micro_grid_id") or data["village_id"])
        else:
            raise ValidationFailed(details=[{"field": "village_id", "message": "请选择纠纷发生的村（社区）或扫描门牌"}])
        unit = await self._ctx.db["org_units"].find_one({"_id": unit_id})
        if unit is None or unit["kind"] not in ("village", "grid", "micro_grid"):
            raise ValidationFailed(details=[{"field": "village_id", "message": "找不到该村（社区）"}])
        if data["channel"] in ("grid_visit", "walk_in", "hotline") and not await self._may_register_at(principal, unit):
            raise NotFound("找不到该村（社区）")
        units = await OrgService(self._ctx).by_ids(unit["path"])
        village_id, town_id = place_of(unit, units)
        town_path = units[town_id]["path"] if town_id in units else []
        micro = unit["_id"] if unit["kind"] == "micro_grid" else None
        # The village's mediation room sees what happens in its village, so it can take its own cases.
        rooms = (
            await self._ctx.db["org_units"]
            .find({"parent_id": village_id, "kind": "mediation_room"}, {"_id": 1})
            .to_list(None)
        )
        return {
            "village_id": village_id,
            "town_id": town_id,
            "micro_grid_id": micro,
            "path": [*unit["path"], *(r["_id"] for r in rooms)],
            "town_path": town_path,
        }, household

    async def _may_register_at(self, principal: Principal, unit: dict[str, Any]) -> bool:
        """Staff register cases in their own area; a town center's staff for the whole town."""
        grant_units = await OrgService(self._ctx).by_ids([ObjectId(o) for o in principal.orgs_for(*VIEW)])
        areas = {g["parent_id"] if g["kind"] == "center" else g["_id"] for g in grant_units.values()}
        return not areas.isdisjoint(unit["path"])

    def _parties(self, parties: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cipher, docs, errors = self._ctx.cipher, [], []
        for index, party in enumerate(parties):
            doc: dict[str, Any] = {"role": party["role"], "name": party["name"]}
            try:
                doc.update(seal(cipher, phone=party.get("phone"), id_number=party.get("id_number")))
            except (InvalidPhone, InvalidIdNumber) as exc:
                errors.append({"field": f"parties.{index}.{exc.field}", "message": str(exc)})
            docs.append(doc)
        if errors:
            raise ValidationFailed(details=errors)
        if not any(p["role"] == "applicant" for p in docs):
            raise ValidationFailed(details=[{"field": "parties", "message": "至少需要一名申请人"}])
        return docs

    async def _next_number(self, now: datetime) -> str:
        day = now.astimezone(self._ctx.tz).strftime("%Y%m%d")
        counter = await self._ctx.db[COUNTERS].find_one_and_update(
            {"_id": f"case:{day}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return f"SY-{day}-{counter['seq']:04d}"

    # ---- the lifecycle ------------------------------------------------------------------------------
    async def act(self, principal: Principal, case_id: ObjectId, name: str, body: dict[str, Any]) -> dict[str, Any]:
        action = ACTIONS.get(name)
        if action is None:
            raise NotFound("没有这个操作", code="no_such_action")
        case = await self.get(principal, case_id)
        if body.get("version") is not None and body["version"] != case["version"]:
            raise self._conflict(
                principal,
                case,
                f"案件已被他人更新（当前版本 {case['version']}），请刷新后再试",
                "case_version_conflict",
            )
        if case["state"] not in action.from_states:
            raise self._conflict(
                principal, case, f"案件当前状态为「{STATE_LABELS[case['state']]}」，不能{action.label}"
            )
        if not self._roles_for(principal, case, action.who):
            raise Forbidden(f"您没有权限对该案件执行「{action.label}」", code="action_forbidden")
        reason = (body.get("reason") or "").strip()
        if action.reason and not reason:
            raise ValidationFailed(details=[{"field": "reason", "message": f"{action.label}须说明理由"}])
        now = self._ctx.clock.now()
        changes, notices = await getattr(self, f"_do_{name}")(principal, case, body, now)
        to_state = action.to or case["state"]
        if action.to:
            changes["state"] = action.to
        if "deadlines" in changes:
            changes["next_due"] = next_due(changes["deadlines"])
        changes["updated_at"] = now
        note = reason or (body.get("note") or "").strip() or None
        event = timeline_event(principal, name, case["state"], to_state, note, now, public=action.public)
        updated = await self._cases.find_one_and_update(
            {"_id": case_id, "version": case["version"], "state": case["state"]},
            {
                "$set": changes,
                "$inc": {"version": 1},
                "$push": {"timeline": event, "notifications": {"$each": [notice(n, a, now) for n, a in notices]}},
            },
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            current = await self._cases.find_one({"_id": case_id}) or case
            raise self._conflict(principal, current, f"案件已被他人更新，不能{action.label}，请刷新后再试")
        return updated

    def _conflict(
        self, principal: Principal, case: dict[str, Any], message: str, code: str = "case_state_conflict"
    ) -> Conflict:
        return Conflict(
            message,
            code=code,
            details={
                "state": case["state"],
                "version": case["version"],
                "allowed_actions": self.allowed_actions(principal, case),
            },
        )

    async def _deadline(self, name: str, now: datetime, tier: str, channel: str) -> dict[str, Any]:
        return {"start": now, "due": now + await self._routing.window(name, tier=tier, channel=channel)}

    async def _assignment(
        self, case: dict[str, Any], unit: dict[str, Any], tier: str, mediator_ids: list[ObjectId], now: datetime
    ) -> dict[str, Any]:
        location = case["location_path"]
        return {
            "assigned_org_id": unit["_id"],
            "assigned_path": unit["path"],
            "org_path": list(dict.fromkeys([*location, *unit["path"]])),
            "tier": tier,
            "mediator_ids": mediator_ids,
            "deadlines": {
                "accept": await self._deadline("accept", now, tier, case["channel"]),
                "conclude": await self._deadline("conclude", now, tier, case["channel"]),
            },
            "warnings": {},
            "escalation_suggested": False,
        }

    async def _do_submit(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        return {}, [("case_registered", "office")]

    async def _do_reject(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        outcome = {"type": "not_accepted", "note": body["reason"], "at": now}
        return {"outcome": outcome, "deadlines": {}}, [("case_rejected", "resident")]

    async def _do_assign(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        if body.get("org_id"):
            unit = await self._ctx.db["org_units"].find_one({"_id": ObjectId(body["org_id"])})
            if unit is None or unit["kind"] not in ("mediation_room", "center", "committee", "village", "town"):
                raise ValidationFailed(details=[{"field": "org_id", "message": "请选择调解室、中心或专业调委会"}])
            tier = (
                body.get("tier")
                or {"committee": "county"}.get(unit["kind"])
                or ("village" if unit["kind"] in ("mediation_room", "village") else "town")
            )
        else:
            unit = await self._ctx.db["org_units"].find_one({"_id": case["suggested"]["org_id"]})
            tier = case["suggested"]["tier"]
            if unit is None:
                raise ValidationFailed(details=[{"field": "org_id", "message": "建议的承办单位已不存在，请指定"}])
        if not in_org_scope(principal, unit["path"], (*ADMIN, *UNIT)) and not in_org_scope(
            principal, case["org_path"], ADMIN
        ):
            raise Forbidden("只能分派给本人管辖范围内的单位", code="action_forbidden")
        mediators = await self._mediators(body.get("mediator_ids") or [], unit)
        changes = await self._assignment(case, unit, tier, mediators, now)
        return changes, [("case_assigned", "unit"), ("case_assigned_resident", "resident")]

    async def _mediators(self, ids: list[str], unit: dict[str, Any]) -> list[ObjectId]:
        wanted = [ObjectId(i) for i in ids]
        if not wanted:
            return []
        found = (
            await self._ctx.db["users"]
            .find(
                {
                    "_id": {"$in": wanted},
                    "active": True,
                    "grants": {"$elemMatch": {"role": "mediator", "org_id": {"$in": unit["path"]}}},
                },
                {"_id": 1},
            )
            .to_list(None)
        )
        if len(found) != len(set(wanted)):
            raise ValidationFailed(details=[{"field": "mediator_ids", "message": "调解员须是承办单位的在职调解员"}])
        return wanted

    async def _do_accept(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        deadlines = {k: v for k, v in case["deadlines"].items() if k != "accept"}
        warnings = {k: v for k, v in case["warnings"].items() if k != "accept"}
        mediators = case["mediator_ids"] or [ObjectId(principal.user_id)]
        changes = {"deadlines": deadlines, "warnings": warnings, "accepted_at": now, "mediator_ids": mediators}
        return changes, [("case_accepted", "resident")]

    async def _do_return(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        return self._unassigned(case), [("case_returned", "office")]

    async def _do_recall(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        return self._unassigned(case), [("case_recalled", "unit")]

    def _unassigned(self, case: dict[str, Any]) -> dict[str, Any]:
        return {
            "assigned_org_id": None,
            "assigned_path": [],
            "org_path": case["location_path"],
            "tier": None,
            "mediator_ids": [],
            "deadlines": {},
            "warnings": {},
            "suspended": None,
            "suspend_request": None,
            "extension": None,
            "escalation_suggested": False,
        }

    async def _do_escalate(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        tier = NEXT_TIER.get(case["tier"] or "")
        if tier is None:
            raise self._conflict(principal, case, "县级是最高一级，不能再上报（矛盾不上交）", "case_tier_top")
        if body.get("org_id"):
            unit = await self._ctx.db["org_units"].find_one({"_id": ObjectId(body["org_id"])})
            if unit is None:
                raise ValidationFailed(details=[{"field": "org_id", "message": "找不到该单位"}])
        else:
            unit = await self._routing.resolve(ESCALATION_TARGET[tier], case)
        changes = await self._assignment(case, unit, tier, [], now)
        changes |= {"suspended": None, "suspend_request": None, "extension": None}
        # The unit that escalated keeps seeing the case it handled.
        changes["org_path"] = list(dict.fromkeys([*changes["org_path"], *case["assigned_path"]]))
        return changes, [("case_escalated", "unit"), ("case_escalated", "office")]

    async def _do_conclude(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        outcome = body.get("outcome")
        if outcome not in ("agreement", "failed_litigation", "failed_arbitration", "transferred_admin"):
            raise ValidationFailed(details=[{"field": "outcome", "message": "请选择调解结果"}])
        record: dict[str, Any] = {"type": outcome, "note": body.get("note") or "", "at": now}
        if outcome == "agreement":
            agreement = body.get("agreement")
            if not agreement:
                raise ValidationFailed(
                    details=[
                        {"field": "agreement.parties", "message": "调解成功须填写协议当事人"},
                        {"field": "agreement.terms", "message": "调解成功须填写协议条款"},
                        {"field": "agreement.performance_deadline", "message": "调解成功须填写履行期限"},
                    ]
                )
            record["agreement"] = agreement | {"performance_deadline": agreement["performance_deadline"].isoformat()}
        return self._concluded(case, record, now), [("case_concluded", "resident"), ("case_concluded", "office")]

    async def _do_refer_out(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        outcome = body.get("outcome") or "transferred_admin"
        if outcome not in ("failed_litigation", "failed_arbitration", "transferred_admin"):
            raise ValidationFailed(details=[{"field": "outcome", "message": "移交须选择诉讼、仲裁或行政机关"}])
        record = {"type": outcome, "note": body["reason"], "referred_to": body.get("referred_to") or "", "at": now}
        return self._concluded(case, record, now), [("case_concluded", "resident")]

    def _concluded(self, case: dict[str, Any], outcome: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {"outcome": outcome, "concluded_at": now, "deadlines": {}, "warnings": {}, "suspended": None}

    async def _do_review_pass(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        follow_up = await self._deadline("follow_up", now, case["tier"] or "village", case["channel"])
        return {"deadlines": {"follow_up": follow_up}, "warnings": {}, "reviewed_at": now}, [
            ("case_follow_up", "office")
        ]

    async def _redo(self, case: dict[str, Any], now: datetime) -> dict[str, Any]:
        conclude = await self._deadline("conclude", now, case["tier"] or "village", case["channel"])
        return {
            "deadlines": {"conclude": conclude},
            "warnings": {},
            "outcome": None,
            "redo_count": case.get("redo_count", 0) + 1,
        }

    async def _do_review_fail(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        return await self._redo(case, now), [("case_redo", "unit")]

    async def _do_follow_up_satisfied(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        return {"deadlines": {}, "warnings": {}, "closed_at": now, "satisfied": True}, [("case_closed", "resident")]

    async def _do_follow_up_unsatisfied(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        return (await self._redo(case, now)) | {"satisfied": False}, [("case_redo", "unit")]

    async def _do_withdraw(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        outcome = {"type": "withdrawn", "note": (body.get("reason") or "").strip(), "at": now}
        changes = {"outcome": outcome, "deadlines": {}, "warnings": {}, "closed_at": now, "suspended": None}
        return changes, [("case_withdrawn", "unit")]

    async def _do_suspend_request(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        if case.get("suspended"):
            raise self._conflict(principal, case, "案件已挂起", "case_already_suspended")
        request = {"reason": body["reason"], "by": ObjectId(principal.user_id), "at": now}
        return {"suspend_request": request}, [("suspend_requested", "office")]

    async def _do_suspend_approve(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        if not case.get("suspend_request"):
            raise self._conflict(principal, case, "没有待批准的挂起申请", "no_pending_request")
        suspended = case["suspend_request"] | {"since": now, "approved_by": ObjectId(principal.user_id)}
        return {"suspended": suspended, "suspend_request": None}, [("case_suspended", "unit")]

    async def _do_resume(self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime) -> Any:
        if not case.get("suspended"):
            raise self._conflict(principal, case, "案件未挂起", "case_not_suspended")
        paused = now - case["suspended"]["since"]
        # The clock stood still while suspended: every open deadline moves by the time it stood.
        deadlines = {
            k: v | {"due": v["due"] + paused, "start": v["start"] + paused} for k, v in case["deadlines"].items()
        }
        return {"suspended": None, "deadlines": deadlines}, [("case_resumed", "unit")]

    async def _do_extension_request(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        if not body.get("days"):
            raise ValidationFailed(details=[{"field": "days", "message": "请填写延期天数"}])
        if (case.get("extension") or {}).get("status") == "pending":
            raise self._conflict(principal, case, "已有待批准的延期申请", "extension_pending")
        extension = {
            "days": body["days"],
            "reason": body["reason"],
            "by": ObjectId(principal.user_id),
            "at": now,
            "status": "pending",
        }
        return {"extension": extension}, [("extension_requested", "office")]

    async def _do_extension_approve(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        extension = case.get("extension") or {}
        if extension.get("status") != "pending":
            raise self._conflict(principal, case, "没有待批准的延期申请", "no_pending_request")
        deadlines = dict(case["deadlines"])
        if "conclude" in deadlines:
            deadlines["conclude"] = deadlines["conclude"] | {
                "due": deadlines["conclude"]["due"] + timedelta(days=extension["days"])
            }
        warnings = {k: v for k, v in case["warnings"].items() if k != "conclude"}
        changes = {
            "extension": extension | {"status": "approved", "decided_at": now},
            "deadlines": deadlines,
            "warnings": warnings,
        }
        return changes, [("extension_approved", "unit")]

    async def _do_extension_reject(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        extension = case.get("extension") or {}
        if extension.get("status") != "pending":
            raise self._conflict(principal, case, "没有待批准的延期申请", "no_pending_request")
        return {"extension": extension | {"status": "rejected", "decided_at": now}}, [("extension_rejected", "unit")]

    async def _do_supervise(
        self, principal: Principal, case: dict[str, Any], body: dict[str, Any], now: datetime
    ) -> Any:
        deadline = body.get("deadline")
        if deadline is None:
            raise ValidationFailed(details=[{"field": "deadline", "message": "督办须设定办结期限"}])
        supervised = {"by": ObjectId(principal.user_id), "at": now, "deadline": deadline, "note": body["reason"]}
        deadlines = dict(case["deadlines"]) | {"supervision": {"start": now, "due": deadline}}
        return {"supervised": supervised, "deadlines": deadlines}, [("case_supervised", "unit")]

    # ---- the record ---------------------------------------------------------------------------------
    async def add_session(self, principal: Principal, case_id: ObjectId, session: dict[str, Any]) -> dict[str, Any]:
        return await self._append(
            principal, case_id, "sessions", session | {"id": ObjectId()}, ("unit",), ("in_mediation",), "session_added"
        )

    async def add_info(self, principal: Principal, case_id: ObjectId, text: str) -> dict[str, Any]:
        """A resident adds information to their own open case."""
        case = await self.get(principal, case_id)
        if not self._roles_for(principal, case, ("owner",)):
            raise NotFound("找不到该案件")
        if case["state"] not in OPEN_STATES:
            raise self._conflict(principal, case, "案件已办结，不能再补充材料")
        now = self._ctx.clock.now()
        event = timeline_event(principal, "add_info", case["state"], case["state"], text, now, public=True)
        return await self._update(
            case, {"$push": {"timeline": event, "notifications": notice("case_info_added", "unit", now)}}, now
        )

    async def rate(self, principal: Principal, case_id: ObjectId, stars: int, comment: str) -> dict[str, Any]:
        case = await self.get(principal, case_id)
        if not self._roles_for(principal, case, ("owner",)):
            raise NotFound("找不到该案件")
        if case["state"] not in ("follow_up", "closed") or case.get("rating"):
            raise self._conflict(principal, case, "只能在回访阶段评价一次")
        now = self._ctx.clock.now()
        rating = {"stars": stars, "comment": comment, "at": now}
        event = timeline_event(principal, "rate", case["state"], case["state"], None, now, public=True)
        return await self._update(case, {"$set": {"rating": rating}, "$push": {"timeline": event}}, now)

    async def set_judicial_confirmation(
        self, principal: Principal, case_id: ObjectId, requested: bool
    ) -> dict[str, Any]:
        case = await self.get(principal, case_id)
        if not self._roles_for(principal, case, ("unit", "admin")):
            raise Forbidden(code="action_forbidden")
        if (case.get("outcome") or {}).get("type") != "agreement":
            raise self._conflict(principal, case, "只有达成调解协议的案件可以申请司法确认")
        now = self._ctx.clock.now()
        event = timeline_event(principal, "judicial_confirmation", case["state"], case["state"], None, now, public=True)
        return await self._update(
            case, {"$set": {"judicial_confirmation": requested}, "$push": {"timeline": event}}, now
        )

    async def add_attachment(
        self, principal: Principal, case: dict[str, Any], attachment: dict[str, Any]
    ) -> dict[str, Any]:
        now = self._ctx.clock.now()
        event = timeline_event(principal, "attachment_added", case["state"], case["state"], None, now, public=True)
        return await self._update(case, {"$push": {"attachments": attachment, "timeline": event}}, now)

    async def _append(
        self,
        principal: Principal,
        case_id: ObjectId,
        field: str,
        item: dict[str, Any],
        who: tuple[str, ...],
        states: tuple[str, ...],
        action: str,
    ) -> dict[str, Any]:
        case = await self.get(principal, case_id)
        if not self._roles_for(principal, case, who):
            raise Forbidden(code="action_forbidden")
        if case["state"] not in states:
            raise self._conflict(principal, case, f"案件当前状态为「{STATE_LABELS[case['state']]}」，不能执行此操作")
        now = self._ctx.clock.now()
        event = timeline_event(principal, action, case["state"], case["state"], None, now, public=False)
        return await self._update(case, {"$push": {field: item, "timeline": event}}, now)

    async def _update(self, case: dict[str, Any], update: dict[str, Any], now: datetime) -> dict[str, Any]:
        update.setdefault("$set", {})["updated_at"] = now
        update["$inc"] = {"version": 1}
        updated = await self._cases.find_one_and_update(
            {"_id": case["_id"], "version": case["version"]}, update, return_document=ReturnDocument.AFTER
        )
        if updated is None:
            raise Conflict("案件已被他人更新，请刷新后再试", code="case_version_conflict")
        return updated

    # ---- reading ------------------------------------------------------------------------------------
    async def search(
        self, principal: Principal, filters: dict[str, Any], *, sort: str, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        scopes: list[dict[str, Any]] = []
        staff_orgs = [ObjectId(o) for o in principal.orgs_for(*VIEW)]
        if staff_orgs:
            scopes.append({"org_path": {"$in": staff_orgs}})
        scopes.extend(await self._liaison_scopes(principal))
        if not scopes:
            raise Forbidden()
        query: dict[str, Any] = {"$and": [{"$or": scopes} if len(scopes) > 1 else scopes[0]]}
        query["$and"].extend({k: v} for k, v in filters.items())
        total = await self._cases.count_documents(query)
        order = (
            [("next_due", ASCENDING), ("created_at", ASCENDING)] if sort == "deadline" else [("created_at", DESCENDING)]
        )
        cursor = self._cases.find(query, {"timeline": 0, "notifications": 0, "sessions": 0}).sort(order)
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def mine(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = {"resident_id": ObjectId(principal.user_id)}
        total = await self._cases.count_documents(query)
        cursor = self._cases.find(query, {"notifications": 0}).sort([("created_at", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def open_for_household(self, household_id: ObjectId, limit: int = 20) -> list[dict[str, Any]]:
        """The household's cases still being handled, newest first (shown to staff who scan its plate)."""
        query = {"household_id": household_id, "state": {"$in": list(OPEN_STATES)}}
        cursor = self._cases.find(query, {"number": 1, "state": 1, "category": 1, "created_at": 1})
        return await cursor.sort("created_at", DESCENDING).limit(limit).to_list(None)

    async def inbox(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """What waits on a mediator: assigned to them or their unit, not yet accepted or concluded."""
        units = [ObjectId(o) for o in principal.orgs_for(*UNIT)]
        query = {
            "state": {"$in": ["assigned", "in_mediation"]},
            "$or": [{"mediator_ids": ObjectId(principal.user_id)}, {"assigned_path": {"$in": units}}],
        }
        total = await self._cases.count_documents(query)
        cursor = self._cases.find(query, {"timeline": 0, "notifications": 0, "sessions": 0}).sort(
            [("next_due", ASCENDING)]
        )
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def reveal_parties(self, principal: Principal, case: dict[str, Any]) -> None:
        """Full party numbers are for the people handling the case; each read is audited."""
        if not self._roles_for(principal, case, ("unit", "admin")):
            raise Forbidden("只有承办人员和管理员可以查看完整号码", code="reveal_forbidden")
        await self._ctx.audit.record_for(principal, "case.reveal", "case", case["_id"], self._ctx.clock.now())
