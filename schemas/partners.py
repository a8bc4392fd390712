"""Partner systems of the Open311 door on the wire (the door itself speaks GeoReport v2: handlers/open311.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from schemas.base import ObjectIdStr, Patch, Schema
from server.core.vocabulary import PARTNER_KIND_LABELS, PartnerKind

Ability = Literal["submit", "read_own", "read_public"]


class PartnerIn(Schema):
    name: str = Field(min_length=1, max_length=60, description="系统名称，如 县12345热线")
    kind: PartnerKind = Field(description="决定其请求的来源：police→警源，court→诉源，petition→访源，其余为基层")
    town_ids: list[ObjectIdStr] = Field(min_length=1, max_length=100, description="对接的乡镇")
    abilities: list[Ability] = Field(
        min_length=1, max_length=3, description="submit 提交请求；read_own 查看本系统提交的；read_public 查看公开列表"
    )
    contact: str | None = Field(None, max_length=100, description="对方联系人与电话")
    webhook_url: str | None = Field(
        None,
        max_length=500,
        description="状态变化时推送的地址（https；签名见 README）",
        json_schema_extra={"format": "uri"},
    )


class PartnerUpdateIn(Patch):
    name: str | None = Field(None, min_length=1, max_length=60)
    town_ids: list[ObjectIdStr] | None = Field(None, min_length=1, max_length=100)
    abilities: list[Ability] | None = Field(None, min_length=1, max_length=3)
    contact: str | None = Field(None, max_length=100)
    webhook_url: str | None = Field(None, max_length=500, description="空字符串：不再推送")


class RevokeIn(Schema):
    reason: str = Field(min_length=2, max_length=200, description="停用原因（记入审计日志）")


class PartnerOut(Schema):
    id: str
    name: str
    kind: PartnerKind
    kind_label: str
    town_ids: list[str]
    abilities: list[Ability]
    contact: str
    webhook_url: str | None
    key_hint: str = Field(description="密钥末 4 位，用于核对；完整密钥只在发放时显示一次")
    key_issued_at: datetime
    created_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class PartnerKeyOut(Schema):
    partner: PartnerOut
    api_key: str = Field(description="只显示这一次，请立即交给对方系统妥善保存；平台只保存其哈希值")


def partner_to_json(partner: dict[str, Any]) -> PartnerOut:
    return PartnerOut(
        id=str(partner["_id"]),
        name=partner["name"],
        kind=partner["kind"],
        kind_label=PARTNER_KIND_LABELS[partner["kind"]],
        town_ids=[str(t) for t in partner["town_ids"]],
        abilities=partner["abilities"],
        contact=partner.get("contact") or "",
        webhook_url=partner.get("webhook_url"),
        key_hint=partner["key_hint"],
        key_issued_at=partner["key_issued_at"],
        created_at=partner["created_at"],
        revoked_at=partner.get("revoked_at"),
        revoke_reason=partner.get("revoke_reason"),
    )
