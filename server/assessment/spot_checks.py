"""抽查回访 (`spot_checks`, `spot_check_items`): a supervisor phones a random sample of closed cases.

The sample is reproducible: stratified by village and outcome (each stratum's share of the sample is its
share of the cases, largest remainders first), drawn with a seeded generator over the cases in number order;
the seed is recorded, so anyone can draw the same sample again. Each call's result is recorded once. A
resident who says the recorded outcome is not what happened, or that they are not satisfied with a case
recorded as satisfied, flags the case and tells the town office (through the case's own notices). The share
of reached residents who confirmed the outcome is an assessment figure.
"""

from __future__ import annotations

import random
import secrets
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.assessment.periods import Period
from server.cases.model import notice, timeline_event
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

CHECKS = "spot_checks"
ITEMS = "spot_check_items"
indexes.declare(
    CHECKS,
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="scope_created_id"),
)
indexes.declare(
    ITEMS,
    IndexModel([("check_id", ASCENDING), ("number", ASCENDING)], name="check_number"),
    IndexModel([("check_id", ASCENDING), ("case_id", ASCENDING)], name="check_case", unique=True),
    IndexModel([("unit_path", ASCENDING), ("result_at", ASCENDING)], name="path_result_at"),
)
MAX_SAMPLE = 500


def allocate(strata: dict[Any, int], size: int) -> dict[Any, int]:
    """How many to draw from each stratum: proportional, the remainders given out largest first (ties by
    the stratum's key, so the same cases always give the same allocation)."""
    total = sum(strata.values())
    size = min(size, total)
    if not total:
        return {}
    exact = {key: count * size / total for key, count in strata.items()}
    given = {key: int(share) for key, share in exact.items()}
    left = size - sum(given.values())
    for key in sorted(exact, key=lambda k: (-(exact[k] - given[k]), str(k)))[:left]:
        given[key] += 1
    return given


def draw(cases: list[dict[str, Any]], size: int, seed: int) -> list[dict[str, Any]]:
    """The sample: `size` cases stratified by (village, outcome), reproducible from `seed`."""
    strata: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for case in sorted(cases, key=lambda c: c["number"]):
        strata[(str(case.get("village_id")), (case.get("outcome") or {}).get("type") or "")].append(case)
    shares = allocate({key: len(members) for key, members in strata.items()}, size)
    generator = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    sample: list[dict[str, Any]] = []
    for key in sorted(strata):
        sample += generator.sample(strata[key], shares.get(key, 0))
    return sorted(sample, key=lambda c: c["number"])


def mismatch(case: dict[str, Any], result: dict[str, Any]) -> bool:
    """The call contradicts the record: the outcome denied, or dissatisfaction where satisfaction is recorded."""
    if not result["reached"]:
        return False
    return result.get("confirms_outcome") is False or (
        result.get("satisfied") is False and case.get("satisfied") is True
    )


