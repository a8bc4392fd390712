"""Assessment reports: a run's XLSX workbook as a background job, and a unit's PDF briefing.

The workbook reads, for every unit of the run, the cases behind its red figures (the cases that pull each
down, at most `RED_CASES_PER_FIGURE` per figure), and the scope's three sources for the twelve months up to
the period's end, then renders in the worker process; the job reports progress unit by unit. The briefing
is small enough to answer directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.assessment.figures import FIGURES_BY_KEY, FigureService
from server.assessment.periods import Period, month_period, parse_period
from server.assessment.report_files import render_briefing, render_report
from server.assessment.runs import RunService
from server.assessment.statistics import SourceStatistics
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.jobs import JobService
from server.core.tables import XLSX_TYPE
from server.core.vocabulary import CATEGORIES, STATE_LABELS
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

REPORT_FILES = "assessment"  # the storage folder of generated workbooks
RED_CASES_PER_FIGURE = 100
BRIEFING_FIGURES = (
    "received",
    "agreement_rate",
    "concluded_on_time",
    "satisfaction_rate",
    "village_resolution",
    "overdue_now",
    "visit_coverage",
    "dispute_calls",
    "civil_filings",
    "petitions",
    "litigation_rate",
    "criminal_incidents",
)


class ReportService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._figures = FigureService(ctx)

    async def start(self, principal: Principal, run_id: ObjectId) -> dict[str, Any]:
        run = await RunService(self._ctx).get(principal, run_id)
        jobs = JobService(self._ctx)
        job = await jobs.create(
            kind="assessment_report",
            owner=principal,
            org_path=run["org_path"],
            total=len(run["units"]) + 1,
            params={"run_id": str(run_id)},
        )
        jobs.start(job["_id"], self._build(jobs, job["_id"], run))
        return job

    async def _build(self, jobs: JobService, job_id: ObjectId, run: dict[str, Any]) -> dict[str, Any]:
        period = parse_period(run["period"], self._ctx.tz)
        red: list[list[Any]] = []
        for done, unit in enumerate(run["units"], start=1):
            for figure in unit["figures"]:
                low = any(i["figure"] == figure["key"] and i["note"] == "低于起评值" for i in unit["indicators"])
                if not (figure["red"] or low) or FIGURES_BY_KEY.get(figure["key"]) is None:
                    continue
                cases, _ = await self._figures.cases_behind(
                    figure["key"], unit["unit_id"], period, part="miss", value=None, skip=0, limit=RED_CASES_PER_FIGURE
                )
                red += [[unit["name"], figure["label"], *case_row(c, self._ctx)] for c in cases]
            await jobs.progress(job_id, done)
        scope = await OrgService(self._ctx).get(run["scope_id"])
        trend = await self.trend(scope, period)
        labels = {f["key"]: f["label"] for f in run["units"][0]["figures"]} if run["units"] else {}
        labels |= {f"{k}_change_year": f"{v}同比" for k, v in labels.items()}
        labels |= {f"{k}_change_previous": f"{v}环比" for k, v in labels.items() if not k.endswith("_change_year")}
        data = await self._ctx.heavy(render_report, run, labels, trend, red)
        key = f"{REPORT_FILES}/{job_id}.xlsx"
        await self._ctx.in_thread(self._ctx.storage.put, key, data)
        filename = f"{run['scope_name']}{run['period']}考核报表.xlsx"
        return {"key": key, "size": len(data), "filename": filename, "content_type": XLSX_TYPE}

    async def trend(self, unit: dict[str, Any], period: Period) -> list[dict[str, Any]]:
        """The sources' counts of `unit` for each of the twelve months up to the period's end."""
        months = [month_period(period.last, self._ctx.tz)]
        while len(months) < 12:
            months.insert(0, months[0].previous())
        totals = await SourceStatistics(self._ctx).totals(unit, months)
        return [{"month": m.label, "counts": t.counts} for m, t in zip(months, totals, strict=True)]

    async def briefing(self, principal: Principal, unit_id: ObjectId | None, period: Period) -> tuple[bytes, str]:
        """The one-page PDF of a unit's period, and its file name."""
        unit = await self._figures.unit_for(principal, unit_id)
        now_figures = {f["key"]: f for f in await self._figures.all(unit, period)}
        before = {f["key"]: f for f in await self._figures.all(unit, period.previous())}
        figures = [now_figures[k] | {"previous_value": before[k]["value"]} for k in BRIEFING_FIGURES]
        cases = CaseRepository(self._ctx.db)
        overdue = await cases.most_urgent(unit["_id"], {"next_due": {"$lt": self._ctx.clock.now()}}, 5)
        risky = await cases.most_urgent(unit["_id"], {"risk": {"$in": ["high", "critical"]}}, 5)
        title = f"{unit['name']} {period.label} 三源共治简报"
        data = await self._ctx.heavy(
            render_briefing, title, figures, [briefing_row(c) for c in overdue], [briefing_row(c) for c in risky]
        )
        return data, f"{unit['name']}{period.label}简报.pdf"


def case_row(case: dict[str, Any], ctx: Context) -> list[Any]:
    created = case["created_at"].astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")
    return [case["number"], STATE_LABELS[case["state"]], CATEGORIES.get(case.get("category") or "", ""), created]


def briefing_row(case: dict[str, Any]) -> dict[str, str]:
    category = CATEGORIES.get(case.get("category") or "", "")
    return {"number": case["number"], "text": f"{category} · {STATE_LABELS[case['state']]}"}
