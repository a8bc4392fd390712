"""The assessment's figures from the platform's own cases (考核指标), per org unit and period.

A unit's cases are those that arose in it (`location_path`: its villages, micro-grids and households),
whichever unit handled them, so a village is measured on the disputes of its own people. Each figure is
data: the date it counts cases by, the cases it counts (`base`, its denominator), the part that counts
for it (`hit`, its numerator) — one aggregation per figure, served by the `location_*` indexes of
`server/cases/repository.py` — and the same two filters list the cases behind the number, so a figure
and its list always agree.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from bson import ObjectId

from server.assessment.periods import Period
from server.assessment.spot_checks import SpotCheckService
from server.assessment.statistics import COUNT_LABELS, SOURCE_COUNTS, SOURCE_WORDS, SourceStatistics
from server.assessment.supervision import SupervisionService
from server.cases.repository import WATCHED_STATES, CaseRepository
from server.core.auth import Principal
from server.core.errors import NotFound, ValidationFailed
from server.core.scope import granted_orgs, in_org_scope
from server.core.vocabulary import (
    CATEGORIES,
    CHANNEL_LABELS,
    CONCLUDE_OUTCOMES,
    REFER_OUT_OUTCOMES,
    SOURCE_LABELS,
    TIER_LABELS,
)
from server.orgs.tree import OrgService
from server.people.users import UserService
from server.places.households import HouseholdService
from server.places.visits import VisitService

if TYPE_CHECKING:
    from server.core.context import Context

Kind = Literal["rate", "count", "part", "average"]
ASSESSED_KINDS = ("village", "town", "county")
NOW = "$$NOW"  # in a filter: the moment the figure is computed
DAY_MS = 86_400_000
CONCLUDED = {"outcome.type": {"$in": list(CONCLUDE_OUTCOMES)}}
WORKING = {"state": {"$in": list(WATCHED_STATES)}}


@dataclass(frozen=True)
class CaseFigure:
    """One figure over a unit's cases: `kind` rate = hits / total, count = total, part = hits (of total),
    average = the mean of `average` over the total."""

    key: str
    label: str
    kind: Kind
    when: str | None  # the case date the period applies to; None: the cases as they stand now
    base: dict[str, Any]
    hit: dict[str, Any] | None = None
    miss: dict[str, Any] | None = None  # the cases that pull the figure the wrong way (listed under red figures)
    average: Any = None
    numerator: str = ""
    denominator: str = ""
    unit: str = ""
    better: Literal["higher", "lower"] = "higher"
    zero_goal: bool = False  # any occurrence turns the figure red
    fields: tuple[str, ...] = field(default=())  # what `average` reads
    per_case: bool = False  # about the sources (each case counts); otherwise 一件事 counts once (its lead)


CASE_FIGURES: tuple[CaseFigure, ...] = (
    CaseFigure(
        "received",
        "收案数",
        "count",
        "created_at",
        {"state": {"$ne": "draft"}},
        numerator="期内登记的案件（不含未提交的草稿），各来源、渠道均计",
        unit="件",
        per_case=True,
    ),
    CaseFigure(
        "disputes_received",
        "纠纷件数（一件事计一次）",
        "count",
        "created_at",
        {"state": {"$ne": "draft"}},
        numerator="期内登记的纠纷：关联为一件事的多个来源的案件只计主案",
        unit="件",
    ),
    CaseFigure(
        "accepted_on_time",
        "按时签收率",
        "rate",
        "accepted_at",
        {},
        {"accept_on_time": True},
        {"accept_on_time": False},
        numerator="在签收期限内签收的案件",
        denominator="期内签收的案件",
        unit="%",
    ),
    CaseFigure(
        "concluded_on_time",
        "按期办结率",
        "rate",
        "concluded_at",
        CONCLUDED,
        {"on_time": True},
        {"on_time": False},
        numerator="在办结期限内结束调解的案件",
        denominator="期内结束调解的案件（调解成功、不成引导、移交）",
        unit="%",
    ),
    CaseFigure(
        "agreement_rate",
        "调解成功率",
        "rate",
        "concluded_at",
        CONCLUDED,
        {"outcome.type": "agreement"},
        {"outcome.type": {"$ne": "agreement"}},
        numerator="达成调解协议的案件",
        denominator="期内结束调解的案件（不含撤回、不予受理）",
        unit="%",
    ),
    CaseFigure(
        "satisfaction_rate",
        "回访满意率",
        "rate",
        "followed_up_at",
        {"satisfied": {"$in": [True, False]}},
        {"satisfied": True},
        {"satisfied": False},
        numerator="最近一次回访满意的案件",
        denominator="期内回访的案件",
        unit="%",
    ),
    CaseFigure(
        "average_rating",
        "群众评价平均星数",
        "average",
        "followed_up_at",
        {"rating.stars": {"$gte": 1}},
        average="$rating.stars",
        fields=("rating",),
        numerator="群众评价的星数之和",
        denominator="期内回访且群众作了评价的案件",
        unit="星",
    ),
    CaseFigure(
        "village_resolution",
        "小事不出村率",
        "rate",
        "concluded_at",
        CONCLUDED | {"source": "grassroots"},
        {"tier": "village"},
        {"tier": {"$ne": "village"}},
        numerator="在村一级结束调解的案件",
        denominator="期内结束调解的基层来源案件（群众上报、走访发现、来访来电）",
        unit="%",
    ),
    CaseFigure(
        "town_resolution",
        "大事不出镇率",
        "rate",
        "concluded_at",
        CONCLUDED,
        {"tier": {"$in": ["village", "town"]}},
        {"tier": "county"},
        numerator="在村、镇两级结束调解的案件",
        denominator="期内结束调解的案件",
        unit="%",
    ),
    CaseFigure(
        "county_resolution",
        "难事不出县率（矛盾不上交）",
        "rate",
        "concluded_at",
        CONCLUDED,
        {"outcome.type": {"$nin": list(REFER_OUT_OUTCOMES)}},
        {"outcome.type": {"$in": list(REFER_OUT_OUTCOMES)}},
        numerator="在县域内化解、未移交诉讼、仲裁或行政机关的案件",
        denominator="期内结束调解的案件",
        unit="%",
    ),
    CaseFigure(
        "average_days",
        "平均办结天数",
        "average",
        "concluded_at",
        CONCLUDED,
        average={"$divide": [{"$subtract": ["$concluded_at", "$created_at"]}, DAY_MS]},
        fields=("concluded_at", "created_at"),
        numerator="从登记到结束调解的天数之和",
        denominator="期内结束调解的案件",
        unit="天",
        better="lower",
    ),
    CaseFigure(
        "open_now",
        "在办案件数",
        "count",
        None,
        WORKING,
        numerator="当前尚未办结的案件（已登记至待回访）",
        unit="件",
        better="lower",
    ),
    CaseFigure(
        "overdue_now",
        "当前超期案件数",
        "part",
        None,
        WORKING,
        {"next_due": {"$lt": NOW}},
        {"next_due": {"$lt": NOW}},
        numerator="有期限已过的在办案件",
        denominator="当前在办案件",
        unit="件",
        better="lower",
        zero_goal=True,
    ),
    CaseFigure(
        "supervised_on_time",
        "督办案件按期办结率",
        "rate",
        "concluded_at",
        CONCLUDED | {"supervised": {"$ne": None}},
        {"supervised_on_time": True},
        {"supervised_on_time": False},
        numerator="在督办期限内结束调解的督办案件",
        denominator="期内结束调解的督办案件",
        unit="%",
    ),
    CaseFigure(
        "supervised_overdue",
        "督办超期案件数",
        "part",
        None,
        WORKING | {"supervised": {"$ne": None}},
        {"supervised.deadline": {"$lt": NOW}},
        {"supervised.deadline": {"$lt": NOW}},
        numerator="已过督办期限仍未办结的案件",
        denominator="当前在办的督办案件",
        unit="件",
        better="lower",
        zero_goal=True,
    ),
    CaseFigure(
        "judicial_confirmations",
        "司法确认数",
        "part",
        "concluded_at",
        {"outcome.type": "agreement"},
        {"judicial_confirmation": True},
        numerator="申请司法确认的调解协议",
        denominator="期内达成的调解协议",
        unit="件",
    ),
    CaseFigure(
        "found_on_visits",
        "走访发现纠纷数",
        "count",
        "created_at",
        {"channel": "grid_visit", "state": {"$ne": "draft"}},
        numerator="网格员入户走访时发现并登记的纠纷",
        unit="件",
        per_case=True,
    ),
)
FIGURES_BY_KEY = {f.key: f for f in CASE_FIGURES}


@dataclass(frozen=True)
class Breakdown:
    """Received (or concluded) cases counted per value of one field."""

    key: str
    label: str
    when: str
    base: dict[str, Any]
    field: str
    each: bool = False  # an array: every item counts
    per_case: bool = True  # received cases are about the sources: each case counts


BREAKDOWNS: tuple[Breakdown, ...] = (
    Breakdown("source", "按来源", "created_at", {"state": {"$ne": "draft"}}, "source"),
    Breakdown("channel", "按渠道", "created_at", {"state": {"$ne": "draft"}}, "channel"),
    Breakdown("category", "按类别", "created_at", {"state": {"$ne": "draft"}}, "category"),
    Breakdown("tier", "按层级（当前承办层级）", "created_at", {"state": {"$ne": "draft"}}, "tier"),
    Breakdown(
        "grid_worker",
        "每名网格员走访发现",
        "created_at",
        {"channel": "grid_visit", "state": {"$ne": "draft"}},
        "registered_by",
    ),
    Breakdown("mediator", "每名调解员结束调解", "concluded_at", CONCLUDED, "mediator_ids", each=True, per_case=False),
)
BREAKDOWNS_BY_KEY = {b.key: b for b in BREAKDOWNS}
SOURCE_OF = {key: SOURCE_WORDS[source] for source, counts in SOURCE_COUNTS.items() for key in counts}


def bind(query: dict[str, Any], now: datetime) -> dict[str, Any]:
    """`query` with NOW replaced by `now`."""
    bound: dict[str, Any] = {}
    for key, value in query.items():
        if isinstance(value, dict):
            bound[key] = bind(value, now)
        else:
            bound[key] = now if value == NOW else value
    return bound


ONCE_PER_DISPUTE = {"dispute_role": {"$ne": "member"}}  # a dispute's other cases are counted in its lead


def case_match(figure: CaseFigure | Breakdown, unit_id: ObjectId, period: Period, now: datetime) -> dict[str, Any]:
    """The cases a figure counts in `unit_id` over `period` (all of them: its denominator)."""
    match: dict[str, Any] = {"location_path": unit_id}
    if figure.when:
        match[figure.when] = {"$gte": period.start, "$lt": period.end}
    if not figure.per_case:
        match |= ONCE_PER_DISPUTE
    return match | bind(figure.base, now)


def narrow(match: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`match` and `extra` both (a field in both keeps both conditions)."""
    return {"$and": [match, extra]} if set(match) & set(extra) else match | extra


