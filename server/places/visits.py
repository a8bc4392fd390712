"""Grid visits (`visits`, 五个到户): a grid worker at a household, what was done there, when and where.

Phones in the field lose signal, so a visit carries the id the phone gave it (`client_id`): recording the
same visit again returns the first record, and the same id with different content is refused. A day of
visits can arrive in one batch, each item answered on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import Principal
from server.core.clock import to_millis
from server.core.errors import DomainError, NotFound, ValidationFailed
from server.core.scope import granted_orgs, org_scope_filter, require_org_scope
from server.orgs.tree import OrgService
from server.people.users import UserService
from server.places.households import HouseholdService

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "visits"
CLOCK_SKEW = timedelta(minutes=10)
POLICY_PURPOSE = "policy"  # 政策宣传到户: the purpose of a visit that hands out articles
# Checks the articles a visit hands out, for the household visited (raises a ValidationFailed naming them).
ArticleCheck = Callable[[list[ObjectId], dict[str, Any]], Awaitable[None]]
MAX_AGE = timedelta(days=31)

indexes.declare(
    COLLECTION,
    IndexModel([("visitor_id", ASCENDING), ("client_id", ASCENDING)], name="visitor_client_id", unique=True),
    IndexModel([("household_id", ASCENDING), ("visited_at", DESCENDING)], name="household_time"),
    IndexModel([("visitor_id", ASCENDING), ("visited_at", DESCENDING)], name="visitor_time"),
    IndexModel([("org_path", ASCENDING), ("visited_at", DESCENDING), ("_id", DESCENDING)], name="org_time_id"),
    IndexModel([("article_ids", ASCENDING), ("org_path", ASCENDING)], name="article_reach"),
)


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """`2026-11` → its first instant and the next month's, in the town's local time."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=tz)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


@dataclass(frozen=True)
class Coverage:
    month: str
    households: int
    visited: int
    not_visited: int
    page: list[dict[str, Any]]  # of the households not visited, by unit and address


