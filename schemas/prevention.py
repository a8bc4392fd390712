"""主动治理 on the wire: link suggestions and 一件事, the household file and its notes, warnings and the daily
研判, and the risk rules as a setting (`server/prevention/`, `server/cases/risk.py`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from schemas.base import ObjectIdStr, PageParams, Schema
from schemas.cases import CaseBrief
from schemas.households import HouseholdOut
from schemas.settings import SettingMeta
from server.core.vocabulary import RISKS, Risk

Points = int
TagPoints = Annotated[int, Field(ge=0, le=100)]


# ---- 一件事 ---------------------------------------------------------------------------------------------------
class LinkSuggestionOut(Schema):
    case_id: str
    number: str
    score: int
    reasons: list[str] = Field(description="为什么可能是同一件事，如「同一当事人电话」「同一户」")
    state: str
    category: str | None
    source: str
    created_at: datetime


class DisputeBrief(Schema):
    id: str
    lead_case_id: str
    case_ids: list[str] = Field(description="本人可见的成员案件")
    sources: list[str]
    state: Literal["open", "closed", "merged", "dissolved"] = Field(description="closed：主案已办结，成员一并办结")


class CaseLinksOut(Schema):
    dispute: DisputeBrief | None
    suggestions: list[LinkSuggestionOut]


class LinkIn(Schema):
    case_id: ObjectIdStr
    other_case_id: ObjectIdStr
    reason: str = Field(min_length=2, max_length=300)


class UnlinkIn(Schema):
    case_id: ObjectIdStr
    reason: str = Field(min_length=2, max_length=300)


class DisputeEventOut(Schema):
    at: datetime
    case_number: str
    action: str
    label: str
    note: str | None


class DisputeHistoryOut(Schema):
    action: str
    case_ids: list[str]
    reason: str
    by: str
    at: datetime


class DisputeOut(DisputeBrief):
    risk: Risk = Field(description="成员案件中最高的风险等级")
    merged_into: str | None
    members: list[CaseBrief]
    timeline: list[DisputeEventOut] = Field(description="各成员案件的时间线合并，按时间排列")
    history: list[DisputeHistoryOut]
    created_at: datetime
    updated_at: datetime


# ---- the household file ----------------------------------------------------------------------------------
class VisitBrief(Schema):
    id: str
    visited_at: datetime
    purposes: list[str]
    notes: str
    visitor_id: str


class FileCase(Schema):
    id: str
    number: str
    state: str
    status: str
    category: str | None
    risk: Risk
    outcome: str | None
    dispute_id: str | None
    created_at: datetime


class NoteIn(Schema):
    text: str = Field(min_length=2, max_length=500, description="关注事项")
    follow_up_on: date | None = Field(None, description="跟进日期")


class NoteDoneIn(Schema):
    text: str = Field("", max_length=500, description="办结情况")


class NoteOut(Schema):
    id: str
    text: str
    follow_up_on: date | None
    at: datetime
    by: str
    done_at: datetime | None
    done_note: str | None


class HouseholdFileOut(Schema):
    household: HouseholdOut
    risk: Risk
    risk_reasons: list[str]
    visits: list[VisitBrief]
    cases: list[FileCase]
    notes: list[NoteOut]


# ---- warnings --------------------------------------------------------------------------------------------
WarningKind = Literal["risk", "cluster"]
WarningState = Literal["open", "acknowledged", "handled"]


class WarningQuery(PageParams):
    kind: WarningKind | None = None
    level: Literal["medium", "high", "critical"] | None = None
    state: WarningState | None = None


class WarningOut(Schema):
    id: str
    kind: WarningKind
    level: str
    title: str
    reasons: list[str]
    case_ids: list[str]
    state: WarningState
    responses: list[dict[str, Any]]
    escalated_at: datetime | None
    created_at: datetime


class WarningNoteIn(Schema):
    note: str = Field(min_length=2, max_length=500, description="签收或处置情况")


class BriefingQuery(Schema):
    town_id: ObjectIdStr | None = None


class BriefingOut(Schema):
    town_id: str
    day: str
    counts: dict[str, int]
    text: str
    created_at: datetime


# ---- the risk rules, a setting ---------------------------------------------------------------------------
class LexiconEntry(Schema):
    label: str = Field(min_length=1, max_length=20)
    pattern: str = Field(min_length=1, max_length=500, description="正则表达式")
    points: Points = Field(ge=0, le=100)


class LexiconTests(Schema):
    match: list[str] = Field(max_length=100, description="必须识别的句子")
    no_match: list[str] = Field(max_length=100, description="不得识别的句子")


class RepeatRule(Schema):
    window_days: int = Field(ge=1, le=730)
    at_least: int = Field(ge=1, le=100)
    points: Points = Field(ge=0, le=100)


class PartiesRule(Schema):
    many: int = Field(ge=2, le=1000)
    many_points: Points = Field(ge=0, le=100)
    crowd: int = Field(ge=2, le=1000)
    crowd_points: Points = Field(ge=0, le=100)


class Levels(Schema):
    medium: int = Field(ge=1, le=1000)
    high: int = Field(ge=1, le=1000)
    critical: int = Field(ge=1, le=1000)


class RiskRules(Schema):
    lexicon: list[LexiconEntry] = Field(max_length=50)
    lexicon_tests: LexiconTests
    repeat: RepeatRule
    sources_points: Points = Field(ge=0, le=100, description="一件事每多一个来源")
    parties: PartiesRule
    cluster_points: Points = Field(ge=0, le=100)
    failed_mediation_points: Points = Field(ge=0, le=100)
    overdue_points: Points = Field(ge=0, le=100)
    returned_points: Points = Field(ge=0, le=100)
    escalation_points: Points = Field(ge=0, le=100, description="每上报一次")
    vulnerable_tags: dict[str, TagPoints] = Field(max_length=50, description="住户标签及其加分")
    levels: Levels = Field(description="风险分数线：中、高、极高")

    def data(self) -> dict[str, Any]:
        return self.model_dump(exclude={"town_may_override"})


class RiskRulesIn(RiskRules):
    town_may_override: bool | None = Field(None, description="只在县级设置：是否允许各镇自行修改")


class RiskRulesOut(RiskRules, SettingMeta):
    pass


RISK_WORDS = dict(zip(RISKS, ("低", "中", "高", "极高"), strict=True))
