"""Operator scripts that work on the database directly."""

from __future__ import annotations

import pytest

from scripts.create_admin import create_admin
from server.core.context import Context


async def test_create_admin_makes_the_first_administrator(ctx: Context, org_tree) -> None:
    user, created = await create_admin(ctx, name="刘海燕", phone="139 0000 0005", org="测试镇")
    assert created
    assert [(g["role"], g["org_id"]) for g in user["grants"]] == [("town_admin", org_tree.town["_id"])]
    again, created_again = await create_admin(ctx, name="刘海燕", phone="13900000005", org=str(org_tree.town["_id"]))
    assert (again["_id"], created_again, len(again["grants"])) == (user["_id"], False, 1)
    county, _ = await create_admin(ctx, name="刘海燕", phone="13900000005", org="测试县", role="county_admin")
    assert [g["role"] for g in county["grants"]] == ["town_admin", "county_admin"]
    assert [a["action"] for a in await ctx.audit.for_target("user", user["_id"])] == ["user.create_admin"] * 3


async def test_create_admin_needs_an_existing_town(ctx: Context) -> None:
    with pytest.raises(SystemExit, match="找不到镇"):
        await create_admin(ctx, name="x", phone="13900000005", org="没有这个镇")
