"""Assessment schemes (`assessment_schemes`), bonus items (`assessment_bonuses`) and runs (`assessment_runs`).

The county sets a scheme per year (each save is a new version, audited). A run scores the units under one
scope for one period — the county's towns, or a town's villages — under the county's scheme for the
period's year, ranks them, and keeps the scheme as it was, its version and every figure it used. While the
period is still running a run may be computed again; once the period has ended, the first run computed
after its end is final and running it again returns it unchanged (a closed period's result never moves,
even if a case is reopened later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.assessment.figures import FigureService
from server.assessment.periods import Period
from server.assessment.scoring import DEFAULT_SCHEME, rank, scheme_errors, score
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

SCHEMES = "assessment_schemes"
BONUSES = "assessment_bonuses"
RUNS = "assessment_runs"
indexes.declare(SCHEMES, IndexModel([("county_id", ASCENDING), ("year", ASCENDING)], name="county_year", unique=True))
indexes.declare(
    BONUSES,
    IndexModel([("unit_path", ASCENDING), ("period", ASCENDING), ("_id", ASCENDING)], name="path_period_id"),
)
indexes.declare(
    RUNS,
    IndexModel([("scope_id", ASCENDING), ("period", ASCENDING)], name="scope_period", unique=True),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="path_created_id"),
)
CHILD_KIND = {"county": "town", "town": "village"}


class SchemeService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._schemes = ctx.db[SCHEMES]

    async def county_of(self, principal: Principal, county_id: ObjectId | None, capability: str) -> dict[str, Any]:
        """The county a caller names (default: the county of their first grant in scope)."""
        orgs = OrgService(self._ctx)
        if county_id is None:
            home = await orgs.home(principal, capability, ("county",))
            if home is None:
                raise NotFound("找不到该县")
            county_id = home["_id"]
        county = await orgs.find(county_id)
        if county is None or county["kind"] != "county":
            raise NotFound("找不到该县", details=[{"field": "county_id", "message": "请选择县"}])
        return county

    async def get(self, county_id: ObjectId, year: int) -> dict[str, Any]:
        """The county's scheme for `year`, or the built-in default (version 0) when none was saved."""
        found = await self._schemes.find_one({"county_id": county_id, "year": year})
        return found or {"county_id": county_id, "year": year, "version": 0, **DEFAULT_SCHEME, "updated_at": None}

    async def save(
        self, principal: Principal, county_id: ObjectId, year: int, scheme: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        county = await OrgService(self._ctx).get_in_scope(principal, county_id, "assessment.scheme")
        errors = scheme_errors(scheme)
        if errors:
            raise ValidationFailed(details=errors)
        now = self._ctx.clock.now()
        saved = await self._schemes.find_one_and_update(
            {"county_id": county["_id"], "year": year},
            {
                "$set": {**scheme, "updated_by": ObjectId(principal.user_id), "updated_at": now},
                "$inc": {"version": 1},
                "$setOnInsert": {"_id": ObjectId(), "county_id": county["_id"], "year": year},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        await self._ctx.audit.record_for(
            principal, "assessment.scheme", SCHEMES, saved["_id"], now, {"year": year, "version": saved["version"]}
        )
        return saved, saved["version"] == 1


class BonusService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._bonuses = ctx.db[BONUSES]

    async def add(self, principal: Principal, fields: dict[str, Any], period: Period) -> dict[str, Any]:
        """A bonus item for a unit, entered by its assessor (the county for a town, the town for a village)."""
        unit = await OrgService(self._ctx).find(fields["unit_id"])
        if (
            unit is None
            or unit["kind"] not in ("town", "village")
            or not in_org_scope(principal, unit["path"][:-1], "assessment.run")
        ):
            raise NotFound("找不到该单位", details=[{"field": "unit_id", "message": "请选择本级考核的镇或村"}])
        now = self._ctx.clock.now()
        bonus = {
            "_id": ObjectId(),
            "unit_id": unit["_id"],
            "unit_path": unit["path"],
            "period": period.label,
            "points": fields["points"],
            "reason": fields["reason"],
            "evidence": fields["evidence"],
            "by": ObjectId(principal.user_id),
            "at": now,
        }
        await self._bonuses.insert_one(bonus)
        await self._ctx.audit.record_for(principal, "assessment.bonus", BONUSES, bonus["_id"], now, {})
        return bonus

    async def of_period(self, scope_id: ObjectId, period: str) -> list[dict[str, Any]]:
        cursor = self._bonuses.find({"unit_path": scope_id, "period": period}).sort([("_id", ASCENDING)])
        return await cursor.to_list(None)


class RunService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._runs = ctx.db[RUNS]
        self._figures = FigureService(ctx)

    async def run(self, principal: Principal, scope_id: ObjectId | None, period: Period) -> tuple[dict[str, Any], bool]:
        """Score the scope's towns or villages for `period`; (run, whether it was computed now)."""
        scope = await self.scope(principal, scope_id)
        existing = await self._runs.find_one({"scope_id": scope["_id"], "period": period.label})
        if existing is not None and existing["final"]:
            return existing, False
        now = self._ctx.clock.now()
        county_id = scope["path"][0]
        scheme = await SchemeService(self._ctx).get(county_id, period.first.year)
        snapshot = {k: scheme[k] for k in ("indicators", "deductions", "bonus_cap")}
        units = sorted(
            await OrgService(self._ctx).of_kind(CHILD_KIND[scope["kind"]], under=scope["_id"]), key=lambda u: u["name"]
        )
        bonuses = await BonusService(self._ctx).of_period(scope["_id"], period.label)
        results = []
        for unit in units:
            figures = await self._figures.all(unit, period)
            mine = [b for b in bonuses if b["unit_id"] == unit["_id"]]
            results.append(
                {"unit_id": unit["_id"], "name": unit["name"], "figures": figures, "bonus": mine}
                | score(snapshot, figures, mine)
            )
        for result, place in zip(results, rank([r["total"] for r in results]), strict=True):
            result["rank"] = place
        run = {
            "scope_id": scope["_id"],
            "scope_name": scope["name"],
            "scope_kind": scope["kind"],
            "org_path": scope["path"],
            "period": period.label,
            "final": period.ended(now),
            "scheme": snapshot,
            "scheme_version": scheme["version"],
            "scheme_year": period.first.year,
            "units": sorted(results, key=lambda r: (r["rank"], r["name"])),
            "by": ObjectId(principal.user_id),
            "created_at": now,
        }
        try:
            saved = await self._runs.find_one_and_update(
                {"scope_id": scope["_id"], "period": period.label, "final": {"$ne": True}},
                {"$set": run, "$setOnInsert": {"_id": ObjectId()}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # another run of the same closed period was final first: it stands
            final = await self._runs.find_one({"scope_id": scope["_id"], "period": period.label})
            return final, False
        await self._ctx.audit.record_for(principal, "assessment.run", RUNS, saved["_id"], now, {"period": period.label})
        return saved, True

    async def scope(self, principal: Principal, scope_id: ObjectId | None) -> dict[str, Any]:
        """The county or town a caller assesses (default: their own)."""
        orgs = OrgService(self._ctx)
        if scope_id is None:
            home = await orgs.home(principal, "assessment.run", tuple(CHILD_KIND))
            if home is None:
                raise NotFound("找不到考核范围")
            scope_id = home["_id"]
        scope = await orgs.get_in_scope(principal, scope_id, "assessment.run")
        if scope["kind"] not in CHILD_KIND:
            raise ValidationFailed(
                details=[{"field": "scope_id", "message": "考核范围须为县（考核各镇）或镇（考核各村）"}]
            )
        return scope

    async def get(self, principal: Principal, run_id: ObjectId) -> dict[str, Any]:
        run = await self._runs.find_one({"_id": run_id})
        if run is None or not in_org_scope(principal, run["org_path"], "assessment.view"):
            raise NotFound("找不到该考核结果")
        return run

    async def search(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = org_scope_filter(principal, "assessment.view")
        total = await self._runs.count_documents(query)
        cursor = self._runs.find(query, {"units.figures": 0}).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return await cursor.skip(skip).limit(limit).to_list(None), total
