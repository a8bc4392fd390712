"""考核: figures and the cases behind them, the sources' statistics and 民转刑, schemes, bonus items, runs and
reports (server/assessment/)."""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler, api, requires
from handlers.jobs import job_to_json
from schemas.assessment import (
    BonusesOut,
    BonusIn,
    BonusOut,
    BonusQuery,
    BreakdownRow,
    CoverageOut,
    FigureCasesQuery,
    FigureOut,
    FigureQuery,
    FiguresOut,
    ImportedOut,
    IncidentIn,
    IncidentOut,
    IncidentQuery,
    RunIn,
    RunOut,
    RunQuery,
    SchemeIn,
    SchemeOut,
    SchemeQuery,
    StatisticsCorrectionIn,
    StatisticsIn,
    StatisticsOut,
    StatisticsQuery,
    bonus_to_json,
    incident_to_json,
    run_to_json,
    scheme_to_json,
    statistics_to_json,
)
from schemas.base import Page
from schemas.cases import CaseBrief, case_row
from schemas.visits import JobOut
from server.assessment.figures import FigureService
from server.assessment.periods import parse_period
from server.assessment.reports import ReportService
from server.assessment.runs import BonusService, RunService, SchemeService
from server.assessment.statistics import SourceStatistics
from server.cases.names import CaseNames
from server.core.errors import NotFound
from server.core.ids import parse_id
from server.core.tables import UPLOAD_HINT, UPLOAD_TYPES


class _FigureHandler(BaseHandler):
    async def place(self, query: FigureQuery | FigureCasesQuery) -> tuple[dict[str, Any], Any]:
        """The unit asked about (checked against the caller's scope) and the period."""
        unit_id = parse_id(query.unit_id, "单位") if query.unit_id else None
        unit = await FigureService(self.ctx).unit_for(self.caller, unit_id)
        return unit, parse_period(query.period, self.ctx.tz)


class FiguresHandler(_FigureHandler):
    @requires("assessment.view")
    @api(
        "考核指标（一个单位、一个周期）",
        query=FigureQuery,
        response=FiguresOut,
        tags=["assessment"],
        description="村看本村，镇看本镇及各村，县看各镇。每项指标给出分子、分母与计算方法，可打开背后的案件清单。",
    )
    async def get(self) -> None:
        unit, period = await self.place(self.read_query(FigureQuery))
        figures = FigureService(self.ctx)
        breakdowns = await figures.breakdowns(unit["_id"], period)
        self.write_json(
            FiguresOut(
                unit_id=str(unit["_id"]),
                unit_name=unit["name"],
                unit_kind=unit["kind"],
                period=period.label,
                start=period.start,
                end=period.end,
                figures=[FigureOut(**f) for f in await figures.all(unit, period)],
                breakdowns={k: [BreakdownRow(**r) for r in rows] for k, rows in breakdowns.items()},
            )
        )


class FigureHandler(_FigureHandler):
    @requires("assessment.view")
    @api("一项考核指标", query=FigureQuery, response=FigureOut, tags=["assessment"])
    async def get(self, key: str) -> None:
        unit, period = await self.place(self.read_query(FigureQuery))
        self.write_json(FigureOut(**await FigureService(self.ctx).one(unit, period, key)))


class FigureCasesHandler(_FigureHandler):
    @requires("assessment.view")
    @api(
        "一项指标背后的案件（分子、分母或拉低指标的案件；分类指标按取值）",
        query=FigureCasesQuery,
        response=Page[CaseBrief],
        tags=["assessment"],
        description="清单的件数与指标的分子（或分母）一致，供办公室逐件核对。",
    )
    async def get(self, key: str) -> None:
        query = self.read_query(FigureCasesQuery)
        unit, period = await self.place(query)
        cases, total = await FigureService(self.ctx).cases_behind(
            key, unit["_id"], period, part=query.part, value=query.value, skip=query.skip, limit=query.page_size
        )
        names = await CaseNames(self.ctx).of(cases)
        self.write_rows(CaseBrief, [case_row(c, names) for c in cases], total, query)


class CoverageHandler(_FigureHandler):
    @requires("assessment.view")
    @api("五个到户走访覆盖（按微网格、网格员、走访事项）", query=FigureQuery, response=CoverageOut, tags=["assessment"])
    async def get(self) -> None:
        unit, period = await self.place(self.read_query(FigureQuery))
        coverage = await FigureService(self.ctx).coverage(unit, period)
        self.write_json(CoverageOut(unit_id=str(unit["_id"]), period=period.label, **coverage))


class BriefingHandler(BaseHandler):
    @requires("assessment.view")
    @api(
        "单位简报（一页 PDF：主要指标与趋势、超期与高风险案件）",
        query=FigureQuery,
        media=["application/pdf"],
        tags=["assessment"],
    )
    async def get(self) -> None:
        query = self.read_query(FigureQuery)
        unit_id = parse_id(query.unit_id, "单位") if query.unit_id else None
        period = parse_period(query.period, self.ctx.tz)
        data, filename = await ReportService(self.ctx).briefing(self.caller, unit_id, period)
        await self.write_export(data, "application/pdf", filename, what=("briefing", unit_id or "own_unit"))


