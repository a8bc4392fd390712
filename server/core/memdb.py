"""The in-process database: PyMongo-async's surface over mongomock.

Only what the application uses is exposed, with PyMongo async's calling conventions: most collection
methods are awaited, `find()` returns a cursor that is not, `aggregate()` is awaited and returns a cursor.
mongomock is synchronous and in memory, so calls complete on the event loop without blocking on I/O.
Every call yields to the event loop once, as a round trip to a server would, so concurrent requests
interleave here as they do in production. Queries scan every document: this serves tests and the demo,
not load.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import mongomock

# Awaitable collection methods that pass straight through. Keep to features both engines support.
_PASSTHROUGH = (
    "insert_one",
    "insert_many",
    "find_one",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "count_documents",
    "estimated_document_count",
    "distinct",
    "create_index",
    "create_indexes",
    "drop_index",
    "drop_indexes",
    "drop",
    "index_information",
)


class Switch:
    """A client's simulated outage (tests): while `error` is set, every operation raises it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class MemoryCursor:
    def __init__(self, source: Any, switch: Switch) -> None:
        self._source = source
        self._switch = switch

    def sort(self, *args: Any, **kwargs: Any) -> MemoryCursor:
        self._source = self._source.sort(*args, **kwargs)
        return self

    def skip(self, count: int) -> MemoryCursor:
        self._source = self._source.skip(count)
        return self

    def limit(self, count: int) -> MemoryCursor:
        self._source = self._source.limit(count)
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        if length is not None and length < 1:
            raise ValueError("to_list length must be a positive integer or None")
        docs: list[dict[str, Any]] = []
        for doc in self._iter():
            docs.append(doc)
            if length is not None and len(docs) >= length:
                break
        return docs

    def _iter(self) -> Iterator[dict[str, Any]]:
        self._switch.check()
        return iter(self._source)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self._iter():
            yield doc

    async def close(self) -> None:
        return None


class MemoryCollection:
    def __init__(self, collection: Any, switch: Switch) -> None:
        self._collection = collection
        self._switch = switch
        self.name: str = collection.name

    def __getattr__(self, name: str) -> Any:
        if name not in _PASSTHROUGH:
            raise AttributeError(f"memory collection does not support {name!r}")
        method = getattr(self._collection, name)

        async def call(*args: Any, session: Any = None, **kwargs: Any) -> Any:
            await asyncio.sleep(0)  # yield like a network round trip, so concurrent requests interleave
            self._switch.check()
            return method(*args, **kwargs)

        return call

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        self._switch.check()
        return self._find_one_and("update", *args, **kwargs)

    def _find_one_and(self, action: str, *args: Any, projection: Any = None, session: Any = None, **kwargs: Any) -> Any:
        # mongomock loses the document when the projection drops `_id` (it re-reads by `_id`), so ask for
        # `_id` and drop it here, which is what MongoDB returns.
        drop_id = isinstance(projection, dict) and projection.get("_id") in (0, False)
        if drop_id:
            projection = {k: v for k, v in projection.items() if k != "_id"} or None
        document = getattr(self._collection, f"find_one_and_{action}")(*args, projection=projection, **kwargs)
        if drop_id and document is not None:
            document.pop("_id", None)
        return document

    def find(self, *args: Any, session: Any = None, **kwargs: Any) -> MemoryCursor:
        return MemoryCursor(self._collection.find(*args, **kwargs), self._switch)

    async def aggregate(self, pipeline: list[dict[str, Any]], session: Any = None, **kwargs: Any) -> MemoryCursor:
        self._switch.check()
        return MemoryCursor(self._collection.aggregate(pipeline, **kwargs), self._switch)

    async def list_indexes(self, session: Any = None) -> MemoryCursor:
        self._switch.check()
        return MemoryCursor(self._collection.list_indexes(), self._switch)


class MemoryDatabase:
    def __init__(self, database: Any, switch: Switch) -> None:
        self._database = database
        self._switch = switch
        self.name: str = database.name
        self._collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self._collections:
            self._collections[name] = MemoryCollection(self._database[name], self._switch)
        return self._collections[name]

    async def command(self, command: str | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        self._switch.check()
        name = command if isinstance(command, str) else next(iter(command))
        if name == "ping":
            return {"ok": 1.0}
        return self._database.command(command, **kwargs)


class MemoryClient:
    """Stands in for `AsyncMongoClient`; every client is a separate, empty store."""

    def __init__(self) -> None:
        self._client: Any = mongomock.MongoClient(tz_aware=True)
        self._databases: dict[str, MemoryDatabase] = {}
        self.switch = Switch()  # `client.switch.error = AutoReconnect(...)` simulates an outage

    def __getitem__(self, name: str) -> MemoryDatabase:
        if name not in self._databases:
            self._databases[name] = MemoryDatabase(self._client[name], self.switch)
        return self._databases[name]

    async def drop_database(self, name: str) -> None:
        self._client.drop_database(name)
        self._databases.pop(name, None)

    async def close(self) -> None:
        self._databases.clear()
