"""Cases on the wire: intake, actions, the resident's view and the staff view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, TypeVar

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field

from schemas.base import IdNumber, ObjectIdStr, PageParams, Phone, RevealReason, Schema, Time, given, when
from schemas.visits import GpsPoint
from server.cases.actions import ACTIONS
from server.cases.model import (
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    EXTERNAL_REF_MAX,
    PARTIES_MAX,
    PARTY_LIMITS,
    REFERRAL_CHANNELS,
    status_label,
)
from server.cases.names import NameBook
from server.core.crypto import FieldCipher
from server.core.identity import unseal
from server.core.pii import mask_address, mask_id_number, mask_numbers_in_text, mask_phone
from server.core.vocabulary import (
    OUTCOME_LABELS,
    Category,
    Channel,
    ConcludeOutcome,
    Difficulty,
    Outcome,
    PartyRole,
    ReferOutOutcome,
    Risk,
    Sex,
    SocialRole,
    Source,
    State,
    Tier,
    WarningLevel,
)


class PartyIn(Schema):
    role: PartyRole
    name: str = Field(min_length=1, max_length=PARTY_LIMITS["name"])
    phone: Phone | None = None
    id_number: IdNumber | None = None
    sex: Sex | None = Field(None, description="有身份证号时以身份证号为准")
    birth_date: date | None = Field(None, description="有身份证号时以身份证号为准")
    address: str | None = Field(None, max_length=PARTY_LIMITS["address"], description="住所（协议书所需）")


class CaseIn(Schema):
    """Where the dispute is: a village (or micro-grid), or a household (by id, or by its plate's token)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [given(name) for name in ("village_id", "micro_grid_id", "household_id", "qr_token")],
            "allOf": [
                # a referral carries the source's reference and when the source received it
                when("channel", list(REFERRAL_CHANNELS), given("external_ref", "received_at")),
                # a dispute found on a visit names the household
                when("channel", "grid_visit", {"anyOf": [given("household_id"), given("qr_token")]}),
            ],
        },
    )
    channel: Channel = "miniprogram"
    category: Category
    description: str = Field(min_length=DESCRIPTION_MIN, max_length=DESCRIPTION_MAX)
    parties: list[PartyIn] = Field(
        min_length=1,
        max_length=PARTIES_MAX,
        description="当事人，至少一名申请人",
        json_schema_extra={"contains": {"properties": {"role": {"const": "applicant"}}, "required": ["role"]}},
    )
    qr_token: str | None = Field(None, min_length=1, max_length=64, description="扫门牌所得（群众上报时代替住户）")
    household_id: ObjectIdStr | None = None
    village_id: ObjectIdStr | None = None
    micro_grid_id: ObjectIdStr | None = None
    gps: GpsPoint | None = None
    visit_id: ObjectIdStr | None = None
    consent_contact: bool = Field(False, description="同意工作人员联系本人")
    risk: Risk | None = Field(None, description="工作人员登记时可评估风险等级")
    law_related: bool = False
    external_ref: str | None = Field(
        None, min_length=1, max_length=EXTERNAL_REF_MAX, description="警情编号、案号或信访件编号"
    )
    received_at: Time | None = None
    draft: bool = False
    confirm_new: bool = Field(False, description="一天内提交过相同的纠纷时，确认这是另一件事并仍要提交")


class AgreementIn(Schema):
    parties: list[str] = Field(min_length=2, max_length=50, description="协议当事人")
    facts: str = Field("", max_length=3000, description="纠纷主要事实、争议事项")
    terms: list[str] = Field(min_length=1, max_length=50, description="协议条款")
    performance_deadline: date
    performance_method: str = Field("", max_length=500)


class ActionIn(Schema):
    """What every action takes."""

    version: int | None = Field(None, ge=0, description="客户端看到的版本号；不一致时返回 409")
    note: str | None = Field(None, max_length=2000, description="办理说明")
    reason: str | None = Field(None, max_length=1000, description="理由（此操作可不填）")


