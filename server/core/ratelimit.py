"""Sliding-window rate limits, one document per key, checked and recorded in one atomic update.

The document keeps the newest send times, newest first. "At most n in window w" holds exactly when the
n-th newest time is older than w, so the update's filter states every limit and only matches when all
hold. When one fails, the upsert collides with the existing `_id` (a duplicate key), so two concurrent
requests can never both slip under a limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.db import Database
from server.core.errors import TooManyRequests

COLLECTION = "rate_limits"

indexes.declare(COLLECTION, IndexModel([("expires_at", ASCENDING)], name="expiry_ttl", expireAfterSeconds=0))

Limit = tuple[int, timedelta]  # at most `count` within `window`


class RateLimiter:
    def __init__(self, db: Database) -> None:
        self._hits = db[COLLECTION]

    async def hit(self, key: str, limits: Sequence[Limit], now: datetime, message: str) -> None:
        """Record one event for `key`, or raise TooManyRequests (with `retry_after` seconds) if over a limit."""
        keep = max(count for count, _ in limits)
        conditions = [
            {"$or": [{f"times.{count - 1}": {"$exists": False}}, {f"times.{count - 1}": {"$lt": now - window}}]}
            for count, window in limits
        ]
        try:
            await self._hits.find_one_and_update(
                {"_id": key, "$and": conditions},
                {
                    "$push": {"times": {"$each": [now], "$position": 0, "$slice": keep}},
                    "$set": {"expires_at": now + max(window for _, window in limits)},
                },
                upsert=True,
            )
        except DuplicateKeyError as exc:
            retry_after = await self._retry_after(key, limits, now)
            raise TooManyRequests(message.format(seconds=retry_after), details={"retry_after": retry_after}) from exc

    async def _retry_after(self, key: str, limits: Sequence[Limit], now: datetime) -> int:
        doc = await self._hits.find_one({"_id": key}) or {"times": []}
        times = doc["times"]
        waits = [
            (times[count - 1] + window - now).total_seconds()
            for count, window in limits
            if len(times) >= count and times[count - 1] >= now - window
        ]
        return max(1, math.ceil(max(waits, default=1)))
