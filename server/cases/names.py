"""Names beside ids: the units and people a case mentions, read in one go for the case views."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bson import ObjectId

from server.cases.model import Case
from server.orgs.tree import OrgService
from server.people.users import ROLE_NAMES, UserService

if TYPE_CHECKING:
    from server.core.context import Context


@dataclass(frozen=True)
class NameBook:
    """Display names: units by id; people by id as (name, role in words)."""

    units: dict[ObjectId, str] = field(default_factory=dict)
    people: dict[ObjectId, tuple[str, str]] = field(default_factory=dict)

    def unit(self, org_id: ObjectId | None) -> str | None:
        return self.units.get(org_id) if org_id else None

    def person(self, user_id: ObjectId | None) -> tuple[str | None, str | None]:
        name, role = self.people.get(user_id, (None, None)) if user_id else (None, None)
        return name, role


class CaseNames:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def of(self, cases: Iterable[Case]) -> NameBook:
        org_ids: set[ObjectId] = set()
        user_ids: set[ObjectId] = set()
        for case in cases:
            if case.get("assigned_org_id"):
                org_ids.add(case["assigned_org_id"])
            user_ids.update(case.get("mediator_ids") or [])
            user_ids.update(e["actor_id"] for e in case.get("timeline", []) if e.get("actor_id"))
        units = await OrgService(self._ctx).names_by_id(list(org_ids)) if org_ids else {}
        people = await UserService(self._ctx).names_and_roles(list(user_ids)) if user_ids else {}
        return NameBook(
            units=units,
            people={user_id: (name, ROLE_NAMES.get(role, role)) for user_id, (name, role) in people.items()},
        )