class ReasonedActionIn(ActionIn):
    reason: str = Field(min_length=1, max_length=1000, description="理由（必填）")


class AssignIn(ActionIn):
    org_id: ObjectIdStr | None = Field(None, description="承办单位；不填则按分流建议")
    mediator_ids: list[ObjectIdStr] = Field(default_factory=list, max_length=10, description="指定调解员")
    tier: Tier | None = Field(None, description="办理层级；不填按单位推断")


class EscalateIn(ReasonedActionIn):
    org_id: ObjectIdStr | None = Field(None, description="上一级承办单位；不填则按规则（镇矛调中心、县专业调委会）")


class ConcludeIn(ActionIn):
    outcome: ConcludeOutcome = Field(description="调解结果")
    agreement: AgreementIn | None = Field(None, description="调解成功（agreement）时必填")
    difficulty: Difficulty | None = Field(None, description="案件难度（简易/一般/疑难/重大），核查时由办公室确认")


class ReferOutIn(ReasonedActionIn):
    outcome: ReferOutOutcome = "transferred_admin"
    referred_to: str | None = Field(None, max_length=100, description="移交的机关或机构")
    difficulty: Difficulty | None = Field(None, description="案件难度，核查时由办公室确认")


class ReviewIn(ActionIn):
    difficulty: Difficulty | None = Field(None, description="确认的案件难度；不填则采用调解员提出的难度")


class ExtensionRequestIn(ReasonedActionIn):
    days: int = Field(ge=1, le=90, description="延期天数")


class SuperviseIn(ReasonedActionIn):
    deadline: Time = Field(description="督办办结期限")


# The request each action takes; the others take `ActionIn`, or `ReasonedActionIn` when a reason is required.
_SPECIFIC: dict[str, type[ActionIn]] = {
    "assign": AssignIn,
    "escalate": EscalateIn,
    "conclude": ConcludeIn,
    "refer_out": ReferOutIn,
    "review_pass": ReviewIn,
    "extension_request": ExtensionRequestIn,
    "supervise": SuperviseIn,
}
_GENERAL: dict[bool, type[ActionIn]] = {True: ReasonedActionIn, False: ActionIn}
ACTION_BODIES: dict[str, type[ActionIn]] = {
    name: _SPECIFIC.get(name, _GENERAL[action.reason]) for name, action in ACTIONS.items()
}


class SessionIn(Schema):
    at: Time
    place: str = Field(min_length=1, max_length=100)
    mediators: list[str] = Field(min_length=1, max_length=10)
    parties_present: list[str] = Field(default_factory=list, max_length=50)
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=20)
    experts: list[str] = Field(default_factory=list, max_length=10, description="专家（自由填写）")
    roster_ids: list[ObjectIdStr] = Field(
        default_factory=list, max_length=20, description="参加调解的名册人员（调解员、社会力量）"
    )
    notes: str = Field("", max_length=5000)


class ParticipantIn(Schema):
    name: str = Field(min_length=1, max_length=30)
    social_role: SocialRole


SessionIn.model_rebuild()


class AddInfoIn(Schema):
    text: str = Field(min_length=1, max_length=2000)


class RatingIn(Schema):
    stars: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=500)


class JudicialIn(Schema):
    requested: bool = True


class CaseFilters(Schema):
    """What a queue is narrowed by, its state aside (the counts per state take these)."""

    tier: Tier | None = None
    org_id: ObjectIdStr | None = Field(None, description="承办单位")
    source: Source | None = None
    channel: Channel | None = None
    category: Category | None = None
    warning: WarningLevel | None = None
    supervised: bool | None = None
    since: Time | None = None
    until: Time | None = None
    number: str | None = Field(None, min_length=1, max_length=30, description="案件编号（精确）")
    q: str | None = Field(None, min_length=1, max_length=50, description="编号、当事人姓名或案情中的文字")


