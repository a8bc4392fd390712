"""The mediators' side on the wire: the roster and the expert pool, star ratings, 以案定补 statements, expert
consultations, and the two schemes (rating scheme, subsidy rules) as settings (`server/mediators/`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from schemas.base import ObjectIdStr, PageParams, Patch, Schema, Time, given
from schemas.settings import SettingMeta
from server.core.pii import mask_name, mask_numbers_in_text
from server.core.vocabulary import Category, Difficulty, SocialRole, Tier
from server.mediators.terms import ExpertField, Indicator, MediatorKind, ProfileStatus, SplitRule

PERIOD = r"^20\d{2}(-H[12])?$"
MONTH = r"^20\d{2}-(0[1-9]|1[0-2])$"
Level = Literal[0, 1, 2, 3, 4, 5]


def _id(value: Any) -> str | None:
    return str(value) if value is not None else None


# ---- the roster ------------------------------------------------------------------------------------------
class MediatorQuery(PageParams):
    org_id: ObjectIdStr | None = Field(None, description="所属单位（含下级）")
    specialty: Category | None = Field(None, description="擅长的纠纷类别")
    kind: MediatorKind | None = None
    force: SocialRole | None = Field(None, description="社会力量类别")
    star: int | None = Field(None, ge=0, le=5, description="当前星级（0 为无星级）")
    status: ProfileStatus | None = None
    account: bool | None = Field(None, description="true 只看有账号的调解员，false 只看社会力量")
    q: str | None = Field(None, min_length=1, max_length=30, description="姓名（部分）")


class MediatorFigures(Schema):
    open: int | None = Field(description="在办案件数")
    concluded_this_year: int | None = Field(description="本年办结（结束调解）案件数")
    agreement_rate: float | None = Field(description="本年调解成功率（0–1）")
    on_time_rate: float | None = Field(description="本年按期办结率（0–1）")
    satisfaction: float | None = Field(description="本年回访满意率（0–1）")
    average_rating: float | None = Field(description="本年群众评价平均星数")
    sessions_this_year: int | None = Field(description="社会力量：本年参加调解次数")


class StarOut(Schema):
    level: int | None
    period: str
    run_id: str
    at: datetime


class GoldOut(Schema):
    period: str
    at: datetime
    reason: str


class MediatorOut(Schema):
    id: str
    user_id: str | None = Field(description="有账号的调解员；社会力量为空")
    name: str
    kind: MediatorKind | None
    force: SocialRole | None
    specialties: list[Category]
    org_ids: list[str]
    town_id: str | None
    tier: Tier | None
    certificate: str | None
    training_hours: int
    status: ProfileStatus
    star: StarOut | None
    gold: list[GoldOut] = Field(description="金牌调解员称号（按周期）")
    figures: MediatorFigures | None = None
    publicity_consent: bool = Field(False, description="本人同意作为先进典型公开宣传")


def mediator_to_json(profile: dict[str, Any], figures: dict[str, Any] | None = None) -> MediatorOut:
    star = profile.get("star")
    return MediatorOut(
        id=str(profile["_id"]),
        user_id=_id(profile.get("user_id")),
        name=profile["name"],
        kind=profile.get("kind"),
        force=profile.get("force"),
        specialties=profile.get("specialties") or [],
        org_ids=[str(o) for o in profile["org_ids"]],
        town_id=_id(profile.get("town_id")),
        tier=profile.get("tier"),
        certificate=profile.get("certificate"),
        training_hours=profile.get("training_hours") or 0,
        status=profile["status"],
        star=StarOut(level=star["level"], period=star["period"], run_id=str(star["run_id"]), at=star["at"])
        if star
        else None,
        gold=[GoldOut(period=g["period"], at=g["at"], reason=g["reason"]) for g in profile.get("gold") or []],
        figures=MediatorFigures(**figures) if figures else None,
        publicity_consent=bool((profile.get("publicity_consent") or {}).get("given")),
    )


class PublicityConsentIn(Schema):
    given: bool = Field(description="是否同意以本人事迹作为先进典型公开宣传（可随时撤回）")


class MediatorIn(Schema):
    """A roster entry without an account: a social force who takes part in mediation (or an outside mediator)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [given("force"), given("kind")]})

    name: str = Field(min_length=1, max_length=30)
    force: SocialRole | None = Field(None, description="社会力量类别（党员干部、人大代表、乡贤、五老……）")
    kind: MediatorKind | None = Field(None, description="调解员类别（人民调解员、律师调解……）")
    specialties: list[Category] = Field(default_factory=list, max_length=20)
    org_ids: list[ObjectIdStr] = Field(min_length=1, max_length=5, description="所属单位（村、调解室、中心）")
    tier: Tier | None = None
    certificate: str | None = Field(None, min_length=1, max_length=40, description="证书编号")
    training_hours: int = Field(0, ge=0, le=10000, description="培训学时")
    status: ProfileStatus = "active"


