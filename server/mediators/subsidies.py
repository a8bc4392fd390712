"""以案定补 (`subsidy_statements`): one monthly statement per town, from the cases closed that month.

A case earns its subsidy once it is closed after review and a satisfied follow-up: the town's rules give an
amount by the confirmed difficulty and the outcome (a judicial confirmation adds a bonus; a failed mediation
properly referred pays less), split among the case's mediators by the rules' split, times each mediator's
star factor, within a monthly cap. Money is in fen. The office approves, the county confirms, and the
statement is locked: a correction afterwards is an adjusting line on the next open month, never an edit.
Building a month again while it is open recomputes its case lines (its adjustments stay).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter
from server.mediators.profiles import Roster
from server.mediators.ratings import Schemes, town_for
from server.mediators.scoring import subsidy_lines
from server.mediators.statement_xlsx import render_statement
from server.mediators.terms import month_range, next_month
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

STATEMENTS = "subsidy_statements"
indexes.declare(
    STATEMENTS,
    IndexModel([("town_id", ASCENDING), ("month", ASCENDING)], name="town_month", unique=True),
    IndexModel([("org_path", ASCENDING), ("month", DESCENDING), ("_id", ASCENDING)], name="scope_month_id"),
    IndexModel([("lines.user_id", ASCENDING), ("month", DESCENDING)], name="mediator_month"),
)
# A correction looks this far ahead for an open month before giving up (a year of locked months is a sign
# that something else is wrong).
CORRECTION_MONTHS_AHEAD = 12


def totals(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The statement's sums in fen: overall, per mediator, per unit, and the lines with exceptions."""
    by_user: dict[str, int] = {}
    by_unit: dict[str, int] = {}
    for line in lines:
        if line["user_id"] is not None:
            by_user[str(line["user_id"])] = by_user.get(str(line["user_id"]), 0) + line["amount"]
        by_unit[str(line["unit_id"])] = by_unit.get(str(line["unit_id"]), 0) + line["amount"]
    return {
        "total": sum(line["amount"] for line in lines),
        "by_mediator": by_user,
        "by_unit": by_unit,
        "exceptions": sum(1 for line in lines if line["exceptions"]),
    }


