"""Star ratings and 以案定补 statements: computed by the town office, confirmed by the county (server/mediators/)."""

from __future__ import annotations

from handlers.base import BaseHandler, api, requires
from schemas.base import Page
from schemas.mediators import (
    ApproveRatingIn,
    CorrectionIn,
    RatingOut,
    RatingQuery,
    RatingRunIn,
    ReturnIn,
    SlipOut,
    SlipQuery,
    SlipsOut,
    StatementIn,
    StatementOut,
    StatementQuery,
    line_to_json,
    rating_to_json,
    statement_to_json,
)
from server.core.ids import parse_id
from server.core.tables import XLSX_TYPE
from server.mediators.ratings import RatingService
from server.mediators.subsidies import SubsidyService


def _overrides(body: ApproveRatingIn) -> list[dict[str, object]]:
    return [o.model_dump() | {"profile_id": parse_id(o.profile_id, "调解员")} for o in body.overrides]


class RatingsHandler(BaseHandler):
    @requires("rating.view")
    @api("星级评定（各镇、各周期）", query=RatingQuery, response=Page[RatingOut], tags=["ratings"])
    async def get(self) -> None:
        query = self.read_query(RatingQuery)
        runs, total = await RatingService(self.ctx).search(
            self.caller, period=query.period, skip=query.skip, limit=query.page_size
        )
        self.write_page([rating_to_json(r) for r in runs], total, query)

    @requires("rating.run")
    @api(
        "按周期计算星级评定（草稿可重算；已提交或已确认的周期原样返回）",
        request=RatingRunIn,
        response=RatingOut,
        status=201,
        also=[200],
        tags=["ratings"],
        description="只计入核查通过的案件，按结束调解的日期归入周期。新建返回 201，已有返回 200。",
    )
    async def post(self) -> None:
        body = self.read_json(RatingRunIn)
        town_id = parse_id(body.town_id, "镇") if body.town_id else None
        run, created = await RatingService(self.ctx).run(self.caller, town_id, body.period)
        self.write_json(rating_to_json(run), status=201 if created else 200)


class RatingHandler(BaseHandler):
    @requires("rating.view")
    @api("星级评定详情（各调解员的指标、得分与星级）", response=RatingOut, tags=["ratings"])
    async def get(self, rating_id: str) -> None:
        self.write_json(rating_to_json(await RatingService(self.ctx).get(self.caller, parse_id(rating_id, "评定"))))


class ProposeHandler(BaseHandler):
    @requires("rating.run")
    @api("镇提交星级评定（调整计算结果须说明理由）", request=ApproveRatingIn, response=RatingOut, tags=["ratings"])
    async def post(self, rating_id: str) -> None:
        body = self.read_json(ApproveRatingIn)
        run = await RatingService(self.ctx).propose(self.caller, parse_id(rating_id, "评定"), _overrides(body))
        self.write_json(rating_to_json(run))


class ConfirmRatingHandler(BaseHandler):
    @requires("rating.confirm")
    @api(
        "县确认星级评定并公布（调整计算结果须说明理由）", request=ApproveRatingIn, response=RatingOut, tags=["ratings"]
    )
    async def post(self, rating_id: str) -> None:
        body = self.read_json(ApproveRatingIn)
        run = await RatingService(self.ctx).confirm(self.caller, parse_id(rating_id, "评定"), _overrides(body))
        self.write_json(rating_to_json(run))


class ReturnRatingHandler(BaseHandler):
    @requires("rating.confirm")
    @api("县退回镇提交的星级评定", request=ReturnIn, response=RatingOut, tags=["ratings"])
    async def post(self, rating_id: str) -> None:
        body = self.read_json(ReturnIn)
        run = await RatingService(self.ctx).send_back(self.caller, parse_id(rating_id, "评定"), body.reason)
        self.write_json(rating_to_json(run))


# ---- 以案定补 ----------------------------------------------------------------------------------------------
class StatementsHandler(BaseHandler):
    @requires("subsidy.view")
    @api("以案定补月度结算单（不含明细）", query=StatementQuery, response=Page[StatementOut], tags=["subsidies"])
    async def get(self) -> None:
        query = self.read_query(StatementQuery)
        found, total = await SubsidyService(self.ctx).search(
            self.caller, month=query.month, skip=query.skip, limit=query.page_size
        )
        self.write_page([statement_to_json(s) for s in found], total, query)

    @requires("subsidy.manage")
    @api(
        "生成月度结算单（待审核的可重新生成；已审核的原样返回）",
        request=StatementIn,
        response=StatementOut,
        status=201,
        also=[200],
        tags=["subsidies"],
        description="计入当月经核查、回访满意后办结的案件。新建返回 201，已有返回 200。金额单位为分。",
    )
    async def post(self) -> None:
        body = self.read_json(StatementIn)
        town_id = parse_id(body.town_id, "镇") if body.town_id else None
        statement, created = await SubsidyService(self.ctx).build(self.caller, town_id, body.month)
        self.write_json(statement_to_json(statement), status=201 if created else 200)