class MediatorPatch(Patch):
    name: str | None = Field(None, min_length=1, max_length=30, description="只能修改无账号人员的姓名")
    force: SocialRole | None = None
    kind: MediatorKind | None = None
    specialties: list[Category] | None = Field(None, max_length=20)
    org_ids: list[ObjectIdStr] | None = Field(None, min_length=1, max_length=5)
    tier: Tier | None = None
    certificate: str | None = Field(None, min_length=1, max_length=40)
    training_hours: int | None = Field(None, ge=0, le=10000)
    status: ProfileStatus | None = None


class GoldIn(Schema):
    period: str = Field(pattern=PERIOD, description="评定周期，如 2025")
    reason: str = Field(min_length=1, max_length=500, description="授予理由")


class SuggestionQuery(Schema):
    org_id: ObjectIdStr | None = Field(None, description="拟分派的单位；不填按分流建议")


class SuggestionOut(Schema):
    mediator: MediatorOut
    score: float
    reasons: list[str]


class SuggestionsOut(Schema):
    items: list[SuggestionOut] = Field(description="按推荐程度排序，最多 10 人")


# ---- the expert pool -------------------------------------------------------------------------------------
class ExpertQuery(PageParams):
    field: ExpertField | None = Field(None, description="专业领域")
    available: bool | None = None
    q: str | None = Field(None, min_length=1, max_length=30, description="姓名（部分）")


class ExpertOut(Schema):
    id: str
    user_id: str | None
    name: str
    field: ExpertField
    organisation: str
    title: str
    available: bool
    status: ProfileStatus
    town_id: str | None = Field(description="为空时是县级专家，服务全县各镇")
    pending: int | None = Field(None, description="待答复的咨询数")
    answered: int | None = Field(None, description="已答复的咨询数")


def expert_to_json(profile: dict[str, Any], counts: dict[str, int] | None = None) -> ExpertOut:
    return ExpertOut(
        id=str(profile["_id"]),
        user_id=_id(profile.get("user_id")),
        name=profile["name"],
        field=profile["field"],
        organisation=profile.get("organisation") or "",
        title=profile.get("title") or "",
        available=profile["available"],
        status=profile["status"],
        town_id=_id(profile.get("town_id")),
        pending=(counts or {}).get("pending"),
        answered=(counts or {}).get("answered"),
    )


class ExpertPatch(Patch):
    field: ExpertField | None = None
    organisation: str | None = Field(None, max_length=60)
    title: str | None = Field(None, max_length=30, description="职称")
    available: bool | None = Field(None, description="是否接受咨询")
    status: ProfileStatus | None = None


# ---- schemes (settings of a town or county) --------------------------------------------------------------
class IndicatorRule(Schema):
    key: Indicator
    weight: int = Field(ge=0, le=100, description="权重（各指标之和为 100）")
    full_at: int | None = Field(
        None, ge=1, le=100000, description="数量类指标：达到此值得满分；投诉类：达到此值得 0 分"
    )


