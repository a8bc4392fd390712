"""`CaseService`: the one door to cases for handlers, scripts and other services.

It finds the case the caller may see, then hands the work to the part that owns it: `Intake` (registering),
`Lifecycle` (the actions, over the pure `actions` / `policy` / `transitions`), `CaseRecord` (sessions,
information, rating, attachments, reveals) and `CaseQueries` (queues and lists).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases import policy
from server.cases.intake import Intake
from server.cases.lifecycle import Lifecycle
from server.cases.model import Case
from server.cases.queries import CaseFilter, CaseQueries
from server.cases.record import CaseRecord
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.errors import NotFound

if TYPE_CHECKING:
    from server.core.context import Context


class CaseService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._queries = CaseQueries(ctx)
        self._record = CaseRecord(ctx)

    async def get(self, principal: Principal, case_id: ObjectId) -> Case:
        case = await CaseRepository(self._ctx.db).get(case_id)
        if case is None or not await self._queries.can_view(principal, case):
            raise NotFound("找不到该案件")
        return case

    async def create(self, principal: Principal, data: dict[str, Any], *, idempotency_key: str | None = None) -> Case:
        return await Intake(self._ctx).create(principal, data, idempotency_key=idempotency_key)

    async def made_with(self, principal: Principal, idempotency_key: str) -> Case | None:
        """The case this caller made with `idempotency_key`, if a first attempt got that far."""
        case = await CaseRepository(self._ctx.db).by_idempotency_key(idempotency_key)
        return case if case is not None and case["registered_by"] == ObjectId(principal.user_id) else None

    async def act(self, principal: Principal, case_id: ObjectId, name: str, body: dict[str, Any]) -> Case:
        case = await self.get(principal, case_id)
        return await Lifecycle(self._ctx).act(principal, case, name, body)

    def allowed_actions(self, principal: Principal, case: Case) -> list[str]:
        return policy.allowed_actions(principal, case)

    def may_rate(self, principal: Principal, case: Case) -> bool:
        return policy.holds(principal, case, "owner") and policy.may_rate(case)

    def can_attach(self, principal: Principal, case: Case) -> bool:
        return policy.may_attach(principal, case)

    async def add_session(self, principal: Principal, case_id: ObjectId, session: dict[str, Any]) -> Case:
        return await self._record.add_session(principal, await self.get(principal, case_id), session)

    async def add_info(self, principal: Principal, case_id: ObjectId, text: str) -> Case:
        return await self._record.add_info(principal, await self.get(principal, case_id), text)

    async def rate(self, principal: Principal, case_id: ObjectId, stars: int, comment: str) -> Case:
        return await self._record.rate(principal, await self.get(principal, case_id), stars, comment)

    async def set_judicial_confirmation(self, principal: Principal, case_id: ObjectId, requested: bool) -> Case:
        return await self._record.set_judicial_confirmation(principal, await self.get(principal, case_id), requested)

    async def add_attachment(self, principal: Principal, case: Case, attachment: dict[str, Any]) -> Case:
        return await self._record.add_attachment(principal, case, attachment)

    async def reveal_parties(self, principal: Principal, case: Case, reason: str) -> None:
        await self._record.reveal_parties(principal, case, reason)

    async def search(
        self, principal: Principal, where: CaseFilter, *, sort: str, skip: int, limit: int
    ) -> tuple[list[Case], int]:
        return await self._queries.search(principal, where, sort=sort, skip=skip, limit=limit)

    async def counts(self, principal: Principal, where: CaseFilter) -> tuple[dict[str, int], int]:
        return await self._queries.counts(principal, where)

    async def mine(
        self, principal: Principal, *, state: str | None = None, skip: int, limit: int
    ) -> tuple[list[Case], int]:
        return await self._queries.mine(principal, state=state, skip=skip, limit=limit)

    async def inbox(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[Case], int]:
        return await self._queries.inbox(principal, skip=skip, limit=limit)

    async def open_for_household(self, household_id: ObjectId, limit: int = 20) -> list[Case]:
        return await self._queries.open_for_household(household_id, limit)
