"""Cases: intake from every channel, queues and reading, the lifecycle actions, mediation records."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pydantic import BaseModel

from handlers.base import BaseHandler, api, handles_idempotency, requires
from schemas.base import Page, PageParams, reveal_reason
from schemas.cases import (
    ACTION_BODIES,
    AddInfoIn,
    CaseBrief,
    CaseCountsOut,
    CaseFilters,
    CaseGetQuery,
    CaseIn,
    CaseOut,
    CaseQuery,
    JudicialIn,
    MyCasesQuery,
    RatingIn,
    ResidentCaseBrief,
    ResidentCaseOut,
    SessionIn,
    case_row,
    case_to_json,
    resident_case_row,
    resident_case_to_json,
)
from server.cases.actions import ACTIONS
from server.cases.files import CaseFiles
from server.cases.names import CaseNames
from server.cases.queries import CaseFilter
from server.cases.service import CaseService
from server.core.ids import parse_id
from server.core.vocabulary import STATE_LABELS
from server.mediators.profiles import Roster


class _CaseHandler(BaseHandler):
    @property
    def cases(self) -> CaseService:
        return CaseService(self.ctx)

    async def view(self, case: dict[str, Any], *, full: bool = False) -> BaseModel:
        """Residents see their own case in plain words; staff see the working record. Both with names."""
        names = await CaseNames(self.ctx).of([case])
        allowed = self.cases.allowed_actions(self.caller, case)
        if case.get("resident_id") == ObjectId(self.caller.user_id) and not self.caller.is_staff:
            return resident_case_to_json(case, allowed, can_rate=self.cases.may_rate(self.caller, case), names=names)
        return case_to_json(case, allowed, self.ctx.cipher, full=full, names=names)

    async def rows(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The cases as `CaseBrief` rows, for `write_rows`."""
        names = await CaseNames(self.ctx).of(cases)
        return [case_row(c, names) for c in cases]


class CasesHandler(_CaseHandler):
    body_limit = 256 * 1024

    @handles_idempotency
    @api(
        "登记案件（群众上报、网格员走访发现、中心代登记、警/诉/访转来）",
        request=CaseIn,
        response=CaseOut,
        status=201,
        tags=["cases"],
        description="渠道须与身份相符。请求头 Idempotency-Key 使网络重试不产生第二个案件："
        "同键同内容返回首次结果，同键不同内容 422，首次仍在处理中 409。",
    )
    async def post(self) -> None:
        body = self.read_json(CaseIn)
        ref = self.idempotency_ref

        async def work() -> tuple[int, BaseModel]:
            case = await self.cases.create(self.caller, body.model_dump(), idempotency_key=ref)
            return 201, await self.view(case)

        async def recover() -> tuple[int, BaseModel] | None:
            case = await self.cases.made_with(self.caller, ref) if ref else None
            return None if case is None else (201, await self.view(case))

        await self.idempotent(work, recover)

    @requires("case.search")
    @api("案件队列与查询（管辖范围内，默认按期限排序）", query=CaseQuery, response=Page[CaseBrief], tags=["cases"])
    async def get(self) -> None:
        query = self.read_query(CaseQuery)
        where = case_filter(query, query.state)
        cases, total = await self.cases.search(
            self.caller, where, sort=query.sort, skip=query.skip, limit=query.page_size
        )
        self.write_rows(CaseBrief, await self.rows(cases), total, query)


class CaseCountsHandler(_CaseHandler):
    @requires("case.search")
    @api(
        "队列各状态的案件数（与队列同样的筛选，不含状态）",
        query=CaseFilters,
        response=CaseCountsOut,
        tags=["cases"],
    )
    async def get(self) -> None:
        counts, in_hand = await self.cases.counts(self.caller, case_filter(self.read_query(CaseFilters), None))
        self.write_json(CaseCountsOut(counts=counts, open=in_hand))


def case_filter(query: CaseFilters, state: str | None) -> CaseFilter:
    return CaseFilter(
        state=state,
        tier=query.tier,
        source=query.source,
        channel=query.channel,
        category=query.category,
        org_id=parse_id(query.org_id, "单位") if query.org_id else None,
        warning=query.warning,
        supervised=query.supervised,
        since=query.since,
        until=query.until,
        number=query.number,
        text=query.q,
    )


class MyCasesHandler(_CaseHandler):
    @requires("case.own")
    @api(
        "我的诉求（群众）：列表只含摘要，详情见 GET /api/cases/{id}",
        query=MyCasesQuery,
        response=Page[ResidentCaseBrief],
        tags=["cases"],
    )
    async def get(self) -> None:
        query = self.read_query(MyCasesQuery)
        cases, total = await self.cases.mine(self.caller, state=query.state, skip=query.skip, limit=query.page_size)
        self.write_rows(ResidentCaseBrief, [resident_case_row(c) for c in cases], total, query)


