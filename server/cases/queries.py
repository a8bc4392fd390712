"""Reading cases: the staff queue with its filters, a resident's own cases, a mediator's inbox, and who may
see one case. All filter building lives here; handlers pass the request's typed query."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases import policy
from server.cases.model import Case
from server.cases.repository import (
    BY_DEADLINE,
    NEWEST_FIRST,
    RESIDENT_ROW_PROJECTION,
    STAFF_ROW_PROJECTION,
    WATCHED_STATES,
    CaseRepository,
)
from server.core.auth import Principal
from server.core.errors import Forbidden
from server.core.vocabulary import STATES

if TYPE_CHECKING:
    from server.core.context import Context

WARNING_DEADLINES = ("accept", "conclude", "follow_up", "supervision")
# What staff lists show: every state but a draft, which is the resident's until submitted.
LISTED_STATES = tuple(s for s in STATES if s != "draft")


@dataclass(frozen=True)
class CaseFilter:
    """What the queue can be narrowed by (each `None` means "any")."""

    state: str | None = None
    tier: str | None = None
    source: str | None = None
    channel: str | None = None
    category: str | None = None
    org_id: ObjectId | None = None  # the assigned unit
    warning: str | None = None  # yellow / red on any deadline
    supervised: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    number: str | None = None  # exact
    text: str | None = None  # in the number, a party's name or the description

    def conditions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = [
            {name: value}
            for name in ("state", "tier", "source", "channel", "category")
            if (value := getattr(self, name)) is not None
        ]
        if self.org_id is not None:
            found.append({"assigned_org_id": self.org_id})
        if self.warning:
            found.append({"$or": [{f"warnings.{k}": self.warning} for k in WARNING_DEADLINES]})
        if self.supervised is not None:
            found.append({"supervised": {"$ne": None} if self.supervised else None})
        window = {k: v for k, v in (("$gte", self.since), ("$lt", self.until)) if v is not None}
        if window:
            found.append({"created_at": window})
        if self.number:
            found.append({"number": self.number})
        if self.text:
            words = {"$regex": re.escape(self.text)}
            found.append({"$or": [{"number": words}, {"parties.name": words}, {"description": words}]})
        return found


class CaseQueries:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)

    async def liaison_scopes(self, principal: Principal) -> list[dict[str, Any]]:
        """Liaisons see their own source's cases in the town where they sit (the town of their unit, never
        the county above it)."""
        return [
            {"source": policy.liaison_source(g.liaison_for), "town_id": ObjectId(g.town_id)}
            for g in principal.grants
            if g.role == "liaison" and g.town_id
        ]

    async def can_view(self, principal: Principal, case: Case) -> bool:
        if policy.may_view_in_scope(principal, case):
            return True
        return policy.liaison_sees(await self.liaison_scopes(principal), case)

    async def _scope(self, principal: Principal) -> dict[str, Any]:
        """The cases the caller may list: their units' (staff), their source's in their town (liaisons)."""
        scopes: list[dict[str, Any]] = []
        staff_orgs = [ObjectId(o) for o in principal.orgs_with("case.view")]
        if staff_orgs:
            scopes.append({"org_path": {"$in": staff_orgs}})
        scopes.extend(await self.liaison_scopes(principal))
        if not scopes:
            raise Forbidden()
        return {"$or": scopes} if len(scopes) > 1 else scopes[0]

    async def search(
        self, principal: Principal, where: CaseFilter, *, sort: str, skip: int, limit: int
    ) -> tuple[list[Case], int]:
        scope = await self._scope(principal)
        if where.state == "draft":
            return [], 0  # a draft is the resident's until submitted: never listed to staff
        conditions = where.conditions()
        if where.state is None:
            # The work queue (by deadline) holds the cases still in hand, those awaiting assignment (no
            # deadline yet) first; newest-first lists every case but drafts.
            states = WATCHED_STATES if sort == "deadline" else LISTED_STATES
            conditions.append({"state": {"$in": list(states)}})
        query: dict[str, Any] = {"$and": [scope, *conditions]}
        order = BY_DEADLINE if sort == "deadline" else NEWEST_FIRST
        return await self._cases.page(query, sort=order, skip=skip, limit=limit, projection=STAFF_ROW_PROJECTION)

    async def counts(self, principal: Principal, where: CaseFilter) -> tuple[dict[str, int], int]:
        """How many of the cases the filter finds (its state aside) are in each state, drafts never counted,
        and how many are in hand (what the default queue lists): the figures above a queue."""
        scope = await self._scope(principal)
        conditions = replace(where, state=None).conditions()
        listed = {"state": {"$in": list(LISTED_STATES)}}
        found = await self._cases.count_by({"$and": [scope, *conditions, listed]}, "state")
        counts: dict[str, int] = {state: found.get(state, 0) for state in LISTED_STATES}
        return counts, sum(counts[state] for state in WATCHED_STATES)

    async def mine(
        self, principal: Principal, *, state: str | None = None, skip: int, limit: int
    ) -> tuple[list[Case], int]:
        query: dict[str, Any] = {"resident_id": ObjectId(principal.user_id)}
        if state is not None:
            query["state"] = state
        return await self._cases.page(
            query, sort=NEWEST_FIRST, skip=skip, limit=limit, projection=RESIDENT_ROW_PROJECTION
        )

    async def inbox(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[Case], int]:
        """What waits on a mediator: assigned to them or their unit, not yet accepted or concluded."""
        units = [ObjectId(o) for o in principal.orgs_with("case.handle")]
        query = {
            "state": {"$in": ["assigned", "in_mediation"]},
            "$or": [{"mediator_ids": ObjectId(principal.user_id)}, {"assigned_path": {"$in": units}}],
        }
        return await self._cases.page(
            query, sort=[("next_due", 1)], skip=skip, limit=limit, projection=STAFF_ROW_PROJECTION
        )

    async def open_for_household(self, household_id: ObjectId, limit: int = 20) -> list[Case]:
        """The household's cases still being handled, newest first (shown to staff who scan its plate)."""
        return await self._cases.open_for_household(household_id, limit)
