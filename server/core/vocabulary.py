"""The words of the domain (DOMAIN.md), each defined once: the `Literal` type for code and schemas, and the
runtime tuple derived from it. Roles and capabilities are in `server.core.permissions`."""

from __future__ import annotations

from typing import Literal, get_args

State = Literal["draft", "registered", "assigned", "in_mediation", "concluded", "follow_up", "closed", "rejected"]
STATES: tuple[State, ...] = get_args(State)
OPEN_STATES: tuple[State, ...] = ("draft", "registered", "assigned", "in_mediation", "concluded", "follow_up")
STATE_LABELS: dict[str, str] = {
    "draft": "草稿，尚未提交",
    "registered": "已登记，正在安排调解组织",
    "assigned": "已交调解组织，等待签收",
    "in_mediation": "调解组织正在调解",
    "concluded": "调解已结束，等待核查",
    "follow_up": "等待回访",
    "closed": "已办结",
    "rejected": "不予受理",
}
# The same states as staff name them in a queue.
STATE_NAMES: dict[str, str] = {
    "draft": "草稿",
    "registered": "待分派",
    "assigned": "待签收",
    "in_mediation": "调解中",
    "concluded": "待核查",
    "follow_up": "待回访",
    "closed": "已办结",
    "rejected": "不予受理",
}

Channel = Literal[
    "miniprogram",
    "grid_visit",
    "walk_in",
    "hotline",
    "police_referral",
    "court_referral",
    "petition_referral",
    "partner",
]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
Source = Literal["grassroots", "police", "litigation", "petition"]
SOURCES: tuple[Source, ...] = get_args(Source)
CHANNEL_SOURCE: dict[str, Source] = {
    "miniprogram": "grassroots",
    "grid_visit": "grassroots",
    "walk_in": "grassroots",
    "hotline": "grassroots",
    "police_referral": "police",
    "court_referral": "litigation",
    "petition_referral": "petition",
    "partner": "grassroots",  # by default; a partner system's kind decides (PARTNER_SOURCE)
}
# Short names for staff screens and reports.
SOURCE_LABELS = {"grassroots": "基层（群众、网格、来访）", "police": "警源", "litigation": "诉源", "petition": "访源"}
CHANNEL_LABELS = {
    "miniprogram": "小程序",
    "grid_visit": "网格走访",
    "walk_in": "来访",
    "hotline": "来电",
    "police_referral": "警调移交",
    "court_referral": "诉调委派",
    "petition_referral": "访调移交",
    "partner": "外部系统对接（Open311）",
}
# The systems that hand disputes over through Open311 (partners), and the source each one's requests belong to.
PartnerKind = Literal["hotline", "grid_system", "police", "court", "petition", "app"]
PARTNER_KINDS: tuple[PartnerKind, ...] = get_args(PartnerKind)
PARTNER_SOURCE: dict[str, Source] = {
    "hotline": "grassroots",
    "grid_system": "grassroots",
    "police": "police",
    "court": "litigation",
    "petition": "petition",
    "app": "grassroots",
}
PARTNER_KIND_LABELS: dict[str, str] = {
    "hotline": "12345 政务服务热线",
    "grid_system": "综治网格化信息系统",
    "police": "公安系统",
    "court": "法院系统",
    "petition": "信访系统",
    "app": "第三方应用",
}
LiaisonFor = Literal["police", "court", "petition"]
REFERRAL_FOR: dict[str, LiaisonFor] = {
    "police_referral": "police",
    "court_referral": "court",
    "petition_referral": "petition",
}
LIAISON_SOURCE: dict[str, Source] = {"police": "police", "court": "litigation", "petition": "petition"}

