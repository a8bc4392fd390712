"""督查 (`supervision_notices`, `inspections`): supervision notices with rectification, and inspection records.

A supervisor or the county issues a notice (督查通报) to a unit: the finding, its evidence, a deadline for
rectification (整改) and the cases it concerns. The unit answers with what it rectified; the issuer accepts
the answer or sends it back. A notice is rectified on time when the answer that was accepted came by the
deadline; notices past their deadline and not rectified warn like case deadlines (yellow at the town's
warning ratio, red past it, each level once, through the warnings job) and count against the unit's score.
明察暗访 and 定期督查 visits are recorded as inspections; a finding can raise a notice.

    issued ─answer─▶ answered ─accept─▶ accepted (terminal)
                       answered ─return(reason)─▶ returned ─answer─▶ answered
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from notify.inbox import InboxService
from notify.outbox import inbox_message, message_base
from server.assessment.periods import Period
from server.cases.routing import Routing
from server.cases.warnings import LEVELS, level_of
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.scope import granted_orgs, in_org_scope
from server.orgs.tree import OrgService
from server.people.users import UserService

if TYPE_CHECKING:
    from server.core.context import Context

NOTICES = "supervision_notices"
INSPECTIONS = "inspections"
indexes.declare(
    NOTICES,
    IndexModel([("unit_path", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="path_created_id"),
    IndexModel([("unit_path", ASCENDING), ("deadline", ASCENDING)], name="path_deadline"),
    IndexModel([("state", ASCENDING), ("deadline", ASCENDING)], name="state_deadline"),  # the warnings scan
)
indexes.declare(
    INSPECTIONS,
    IndexModel([("unit_path", ASCENDING), ("date", DESCENDING), ("_id", DESCENDING)], name="path_date_id"),
)
OPEN = ("issued", "answered", "returned")
NOTICE_KINDS = ("village", "town", "center", "mediation_room", "committee", "county")
InspectionKind = Literal["open", "unannounced", "regular", "random"]
INSPECTION_KINDS: dict[InspectionKind, str] = {
    "open": "明察",
    "unannounced": "暗访",
    "regular": "定期督查",
    "random": "随时抽查",
}
# Who at a unit hears of a notice: the people who would answer it.
ANSWERING_ROLES = ("town_admin", "county_admin", "center_staff", "mediator")


def answering_units(principal: Principal, units: dict[ObjectId, dict[str, Any]]) -> set[ObjectId]:
    """The units a caller answers for: those of their grants and, for a village's room or a town's center,
    the village or town itself."""
    found = set(units)
    found |= {
        u["parent_id"] for u in units.values() if u["kind"] in ("mediation_room", "center") and u.get("parent_id")
    }
    return found


class SupervisionService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._notices = ctx.db[NOTICES]
        self._inspections = ctx.db[INSPECTIONS]
        self._orgs = OrgService(ctx)

    # ---- notices ------------------------------------------------------------------------------------------
    async def issue(self, principal: Principal, fields: dict[str, Any]) -> dict[str, Any]:
        unit = await self._orgs.get_in_scope(principal, fields["unit_id"], "supervision.issue")
        if unit["kind"] not in NOTICE_KINDS:
            raise ValidationFailed(details=[{"field": "unit_id", "message": "请选择被督查的单位"}])
        now = self._ctx.clock.now()
        if fields["deadline"] <= now:
            raise ValidationFailed(details=[{"field": "deadline", "message": "整改期限须晚于现在"}])
        inspection = None
        if fields.get("inspection_id"):
            inspection = await self.inspection(principal, fields["inspection_id"])
            if inspection["unit_id"] != unit["_id"]:
                raise ValidationFailed(details=[{"field": "inspection_id", "message": "该督查记录不是对这个单位的"}])
        notice = {
            "_id": ObjectId(),
            "unit_id": unit["_id"],
            "unit_name": unit["name"],
            "unit_path": unit["path"],
            "issuer_id": ObjectId(principal.user_id),
            "finding": fields["finding"],
            "evidence": fields.get("evidence") or "",
            "deadline": fields["deadline"],
            "case_ids": fields.get("case_ids") or [],
            "inspection_id": inspection["_id"] if inspection else None,
            "state": "issued",
            "answers": [],
            "decisions": [],
            "on_time": None,
            "warning": None,
            "version": 0,
            "created_at": now,
            "updated_at": now,
        }
        await self._notices.insert_one(notice)
        if inspection is not None:
            await self._inspections.update_one({"_id": inspection["_id"]}, {"$push": {"notice_ids": notice["_id"]}})
        text = f"{unit['name']}收到督查通报，请在期限内整改并答复：{notice['finding'][:40]}"
        await self.tell(notice, "supervision_issued", text, "issued")
        await self._ctx.audit.record_for(principal, "supervision.issue", NOTICES, notice["_id"], now, {})
        return notice

    async def get(self, principal: Principal, notice_id: ObjectId) -> dict[str, Any]:
        notice = await self._notices.find_one({"_id": notice_id})
        if notice is None or not await self._sees(principal, notice):
            raise NotFound("找不到该督查通报")
        return notice

    async def _sees(self, principal: Principal, notice: dict[str, Any]) -> bool:
        if in_org_scope(principal, notice["unit_path"], "supervision.issue"):
            return True
        return bool(await self._answers_for(principal, notice))

    async def _answers_for(self, principal: Principal, notice: dict[str, Any]) -> bool:
        units = await self._orgs.by_ids(granted_orgs(principal, "supervision.answer"))
        return notice["unit_id"] in answering_units(principal, units) or in_org_scope(
            principal, notice["unit_path"], "supervision.answer"
        )

    async def search(
        self, principal: Principal, *, state: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Notices the caller issued or supervises in their area, and those to units they answer for."""
        issuing = granted_orgs(principal, "supervision.issue")
        units = await self._orgs.by_ids(granted_orgs(principal, "supervision.answer"))
        areas = sorted(set(issuing) | answering_units(principal, units))
        if not areas:
            return [], 0
        query: dict[str, Any] = {"unit_path": {"$in": areas}}
        if state:
            query["state"] = state
        total = await self._notices.count_documents(query)
        cursor = self._notices.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def answer(self, principal: Principal, notice_id: ObjectId, text: str, evidence: str) -> dict[str, Any]:
        notice = await self.get(principal, notice_id)
        if not await self._answers_for(principal, notice):
            raise NotFound("找不到该督查通报")
        now = self._ctx.clock.now()
        entry = {"text": text, "evidence": evidence, "by": ObjectId(principal.user_id), "at": now}
        updated = await self._move(
            notice,
            ("issued", "returned"),
            "answered",
            {"$push": {"answers": entry}},
            "只有待整改或被退回的通报可以答复",
        )
        text = f"{notice['unit_name']}已答复督查通报的整改情况，请审核。"
        await self._inbox(
            updated, "supervision_answered", text, notice["issuer_id"], f"answer{len(updated['answers'])}"
        )
        return updated

    async def decide(
        self, principal: Principal, notice_id: ObjectId, accept: bool, reason: str | None
    ) -> dict[str, Any]:
        notice = await self.get(principal, notice_id)
        if not in_org_scope(principal, notice["unit_path"], "supervision.issue"):
            raise NotFound("找不到该督查通报")
        if notice["state"] != "answered":
            raise Conflict("只有已答复的通报可以审核", code="notice_state")
        if not accept and not reason:
            raise ValidationFailed(details=[{"field": "reason", "message": "退回须说明理由"}])
        now = self._ctx.clock.now()
        decision = {"accepted": accept, "reason": reason or "", "by": ObjectId(principal.user_id), "at": now}
        changes: dict[str, Any] = {"$push": {"decisions": decision}}
        if accept:
            changes["$set"] = {"on_time": notice["answers"][-1]["at"] <= notice["deadline"], "accepted_at": now}
        updated = await self._move(
            notice, ("answered",), "accepted" if accept else "returned", changes, "只有已答复的通报可以审核"
        )
        words = "已通过审核" if accept else f"被退回，请继续整改：{reason}"
        await self.tell(
            updated, "supervision_decided", f"督查通报的整改答复{words}", f"decision{len(updated['decisions'])}"
        )
        await self._ctx.audit.record_for(principal, "supervision.decide", NOTICES, notice_id, now, {"accepted": accept})
        return updated

    async def _move(
        self, notice: dict[str, Any], from_states: tuple[str, ...], to: str, update: dict[str, Any], refusal: str
    ) -> dict[str, Any]:
        now = self._ctx.clock.now()
        update = update | {"$set": {**update.get("$set", {}), "state": to, "updated_at": now}, "$inc": {"version": 1}}
        updated = await self._notices.find_one_and_update(
            {"_id": notice["_id"], "state": {"$in": list(from_states)}, "version": notice["version"]},
            update,
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict(refusal, code="notice_state")
        return updated

    async def tell(self, notice: dict[str, Any], event: str, text: str, step: str) -> None:
        """Everyone who answers for the unit, in the app, once per `step` of the notice."""
        units = [notice["unit_id"], *await self._rooms(notice)]
        for user in await UserService(self._ctx).active_with_role_at(ANSWERING_ROLES, units):
            await self._inbox(notice, event, text, user["_id"], step)

    async def _rooms(self, notice: dict[str, Any]) -> list[ObjectId]:
        """A village's mediation rooms and a town's centers answer for it."""
        found = []
        for kind in ("mediation_room", "center"):
            found += [u["_id"] for u in await self._orgs.of_kind(kind, under=notice["unit_id"])]
        units = await self._orgs.by_ids(found)
        return [u for u in found if units[u].get("parent_id") == notice["unit_id"]]

    async def _inbox(self, notice: dict[str, Any], event: str, text: str, user_id: ObjectId, step: str) -> None:
        base = message_base(notice["_id"], event, notice["unit_path"], text, self._ctx.clock.now())
        key = f"supervision:{notice['_id']}:{step}:{user_id}"
        await InboxService(self._ctx).put(inbox_message(base, key, user_id))

    # ---- inspections --------------------------------------------------------------------------------------
    async def inspect(self, principal: Principal, fields: dict[str, Any]) -> dict[str, Any]:
        unit = await self._orgs.get_in_scope(principal, fields["unit_id"], "supervision.issue")
        now = self._ctx.clock.now()
        day = fields["date"]
        inspection = {
            "_id": ObjectId(),
            "kind": fields["kind"],
            "unit_id": unit["_id"],
            "unit_name": unit["name"],
            "unit_path": unit["path"],
            "date": datetime(day.year, day.month, day.day, tzinfo=self._ctx.tz),
            "findings": fields["findings"],
            "inspector_id": ObjectId(principal.user_id),
            "notice_ids": [],
            "created_at": now,
        }
        await self._inspections.insert_one(inspection)
        await self._ctx.audit.record_for(principal, "inspection.record", INSPECTIONS, inspection["_id"], now, {})
        return inspection

    async def inspection(self, principal: Principal, inspection_id: ObjectId) -> dict[str, Any]:
        found = await self._inspections.find_one({"_id": inspection_id})
        if found is None or not in_org_scope(principal, found["unit_path"], "supervision.issue"):
            raise NotFound("找不到该督查记录", details=[{"field": "inspection_id", "message": "找不到该督查记录"}])
        return found

    async def inspections(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = {"unit_path": {"$in": granted_orgs(principal, "supervision.issue")}}
        total = await self._inspections.count_documents(query)
        cursor = self._inspections.find(query).sort([("date", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    # ---- the figure ---------------------------------------------------------------------------------------
    async def overdue(self, unit_id: ObjectId, period: Period) -> list[dict[str, Any]]:
        """Notices to units in `unit_id` whose deadline fell in the period (and has passed) that were not
        rectified by it."""
        until = min(period.end, self._ctx.clock.now())
        query = {"unit_path": unit_id, "deadline": {"$gte": period.start, "$lt": until}, "on_time": {"$ne": True}}
        return await self._notices.find(query, {"unit_name": 1, "finding": 1, "deadline": 1, "state": 1}).to_list(None)


async def scan(ctx: Context) -> int:
    """Raise the warnings of notices not yet rectified (a round of the warnings job), each level once."""
    now, raised = ctx.clock.now(), 0
    notices, routing = ctx.db[NOTICES], Routing(ctx)
    service = SupervisionService(ctx)
    async for notice in notices.find({"state": {"$in": list(OPEN)}}):
        town = next(iter(notice["unit_path"][1:2]), None)
        ratio = float((await routing.deadlines(town)).get("warning_ratio", 0.8))
        level = level_of({"start": notice["created_at"], "due": notice["deadline"]}, now, ratio)
        current = notice.get("warning")
        if level is None or LEVELS.index(level) <= LEVELS.index(current):
            continue
        result = await notices.update_one({"_id": notice["_id"], "warning": current}, {"$set": {"warning": level}})
        if not result.modified_count:
            continue
        words = "已超过整改期限" if level == "red" else "即将到整改期限"
        text = f"督查通报{words}，请尽快整改并答复：{notice['finding'][:40]}"
        await service.tell(notice, f"supervision_{level}", text, level)
        raised += 1
    return raised
