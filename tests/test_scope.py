"""Data scope helpers and the permission table: staff see their org subtree through named capabilities."""

from __future__ import annotations

import pytest
from bson import ObjectId

from server.core.auth import Grant, Principal
from server.core.context import Context
from server.core.errors import Forbidden, NotFound
from server.core.permissions import CAPABILITIES, ROLES, roles_for
from server.core.scope import org_scope_filter, require_org_scope


def principal(*grants: Grant, user_id: str | None = None) -> Principal:
    return Principal(user_id or str(ObjectId()), "s", tuple(grants), expires_at=0)


async def test_org_scope_filter_selects_the_subtree(ctx: Context, org_tree) -> None:
    records = ctx.db["scoped_records"]
    await records.insert_many(
        [
            {"name": "甲村的", "org_path": org_tree.micro_grid["path"]},
            {"name": "乙村的", "org_path": org_tree.other_village["path"]},
            {"name": "镇办的", "org_path": org_tree.office["path"]},
        ]
    )

    async def visible(p: Principal, capability: str) -> list[str]:
        return sorted(d["name"] for d in await records.find(org_scope_filter(p, capability)).to_list(None))

    village_mediator = principal(Grant("mediator", str(org_tree.village["_id"])))
    town_admin = principal(Grant("town_admin", str(org_tree.town["_id"])))
    assert await visible(village_mediator, "case.handle") == ["甲村的"]
    assert await visible(town_admin, "case.administer") == ["乙村的", "甲村的", "镇办的"]
    with pytest.raises(Forbidden):
        org_scope_filter(village_mediator, "case.administer")  # no grant carries it anywhere


def test_require_org_scope_hides_what_is_outside(org_tree) -> None:
    grid_worker = principal(Grant("grid_worker", str(org_tree.grid["_id"])))
    require_org_scope(grid_worker, org_tree.micro_grid["path"], "visit.record")
    with pytest.raises(NotFound):
        require_org_scope(grid_worker, org_tree.other_village["path"], "visit.record")
    with pytest.raises(NotFound):
        require_org_scope(grid_worker, org_tree.micro_grid["path"], "case.handle")


def test_the_permission_table_names_only_real_roles_and_refuses_unknown_capabilities() -> None:
    assert all(set(roles) <= set(ROLES) and roles for roles in CAPABILITIES.values())
    resident_capabilities = {name for name, roles in CAPABILITIES.items() if "resident" in roles}
    assert resident_capabilities == {"case.own", "case.report"}  # residents reach nothing of anyone else's
    assert set(roles_for("household.reveal")) == {"grid_worker", "town_admin", "county_admin"}
    with pytest.raises(ValueError, match="unknown capability"):
        roles_for("household.delete")
