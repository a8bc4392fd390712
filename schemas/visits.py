"""Grid visits, scans and background jobs on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from schemas.base import ObjectIdStr, PageParams, Schema, Time, given
from schemas.households import HouseholdOut


class GpsPoint(Schema):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(None, ge=0, le=100_000)


class VisitIn(Schema):
    client_id: str = Field(
        min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="手机端生成的唯一编号，重发时不变"
    )
    household_id: ObjectIdStr | None = None
    qr_token: str | None = Field(
        None, min_length=8, max_length=64, description="扫码所得的门牌令牌（代替 household_id）"
    )
    purposes: list[Annotated[str, Field(json_schema_extra={"x-vocabulary": "visit_purposes"})]] = Field(
        min_length=1, max_length=10, description="走访事项（本地配置 town.visit_purposes 的键）"
    )
    notes: str = Field("", max_length=2000)
    gps: GpsPoint | None = None
    visited_at: Time = Field(description="手机记录的走访时间（带时区）")
    article_ids: list[ObjectIdStr] = Field(
        default_factory=list, max_length=10, description="政策宣传到户时发放的宣传文章（已发布、适用于该住户所在地）"
    )

    model_config = ConfigDict(json_schema_extra={"oneOf": [given("household_id"), given("qr_token")]})

    @model_validator(mode="after")
    def _one_household(self) -> VisitIn:
        if (self.household_id is None) == (self.qr_token is None):
            raise ValueError("household_id 与 qr_token 须且只须提供一个")
        return self


class VisitBatchIn(Schema):
    visits: list[VisitIn] = Field(min_length=1, max_length=500)


class VisitOut(Schema):
    id: str
    client_id: str
    household_id: str
    visitor_id: str
    purposes: list[str]
    notes: str
    gps: GpsPoint | None
    article_ids: list[str] = Field(default_factory=list, description="发放的宣传文章")
    visited_at: datetime
    received_at: datetime


class BatchItemOut(Schema):
    client_id: str
    status: Literal["created", "duplicate", "error"]
    visit_id: str | None = None
    error: dict[str, Any] | None = None


class BatchOut(Schema):
    results: list[BatchItemOut]


class VisitQuery(PageParams):
    household_id: ObjectIdStr | None = None
    visitor_id: ObjectIdStr | None = None
    since: Time | None = None
    until: Time | None = None


class CoverageQuery(PageParams):
    org_id: ObjectIdStr | None = Field(None, description="网格、微网格或更大的单元；不填为本人的管辖范围")
    grid_worker_id: ObjectIdStr | None = Field(None, description="网格员：其负责的网格（与 org_id 同给时取两者交集）")
    month: str | None = Field(None, pattern=r"^(19|20)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM，默认本月")


class UnvisitedOut(Schema):
    id: str
    address: str
    micro_grid_id: str
    tags: list[str]


class CoverageOut(Schema):
    month: str
    households: int
    visited: int
    not_visited: list[UnvisitedOut] = Field(description="本页未走访住户")
    total: int = Field(description="未走访住户总数")
    page: int
    page_size: int


class OrgBrief(Schema):
    id: str
    name: str


class ScanVisitOut(Schema):
    visited_at: datetime
    purposes: list[str]
    visitor_id: str


class ScanCaseOut(Schema):
    id: str
    number: str | None
    state: str
    category: str | None


class ScanOut(Schema):
    view: Literal["staff", "resident"]
    village: OrgBrief | None
    micro_grid: OrgBrief | None
    address: str = Field(description="群众看到的是脱敏地址")
    household_id: str | None = Field(description="仅工作人员可见")
    household: HouseholdOut | None = Field(None, description="住户详情（工作人员，号码脱敏）")
    recent_visits: list[ScanVisitOut] = Field(default_factory=list)
    open_cases: list[ScanCaseOut] = Field(default_factory=list)
    file_url: str | None = Field(None, description="一户一档（工作人员）")


class PlatesIn(Schema):
    org_id: ObjectIdStr


class JobOut(Schema):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
    error: str | None
    download_url: str | None
    created_at: datetime
    finished_at: datetime | None
