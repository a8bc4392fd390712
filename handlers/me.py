"""The caller: profile, roles and scopes; their own login sessions."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from handlers.base import BaseHandler, api, public
from schemas.auth import (
    CloseAccountIn,
    CloseAccountOut,
    CorrectionIn,
    CorrectionOut,
    MeOut,
    PersonalDataOut,
    PhoneCodeIn,
    PrivacyConsentIn,
    PrivacyNoticeOut,
    RenameIn,
    SessionOut,
    me_to_json,
    session_to_json,
)
from schemas.base import Page, PageParams
from server.core.ids import parse_id
from server.orgs.tree import OrgService
from server.people.login import LoginService
from server.people.privacy import PrivacyService
from server.people.sessions import SessionService
from server.people.users import UserService
from server.prevention.household_file import HouseholdFiles
from server.rights.closure import AccountClosure
from server.rights.personal_data import PersonalData, render_personal_data


class _ProfileHandler(BaseHandler):
    async def write_me(self, user: dict[str, Any]) -> None:
        orgs = await OrgService(self.ctx).by_ids([g["org_id"] for g in user["grants"] if g.get("org_id")])
        needed = PrivacyService(self.ctx).needed(user)
        self.write_json(me_to_json(user, orgs, UserService(self.ctx).phone_of(user), self.caller.session_id, needed))


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


class PrivacyNoticeHandler(BaseHandler):
    @public
    @api("隐私政策（当前版本）", response=PrivacyNoticeOut, tags=["auth"])
    async def get(self) -> None:
        self.write_json(PrivacyNoticeOut(**await PrivacyService(self.ctx).notice()))


class PrivacyConsentHandler(_ProfileHandler):
    @api(
        "同意隐私政策（记录版本和时间）",
        request=PrivacyConsentIn,
        response=MeOut,
        tags=["auth"],
        description="版本不是当前版本时返回 409（政策已更新，请重新阅读）。",
    )
    async def post(self) -> None:
        body = self.read_json(PrivacyConsentIn)
        await self.write_me(await PrivacyService(self.ctx).accept(self.caller, body.version))


class PersonalDataHandler(BaseHandler):
    @api(
        "我的个人信息：平台保存的关于我的全部信息",
        response=PersonalDataOut,
        tags=["auth"],
        description="账号与各项同意、本人手机号登记为成员的住户、本人反映的纠纷及公开办理过程、收到的消息、登录设备。"
        "每次导出记入审计日志。",
    )
    async def get(self) -> None:
        self.write_json(PersonalDataOut(**await PersonalData(self.ctx).collect(self.caller)))


class PersonalDataPdfHandler(BaseHandler):
    @api("我的个人信息（PDF，便于阅读和保存）", media=["application/pdf"], tags=["auth"])
    async def get(self) -> None:
        data = await PersonalData(self.ctx).collect(self.caller)
        pdf = await self.ctx.heavy(render_personal_data, data, self.ctx.tz)
        self.write_bytes(pdf, "application/pdf", "我的个人信息.pdf")


class CloseAccountHandler(BaseHandler):
    @api(
        "注销我的账号（群众）",
        request=CloseAccountIn,
        response=CloseAccountOut,
        tags=["auth"],
        description="删除姓名、手机号、微信身份、草稿和消息；已办结的非协议案件匿名化；正在办理的案件和以调解协议办结的"
        "案件依法保留（答复中逐件列出）。工作人员账号由管理员停用（403）。",
    )
    async def post(self) -> None:
        self.read_json(CloseAccountIn)
        self.write_json(CloseAccountOut(**await AccountClosure(self.ctx).close(self.caller)))


class CorrectionHandler(BaseHandler):
    @api(
        "申请更正住户信息（交网格员核实，按期答复）",
        request=CorrectionIn,
        response=CorrectionOut,
        status=201,
        tags=["auth"],
        description="只能为本人手机号登记为成员的住户申请；网格员办结后本人收到答复。",
    )
    async def post(self) -> None:
        body = self.read_json(CorrectionIn)
        note = await HouseholdFiles(self.ctx).request_correction(
            self.caller, parse_id(body.household_id, "住户"), body.text
        )
        out = CorrectionOut(id=str(note["_id"]), household_id=body.household_id, due_on=note["follow_up_on"])
        self.write_json(out, status=201)


default_handlers = [
    (r"/api/me", MeHandler),
    (r"/api/me/phone", PhoneHandler),
    (r"/api/me/sessions", LoginSessionsHandler),
    (r"/api/me/sessions/(?P<session_id>[^/]+)", SessionHandler),
    (r"/api/privacy-notice", PrivacyNoticeHandler),
    (r"/api/me/privacy-consent", PrivacyConsentHandler),
    (r"/api/me/data", PersonalDataHandler),
    (r"/api/me/data/pdf", PersonalDataPdfHandler),
    (r"/api/me/close", CloseAccountHandler),
    (r"/api/me/corrections", CorrectionHandler),
]