class StatementHandler(BaseHandler):
    @requires("subsidy.view")
    @api("结算单详情（逐案逐人明细、合计、异常）", response=StatementOut, tags=["subsidies"])
    async def get(self, statement_id: str) -> None:
        statement = await SubsidyService(self.ctx).get(self.caller, parse_id(statement_id, "结算单"))
        self.write_json(statement_to_json(statement))


class StatementXlsxHandler(BaseHandler):
    @requires("subsidy.view")
    @api("导出结算单（Excel，每个单位一页，含合计）", media=[XLSX_TYPE], tags=["subsidies"])
    async def get(self, statement_id: str) -> None:
        data, filename = await SubsidyService(self.ctx).xlsx(self.caller, parse_id(statement_id, "结算单"))
        await self.write_export(
            data, XLSX_TYPE, filename, what=("subsidy_statement", parse_id(statement_id, "结算单")), inline=False
        )


class ApproveStatementHandler(BaseHandler):
    @requires("subsidy.manage")
    @api("镇审核结算单", response=StatementOut, tags=["subsidies"])
    async def post(self, statement_id: str) -> None:
        statement = await SubsidyService(self.ctx).approve(self.caller, parse_id(statement_id, "结算单"))
        self.write_json(statement_to_json(statement))


class ConfirmStatementHandler(BaseHandler):
    @requires("subsidy.confirm")
    @api("县确认结算单（确认后锁定，不能修改）", response=StatementOut, tags=["subsidies"])
    async def post(self, statement_id: str) -> None:
        statement = await SubsidyService(self.ctx).confirm(self.caller, parse_id(statement_id, "结算单"))
        self.write_json(statement_to_json(statement))


class CorrectionsHandler(BaseHandler):
    @requires("subsidy.manage")
    @api(
        "更正已锁定的结算单（记入之后第一个待审核月份的调整行）",
        request=CorrectionIn,
        response=StatementOut,
        status=201,
        tags=["subsidies"],
        description="返回记入调整行的结算单。",
    )
    async def post(self, statement_id: str) -> None:
        body = self.read_json(CorrectionIn)
        statement = await SubsidyService(self.ctx).correct(
            self.caller,
            parse_id(statement_id, "结算单"),
            profile_id=parse_id(body.profile_id, "调解员"),
            case_id=parse_id(body.case_id, "案件") if body.case_id else None,
            amount=body.amount,
            reason=body.reason,
        )
        self.write_json(statement_to_json(statement), status=201)


class SlipsHandler(BaseHandler):
    @requires("mediator.self")
    @api("我的以案定补明细（按月，金额单位为分）", query=SlipQuery, response=SlipsOut, tags=["subsidies"])
    async def get(self) -> None:
        query = self.read_query(SlipQuery)
        slips = await SubsidyService(self.ctx).slips(self.caller, query.month)
        self.write_json(
            SlipsOut(
                items=[
                    SlipOut(
                        statement_id=str(s["statement_id"]),
                        month=s["month"],
                        state=s["state"],
                        lines=[line_to_json(x) for x in s["lines"]],
                        total=s["total"],
                    )
                    for s in slips
                ]
            )
        )


default_handlers = [
    (r"/api/ratings", RatingsHandler),
    (r"/api/ratings/(?P<rating_id>[0-9a-f]{24})", RatingHandler),
    (r"/api/ratings/(?P<rating_id>[0-9a-f]{24})/propose", ProposeHandler),
    (r"/api/ratings/(?P<rating_id>[0-9a-f]{24})/confirm", ConfirmRatingHandler),
    (r"/api/ratings/(?P<rating_id>[0-9a-f]{24})/return", ReturnRatingHandler),
    (r"/api/subsidies/statements", StatementsHandler),
    (r"/api/subsidies/statements/(?P<statement_id>[0-9a-f]{24})", StatementHandler),
    (r"/api/subsidies/statements/(?P<statement_id>[0-9a-f]{24})/xlsx", StatementXlsxHandler),
    (r"/api/subsidies/statements/(?P<statement_id>[0-9a-f]{24})/approve", ApproveStatementHandler),
    (r"/api/subsidies/statements/(?P<statement_id>[0-9a-f]{24})/confirm", ConfirmStatementHandler),
    (r"/api/subsidies/statements/(?P<statement_id>[0-9a-f]{24})/corrections", CorrectionsHandler),
    (r"/api/subsidies/slips", SlipsHandler),
]
