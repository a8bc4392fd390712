"""The roster and the expert pool, mediator suggestions, and the two schemes (server/mediators/)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from handlers.base import BaseHandler, api, requires
from handlers.settings import _SettingHandler
from schemas.base import Page
from schemas.mediators import (
    ExpertOut,
    ExpertPatch,
    ExpertQuery,
    GoldIn,
    MediatorIn,
    MediatorOut,
    MediatorPatch,
    MediatorQuery,
    PublicityConsentIn,
    RatingSchemeIn,
    RatingSchemeOut,
    SubsidyRules,
    SubsidyRulesIn,
    SubsidyRulesOut,
    SuggestionOut,
    SuggestionQuery,
    SuggestionsOut,
    expert_to_json,
    mediator_to_json,
)
from schemas.settings import SettingsQuery
from server.core.errors import ValidationFailed
from server.core.ids import parse_id
from server.mediators.consultations import ConsultationService
from server.mediators.profiles import Experts, Roster
from server.mediators.ratings import Schemes, live_figures
from server.mediators.suggestions import suggest
from server.orgs.settings import Resolved
from server.publicity.articles import ArticleService


class _RosterHandler(BaseHandler):
    @property
    def roster(self) -> Roster:
        return Roster(self.ctx)

    async def with_figures(self, profiles: list[dict[str, Any]]) -> list[MediatorOut]:
        figures = await live_figures(self.ctx, profiles)
        return [mediator_to_json(p, figures.get(p["_id"])) for p in profiles]


def roster_filters(query: MediatorQuery) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for field in ("kind", "force", "status"):
        if getattr(query, field) is not None:
            filters[field] = getattr(query, field)
    if query.specialty:
        filters["specialties"] = query.specialty
    if query.star is not None:
        filters["star.level"] = query.star or None
    if query.account is not None:
        filters["user_id"] = {"$exists": query.account}
    if query.q:
        filters["name"] = {"$regex": re.escape(query.q)}
    return filters


class MediatorsHandler(_RosterHandler):
    @requires("mediator.view")
    @api(
        "调解名册（调解员与社会力量）及其实时数据",
        query=MediatorQuery,
        response=Page[MediatorOut],
        tags=["mediators"],
        description="每名调解员账号自动建档；数据：在办案件、本年办结、调解成功率、按期办结率、回访满意率、"
        "群众评价；社会力量为本年参加调解次数。",
    )
    async def get(self) -> None:
        query = self.read_query(MediatorQuery)
        org_id = parse_id(query.org_id, "组织单元") if query.org_id else None
        profiles, total = await self.roster.search(
            self.caller, "mediator.view", roster_filters(query), org_id=org_id, skip=query.skip, limit=query.page_size
        )
        self.write_page(await self.with_figures(profiles), total, query)

    @requires("mediator.manage")
    @api(
        "添加社会力量（无账号的调解参与人员）", request=MediatorIn, response=MediatorOut, status=201, tags=["mediators"]
    )
    async def post(self) -> None:
        body = self.read_json(MediatorIn)
        if body.force is None and body.kind is None:
            raise ValidationFailed(details=[{"field": "force", "message": "请选择社会力量类别或调解员类别"}])
        fields = body.model_dump() | {"org_ids": [parse_id(o, "组织单元") for o in body.org_ids]}
        profile = await self.roster.add(self.caller, "mediator.manage", fields)
        self.write_json((await self.with_figures([profile]))[0], status=201)


class MyMediatorHandler(_RosterHandler):
    @requires("mediator.self")
    @api("我的调解员档案、实时数据、星级与荣誉", response=MediatorOut, tags=["mediators"])
    async def get(self) -> None:
        self.write_json((await self.with_figures([await self.roster.mine(self.caller)]))[0])


class MyPublicityConsentHandler(_RosterHandler):
    @requires("mediator.self")
    @api(
        "同意或撤回以本人事迹作为先进典型公开宣传",
        request=PublicityConsentIn,
        response=MediatorOut,
        tags=["mediators", "articles"],
        description="未经本人同意，办公室不能以其档案编写先进典型文章；撤回同意时，已发布的本人事迹文章随即撤下。",
    )
    async def put(self) -> None:
        body = self.read_json(PublicityConsentIn)
        profile = await self.roster.set_publicity_consent(self.caller, body.given)
        if not body.given:
            await ArticleService(self.ctx).withdraw_exemplars(self.caller, profile["_id"])
        self.write_json((await self.with_figures([profile]))[0])


class MediatorHandler(_RosterHandler):
    @requires("mediator.view")
    @api("调解员档案与实时数据", response=MediatorOut, tags=["mediators"])
    async def get(self, mediator_id: str) -> None:
        profile = await self.roster.get(self.caller, parse_id(mediator_id, "调解员"), "mediator.view")
        self.write_json((await self.with_figures([profile]))[0])

    @requires("mediator.manage")
    @api(
        "修改调解员档案（类别、擅长、单位、层级、证书、培训学时、状态）",
        request=MediatorPatch,
        response=MediatorOut,
        tags=["mediators"],
    )
    async def patch(self, mediator_id: str) -> None:
        changes = self.read_json(MediatorPatch).model_dump(exclude_unset=True)
        if "org_ids" in changes:
            changes["org_ids"] = [parse_id(o, "组织单元") for o in changes["org_ids"]]
        profile = await self.roster.change(self.caller, "mediator.manage", parse_id(mediator_id, "调解员"), changes)
        self.write_json((await self.with_figures([profile]))[0])


class GoldHandler(_RosterHandler):
    @requires("mediator.honour")
    @api("授予金牌调解员（县级；须为该周期确认的五星调解员）", request=GoldIn, response=MediatorOut, tags=["mediators"])
    async def post(self, mediator_id: str) -> None:
        body = self.read_json(GoldIn)
        profile = await self.roster.grant_gold(self.caller, parse_id(mediator_id, "调解员"), body.period, body.reason)
        self.write_json((await self.with_figures([profile]))[0])


class SuggestionsHandler(_RosterHandler):
    @requires("case.administer")
    @api(
        "分派时推荐调解员（按擅长类别、星级与在办数量）",
        query=SuggestionQuery,
        response=SuggestionsOut,
        tags=["mediators"],
    )
    async def get(self, case_id: str) -> None:
        query = self.read_query(SuggestionQuery)
        org_id = parse_id(query.org_id, "组织单元") if query.org_id else None
        found = await suggest(self.ctx, self.caller, parse_id(case_id, "案件"), org_id)
        items = [
            SuggestionOut(mediator=mediator_to_json(s.profile, s.figures or None), score=s.score, reasons=s.reasons)
            for s in found
        ]
        self.write_json(SuggestionsOut(items=items))


# ---- experts ---------------------------------------------------------------------------------------------
class _ExpertHandler(BaseHandler):
    @property
    def experts(self) -> Experts:
        return Experts(self.ctx)

    async def to_json(self, profiles: list[dict[str, Any]]) -> list[ExpertOut]:
        counts = await ConsultationService(self.ctx).counts([p["_id"] for p in profiles])
        return [expert_to_json(p, counts.get(p["_id"])) for p in profiles]


class ExpertsHandler(_ExpertHandler):
    @requires("expert.view")
    @api(
        "咨询专家库（本镇专家和县级专家）",
        query=ExpertQuery,
        response=Page[ExpertOut],
        tags=["experts"],
        description="专家账号由管理员在人员管理中授予 expert 角色后自动建档。",
    )
    async def get(self) -> None:
        query = self.read_query(ExpertQuery)
        filters: dict[str, Any] = {}
        if query.field:
            filters["field"] = query.field
        if query.available is not None:
            filters["available"] = query.available
        if query.q:
            filters["name"] = {"$regex": re.escape(query.q)}
        profiles, total = await self.experts.search(
            self.caller, "expert.view", filters, org_id=None, skip=query.skip, limit=query.page_size
        )
        self.write_page(await self.to_json(profiles), total, query)


class MyExpertHandler(_ExpertHandler):
    @requires("consultation.answer")
    @api("我的专家档案", response=ExpertOut, tags=["experts"])
    async def get(self) -> None:
        self.write_json((await self.to_json([await self.experts.mine(self.caller)]))[0])


class ExpertHandler(_ExpertHandler):
    @requires("expert.view")
    @api("专家档案", response=ExpertOut, tags=["experts"])
    async def get(self, expert_id: str) -> None:
        profile = await self.experts.get(self.caller, parse_id(expert_id, "专家"), "expert.view")
        self.write_json((await self.to_json([profile]))[0])

    @requires("expert.manage")
    @api(
        "修改专家档案（领域、单位、职称、是否接受咨询、状态）",
        request=ExpertPatch,
        response=ExpertOut,
        tags=["experts"],
    )
    async def patch(self, expert_id: str) -> None:
        changes = self.read_json(ExpertPatch).model_dump(exclude_unset=True)
        profile = await self.experts.change(self.caller, "expert.manage", parse_id(expert_id, "专家"), changes)
        self.write_json((await self.to_json([profile]))[0])


# ---- the schemes, as settings ----------------------------------------------------------------------------
class _SchemeHandler(_SettingHandler):
    async def resolve(self, place: dict[str, Any]) -> Resolved:
        return await Schemes(self.ctx).resolved(self.key, place["_id"])


class RatingSchemeHandler(_SchemeHandler):
    key = "rating_scheme"

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        return RatingSchemeOut(**value, **meta)

    @requires("settings.view")
    @api(
        "调解员星级评定方案（指标、权重、星级分数线、最少案件数）",
        query=SettingsQuery,
        response=RatingSchemeOut,
        tags=["settings"],
    )
    async def get(self) -> None:
        await self.answer(await self.place("settings.view"))

    @requires("settings.edit")
    @api(
        "修改星级评定方案（每次保存为新版本；已确认的评定保留其所用版本）",
        query=SettingsQuery,
        request=RatingSchemeIn,
        response=RatingSchemeOut,
        tags=["settings"],
    )
    async def put(self) -> None:
        body = self.read_json(RatingSchemeIn)
        await self.save(Schemes.check(self.key, body.data()), body.town_may_override)


class SubsidyRulesHandler(_SchemeHandler):
    key = "subsidy_rules"

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        return SubsidyRulesOut.model_validate({**SubsidyRules.wire(value), **meta})

    @requires("settings.view")
    @api("以案定补标准（按难度与结果，金额单位为分）", query=SettingsQuery, response=SubsidyRulesOut, tags=["settings"])
    async def get(self) -> None:
        await self.answer(await self.place("settings.view"))

    @requires("settings.edit")
    @api(
        "修改以案定补标准（金额单位为分）",
        query=SettingsQuery,
        request=SubsidyRulesIn,
        response=SubsidyRulesOut,
        tags=["settings"],
    )
    async def put(self) -> None:
        body = self.read_json(SubsidyRulesIn)
        await self.save(Schemes.check(self.key, body.data()), body.town_may_override)


default_handlers = [
    (r"/api/mediators", MediatorsHandler),
    (r"/api/mediators/me", MyMediatorHandler),
    (r"/api/mediators/me/publicity-consent", MyPublicityConsentHandler),
    (r"/api/mediators/(?P<mediator_id>[0-9a-f]{24})", MediatorHandler),
    (r"/api/mediators/(?P<mediator_id>[0-9a-f]{24})/gold", GoldHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/mediator-suggestions", SuggestionsHandler),
    (r"/api/experts", ExpertsHandler),
    (r"/api/experts/me", MyExpertHandler),
    (r"/api/experts/(?P<expert_id>[0-9a-f]{24})", ExpertHandler),
    (r"/api/settings/rating-scheme", RatingSchemeHandler),
    (r"/api/settings/subsidy-rules", SubsidyRulesHandler),
]