class SubsidyService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._statements = ctx.db[STATEMENTS]
        self._roster = Roster(ctx)

    async def build(self, principal: Principal, town_id: ObjectId | None, month: str) -> tuple[dict[str, Any], bool]:
        """Compute the town's statement for `month` (again, while it is open); (statement, whether new)."""
        town = await town_for(self._ctx, principal, town_id, "subsidy.manage")
        start, end = month_range(month, self._ctx.tz)
        existing = await self._statements.find_one({"town_id": town["_id"], "month": month})
        if existing is not None and existing["state"] != "open":
            return existing, False
        rules, version = await Schemes(self._ctx).subsidy(town["_id"])
        case_lines = await self.compute(town["_id"], start, end, rules)
        adjustments = [line for line in (existing or {}).get("lines", []) if line["kind"] == "adjustment"]
        lines = case_lines + adjustments
        now = self._ctx.clock.now()
        fields = {
            "lines": lines,
            "totals": totals(lines),
            "rules": rules,
            "rules_version": version,
            "built_at": now,
            "built_by": ObjectId(principal.user_id),
        }
        if existing is None:
            statement = self._new(town, month, now) | fields
            try:
                await self._statements.insert_one(statement)
            except DuplicateKeyError:
                return await self._statements.find_one({"town_id": town["_id"], "month": month}), False
        else:
            statement = await self._advance(existing, "open", fields)
        await self._audit(principal, "subsidy.build", statement, {"month": month, "lines": len(lines)})
        return statement, existing is None

    def _new(self, town: dict[str, Any], month: str, now: datetime) -> dict[str, Any]:
        return {
            "_id": ObjectId(),
            "town_id": town["_id"],
            "org_path": town["path"],
            "month": month,
            "state": "open",
            "version": 0,
            "lines": [],
            "totals": totals([]),
            "created_at": now,
        }

    async def compute(
        self, town_id: ObjectId, start: datetime, end: datetime, rules: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The case lines of a town's month: one indexed read of the cases, one of the mediators' profiles."""
        cases = await CaseRepository(self._ctx.db).closed_after_follow_up_in(town_id, start, end)
        user_ids = list({u for c in cases for u in c.get("mediator_ids") or []})
        profiles = await self._roster.by_user_ids(user_ids)
        stars = {u: ((p.get("star") or {}).get("level") or 0) for u, p in profiles.items()}
        lines = subsidy_lines(cases, stars, rules)
        for line in lines:
            profile = profiles.get(line["user_id"]) if line["user_id"] else None
            line |= {
                "id": ObjectId(),
                "profile_id": profile["_id"] if profile else None,
                "name": profile["name"] if profile else "",
            }
        return lines

    async def search(
        self, principal: Principal, *, month: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "subsidy.view")
        if month:
            query["month"] = month
        total = await self._statements.count_documents(query)
        cursor = self._statements.find(query, {"lines": 0}).sort([("month", DESCENDING), ("_id", ASCENDING)]).skip(skip)
        return await cursor.limit(limit).to_list(None), total

    async def get(
        self, principal: Principal, statement_id: ObjectId, capability: str = "subsidy.view"
    ) -> dict[str, Any]:
        statement = await self._statements.find_one({"_id": statement_id})
        if statement is None or not in_org_scope(principal, statement["org_path"], capability):
            raise NotFound("找不到该结算单")
        return statement

    async def approve(self, principal: Principal, statement_id: ObjectId) -> dict[str, Any]:
        """The town office approves an open statement."""
        statement = await self.get(principal, statement_id, "subsidy.manage")
        if statement["state"] != "open":
            raise Conflict("该结算单已审核，不能重复审核", code="statement_not_open")
        fields = {"state": "approved", "approved_by": ObjectId(principal.user_id), "approved_at": self._ctx.clock.now()}
        updated = await self._advance(statement, "open", fields)
        await self._audit(principal, "subsidy.approve", statement, {"total": statement["totals"]["total"]})
        return updated

    async def confirm(self, principal: Principal, statement_id: ObjectId) -> dict[str, Any]:
        """The county confirms an approved statement, which locks it."""
        statement = await self.get(principal, statement_id, "subsidy.confirm")
        if statement["state"] != "approved":
            message = "该结算单已锁定" if statement["state"] == "locked" else "该结算单尚未经镇审核"
            raise Conflict(message, code="statement_not_approved")
        fields = {"state": "locked", "locked_by": ObjectId(principal.user_id), "locked_at": self._ctx.clock.now()}
        updated = await self._advance(statement, "approved", fields)
        await self._audit(principal, "subsidy.lock", statement, {"total": statement["totals"]["total"]})
        return updated

    async def correct(
        self,
        principal: Principal,
        statement_id: ObjectId,
        *,
        profile_id: ObjectId,
        case_id: ObjectId | None,
        amount: int,
        reason: str,
    ) -> dict[str, Any]:
        """An adjusting line for a locked statement, put on the next month that is still open (made if
        needed); returns the statement that carries it."""
        statement = await self.get(principal, statement_id, "subsidy.manage")
        if statement["state"] != "locked":
            raise Conflict("未锁定的结算单请重新生成，不需要更正", code="statement_not_locked")
        profile = await self._roster.get(principal, profile_id, "subsidy.manage")
        if profile["town_id"] != statement["town_id"]:  # `get` checked the caller's scope
            raise ValidationFailed(details=[{"field": "profile_id", "message": "须是本镇名册中的调解员"}])
        lines = [line for line in statement["lines"] if case_id is not None and line["case_id"] == case_id]
        case_line = lines[0] if lines else None
        if case_id is not None and case_line is None:
            raise ValidationFailed(details=[{"field": "case_id", "message": "该案件不在被更正的结算单中"}])
        line = {
            "id": ObjectId(),
            "kind": "adjustment",
            "case_id": case_id,
            "number": case_line["number"] if case_line else None,
            "unit_id": case_line["unit_id"] if case_line else (profile["org_ids"] or [None])[0],
            "user_id": profile.get("user_id"),
            "profile_id": profile["_id"],
            "name": profile["name"],
            "difficulty": None,
            "outcome": None,
            "base": 0,
            "bonus": 0,
            "share": 0,
            "star": 0,
            "factor": 100,
            "amount": amount,
            "exceptions": [],
            "corrects": statement["_id"],
            "corrects_month": statement["month"],
            "reason": reason,
            "by": ObjectId(principal.user_id),
            "at": self._ctx.clock.now(),
        }
        target = await self._open_after(statement)
        lines = [*target["lines"], line]
        updated = await self._advance(target, "open", {"lines": lines, "totals": totals(lines)})
        details = {"corrects": statement["_id"], "amount": amount, "reason": reason, "onto": target["month"]}
        await self._audit(principal, "subsidy.correct", target, details)
        return updated

    async def _open_after(self, statement: dict[str, Any]) -> dict[str, Any]:
        month = statement["month"]
        for _ in range(CORRECTION_MONTHS_AHEAD):
            month = next_month(month)
            found = await self._statements.find_one({"town_id": statement["town_id"], "month": month})
            if found is None:
                town = await OrgService(self._ctx).get(statement["town_id"])
                fresh = self._new(town, month, self._ctx.clock.now())
                try:
                    await self._statements.insert_one(fresh)
                    return fresh
                except DuplicateKeyError:
                    found = await self._statements.find_one({"town_id": statement["town_id"], "month": month})
            if found is not None and found["state"] == "open":
                return found
        raise Conflict("之后各月的结算单均已审核，无法记入更正", code="no_open_month")

    async def slips(self, principal: Principal, month: str | None) -> list[dict[str, Any]]:
        """The caller's own lines, month by month (newest first), from every statement that names them."""
        user_id = ObjectId(principal.user_id)
        query: dict[str, Any] = {"lines.user_id": user_id}
        if month:
            month_range(month, self._ctx.tz)
            query["month"] = month
        found = await self._statements.find(query).sort("month", DESCENDING).limit(24).to_list(None)
        slips = []
        for statement in found:
            mine = [line for line in statement["lines"] if line["user_id"] == user_id]
            slips.append(
                {
                    "statement_id": statement["_id"],
                    "month": statement["month"],
                    "state": statement["state"],
                    "lines": mine,
                    "total": sum(line["amount"] for line in mine),
                }
            )
        return slips

    async def xlsx(self, principal: Principal, statement_id: ObjectId) -> tuple[bytes, str]:
        """The statement as a workbook (one sheet per unit, totals, Chinese headers), rendered off the loop;
        every export is audited."""
        statement = await self.get(principal, statement_id, "subsidy.view")
        town = await OrgService(self._ctx).get(statement["town_id"])
        units = await OrgService(self._ctx).by_ids([line["unit_id"] for line in statement["lines"] if line["unit_id"]])
        unit_names = {str(k): v["name"] for k, v in units.items()}
        data = await self._ctx.heavy(render_statement, statement, town["name"], unit_names)
        await self._audit(principal, "subsidy.export", statement, {"format": "xlsx"})
        return data, f"以案定补结算单-{town['name']}-{statement['month']}.xlsx"

    async def _advance(self, statement: dict[str, Any], state: str, fields: dict[str, Any]) -> dict[str, Any]:
        updated: dict[str, Any] | None = await self._statements.find_one_and_update(
            {"_id": statement["_id"], "state": state, "version": statement["version"]},
            {"$set": fields, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict("结算单已被他人更新，请刷新后再试", code="statement_changed")
        return updated

    async def _audit(
        self, principal: Principal, action: str, statement: dict[str, Any], details: dict[str, Any]
    ) -> None:
        await self._ctx.audit.record_for(
            principal, action, STATEMENTS, statement["_id"], self._ctx.clock.now(), details
        )
