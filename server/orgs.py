"""The organisation tree (`org_units`): county → town (with its centers) → village → grid → micro-grid.

Each unit stores `path`, its ancestors' ids and its own, root first. Anything scoped to a unit copies that
path as `org_path`, so "is this inside the caller's scope" is one indexed `$in` query (see `server.scope`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from server import indexes
from server.db import Database
from server.errors import NotFound, ValidationFailed

COLLECTION = "org_units"

KINDS = {
    "county": "县",
    "town": "镇",
    "village": "村/社区",
    "grid": "网格",
    "micro_grid": "微网格",
    "center": "中心",
    "committee": "专业调解委员会",
    "mediation_room": "调解室",
}
CENTER_TYPES = {
    "office": "三源共治办公室",
    "police": "警源治理中心",
    "court": "诉调对接中心",
    "petition": "访调对接中心",
    "legal": "涉法涉诉对接中心",
    "mediation": "矛盾纠纷调解中心",
}
# Which kinds may hang under which parent kind.
_PARENT_KINDS = {
    "county": (None,),
    "town": ("county",),
    "committee": ("county",),
    "center": ("town",),
    "village": ("town",),
    "mediation_room": ("village",),
    "grid": ("village",),
    "micro_grid": ("grid",),
}

indexes.declare(
    COLLECTION,
    IndexModel([("path", ASCENDING)], name="path"),
    IndexModel([("parent_id", ASCENDING), ("name", ASCENDING)], name="parent_name", unique=True),
    IndexModel([("code", ASCENDING)], name="code", unique=True, sparse=True),
)


class OrgService:
    def __init__(self, db: Database) -> None:
        self._units = db[COLLECTION]

    async def get(self, org_id: ObjectId) -> dict[str, Any]:
        unit = await self._units.find_one({"_id": org_id})
        if unit is None:
            raise NotFound("找不到该组织单元")
        return unit

    async def by_ids(self, org_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        units = await self._units.find({"_id": {"$in": org_ids}}).to_list(None)
        return {u["_id"]: u for u in units}

    async def create(
        self,
        *,
        name: str,
        kind: str,
        parent_id: ObjectId | None,
        now: datetime,
        _id: ObjectId | None = None,
        **attrs: Any,
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValidationFailed(details=[{"field": "kind", "message": "未知的组织类型"}])
        parent = await self.get(parent_id) if parent_id is not None else None
        if (parent["kind"] if parent else None) not in _PARENT_KINDS[kind]:
            raise ValidationFailed(details=[{"field": "parent_id", "message": f"{KINDS[kind]}不能设在该上级之下"}])
        if kind == "center" and attrs.get("center_type") not in CENTER_TYPES:
            raise ValidationFailed(details=[{"field": "center_type", "message": "未知的中心类型"}])
        org_id = _id or ObjectId()
        unit = {
            "_id": org_id,
            "name": name,
            "kind": kind,
            "parent_id": parent_id,
            "path": [*(parent["path"] if parent else []), org_id],
            "population": 0,
            "created_at": now,
            **attrs,
        }
        await self._units.insert_one(unit)
        return unit
