"""What the three sources report of their own work (`source_statistics`) and 民转刑 incidents
(`criminal_incidents`): the figures our cases cannot give.

Each month the police station reports its dispute-type calls (纠纷类警情), the court its civil filings
(民事诉讼立案), the petition office its petitions and irregular petitions (信访件数, 越级访), per town and
optionally per village. One row per unit, month and source: entering it again is a 409, a correction is an
explicit, audited update. A liaison enters only their own source for their own town; the town office and
the county enter any source in their area. 万人诉讼率 divides civil filings by the unit's population
(org unit; a town or county without one sums its villages' or towns'); no population, no figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.assessment.periods import MONTH_PATTERN, Period
from server.cases.repository import CaseRepository
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.scope import in_org_scope
from server.core.tables import read_rows
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

STATISTICS = "source_statistics"
INCIDENTS = "criminal_incidents"
indexes.declare(
    STATISTICS,
    IndexModel(
        [("unit_id", ASCENDING), ("month", ASCENDING), ("source", ASCENDING)], name="unit_month_source", unique=True
    ),
    IndexModel([("unit_path", ASCENDING), ("unit_kind", ASCENDING), ("month", ASCENDING)], name="path_kind_month"),
    IndexModel([("unit_path", ASCENDING), ("month", DESCENDING), ("_id", DESCENDING)], name="path_month_id"),
)
indexes.declare(
    INCIDENTS,
    IndexModel([("unit_path", ASCENDING), ("date", DESCENDING), ("_id", DESCENDING)], name="path_date_id"),
)

# What each source reports: count → its words.
SOURCE_COUNTS: dict[str, dict[str, str]] = {
    "police": {"dispute_calls": "纠纷类警情数"},
    "court": {"civil_filings": "民事诉讼立案数"},
    "petition": {"petitions": "信访件数", "irregular_petitions": "越级访件数"},
}
SOURCE_WORDS = {"police": "警源", "court": "诉源", "petition": "访源"}
COUNT_LABELS = {key: label for counts in SOURCE_COUNTS.values() for key, label in counts.items()}
REPORTING_KINDS = ("town", "village")
MAX_COUNT = 1_000_000
IMPORT_HEADERS = {
    "月份": "month",
    "单位": "unit",
    "来源": "source",
    **{label: key for key, label in COUNT_LABELS.items()},
}
SOURCE_NAMES = {**{v: k for k, v in SOURCE_WORDS.items()}, **{k: k for k in SOURCE_WORDS}}


def count_errors(source: str, counts: dict[str, Any], prefix: str = "counts") -> list[dict[str, str]]:
    """Each count of `source` present, a whole number, not negative, nothing another source reports."""
    errors = []
    wanted = SOURCE_COUNTS[source]
    for key in wanted:
        value = counts.get(key)
        if value is None:
            errors.append({"field": f"{prefix}.{key}", "message": f"请填写{wanted[key]}"})
        elif isinstance(value, bool) or not isinstance(value, int):
            errors.append({"field": f"{prefix}.{key}", "message": f"{wanted[key]}须为整数"})
        elif not 0 <= value <= MAX_COUNT:
            errors.append({"field": f"{prefix}.{key}", "message": f"{wanted[key]}须在 0 到 {MAX_COUNT} 之间"})
    for key in counts:
        if key not in wanted:
            errors.append({"field": f"{prefix}.{key}", "message": f"{SOURCE_WORDS[source]}不报送此项"})
    return errors


@dataclass(frozen=True)
class SourceTotals:
    """The sources' counts of one unit over the months of a period; None where nothing was reported."""

    counts: dict[str, int | None]
    months_reported: dict[str, int]  # source → how many of the period's months it reported


