"""Settings on the wire: routing rules and deadlines of a town or a county (`server/orgs/settings.py`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from schemas.base import ObjectIdStr, Schema, given, when
from server.core.vocabulary import Category, CenterType, Channel, Risk, Source, Tier


class SettingsQuery(Schema):
    org_id: ObjectIdStr | None = Field(None, description="镇或县；不填为本人所在的镇（县级人员为县）")


class SettingMeta(Schema):
    org_id: str = Field(description="读取的是哪个镇或县的设置")
    source: Literal["town", "county", "default"] = Field(description="本镇自定、县统一设置或系统默认")
    town_may_override: bool = Field(description="县是否允许镇自行修改此设置")
    version: str = Field(description="所读取的设置版本（单位:第几次保存；default 为系统默认）")


class RuleWhen(Schema):
    """Every condition given must hold; a list matches any of its values."""

    source: list[Source] | None = None
    channel: list[Channel] | None = None
    category: list[Category] | None = None
    risk: list[Risk] | None = None
    law_related: bool | None = None


class RuleTarget(Schema):
    model_config = ConfigDict(json_schema_extra=when("kind", "center", given("center_type")))

    kind: Literal["village_room", "center", "town", "committee"]
    center_type: CenterType | None = Field(None, description="kind 为 center 时必填")
    committee_type: Category | None = Field(None, description="kind 为 committee 时可指定；不填按案件类别")


class RoutingRule(Schema):
    name: str = Field(min_length=1, max_length=50)
    when: RuleWhen = Field(default_factory=RuleWhen, description="空对象为兜底规则（须放在最后）")
    target: RuleTarget
    tier: Tier


class RoutingRulesIn(Schema):
    rules: list[RoutingRule] = Field(min_length=1, max_length=100)
    town_may_override: bool | None = Field(None, description="只在县级设置：是否允许各镇自行修改")

    def rules_data(self) -> list[dict[str, object]]:
        return [rule.model_dump(exclude_none=True) for rule in self.rules]


class RoutingRulesOut(SettingMeta):
    rules: list[RoutingRule]


Days = Annotated[int, Field(ge=1, le=365)]


class ConcludeDays(Schema):
    village: Days
    town: Days
    county: Days


class Deadlines(Schema):
    accept_hours: int = Field(ge=1, le=720)
    conclude_days: ConcludeDays = Field(description="各层级办结天数")
    conclude_days_by_channel: dict[Channel, Days] = Field(default_factory=dict, description="按渠道覆盖办结天数")
    follow_up_days: int = Field(ge=1, le=60)
    warning_ratio: float = Field(0.8, gt=0, lt=1)


class DeadlinesIn(Deadlines):
    town_may_override: bool | None = Field(None, description="只在县级设置：是否允许各镇自行修改")


class DeadlinesOut(Deadlines, SettingMeta):
    pass
