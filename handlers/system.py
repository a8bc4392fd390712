"""Health and version: public, for load balancers, monitoring and the mini-program's start-up check."""

from __future__ import annotations

from handlers.base import BaseHandler, api, public
from schemas.system import HealthOut, VersionOut
from server.core.db import is_memory, ping
from server.core.version import API_VERSION, NAME, VERSION


class HealthHandler(BaseHandler):
    @public
    @api(
        "健康检查：服务与数据库状态",
        response=HealthOut,
        tags=["system"],
        description="数据库不可达时返回 503，负载均衡据此摘除实例。",
    )
    async def get(self) -> None:
        reachable = await ping(self.ctx.db)
        if not reachable:
            self.set_header("Retry-After", "5")
        self.write_json(
            HealthOut(
                status="ok" if reachable else "degraded",
                database="ok" if reachable else "unreachable",
                database_kind="memory" if is_memory(self.ctx.config.mongodb.uri) else "mongodb",
                demo=self.ctx.config.demo,
                time=self.ctx.clock.now(),
            ),
            status=200 if reachable else 503,
        )


class VersionHandler(BaseHandler):
    uses_database = False

    @public
    @api("版本信息", response=VersionOut, tags=["system"])
    async def get(self) -> None:
        self.write_json(VersionOut(name=NAME, version=VERSION, api=API_VERSION))


default_handlers = [
    (r"/api/health", HealthHandler),
    (r"/api/version", VersionHandler),
]