class DifficultyWeights(Schema):
    simple: int = Field(ge=0, le=100)
    ordinary: int = Field(ge=0, le=100)
    complex: int = Field(ge=0, le=100)
    major: int = Field(ge=0, le=100)


class RatingScheme(Schema):
    indicators: list[IndicatorRule] = Field(min_length=1, max_length=7)
    difficulty_weights: DifficultyWeights
    thresholds: list[int] = Field(min_length=5, max_length=5, description="1 至 5 星的综合得分线，依次递增")
    min_cases: int = Field(ge=0, le=1000, description="办结案件少于此数不评星级")

    def data(self) -> dict[str, Any]:
        """As stored."""
        return self.model_dump(exclude={"town_may_override"})

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> RatingScheme:
        return cls.model_validate(stored)


class RatingSchemeIn(RatingScheme):
    town_may_override: bool | None = Field(None, description="只在县级设置：是否允许各镇自行修改")


class RatingSchemeOut(RatingScheme, SettingMeta):
    pass


Fen = int


class OutcomeAmounts(Schema):
    agreement: Fen = Field(ge=0, le=10_000_000, description="调解成功（分）")
    referred: Fen = Field(ge=0, le=10_000_000, description="调解未成但依法引导诉讼、仲裁或移交（分）")


class AmountsByDifficulty(Schema):
    simple: OutcomeAmounts
    ordinary: OutcomeAmounts
    complex: OutcomeAmounts
    major: OutcomeAmounts


class StarFactors(Schema):
    """Percent by star level; stored by level ("0" … "5")."""

    star0: int = Field(ge=0, le=1000, description="无星级（%）")
    star1: int = Field(ge=0, le=1000)
    star2: int = Field(ge=0, le=1000)
    star3: int = Field(ge=0, le=1000)
    star4: int = Field(ge=0, le=1000)
    star5: int = Field(ge=0, le=1000)


class SubsidyRules(Schema):
    amounts: AmountsByDifficulty = Field(description="每案补贴标准（分），按难度和结果")
    judicial_bonus: Fen = Field(ge=0, le=10_000_000, description="司法确认奖励（分）")
    star_factors: StarFactors = Field(description="星级系数（百分比）")
    monthly_cap: Fen = Field(ge=1, le=100_000_000, description="每名调解员每月上限（分）")
    split: SplitRule = Field(description="多名调解员时：equal 平均分配；lead 第一调解员按 lead_percent 取得")
    lead_percent: int = Field(ge=1, le=100)

    def data(self) -> dict[str, Any]:
        """As stored: star factors by level."""
        value = self.model_dump(exclude={"town_may_override"})
        value["star_factors"] = {name.removeprefix("star"): f for name, f in value["star_factors"].items()}
        return value

    @staticmethod
    def wire(stored: dict[str, Any]) -> dict[str, Any]:
        """Stored rules as the API shows them."""
        return stored | {"star_factors": {f"star{level}": f for level, f in stored["star_factors"].items()}}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> SubsidyRules:
        return cls.model_validate(cls.wire(stored))


class SubsidyRulesIn(SubsidyRules):
    town_may_override: bool | None = Field(None, description="只在县级设置：是否允许各镇自行修改")


class SubsidyRulesOut(SubsidyRules, SettingMeta):
    pass


# ---- star ratings ----------------------------------------------------------------------------------------
class RatingRunIn(Schema):
    period: str = Field(pattern=PERIOD, description="年度（2025）或半年度（2025-H1）")
    town_id: ObjectIdStr | None = Field(None, description="镇；镇管理员不填（本镇），县管理员必填")


class RatingQuery(PageParams):
    period: str | None = Field(None, pattern=PERIOD)


class RatingResultOut(Schema):
    profile_id: str
    user_id: str
    name: str
    indicators: dict[str, float | int | None] = Field(description="各指标的值（比率为 0–1）")
    points: dict[str, float] = Field(description="各指标得分（0–100）")
    score: float = Field(description="综合得分（0–100）")
    computed: int | None = Field(description="按方案计算的星级；为空表示案件数不足")
    note: str
    proposed: int | None = Field(description="镇提出的星级")
    proposed_reason: str | None
    level: int | None = Field(description="县确认的星级")
    reason: str | None