# ---- the sources' statistics and 民转刑 ------------------------------------------------------------------
class StatisticsHandler(BaseHandler):
    @requires("statistics.enter")
    @api(
        "来源月度统计（联络员只看本来源、本镇）",
        query=StatisticsQuery,
        response=Page[StatisticsOut],
        tags=["assessment"],
    )
    async def get(self) -> None:
        query = self.read_query(StatisticsQuery)
        unit_id = parse_id(query.unit_id, "单位") if query.unit_id else None
        rows, total = await SourceStatistics(self.ctx).search(
            self.caller, unit_id=unit_id, source=query.source, skip=query.skip, limit=query.page_size
        )
        self.write_page([statistics_to_json(r) for r in rows], total, query)

    @requires("statistics.enter")
    @api(
        "录入来源月度统计（同一单位、月份、来源只录一次）",
        request=StatisticsIn,
        response=StatisticsOut,
        status=201,
        tags=["assessment"],
        description="警源：dispute_calls；诉源：civil_filings；访源：petitions、irregular_petitions。"
        "重复录入返回 409，更正用 PUT。",
    )
    async def post(self) -> None:
        body = self.read_json(StatisticsIn)
        counts = body.counts.model_dump(exclude_unset=True)
        row = await SourceStatistics(self.ctx).enter(
            self.caller, parse_id(body.unit_id, "单位"), body.month, body.source, counts
        )
        self.write_json(statistics_to_json(row), status=201)


class StatisticsRowHandler(BaseHandler):
    @requires("statistics.enter")
    @api(
        "更正来源月度统计（须说明理由，留痕）",
        request=StatisticsCorrectionIn,
        response=StatisticsOut,
        tags=["assessment"],
    )
    async def put(self, row_id: str) -> None:
        body = self.read_json(StatisticsCorrectionIn)
        counts = body.counts.model_dump(exclude_unset=True)
        row = await SourceStatistics(self.ctx).correct(
            self.caller, parse_id(row_id, "统计"), counts, body.reason, body.version
        )
        self.write_json(statistics_to_json(row))


class StatisticsImportHandler(BaseHandler):
    @requires("statistics.enter")
    @api(
        "导入来源月度统计（CSV 或 XLSX，全部成功或全部不导入）",
        upload=list(UPLOAD_TYPES),
        response=ImportedOut,
        status=201,
        tags=["assessment"],
        description="列：月份、单位、来源（警源/诉源/访源）及该来源的件数列（纠纷类警情数、民事诉讼立案数、信访件数、越级访件数）。"
        "有错的行按行号和列名列出（422），已录入的行列出（409）。",
    )
    async def post(self) -> None:
        data, content_type = self.read_upload(UPLOAD_TYPES, UPLOAD_HINT)
        rows = await SourceStatistics(self.ctx).import_rows(self.caller, data, content_type)
        self.write_json(ImportedOut(imported=len(rows)), status=201)


class IncidentsHandler(BaseHandler):
    @requires("statistics.enter")
    @api("民转刑案件（一个单位、一个周期）", query=IncidentQuery, response=Page[IncidentOut], tags=["assessment"])
    async def get(self) -> None:
        query = self.read_query(IncidentQuery)
        unit_id = parse_id(query.unit_id, "单位") if query.unit_id else None
        unit = await FigureService(self.ctx).incident_unit(self.caller, unit_id)
        found = await SourceStatistics(self.ctx).incidents(unit["_id"], parse_period(query.period, self.ctx.tz))
        page = found[query.skip : query.skip + query.page_size]
        self.write_page([incident_to_json(i, self.ctx.tz) for i in page], len(found), query)

    @requires("statistics.enter")
    @api(
        "登记民转刑案件（派出所联络员或镇、县）",
        request=IncidentIn,
        response=IncidentOut,
        status=201,
        tags=["assessment"],
    )
    async def post(self) -> None:
        body = self.read_json(IncidentIn)
        fields = body.model_dump() | {
            "unit_id": parse_id(body.unit_id, "单位"),
            "case_id": parse_id(body.case_id, "案件") if body.case_id else None,
        }
        incident = await SourceStatistics(self.ctx).record_incident(self.caller, fields)
        self.write_json(incident_to_json(incident, self.ctx.tz), status=201)


# ---- scheme, bonus items, runs, reports --------------------------------------------------------------------
def _year(text: str) -> int:
    """A scheme's year from the path; anything else names no scheme."""
    if not (text.isdigit() and len(text) == 4 and 2000 <= int(text) <= 2099):
        raise NotFound("没有这个年度的考核方案（年度为四位数字，如 2026）")
    return int(text)


