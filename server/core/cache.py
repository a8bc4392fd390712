"""In-process copies of what rarely changes and is read on every request: the org tree, the settings.

A cached collection is loaded whole (a town's tree is a few hundred units; a county's settings a few dozen
documents) and kept until its version changes. Versions live in `cache_versions`, one document per cached
collection, and every write through the collection's owner bumps it (`Caches.changed`). This process drops
its copy at once; another process sees the new version the next time it looks, at most every
`mongodb.cache_check_seconds` (one read of a tiny collection, for all cached collections together). Between
looks nothing is read. Only organisational data is cached: never personal data.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ReturnDocument

from server.core import indexes
from server.core.db import Database

VERSIONS = "cache_versions"
indexes.declare(VERSIONS)  # read whole and by `_id` only


class Caches:
    def __init__(self, db: Database, check_seconds: float, seconds: Callable[[], float] = time.monotonic) -> None:
        self._versions = db[VERSIONS]
        self._check_seconds = check_seconds
        self._seconds = seconds
        self._checked_at = -math.inf
        self._seen: dict[str, int] = {}  # the versions last read
        self._copies: dict[str, tuple[int, Any]] = {}  # name -> (version it was loaded at, value)
        self.looks = 0  # how often the versions were read (tests)

    async def get(self, name: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """The cached value of `name`, loaded by `load` when there is none or it is out of date. Callers get
        the cached object itself: read it, never change it (`copy_of` gives a copy to change)."""
        await self._look()
        version = self._seen.get(name, 0)
        held = self._copies.get(name)
        if held is None or held[0] != version:
            held = self._copies[name] = (version, await load())
        return held[1]

    async def changed(self, name: str) -> None:
        """`name` was written: drop this process's copy now, and tell the others through its version."""
        found = await self._versions.find_one_and_update(
            {"_id": name}, {"$inc": {"version": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        self._seen[name] = found["version"] if found else self._seen.get(name, 0) + 1
        self._copies.pop(name, None)

    async def _look(self) -> None:
        now = self._seconds()
        if now - self._checked_at < self._check_seconds:
            return
        self._checked_at = now
        self.looks += 1
        self._seen = {doc["_id"]: doc["version"] async for doc in self._versions.find({})}


def copy_of(value: Any) -> Any:
    return copy.deepcopy(value)
