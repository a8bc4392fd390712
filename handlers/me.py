"""The caller: profile, roles and scopes; their own login sessions."""

from __future__ import annotations

from bson import ObjectId

from handlers.base import BaseHandler, api
from schemas.auth import MeOut, SessionOut, me_to_json, session_to_json
from schemas.base import Page, PageParams
from server.ids import parse_id


class MeHandler(BaseHandler):
    @api("当前用户：身份、角色与管辖范围", response=MeOut, tags=["auth"])
    async def get(self) -> None:
        caller = self.caller
        user = await self.ctx.users.get(ObjectId(caller.user_id))
        orgs = await self.ctx.orgs.by_ids([g["org_id"] for g in user["grants"] if g.get("org_id")])
        self.write_json(me_to_json(user, orgs, self.ctx.users.phone_of(user), caller.session_id))


class SessionsHandler(BaseHandler):
    @api("我的登录会话（各设备）", query=PageParams, response=Page[SessionOut], tags=["auth"])
    async def get(self) -> None:
        caller = self.caller
        params = self.page_params()
        sessions, total = await self.ctx.sessions.list_active(
            ObjectId(caller.user_id), skip=params.skip, limit=params.page_size
        )
        self.write_page([session_to_json(s, caller.session_id) for s in sessions], total, params)


class SessionHandler(BaseHandler):
    @api("结束我的某个登录会话（如手机丢失）", status=204, tags=["auth"])
    async def delete(self, session_id: str) -> None:
        await self.ctx.sessions.revoke(self.caller, parse_id(session_id, "登录会话"))
        self.set_status(204)
        self.finish()


default_handlers = [
    (r"/api/me", MeHandler),
    (r"/api/me/sessions", SessionsHandler),
    (r"/api/me/sessions/(?P<session_id>[^/]+)", SessionHandler),
]
