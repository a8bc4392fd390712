"""The append-only audit log: every read of a person's full details and every state or grant change.

The service offers no update or delete; records are written once and kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from server.core import indexes
from server.core.auth import Principal
from server.core.db import Database

COLLECTION = "audit_log"

indexes.declare(
    COLLECTION,
    IndexModel([("target_type", ASCENDING), ("target_id", ASCENDING), ("at", DESCENDING)], name="target_at"),
    IndexModel([("actor_id", ASCENDING), ("at", DESCENDING)], name="actor_at"),
)


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._log = db[COLLECTION]

    async def record(
        self,
        *,
        action: str,
        actor_id: ObjectId | None,
        target_type: str,
        target_id: ObjectId | str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._log.insert_one(
            {
                "action": action,
                "actor_id": actor_id,
                "target_type": target_type,
                "target_id": target_id,
                "at": at,
                "details": details or {},
            }
        )

    async def record_for(
        self,
        principal: Principal,
        action: str,
        target_type: str,
        target_id: ObjectId | str,
        at: datetime,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record an action taken by the signed-in caller."""
        await self.record(
            action=action,
            actor_id=ObjectId(principal.user_id),
            target_type=target_type,
            target_id=target_id,
            at=at,
            details=details,
        )

    async def for_target(self, target_type: str, target_id: ObjectId | str, limit: int = 100) -> list[dict[str, Any]]:
        cursor = self._log.find({"target_type": target_type, "target_id": target_id}).sort("at", DESCENDING)
        return await cursor.limit(limit).to_list(None)