class CaseQuery(PageParams, CaseFilters):
    state: State | None = None
    sort: Literal["deadline", "newest"] = "deadline"


class CaseCountsOut(Schema):
    counts: dict[str, int] = Field(description="各状态（草稿除外）的案件数")
    open: int = Field(description="尚在办理中的案件数（待分派至待回访）")


class MyCasesQuery(PageParams):
    state: State | None = None


class CaseGetQuery(Schema):
    reveal: bool = Field(False, description="显示当事人完整号码（承办人员与管理员，记入审计）")
    reason: str | None = RevealReason


class TimelineOut(Schema):
    at: datetime
    action: str
    label: str
    from_state: str | None
    to_state: str | None
    note: str | None = None
    actor_id: str | None = None
    actor_name: str | None = Field(None, description="办理人姓名（群众看不到）")
    actor_role: str | None = Field(None, description="办理人身份，如“调解员”")


class MediatorRef(Schema):
    id: str
    name: str | None


class PartyOut(Schema):
    role: str
    name: str
    phone: str | None
    id_number: str | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    address: str | None = None


class AttachmentOut(Schema):
    id: str
    kind: str
    content_type: str
    size: int
    uploaded_at: datetime
    url: str


class Reply(BaseModel):
    """A nested part of a stored case, as sent: typed for clients; fields added later are not an error."""

    model_config = ConfigDict(extra="ignore")


class DeadlineOut(Reply):
    start: datetime
    due: datetime


class SuggestedOut(Reply):
    org_id: str
    org_name: str
    tier: Tier


class SuspensionOut(Reply):
    reason: str
    by: str | None = None
    at: datetime
    since: datetime | None = Field(None, description="批准挂起的时间（已批准时）")
    approved_by: str | None = None


class ExtensionOut(Reply):
    days: int
    reason: str
    by: str | None = None
    at: datetime
    status: Literal["pending", "approved", "rejected"]
    decided_at: datetime | None = None


class SupervisionOut(Reply):
    by: str | None = None
    at: datetime
    deadline: datetime
    note: str = ""


class AgreementOut(Reply):
    parties: list[str]
    facts: str = ""
    terms: list[str]
    performance_deadline: date
    performance_method: str = ""


class OutcomeOut(Reply):
    type: Outcome
    note: str = ""
    at: datetime
    referred_to: str | None = None
    agreement: AgreementOut | None = None


class ParticipantOut(Reply):
    name: str
    social_role: SocialRole


class OpinionOut(Reply):
    consultation_id: str
    expert: str
    text: str
    at: datetime


class MediationSessionOut(Reply):
    id: str
    at: datetime
    place: str
    mediators: list[str]
    parties_present: list[str] = Field(default_factory=list)
    participants: list[ParticipantOut] = Field(default_factory=list)
    experts: list[str] = Field(default_factory=list)
    roster_ids: list[str] = Field(default_factory=list, description="参加调解的调解力量（名册）")
    opinions: list[OpinionOut] = Field(default_factory=list, description="咨询专家的意见")
    notes: str = ""


class DifficultyOut(Reply):
    proposed: Difficulty | None = None
    confirmed: Difficulty | None = None


class RatingOut(Reply):
    stars: int
    comment: str = ""
    at: datetime


class ResidentCaseOut(Schema):
    """What a resident sees of their own case: plain-language status, public timeline, the outcome."""

    id: str
    number: str
    status: str = Field(description="用群众能看懂的话说明的状态")
    state: str
    category: str
    description: str
    created_at: datetime
    outcome: str | None
    timeline: list[TimelineOut]
    attachments: list[AttachmentOut]
    rating: RatingOut | None
    can_withdraw: bool
    can_rate: bool


