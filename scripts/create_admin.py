"""Create the first administrator of a deployment (there is nobody yet to grant the role through the API).

    python -m scripts.create_admin --name 刘海燕 --phone 13900000005 --org 示范镇 [--role county_admin] [--config FILE]

`--org` is a town or county by id or by name. An existing account with that phone gains the grant.
The person then logs in with an SMS code.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId

from server.core.context import Context
from server.core.pii import normalize_phone
from server.orgs.tree import OrgService
from server.people.users import UserService, grant_doc

KIND_FOR_ROLE = {"town_admin": "town", "county_admin": "county"}


async def create_admin(
    ctx: Context, *, name: str, phone: str, org: str, role: str = "town_admin"
) -> tuple[dict[str, Any], bool]:
    """Return the account and whether it was created (False: an existing account gained the grant)."""
    phone = normalize_phone(phone)
    try:
        unit = await OrgService(ctx).find(ObjectId(org))
    except InvalidId:
        unit = await OrgService(ctx).find_unit(name=org, kind=KIND_FOR_ROLE[role])
    if unit is None or unit["kind"] != KIND_FOR_ROLE[role]:
        raise SystemExit(
            f"找不到{'镇' if role == 'town_admin' else '县'}：{org}（先用 scripts.import_orgs 导入组织架构）"
        )
    grant = grant_doc(role, unit["_id"])
    existing = await UserService(ctx).by_phone(phone)
    now = ctx.clock.now()
    if existing is None:
        user = await UserService(ctx).create(name=name, phone=phone, now=now, grants=[grant])
        created = True
    else:
        if not any(g["role"] == role and g.get("org_id") == unit["_id"] for g in existing["grants"]):
            await UserService(ctx).add_grant_once(existing["_id"], grant, now)
            await UserService(ctx).set_active_in(existing["_id"], [unit["_id"]], True, now)
        user = await UserService(ctx).get(existing["_id"])
        created = False
    await ctx.audit.record(
        action="user.create_admin",
        actor_id=None,
        target_type="user",
        target_id=user["_id"],
        at=now,
        details={"grant": grant},
    )
    return user, created


async def _main(args: argparse.Namespace) -> None:
    from server.app import open_context
    from server.core.config import load_config

    ctx = await open_context(load_config(args.config).config)
    try:
        user, created = await create_admin(ctx, name=args.name, phone=args.phone, org=args.org, role=args.role)
    finally:
        await ctx.close()
    print(f"{'已创建' if created else '已授权'}：{user['name']}（{args.role}）。请用手机号 + 短信验证码登录。")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="创建第一位管理员")
    parser.add_argument("--name", required=True)
    parser.add_argument("--phone", required=True)
    parser.add_argument("--org", required=True, help="镇或县（id 或名称）")
    parser.add_argument("--role", choices=sorted(KIND_FOR_ROLE), default="town_admin")
    parser.add_argument("--config", help="配置文件（默认 config.yaml）")
    asyncio.run(_main(parser.parse_args()))