Risk = Literal["low", "medium", "high", "critical"]
RISKS: tuple[Risk, ...] = get_args(Risk)
RISK_LABELS: dict[str, str] = {"low": "低", "medium": "中", "high": "高", "critical": "极高"}
Tier = Literal["village", "town", "county"]
TIERS: tuple[Tier, ...] = get_args(Tier)
TIER_LABELS: dict[str, str] = {"village": "村级", "town": "镇级", "county": "县级"}
WarningLevel = Literal["yellow", "red"]
PartyRole = Literal["applicant", "respondent"]
Sex = Literal["male", "female"]
SEX_LABELS: dict[Sex, str] = {"male": "男", "female": "女"}
SocialRole = Literal["党员干部", "人大代表", "政协委员", "乡贤", "五老", "志愿者", "律师", "其他"]

# How hard a case was (the mediator proposes it at conclusion, the office confirms it at review): it weighs
# a mediator's volume in the star rating and sets the case's subsidy (以案定补).
Difficulty = Literal["simple", "ordinary", "complex", "major"]
DIFFICULTIES: tuple[Difficulty, ...] = get_args(Difficulty)
DIFFICULTY_LABELS: dict[str, str] = {"simple": "简易", "ordinary": "一般", "complex": "疑难", "major": "重大"}

Outcome = Literal[
    "agreement", "withdrawn", "failed_litigation", "failed_arbitration", "transferred_admin", "not_accepted"
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
OUTCOME_LABELS: dict[str, str] = {
    "agreement": "调解成功，已签订调解协议",
    "withdrawn": "申请人撤回",
    "failed_litigation": "调解未成，已引导通过诉讼解决",
    "failed_arbitration": "调解未成，已引导通过仲裁解决",
    "transferred_admin": "已移交行政机关处理",
    "not_accepted": "不予受理",
}
ConcludeOutcome = Literal["agreement", "failed_litigation", "failed_arbitration", "transferred_admin"]
CONCLUDE_OUTCOMES: tuple[ConcludeOutcome, ...] = get_args(ConcludeOutcome)
ReferOutOutcome = Literal["failed_litigation", "failed_arbitration", "transferred_admin"]
REFER_OUT_OUTCOMES: tuple[ReferOutOutcome, ...] = get_args(ReferOutOutcome)

Category = Literal[
    "neighbour",
    "land",
    "family",
    "labour",
    "property",
    "traffic",
    "medical",
    "consumer",
    "debt",
    "environment",
    "other",
]
CATEGORIES: dict[str, str] = {
    "neighbour": "邻里纠纷",
    "land": "土地宅基地纠纷",
    "family": "婚姻家庭纠纷",
    "labour": "劳动工资纠纷",
    "property": "物业租赁纠纷",
    "traffic": "交通事故纠纷",
    "medical": "医疗纠纷",
    "consumer": "消费纠纷",
    "debt": "债务纠纷",
    "environment": "环境污染纠纷",
    "other": "其他",
}

assert tuple(CATEGORIES) == get_args(Category), "every category has a label, in the same order"

OrgKind = Literal["county", "town", "village", "grid", "micro_grid", "center", "committee", "mediation_room"]
ORG_KINDS: tuple[OrgKind, ...] = get_args(OrgKind)
CenterType = Literal["office", "police", "court", "petition", "legal", "mediation"]
CENTER_TYPES: tuple[CenterType, ...] = get_args(CenterType)

DeliveryStatus = Literal["pending", "sending", "uncertain", "sent", "failed"]
DeliveryChannel = Literal["sms", "wechat", "webhook"]

# 普法宣传 and 先进典型: the kinds of article the town publishes to residents (server/publicity/articles.py).
ArticleKind = Literal["law", "notice", "case_story", "exemplar", "policy"]
ARTICLE_KINDS: tuple[ArticleKind, ...] = get_args(ArticleKind)
ARTICLE_KIND_LABELS: dict[str, str] = {
    "law": "普法知识",
    "notice": "通知公告",
    "case_story": "典型案例",
    "exemplar": "先进典型",
    "policy": "政策解读",
}
ArticleState = Literal["draft", "in_review", "published", "unpublished", "archived"]