class CaseOut(Schema):
    id: str
    number: str
    version: int
    state: str
    status: str
    channel: str
    source: str
    category: str
    description: str
    risk: str
    law_related: bool
    tier: str | None
    parties: list[PartyOut]
    village_id: str | None
    micro_grid_id: str | None
    household_id: str | None
    assigned_org_id: str | None
    assigned_org_name: str | None
    mediator_ids: list[str]
    mediators: list[MediatorRef]
    suggested: SuggestedOut | None
    deadlines: dict[str, DeadlineOut]
    warnings: dict[str, str]
    next_due: datetime | None
    suspended: SuspensionOut | None
    suspend_request: SuspensionOut | None
    extension: ExtensionOut | None
    supervised: SupervisionOut | None
    escalation_suggested: bool
    outcome: OutcomeOut | None
    external_ref: str | None
    judicial_confirmation: bool
    difficulty: DifficultyOut | None
    on_time: bool | None = Field(description="是否在办结期限内结束调解")
    sessions: list[MediationSessionOut]
    attachments: list[AttachmentOut]
    rating: RatingOut | None
    timeline: list[TimelineOut]
    allowed_actions: list[str]
    created_at: datetime
    updated_at: datetime


class CaseBrief(Schema):
    id: str
    number: str
    state: str
    status: str
    category: str
    source: str
    tier: str | None
    risk: str
    assigned_org_id: str | None
    assigned_org_name: str | None
    next_due: datetime | None
    warnings: dict[str, str]
    supervised: bool
    created_at: datetime


class ResidentCaseBrief(Schema):
    """A row of the resident's list: enough to recognise the case; the details are one tap away."""

    id: str
    number: str
    status: str = Field(description="用群众能看懂的话说明的状态")
    state: State
    category: str
    summary: str = Field(description="案情的开头")
    outcome: str | None
    created_at: datetime
    updated_at: datetime


def resident_case_row(case: dict[str, Any]) -> dict[str, Any]:
    """A `ResidentCaseBrief` as plain values, written as they are by `write_rows` (the suite validates them)."""
    outcome = case.get("outcome")
    text = mask_numbers_in_text(case["description"])  # before cutting: a number cut in two is not recognised
    return {
        "id": str(case["_id"]),
        "number": case["number"],
        "status": status_label(case),
        "state": case["state"],
        "category": case["category"],
        "summary": text if len(text) <= 40 else text[:40] + "…",
        "outcome": OUTCOME_LABELS.get(outcome["type"]) if outcome else None,
        "created_at": case["created_at"],
        "updated_at": case["updated_at"],
    }


class ImportCasesReport(Schema):
    created: int
    duplicates: list[dict[str, Any]]
    errors: list[dict[str, Any]]


# Timeline entries that are not lifecycle actions, in staff words.
RECORD_LABELS = {
    "draft_saved": "保存草稿",
    "add_info": "群众补充情况",
    "attachment_added": "添加附件",
    "rate": "群众评价",
    "judicial_confirmation": "申请司法确认",
    "session_added": "记录调解",
    "spot_check_mismatch": "抽查回访与记录不符",
    "dispute_closed": "随一件事主案办结",
    "dispute_linked": "并入一件事",
    "dispute_unlinked": "移出一件事",
    "risk_changed": "风险等级变化",
}
ACTION_LABELS_FOR_RESIDENT = {
    "draft_saved": "您保存了草稿（尚未提交）",
    "submit": "您提交了诉求",
    "reject": "不予受理",
    "assign": "已交调解组织办理",
    "accept": "调解组织已签收，开始调解",
    "escalate": "已上报上一级调解组织",
    "conclude": "调解结束",
    "refer_out": "已移交相关机关",
    "follow_up_satisfied": "回访完成，已办结",
    "follow_up_unsatisfied": "根据回访意见重新办理",
    "withdraw": "您撤回了诉求",
    "add_info": "您补充了情况",
    "attachment_added": "补充了材料",
    "rate": "您作出了评价",
    "judicial_confirmation": "已申请司法确认",
    "dispute_closed": "与同一纠纷的其他诉求一并办结",
}


def timeline_label(action: str) -> str:
    """A timeline entry's action in staff words."""
    return ACTIONS[action].label if action in ACTIONS else RECORD_LABELS.get(action, action)