class RatingOut(Schema):
    id: str
    town_id: str
    period: str
    state: Literal["draft", "proposed", "confirmed"]
    scheme_version: str
    cases_counted: int
    results: list[RatingResultOut]
    computed_at: datetime
    proposed_at: datetime | None
    confirmed_at: datetime | None
    returned_reason: str | None


def rating_to_json(run: dict[str, Any]) -> RatingOut:
    return RatingOut(
        id=str(run["_id"]),
        town_id=str(run["town_id"]),
        period=run["period"],
        state=run["state"],
        scheme_version=run["scheme_version"],
        cases_counted=run["cases_counted"],
        results=[
            RatingResultOut(**{**r, "profile_id": str(r["profile_id"]), "user_id": str(r["user_id"])})
            for r in run["results"]
        ],
        computed_at=run["computed_at"],
        proposed_at=run.get("proposed_at"),
        confirmed_at=run.get("confirmed_at"),
        returned_reason=run.get("returned_reason"),
    )


class OverrideIn(Schema):
    profile_id: ObjectIdStr
    level: Level | None = Field(description="调整后的星级；为空表示不评星级")
    reason: str | None = Field(None, min_length=1, max_length=500, description="与计算结果不同时必填")


class ApproveRatingIn(Schema):
    overrides: list[OverrideIn] = Field(default_factory=list, max_length=500)


class ReturnIn(Schema):
    reason: str = Field(min_length=1, max_length=500)


# ---- 以案定补 ----------------------------------------------------------------------------------------------
class StatementIn(Schema):
    month: str = Field(pattern=MONTH, description="月份，如 2026-10")
    town_id: ObjectIdStr | None = Field(None, description="镇；镇管理员不填（本镇），县管理员必填")


class StatementQuery(PageParams):
    month: str | None = Field(None, pattern=MONTH)


class StatementLineOut(Schema):
    id: str
    kind: Literal["case", "adjustment"]
    case_id: str | None
    number: str | None
    unit_id: str | None
    user_id: str | None
    profile_id: str | None
    name: str
    difficulty: Difficulty | None
    outcome: str | None
    base: int = Field(description="标准（分）")
    bonus: int = Field(description="奖励（分）")
    share: int = Field(description="分配所得（分）")
    star: int
    factor: int = Field(description="星级系数（%）")
    amount: int = Field(description="补贴金额（分）")
    exceptions: list[str] = Field(
        description="missing_difficulty 未确认难度；over_cap 超出月度上限；no_mediator；not_payable"
    )
    corrects_month: str | None = Field(None, description="更正行：更正的月份")
    reason: str | None = Field(None, description="更正行：理由")


def line_to_json(line: dict[str, Any]) -> StatementLineOut:
    return StatementLineOut(
        **{
            k: (str(v) if k in ("id", "case_id", "unit_id", "user_id", "profile_id") and v is not None else v)
            for k, v in line.items()
            if k in StatementLineOut.model_fields
        }
    )


class StatementTotals(Schema):
    total: int = Field(description="合计（分）")
    by_mediator: dict[str, int] = Field(description="按调解员账号合计（分）")
    by_unit: dict[str, int] = Field(description="按单位合计（分）")
    exceptions: int = Field(description="有异常的条目数")


class StatementOut(Schema):
    id: str
    town_id: str
    month: str
    state: Literal["open", "approved", "locked"]
    totals: StatementTotals
    rules_version: str | None
    lines: list[StatementLineOut] | None = Field(description="列表中不含明细")
    approved_at: datetime | None
    locked_at: datetime | None


