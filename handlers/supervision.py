"""督查: spot checks (抽查回访), supervision notices with rectification, inspection records (server/assessment/)."""

from __future__ import annotations

from handlers.base import BaseHandler, api, requires
from schemas.assessment import (
    InspectionIn,
    InspectionOut,
    NoticeAnswerIn,
    NoticeDecisionIn,
    NoticeIn,
    NoticeOut,
    NoticeQuery,
    SpotCheckIn,
    SpotCheckItemOut,
    SpotCheckOut,
    SpotResultIn,
    inspection_to_json,
    notice_to_json,
    spot_check_to_json,
    spot_item_to_json,
)
from schemas.base import Page, PageParams
from server.assessment.periods import parse_period
from server.assessment.spot_checks import SpotCheckService
from server.assessment.supervision import SupervisionService
from server.core.errors import ValidationFailed
from server.core.ids import parse_id


class SpotChecksHandler(BaseHandler):
    @requires("spot_check.run")
    @api("抽查回访批次", query=PageParams, response=Page[SpotCheckOut], tags=["supervision"])
    async def get(self) -> None:
        query = self.read_query(PageParams)
        checks, total = await SpotCheckService(self.ctx).search(self.caller, skip=query.skip, limit=query.page_size)
        self.write_page([spot_check_to_json(c) for c in checks], total, query)

    @requires("spot_check.run")
    @api(
        "抽取抽查回访样本（按村和办理结果分层，随机种子留存，可复现）",
        request=SpotCheckIn,
        response=SpotCheckOut,
        status=201,
        tags=["supervision"],
        description="从周期内已办结的案件中抽取 size 件或 share 比例；同一范围、周期和种子总是抽出同样的案件。",
    )
    async def post(self) -> None:
        body = self.read_json(SpotCheckIn)
        if (body.size is None) == (body.share is None):
            raise ValidationFailed(details=[{"field": "size", "message": "请填写抽查件数或抽查比例（二选一）"}])
        service = SpotCheckService(self.ctx)
        check = await service.draw(
            self.caller,
            parse_id(body.unit_id, "单位") if body.unit_id else None,
            parse_period(body.period, self.ctx.tz),
            size=body.size,
            share=body.share,
            seed=body.seed,
        )
        _, items = await service.get(self.caller, check["_id"])
        self.write_json(spot_check_to_json(check, items), status=201)


class SpotCheckHandler(BaseHandler):
    @requires("spot_check.run")
    @api("抽查回访批次详情（样本与回访结果）", response=SpotCheckOut, tags=["supervision"])
    async def get(self, check_id: str) -> None:
        check, items = await SpotCheckService(self.ctx).get(self.caller, parse_id(check_id, "抽查"))
        self.write_json(spot_check_to_json(check, items))


class SpotResultHandler(BaseHandler):
    @requires("spot_check.run")
    @api(
        "记录一件抽查回访的结果（与记录不符的标记案件并通知镇办公室）",
        request=SpotResultIn,
        response=SpotCheckItemOut,
        tags=["supervision"],
        description="每件只记录一次，再次记录返回 409。",
    )
    async def post(self, check_id: str) -> None:
        body = self.read_json(SpotResultIn)
        item = await SpotCheckService(self.ctx).record(
            self.caller,
            parse_id(check_id, "抽查"),
            parse_id(body.case_id, "案件"),
            body.model_dump(exclude={"case_id"}),
        )
        self.write_json(spot_item_to_json(item))


class NoticesHandler(BaseHandler):
    @requires("supervision.view")
    @api(
        "督查通报（本人下发或督查范围内的，及本单位收到的）",
        query=NoticeQuery,
        response=Page[NoticeOut],
        tags=["supervision"],
    )
    async def get(self) -> None:
        query = self.read_query(NoticeQuery)
        found, total = await SupervisionService(self.ctx).search(
            self.caller, state=query.state, skip=query.skip, limit=query.page_size
        )
        self.write_page([notice_to_json(n) for n in found], total, query)

    @requires("supervision.issue")
    @api(
        "下发督查通报（问题、证据、整改期限、涉及案件）",
        request=NoticeIn,
        response=NoticeOut,
        status=201,
        tags=["supervision"],
    )
    async def post(self) -> None:
        body = self.read_json(NoticeIn)
        fields = body.model_dump() | {
            "unit_id": parse_id(body.unit_id, "单位"),
            "case_ids": [parse_id(c, "案件") for c in body.case_ids],
            "inspection_id": parse_id(body.inspection_id, "督查记录") if body.inspection_id else None,
        }
        notice = await SupervisionService(self.ctx).issue(self.caller, fields)
        self.write_json(notice_to_json(notice), status=201)