def _timeline(case: dict[str, Any], *, resident: bool, names: NameBook) -> list[TimelineOut]:
    items = []
    for event in case.get("timeline", []):
        if resident and not event["public"]:
            continue
        action = event["action"]
        label = ACTION_LABELS_FOR_RESIDENT.get(action) if resident else None
        if label is None:
            label = timeline_label(action)
        note = event.get("note")
        if resident and action not in ("reject", "add_info", "withdraw"):
            note = None  # staff notes stay with staff
        items.append(
            TimelineOut(
                at=event["at"],
                action=action,
                label=label,
                from_state=event.get("from"),
                to_state=event.get("to"),
                note=note,
                actor_id=None if resident or event.get("actor_id") is None else str(event["actor_id"]),
                actor_name=None if resident else names.person(event.get("actor_id"))[0],
                actor_role=_role_seen_by(case, event, names, resident=resident),
            )
        )
    return items


def _role_seen_by(case: dict[str, Any], event: dict[str, Any], names: NameBook, *, resident: bool) -> str | None:
    """Staff see each actor's role; a resident sees "您" for themself and the role of anyone else."""
    if resident and event.get("actor_id") == case.get("resident_id"):
        return "您"
    return names.person(event.get("actor_id"))[1]


def _attachments(case: dict[str, Any]) -> list[AttachmentOut]:
    return [
        AttachmentOut(
            id=str(a["id"]),
            kind=a["kind"],
            content_type=a["content_type"],
            size=a["size"],
            uploaded_at=a["at"],
            url=f"/api/cases/{case['_id']}/attachments/{a['id']}",
        )
        for a in case.get("attachments", [])
    ]


def resident_case_to_json(
    case: dict[str, Any], allowed: list[str], *, can_rate: bool, names: NameBook | None = None
) -> ResidentCaseOut:
    """`allowed` and `can_rate` come from the case policy (`server.cases.policy`), never from here."""
    outcome = case.get("outcome")
    out = ResidentCaseOut(
        id=str(case["_id"]),
        number=case["number"],
        status=status_label(case),
        state=case["state"],
        category=case["category"],
        description=case["description"],
        created_at=case["created_at"],
        outcome=OUTCOME_LABELS.get(outcome["type"]) if outcome else None,
        timeline=_timeline(case, resident=True, names=names or NameBook()),
        attachments=_attachments(case),
        rating=_typed(RatingOut, case.get("rating")),
        can_withdraw="withdraw" in allowed,
        can_rate=can_rate,
    )
    return _masked(out)


R = TypeVar("R", bound=Reply)


def _typed(model: type[R], value: Any) -> R | None:
    """A stored nested record as its reply model (ObjectIds as strings); None stays None."""
    return None if not value else model.model_validate(_plain(value))


def _masked(out: Any) -> Any:
    """The free text of a case view with typed-in phones and ID numbers masked (the structured party fields
    are masked separately; `?reveal=true` shows both in full, audited)."""
    if isinstance(out, str):
        return mask_numbers_in_text(out)
    if isinstance(out, list):
        return [_masked(v) for v in out]
    if isinstance(out, BaseModel):
        changes = {name: _masked(getattr(out, name)) for name in FREE_TEXT.get(type(out).__name__, ())}
        nested = {
            name: _masked(value) for name, value in out if isinstance(value, BaseModel | list) and name not in changes
        }
        return out.model_copy(update=changes | nested)
    return out


# The fields people type into, per reply model.
FREE_TEXT: dict[str, tuple[str, ...]] = {
    "CaseOut": ("description",),
    "ResidentCaseOut": ("description",),
    "TimelineOut": ("note",),
    "MediationSessionOut": ("notes",),
    "OutcomeOut": ("note",),
    "AgreementOut": ("facts", "terms"),
    "SuspensionOut": ("reason",),
    "ExtensionOut": ("reason",),
    "SupervisionOut": ("note",),
}


