"""Staff accounts on the wire. Phones are always masked here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pydantic import Field

from schemas.auth import RoleOut, org_refs, roles_to_json
from schemas.base import ObjectIdStr, PageParams, Phone, Schema
from server.core.permissions import StaffRole
from server.core.pii import mask_phone
from server.core.vocabulary import LiaisonFor


class GrantIn(Schema):
    role: StaffRole
    org_id: ObjectIdStr
    liaison_for: LiaisonFor | None = None


class GrantRef(Schema):
    role: StaffRole
    org_id: ObjectIdStr


class UserCreateIn(Schema):
    name: str = Field(min_length=1, max_length=30)
    phone: Phone
    grants: list[GrantIn] = Field(min_length=1, max_length=10)


class UserOut(Schema):
    id: str
    name: str
    phone: str | None = Field(description="脱敏手机号")
    active: bool
    grants: list[RoleOut]
    created_at: datetime


class UserQuery(PageParams):
    name: str | None = Field(None, max_length=30, description="姓名包含")
    phone: Phone | None = Field(None, description="手机号（精确匹配）")
    role: StaffRole | None = None
    org_id: ObjectIdStr | None = None


def user_to_json(user: dict[str, Any], phone: str | None, orgs: dict[ObjectId, dict[str, Any]]) -> UserOut:
    return UserOut(
        id=str(user["_id"]),
        name=user["name"],
        phone=mask_phone(phone) if phone else None,
        active=user.get("active", True),
        grants=roles_to_json(user, org_refs(orgs)),
        created_at=user["created_at"],
    )
