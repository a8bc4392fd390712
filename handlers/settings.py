"""Routing rules and deadlines: settings of a town or a county that its admins edit (server/orgs/settings.py).

`?org_id=` names the town or county (default: the caller's own); `PUT` saves that place's value (at the
county, also whether towns may override it); `DELETE` drops a town's own value so that it follows the county
again (or a county's, back to the configured default).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from handlers.base import BaseHandler, api, requires
from schemas.settings import DeadlinesIn, DeadlinesOut, RoutingRulesIn, RoutingRulesOut, SettingsQuery
from server.cases.routing import Routing
from server.core.ids import parse_id
from server.core.routing_rules import check_rules
from server.orgs.settings import Resolved, SettingsService


class _SettingHandler(BaseHandler):
    key: str
    label: str

    async def place(self, capability: str) -> dict[str, Any]:
        query = self.read_query(SettingsQuery)
        org_id = parse_id(query.org_id, "组织单元") if query.org_id else None
        return await SettingsService(self.ctx).place_for(self.caller, org_id, capability)

    async def resolve(self, place: dict[str, Any]) -> Resolved:
        return await Routing(self.ctx).setting(self.key, place["_id"])

    async def answer(self, place: dict[str, Any]) -> None:
        setting = await self.resolve(place)
        meta = {"org_id": str(place["_id"]), "source": setting.source, "town_may_override": setting.town_may_override}
        self.write_json(self.reply(setting.value, meta | {"version": setting.version}))

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        raise NotImplementedError

    async def save(self, value: Any, town_may_override: bool | None) -> None:
        place = await self.place("settings.edit")
        await SettingsService(self.ctx).save(self.caller, self.key, place, value, town_may_override)
        await self.answer(place)

    @requires("settings.edit")
    @api(
        "删除本镇（或县）自定的设置，恢复为县统一设置（或系统默认）", query=SettingsQuery, status=204, tags=["settings"]
    )
    async def delete(self) -> None:
        place = await self.place("settings.edit")
        await SettingsService(self.ctx).clear(self.caller, self.key, place)
        self.write_empty()


class RoutingRulesHandler(_SettingHandler):
    key = "routing_rules"

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        return RoutingRulesOut(rules=value, **meta)

    @requires("settings.view")
    @api("分流规则（按顺序匹配，第一条符合的生效）", query=SettingsQuery, response=RoutingRulesOut, tags=["settings"])
    async def get(self) -> None:
        await self.answer(await self.place("settings.view"))

    @requires("settings.edit")
    @api("修改分流规则", query=SettingsQuery, request=RoutingRulesIn, response=RoutingRulesOut, tags=["settings"])
    async def put(self) -> None:
        body = self.read_json(RoutingRulesIn)
        await self.save(check_rules(body.rules_data()), body.town_may_override)


class DeadlinesHandler(_SettingHandler):
    key = "deadlines"

    def reply(self, value: Any, meta: dict[str, Any]) -> BaseModel:
        return DeadlinesOut(**value, **meta)

    @requires("settings.view")
    @api("办理期限（小时/天）", query=SettingsQuery, response=DeadlinesOut, tags=["settings"])
    async def get(self) -> None:
        await self.answer(await self.place("settings.view"))

    @requires("settings.edit")
    @api(
        "修改办理期限（只影响此后设定的期限）",
        query=SettingsQuery,
        request=DeadlinesIn,
        response=DeadlinesOut,
        tags=["settings"],
    )
    async def put(self) -> None:
        body = self.read_json(DeadlinesIn)
        await self.save(body.model_dump(exclude={"town_may_override"}), body.town_may_override)


default_handlers = [
    (r"/api/settings/routing-rules", RoutingRulesHandler),
    (r"/api/settings/deadlines", DeadlinesHandler),
]
