"""The organisation tree: listing within scope, and upkeep by the town and county admins."""

from __future__ import annotations

from handlers.base import BaseHandler, api, requires
from schemas.base import Page
from schemas.orgs import OrgCreateIn, OrgOut, OrgQuery, OrgUpdateIn, org_to_json
from server.core.ids import parse_id
from server.orgs.tree import OrgService


class OrgsHandler(BaseHandler):
    @requires("org.view")
    @api("组织单元列表（本人管辖范围内）", query=OrgQuery, response=Page[OrgOut], tags=["orgs"])
    async def get(self) -> None:
        query = self.read_query(OrgQuery)
        units, total = await OrgService(self.ctx).visible(
            self.caller,
            parent_id=parse_id(query.parent_id) if query.parent_id else None,
            kind=query.kind,
            skip=query.skip,
            limit=query.page_size,
        )
        self.write_page([org_to_json(u) for u in units], total, query)

    @requires("org.edit")
    @api("新增组织单元", request=OrgCreateIn, response=OrgOut, status=201, tags=["orgs"])
    async def post(self) -> None:
        body = self.read_json(OrgCreateIn)
        fields = body.model_dump()
        fields["parent_id"] = parse_id(body.parent_id, "上级单元")
        unit = await OrgService(self.ctx).add(self.caller, **fields)
        self.write_json(org_to_json(unit), status=201)


class OrgHandler(BaseHandler):
    @requires("org.view")
    @api("组织单元详情", response=OrgOut, tags=["orgs"])
    async def get(self, org_id: str) -> None:
        unit = await OrgService(self.ctx).get_in_scope(self.caller, parse_id(org_id, "组织单元"), "org.view")
        self.write_json(org_to_json(unit))

    @requires("org.edit")
    @api("修改组织单元（名称、人口）", request=OrgUpdateIn, response=OrgOut, tags=["orgs"])
    async def patch(self, org_id: str) -> None:
        changes = self.read_json(OrgUpdateIn).model_dump(exclude_none=True)
        unit = await OrgService(self.ctx).update(self.caller, parse_id(org_id, "组织单元"), changes)
        self.write_json(org_to_json(unit))

    @requires("org.edit")
    @api("删除空的组织单元", status=204, tags=["orgs"])
    async def delete(self, org_id: str) -> None:
        await OrgService(self.ctx).remove(self.caller, parse_id(org_id, "组织单元"))
        self.write_empty()


default_handlers = [
    (r"/api/orgs", OrgsHandler),
    (r"/api/orgs/(?P<org_id>[^/]+)", OrgHandler),
]