class NoticeHandler(BaseHandler):
    @requires("supervision.view")
    @api("督查通报详情", response=NoticeOut, tags=["supervision"])
    async def get(self, notice_id: str) -> None:
        notice = await SupervisionService(self.ctx).get(self.caller, parse_id(notice_id, "督查通报"))
        self.write_json(notice_to_json(notice))


class NoticeAnswerHandler(BaseHandler):
    @requires("supervision.answer")
    @api("被督查单位答复整改情况", request=NoticeAnswerIn, response=NoticeOut, tags=["supervision"])
    async def post(self, notice_id: str) -> None:
        body = self.read_json(NoticeAnswerIn)
        notice = await SupervisionService(self.ctx).answer(
            self.caller, parse_id(notice_id, "督查通报"), body.text, body.evidence
        )
        self.write_json(notice_to_json(notice))


class NoticeAcceptHandler(BaseHandler):
    @requires("supervision.issue")
    @api("通过整改答复", request=NoticeDecisionIn, response=NoticeOut, tags=["supervision"])
    async def post(self, notice_id: str) -> None:
        body = self.read_json(NoticeDecisionIn)
        notice = await SupervisionService(self.ctx).decide(
            self.caller, parse_id(notice_id, "督查通报"), True, body.reason
        )
        self.write_json(notice_to_json(notice))


class NoticeReturnHandler(BaseHandler):
    @requires("supervision.issue")
    @api("退回整改答复（须说明理由）", request=NoticeDecisionIn, response=NoticeOut, tags=["supervision"])
    async def post(self, notice_id: str) -> None:
        body = self.read_json(NoticeDecisionIn)
        notice = await SupervisionService(self.ctx).decide(
            self.caller, parse_id(notice_id, "督查通报"), False, body.reason
        )
        self.write_json(notice_to_json(notice))


class InspectionsHandler(BaseHandler):
    @requires("supervision.issue")
    @api(
        "督查记录（明察暗访、定期督查、随时抽查）", query=PageParams, response=Page[InspectionOut], tags=["supervision"]
    )
    async def get(self) -> None:
        query = self.read_query(PageParams)
        found, total = await SupervisionService(self.ctx).inspections(
            self.caller, skip=query.skip, limit=query.page_size
        )
        self.write_page([inspection_to_json(i, self.ctx.tz) for i in found], total, query)

    @requires("supervision.issue")
    @api(
        "登记督查记录（发现的问题可据此下发督查通报）",
        request=InspectionIn,
        response=InspectionOut,
        status=201,
        tags=["supervision"],
    )
    async def post(self) -> None:
        body = self.read_json(InspectionIn)
        fields = body.model_dump() | {"unit_id": parse_id(body.unit_id, "单位")}
        inspection = await SupervisionService(self.ctx).inspect(self.caller, fields)
        self.write_json(inspection_to_json(inspection, self.ctx.tz), status=201)


default_handlers = [
    (r"/api/spot-checks", SpotChecksHandler),
    (r"/api/spot-checks/(?P<check_id>[^/]+)", SpotCheckHandler),
    (r"/api/spot-checks/(?P<check_id>[^/]+)/results", SpotResultHandler),
    (r"/api/supervision-notices", NoticesHandler),
    (r"/api/supervision-notices/(?P<notice_id>[^/]+)", NoticeHandler),
    (r"/api/supervision-notices/(?P<notice_id>[^/]+)/answer", NoticeAnswerHandler),
    (r"/api/supervision-notices/(?P<notice_id>[^/]+)/accept", NoticeAcceptHandler),
    (r"/api/supervision-notices/(?P<notice_id>[^/]+)/return", NoticeReturnHandler),
    (r"/api/inspections", InspectionsHandler),
]
