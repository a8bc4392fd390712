"""一户一档: the file behind every plate — members (masked), tags, visits, every case about the household
(as its place, or with a member as a party, matched by hash), its risk now and why, and the grid workers'
notes (关注事项, `household_notes`) with follow-up dates.

A grid worker at the door reads it in one request on a weak signal: a fixed, small number of indexed reads
(the household, its last visits, its cases by place and by each member's hashes, its notes), no read per
item; the cases listed are only those the reader may see.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from notify.inbox import InboxService
from notify.outbox import inbox_message, message_base
from server.cases.queries import CaseQueries
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound
from server.core.scope import require_org_scope
from server.core.vocabulary import RISKS
from server.people.users import UserService
from server.places.households import HouseholdService
from server.places.visits import VisitService

if TYPE_CHECKING:
    from server.core.context import Context

NOTES = "household_notes"
CORRECTION_ASKED = "住户提交了住户信息更正申请，请在期限内核实更正（见一户一档的关注事项）。"
indexes.declare(
    NOTES,
    IndexModel([("household_id", ASCENDING), ("at", DESCENDING)], name="household_at"),
    IndexModel([("org_path", ASCENDING), ("done_at", ASCENDING), ("follow_up_on", ASCENDING)], name="scope_open_due"),
)
VISITS_SHOWN, CASES_SHOWN, NOTES_SHOWN = 10, 30, 20
REPEAT_DAYS, REPEAT_AT_LEAST = 180, 2


def household_risk(
    cases: list[dict[str, Any]], tags: list[str], open_notes: int, now: datetime
) -> tuple[str, list[str]]:
    """The household's risk now: its open cases' highest level, raised to medium by repeats, a 重点关注
    tag or open concerns; with the reasons in words."""
    open_cases = [c for c in cases if c["state"] not in ("closed", "rejected", "draft")]
    level, reasons = "low", []
    if open_cases:
        worst = max(open_cases, key=lambda c: RISKS.index(c["risk"]))
        level = worst["risk"]
        reasons.append(f"在办纠纷 {len(open_cases)} 件，最高风险「{worst['risk']}」（{worst['number']}）")
    recent = [c for c in cases if c["created_at"] >= now - timedelta(days=REPEAT_DAYS)]
    if len(recent) >= REPEAT_AT_LEAST:
        reasons.append(f"{REPEAT_DAYS} 天内涉及纠纷 {len(recent)} 件（反复发生）")
        level = max(level, "medium", key=RISKS.index)
    if "重点关注" in tags:
        reasons.append("标记为重点关注")
        level = max(level, "medium", key=RISKS.index)
    if open_notes:
        reasons.append(f"未办结的关注事项 {open_notes} 项")
    return level, reasons


class HouseholdFiles:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._notes = ctx.db[NOTES]

    async def _household(self, principal: Principal, household_id: ObjectId) -> dict[str, Any]:
        household = await HouseholdService(self._ctx).find(household_id)
        if household is None:
            raise NotFound("找不到该住户")
        require_org_scope(principal, household["org_path"], "household.file", "住户")
        return household

    async def file(self, principal: Principal, household_id: ObjectId) -> dict[str, Any]:
        household = await self._household(principal, household_id)
        phones = sorted({m["phone_hash"] for m in household["members"] if m.get("phone_hash")})
        ids = sorted({m["id_hash"] for m in household["members"] if m.get("id_hash")})
        found = await CaseRepository(self._ctx.db).of_household(household_id, phones, ids, CASES_SHOWN)
        queries = CaseQueries(self._ctx)
        cases = [c for c in found if await queries.can_view(principal, c)]
        notes = (
            await self._notes.find({"household_id": household_id})
            .sort([("at", DESCENDING)])
            .limit(NOTES_SHOWN)
            .to_list(None)
        )
        now = self._ctx.clock.now()
        open_notes = [n for n in notes if n.get("done_at") is None]
        level, reasons = household_risk(cases, household.get("tags") or [], len(open_notes), now)
        return {
            "household": household,
            "visits": await VisitService(self._ctx).recent(household_id, VISITS_SHOWN),
            "cases": cases,
            "notes": notes,
            "risk": level,
            "risk_reasons": reasons,
        }

    async def add_note(
        self, principal: Principal, household_id: ObjectId, text: str, follow_up_on: date | None
    ) -> dict[str, Any]:
        household = await self._household(principal, household_id)
        return await self._put_note(household, text, follow_up_on, ObjectId(principal.user_id))

    async def _put_note(
        self, household: dict[str, Any], text: str, follow_up_on: date | None, by: ObjectId, kind: str | None = None
    ) -> dict[str, Any]:
        """A concern on a household (a grid worker's, or a resident's correction request: `kind`)."""
        note = {
            "_id": ObjectId(),
            "household_id": household["_id"],
            "org_path": household["org_path"],
            "text": text,
            "follow_up_on": datetime(follow_up_on.year, follow_up_on.month, follow_up_on.day, tzinfo=self._ctx.tz)
            if follow_up_on
            else None,
            "by": by,
            "at": self._ctx.clock.now(),
            "done_at": None,
            "done_note": None,
            **({"kind": kind} if kind else {}),
        }
        await self._notes.insert_one(note)
        return note

    async def request_correction(self, principal: Principal, household_id: ObjectId, text: str) -> dict[str, Any]:
        """A resident asks for their household's record to be corrected (个人信息保护法 更正权): a concern on the
        household for its grid worker, due in `privacy.correction_days`, audited; they hear when it is done."""
        households = HouseholdService(self._ctx)
        household = await households.find(household_id)
        user = await UserService(self._ctx).get(ObjectId(principal.user_id))
        phone_hash = user.get("phone_hash")
        members = (household or {}).get("members") or []
        if household is None or not phone_hash or all(m.get("phone_hash") != phone_hash for m in members):
            raise NotFound(
                "找不到该住户", details=[{"field": "household_id", "message": "只能为本人登记所在的住户申请"}]
            )
        now = self._ctx.clock.now()
        due = (now + timedelta(days=self._ctx.config.privacy.correction_days)).astimezone(self._ctx.tz).date()
        note = await self._put_note(household, f"住户信息更正申请：{text}", due, user["_id"], kind="correction")
        await self._ctx.audit.record_for(principal, "household.correction_request", "household", household_id, now)
        base = message_base(note["_id"], "correction_requested", household["org_path"], CORRECTION_ASKED, now)
        for worker in await UserService(self._ctx).active_with_role_at(("grid_worker",), household["org_path"]):
            await InboxService(self._ctx).put(
                inbox_message(base, f"correction:{note['_id']}:{worker['_id']}", worker["_id"])
            )
        return note

    async def close_note(
        self, principal: Principal, household_id: ObjectId, note_id: ObjectId, text: str
    ) -> dict[str, Any]:
        await self._household(principal, household_id)
        done = await self._notes.find_one_and_update(
            {"_id": note_id, "household_id": household_id, "done_at": None},
            {"$set": {"done_at": self._ctx.clock.now(), "done_note": text, "done_by": ObjectId(principal.user_id)}},
            return_document=ReturnDocument.AFTER,
        )
        if done is None:
            if await self._notes.find_one({"_id": note_id, "household_id": household_id}) is None:
                raise NotFound("找不到该关注事项")
            raise Conflict("该关注事项已办结", code="note_done")
        if done.get("kind") == "correction":  # the resident who asked hears the answer
            now = self._ctx.clock.now()
            await self._ctx.audit.record_for(principal, "household.correction_done", "household", household_id, now)
            base = message_base(note_id, "correction_done", [], f"您的住户信息更正申请已处理：{text}", now)
            await InboxService(self._ctx).put(inbox_message(base, f"correction-done:{note_id}", done["by"]))
        return dict(done)

    async def due_in(self, town_id: ObjectId, day_end: datetime) -> list[dict[str, Any]]:
        """A town's open concerns whose follow-up date has come (the morning's 研判)."""
        query = {"org_path": town_id, "done_at": None, "follow_up_on": {"$lt": day_end}}
        return await self._notes.find(query, {"household_id": 1, "text": 1, "follow_up_on": 1}).to_list(None)
