"""The audit log on the wire, for the 安全审计员."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from schemas.base import ObjectIdStr, PageParams, Schema, Time


class AuditQuery(PageParams):
    actor_id: ObjectIdStr | None = Field(None, description="操作人")
    action: str | None = Field(None, max_length=60, pattern=r"^[a-z_.]+$", description="操作，如 case.reveal")
    target_type: str | None = Field(None, max_length=40, pattern=r"^[a-z_]+$", description="对象类型，如 case")
    target_id: str | None = Field(None, max_length=60, description="对象编号（与对象类型一起）")
    start: Time | None = Field(None, description="起始时间（含）")
    end: Time | None = Field(None, description="截止时间（不含）")


class AuditRecordOut(Schema):
    seq: int | None
    at: datetime
    actor_id: str | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    hash: str | None


def record_to_json(record: dict[str, Any]) -> AuditRecordOut:
    details = {
        k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in record["details"].items()
    }
    return AuditRecordOut(
        seq=record.get("seq"),
        at=record["at"],
        actor_id=str(record["actor_id"]) if record.get("actor_id") else None,
        action=record["action"],
        target_type=record["target_type"],
        target_id=str(record["target_id"]),
        details=details,
        hash=record.get("hash"),
    )
