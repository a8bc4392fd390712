"""Data scope helpers: staff see their org subtree, residents their own records, in real queries."""

from __future__ import annotations

import pytest
from bson import ObjectId

from server.core.auth import Grant, Principal
from server.core.context import Context
from server.core.errors import Forbidden, NotFound
from server.core.scope import org_scope_filter, own_filter, require_org_scope, require_own


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

    async def visible(p: Principal, *roles: str) -> list[str]:
        return sorted(d["name"] for d in await records.find(org_scope_filter(p, roles)).to_list(None))

    village_mediator = principal(Grant("mediator", str(org_tree.village["_id"])))
    town_admin = principal(Grant("town_admin", str(org_tree.town["_id"])))
    assert await visible(village_mediator, "mediator") == ["甲村的"]
    assert await visible(town_admin, "town_admin") == ["乙村的", "甲村的", "镇办的"]
    with pytest.raises(Forbidden):
        org_scope_filter(village_mediator, ["town_admin"])  # holds no such role anywhere


def test_require_org_scope_hides_what_is_outside(org_tree) -> None:
    grid_worker = principal(Grant("grid_worker", str(org_tree.grid["_id"])))
    require_org_scope(grid_worker, org_tree.micro_grid["path"], ["grid_worker"])
    with pytest.raises(NotFound):
        require_org_scope(grid_worker, org_tree.other_village["path"], ["grid_worker"])
    with pytest.raises(NotFound):
        require_org_scope(grid_worker, org_tree.micro_grid["path"], ["mediator"])


async def test_residents_see_only_their_own(ctx: Context) -> None:
    me, someone = principal(Grant("resident")), principal(Grant("resident"))
    records = ctx.db["own_records"]
    await records.insert_many([{"resident_id": ObjectId(me.user_id)}, {"resident_id": ObjectId(someone.user_id)}])
    mine = await records.find(own_filter(me)).to_list(None)
    assert [d["resident_id"] for d in mine] == [ObjectId(me.user_id)]
    require_own(me, ObjectId(me.user_id))
    with pytest.raises(NotFound):
        require_own(me, ObjectId(someone.user_id))
