"""Routing rules and deadlines: data the town or county admin edits, not code."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from handlers.base import BaseHandler, api, requires
from schemas.cases import DeadlinesIn, RoutingRulesIn
from server.auth import ADMIN_ROLES, STAFF_ROLES
from server.routing import Routing, check_rules


class RoutingRulesHandler(BaseHandler):
    @requires(*STAFF_ROLES)
    @api("分流规则（按顺序匹配，第一条符合的生效）", response=RoutingRulesIn, tags=["settings"])
    async def get(self) -> None:
        self.write_json(RoutingRulesIn(rules=await Routing(self.ctx).rules()))

    @requires(*ADMIN_ROLES)
    @api("修改分流规则", request=RoutingRulesIn, response=RoutingRulesIn, tags=["settings"])
    async def put(self) -> None:
        rules: list[dict[str, Any]] = check_rules(self.read_json(RoutingRulesIn).rules)
        await Routing(self.ctx).save("routing_rules", rules)
        await self.audit("settings.routing_rules")
        self.write_json(RoutingRulesIn(rules=rules))

    async def audit(self, action: str) -> None:
        await self.ctx.audit.record(
            action=action,
            actor_id=ObjectId(self.caller.user_id),
            target_type="settings",
            target_id=action,
            at=self.ctx.clock.now(),
        )


class DeadlinesHandler(RoutingRulesHandler):
    @requires(*STAFF_ROLES)
    @api("办理期限（小时/天）", response=DeadlinesIn, tags=["settings"])
    async def get(self) -> None:
        self.write_json(DeadlinesIn(**await Routing(self.ctx).deadlines()))

    @requires(*ADMIN_ROLES)
    @api("修改办理期限（只影响此后设定的期限）", request=DeadlinesIn, response=DeadlinesIn, tags=["settings"])
    async def put(self) -> None:
        deadlines = self.read_json(DeadlinesIn)
        await Routing(self.ctx).save("deadlines", deadlines.model_dump())
        await self.audit("settings.deadlines")
        self.write_json(deadlines)


default_handlers = [
    (r"/api/settings/routing-rules", RoutingRulesHandler),
    (r"/api/settings/deadlines", DeadlinesHandler),
]