def _top_fields(query: dict[str, Any] | None) -> list[str]:
    return sorted({key.split(".")[0] for key in (query or {}) if not key.startswith("$")})


def figure_value(figure: CaseFigure, counted: dict[str, Any]) -> tuple[float | None, int | None, int | None]:
    """(value, numerator, denominator) of a figure from its counts; a rate of nothing has no value."""
    total, hits, mean = counted["total"], counted["hits"], counted["mean"]
    if figure.kind == "rate":
        return share(hits, total), hits, total
    if figure.kind == "count":
        return float(total), total, None
    if figure.kind == "part":
        return float(hits), hits, total
    return (round(mean, 2) if mean is not None and total else None), None, total


def figure_json(definition: CaseFigure, value: float | None, numerator: int | None, denominator: int | None) -> dict:
    """A figure of the cases, with how it was computed and its colour; its cases can be listed."""
    how = definition.numerator
    if definition.kind in ("rate", "average"):
        how = f"{definition.numerator} ÷ {definition.denominator}"
    shown = make_figure(definition.key, definition.label, definition.kind, value, numerator, denominator, how)
    red = bool(definition.zero_goal and value)
    return shown | {"unit": definition.unit, "better": definition.better, "red": red, "has_cases": True}


class FigureService:
    """Figures of the units a caller may see, and the cases behind each."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)
        self._orgs = OrgService(ctx)

    async def unit_for(self, principal: Principal, unit_id: ObjectId | None) -> dict[str, Any]:
        """The village, town or county a caller asks about (default: their own): a unit under one of their
        grants, or the village or town whose mediation room or center they work in (a village sees its own
        figures). Any other unit reads as not found."""
        if unit_id is None:
            home = await self._orgs.home(principal, "assessment.view", ASSESSED_KINDS)
            if home is None:
                raise NotFound("没有可查看考核指标的单位")
            unit_id = home["_id"]
        unit = await self._orgs.find(unit_id)
        if unit is None or unit["kind"] not in ASSESSED_KINDS:
            raise NotFound("找不到该单位", details=[{"field": "unit_id", "message": "请选择村（社区）、镇或县"}])
        if in_org_scope(principal, unit["path"], "assessment.view"):
            return unit
        grant_units = await self._orgs.by_ids(granted_orgs(principal, "assessment.view"))
        rooms = (g for g in grant_units.values() if g["kind"] in ("mediation_room", "center"))
        if any(g.get("parent_id") == unit["_id"] for g in rooms):
            return unit
        raise NotFound("找不到该单位")

    async def case_figures(self, unit_id: ObjectId, period: Period) -> list[dict[str, Any]]:
        """Every case figure, their aggregations sent at once (a server runs them side by side)."""
        now = self._ctx.clock.now()
        return list(await asyncio.gather(*(self.case_figure(f, unit_id, period, now) for f in CASE_FIGURES)))

    async def case_figure(self, figure: CaseFigure, unit_id: ObjectId, period: Period, now: datetime) -> dict:
        match = case_match(figure, unit_id, period, now)
        fields = sorted({*_top_fields(figure.hit), *figure.fields})
        counted = await self._cases.count_with(
            match, bind(figure.hit, now) if figure.hit else None, fields, figure.average
        )
        return figure_json(figure, *figure_value(figure, counted))

    async def one(self, unit: dict[str, Any], period: Period, key: str) -> dict[str, Any]:
        """One figure: a case figure by its own aggregation, any other from the group it is computed with."""
        if key in FIGURES_BY_KEY:
            return await self.case_figure(FIGURES_BY_KEY[key], unit["_id"], period, self._ctx.clock.now())
        found = next((f for f in await self.all(unit, period) if f["key"] == key), None)
        if found is None:
            raise NotFound("没有这项指标")
        return found

    async def breakdowns(self, unit_id: ObjectId, period: Period) -> dict[str, list[dict[str, Any]]]:
        return {b.key: await self.breakdown(b.key, unit_id, period) for b in BREAKDOWNS}

    async def incident_unit(self, principal: Principal, unit_id: ObjectId | None) -> dict[str, Any]:
        """Whose 民转刑 records a caller reads: a unit whose figures they see, or (a police liaison) their town."""
        try:
            return await self.unit_for(principal, unit_id)
        except NotFound:
            return await SourceStatistics(self._ctx).incident_unit(principal, unit_id)

    async def breakdown(self, key: str, unit_id: ObjectId, period: Period) -> list[dict[str, Any]]:
        """Counts per value, largest first, each with a label in words."""
        breakdown = BREAKDOWNS_BY_KEY[key]
        counts = await self._cases.count_by(
            case_match(breakdown, unit_id, period, self._ctx.clock.now()), breakdown.field, each=breakdown.each
        )
        labels = await self._labels(key, [v for v in counts if v is not None])
        rows = [
            {"value": str(v) if v is not None else None, "label": labels.get(v, "未定"), "count": n}
            for v, n in counts.items()
        ]
        return sorted(rows, key=lambda row: (-row["count"], row["value"] or ""))

    async def _labels(self, key: str, values: list[Any]) -> dict[Any, str]:
        if key in ("grid_worker", "mediator"):
            people = await UserService(self._ctx).names_and_roles(values)
            return {v: people[v][0] if v in people else "（已删除的账号）" for v in values}
        table = {"source": SOURCE_LABELS, "channel": CHANNEL_LABELS, "category": CATEGORIES, "tier": TIER_LABELS}[key]
        return {v: table.get(v, v) for v in values}

    async def cases_behind(
        self,
        key: str,
        unit_id: ObjectId,
        period: Period,
        *,
        part: Literal["numerator", "denominator", "miss"],
        value: str | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        """The cases a figure (or one value of a breakdown) counted: its numerator's or its denominator's."""
        now = self._ctx.clock.now()
        if key in FIGURES_BY_KEY:
            figure = FIGURES_BY_KEY[key]
            match = case_match(figure, unit_id, period, now)
            narrowing = {"numerator": figure.hit, "miss": figure.miss}.get(part)
            if narrowing is not None:
                match = narrow(match, bind(narrowing, now))
            return await self._cases.listed(match, figure.when or "created_at", skip=skip, limit=limit)
        if key in BREAKDOWNS_BY_KEY:
            breakdown = BREAKDOWNS_BY_KEY[key]
            if value is None:
                raise ValidationFailed(details=[{"field": "value", "message": "请指定分类的取值"}])
            match = case_match(breakdown, unit_id, period, now)
            by_person = breakdown.field in ("registered_by", "mediator_ids")
            wanted: Any = ObjectId(value) if by_person and ObjectId.is_valid(value) else value
            match = narrow(match, {breakdown.field: wanted})
            return await self._cases.listed(match, breakdown.when, skip=skip, limit=limit)
        if key == "spot_check_confirmed":
            confirmed = {"numerator": True, "miss": False}.get(part)
            ids = await SpotCheckService(self._ctx).cases_checked(unit_id, period, confirmed=confirmed)
            return await self._cases.listed({"_id": {"$in": ids}}, "_id", skip=skip, limit=limit)
        raise NotFound("没有这项指标的案件清单", details=[{"field": "key", "message": "该指标不由案件构成"}])

    # ---- the other sources of figures ---------------------------------------------------------------------
    async def all(self, unit: dict[str, Any], period: Period) -> list[dict[str, Any]]:
        """Every figure of `unit` over `period`: its cases, its visits, the sources' statistics, 民转刑, the
        spot checks and the supervision notices."""
        figures = await self.case_figures(unit["_id"], period)
        figures.append(await self.coverage_figure(unit, period))
        figures += await self.source_figures(unit, period)
        figures += await self.supervision_figures(unit, period)
        return figures

    async def coverage_figure(self, unit: dict[str, Any], period: Period) -> dict[str, Any]:
        coverage = await self.coverage(unit, period)
        households, visited = coverage["households"], coverage["visited"]
        how = "期内至少走访过一次的住户 ÷ 住户总数"
        return make_figure(
            "visit_coverage", "五个到户走访覆盖率", "rate", share(visited, households), visited, households, how
        )

    async def coverage(self, unit: dict[str, Any], period: Period) -> dict[str, Any]:
        """五个到户 per micro-grid and per grid worker: households visited at least once in the period, in
        all and by purpose (two aggregations: households per micro-grid, visits per visitor and household)."""
        per_grid = await HouseholdService(self._ctx).count_under(unit["_id"])
        rows = await VisitService(self._ctx).households_visited(unit["_id"], period.start, period.end)
        grid_all: dict[Any, set[ObjectId]] = {}
        grid_purpose: dict[tuple[Any, str], set[ObjectId]] = {}
        worker_all: dict[ObjectId, set[ObjectId]] = {}
        worker_purpose: dict[tuple[ObjectId, str], set[ObjectId]] = {}
        for row in rows:
            key, grid = row["_id"], (row.get("path") or [None])[-1]
            grid_all.setdefault(grid, set()).add(key["household"])
            grid_purpose.setdefault((grid, key["purpose"]), set()).add(key["household"])
            worker_all.setdefault(key["visitor"], set()).add(key["household"])
            worker_purpose.setdefault((key["visitor"], key["purpose"]), set()).add(key["household"])
        purposes = list(self._ctx.config.town.visit_purposes)
        units = await self._orgs.by_ids([g for g in per_grid if g is not None])
        people = await UserService(self._ctx).names_and_roles(list(worker_all))
        grids = [
            {
                "id": str(grid),
                "name": units[grid]["name"] if grid in units else "",
                "households": count,
                "visited": len(grid_all.get(grid, ())),
                "by_purpose": {p: len(grid_purpose.get((grid, p), ())) for p in purposes},
            }
            for grid, count in per_grid.items()
            if grid is not None
        ]
        workers = [
            {
                "id": str(worker),
                "name": people[worker][0] if worker in people else "（已删除的账号）",
                "visited": len(households),
                "by_purpose": {p: len(worker_purpose.get((worker, p), ())) for p in purposes},
            }
            for worker, households in worker_all.items()
        ]
        return {
            "households": sum(per_grid.values()),
            "visited": len(set().union(*grid_all.values())) if grid_all else 0,
            "micro_grids": sorted(grids, key=lambda g: g["name"]),
            "grid_workers": sorted(workers, key=lambda w: (-w["visited"], w["name"])),
        }

    async def source_figures(self, unit: dict[str, Any], period: Period) -> list[dict[str, Any]]:
        """The sources' reported counts with 环比 and 同比, 万人诉讼率, and 民转刑 (must be zero)."""
        statistics = SourceStatistics(self._ctx)
        now, before, last_year = await statistics.totals(unit, [period, period.previous(), period.year_before()])
        figures = []
        for key, label in COUNT_LABELS.items():
            value, previous, year_before = now.counts[key], before.counts[key], last_year.counts[key]
            how = f"{SOURCE_OF[key]}报送的月度统计之和（{period.label}）"
            figures.append(
                make_figure(key, label, "count", value, value, None, how, unit="件", better="lower")
                | {
                    "previous": previous,
                    "year_before": year_before,
                    "change_previous": change(value, previous),
                    "change_year": change(value, year_before),
                }
            )
        population = await statistics.population(unit)
        filings = now.counts["civil_filings"]
        rate = round(filings * 10_000 / population, 2) if population and filings is not None else None
        how = "民事诉讼立案数 × 10000 ÷ 常住人口" + ("" if population else "（未登记人口，无数据）")
        figures.append(
            make_figure(
                "litigation_rate", "万人诉讼率", "average", rate, filings, population or None, how, unit="件/万人"
            )
            | {"better": "lower"}
        )
        incidents = await statistics.incident_count(unit["_id"], period)
        how = "期内登记的民转刑案件（须为零）"
        figures.append(
            make_figure(
                "criminal_incidents", "民转刑案件数", "count", float(incidents), incidents, None, how, unit="件"
            )
            | {"better": "lower", "red": incidents > 0}
        )
        return figures

    async def supervision_figures(self, unit: dict[str, Any], period: Period) -> list[dict[str, Any]]:
        confirmed, reached = await SpotCheckService(self._ctx).figure(unit["_id"], period)
        overdue = len(await SupervisionService(self._ctx).overdue(unit["_id"], period))
        checked = "抽查回访中认可办理结果的 ÷ 抽查回访联系上的"
        late = "整改期限在期内且已过、未按期整改到位的督查通报"
        return [
            make_figure(
                "spot_check_confirmed", "抽查回访认可率", "rate", share(confirmed, reached), confirmed, reached, checked
            )
            | {"has_cases": True},
            make_figure(
                "notices_overdue", "督查通报逾期未整改数", "count", float(overdue), overdue, None, late, unit="件"
            )
            | {"better": "lower", "red": bool(overdue)},
        ]


def make_figure(
    key: str,
    label: str,
    kind: Kind,
    value: float | None,
    numerator: int | None,
    denominator: int | None,
    how: str,
    *,
    unit: str = "%",
    better: str = "higher",
) -> dict[str, Any]:
    """A figure as the API, the runs and the reports show it (not from the cases: no list behind it)."""
    return {
        "key": key,
        "label": label,
        "kind": kind,
        "value": value,
        "numerator": numerator,
        "denominator": denominator,
        "unit": unit,
        "better": better,
        "how": how,
        "red": False,
        "has_cases": False,
    }


def share(part: int, whole: int | None) -> float | None:
    """`part` of `whole`, to four places; nothing of nothing is no data."""
    return round(part / whole, 4) if whole else None


def change(value: int | None, before: int | None) -> float | None:
    """The relative change from `before` to `value` (−0.1 = down 10 %); none without both, or from zero."""
    if value is None or before is None or before == 0:
        return None
    return round((value - before) / before, 4)
