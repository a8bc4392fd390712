"""Grid visits (五个到户): record one or a day's batch, list them, and see who was not visited."""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler, api, requires
from schemas.base import Page
from schemas.visits import (
    BatchOut,
    CoverageOut,
    CoverageQuery,
    GpsPoint,
    UnvisitedOut,
    VisitBatchIn,
    VisitIn,
    VisitOut,
    VisitQuery,
)
from server.core.ids import parse_id
from server.places.visits import VisitService
from server.publicity.articles import ArticleService


def visit_input(visit: VisitIn) -> dict[str, Any]:
    data = visit.model_dump()
    if visit.household_id:
        data["household_id"] = parse_id(visit.household_id, "住户")
    data["article_ids"] = [parse_id(a, "文章") for a in visit.article_ids]
    return data


def visit_to_json(visit: dict[str, Any]) -> VisitOut:
    return VisitOut(
        id=str(visit["_id"]),
        client_id=visit["client_id"],
        household_id=str(visit["household_id"]),
        visitor_id=str(visit["visitor_id"]),
        purposes=visit["purposes"],
        notes=visit["notes"],
        gps=GpsPoint(**visit["gps"]) if visit.get("gps") else None,
        article_ids=[str(a) for a in visit.get("article_ids") or []],
        visited_at=visit["visited_at"],
        received_at=visit["received_at"],
    )


class VisitsHandler(BaseHandler):
    @requires("visit.view")
    @api("走访记录（按住户、网格员、时间段）", query=VisitQuery, response=Page[VisitOut], tags=["visits"])
    async def get(self) -> None:
        query = self.read_query(VisitQuery)
        visits, total = await VisitService(self.ctx).search(
            self.caller,
            household_id=parse_id(query.household_id) if query.household_id else None,
            visitor_id=parse_id(query.visitor_id) if query.visitor_id else None,
            since=query.since,
            until=query.until,
            skip=query.skip,
            limit=query.page_size,
        )
        self.write_page([visit_to_json(v) for v in visits], total, query)

    @requires("visit.record")
    @api(
        "记录一次走访",
        request=VisitIn,
        response=VisitOut,
        status=201,
        tags=["visits"],
        description="按 client_id 幂等：重发同一条返回 200 和第一次的记录；同一 client_id 内容不同返回 422。",
    )
    async def post(self) -> None:
        body = self.read_json(VisitIn)
        visit, created = await VisitService(self.ctx).record(
            self.caller, visit_input(body), ArticleService(self.ctx).check_for_visit
        )
        self.write_json(visit_to_json(visit), status=201 if created else 200)


class VisitBatchHandler(BaseHandler):
    body_limit = 4 * 1024 * 1024

    @requires("visit.record")
    @api(
        "批量上传离线走访（最多 500 条）",
        request=VisitBatchIn,
        response=BatchOut,
        tags=["visits"],
        description="逐条返回结果：created、duplicate（已上传过）或 error（附原因），一条出错不影响其他。",
    )
    async def post(self) -> None:
        body = self.read_json(VisitBatchIn)
        results = await VisitService(self.ctx).record_batch(
            self.caller, [visit_input(v) for v in body.visits], ArticleService(self.ctx).check_for_visit
        )
        self.write_json(BatchOut.model_validate({"results": results}))


class CoverageHandler(BaseHandler):
    @requires("visit.view")
    @api("走访覆盖：本月未走访的住户", query=CoverageQuery, response=CoverageOut, tags=["visits"])
    async def get(self) -> None:
        query = self.read_query(CoverageQuery)
        coverage = await VisitService(self.ctx).coverage(
            self.caller,
            parse_id(query.org_id, "单元") if query.org_id else None,
            parse_id(query.grid_worker_id, "网格员") if query.grid_worker_id else None,
            query.month,
            skip=query.skip,
            limit=query.page_size,
        )
        self.write_json(
            CoverageOut(
                month=coverage.month,
                households=coverage.households,
                visited=coverage.visited,
                not_visited=[
                    UnvisitedOut(
                        id=str(h["_id"]),
                        address=h["address"],
                        micro_grid_id=str(h["micro_grid_id"]),
                        tags=h.get("tags", []),
                    )
                    for h in coverage.page
                ],
                total=coverage.not_visited,
                page=query.page,
                page_size=query.page_size,
            )
        )


default_handlers = [
    (r"/api/visits", VisitsHandler),
    (r"/api/visits/batch", VisitBatchHandler),
    (r"/api/visits/coverage", CoverageHandler),
]
