"""The caller: profile, roles and scopes; their own login sessions."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from handlers.base import BaseHandler, api
from schemas.auth import MeOut, PhoneCodeIn, RenameIn, SessionOut, me_to_json, session_to_json
from schemas.base import Page, PageParams
from server.core.ids import parse_id
from server.orgs.tree import OrgService
from server.people.login import LoginService
from server.people.sessions import SessionService
from server.people.users import UserService


class _ProfileHandler(BaseHandler):
    async def write_me(self, user: dict[str, Any]) -> None:
        orgs = await OrgService(self.ctx).by_ids([g["org_id"] for g in user["grants"] if g.get("org_id")])
        self.write_json(me_to_json(user, orgs, UserService(self.ctx).phone_of(user), self.caller.session_id))


class MeHandler(_ProfileHandler):
    @api("当前用户：身份、角色与管辖范围", response=MeOut, tags=["auth"])
    async def get(self) -> None:
        user = await UserService(self.ctx).get(ObjectId(self.caller.user_id))
        await self.write_me(user)

    @api("修改我的姓名", request=RenameIn, response=MeOut, tags=["auth"])
    async def patch(self) -> None:
        body = self.read_json(RenameIn)
        user = await UserService(self.ctx).rename(ObjectId(self.caller.user_id), body.name)
        await self.write_me(user)


class PhoneHandler(_ProfileHandler):
    @api(
        "绑定微信手机号",
        request=PhoneCodeIn,
        response=MeOut,
        tags=["auth"],
        description="code 来自小程序的手机号快速验证按钮；手机号已属于其他账号时返回 409。",
    )
    async def post(self) -> None:
        body = self.read_json(PhoneCodeIn)
        user = await LoginService(self.ctx).bind_phone(ObjectId(self.caller.user_id), body.code)
        await self.write_me(user)


class LoginSessionsHandler(BaseHandler):
    @api("我的登录会话（各设备）", query=PageParams, response=Page[SessionOut], tags=["auth"])
    async def get(self) -> None:
        caller = self.caller
        params = self.page_params()
        sessions, total = await SessionService(self.ctx).list_active(
            ObjectId(caller.user_id), skip=params.skip, limit=params.page_size
        )
        self.write_page([session_to_json(s, caller.session_id) for s in sessions], total, params)


class SessionHandler(BaseHandler):
    @api("结束我的某个登录会话（如手机丢失）", status=204, tags=["auth"])
    async def delete(self, session_id: str) -> None:
        await SessionService(self.ctx).revoke(self.caller, parse_id(session_id, "登录会话"))
        self.write_empty()


default_handlers = [
    (r"/api/me", MeHandler),
    (r"/api/me/phone", PhoneHandler),
    (r"/api/me/sessions", LoginSessionsHandler),
    (r"/api/me/sessions/(?P<session_id>[^/]+)", SessionHandler),
]
