"""一件事 (`disputes`): cases from every source about the same quarrel, handled once and counted once.

Staff link two cases (with a reason, audited). A case joins the dispute of the other; two disputes merge.
The dispute that survives a merge is the one holding the earliest case, and the lead is the earliest case
unless staff chose another, so the members and the lead come out the same whichever order staff link in.
Membership lives on each case (`dispute_id`), moved by a conditional update on the value read: when two
people link at once, one of them finds a case moved and starts again from what is there now, so they end
in one dispute, never two. The dispute document keeps the lead, the members and the history; the lead's
closing closes the members (server/cases/lifecycle.py). Unlinking takes a case out; a dispute left with one
case ends.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.cases.links import Suggestion, rank
from server.cases.model import Case, timeline_event
from server.cases.queries import CaseQueries
from server.cases.repository import CaseRepository
from server.cases.risk import RiskService
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter

if TYPE_CHECKING:
    from server.core.context import Context

DISPUTES = "disputes"
indexes.declare(
    DISPUTES,
    IndexModel([("org_path", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)], name="scope_updated_id"),
    IndexModel([("town_ids", ASCENDING), ("created_at", ASCENDING)], name="town_created"),
)
ATTEMPTS = 8  # moves lost to someone linking at the same moment, each retried from what is there now


def earliest(cases: list[Case]) -> Case:
    return min(cases, key=lambda c: (c["created_at"], c["number"]))


class DisputeService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._disputes = ctx.db[DISPUTES]
        self._cases = CaseRepository(ctx.db)

    async def _case(self, principal: Principal, case_id: ObjectId, field: str) -> Case:
        case = await self._cases.get(case_id)
        if case is None or not in_org_scope(principal, case["org_path"], "dispute.link"):
            raise NotFound("找不到该案件", details=[{"field": field, "message": "找不到该案件"}])
        return case

    async def link(self, principal: Principal, case_id: ObjectId, other_id: ObjectId, reason: str) -> dict[str, Any]:
        if case_id == other_id:
            raise ValidationFailed(details=[{"field": "other_case_id", "message": "不能把案件与它自己关联"}])
        for _ in range(ATTEMPTS):
            one = await self._case(principal, case_id, "case_id")
            two = await self._case(principal, other_id, "other_case_id")
            if one["town_id"] != two["town_id"] and not principal.has_role("county_admin"):
                raise ValidationFailed(details=[{"field": "other_case_id", "message": "跨镇关联须由县级办理"}])
            if "draft" in (one["state"], two["state"]):
                raise Conflict("草稿不能关联", code="dispute_draft")
            involved = [d for d in {one.get("dispute_id"), two.get("dispute_id")} if d]
            members = {c["_id"]: c for c in await self._cases.dispute_members(involved)} if involved else {}
            members |= {one["_id"]: one, two["_id"]: two}
            first = earliest(list(members.values()))
            target = first.get("dispute_id") or next(iter(sorted(involved)), None) or ObjectId()
            moved = True
            for member in (m for m in members.values() if m.get("dispute_id") != target):
                if not await self._cases.join_dispute(member["_id"], member.get("dispute_id"), target):
                    moved = False
                    break
            if moved:
                return await self._settle(principal, target, involved, "link", [case_id, other_id], reason)
        raise Conflict("关联的案件正被他人同时调整，请稍后再试", code="dispute_busy")

    async def _settle(
        self,
        principal: Principal,
        target: ObjectId,
        involved: list[ObjectId],
        action: str,
        case_ids: list[ObjectId],
        reason: str,
    ) -> dict[str, Any]:
        """The dispute document as its members now are; disputes merged into it end."""
        now = self._ctx.clock.now()
        members = await self._cases.dispute_members([target])
        existing = await self._disputes.find_one({"_id": target})
        chosen = (existing or {}).get("chosen_lead")
        lead = next((m for m in members if m["_id"] == chosen), None) or earliest(members)
        await self._cases.set_lead(target, lead["_id"])
        entry = {"action": action, "case_ids": case_ids, "reason": reason, "by": ObjectId(principal.user_id), "at": now}
        paths = sorted({o for m in members for o in m["org_path"]})
        dispute = await self._disputes.find_one_and_update(
            {"_id": target},
            {
                "$set": {
                    "lead_case_id": lead["_id"],
                    "case_ids": [m["_id"] for m in members],
                    "town_ids": sorted({m["town_id"] for m in members if m.get("town_id")}),
                    "org_path": paths,
                    "sources": sorted({m["source"] for m in members}),
                    "state": "open",
                    "updated_at": now,
                },
                "$push": {"history": entry},
                "$setOnInsert": {"created_at": now, "chosen_lead": None},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        for other in involved:
            if other != target:
                merged = {"state": "merged", "merged_into": target, "updated_at": now}
                await self._disputes.update_one({"_id": other}, {"$set": merged, "$push": {"history": entry}})
        for member in members:
            if member["_id"] in case_ids:
                note = f"{'并入' if action == 'link' else '调整'}一件事：{reason}"
                await self._cases.note(
                    member["_id"], {"$push": {"timeline": self._event(principal, member, "dispute_linked", note, now)}}
                )
        await RiskService(self._ctx).reassess_all([m["_id"] for m in members], principal)
        await self._ctx.audit.record_for(
            principal, f"dispute.{action}", DISPUTES, target, now, {"case_ids": [str(c) for c in case_ids]}
        )
        return dispute

    @staticmethod
    def _event(principal: Principal, case: Case, action: str, note: str, now: datetime) -> dict[str, Any]:
        return timeline_event(
            ObjectId(principal.user_id), action, case["state"], case["state"], note, now, public=False
        )

    async def unlink(
        self, principal: Principal, dispute_id: ObjectId, case_id: ObjectId, reason: str
    ) -> dict[str, Any]:
        dispute = await self.get(principal, dispute_id)
        case = await self._case(principal, case_id, "case_id")
        if case.get("dispute_id") != dispute["_id"]:
            raise ValidationFailed(details=[{"field": "case_id", "message": "该案件不在这件事中"}])
        if not await self._cases.join_dispute(case_id, dispute_id, None):
            raise Conflict("案件正被他人同时调整，请刷新后再试", code="dispute_busy")
        now = self._ctx.clock.now()
        await self._cases.note(
            case_id, {"$push": {"timeline": self._event(principal, case, "dispute_unlinked", reason, now)}}
        )
        remaining = await self._cases.dispute_members([dispute_id])
        if len(remaining) == 1:  # one case is no longer a dispute of several
            await self._cases.join_dispute(remaining[0]["_id"], dispute_id, None)
            entry = {
                "action": "unlink",
                "case_ids": [case_id],
                "reason": reason,
                "by": ObjectId(principal.user_id),
                "at": now,
            }
            ended = {"state": "dissolved", "case_ids": [], "updated_at": now}
            await self._disputes.update_one({"_id": dispute_id}, {"$set": ended, "$push": {"history": entry}})
            await RiskService(self._ctx).reassess_all([case_id, remaining[0]["_id"]], principal)
            await self._ctx.audit.record_for(
                principal, "dispute.unlink", DISPUTES, dispute_id, now, {"case_id": str(case_id)}
            )
            return await self._disputes.find_one({"_id": dispute_id})
        if dispute.get("chosen_lead") == case_id:
            await self._disputes.update_one({"_id": dispute_id}, {"$set": {"chosen_lead": None}})
        await RiskService(self._ctx).reassess_all([case_id], principal)
        return await self._settle(principal, dispute_id, [], "unlink", [case_id], reason)

    async def choose_lead(
        self, principal: Principal, dispute_id: ObjectId, case_id: ObjectId, reason: str
    ) -> dict[str, Any]:
        dispute = await self.get(principal, dispute_id)
        if case_id not in dispute["case_ids"]:
            raise ValidationFailed(details=[{"field": "case_id", "message": "该案件不在这件事中"}])
        await self._case(principal, case_id, "case_id")
        await self._disputes.update_one({"_id": dispute_id}, {"$set": {"chosen_lead": case_id}})
        return await self._settle(principal, dispute_id, [], "lead", [case_id], reason)

    async def get(self, principal: Principal, dispute_id: ObjectId) -> dict[str, Any]:
        """A dispute under the caller's grants (one merged into another says which: `merged_into`)."""
        dispute = await self._disputes.find_one({"_id": dispute_id})
        if dispute is None or not in_org_scope(principal, dispute["org_path"], "dispute.view"):
            raise NotFound("找不到这件事")
        return dispute

    async def view(self, principal: Principal, dispute_id: ObjectId) -> tuple[dict[str, Any], list[Case]]:
        """The dispute and those of its cases the caller may see, oldest first."""
        dispute = await self.get(principal, dispute_id)
        queries = CaseQueries(self._ctx)
        everyone = await self._cases.dispute_members([dispute_id])
        lead = next((m for m in everyone if m["_id"] == dispute.get("lead_case_id")), None)
        if dispute["state"] == "open" and lead is not None and lead["state"] == "closed":
            dispute = dispute | {"state": "closed"}  # it ended with its lead (server/cases/lifecycle.py)
        return dispute, [m for m in everyone if await queries.can_view(principal, m)]

    async def suggestions(self, principal: Principal, case: Case) -> list[tuple[Suggestion, Case]]:
        """The link suggestions for a case now (its registration's, found again with what came since), of the
        cases the caller may see only."""
        now = self._ctx.clock.now()
        candidates = await self._cases.link_candidates(
            case, now - timedelta(days=self._ctx.config.prevention.link_window_days)
        )
        by_id = {c["_id"]: c for c in candidates}
        queries = CaseQueries(self._ctx)
        return [
            (s, by_id[s.case_id]) for s in rank(case, candidates) if await queries.can_view(principal, by_id[s.case_id])
        ]

    async def opened_since(self, town_id: ObjectId, since: datetime) -> list[dict[str, Any]]:
        """A town's disputes first linked since `since` and still open (the morning's 研判)."""
        query = {"town_ids": town_id, "created_at": {"$gte": since}, "state": "open"}
        return await self._disputes.find(query, {"lead_case_id": 1, "case_ids": 1}).to_list(None)

    async def search(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "dispute.view") | {"state": "open"}
        total = await self._disputes.count_documents(query)
        cursor = self._disputes.find(query).sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total
