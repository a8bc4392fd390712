"""Idempotency keys (IETF httpapi idempotency-key draft) for submissions from flaky phone networks.

A key is scoped to the user and expires after a day. The first request with a key runs; a repeat with the
same body gets the first answer again; a repeat with a different body is a 422; a repeat while the first
is still running is a 409. A first request that fails frees its key, so the client can simply retry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.errors import Conflict, ValidationFailed

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "idempotency_keys"
LIFETIME = timedelta(hours=24)
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

indexes.declare(COLLECTION, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))


class Idempotency:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._keys = ctx.db[COLLECTION]

    async def run(
        self, user_id: str, key: str, fingerprint: bytes, work: Callable[[], Awaitable[tuple[int, Any]]]
    ) -> tuple[int, Any, bool]:
        """Run `work` once per (user, key); return (status, body, replayed)."""
        if not _KEY.match(key):
            raise ValidationFailed(details=[{"field": "Idempotency-Key", "message": "应为 1 到 128 个可见 ASCII 字符"}])
        now = self._ctx.clock.now()
        record_id = f"{user_id}:{key}"
        digest = hashlib.sha256(fingerprint).hexdigest()
        try:
            await self._keys.insert_one(
                {
                    "_id": record_id,
                    "digest": digest,
                    "state": "running",
                    "created_at": now,
                    "expires_at": now + LIFETIME,
                }
            )
        except DuplicateKeyError:
            first = await self._keys.find_one({"_id": record_id})
            if first is None or first["expires_at"] <= now:  # expired between the two reads: treat as new
                await self._keys.delete_one({"_id": record_id, "expires_at": {"$lte": now}})
                return await self.run(user_id, key, fingerprint, work)
            if first["digest"] != digest:
                raise ValidationFailed(
                    "同一个 Idempotency-Key 已用于内容不同的请求", code="idempotency_key_reused"
                ) from None
            if first["state"] == "running":
                raise Conflict("相同的请求正在处理中，请稍候", code="idempotency_in_flight") from None
            return first["status"], first["body"], True
        try:
            status, body = await work()
        except BaseException:
            await self._keys.delete_one({"_id": record_id, "state": "running"})
            raise
        await self._keys.update_one({"_id": record_id}, {"$set": {"state": "done", "status": status, "body": body}})
        return status, body, False
