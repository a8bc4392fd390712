"""Scanning a household's door plate."""

from __future__ import annotations

from handlers.base import BaseHandler, api
from schemas.households import household_to_json
from schemas.visits import OrgBrief, ScanCaseOut, ScanOut, ScanVisitOut
from server.cases.service import CaseService
from server.core.pii import mask_address
from server.places.scan import ScanService


class ScanHandler(BaseHandler):
    @api(
        "扫门牌二维码",
        response=ScanOut,
        tags=["households"],
        description="工作人员（管辖范围内）得到住户、近期走访与在办事项；群众得到上报表单所需的村、微网格和脱敏地址；"
        "其他人一律 404。已更换的门牌返回 410 plate_replaced。",
    )
    async def get(self, token: str) -> None:
        result = await ScanService(self.ctx, CaseService(self.ctx).open_for_household).scan(self.caller, token)
        household = result.household
        village = OrgBrief(id=str(result.village["_id"]), name=result.village["name"]) if result.village else None
        micro = (
            OrgBrief(id=str(result.micro_grid["_id"]), name=result.micro_grid["name"]) if result.micro_grid else None
        )
        if not result.staff:
            out = ScanOut(
                view="resident",
                village=village,
                micro_grid=micro,
                address=mask_address(household["address"], result.village["name"] if result.village else ""),
                household_id=None,
            )
        else:
            out = ScanOut(
                view="staff",
                village=village,
                micro_grid=micro,
                address=household["address"],
                household_id=str(household["_id"]),
                household=household_to_json(household, self.ctx.cipher, full=False),
                recent_visits=[
                    ScanVisitOut(visited_at=v["visited_at"], purposes=v["purposes"], visitor_id=str(v["visitor_id"]))
                    for v in result.visits
                ],
                open_cases=[
                    ScanCaseOut(id=str(c["_id"]), number=c.get("number"), state=c["state"], category=c.get("category"))
                    for c in result.open_cases
                ],
                file_url=f"/api/households/{household['_id']}/file",
            )
        self.write_json(out)


default_handlers = [(r"/api/scan/(?P<token>[^/]+)", ScanHandler)]
