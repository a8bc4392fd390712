"""Idempotency keys (IETF httpapi idempotency-key draft) for submissions from flaky phone networks.

A key is scoped to the user and expires after a day. The first request with a key runs; a repeat with the
same body gets the first answer again; a repeat with a different body is a 422; a repeat while the first
is still running is a 409. A first request that fails frees its key, so the client can simply retry.

Running holds a short lease. If the first request died half-way (the database went away between making the
case and recording the answer, or before freeing the key), a retry after the lease asks `recover` whether
the work was done (the case carries its key) and answers with it; otherwise it takes the lease over and does
the work, once. No key stays blocked for longer than the lease.
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
LEASE = timedelta(seconds=60)  # far longer than any submission takes; a retry after it may take over
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

indexes.declare(COLLECTION, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))


class Idempotency:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._keys = ctx.db[COLLECTION]

    async def run(
        self,
        user_id: str,
        key: str,
        fingerprint: bytes,
        work: Callable[[], Awaitable[tuple[int, Any]]],
        recover: Recover | None = None,
    ) -> tuple[int, Any, bool]:
        """Run `work` once per (user, key); return (status, body, replayed). `recover` finds the answer of a
        first attempt that did the work but died before recording it (None: it did not do it)."""
        if not _KEY.match(key):
            raise ValidationFailed(details=[{"field": "Idempotency-Key", "message": "应为 1 到 128 个可见 ASCII 字符"}])
        now = self._ctx.clock.now()
        record_id = record_id_for(user_id, key)
        digest = hashlib.sha256(fingerprint).hexdigest()
        try:
            await self._keys.insert_one(
                {
                    "_id": record_id,
                    "digest": digest,
                    "state": "running",
                    "lease_until": now + LEASE,
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
                lease = first.get("lease_until")
                if lease is not None and lease > now:
                    raise Conflict("相同的请求正在处理中，请稍候", code="idempotency_in_flight") from None
                answer = await recover() if recover is not None else None
                if answer is not None:  # the first attempt did the work and died before saying so
                    await self._done(record_id, *answer)
                    return answer[0], answer[1], True
                taken = await self._keys.update_one(
                    {"_id": record_id, "state": "running", "lease_until": lease},
                    {"$set": {"lease_until": now + LEASE}},
                )
                if taken.modified_count != 1:  # another retry took it over a moment ago
                    raise Conflict("相同的请求正在处理中，请稍候", code="idempotency_in_flight") from None
            else:
                return first["status"], first["body"], True
        try:
            status, body = await work()
        except BaseException:
            await self._keys.delete_one({"_id": record_id, "state": "running"})
            raise
        await self._done(record_id, status, body)
        return status, body, False

    async def _done(self, record_id: str, status: int, body: Any) -> None:
        await self._keys.update_one({"_id": record_id}, {"$set": {"state": "done", "status": status, "body": body}})


Recover = Callable[[], Awaitable[tuple[int, Any] | None]]


def record_id_for(user_id: str, key: str) -> str:
    """What the work stores beside its result (e.g. on the case), so that `recover` can find it."""
    return f"{user_id}:{key}"
