"""Partner systems of the Open311 door (server/people/partners.py): register, change, new key, revoke."""

from __future__ import annotations

from handlers.base import BaseHandler, api, requires
from schemas.base import Page, PageParams
from schemas.partners import PartnerIn, PartnerKeyOut, PartnerOut, PartnerUpdateIn, RevokeIn, partner_to_json
from server.core.ids import parse_id
from server.people.partners import PartnerService


class PartnersHandler(BaseHandler):
    @requires("partner.manage")
    @api("对接系统（Open311）列表", query=PageParams, response=Page[PartnerOut], tags=["partners"])
    async def get(self) -> None:
        query = self.read_query(PageParams)
        found, total = await PartnerService(self.ctx).search(self.caller, skip=query.skip, limit=query.page_size)
        self.write_page([partner_to_json(p) for p in found], total, query)

    @requires("partner.manage")
    @api(
        "登记对接系统并发放 api_key（只显示一次）",
        request=PartnerIn,
        response=PartnerKeyOut,
        status=201,
        tags=["partners"],
        description="镇管理员登记本镇的对接系统，县管理员可登记服务多个乡镇的系统。平台只保存密钥的哈希值。",
    )
    async def post(self) -> None:
        body = self.read_json(PartnerIn)
        partner, key = await PartnerService(self.ctx).register(self.caller, body.model_dump())
        self.write_json(PartnerKeyOut(partner=partner_to_json(partner), api_key=key), status=201)


class PartnerHandler(BaseHandler):
    @requires("partner.manage")
    @api("对接系统详情", response=PartnerOut, tags=["partners"])
    async def get(self, partner_id: str) -> None:
        partner = await PartnerService(self.ctx).get(self.caller, parse_id(partner_id, "对接系统"))
        self.write_json(partner_to_json(partner))

    @requires("partner.manage")
    @api("修改对接系统（名称、乡镇、权限、推送地址）", request=PartnerUpdateIn, response=PartnerOut, tags=["partners"])
    async def put(self, partner_id: str) -> None:
        body = self.read_json(PartnerUpdateIn)
        changes = body.model_dump(exclude_unset=True)
        partner = await PartnerService(self.ctx).update(self.caller, parse_id(partner_id, "对接系统"), changes)
        self.write_json(partner_to_json(partner))


class PartnerKeyHandler(BaseHandler):
    @requires("partner.manage")
    @api(
        "更换对接系统的 api_key（旧密钥立即失效）",
        response=PartnerKeyOut,
        status=201,
        tags=["partners"],
        description="新密钥只显示这一次；推送签名的密钥随之更换。",
    )
    async def post(self, partner_id: str) -> None:
        partner, key = await PartnerService(self.ctx).new_key(self.caller, parse_id(partner_id, "对接系统"))
        self.write_json(PartnerKeyOut(partner=partner_to_json(partner), api_key=key), status=201)


class PartnerRevokeHandler(BaseHandler):
    @requires("partner.manage")
    @api(
        "停用对接系统（密钥立即失效，不再推送）",
        request=RevokeIn,
        response=PartnerOut,
        tags=["partners"],
        description="已停用的再次停用不变。",
    )
    async def post(self, partner_id: str) -> None:
        body = self.read_json(RevokeIn)
        partner = await PartnerService(self.ctx).revoke(self.caller, parse_id(partner_id, "对接系统"), body.reason)
        self.write_json(partner_to_json(partner))


default_handlers = [
    (r"/api/partners", PartnersHandler),
    (r"/api/partners/(?P<partner_id>[^/]+)", PartnerHandler),
    (r"/api/partners/(?P<partner_id>[^/]+)/key", PartnerKeyHandler),
    (r"/api/partners/(?P<partner_id>[^/]+)/revoke", PartnerRevokeHandler),
]