class SpotCheckService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._checks = ctx.db[CHECKS]
        self._items = ctx.db[ITEMS]
        self._cases = CaseRepository(ctx.db)

    async def draw(
        self,
        principal: Principal,
        unit_id: ObjectId | None,
        period: Period,
        *,
        size: int | None,
        share: float | None,
        seed: int | None,
    ) -> dict[str, Any]:
        orgs = OrgService(self._ctx)
        if unit_id is None:  # the caller's own area
            home = await orgs.home(principal, "spot_check.run", ("village", "town", "county"))
            if home is None:
                raise ValidationFailed(details=[{"field": "unit_id", "message": "请选择抽查的村（社区）、镇或县"}])
            unit_id = home["_id"]
        unit = await orgs.get_in_scope(principal, unit_id, "spot_check.run")
        if unit["kind"] not in ("village", "town", "county"):
            raise ValidationFailed(details=[{"field": "unit_id", "message": "请选择村（社区）、镇或县"}])
        closed = await self._cases.closed_in(unit["_id"], period.start, period.end)
        wanted = size if size is not None else round(len(closed) * (share or 0))
        if not closed or wanted < 1:
            raise Conflict("该周期没有可抽查的已办结案件", code="nothing_to_sample")
        seed = seed if seed is not None else secrets.randbelow(2**31)
        sample = draw(closed, min(wanted, MAX_SAMPLE), seed)
        now = self._ctx.clock.now()
        check = {
            "_id": ObjectId(),
            "unit_id": unit["_id"],
            "unit_name": unit["name"],
            "org_path": unit["path"],
            "period": period.label,
            "size": len(sample),
            "asked": {"size": size, "share": share},
            "population": len(closed),
            "seed": seed,
            "by": ObjectId(principal.user_id),
            "created_at": now,
        }
        items = [
            {
                "_id": ObjectId(),
                "check_id": check["_id"],
                "case_id": case["_id"],
                "number": case["number"],
                "village_id": case.get("village_id"),
                "outcome": (case.get("outcome") or {}).get("type"),
                "unit_path": case["location_path"],
                "result": None,
                "result_at": None,
            }
            for case in sample
        ]
        await self._checks.insert_one(check)
        await self._items.insert_many(items)
        await self._ctx.audit.record_for(principal, "spot_check.draw", CHECKS, check["_id"], now, {"seed": seed})
        return check

    async def get(self, principal: Principal, check_id: ObjectId) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        check = await self._checks.find_one({"_id": check_id})
        if check is None or not in_org_scope(principal, check["org_path"], "spot_check.run"):
            raise NotFound("找不到该抽查")
        items = await self._items.find({"check_id": check_id}).sort([("number", ASCENDING)]).to_list(None)
        return check, items

    async def search(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "spot_check.run")
        total = await self._checks.count_documents(query)
        cursor = self._checks.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total

    async def record(
        self, principal: Principal, check_id: ObjectId, case_id: ObjectId, result: dict[str, Any]
    ) -> dict[str, Any]:
        """One call's result, once; a contradiction flags the case and tells the town office."""
        check, _ = await self.get(principal, check_id)
        now = self._ctx.clock.now()
        if result["reached"] and result.get("confirms_outcome") is None:
            raise ValidationFailed(
                details=[{"field": "confirms_outcome", "message": "联系上当事人时须填写是否认可办理结果"}]
            )
        case = await self._cases.get(case_id)
        if case is None:
            raise NotFound("找不到该案件")
        flagged = mismatch(case, result)
        record = result | {"by": ObjectId(principal.user_id), "at": now, "mismatch": flagged}
        item = await self._items.find_one_and_update(
            {"check_id": check["_id"], "case_id": case_id, "result": None},
            {"$set": {"result": record, "result_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        if item is None:
            if await self._items.find_one({"check_id": check["_id"], "case_id": case_id}) is None:
                raise NotFound("该案件不在本次抽查样本中")
            raise Conflict("该案件的回访结果已记录", code="spot_check_recorded")
        if flagged:
            flag = {"check_id": check["_id"], "at": now, "note": result.get("note") or ""}
            note = "抽查回访：当事人" + ("不认可办理结果" if result.get("confirms_outcome") is False else "表示不满意")
            event = timeline_event(
                ObjectId(principal.user_id),
                "spot_check_mismatch",
                case["state"],
                case["state"],
                note,
                now,
                public=False,
            )
            told = notice("spot_check_mismatch", "office", now, case)
            await self._cases.note(
                case_id, {"$set": {"spot_check": flag}, "$push": {"timeline": event, "notifications": told}}
            )
        await self._ctx.audit.record_for(
            principal, "spot_check.record", CHECKS, check["_id"], now, {"case_id": str(case_id)}
        )
        return item

    async def figure(self, unit_id: ObjectId, period: Period) -> tuple[int, int]:
        """(confirmed, reached) among the calls recorded in `period` about cases of `unit_id`."""
        pipeline = [
            {"$match": {"unit_path": unit_id, "result_at": {"$gte": period.start, "$lt": period.end}}},
            {"$project": {"result": 1}},
            {"$match": {"result.reached": True}},
            {"$group": {"_id": "$result.confirms_outcome", "n": {"$sum": 1}}},
        ]
        counts = {row["_id"]: row["n"] async for row in await self._items.aggregate(pipeline)}
        return counts.get(True, 0), sum(counts.values())

    async def cases_checked(self, unit_id: ObjectId, period: Period, *, confirmed: bool | None) -> list[ObjectId]:
        query: dict[str, Any] = {"unit_path": unit_id, "result_at": {"$gte": period.start, "$lt": period.end}}
        query["result.reached"] = True
        if confirmed is not None:
            query["result.confirms_outcome"] = confirmed
        return [item["case_id"] for item in await self._items.find(query, {"case_id": 1}).to_list(None)]
