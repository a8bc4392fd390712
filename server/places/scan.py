"""Scanning a door plate: what each kind of person gets from the same QR code.

Staff in scope get the household with its recent visits and open cases; a resident gets what the report
form needs (village, micro-grid, masked address); anyone else gets the same 404 as for a code that never
existed. A plate that was replaced says so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import NotFound
from server.core.scope import in_org_scope
from server.orgs.tree import OrgService
from server.places.households import HouseholdService
from server.places.visits import VisitService

if TYPE_CHECKING:
    from server.core.context import Context


@dataclass
class ScanResult:
    household: dict[str, Any]
    staff: bool
    village: dict[str, Any] | None = None
    micro_grid: dict[str, Any] | None = None
    visits: list[dict[str, Any]] = field(default_factory=list)
    open_cases: list[dict[str, Any]] = field(default_factory=list)


OpenCases = Callable[[ObjectId], Awaitable[list[dict[str, Any]]]]


class ScanService:
    """`open_cases` lists a household's open cases; the caller passes it in, so places need not know cases."""

    def __init__(self, ctx: Context, open_cases: OpenCases) -> None:
        self._ctx = ctx
        self._open_cases = open_cases

    async def scan(self, principal: Principal, token: str) -> ScanResult:
        household = await HouseholdService(self._ctx).by_qr_token(token)
        orgs = await OrgService(self._ctx).by_ids(household["org_path"])
        village = next((o for o in orgs.values() if o["kind"] == "village"), None)
        micro_grid = orgs.get(household["micro_grid_id"])
        if in_org_scope(principal, household["org_path"], "household.scan"):
            visits = await VisitService(self._ctx).recent(household["_id"])
            cases = await self._open_cases(household["_id"])
            return ScanResult(household, True, village, micro_grid, visits, cases)
        if principal.has_role("resident"):
            return ScanResult(household, False, village, micro_grid)
        raise NotFound("无效的门牌二维码", code="plate_unknown")
