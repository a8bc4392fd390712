"""Public reference lists: towns, villages and micro-grids by name; the case categories; the words clients show."""

from __future__ import annotations

from handlers.base import BaseHandler, api, public
from schemas.reference import (
    ActionWord,
    CategoriesOut,
    CategoriesQuery,
    CategoryOut,
    PlaceOut,
    PlaceQuery,
    PlacesOut,
    VocabularyOut,
)
from server.cases.actions import ACTIONS
from server.cases.routing import Routing
from server.core.errors import NotFound
from server.core.ids import parse_id
from server.core.vocabulary import (
    CATEGORIES,
    CHANNEL_LABELS,
    DIFFICULTY_LABELS,
    OPEN_STATES,
    OUTCOME_LABELS,
    PARTNER_KIND_LABELS,
    RISK_LABELS,
    SOURCE_LABELS,
    STATE_NAMES,
    TIER_LABELS,
)
from server.orgs.tree import OrgService
from server.people.users import ROLE_NAMES

PLACE_KINDS = {"towns": "town", "villages": "village", "micro-grids": "micro_grid"}


class PlacesHandler(BaseHandler):
    @public
    @api(
        "可选的地点（镇、村/社区、微网格），只有名称",
        query=PlaceQuery,
        response=PlacesOut,
        tags=["reference"],
        description="群众没有门牌时据此选择纠纷发生地：/api/places/towns、/villages?parent_id=镇、"
        "/micro-grids?parent_id=村。",
    )
    async def get(self, kind: str) -> None:
        query = self.read_query(PlaceQuery)
        parent = parse_id(query.parent_id, "上级") if query.parent_id else None
        units = await OrgService(self.ctx).names(PLACE_KINDS[kind], parent)
        self.write_json(PlacesOut(items=[PlaceOut(id=str(u["_id"]), name=u["name"]) for u in units]))


class CategoriesHandler(BaseHandler):
    @public
    @api(
        "纠纷类别（中文名称；是否按规则直接交县专业调委会）",
        query=CategoriesQuery,
        response=CategoriesOut,
        tags=["reference"],
    )
    async def get(self) -> None:
        query = self.read_query(CategoriesQuery)
        town_id = parse_id(query.town_id, "镇") if query.town_id else None
        if town_id is not None and ((await OrgService(self.ctx).find(town_id)) or {}).get("kind") != "town":
            raise NotFound("找不到该镇", code="no_such_town")
        specialist = await Routing(self.ctx).specialist_categories(town_id)
        items = [
            CategoryOut(code=code, label=label, specialist=code in specialist) for code, label in CATEGORIES.items()
        ]
        self.write_json(CategoriesOut(items=items))


def vocabulary() -> VocabularyOut:
    return VocabularyOut(
        states=STATE_NAMES,
        open_states=list(OPEN_STATES),
        categories=CATEGORIES,
        sources=SOURCE_LABELS,
        channels=CHANNEL_LABELS,
        tiers=TIER_LABELS,
        risks=RISK_LABELS,
        outcomes=OUTCOME_LABELS,
        difficulties=DIFFICULTY_LABELS,
        roles=ROLE_NAMES,
        partner_kinds=PARTNER_KIND_LABELS,
        actions={name: ActionWord(label=a.label, reason=a.reason, to=a.to) for name, a in ACTIONS.items()},
    )


class VocabularyHandler(BaseHandler):
    uses_database = False

    @public
    @api(
        "词表：状态、类别、来源、渠道、层级、风险、结果、难度、角色和办理操作的中文名称",
        response=VocabularyOut,
        tags=["reference"],
        description="与服务器使用的是同一张表；客户端据此显示名称，不必自带一份。",
    )
    async def get(self) -> None:
        self.write_json(vocabulary())


default_handlers = [
    (r"/api/places/(?P<kind>towns|villages|micro-grids)", PlacesHandler),
    (r"/api/categories", CategoriesHandler),
    (r"/api/vocabulary", VocabularyHandler),
]