class SchemeHandler(BaseHandler):
    @requires("assessment.view")
    @api(
        "县的年度考核方案（未制定时为系统默认方案，版本 0）", query=SchemeQuery, response=SchemeOut, tags=["assessment"]
    )
    async def get(self, year: str) -> None:
        query = self.read_query(SchemeQuery)
        schemes = SchemeService(self.ctx)
        county = await schemes.county_of(
            self.caller, parse_id(query.county_id, "县") if query.county_id else None, "assessment.view"
        )
        self.write_json(scheme_to_json(await schemes.get(county["_id"], _year(year))))

    @requires("assessment.scheme")
    @api(
        "制定或修改年度考核方案（每次保存为新版本）",
        query=SchemeQuery,
        request=SchemeIn,
        response=SchemeOut,
        status=200,
        also=[201],
        tags=["assessment"],
    )
    async def put(self, year: str) -> None:
        query = self.read_query(SchemeQuery)
        body = self.read_json(SchemeIn)
        schemes = SchemeService(self.ctx)
        county = await schemes.county_of(
            self.caller, parse_id(query.county_id, "县") if query.county_id else None, "assessment.scheme"
        )
        saved, created = await schemes.save(self.caller, county["_id"], _year(year), body.model_dump())
        self.write_json(scheme_to_json(saved), status=201 if created else 200)


class BonusesHandler(BaseHandler):
    @requires("assessment.run")
    @api("加分项（一个考核范围、一个周期）", query=BonusQuery, response=BonusesOut, tags=["assessment"])
    async def get(self) -> None:
        query = self.read_query(BonusQuery)
        scope_id = parse_id(query.scope_id, "单位") if query.scope_id else None
        scope = await RunService(self.ctx).scope(self.caller, scope_id)
        period = parse_period(query.period, self.ctx.tz)
        found = await BonusService(self.ctx).of_period(scope["_id"], period.label)
        self.write_json(BonusesOut(items=[bonus_to_json(b) for b in found]))

    @requires("assessment.run")
    @api("登记加分项（须附证明材料）", request=BonusIn, response=BonusOut, status=201, tags=["assessment"])
    async def post(self) -> None:
        body = self.read_json(BonusIn)
        period = parse_period(body.period, self.ctx.tz)
        fields = body.model_dump() | {"unit_id": parse_id(body.unit_id, "单位")}
        self.write_json(bonus_to_json(await BonusService(self.ctx).add(self.caller, fields, period)), status=201)


class RunsHandler(BaseHandler):
    @requires("assessment.view")
    @api("考核结果（不含各项指标）", query=RunQuery, response=Page[RunOut], tags=["assessment"])
    async def get(self) -> None:
        query = self.read_query(RunQuery)
        runs, total = await RunService(self.ctx).search(self.caller, skip=query.skip, limit=query.page_size)
        self.write_page([run_to_json(r, with_figures=False) for r in runs], total, query)

    @requires("assessment.run")
    @api(
        "考核打分与排名（县考核各镇，镇考核各村）",
        request=RunIn,
        response=RunOut,
        status=201,
        also=[200],
        tags=["assessment"],
        description="周期未结束时可重新计算；周期结束后首次计算的结果即为最终结果，再次计算原样返回（200）。",
    )
    async def post(self) -> None:
        body = self.read_json(RunIn)
        scope_id = parse_id(body.scope_id, "单位") if body.scope_id else None
        run, computed = await RunService(self.ctx).run(self.caller, scope_id, parse_period(body.period, self.ctx.tz))
        self.write_json(run_to_json(run, with_figures=True), status=201 if computed else 200)


class RunHandler(BaseHandler):
    @requires("assessment.view")
    @api("考核结果详情（含所用的全部指标）", response=RunOut, tags=["assessment"])
    async def get(self, run_id: str) -> None:
        run = await RunService(self.ctx).get(self.caller, parse_id(run_id, "考核结果"))
        self.write_json(run_to_json(run, with_figures=True))


class ReportHandler(BaseHandler):
    @requires("assessment.run")
    @api(
        "生成考核报表（XLSX：总分排名、指标明细、三源趋势图、红色指标案件）",
        response=JobOut,
        status=202,
        tags=["assessment"],
        description="后台执行，用 GET /api/jobs/{id} 查看进度并下载。",
    )
    async def post(self, run_id: str) -> None:
        job = await ReportService(self.ctx).start(self.caller, parse_id(run_id, "考核结果"))
        self.write_json(job_to_json(job), status=202)


default_handlers = [
    (r"/api/assessment/figures", FiguresHandler),
    (r"/api/assessment/figures/(?P<key>[a-z_]+)", FigureHandler),
    (r"/api/assessment/figures/(?P<key>[a-z_]+)/cases", FigureCasesHandler),
    (r"/api/assessment/coverage", CoverageHandler),
    (r"/api/assessment/briefing", BriefingHandler),
    (r"/api/assessment/schemes/(?P<year>[^/]+)", SchemeHandler),
    (r"/api/assessment/bonuses", BonusesHandler),
    (r"/api/assessment/runs", RunsHandler),
    (r"/api/assessment/runs/(?P<run_id>[^/]+)", RunHandler),
    (r"/api/assessment/runs/(?P<run_id>[^/]+)/report", ReportHandler),
    (r"/api/source-statistics", StatisticsHandler),
    (r"/api/source-statistics/import", StatisticsImportHandler),
    (r"/api/source-statistics/(?P<row_id>[^/]+)", StatisticsRowHandler),
    (r"/api/criminal-incidents", IncidentsHandler),
]
