"""Routing rules and deadlines: data the town or county admin edits, not code."""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler, api, requires
from schemas.cases import DeadlinesIn, RoutingRulesIn
from server.cases.routing import Routing
from server.core.routing_rules import check_rules


class RoutingRulesHandler(BaseHandler):
    @requires("settings.view")
    @api("分流规则（按顺序匹配，第一条符合的生效）", response=RoutingRulesIn, tags=["settings"])
    async def get(self) -> None:
        self.write_json(RoutingRulesIn(rules=await Routing(self.ctx).rules()))

    @requires("settings.edit")
    @api("修改分流规则", request=RoutingRulesIn, response=RoutingRulesIn, tags=["settings"])
    async def put(self) -> None:
        rules: list[dict[str, Any]] = check_rules(self.read_json(RoutingRulesIn).rules)
        await Routing(self.ctx).save(self.caller, "routing_rules", rules)
        self.write_json(RoutingRulesIn(rules=rules))


class DeadlinesHandler(BaseHandler):
    @requires("settings.view")
    @api("办理期限（小时/天）", response=DeadlinesIn, tags=["settings"])
    async def get(self) -> None:
        self.write_json(DeadlinesIn(**await Routing(self.ctx).deadlines()))

    @requires("settings.edit")
    @api("修改办理期限（只影响此后设定的期限）", request=DeadlinesIn, response=DeadlinesIn, tags=["settings"])
    async def put(self) -> None:
        deadlines = self.read_json(DeadlinesIn)
        await Routing(self.ctx).save(self.caller, "deadlines", deadlines.model_dump())
        self.write_json(deadlines)


default_handlers = [
    (r"/api/settings/routing-rules", RoutingRulesHandler),
    (r"/api/settings/deadlines", DeadlinesHandler),
]