class VisitService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._visits = ctx.db[COLLECTION]
        self._households = HouseholdService(ctx)

    async def record(
        self, principal: Principal, visit: dict[str, Any], articles: ArticleCheck | None = None
    ) -> tuple[dict[str, Any], bool]:
        """Store one visit; return it and whether it is new (False: the same visit sent again). The articles
        handed out on a 政策宣传到户 visit are checked by `articles` (the publicity's own rule)."""
        now = self._ctx.clock.now()
        household = await self._household_of(principal, visit)
        purposes = visit["purposes"]
        unknown = sorted(set(purposes) - set(self._ctx.config.town.visit_purposes))
        if unknown:
            raise ValidationFailed(details=[{"field": "purposes", "message": f"未知的走访事项：{'、'.join(unknown)}"}])
        article_ids = list(dict.fromkeys(visit.get("article_ids") or []))
        if article_ids:
            if POLICY_PURPOSE in self._ctx.config.town.visit_purposes and POLICY_PURPOSE not in purposes:
                message = "发放宣传文章的走访须包含政策宣传到户"
                raise ValidationFailed(details=[{"field": "article_ids", "message": message}])
            if articles is None:
                raise ValidationFailed(details=[{"field": "article_ids", "message": "此处不能登记宣传文章"}])
            await articles(article_ids, household)
        visited_at = to_millis(visit["visited_at"].astimezone(UTC))
        if visited_at > now + CLOCK_SKEW:
            raise ValidationFailed(details=[{"field": "visited_at", "message": "走访时间晚于当前时间，请检查手机时间"}])
        if visited_at < now - MAX_AGE:
            raise ValidationFailed(details=[{"field": "visited_at", "message": "只能补录 31 天内的走访"}])
        fingerprint = hashlib.sha256(json.dumps(visit, sort_keys=True, default=str).encode()).hexdigest()
        doc = {
            "_id": ObjectId(),
            "client_id": visit["client_id"],
            "visitor_id": ObjectId(principal.user_id),
            "household_id": household["_id"],
            "org_path": household["org_path"],
            "purposes": sorted(set(purposes)),
            "notes": visit.get("notes") or "",
            "gps": visit.get("gps"),
            "article_ids": article_ids,
            "visited_at": visited_at,
            "received_at": now,
            "fingerprint": fingerprint,
        }
        try:
            await self._visits.insert_one(doc)
        except DuplicateKeyError:
            first = await self._visits.find_one({"visitor_id": doc["visitor_id"], "client_id": doc["client_id"]})
            if first is None or first["fingerprint"] != fingerprint:
                raise ValidationFailed(
                    "同一走访编号已用于另一条不同的记录",
                    code="client_id_reused",
                    details=[{"field": "client_id", "message": "该编号已被另一条走访记录使用"}],
                ) from None
            return first, False
        return doc, True

    async def insert_history(self, visits: list[dict[str, Any]]) -> None:
        """Store visits of the past as the app recorded them (the demo's history), without the checks a new
        visit passes (its time would be refused as too old)."""
        await self._visits.insert_many(visits)

    async def record_batch(
        self, principal: Principal, visits: list[dict[str, Any]], articles: ArticleCheck | None = None
    ) -> list[dict[str, Any]]:
        """Each item is recorded or refused on its own; one bad item does not sink the rest."""
        results = []
        for visit in visits:
            try:
                doc, created = await self.record(principal, visit, articles)
            except DomainError as error:
                results.append(
                    {
                        "client_id": visit["client_id"],
                        "status": "error",
                        "error": {"code": error.code, "message": error.message, "details": error.details},
                    }
                )
            else:
                status = "created" if created else "duplicate"
                results.append({"client_id": visit["client_id"], "status": status, "visit_id": str(doc["_id"])})
        return results

    async def _household_of(self, principal: Principal, visit: dict[str, Any]) -> dict[str, Any]:
        household: dict[str, Any] | None
        if visit.get("qr_token"):
            household = await self._households.by_qr_token(visit["qr_token"])
        elif visit.get("household_id"):
            household = await self._households.find(visit["household_id"])
        else:
            raise ValidationFailed(details=[{"field": "household_id", "message": "须提供住户或扫码所得的门牌"}])
        if household is None:
            raise NotFound("找不到该住户", details=[{"field": "household_id", "message": "找不到该住户"}])
        require_org_scope(principal, household["org_path"], "visit.record", "住户")
        return household

    async def search(
        self,
        principal: Principal,
        *,
        household_id: ObjectId | None,
        visitor_id: ObjectId | None,
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        query: dict[str, Any] = org_scope_filter(principal, "visit.view")
        if household_id is not None:
            query["household_id"] = household_id
        if visitor_id is not None:
            query["visitor_id"] = visitor_id
        window = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
        if window:
            query["visited_at"] = window
        total = await self._visits.count_documents(query)
        cursor = self._visits.find(query).sort([("visited_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def reach(self, article_id: ObjectId, roots: list[ObjectId]) -> dict[str, int]:
        """How far an article went on visits under `roots`: the visits that handed it out, the households."""
        visits = await self._visits.find(
            {"article_ids": article_id, "org_path": {"$in": roots}}, {"household_id": 1}
        ).to_list(None)
        return {"visits": len(visits), "households": len({v["household_id"] for v in visits})}

    async def recent(self, household_id: ObjectId, limit: int = 5) -> list[dict[str, Any]]:
        cursor = self._visits.find({"household_id": household_id}).sort([("visited_at", DESCENDING)]).limit(limit)
        return await cursor.to_list(None)

    async def coverage(
        self,
        principal: Principal,
        org_id: ObjectId | None,
        grid_worker_id: ObjectId | None,
        month: str | None,
        *,
        skip: int = 0,
        limit: int | None = None,
    ) -> Coverage:
        """Households under `org_id` (default: the caller's area), or under a grid worker's grids within it,
        and, of them, those nobody visited in `month` (local time; default: this month): how many, and a
        page of them by unit and address. Only the page's households are read whole."""
        org_ids = [org_id] if org_id else granted_orgs(principal, "visit.view")
        if grid_worker_id:
            org_ids = await self.grids_of(grid_worker_id, within=org_ids)
        month = month or self._ctx.clock.now().astimezone(self._ctx.tz).strftime("%Y-%m")
        for org_id in org_ids:
            await OrgService(self._ctx).get_in_scope(principal, org_id, "visit.view")
        start, end = month_bounds(month, self._ctx.tz)
        households = HouseholdService(self._ctx)
        in_area = [h["_id"] for h in await households.under(org_ids, ("_id",))]
        visited = set(
            await self._visits.distinct(
                "household_id", {"org_path": {"$in": org_ids}, "visited_at": {"$gte": start, "$lt": end}}
            )
        )
        not_visited = [h for h in in_area if h not in visited]
        end_at = None if limit is None else skip + limit
        page = await households.by_ids(not_visited[skip:end_at], ("address", "micro_grid_id", "org_path", "tags"))
        return Coverage(month, len(in_area), len(in_area) - len(not_visited), len(not_visited), page)

    async def households_visited(self, org_id: ObjectId, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Who visited which household under `org_id` in [start, end) for which purpose: one row per
        (visitor, household, purpose) with the household's path, from one aggregation."""
        pipeline = [
            {"$match": {"org_path": org_id, "visited_at": {"$gte": start, "$lt": end}}},
            {"$project": {"household_id": 1, "visitor_id": 1, "purposes": 1, "org_path": 1}},
            {"$unwind": "$purposes"},
            {
                "$group": {
                    "_id": {"visitor": "$visitor_id", "household": "$household_id", "purpose": "$purposes"},
                    "path": {"$first": "$org_path"},
                }
            },
        ]
        return await (await self._visits.aggregate(pipeline)).to_list(None)

    async def grids_of(self, user_id: ObjectId, *, within: list[ObjectId]) -> list[ObjectId]:
        """The units where a grid worker holds the role, as far as they overlap `within` (a grid inside the
        area, or a part of the area inside a grid)."""
        user = await UserService(self._ctx).find(user_id)
        grids = [g["org_id"] for g in (user or {}).get("grants", []) if g["role"] == "grid_worker"]
        if not grids:
            raise NotFound("找不到该网格员", code="no_such_grid_worker")
        units = await OrgService(self._ctx).by_ids([*grids, *within])
        area, held = set(within), set(grids)
        inside = [g for g in grids if g in units and area & set(units[g]["path"])]
        parts = [w for w in within if w in units and held & set(units[w]["path"]) and w not in inside]
        return inside + parts
