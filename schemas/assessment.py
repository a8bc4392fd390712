"""考核督查 on the wire: figures and the cases behind them, the sources' statistics and 民转刑 incidents, the
assessment scheme, bonus items and runs, spot checks, supervision notices and inspections
(`server/assessment/`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from schemas.base import ObjectIdStr, PageParams, Patch, Schema, Time, when
from server.assessment.periods import MONTH_PATTERN, PERIOD_PATTERN
from server.assessment.scoring import DEDUCTIONS, SCORABLE, Deduction
from server.assessment.statistics import MAX_COUNT, SOURCE_COUNTS
from server.assessment.supervision import InspectionKind

PERIOD_HELP = "周期：2026-10（月）、2026-Q3（季度）、2026（年）或 2026-10-01..2026-10-15（日期范围）"
Source = Literal["police", "court", "petition"]
Part = Literal["numerator", "denominator", "miss"]
NoticeState = Literal["issued", "answered", "returned", "accepted"]


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


# ---- figures ---------------------------------------------------------------------------------------------
class FigureQuery(Schema):
    unit_id: ObjectIdStr | None = Field(None, description="村（社区）、镇或县；不填为本人所在单位")
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)


class FigureCasesQuery(PageParams):
    unit_id: ObjectIdStr | None = Field(None, description="村（社区）、镇或县；不填为本人所在单位")
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)
    part: Part = Field("numerator", description="numerator 分子的案件，denominator 分母的案件，miss 拉低指标的案件")
    value: str | None = Field(None, max_length=40, description="分类指标的取值（如来源 police、调解员编号）")


class FigureOut(Schema):
    key: str
    label: str
    kind: Literal["rate", "count", "part", "average"] = Field(
        description="rate 比率（0–1），count 件数，part 其中件数，average 平均"
    )
    value: float | None = Field(description="数值；比率为 0–1；无数据为 null")
    numerator: int | None
    denominator: int | None
    unit: str
    better: Literal["higher", "lower"]
    how: str = Field(description="计算方法")
    red: bool = Field(description="红色（须为零的指标出现了，或低于考核方案的起评值）")
    has_cases: bool = Field(description="可以打开背后的案件清单")
    previous: int | None = Field(None, description="上一周期（来源统计）")
    year_before: int | None = Field(None, description="上年同期（来源统计）")
    change_previous: float | None = Field(None, description="环比变化（−0.1 为下降 10%）")
    change_year: float | None = Field(None, description="同比变化")


class BreakdownRow(Schema):
    value: str | None
    label: str
    count: int


class FiguresOut(Schema):
    unit_id: str
    unit_name: str
    unit_kind: str
    period: str
    start: datetime
    end: datetime
    figures: list[FigureOut]
    breakdowns: dict[str, list[BreakdownRow]] = Field(description="按来源、渠道、类别、层级、网格员、调解员分列")


class GridCoverage(Schema):
    id: str
    name: str
    households: int
    visited: int
    by_purpose: dict[str, int]


class WorkerCoverage(Schema):
    id: str
    name: str
    visited: int
    by_purpose: dict[str, int]


class CoverageOut(Schema):
    unit_id: str
    period: str
    households: int
    visited: int
    micro_grids: list[GridCoverage]
    grid_workers: list[WorkerCoverage]


# ---- the sources' statistics, 民转刑 ---------------------------------------------------------------------
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class SourceCounts(Patch):
    """A source's counts: the police report dispute_calls, the court civil_filings, the petition office
    petitions and irregular_petitions; nothing else."""

    dispute_calls: Count | None = Field(None, description="纠纷类警情数（警源）")
    civil_filings: Count | None = Field(None, description="民事诉讼立案数（诉源）")
    petitions: Count | None = Field(None, description="信访件数（访源）")
    irregular_petitions: Count | None = Field(None, description="越级访件数（访源）")


class StatisticsIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                when("source", source, {"properties": {"counts": {"required": list(keys), "maxProperties": len(keys)}}})
                for source, keys in SOURCE_COUNTS.items()
            ]
        }
    )
    unit_id: ObjectIdStr = Field(description="镇或村（社区）")
    month: str = Field(pattern=MONTH_PATTERN, description="月份，如 2026-10")
    source: Source
    counts: SourceCounts = Field(description="本来源的各项件数（非负整数），只填本来源报送的项")


class StatisticsCorrectionIn(Schema):
    counts: SourceCounts = Field(description="更正后的各项件数（该统计来源的全部项）")
    reason: str = Field(min_length=2, max_length=300, description="更正理由")
    version: int | None = Field(None, ge=1, description="读到的版本；他人已更正时返回 409")


class StatisticsQuery(PageParams):
    unit_id: ObjectIdStr | None = None
    source: Source | None = None


class StatisticsOut(Schema):
    id: str
    unit_id: str
    unit_kind: str
    month: str
    source: Source
    counts: dict[str, int]
    version: int
    corrections: int = Field(description="更正次数")
    entered_at: datetime


class ImportedOut(Schema):
    imported: int


class IncidentIn(Schema):
    unit_id: ObjectIdStr = Field(description="发生地：镇或村（社区）")
    date: date
    place: str = Field(min_length=2, max_length=100)
    case_id: ObjectIdStr | None = Field(None, description="关联的矛盾纠纷案件")
    summary: str = Field(min_length=5, max_length=1000)


class IncidentQuery(PageParams):
    unit_id: ObjectIdStr | None = None
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)


class IncidentOut(Schema):
    id: str
    unit_id: str
    date: str
    place: str
    case_id: str | None
    summary: str


# ---- scheme, bonus items, runs ---------------------------------------------------------------------------
class IndicatorIn(Schema):
    figure: str = Field(
        json_schema_extra={"enum": list(SCORABLE)},
        min_length=1,
        max_length=40,
        description="指标（见 GET /api/assessment/figures 的 key，来源统计加 _change_year / _change_previous）",
    )
    weight: float = Field(gt=0, le=100, description="满分")
    target: float = Field(ge=-10, le=1000, description="目标值（比率为 0–1）")
    floor: float | None = Field(None, ge=-10, le=1000, description="起评值（线性计分）")
    rule: Literal["linear", "pass_fail"]


class DeductionIn(Schema):
    kind: Deduction
    points: float = Field(gt=0, le=100, description="每次扣分")


class SchemeIn(Schema):
    indicators: list[IndicatorIn] = Field(min_length=1, max_length=40)
    deductions: list[DeductionIn] = Field(default_factory=list, max_length=len(DEDUCTIONS))
    bonus_cap: float = Field(0, ge=0, le=100, description="加分上限")


class SchemeQuery(Schema):
    county_id: ObjectIdStr | None = None


class SchemeOut(SchemeIn):
    county_id: str
    year: int
    version: int = Field(description="版本；0 为系统默认方案（县尚未制定）")
    updated_at: datetime | None


class BonusIn(Schema):
    unit_id: ObjectIdStr = Field(description="被考核的镇或村（社区）")
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)
    points: float = Field(gt=0, le=100)
    reason: str = Field(min_length=2, max_length=300)
    evidence: str = Field(min_length=2, max_length=500, description="证明材料（文号、表彰文件等）")


class BonusQuery(Schema):
    scope_id: ObjectIdStr | None = Field(None, description="县或镇；不填为本人单位")
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)


class BonusOut(Schema):
    id: str
    unit_id: str
    period: str
    points: float
    reason: str
    evidence: str


class BonusesOut(Schema):
    items: list[BonusOut]


class RunIn(Schema):
    scope_id: ObjectIdStr | None = Field(None, description="县（考核各镇）或镇（考核各村）；不填为本人单位")
    period: str = Field(pattern=PERIOD_PATTERN, description=PERIOD_HELP)


class IndicatorScore(Schema):
    figure: str
    value: float | None
    weight: float
    score: float
    note: str


class DeductionScore(Schema):
    kind: str
    count: int
    points: float


class UnitScore(Schema):
    unit_id: str
    name: str
    rank: int
    total: float
    indicators: list[IndicatorScore]
    deductions: list[DeductionScore]
    bonus_points: float
    figures: list[FigureOut] | None = Field(None, description="所用的全部指标（详情中给出）")


class RunOut(Schema):
    id: str
    scope_id: str
    scope_name: str
    period: str
    final: bool = Field(description="周期已结束，结果不再变化")
    scheme_version: int
    scheme_year: int
    units: list[UnitScore]
    created_at: datetime


class RunQuery(PageParams):
    pass


# ---- spot checks -----------------------------------------------------------------------------------------
class SpotCheckIn(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["size"], "properties": {"size": {"type": "integer"}}},
                {"required": ["share"], "properties": {"share": {"type": "number"}}},
            ]
        }
    )
    unit_id: ObjectIdStr | None = Field(None, description="抽查范围：村（社区）、镇或县；不填为本人单位")
    period: str = Field(pattern=PERIOD_PATTERN, description="办结的周期")
    size: int | None = Field(None, ge=1, le=500, description="抽查件数（与 share 二选一）")
    share: float | None = Field(None, gt=0, le=1, description="抽查比例")
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="随机种子；不填则随机生成并记录")


class SpotCheckItemOut(Schema):
    case_id: str
    number: str
    village_id: str | None
    outcome: str | None
    result: dict[str, Any] | None


class SpotCheckOut(Schema):
    id: str
    unit_id: str
    unit_name: str
    period: str
    size: int
    population: int = Field(description="可抽查的已办结案件数")
    seed: int
    created_at: datetime
    items: list[SpotCheckItemOut] | None = None


class SpotResultIn(Schema):
    case_id: ObjectIdStr
    reached: bool = Field(description="是否联系上当事人")
    confirms_outcome: bool | None = Field(None, description="当事人是否认可记录的办理结果")
    satisfied: bool | None = Field(None, description="当事人是否满意")
    note: str = Field("", max_length=500)


# ---- supervision -----------------------------------------------------------------------------------------
class NoticeIn(Schema):
    unit_id: ObjectIdStr = Field(description="被督查的单位")
    finding: str = Field(min_length=5, max_length=2000, description="发现的问题")
    evidence: str = Field("", max_length=2000, description="证据")
    deadline: Time = Field(description="整改期限")
    case_ids: list[ObjectIdStr] = Field(default_factory=list, max_length=50, description="涉及的案件")
    inspection_id: ObjectIdStr | None = Field(None, description="来自哪次督查（明察暗访、定期督查）")


class NoticeAnswerIn(Schema):
    text: str = Field(min_length=5, max_length=2000, description="整改情况")
    evidence: str = Field("", max_length=2000, description="整改证明")


class NoticeDecisionIn(Schema):
    reason: str | None = Field(None, max_length=500, description="退回理由（退回时必填）")


class NoticeQuery(PageParams):
    state: NoticeState | None = None


class NoticeOut(Schema):
    id: str
    unit_id: str
    unit_name: str
    finding: str
    evidence: str
    deadline: datetime
    case_ids: list[str]
    inspection_id: str | None
    state: NoticeState
    warning: Literal["yellow", "red"] | None
    on_time: bool | None
    answers: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    version: int
    created_at: datetime


class InspectionIn(Schema):
    kind: InspectionKind = Field(description="open 明察，unannounced 暗访，regular 定期督查，random 随时抽查")
    unit_id: ObjectIdStr
    date: date
    findings: list[str] = Field(min_length=1, max_length=30, description="发现的问题（每条一项）")


class InspectionOut(Schema):
    id: str
    kind: str
    unit_id: str
    unit_name: str
    date: str
    findings: list[str]
    notice_ids: list[str]


# ---- documents to JSON ------------------------------------------------------------------------------------
def statistics_to_json(row: dict[str, Any]) -> StatisticsOut:
    return StatisticsOut(
        id=str(row["_id"]),
        unit_id=str(row["unit_id"]),
        unit_kind=row["unit_kind"],
        month=row["month"],
        source=row["source"],
        counts=row["counts"],
        version=row["version"],
        corrections=len(row["corrections"]),
        entered_at=row["entered_at"],
    )


def incident_to_json(incident: dict[str, Any], tz: Any) -> IncidentOut:
    return IncidentOut(
        id=str(incident["_id"]),
        unit_id=str(incident["unit_id"]),
        date=incident["date"].astimezone(tz).date().isoformat(),
        place=incident["place"],
        case_id=_id(incident.get("case_id")),
        summary=incident["summary"],
    )


def scheme_to_json(scheme: dict[str, Any]) -> SchemeOut:
    return SchemeOut(
        county_id=str(scheme["county_id"]),
        year=scheme["year"],
        version=scheme["version"],
        indicators=[IndicatorIn(**i) for i in scheme["indicators"]],
        deductions=[DeductionIn(**d) for d in scheme["deductions"]],
        bonus_cap=scheme["bonus_cap"],
        updated_at=scheme.get("updated_at"),
    )


def bonus_to_json(bonus: dict[str, Any]) -> BonusOut:
    return BonusOut(
        id=str(bonus["_id"]),
        unit_id=str(bonus["unit_id"]),
        period=bonus["period"],
        points=bonus["points"],
        reason=bonus["reason"],
        evidence=bonus["evidence"],
    )


def run_to_json(run: dict[str, Any], *, with_figures: bool) -> RunOut:
    return RunOut(
        id=str(run["_id"]),
        scope_id=str(run["scope_id"]),
        scope_name=run["scope_name"],
        period=run["period"],
        final=run["final"],
        scheme_version=run["scheme_version"],
        scheme_year=run["scheme_year"],
        units=[
            UnitScore(
                unit_id=str(u["unit_id"]),
                name=u["name"],
                rank=u["rank"],
                total=u["total"],
                indicators=[IndicatorScore(**i) for i in u["indicators"]],
                deductions=[DeductionScore(**d) for d in u["deductions"]],
                bonus_points=u["bonus_points"],
                figures=[FigureOut(**f) for f in u["figures"]] if with_figures else None,
            )
            for u in run["units"]
        ],
        created_at=run["created_at"],
    )


def spot_check_to_json(check: dict[str, Any], items: list[dict[str, Any]] | None = None) -> SpotCheckOut:
    return SpotCheckOut(
        id=str(check["_id"]),
        unit_id=str(check["unit_id"]),
        unit_name=check["unit_name"],
        period=check["period"],
        size=check["size"],
        population=check["population"],
        seed=check["seed"],
        created_at=check["created_at"],
        items=None if items is None else [spot_item_to_json(i) for i in items],
    )


def spot_item_to_json(item: dict[str, Any]) -> SpotCheckItemOut:
    return SpotCheckItemOut(
        case_id=str(item["case_id"]),
        number=item["number"],
        village_id=_id(item.get("village_id")),
        outcome=item.get("outcome"),
        result=_result(item.get("result")),
    )


def _result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {k: (str(v) if k == "by" else v) for k, v in result.items()}


def _entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: (str(v) if k == "by" else v) for k, v in e.items()} for e in entries]


def notice_to_json(notice: dict[str, Any]) -> NoticeOut:
    return NoticeOut(
        id=str(notice["_id"]),
        unit_id=str(notice["unit_id"]),
        unit_name=notice["unit_name"],
        finding=notice["finding"],
        evidence=notice["evidence"],
        deadline=notice["deadline"],
        case_ids=[str(c) for c in notice["case_ids"]],
        inspection_id=_id(notice.get("inspection_id")),
        state=notice["state"],
        warning=notice.get("warning"),
        on_time=notice.get("on_time"),
        answers=_entries(notice["answers"]),
        decisions=_entries(notice["decisions"]),
        version=notice["version"],
        created_at=notice["created_at"],
    )


def inspection_to_json(inspection: dict[str, Any], tz: Any) -> InspectionOut:
    return InspectionOut(
        id=str(inspection["_id"]),
        kind=inspection["kind"],
        unit_id=str(inspection["unit_id"]),
        unit_name=inspection["unit_name"],
        date=inspection["date"].astimezone(tz).date().isoformat(),
        findings=inspection["findings"],
        notice_ids=[str(n) for n in inspection["notice_ids"]],
    )