def statement_to_json(statement: dict[str, Any]) -> StatementOut:
    lines = statement.get("lines")
    return StatementOut(
        id=str(statement["_id"]),
        town_id=str(statement["town_id"]),
        month=statement["month"],
        state=statement["state"],
        totals=StatementTotals(**statement["totals"]),
        rules_version=statement.get("rules_version"),
        lines=[line_to_json(x) for x in lines] if lines is not None else None,
        approved_at=statement.get("approved_at"),
        locked_at=statement.get("locked_at"),
    )


class CorrectionIn(Schema):
    profile_id: ObjectIdStr = Field(description="调解员（名册）")
    case_id: ObjectIdStr | None = Field(None, description="更正的案件（须在被更正的结算单中）")
    amount: int = Field(ge=-100_000_000, le=100_000_000, description="更正金额（分），可为负数")
    reason: str = Field(min_length=1, max_length=500)


class SlipQuery(Schema):
    month: str | None = Field(None, pattern=MONTH)


class SlipOut(Schema):
    statement_id: str
    month: str
    state: Literal["open", "approved", "locked"]
    lines: list[StatementLineOut]
    total: int = Field(description="合计（分）")


class SlipsOut(Schema):
    items: list[SlipOut] = Field(description="按月份从近到远")


# ---- consultations ---------------------------------------------------------------------------------------
class ConsultationIn(Schema):
    expert_id: ObjectIdStr = Field(description="专家（专家库）")
    question: str = Field(min_length=5, max_length=2000, description="咨询的问题")
    attachment_ids: list[ObjectIdStr] = Field(default_factory=list, max_length=20, description="给专家看的案件附件")
    deadline: Time = Field(description="答复期限")
    session_id: ObjectIdStr | None = Field(None, description="意见记入的调解记录")


class ConsultationQuery(PageParams):
    state: Literal["pending", "answered"] | None = None


class FileOut(Schema):
    id: str
    kind: str
    content_type: str
    size: int
    url: str


class ConsultedParty(Schema):
    role: str
    name: str


class ConsultedCase(Schema):
    """What an expert sees of the case: the matter, not the people (names masked, numbers masked)."""

    number: str
    category: str
    description: str
    parties: list[ConsultedParty]


class OpinionOut(Schema):
    text: str
    at: datetime


class ConsultationOut(Schema):
    id: str
    case_id: str
    number: str
    expert_id: str
    expert_name: str
    question: str
    deadline: datetime
    state: Literal["pending", "answered"]
    warning: Literal["yellow", "red"] | None
    case: ConsultedCase | None = Field(None, description="详情中给出")
    files: list[FileOut] = Field(description="案件附件（所选）和专家意见附件")
    opinion: OpinionOut | None
    created_at: datetime


def consultation_to_json(consultation: dict[str, Any], case: dict[str, Any] | None = None) -> ConsultationOut:
    url = f"/api/consultations/{consultation['_id']}/files"
    files = [
        FileOut(id=str(f["id"]), kind=f["kind"], content_type=f["content_type"], size=f["size"], url=f"{url}/{f['id']}")
        for f in [*consultation["attachments"], *consultation["opinion_files"]]
    ]
    opinion = consultation.get("opinion")
    return ConsultationOut(
        id=str(consultation["_id"]),
        case_id=str(consultation["case_id"]),
        number=consultation["number"],
        expert_id=str(consultation["expert_id"]),
        expert_name=consultation["expert_name"],
        question=consultation["question"],
        deadline=consultation["deadline"],
        state=consultation["state"],
        warning=consultation.get("warning"),
        case=ConsultedCase(
            number=case["number"],
            category=case["category"],
            description=mask_numbers_in_text(case["description"]),
            parties=[ConsultedParty(role=p["role"], name=mask_name(p["name"])) for p in case["parties"]],
        )
        if case
        else None,
        files=files,
        opinion=OpinionOut(text=opinion["text"], at=opinion["at"]) if opinion else None,
        created_at=consultation["created_at"],
    )


class AnswerIn(Schema):
    text: str = Field(min_length=2, max_length=5000, description="专家意见")