def _plain(value: Any) -> Any:
    """ObjectIds inside nested records become strings."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def case_to_json(
    case: dict[str, Any], allowed: list[str], cipher: FieldCipher, *, full: bool, names: NameBook | None = None
) -> CaseOut:
    names = names or NameBook()
    parties = []
    for party in case["parties"]:
        phone, id_number = unseal(cipher, party)
        parties.append(
            PartyOut(
                role=party["role"],
                name=party["name"],
                phone=phone if full or phone is None else mask_phone(phone),
                id_number=id_number if full or id_number is None else mask_id_number(id_number),
                sex=party.get("sex"),
                birth_date=party.get("birth_date"),
                address=party.get("address") if full or not party.get("address") else mask_address(party["address"]),
            )
        )

    def opt(key: str) -> str | None:
        return str(case[key]) if case.get(key) else None

    out = CaseOut(
        id=str(case["_id"]),
        number=case["number"],
        version=case["version"],
        state=case["state"],
        status=status_label(case),
        channel=case["channel"],
        source=case["source"],
        category=case["category"],
        description=case["description"],
        risk=case["risk"],
        law_related=case["law_related"],
        tier=case.get("tier"),
        parties=parties,
        village_id=opt("village_id"),
        micro_grid_id=opt("micro_grid_id"),
        household_id=opt("household_id"),
        assigned_org_id=opt("assigned_org_id"),
        assigned_org_name=names.unit(case.get("assigned_org_id")),
        mediator_ids=[str(m) for m in case.get("mediator_ids", [])],
        mediators=[MediatorRef(id=str(m), name=names.person(m)[0]) for m in case.get("mediator_ids", [])],
        suggested=_typed(SuggestedOut, case.get("suggested")),
        deadlines={k: DeadlineOut.model_validate(v) for k, v in (case.get("deadlines") or {}).items() if v},
        warnings=case.get("warnings", {}),
        next_due=case.get("next_due"),
        suspended=_typed(SuspensionOut, case.get("suspended")),
        suspend_request=_typed(SuspensionOut, case.get("suspend_request")),
        extension=_typed(ExtensionOut, case.get("extension")),
        supervised=_typed(SupervisionOut, case.get("supervised")),
        escalation_suggested=case.get("escalation_suggested", False),
        outcome=_typed(OutcomeOut, case.get("outcome")),
        external_ref=case.get("external_ref"),
        judicial_confirmation=case.get("judicial_confirmation", False),
        difficulty=_typed(DifficultyOut, case.get("difficulty")),
        on_time=case.get("on_time"),
        sessions=[MediationSessionOut.model_validate(_plain(x)) for x in case.get("sessions", [])],
        attachments=_attachments(case),
        rating=_typed(RatingOut, case.get("rating")),
        timeline=_timeline(case, resident=False, names=names),
        allowed_actions=allowed,
        created_at=case["created_at"],
        updated_at=case["updated_at"],
    )
    return out if full else _masked(out)


def case_row(case: dict[str, Any], names: NameBook | None = None) -> dict[str, Any]:
    """A `CaseBrief` as plain values, written as they are by `write_rows` (the suite validates them)."""
    return {
        "id": str(case["_id"]),
        "number": case["number"],
        "state": case["state"],
        "status": status_label(case),
        "category": case["category"],
        "source": case["source"],
        "tier": case.get("tier"),
        "risk": case["risk"],
        "assigned_org_id": str(case["assigned_org_id"]) if case.get("assigned_org_id") else None,
        "assigned_org_name": (names or NameBook()).unit(case.get("assigned_org_id")),
        "next_due": case.get("next_due"),
        "warnings": case.get("warnings", {}),
        "supervised": bool(case.get("supervised")),
        "created_at": case["created_at"],
    }


def case_brief(case: dict[str, Any], names: NameBook | None = None) -> CaseBrief:
    return CaseBrief(**case_row(case, names))
