"""Staff accounts: search, create, grant and revoke roles, deactivate. Admins only, inside their scope."""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler, api, requires
from schemas.base import Page
from schemas.users import GrantIn, GrantRef, UserCreateIn, UserOut, UserQuery, user_to_json
from server.core.ids import parse_id
from server.orgs.tree import OrgService
from server.people.staff import StaffService
from server.people.users import UserService


class _StaffHandler(BaseHandler):
    @property
    def staff(self) -> StaffService:
        return StaffService(self.ctx)

    async def users_to_json(self, users: list[dict[str, Any]]) -> list[UserOut]:
        org_ids = list({g["org_id"] for u in users for g in u["grants"] if g.get("org_id")})
        orgs = await OrgService(self.ctx).by_ids(org_ids)
        return [user_to_json(u, UserService(self.ctx).phone_of(u), orgs) for u in users]

    async def write_user(self, user: dict[str, Any], status: int = 200) -> None:
        self.write_json((await self.users_to_json([user]))[0], status=status)


class UsersHandler(_StaffHandler):
    @requires("staff.view")
    @api("查找工作人员（按姓名、手机号、角色、单元）", query=UserQuery, response=Page[UserOut], tags=["staff"])
    async def get(self) -> None:
        query = self.read_query(UserQuery)
        users, total = await self.staff.search(
            self.caller,
            name=query.name,
            phone=query.phone,
            role=query.role,
            org_id=parse_id(query.org_id) if query.org_id else None,
            skip=query.skip,
            limit=query.page_size,
        )
        self.write_page(await self.users_to_json(users), total, query)

    @requires("staff.edit")
    @api(
        "新建工作人员账号",
        request=UserCreateIn,
        response=UserOut,
        status=201,
        tags=["staff"],
        description="手机号已注册为群众账号时，在该账号上授予角色并返回 200。",
    )
    async def post(self) -> None:
        body = self.read_json(UserCreateIn)
        grants = [g.model_dump() | {"org_id": parse_id(g.org_id, "组织单元")} for g in body.grants]
        user, created = await self.staff.create(self.caller, name=body.name, phone=body.phone, grants=grants)
        await self.write_user(user, status=201 if created else 200)


class UserHandler(_StaffHandler):
    @requires("staff.view")
    @api("工作人员详情", response=UserOut, tags=["staff"])
    async def get(self, user_id: str) -> None:
        await self.write_user(await self.staff.get(self.caller, parse_id(user_id, "人员")))


class GrantsHandler(_StaffHandler):
    @requires("staff.edit")
    @api("授予角色", request=GrantIn, response=UserOut, tags=["staff"])
    async def post(self, user_id: str) -> None:
        body = self.read_json(GrantIn)
        user = await self.staff.grant(
            self.caller,
            parse_id(user_id, "人员"),
            role=body.role,
            org_id=parse_id(body.org_id, "组织单元"),
            liaison_for=body.liaison_for,
        )
        await self.write_user(user)


class RevokeHandler(_StaffHandler):
    @requires("staff.edit")
    @api("撤销角色", request=GrantRef, response=UserOut, tags=["staff"])
    async def post(self, user_id: str) -> None:
        body = self.read_json(GrantRef)
        user = await self.staff.revoke(
            self.caller,
            parse_id(user_id, "人员"),
            role=body.role,
            org_id=parse_id(body.org_id, "组织单元"),
        )
        await self.write_user(user)


class ActivationHandler(_StaffHandler):
    def initialize(self, active: bool) -> None:
        self.active = active

    @requires("staff.edit")
    @api("停用或启用账号（停用时其所有登录立即失效）", response=UserOut, tags=["staff"])
    async def post(self, user_id: str) -> None:
        user = await self.staff.set_active(self.caller, parse_id(user_id, "人员"), active=self.active)
        await self.write_user(user)


class SecondFactorResetHandler(_StaffHandler):
    @requires("staff.edit")
    @api(
        "重置管理员的第二重验证（丢失身份验证器和恢复码时）",
        response=UserOut,
        tags=["staff"],
        description="清除其身份验证器登记并结束其全部登录；本人下次登录后重新启用。不能重置自己的。记入审计日志。",
    )
    async def post(self, user_id: str) -> None:
        await self.write_user(await self.staff.reset_second_factor(self.caller, parse_id(user_id, "人员")))


default_handlers = [
    (r"/api/users", UsersHandler),
    (r"/api/users/(?P<user_id>[^/]+)", UserHandler),
    (r"/api/users/(?P<user_id>[^/]+)/grants", GrantsHandler),
    (r"/api/users/(?P<user_id>[^/]+)/grants/revoke", RevokeHandler),
    (r"/api/users/(?P<user_id>[^/]+)/deactivate", ActivationHandler, {"active": False}),
    (r"/api/users/(?P<user_id>[^/]+)/activate", ActivationHandler, {"active": True}),
    (r"/api/users/(?P<user_id>[^/]+)/second-factor/reset", SecondFactorResetHandler),
]
