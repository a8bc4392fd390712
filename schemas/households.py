"""Households on the wire. Phones and ID numbers are masked unless the caller asked to reveal them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from schemas.base import IdNumber, ObjectIdStr, PageParams, Patch, Phone, RevealReason, Schema
from server.core.crypto import FieldCipher
from server.core.identity import unseal
from server.core.pii import mask_id_number, mask_phone

Tag = Field(min_length=1, max_length=12)


class MemberIn(Schema):
    name: str = Field(min_length=1, max_length=30)
    relation: str = Field(min_length=1, max_length=10, description="与户主关系：户主、配偶、子女、父母……")
    phone: Phone | None = None
    id_number: IdNumber | None = None
    gender: Literal["男", "女"] | None = None
    birth_year: int | None = Field(None, ge=1900, le=2100)


class HouseholdCreateIn(Schema):
    micro_grid_id: ObjectIdStr
    address: str = Field(min_length=2, max_length=100)
    members: list[MemberIn] = Field(min_length=1, max_length=30)
    tags: list[str] = Field(default_factory=list, max_length=10)


class HouseholdUpdateIn(Patch):
    address: str | None = Field(None, min_length=2, max_length=100)
    tags: list[str] | None = Field(None, max_length=10)


class MemberOut(Schema):
    id: str
    name: str
    relation: str
    phone: str | None
    id_number: str | None
    gender: str | None = None
    birth_year: int | None = None


class HouseholdOut(Schema):
    id: str
    micro_grid_id: str
    org_path: list[str]
    address: str
    members: list[MemberOut]
    tags: list[str]
    revealed: bool = Field(description="手机号、身份证号是否为完整号码（已记入审计日志）")
    created_at: datetime


class HouseholdQuery(PageParams):
    org_id: ObjectIdStr | None = Field(None, description="村、网格或微网格")
    tag: str | None = Field(None, max_length=12)
    address: str | None = Field(None, max_length=50, description="地址包含")
    phone: Phone | None = Field(None, description="成员手机号（精确匹配）")


class HouseholdGetQuery(Schema):
    reveal: bool = Field(False, description="显示完整手机号与身份证号（仅网格员与管理员，记入审计）")
    reason: str | None = RevealReason


class QrQuery(Schema):
    format: Literal["png", "svg"] = "png"


class ImportQuery(Schema):
    village_id: ObjectIdStr


class ImportRowError(Schema):
    row: int = Field(description="文件中的行号（表头为第 1 行）")
    field: str
    message: str


class ImportReport(Schema):
    households_created: int
    members_created: int
    households_skipped: int = Field(description="地址已登记、未重复导入的住户数")
    errors: list[ImportRowError]


def household_to_json(household: dict[str, Any], cipher: FieldCipher, *, full: bool) -> HouseholdOut:
    """Numbers masked unless `full` (a reveal the service has allowed and audited)."""
    members = []
    for member in household["members"]:
        phone, id_number = unseal(cipher, member)
        members.append(
            MemberOut(
                id=str(member["id"]),
                name=member["name"],
                relation=member["relation"],
                phone=phone if full or phone is None else mask_phone(phone),
                id_number=id_number if full or id_number is None else mask_id_number(id_number),
                gender=member.get("gender"),
                birth_year=member.get("birth_year"),
            )
        )
    return HouseholdOut(
        id=str(household["_id"]),
        micro_grid_id=str(household["micro_grid_id"]),
        org_path=[str(p) for p in household["org_path"]],
        address=household["address"],
        members=members,
        tags=household.get("tags", []),
        revealed=full,
        created_at=household["created_at"],
    )
