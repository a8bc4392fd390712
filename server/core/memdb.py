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
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import mongomock

from server.core import query_shapes
from server.core.query_shapes import Key, Recorder, Shape, shapes_of

_SHAPES_FILE = query_shapes.__file__

# Set by the test suite: every query's shape is recorded for tests/test_zz_index_use.py.
RECORDER: Recorder | None = None

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


# Passthrough methods that take a filter, and the position of the filter among their arguments.
_FILTERED = {
    "find_one": 0,
    "update_one": 0,
    "update_many": 0,
    "replace_one": 0,
    "delete_one": 0,
    "delete_many": 0,
    "count_documents": 0,
    "distinct": 1,
}


class Switch:
    """A client's simulated outage (tests): while `error` is set, every operation raises it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _filter_of(args: tuple[Any, ...], kwargs: dict[str, Any], position: int = 0) -> Any:
    return args[position] if len(args) > position else kwargs.get("filter")


def _sort_keys(key_or_list: Any, direction: Any = None) -> tuple[Key, ...]:
    if key_or_list is None:
        return ()
    if isinstance(key_or_list, str):
        return ((key_or_list, int(direction or 1)),)
    return tuple((str(k), int(d)) for k, d in key_or_list)


def _application_origin() -> str | None:
    """Where in the application the query is made (`file:line in function`), or None when a test reads the
    database directly."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in (__file__, _SHAPES_FILE):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or f"{os.sep}tests{os.sep}" in frame.f_code.co_filename:
        return None
    return f"{os.path.relpath(frame.f_code.co_filename)}:{frame.f_lineno} in {frame.f_code.co_name}"


def _record(
    origin: str, collection: str, query: Any, sort: tuple[Key, ...] = (), seen: list[dict[str, Any]] | None = None
) -> None:
    if RECORDER is None:
        return
    arrays = any(isinstance(_value_at(doc, name), list) for doc in seen or () for name, _ in sort)
    for shape in shapes_of(collection, query, sort):
        RECORDER.record(Shape(shape.collection, shape.equality, shape.ranges, sort, arrays, shape.opaque), origin)


def _value_at(doc: dict[str, Any], dotted: str) -> Any:
    value: Any = doc
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class MemoryCursor:
    def __init__(self, source: Any, switch: Switch, collection: str = "", query: Any = None) -> None:
        self._source = source
        self._switch = switch
        self._origin = (_application_origin() or "") if RECORDER is not None and collection else ""
        self._collection = collection
        self._query = query
        self._sort: tuple[Key, ...] = ()

    def sort(self, *args: Any, **kwargs: Any) -> MemoryCursor:
        self._sort = _sort_keys(*args, **kwargs)
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
        if RECORDER is None or not self._origin:
            return iter(self._source)
        docs = list(self._source)
        _record(self._origin, self._collection, self._query, self._sort, docs)
        return iter(docs)

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
            if name in _FILTERED and RECORDER is not None and (origin := _application_origin()):
                _record(origin, self.name, _filter_of(args, kwargs, _FILTERED[name]), _sort_keys(kwargs.get("sort")))
            return method(*args, **kwargs)

        return call

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0)
        self._switch.check()
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, _filter_of(args, kwargs), _sort_keys(kwargs.get("sort")))
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
        return MemoryCursor(self._collection.find(*args, **kwargs), self._switch, self.name, _filter_of(args, kwargs))

    async def aggregate(self, pipeline: list[dict[str, Any]], session: Any = None, **kwargs: Any) -> MemoryCursor:
        self._switch.check()
        match = pipeline[0].get("$match") if pipeline else None
        following = pipeline[1].get("$sort") if len(pipeline) > 1 and match is not None else None
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, match, _sort_keys(list(following.items())) if following else ())
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
