"""Health and version."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.base import Schema


class HealthOut(Schema):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "unreachable"]
    database_kind: Literal["mongodb", "memory"]
    demo: bool
    time: datetime


class VersionOut(Schema):
    name: str
    version: str
    api: str = Field(description="API 版本；破坏性变更时递增")
