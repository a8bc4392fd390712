"""主动治理: link suggestions and 一件事, the household file and its notes, warnings, the daily 研判 and the risk
rules (server/prevention/, server/cases/risk.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from handlers.base import BaseHandler, api, requires
from handlers.settings import _SettingHandler
from schemas.base import Page
from schemas.cases import case_brief, timeline_label
from schemas.households import household_to_json
from schemas.prevention import (
    BriefingOut,
    BriefingQuery,
    CaseLinksOut,
    DisputeBrief,
    DisputeEventOut,
    DisputeHistoryOut,
    DisputeOut,
    FileCase,
    HouseholdFileOut,
    LinkIn,
    LinkSuggestionOut,
    NoteDoneIn,
    NoteIn,
    NoteOut,
    RiskRulesIn,
    RiskRulesOut,
    UnlinkIn,
    VisitBrief,
    WarningNoteIn,
    WarningOut,
    WarningQuery,
)
from schemas.settings import SettingsQuery
from server.cases.model import status_label
from server.cases.names import CaseNames
from server.cases.risk import RiskService, rule_errors
from server.cases.service import CaseService
from server.core.errors import ValidationFailed
from server.core.ids import parse_id
from server.core.vocabulary import OUTCOME_LABELS, RISKS
from server.orgs.settings import Resolved
from server.prevention.disputes import DisputeService
from server.prevention.household_file import HouseholdFiles
from server.prevention.warnings import WarningService


def dispute_brief(dispute: dict[str, Any], visible: set[Any]) -> DisputeBrief:
    return DisputeBrief(
        id=str(dispute["_id"]),
        lead_case_id=str(dispute["lead_case_id"]),
        case_ids=[str(c) for c in dispute["case_ids"] if c in visible],
        sources=dispute.get("sources", []),
        state=dispute["state"],
    )


class CaseLinksHandler(BaseHandler):
    @requires("dispute.view")
    @api(
        "可能是同一件事的案件（关联建议）及本案所属的一件事",
        response=CaseLinksOut,
        tags=["disputes"],
        description="按当事人电话、身份证号（只比对加密哈希）、同一户、同村同一被申请人、同一地址和相同或相关类别匹配，"
        "只列出本人可以查看的案件。",
    )
    async def get(self, case_id: str) -> None:
        case = await CaseService(self.ctx).get(self.caller, parse_id(case_id, "案件"))
        disputes = DisputeService(self.ctx)
        dispute = None
        if case.get("dispute_id"):
            found, members = await disputes.view(self.caller, case["dispute_id"])
            dispute = dispute_brief(found, {m["_id"] for m in members})
        suggestions = [
            LinkSuggestionOut(
                case_id=str(s.case_id),
                number=s.number,
                score=s.score,
                reasons=s.reasons,
                state=other["state"],
                category=other.get("category"),
                source=other["source"],
                created_at=other["created_at"],
            )
            for s, other in await disputes.suggestions(self.caller, case)
        ]
        self.write_json(CaseLinksOut(dispute=dispute, suggestions=suggestions))


def dispute_to_json(dispute: dict[str, Any], members: list[dict[str, Any]], names: Any) -> DisputeOut:
    visible = {m["_id"] for m in members}
    events = sorted(
        (
            DisputeEventOut(
                at=e["at"],
                case_number=m["number"],
                action=e["action"],
                label=timeline_label(e["action"]),
                note=e.get("note"),
            )
            for m in members
            for e in m["timeline"]
        ),
        key=lambda e: e.at,
    )
    return DisputeOut(
        **dispute_brief(dispute, visible).model_dump(),
        risk=max((m["risk"] for m in members), key=RISKS.index, default="low"),
        merged_into=str(dispute["merged_into"]) if dispute.get("merged_into") else None,
        members=[case_brief(m, names) for m in members],
        timeline=events,
        history=[
            DisputeHistoryOut(
                action=h["action"],
                case_ids=[str(c) for c in h["case_ids"] if c in visible],
                reason=h["reason"],
                by=str(h["by"]),
                at=h["at"],
            )
            for h in dispute.get("history", [])
        ],
        created_at=dispute["created_at"],
        updated_at=dispute["updated_at"],
    )


class _DisputeHandler(BaseHandler):
    async def answer(self, disputes: DisputeService, dispute_id: Any) -> None:
        dispute, members = await disputes.view(self.caller, dispute_id)
        self.write_json(dispute_to_json(dispute, members, await CaseNames(self.ctx).of(members)))


class DisputesHandler(_DisputeHandler):
    @requires("dispute.view")
    @api("一件事（管辖范围内、未结束的）", response=Page[DisputeBrief], tags=["disputes"])
    async def get(self) -> None:
        query = self.page_params()
        found, total = await DisputeService(self.ctx).search(self.caller, skip=query.skip, limit=query.page_size)
        self.write_page([dispute_brief(d, set(d["case_ids"])) for d in found], total, query)

    @requires("dispute.link")
    @api(
        "关联两件案件为一件事（已属一件事的并入；两件事合并）",
        request=LinkIn,
        response=DisputeOut,
        tags=["disputes"],
        description="主案为最早登记的案件（或工作人员指定的）；无论关联的先后顺序，结果相同。跨镇关联须县级。",
    )
    async def post(self) -> None:
        body = self.read_json(LinkIn)
        disputes = DisputeService(self.ctx)
        dispute = await disputes.link(
            self.caller, parse_id(body.case_id, "案件"), parse_id(body.other_case_id, "案件"), body.reason
        )
        await self.answer(disputes, dispute["_id"])


class DisputeHandler(_DisputeHandler):
    @requires("dispute.view")
    @api("一件事详情：成员案件、合并的时间线、关联记录", response=DisputeOut, tags=["disputes"])
    async def get(self, dispute_id: str) -> None:
        await self.answer(DisputeService(self.ctx), parse_id(dispute_id, "一件事"))


class UnlinkHandler(_DisputeHandler):
    @requires("dispute.link")
    @api("把案件移出一件事（须说明理由）", request=UnlinkIn, response=DisputeOut, tags=["disputes"])
    async def post(self, dispute_id: str) -> None:
        body = self.read_json(UnlinkIn)
        disputes = DisputeService(self.ctx)
        dispute_oid = parse_id(dispute_id, "一件事")
        await disputes.unlink(self.caller, dispute_oid, parse_id(body.case_id, "案件"), body.reason)
        await self.answer(disputes, dispute_oid)


class LeadHandler(_DisputeHandler):
    @requires("dispute.link")
    @api("指定一件事的主案（其承办单位负责办理）", request=UnlinkIn, response=DisputeOut, tags=["disputes"])
    async def post(self, dispute_id: str) -> None:
        body = self.read_json(UnlinkIn)
        disputes = DisputeService(self.ctx)
        dispute_oid = parse_id(dispute_id, "一件事")
        await disputes.choose_lead(self.caller, dispute_oid, parse_id(body.case_id, "案件"), body.reason)
        await self.answer(disputes, dispute_oid)


# ---- 一户一档 ------------------------------------------------------------------------------------------------
def note_to_json(note: dict[str, Any], tz: Any) -> NoteOut:
    follow = note.get("follow_up_on")
    return NoteOut(
        id=str(note["_id"]),
        text=note["text"],
        follow_up_on=follow.astimezone(tz).date() if follow else None,
        at=note["at"],
        by=str(note["by"]),
        done_at=note.get("done_at"),
        done_note=note.get("done_note"),
    )


class HouseholdFileHandler(BaseHandler):
    @requires("household.file")
    @api(
        "一户一档：成员（脱敏）、标签、走访、涉及本户的案件、当前风险及原因、关注事项",
        response=HouseholdFileOut,
        tags=["households"],
        description="一次请求返回全部内容（入户时网络差也能打开）；只列出本人可以查看的案件。",
    )
    async def get(self, household_id: str) -> None:
        found = await HouseholdFiles(self.ctx).file(self.caller, parse_id(household_id, "住户"))
        tz = self.ctx.tz
        self.write_json(
            HouseholdFileOut(
                household=household_to_json(found["household"], self.ctx.cipher, full=False),
                risk=found["risk"],
                risk_reasons=found["risk_reasons"],
                visits=[
                    VisitBrief(
                        id=str(v["_id"]),
                        visited_at=v["visited_at"],
                        purposes=v["purposes"],
                        notes=v.get("notes") or "",
                        visitor_id=str(v["visitor_id"]),
                    )
                    for v in found["visits"]
                ],
                cases=[
                    FileCase(
                        id=str(c["_id"]),
                        number=c["number"],
                        state=c["state"],
                        status=status_label(c),
                        category=c.get("category"),
                        risk=c["risk"],
                        outcome=OUTCOME_LABELS.get((c.get("outcome") or {}).get("type") or ""),
                        dispute_id=str(c["dispute_id"]) if c.get("dispute_id") else None,
                        created_at=c["created_at"],
                    )
                    for c in found["cases"]
                ],
                notes=[note_to_json(n, tz) for n in found["notes"]],
            )
        )


class NotesHandler(BaseHandler):
    @requires("household.file")
    @api("记录住户关注事项（可设跟进日期）", request=NoteIn, response=NoteOut, status=201, tags=["households"])
    async def post(self, household_id: str) -> None:
        body = self.read_json(NoteIn)
        note = await HouseholdFiles(self.ctx).add_note(
            self.caller, parse_id(household_id, "住户"), body.text, body.follow_up_on
        )
        self.write_json(note_to_json(note, self.ctx.tz), status=201)


class NoteDoneHandler(BaseHandler):
    @requires("household.file")
    @api("关注事项办结", request=NoteDoneIn, response=NoteOut, tags=["households"])
    async def post(self, household_id: str, note_id: str) -> None:
        body = self.read_json(NoteDoneIn)
        note = await HouseholdFiles(self.ctx).close_note(
            self.caller, parse_id(household_id, "住户"), parse_id(note_id, "关注事项"), body.text
        )
        self.write_json(note_to_json(note, self.ctx.tz))


# ---- warnings and the daily 研判 ------------------------------------------------------------------------
def warning_to_json(warning: dict[str, Any]) -> WarningOut:
    return WarningOut(
        id=str(warning["_id"]),
        kind=warning["kind"],
        level=warning["level"],
        title=warning["title"],
        reasons=warning["reasons"],
        case_ids=[str(c) for c in warning["case_ids"]],
        state=warning["state"],
        responses=[r | {"by": str(r["by"])} for r in warning["responses"]],
        escalated_at=warning.get("escalated_at"),
        created_at=warning["created_at"],
    )


class WarningsHandler(BaseHandler):
    @requires("warning.view")
    @api("当前预警（高风险案件、群体性纠纷）", query=WarningQuery, response=Page[WarningOut], tags=["warnings"])
    async def get(self) -> None:
        query = self.read_query(WarningQuery)
        found, total = await WarningService(self.ctx).search(
            self.caller, kind=query.kind, level=query.level, state=query.state, skip=query.skip, limit=query.page_size
        )
        self.write_page([warning_to_json(w) for w in found], total, query)


class WarningAckHandler(BaseHandler):
    @requires("warning.handle")
    @api("签收预警", request=WarningNoteIn, response=WarningOut, tags=["warnings"])
    async def post(self, warning_id: str) -> None:
        body = self.read_json(WarningNoteIn)
        found = await WarningService(self.ctx).respond(
            self.caller, parse_id(warning_id, "预警"), "acknowledged", body.note
        )
        self.write_json(warning_to_json(found))


class WarningHandleHandler(BaseHandler):
    @requires("warning.handle")
    @api("处置预警（说明处置情况）", request=WarningNoteIn, response=WarningOut, tags=["warnings"])
    async def post(self, warning_id: str) -> None:
        body = self.read_json(WarningNoteIn)
        found = await WarningService(self.ctx).respond(self.caller, parse_id(warning_id, "预警"), "handled", body.note)
        self.write_json(warning_to_json(found))


class BriefingHandler(BaseHandler):
    @requires("warning.view")
    @api("本镇最近一次矛盾纠纷研判", query=BriefingQuery, response=BriefingOut, tags=["warnings"])
    async def get(self) -> None:
        query = self.read_query(BriefingQuery)
        town_id = parse_id(query.town_id, "镇") if query.town_id else None
        found = await WarningService(self.ctx).latest_briefing(self.caller, town_id)
        self.write_json(
            BriefingOut(
                town_id=str(found["town_id"]),
                day=found["day"],
                counts=found["counts"],
                text=found["text"],
                created_at=found["created_at"],
            )
        )


# ---- the risk rules, a setting ---------------------------------------------------------------------------
class RiskRulesHandler(_SettingHandler):
    key = "risk_rules"

    async def resolve(self, place: dict[str, Any]) -> Resolved:
        return await RiskService(self.ctx).resolved(place["_id"])

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        return RiskRulesOut(**value, **meta)

    @requires("settings.view")
    @api(
        "风险研判规则（危险言语词库及测试句、重复、多来源、群体性等加分与分数线）",
        query=SettingsQuery,
        response=RiskRulesOut,
        tags=["settings"],
    )
    async def get(self) -> None:
        await self.answer(await self.place("settings.view"))

    @requires("settings.edit")
    @api(
        "修改风险研判规则（每次保存为新版本）",
        query=SettingsQuery,
        request=RiskRulesIn,
        response=RiskRulesOut,
        tags=["settings"],
        description="词库的每条规则须是有效的正则表达式；测试句中「必须识别」的每句须被识别，「不得识别」的每句不得被识别。",
    )
    async def put(self) -> None:
        body = self.read_json(RiskRulesIn)
        errors = rule_errors(body.data())
        if errors:
            raise ValidationFailed(details=errors)
        await self.save(body.data(), body.town_may_override)


default_handlers = [
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/links", CaseLinksHandler),
    (r"/api/disputes", DisputesHandler),
    (r"/api/disputes/(?P<dispute_id>[^/]+)", DisputeHandler),
    (r"/api/disputes/(?P<dispute_id>[^/]+)/unlink", UnlinkHandler),
    (r"/api/disputes/(?P<dispute_id>[^/]+)/lead", LeadHandler),
    (r"/api/households/(?P<household_id>[0-9a-f]{24})/file", HouseholdFileHandler),
    (r"/api/households/(?P<household_id>[0-9a-f]{24})/notes", NotesHandler),
    (r"/api/households/(?P<household_id>[0-9a-f]{24})/notes/(?P<note_id>[^/]+)/done", NoteDoneHandler),
    (r"/api/warnings", WarningsHandler),
    (r"/api/warnings/(?P<warning_id>[^/]+)/acknowledge", WarningAckHandler),
    (r"/api/warnings/(?P<warning_id>[^/]+)/handle", WarningHandleHandler),
    (r"/api/briefings/latest", BriefingHandler),
    (r"/api/settings/risk-rules", RiskRulesHandler),
]
