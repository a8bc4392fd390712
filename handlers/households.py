"""The household register: households, members, plates (QR) and bulk import."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.base import BaseHandler, api, requires
from schemas.base import Page, reveal_reason
from schemas.households import (
    HouseholdCreateIn,
    HouseholdGetQuery,
    HouseholdOut,
    HouseholdQuery,
    HouseholdUpdateIn,
    ImportQuery,
    ImportReport,
    MemberIn,
    QrQuery,
    household_to_json,
)
from server.core.ids import parse_id
from server.core.tables import UPLOAD_HINT, UPLOAD_TYPES
from server.places.household_import import HouseholdImporter, read_register
from server.places.households import HouseholdService
from server.places.plates import plate_url, qr_png, qr_svg


class _HouseholdHandler(BaseHandler):
    @property
    def households(self) -> HouseholdService:
        return HouseholdService(self.ctx)

    def to_json(self, household: dict[str, Any], *, full: bool = False) -> HouseholdOut:
        return household_to_json(household, self.ctx.cipher, full=full)


class HouseholdsHandler(_HouseholdHandler):
    @requires("household.search")
    @api("住户列表（管辖范围内）", query=HouseholdQuery, response=Page[HouseholdOut], tags=["households"])
    async def get(self) -> None:
        query = self.read_query(HouseholdQuery)
        households, total = await self.households.search(
            self.caller,
            org_id=parse_id(query.org_id) if query.org_id else None,
            tag=query.tag,
            address=query.address,
            phone=query.phone,
            skip=query.skip,
            limit=query.page_size,
        )
        self.write_page([self.to_json(h) for h in households], total, query)

    @requires("household.edit")
    @api("登记住户", request=HouseholdCreateIn, response=HouseholdOut, status=201, tags=["households"])
    async def post(self) -> None:
        body = self.read_json(HouseholdCreateIn)
        household = await self.households.create(
            self.caller,
            micro_grid_id=parse_id(body.micro_grid_id, "微网格"),
            address=body.address,
            members=[m.model_dump() for m in body.members],
            tags=body.tags,
        )
        self.write_json(self.to_json(household), status=201)


class HouseholdHandler(_HouseholdHandler):
    @api(
        "住户详情",
        query=HouseholdGetQuery,
        response=HouseholdOut,
        tags=["households"],
        description="工作人员（管辖范围内）或本户成员（按手机号）可查看；"
        "号码默认脱敏，reveal=true 显示完整号码并记入审计。",
    )
    async def get(self, household_id: str) -> None:
        query = self.read_query(HouseholdGetQuery)
        reason = reveal_reason(query.reveal, query.reason)
        household = await self.households.get(self.caller, parse_id(household_id, "住户"), reveal=reason)
        self.write_json(self.to_json(household, full=query.reveal))

    @requires("household.edit")
    @api("修改住户地址或标签", request=HouseholdUpdateIn, response=HouseholdOut, tags=["households"])
    async def patch(self, household_id: str) -> None:
        changes = self.read_json(HouseholdUpdateIn).model_dump(exclude_none=True)
        household = await self.households.update(self.caller, parse_id(household_id, "住户"), changes)
        self.write_json(self.to_json(household))


class MembersHandler(_HouseholdHandler):
    @requires("household.edit")
    @api("添加家庭成员", request=MemberIn, response=HouseholdOut, tags=["households"])
    async def post(self, household_id: str) -> None:
        member = self.read_json(MemberIn).model_dump()
        household = await self.households.add_member(self.caller, parse_id(household_id, "住户"), member)
        self.write_json(self.to_json(household))


class MemberHandler(_HouseholdHandler):
    @requires("household.edit")
    @api("移除家庭成员", response=HouseholdOut, tags=["households"])
    async def delete(self, household_id: str, member_id: str) -> None:
        household = await self.households.remove_member(
            self.caller, parse_id(household_id, "住户"), parse_id(member_id, "成员")
        )
        self.write_json(self.to_json(household))


class QrHandler(_HouseholdHandler):
    @requires("household.edit")
    @api(
        "门牌二维码图片",
        query=QrQuery,
        media=["image/png", "image/svg+xml"],
        tags=["households"],
        description="二维码只含“链接前缀/h/令牌”，不含任何个人信息。",
    )
    async def get(self, household_id: str) -> None:
        query = self.read_query(QrQuery)
        household = await self.households.get_for_edit(self.caller, parse_id(household_id, "住户"))
        url = plate_url(self.ctx.config.plates.url_prefix, household["qr_token"])
        render, media = (qr_png, "image/png") if query.format == "png" else (qr_svg, "image/svg+xml")
        image = await asyncio.get_running_loop().run_in_executor(None, render, url)
        filename = f"household-{household_id}.{query.format}"
        await self.write_export(image, media, filename, what=("household", household["_id"]))


class PlateReplaceHandler(_HouseholdHandler):
    @requires("household.edit")
    @api("更换门牌二维码（旧门牌立即失效）", response=HouseholdOut, tags=["households"])
    async def post(self, household_id: str) -> None:
        household = await self.households.replace_plate(self.caller, parse_id(household_id, "住户"))
        self.write_json(self.to_json(household))


class ImportHandler(BaseHandler):
    body_limit = 10 * 1024 * 1024

    @requires("household.edit")
    @api(
        "批量导入一个村的住户（CSV 或 XLSX）",
        query=ImportQuery,
        upload=list(UPLOAD_TYPES),
        response=ImportReport,
        tags=["households"],
        description="每行一人，同一微网格、同一地址的相邻行为一户。出错的行按行号和字段列出并跳过，其余照常导入。",
    )
    async def post(self) -> None:
        query = self.read_query(ImportQuery)
        importer = HouseholdImporter(self.ctx)
        village = await importer.village(self.caller, parse_id(query.village_id, "村"))  # before reading the file
        data, content_type = self.read_upload(UPLOAD_TYPES, UPLOAD_HINT)
        rows = read_register(data, content_type)
        report = await importer.run(self.caller, village, rows)
        self.write_json(ImportReport(**report.__dict__))


default_handlers = [
    (r"/api/households", HouseholdsHandler),
    (r"/api/households/import", ImportHandler),
    (r"/api/households/(?P<household_id>[^/]+)", HouseholdHandler),
    (r"/api/households/(?P<household_id>[^/]+)/members", MembersHandler),
    (r"/api/households/(?P<household_id>[^/]+)/members/(?P<member_id>[^/]+)", MemberHandler),
    (r"/api/households/(?P<household_id>[^/]+)/qr", QrHandler),
    (r"/api/households/(?P<household_id>[^/]+)/qr/replace", PlateReplaceHandler),
]