class CaseInboxHandler(_CaseHandler):
    @requires("case.inbox")
    @api(
        "调解员待办：分给本人或本单位、尚未签收或办结的案件", query=PageParams, response=Page[CaseBrief], tags=["cases"]
    )
    async def get(self) -> None:
        params = self.page_params()
        cases, total = await self.cases.inbox(self.caller, skip=params.skip, limit=params.page_size)
        self.write_rows(CaseBrief, await self.rows(cases), total, params)


class CaseHandler(_CaseHandler):
    @api(
        "案件详情",
        query=CaseGetQuery,
        response=CaseOut,
        tags=["cases"],
        description="群众只能看自己的案件（通俗状态、面向群众的进展与结果）；工作人员看管辖范围内的完整记录。",
    )
    async def get(self, case_id: str) -> None:
        query = self.read_query(CaseGetQuery)
        case = await self.cases.get(self.caller, parse_id(case_id, "案件"))
        reason = reveal_reason(query.reveal, query.reason)
        if reason:
            await self.cases.reveal_parties(self.caller, case, reason)
        self.write_json(await self.view(case, full=query.reveal))


def action_handler(name: str) -> type[_CaseHandler]:
    """The endpoint of one lifecycle action, with the request shape that action takes."""
    action, body_type = ACTIONS[name], ACTION_BODIES[name]
    states = "、".join(STATE_LABELS[s] for s in sorted(action.from_states, key=list(STATE_LABELS).index))

    class ActionHandler(_CaseHandler):
        @api(
            f"{action.label}（{name}）",
            request=body_type,
            response=CaseOut,
            tags=["case actions"],
            description=f"可在以下状态执行：{states}。当前状态不允许或版本已变化时返回 409，"
            "details.allowed_actions 列出现在可做的操作；看得到案件但无权执行时返回 403。",
        )
        async def post(self, case_id: str) -> None:
            body = self.read_json(body_type).model_dump()
            case = await self.cases.act(self.caller, parse_id(case_id, "案件"), name, body)
            self.write_json(await self.view(case))

    ActionHandler.__name__ = ActionHandler.__qualname__ = "".join(p.title() for p in name.split("_")) + "Handler"
    return ActionHandler


class MediationSessionsHandler(_CaseHandler):
    @api(
        "记录一次调解（时间、地点、调解员、到场当事人、参与调解的社会力量、咨询专家、记录）",
        request=SessionIn,
        response=CaseOut,
        tags=["cases"],
    )
    async def post(self, case_id: str) -> None:
        session = self.read_json(SessionIn).model_dump()
        if session["roster_ids"]:  # people of the roster who sat in: of the case's town or county
            named = [parse_id(i, "名册人员") for i in session["roster_ids"]]
            case = await self.cases.get(self.caller, parse_id(case_id, "案件"))
            session["roster_ids"] = await Roster(self.ctx).session_members(named, case)
        case = await self.cases.add_session(self.caller, parse_id(case_id, "案件"), session)
        self.write_json(await self.view(case), status=201)


class InfoHandler(_CaseHandler):
    @requires("case.own")
    @api("群众补充情况（办理中）", request=AddInfoIn, response=ResidentCaseOut, tags=["cases"])
    async def post(self, case_id: str) -> None:
        body = self.read_json(AddInfoIn)
        case = await self.cases.add_info(self.caller, parse_id(case_id, "案件"), body.text)
        self.write_json(await self.view(case))


class RatingHandler(_CaseHandler):
    @requires("case.own")
    @api("群众评价（回访阶段，1–5 星）", request=RatingIn, response=ResidentCaseOut, tags=["cases"])
    async def post(self, case_id: str) -> None:
        body = self.read_json(RatingIn)
        case = await self.cases.rate(self.caller, parse_id(case_id, "案件"), body.stars, body.comment)
        self.write_json(await self.view(case))


class JudicialHandler(_CaseHandler):
    @api("标记申请司法确认", request=JudicialIn, response=CaseOut, tags=["cases"])
    async def post(self, case_id: str) -> None:
        body = self.read_json(JudicialIn)
        case = await self.cases.set_judicial_confirmation(self.caller, parse_id(case_id, "案件"), body.requested)
        self.write_json(await self.view(case))


class AgreementHandler(_CaseHandler):
    @api("人民调解协议书（PDF）", media=["application/pdf"], tags=["cases"])
    async def get(self, case_id: str) -> None:
        pdf, filename = await CaseFiles(self.ctx).agreement_pdf(self.caller, parse_id(case_id, "案件"))
        await self.write_export(pdf, "application/pdf", filename, what=("case", parse_id(case_id, "案件")))


default_handlers = [
    (r"/api/cases", CasesHandler),
    (r"/api/cases/mine", MyCasesHandler),
    (r"/api/cases/counts", CaseCountsHandler),
    (r"/api/cases/inbox", CaseInboxHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})", CaseHandler),
    *((rf"/api/cases/(?P<case_id>[0-9a-f]{{24}})/actions/{name}", action_handler(name)) for name in ACTIONS),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/sessions", MediationSessionsHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/info", InfoHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/rating", RatingHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/judicial-confirmation", JudicialHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/agreement\.pdf", AgreementHandler),
]