class SourceStatistics:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._rows = ctx.db[STATISTICS]
        self._incidents = ctx.db[INCIDENTS]
        self._orgs = OrgService(ctx)

    # ---- entering -----------------------------------------------------------------------------------------
    async def _unit(self, principal: Principal, unit_id: ObjectId, source: str, field: str = "unit_id") -> dict:
        unit = await self._orgs.find(unit_id)
        if unit is None or unit["kind"] not in REPORTING_KINDS or not self.may_enter(principal, unit, source):
            raise NotFound("找不到该单位", details=[{"field": field, "message": "请选择本镇或本村（社区）"}])
        return unit

    @staticmethod
    def may_enter(principal: Principal, unit: dict[str, Any], source: str) -> bool:
        """A liaison for `source` in the unit's town, or an admin over the unit."""
        for grant in principal.grants:
            if (
                grant.role == "liaison"
                and grant.liaison_for == source
                and grant.town_id
                and ObjectId(grant.town_id) in unit["path"]
            ) or (
                grant.role in ("town_admin", "county_admin") and grant.org_id and ObjectId(grant.org_id) in unit["path"]
            ):
                return True
        return False

    def _row(self, principal: Principal, unit: dict[str, Any], month: str, source: str, counts: dict) -> dict:
        now = self._ctx.clock.now()
        town_id = unit["_id"] if unit["kind"] == "town" else unit.get("parent_id")
        return {
            "_id": ObjectId(),
            "unit_id": unit["_id"],
            "unit_kind": unit["kind"],
            "unit_path": unit["path"],
            "town_id": town_id,
            "month": month,
            "source": source,
            "counts": counts,
            "entered_by": ObjectId(principal.user_id),
            "entered_at": now,
            "version": 1,
            "corrections": [],
        }

    async def enter(
        self, principal: Principal, unit_id: ObjectId, month: str, source: str, counts: dict[str, Any]
    ) -> dict[str, Any]:
        errors = count_errors(source, counts)
        if errors:
            raise ValidationFailed(details=errors)
        unit = await self._unit(principal, unit_id, source)
        row = self._row(principal, unit, month, source, counts)
        try:
            await self._rows.insert_one(row)
        except DuplicateKeyError:
            raise Conflict(
                f"{unit['name']} {month} 的{SOURCE_WORDS[source]}统计已录入，如需更正请修改原记录",
                code="statistics_exist",
            ) from None
        await self._ctx.audit.record_for(
            principal,
            "statistics.enter",
            "source_statistics",
            row["_id"],
            row["entered_at"],
            {"month": month, "source": source},
        )
        return row

    async def correct(
        self, principal: Principal, row_id: ObjectId, counts: dict[str, Any], reason: str, version: int | None
    ) -> dict[str, Any]:
        row = await self.get(principal, row_id)
        if not self.may_enter(principal, row | {"path": row["unit_path"]}, row["source"]):
            raise Forbidden("只能更正本人来源的统计", code="statistics_other_source")
        errors = count_errors(row["source"], counts)
        if errors:
            raise ValidationFailed(details=errors)
        now = self._ctx.clock.now()
        correction = {"by": ObjectId(principal.user_id), "at": now, "reason": reason, "before": row["counts"]}
        expected = row["version"] if version is None else version
        updated = await self._rows.find_one_and_update(
            {"_id": row_id, "version": expected},
            {"$set": {"counts": counts}, "$inc": {"version": 1}, "$push": {"corrections": correction}},
            return_document=True,
        )
        if updated is None:
            raise Conflict("统计已被他人更正，请刷新后重试", code="statistics_version_conflict")
        await self._ctx.audit.record_for(
            principal,
            "statistics.correct",
            "source_statistics",
            row_id,
            now,
            {"reason": reason, "before": row["counts"], "after": counts},
        )
        return updated

    async def get(self, principal: Principal, row_id: ObjectId) -> dict[str, Any]:
        row = await self._rows.find_one({"_id": row_id})
        if row is None or not self._sees(principal, row):
            raise NotFound("找不到该统计")
        return row

    def _sees(self, principal: Principal, row: dict[str, Any]) -> bool:
        return in_org_scope(principal, row["unit_path"], "assessment.view") or self.may_enter(
            principal, {"path": row["unit_path"]}, row["source"]
        )

    async def search(
        self, principal: Principal, *, unit_id: ObjectId | None, source: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Rows in the caller's area (a liaison: their own source in their town), newest month first."""
        areas = self._areas(principal)
        if not areas:
            raise Forbidden()
        query: dict[str, Any] = (
            {"unit_path": unit_id} if unit_id else {"unit_path": {"$in": sorted({a for a, _ in areas})}}
        )
        if source:
            query["source"] = source
        rows = await self._rows.find(query).sort([("month", DESCENDING), ("_id", DESCENDING)]).to_list(None)
        visible = [r for r in rows if any(a in r["unit_path"] and s in (None, r["source"]) for a, s in areas)]
        return visible[skip : skip + limit], len(visible)

    @staticmethod
    def _areas(principal: Principal) -> list[tuple[ObjectId, str | None]]:
        """(unit, source or None for any) the caller reads statistics of."""
        areas: list[tuple[ObjectId, str | None]] = [
            (ObjectId(g.town_id), g.liaison_for) for g in principal.grants if g.role == "liaison" and g.town_id
        ]
        areas += [(ObjectId(o), None) for o in principal.orgs_with("assessment.view")]
        return areas

    async def import_rows(self, principal: Principal, data: bytes, content_type: str) -> list[dict[str, Any]]:
        """A sheet of monthly rows (月份, 单位, 来源 and the counts of that source), all or nothing: a bad row
        is a 422 naming the row and column, a row already entered (or twice in the sheet) a 409 naming it."""
        rows = read_rows(data, content_type, IMPORT_HEADERS, ("month", "unit", "source"))
        units = await self._units_by_name(principal)
        errors: list[dict[str, str]] = []
        docs: list[dict[str, Any]] = []
        seen: dict[tuple[Any, ...], int] = {}
        duplicates: list[dict[str, str]] = []
        for number, raw in enumerate(rows, start=2):
            where = f"第 {number} 行"
            month, source = raw.get("month", ""), SOURCE_NAMES.get(raw.get("source", ""))
            if not re.match(MONTH_PATTERN, month):
                errors.append({"field": f"row {number}.月份", "message": f"{where}：月份格式应为 2026-10"})
            if source is None:
                errors.append({"field": f"row {number}.来源", "message": f"{where}：来源应为 警源、诉源 或 访源"})
                continue
            unit = units.get(raw.get("unit", ""))
            if unit is None or not self.may_enter(principal, unit, source):
                errors.append({"field": f"row {number}.单位", "message": f"{where}：找不到本镇的这个单位"})
                continue
            counts: dict[str, Any] = {}
            for key, label in SOURCE_COUNTS[source].items():
                text = raw.get(key, "")
                if not text.lstrip("-").isdigit():
                    errors.append({"field": f"row {number}.{label}", "message": f"{where}：{label}须为非负整数"})
                    continue
                counts[key] = int(text)
            for error in count_errors(source, counts, prefix=f"row {number}"):
                if error["field"].split(".")[-1] in counts:
                    label = COUNT_LABELS[error["field"].split(".")[-1]]
                    errors.append({"field": f"row {number}.{label}", "message": f"{where}：{error['message']}"})
            identity = (unit["_id"], month, source)
            if identity in seen:
                duplicates.append({"field": f"row {number}", "message": f"{where}与第 {seen[identity]} 行重复"})
            seen[identity] = number
            docs.append(self._row(principal, unit, month, source, counts) | {"_row": number})
        if errors:
            raise ValidationFailed("导入文件有错误，未导入任何一行", code="import_rows", details=errors)
        existing = await self._rows.find(
            {
                "unit_id": {"$in": list({d["unit_id"] for d in docs})},
                "month": {"$in": list({d["month"] for d in docs})},
            },
            {"unit_id": 1, "month": 1, "source": 1},
        ).to_list(None)
        entered = {(r["unit_id"], r["month"], r["source"]) for r in existing}
        duplicates += [
            {
                "field": f"row {d['_row']}",
                "message": f"第 {d['_row']} 行：该单位该月的{SOURCE_WORDS[d['source']]}统计已录入",
            }
            for d in docs
            if (d["unit_id"], d["month"], d["source"]) in entered
        ]
        if duplicates:
            raise Conflict(
                "导入文件中有已录入的统计，未导入任何一行；更正请修改原记录",
                code="statistics_exist",
                details=duplicates,
            )
        for doc in docs:
            del doc["_row"]
        if docs:
            try:
                await self._rows.insert_many(docs, ordered=True)
            except (BulkWriteError, DuplicateKeyError):
                # Someone entered one of these rows meanwhile: take back what this import wrote, all or nothing.
                await self._rows.delete_many(
                    {"_id": {"$in": [d["_id"] for d in docs]}, "entered_at": docs[0]["entered_at"]}
                )
                raise Conflict(
                    "有统计在导入时已被他人录入，未导入任何一行，请重新导入", code="statistics_exist"
                ) from None
            now = self._ctx.clock.now()
            await self._ctx.audit.record_for(
                principal, "statistics.import", "source_statistics", docs[0]["_id"], now, {"rows": len(docs)}
            )
        return docs

    async def _units_by_name(self, principal: Principal) -> dict[str, dict[str, Any]]:
        """The towns and villages the caller may report for, by name (a name shared by two is left out)."""
        towns = {ObjectId(g.town_id) for g in principal.grants if g.role == "liaison" and g.town_id}
        towns |= {ObjectId(o) for o in principal.orgs_with("statistics.enter")}
        found: dict[str, dict[str, Any]] = {}
        shared: set[str] = set()
        for kind in REPORTING_KINDS:
            for unit in await self._orgs.of_kind(kind):
                if towns.isdisjoint(unit["path"]):
                    continue
                if unit["name"] in found:
                    shared.add(unit["name"])
                found[unit["name"]] = unit
        return {name: unit for name, unit in found.items() if name not in shared}

    # ---- the figures --------------------------------------------------------------------------------------
    async def totals(self, unit: dict[str, Any], periods: list[Period]) -> list[SourceTotals]:
        """Each period's sums for `unit` (a village: its own rows; a town or county: the towns' rows), in one
        aggregation over the months of all the periods."""
        kind = "village" if unit["kind"] == "village" else "town"
        months = sorted({m for p in periods for m in p.months()})
        pipeline = [
            {"$match": {"unit_path": unit["_id"], "unit_kind": kind, "month": {"$in": months}}},
            {"$project": {"source": 1, "month": 1, "counts": 1}},
            {
                "$group": {
                    "_id": {"source": "$source", "month": "$month"},
                    "rows": {"$sum": 1},
                    **{key: {"$sum": f"$counts.{key}"} for key in COUNT_LABELS},
                }
            },
        ]
        grouped = await (await self._rows.aggregate(pipeline)).to_list(None)
        found = []
        for period in periods:
            inside = set(period.months())
            counts: dict[str, int | None] = dict.fromkeys(COUNT_LABELS)
            reported: dict[str, int] = dict.fromkeys(SOURCE_COUNTS, 0)
            for group in grouped:
                if group["_id"]["month"] not in inside:
                    continue
                source = group["_id"]["source"]
                reported[source] += 1
                for key in SOURCE_COUNTS[source]:
                    counts[key] = (counts[key] or 0) + int(group[key])
            found.append(SourceTotals(counts, reported))
        return found

    async def population(self, unit: dict[str, Any]) -> int:
        """The unit's population, else the sum of its villages' (a town) or towns' (a county)."""
        if unit.get("population"):
            return int(unit["population"])
        below = {"town": "village", "county": "town"}.get(unit["kind"])
        if below is None:
            return 0
        return sum(int(u.get("population") or 0) for u in await self._orgs.of_kind(below, under=unit["_id"]))

    # ---- 民转刑 -------------------------------------------------------------------------------------------
    async def incident_unit(self, principal: Principal, unit_id: ObjectId | None) -> dict[str, Any]:
        """A town or village where the caller records 民转刑 (a police liaison: their own town, by default)."""
        if unit_id is None:
            towns = [g.town_id for g in principal.grants if g.role == "liaison" and g.liaison_for == "police"]
            unit_id = ObjectId(towns[0]) if towns and towns[0] else None
        unit = await self._orgs.find(unit_id) if unit_id else None
        if unit is None or unit["kind"] not in REPORTING_KINDS or not self.may_enter(principal, unit, "police"):
            raise NotFound("找不到该单位", details=[{"field": "unit_id", "message": "请选择本镇或本村（社区）"}])
        return unit

    async def record_incident(self, principal: Principal, fields: dict[str, Any]) -> dict[str, Any]:
        unit = await self.incident_unit(principal, fields["unit_id"])
        if fields.get("case_id") is not None:
            case = await CaseRepository(self._ctx.db).get(fields["case_id"])
            if case is None or unit["_id"] not in case["location_path"]:
                raise NotFound("找不到该案件", details=[{"field": "case_id", "message": "该单位没有这件案件"}])
        now = self._ctx.clock.now()
        day: date = fields["date"]
        incident = {
            "_id": ObjectId(),
            "unit_id": unit["_id"],
            "unit_path": unit["path"],
            "date": datetime(day.year, day.month, day.day, tzinfo=self._ctx.tz),
            "place": fields["place"],
            "case_id": fields.get("case_id"),
            "summary": fields["summary"],
            "recorded_by": ObjectId(principal.user_id),
            "recorded_at": now,
        }
        await self._incidents.insert_one(incident)
        await self._ctx.audit.record_for(principal, "incident.record", "criminal_incident", incident["_id"], now, {})
        return incident

    async def incidents(self, unit_id: ObjectId, period: Period) -> list[dict[str, Any]]:
        query = {"unit_path": unit_id, "date": {"$gte": period.start, "$lt": period.end}}
        return await self._incidents.find(query).sort([("date", DESCENDING), ("_id", DESCENDING)]).to_list(None)

    async def incident_count(self, unit_id: ObjectId, period: Period) -> int:
        return await self._incidents.count_documents(
            {"unit_path": unit_id, "date": {"$gte": period.start, "$lt": period.end}}
        )
