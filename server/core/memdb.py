"""The in-process database: PyMongo-async's surface over mongomock 4.3.

Only what the application uses is exposed, with PyMongo async's calling conventions: most collection
methods are awaited, `find()` returns a cursor that is not, `aggregate()` is awaited and returns a cursor.
Every call yields to the event loop at least once, as a round trip to a server would, so concurrent requests
interleave here as they do in production.

It holds a town (`python -m server --demo --demo-size town`: 3,024 households, 2,013 cases, 20,000 visits,
12,000 messages) without ever adding an index or a query shape a real MongoDB would not need. What makes it
cheaper than mongomock alone, each measured by `scripts/bench.py` on the 2-core machine:
- **Lookups instead of scans** (`server.core.memindex`): maps from the values of each declared index's
  first key (and of a unique index's whole key) to documents. A queue page at town size went from a scan
  of every case to its scope's; mongomock's unique check on every insert, a scan per unique index, is a
  lookup, which took the outbox from O(n²) (12–21 msg/s) to batches at 600+ msg/s over two processes.
- **Copy only what is returned**: mongomock deep-copies every match before sort, skip and limit; here the
  stored documents are sorted (with native keys, not its wrapped comparisons), only the page is copied,
  only its projected fields, converting datetimes in the same pass. Lists read only the fields a row shows.
  Plain values (strings, numbers, ids) are taken as they are, without a test against abstract types, and a
  stored time is made aware once (a table of those made): a resident's `/mine` went from 400 to 1,000
  requests a second at the demo's size.
- **Count and judge without copying**: a query the maps answer exactly (equalities on strings and ids) is
  counted from the map; other common filters are judged by compiled predicates (`compile_filter`), about
  twenty times cheaper than mongomock's interpreter, which still judges anything unusual.
- **Matches kept**: a read made a second time without a write in between finds, tests and sorts all its
  matches once and keeps them until the collection is written to (a list's pages, a poll), so the next reads
  only slice; a read after every write (the outbox's claims) stays lazy and tests only what its page needs.
  A count keeps every match the same way, and the page read with it only sorts them. A range inside exact
  equalities (a month of visits) is found by binary search in matches kept sorted by the ranged field: a
  town's visit list or coverage no longer sorts 20,000 documents per request. Of several maps, only the one
  that narrows most is merged, and an `$or` with a branch no map narrows is not narrowed at all (its other
  branches are not even looked up).
- **Aggregations from their $match**: the first `$match` is found as a find is (through the maps), and only
  its matches — only the fields of a `$project` that follows — go through mongomock's pipeline, which alone
  copies the whole collection first. An assessment figure over 10,000 cases went from 1 s to 30–290 ms.
- **Cheaper writes**: an insert walks the document once (mongomock walked it three times: its keys, a BSON
  encoding, a copy) and finds its unique keys in their maps; the deep copy mongomock makes of every document
  it updates is made by type (`stored_copy`: 20–60 µs for a case instead of 190–550 µs); a row's fields
  inside arrays (`parties.name`, or an `$elemMatch` of a party's) are judged by compiled predicates too.
  In-process, a submission's registration went from about 2.2 ms to 2.0 ms of CPU. Its link candidates
  are now read by respondent (`CaseRepository.link_candidates`), which keeps it from growing with the
  town's history: with 300 cases it takes 1.0–1.4 ms either way, with 3,000 cases 2.4–2.6 ms against
  3.2–3.5 ms before (measured alongside each other, 2026-11-30).
- **Fixed costs of a read**: which maps a query's fields may use is worked out once for each set of fields
  a query binds (every read asked, walking every index of the collection); the copier of a projection is
  made once for each (every read made one); a read writes its query out once for the matches it keeps
  (three times before) and compiles no test when the maps answer it exactly; a time in a query or a new
  document is made naive without mongomock's four type tests first; an insert stores its document without
  the store's lock (the adapter works on a store from one thread at a time). Counted in instructions
  (`scripts/bench.py --instructions`, which the machine's load does not move), a submission went from
  3.47 to 3.11 million at the demo's size and from 4.09 to 3.74 million after 800 earlier ones, an office
  queue page from 0.84 to 0.76 million (2026-11-30).
- **Off the loop**: a collection of `OFF_LOOP_FROM` documents or more is worked on in one thread of the
  client's (`Worker`), in order; the loop keeps serving while a long query runs. Under the benchmark's mixed
  load at town size no loop callback takes over 50 ms of CPU (before: 149, up to 1 s). Work on one document
  by its `_id`, inserts, and reads a map narrows to `FEW_CANDIDATES` documents (one resident's cases, one
  respondent's in a village) without building a map or cleaning a long list, stay on the loop when nothing
  of the collection's waits in the thread: passing them to the thread cost a submission 2.7 ms of CPU, a
  third of its time. With 3,000 cases, the thread's time per submission went from 1.2–2.0 ms to under
  0.1 ms and the whole server's by about a fifth (4.4 ms against 5.7 ms, six rounds each, interleaved).
- Not done: mongomock-ng 7.11.1 (inspected, not adopted) is imported as `mongomock_ng` and checks unique
  indexes by walking every document on each insert, so the outbox would be quadratic again; its gains
  (transactions, `$setWindowFields`) are not features this project uses.

Measured at town size, 4 connections, p50 (mongomock alone → with all of the above, 2026-11-30): queue
page 0.5–0.9 s → 6 ms; `/mine` 18–31 ms → 4 ms; coverage 2.0 s → 30 ms with four at once; visits 3.3 s →
5 ms; newest-first queue 326 ms → 4 ms; every list of `scripts/bench.py` under 50 ms. Results are the same
as mongomock's: `tests/unit/test_memindex.py` runs random operations through both and compares every answer.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import functools
import heapq
import itertools
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import mongomock
from bson import ObjectId
from mongomock import aggregate, filtering, helpers
from mongomock import collection as mongomock_collection
from pymongo import ReturnDocument

from server.core import query_shapes
from server.core.memindex import IMMUTABLE as _IMMUTABLE
from server.core.memindex import Lookup, compile_filter, live_size, naive_times, value_by_dot
from server.core.query_shapes import Key, Recorder, Shape, shapes_of

_SHAPES_FILE = query_shapes.__file__

# Set by the test suite: every query's shape is recorded for tests/test_zz_index_use.py.
RECORDER: Recorder | None = None

# Awaitable collection methods that pass straight through. Keep to features both engines support.
_PASSTHROUGH = (
    "insert_one",
    "insert_many",
    "update_one",
    "update_many",
    "replace_one",
    "delete_one",
    "delete_many",
    "estimated_document_count",
    "create_index",
    "create_indexes",
    "drop_index",
    "drop_indexes",
    "drop",
    "index_information",
)


# Passthrough methods that change documents.
_WRITES = frozenset(
    {"insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one", "delete_many", "drop"}
)

# Passthrough methods that take a filter, and the position of the filter among their arguments.
_FILTERED = {
    "update_one": 0,
    "update_many": 0,
    "replace_one": 0,
    "delete_one": 0,
    "delete_many": 0,
}


def stored_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` for what mongomock copies: a stored document is dictionaries, lists and immutable
    values (strings, numbers, ids, times) and is copied by their types, ten times faster; anything else
    is deep-copied as before. Equal to `copy.deepcopy` in what it returns, and, as it, shares nothing
    mutable with its argument (tests/unit/test_memindex.py)."""
    kind = type(value)
    if kind in _IMMUTABLE or kind is datetime:
        return value
    if kind is dict:
        return {key: stored_copy(item) for key, item in value.items()}
    if kind is list:
        return [stored_copy(item) for item in value]
    return copy.deepcopy(value, memo)


class _MongomockCopy:
    """What mongomock's collection module finds as its `copy` module: an update deep-copies the whole
    document it changes (to see whether it changed and to undo it), 200–550 µs for a case, on every update,
    among them each notice the outbox relay marks on a case. Installed by `MemoryClient` (the same each time)."""

    copy = staticmethod(copy.copy)
    deepcopy = staticmethod(stored_copy)


class Switch:
    """A client's simulated outage (tests): while `error` is set, every operation raises it."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def _filter_of(args: tuple[Any, ...], kwargs: dict[str, Any], position: int = 0) -> Any:
    return args[position] if len(args) > position else kwargs.get("filter")


def _names_one(filter: Any) -> bool:
    """Whether `filter` names one document by its `_id`: work that is small whatever the collection's size."""
    return isinstance(filter, Mapping) and type(filter.get("_id")) in (ObjectId, str, int)


FEW_CANDIDATES = 100  # documents: a read a map narrows to this many is small whatever the collection's size


def _small(lookup: Lookup, filter: Any) -> Callable[[], bool]:
    """Whether work on the matches of `filter` is small whatever the collection's size: it names one
    document by its `_id`, or a map narrows it to `FEW_CANDIDATES` (the same respondent's cases in a
    village, one resident's); judged only when the work could run on the loop (`Worker.run`)."""
    return lambda: _names_one(filter) or lookup.narrows_to(filter, FEW_CANDIDATES)


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
    arrays = any(isinstance(value_by_dot(doc, name), list) for doc in seen or () for name, _ in sort)
    for shape in shapes_of(collection, query, sort):
        RECORDER.record(Shape(shape.collection, shape.equality, shape.ranges, sort, arrays, shape.opaque), origin)


OFF_LOOP_FROM = 1000  # documents: from this size on, a collection's work runs in the emulation's own thread


class Worker:
    """Where a collection's emulation work runs. A small collection's runs on the event loop (a round trip
    to a thread would cost more than the work); once a collection has grown to `OFF_LOOP_FROM` documents, its
    work runs, in order, in one thread the client keeps for the purpose, so that a long query holds up only
    the requests that wait for it, not the loop. A collection never moves back: its operations stay in one
    order. Work that is small whatever the size (`cheap`: a document found by its `_id`, an insert, a read a
    map narrows to a few documents, see `_small`) still runs on the loop when none of the collection's work
    waits in the thread: handing it over cost more than it (a submission spent a third of its CPU time
    passing the GIL back and forth with the thread)."""

    def __init__(self, executor: ThreadPoolExecutor, collection: Any) -> None:
        self._executor = executor
        self._collection = collection
        self.off_loop = False
        self._sent = 0  # work handed to the thread (counted on the loop)
        self._done = 0  # of it, finished (counted in the thread)

    async def run(self, work: Callable[[], Any], *, cheap: bool | Callable[[], bool] = False) -> Any:
        if not self.off_loop and len(self._collection._store._documents) >= OFF_LOOP_FROM:
            self.off_loop = True
        if not self.off_loop:
            await asyncio.sleep(0)  # yield like a network round trip, so concurrent requests interleave
            return work()
        if self._sent == self._done and (cheap() if callable(cheap) else cheap):  # nothing waits: now, in order
            result = work()
            await asyncio.sleep(0)
            return result
        self._sent += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._counted, work)

    def _counted(self, work: Callable[[], Any]) -> Any:
        try:
            return work()
        finally:
            self._done += 1


class MemoryCursor:
    """A cursor over an iterable mongomock gives (aggregation results, index lists)."""

    def __init__(self, source: Any, switch: Switch) -> None:
        self._source = source
        self._switch = switch

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


class FindCursor(MemoryCursor):
    """`find()`'s cursor, evaluated when read: match (through the collection's lookup), sort the stored
    documents, skip and limit, and only then copy the page with its projection. mongomock's own cursor
    deep-copies every match before sorting, so a page of 20 out of 2,000 copied 2,000 documents."""

    def __init__(
        self, collection: Any, lookup: Lookup, worker: Worker, switch: Switch, name: str, query: Any, projection: Any
    ) -> None:
        super().__init__((), switch)
        self._collection = collection
        self._lookup = lookup
        self._worker = worker
        self._origin = (_application_origin() or "") if RECORDER is not None else ""
        self._name = name
        self._query = query
        self._projection = projection
        self._sort: tuple[Key, ...] = ()
        self._skip = 0
        self._limit = 0

    def sort(self, *args: Any, **kwargs: Any) -> FindCursor:
        self._sort = _sort_keys(*args, **kwargs)
        return self

    def skip(self, count: int) -> FindCursor:
        self._skip = count
        return self

    def limit(self, count: int) -> FindCursor:
        self._limit = count
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        if length is not None and length < 1:
            raise ValueError("to_list length must be a positive integer or None")
        self._switch.check()
        documents: list[dict[str, Any]] = await self._worker.run(
            lambda: list(itertools.islice(self._iter(), length)), cheap=_small(self._lookup, self._query)
        )
        return documents

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for doc in await self.to_list(None):
            yield doc

    def _iter(self) -> Iterator[dict[str, Any]]:
        wanted = self._skip + abs(self._limit) if self._limit and not self._origin else None
        matches = _matching(self._collection, self._lookup, self._query, self._sort, wanted)
        if self._origin:  # the whole match, to see whether a sort field holds arrays
            matches = list(matches)
            _record(self._origin, self._name, self._query, self._sort, matches)
        stop = self._skip + abs(self._limit) if self._limit else None
        copy_out = _copier(self._collection, self._projection)
        for document in itertools.islice(matches, self._skip, stop):
            yield copy_out(document)


def _matching(
    collection: Any,
    lookup: Lookup,
    query: Any,
    sort: tuple[Key, ...] = (),
    wanted: int | None = None,
    any_order: bool = False,
) -> Iterable[dict[str, Any]]:
    """The stored documents (not copies) matching `query`, in `sort` order. Candidates the maps narrowed to
    are sorted first and tested lazily (mongomock's test of a document costs far more than its sort key: a
    page of 20 out of 2,000 candidates tests about 20); a read made again without a write in between tests
    all of them once and keeps the sorted matches for the reads after it, until the collection is written
    to. `wanted`: only that many are read (skip + limit), so when they need no test only those are picked
    out of the sort."""
    if query and len(query) == 1 and type(query.get("_id")) in (ObjectId, str):  # the commonest read: by id
        store = collection._store
        if store._ttl_indexes:
            store._remove_expired_documents()
        document = store._documents.get(query["_id"])
        return [document] if document is not None else []
    query = naive_times(query or {})
    if not sort and (in_range := _in_range(lookup, query)) is not None:
        return in_range if any_order else lookup.in_natural_order(in_range)
    if not sort:
        return collection._iter_documents(query)
    read_again, text = False, ""
    if live_size(collection._store) >= _MATCHES_KEPT_FROM:
        text = repr(query)
        kept = lookup.matches(text, sort)
        if not isinstance(kept, bool):
            return kept
        if (every := lookup.kept_every_match(text)) is not None:  # counted since the last write: sorted once
            matches = list(_sorted(every, sort))
            lookup.hold_matches(text, sort, matches)
            return matches
        read_again = kept
    narrowed = lookup.narrow(query)
    if narrowed is None:  # not narrowed: most candidates may fail the test, so test them all first
        return _sorted(collection._iter_documents(query), sort, wanted)
    candidates, exact = narrowed
    applies = _every_one if exact else compile_filter(query) or (lambda doc: filtering.filter_applies(query, doc))
    if read_again and len(candidates) >= _MATCHES_KEPT_FROM:  # a list read again: all its matches, kept
        matches = [document for document in _sorted(candidates, sort) if exact or applies(document)]
        lookup.hold_matches(text, sort, matches)
        return matches
    ordered = _sorted(candidates, sort, wanted if exact else None)
    return ordered if exact else (document for document in ordered if applies(document))


def _every_one(document: Mapping[str, Any]) -> bool:
    """The test of a query the maps answered exactly: every candidate matches."""
    return True


# Candidates: from this many on, a read made a second time without a write in between finds, tests and sorts
# every match once and keeps them until the next write (a list's pages, polled). A read after every write
# (the outbox's claims) stays lazy: only as many candidates are tested as the page needs.
_MATCHES_KEPT_FROM = 20


_RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})


def _in_range(lookup: Lookup, query: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """A query of exact equalities and one range (visits of a month in a town) answered from the equalities'
    matches kept sorted by the ranged field: two binary searches instead of a test of every match. None for
    any other query, or when the field holds anything but scalars of the bounds' type, None or nothing."""
    ranged = [n for n, c in query.items() if isinstance(c, Mapping) and c and set(c) <= _RANGE_OPS]
    if len(ranged) != 1 or "." in ranged[0] or len(query) < 2:
        return None
    name, bounds = ranged[0], query[ranged[0]]
    kinds = {type(value) for value in bounds.values()}
    if not (kinds == {datetime} or kinds <= {int, float}):
        return None
    rest = {field: condition for field, condition in query.items() if field != name}
    sort = ((name, 1),)

    def order(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if any(type(document.get(name)) not in _SCALARS for document in documents):
            raise _Unsortable
        return list(_sorted(documents, sort))

    try:
        kept = lookup.in_order(rest, sort, order)
    except _Unsortable:
        return None
    if kept is None or not kept[1]:
        return None
    key: Callable[[dict[str, Any]], tuple[Any, ...]] = _native_key(name)
    ordered, rank = kept[0], _RANKS[next(iter(kinds))]
    low, high = bisect.bisect_left(ordered, (1, rank), key=key), bisect.bisect_left(ordered, (1, rank + 1), key=key)
    for op, value in bounds.items():
        if op in ("$gte", "$gt"):
            find = bisect.bisect_left if op == "$gte" else bisect.bisect_right
            low = max(low, find(ordered, (1, rank, value), key=key))
        else:
            find = bisect.bisect_left if op == "$lt" else bisect.bisect_right
            high = min(high, find(ordered, (1, rank, value), key=key))
    return ordered[low:high]


_SCALARS = frozenset({type(None), int, float, str, ObjectId, bool, datetime})


class _Unsortable(Exception):
    """A sort value the native keys do not order like BSON: mongomock's own comparison is used."""


# BSON's order of types, for the values stored here: null < numbers < strings < ObjectId < booleans < dates.
_RANKS: dict[type, int] = {type(None): 1, int: 2, float: 2, str: 3, ObjectId: 7, bool: 8, datetime: 9}


def _native_key(name: str) -> Callable[[dict[str, Any]], tuple[int, int, Any]]:
    """mongomock's sort key (`filtering.resolve_sort_key`) as plain tuples, which sort a hundred times
    faster than its wrapped values; raises _Unsortable for any other type."""

    def key(document: dict[str, Any]) -> tuple[int, int, Any]:
        value = document.get(name) if "." not in name else filtering.resolve_key(name, document)
        outer = 1
        if isinstance(value, list):
            if not value:
                return (0, 1, 0)
            value = value[0]
        rank = _RANKS.get(type(value))
        if rank is None:
            if value is filtering.NOTHING:
                return (outer, 1, 0)
            raise _Unsortable
        return (outer, rank, 0 if value is None else value)

    return key


def _sorted(
    documents: Iterable[dict[str, Any]], sort: tuple[Key, ...], wanted: int | None = None
) -> Iterable[dict[str, Any]]:
    """`documents` in `sort` order as mongomock sorts (stable, last key first); only the first `wanted`."""
    if not sort:
        return documents
    documents = list(documents)
    try:
        keys = [_native_key(name) for name, _ in sort]
        if wanted is not None and len({direction for _, direction in sort}) == 1:
            pick = heapq.nlargest if sort[0][1] < 0 else heapq.nsmallest
            return pick(wanted, documents, key=lambda doc: tuple(key(doc) for key in keys))
        for (_, direction), key in reversed(list(zip(sort, keys, strict=True))):
            documents = sorted(documents, key=key, reverse=direction < 0)
        return documents
    except _Unsortable:
        for name, direction in reversed(sort):
            documents = sorted(documents, key=_sort_key(name), reverse=direction < 0)
        return documents


def _sort_key(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda document: filtering.resolve_sort_key(name, document)


def _copy(collection: Any, document: dict[str, Any], projection: Any) -> dict[str, Any]:
    """What a query returns of a stored document (see `_copier`)."""
    return _copier(collection, projection)(document)


_COPIERS: dict[tuple[tuple[Any, Any], ...], Callable[[dict[str, Any]], dict[str, Any]]] = {}
_COPIERS_KEPT = 256  # projections: the application's are a few dozen constants


def _copier(collection: Any, projection: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """How a query returns stored documents: their projected fields, copied, datetimes made aware (UTC), in
    one pass. A projection of top-level fields is applied here, by a copier made once for each (every read
    made one: about a tenth of a small read's work); any other goes through mongomock's."""
    if not projection:
        return _thaw
    try:
        key = tuple(projection.items()) if type(projection) is dict else None
        made = _COPIERS.get(key) if key is not None else None
    except TypeError:  # a value that is not hashable: an operator's document, never a simple projection
        key = made = None
    if made is not None:
        return made
    made = _top_level_copier(projection)
    if made is None:

        def through_mongomock(document: dict[str, Any]) -> dict[str, Any]:
            consumed = dict(projection) if isinstance(projection, Mapping) else projection  # mongomock changes it
            return _thaw(collection._copy_only_fields(document, consumed, dict))

        return through_mongomock
    if key is not None:
        if len(_COPIERS) >= _COPIERS_KEPT:
            _COPIERS.clear()
        _COPIERS[key] = made
    return made


def _top_level_copier(projection: Any) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """The copier of a projection of top-level fields (None for any other)."""
    simple = isinstance(projection, Mapping) and all(
        "." not in name and not name.startswith("$") and not isinstance(value, Mapping)
        for name, value in projection.items()
    )
    if not simple:
        return None
    keep_id = bool(projection.get("_id", True))
    chosen = {name for name, value in projection.items() if value and name != "_id"}
    if chosen or all(projection.values()):  # inclusion (`{"_id": 1}` alone too): only those fields are read
        names = (["_id"] if keep_id else []) + [name for name in projection if name in chosen]

        def projected(document: dict[str, Any]) -> dict[str, Any]:
            copied = {}
            for name in names:  # a plain loop: a page of rows runs through here field by field
                value = document.get(name, _ABSENT)
                kind = type(value)
                if kind in _IMMUTABLE:
                    copied[name] = value
                elif kind is datetime:
                    copied[name] = _aware(value) if value.tzinfo is None else value
                elif value is not _ABSENT:
                    copied[name] = _thaw(value)
            return copied

        return projected
    dropped = {name for name, value in projection.items() if not value}  # exclusion
    return lambda document: {name: _thaw(value) for name, value in document.items() if name not in dropped}


_AWARE: dict[datetime, datetime] = {}  # stored (naive) time -> as returned; times are immutable, so shared
_AWARE_KEPT = 20_000


def _aware(value: datetime) -> datetime:
    """A stored time as PyMongo returns it (UTC, aware), from a table of those already made: a dictionary
    lookup costs a twentieth of making one, and a list's rows carry a few times each."""
    found = _AWARE.get(value)
    if found is None:
        if len(_AWARE) >= _AWARE_KEPT:
            _AWARE.clear()
        found = _AWARE[value] = value.replace(tzinfo=helpers.utc)
    return found


_ABSENT = object()


def _thaw(value: Any) -> Any:
    """A copy of a stored value as PyMongo (tz_aware) returns it: mongomock stores datetimes naive, in UTC."""
    kind = type(value)
    if kind in _IMMUTABLE:  # most values: tested first, as the test of an abstract type below costs more
        return value
    if kind is dict:
        return {key: _thaw(item) for key, item in value.items()}
    if kind is list:
        return [_thaw(item) for item in value]
    if kind is datetime:
        return _aware(value) if value.tzinfo is None else value
    if isinstance(value, Mapping | list | tuple):
        return helpers.make_datetime_timezone_aware_in_document(copy.deepcopy(value))
    return value  # immutable: str, int, float, bool, None, ObjectId, bytes, Decimal128


class MemoryCollection:
    def __init__(self, collection: Any, switch: Switch, executor: ThreadPoolExecutor) -> None:
        self._collection = collection
        self._switch = switch
        self.name: str = collection.name
        self._lookup = Lookup(collection)
        self._worker = Worker(executor, collection)

    def __getattr__(self, name: str) -> Any:
        if name not in _PASSTHROUGH:
            raise AttributeError(f"memory collection does not support {name!r}")
        method = getattr(self._collection, name)

        async def call(*args: Any, session: Any = None, **kwargs: Any) -> Any:
            self._switch.check()
            if name in _FILTERED and RECORDER is not None and (origin := _application_origin()):
                _record(origin, self.name, _filter_of(args, kwargs, _FILTERED[name]), _sort_keys(kwargs.get("sort")))

            def work() -> Any:
                if name in _WRITES:
                    self._lookup.written()
                return method(*args, **kwargs)

            cheap: bool | Callable[[], bool] = name == "insert_one"
            if name in _FILTERED:
                cheap = _small(self._lookup, _filter_of(args, kwargs, _FILTERED[name]))
            return await self._worker.run(work, cheap=cheap)

        return call

    async def find_one(self, filter: Any = None, projection: Any = None, **kwargs: Any) -> Any:
        self._switch.check()
        if filter is not None and not isinstance(filter, Mapping):
            filter = {"_id": filter}
        sort = _sort_keys(kwargs.pop("sort", None))
        if kwargs.keys() - {"session"}:
            raise TypeError(f"memory find_one does not support {sorted(kwargs.keys() - {'session'})}")
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, filter, sort)

        def work() -> Any:
            document = next(iter(_matching(self._collection, self._lookup, filter, sort, wanted=1)), None)
            return None if document is None else _copy(self._collection, document, projection)

        return await self._worker.run(work, cheap=_small(self._lookup, filter))

    async def count_documents(
        self, filter: Mapping[str, Any], *, skip: int = 0, limit: int | None = None, session: Any = None
    ) -> int:
        """How many documents match, counted without copying any. In a large collection the matches are kept
        until it is written to: a list's total is read again with each of its pages, and the page read
        right after the count only sorts them."""
        self._switch.check()
        if not isinstance(filter, Mapping):
            raise TypeError("filter must be a mapping")
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, filter)

        def work() -> int:
            query = naive_times(filter)
            matches = functools.partial(_matching, self._collection, self._lookup, query)
            if live_size(self._collection._store) >= _MATCHES_KEPT_FROM:  # kept: the page read next sorts them
                total = len(self._lookup.every_match(repr(query), lambda: list(matches())))
            else:
                total = sum(1 for _ in matches(any_order=True))
            found = max(total - skip, 0)
            return found if limit is None else min(found, limit)

        counted: int = await self._worker.run(work, cheap=_small(self._lookup, filter))
        return counted

    async def distinct(self, key: str, filter: Any = None, session: Any = None) -> list[Any]:
        """The distinct values of `key` among the matches, read from the stored documents (mongomock's copies
        every match first)."""
        self._switch.check()
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, filter)

        def work() -> list[Any]:
            found: dict[Any, Any] = {}
            top = "." not in key  # a top-level field is read straight from the document
            for document in _matching(self._collection, self._lookup, filter, any_order=True):
                values = (
                    (document.get(key, filtering.NOTHING),) if top else filtering.iter_key_candidates(key, document)
                )
                for value in values:
                    for item in value if isinstance(value, list) else [value]:
                        if item is not filtering.NOTHING:
                            found.setdefault(helpers.hashdict(item) if isinstance(item, dict) else item, item)
            return [_thaw(item) for item in found.values()]

        values: list[Any] = await self._worker.run(work)
        return values

    async def find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Any,
        projection: Any = None,
        sort: Any = None,
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,
        session: Any = None,
    ) -> Any:
        """Find the first match, update it by `_id`, return it as it was or is. An upsert that inserts
        goes through mongomock's own."""
        self._switch.check()
        keys = _sort_keys(sort)
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, filter, keys)
        return await self._worker.run(
            lambda: self._find_one_and_update(filter, update, projection, sort, keys, upsert, return_document),
            cheap=_small(self._lookup, filter),
        )

    def _find_one_and_update(
        self,
        filter: Mapping[str, Any],
        update: Any,
        projection: Any,
        sort: Any,
        keys: tuple[Key, ...],
        upsert: bool,
        return_document: bool,
    ) -> Any:
        self._lookup.written()
        document = next(iter(_matching(self._collection, self._lookup, filter, keys, wanted=1)), None)
        if document is None:
            if not upsert:
                return None
            inserted = self._collection.find_one_and_update(
                filter, update, sort=sort, upsert=True, return_document=ReturnDocument.AFTER
            )
            return _copy(self._collection, inserted, projection) if return_document else None
        before = None if return_document else _copy(self._collection, document, projection)  # AFTER is True
        self._collection.update_one({"_id": document["_id"]}, update)
        if before is not None:
            return before
        return _copy(self._collection, self._collection._store._documents[document["_id"]], projection)

    def find(self, filter: Any = None, projection: Any = None, *, session: Any = None) -> FindCursor:
        if filter is not None and not isinstance(filter, Mapping):
            raise TypeError("filter must be a mapping")
        return FindCursor(self._collection, self._lookup, self._worker, self._switch, self.name, filter, projection)

    async def aggregate(self, pipeline: list[dict[str, Any]], session: Any = None, **kwargs: Any) -> MemoryCursor:
        self._switch.check()
        match = pipeline[0].get("$match") if pipeline else None
        following = pipeline[1].get("$sort") if len(pipeline) > 1 and match is not None else None
        if RECORDER is not None and (origin := _application_origin()):
            _record(origin, self.name, match, _sort_keys(list(following.items())) if following else ())
        if match is None:
            return MemoryCursor(self._collection.aggregate(pipeline, **kwargs), self._switch)

        project = pipeline[1].get("$project") if len(pipeline) > 1 else None
        fields_only = project is not None and all(value in (1, True) for value in project.values())
        copy_out = _copier(self._collection, project) if fields_only else _thaw
        rest = pipeline[2:] if fields_only else pipeline[1:]

        def work() -> list[dict[str, Any]]:
            # The first $match through the maps (as a find), the rest of the pipeline over copies of its matches
            # only (of a following $project's fields only): mongomock alone copies the whole collection first.
            query = naive_times(match)
            matches = [copy_out(d) for d in _matching(self._collection, self._lookup, query, any_order=True)]
            return list(aggregate.process_pipeline(matches, self._collection.database, rest, session))

        return MemoryCursor(await self._worker.run(work), self._switch)

    async def list_indexes(self, session: Any = None) -> MemoryCursor:
        self._switch.check()
        return MemoryCursor(self._collection.list_indexes(), self._switch)


class MemoryDatabase:
    def __init__(self, database: Any, switch: Switch, executor: ThreadPoolExecutor) -> None:
        self._database = database
        self._switch = switch
        self._executor = executor
        self.name: str = database.name
        self._collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        if name not in self._collections:
            self._collections[name] = MemoryCollection(self._database[name], self._switch, self._executor)
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
        mongomock_collection.copy = _MongomockCopy  # type: ignore[assignment]
        self._client: Any = mongomock.MongoClient(tz_aware=True)
        self._databases: dict[str, MemoryDatabase] = {}
        self.switch = Switch()  # `client.switch.error = AutoReconnect(...)` simulates an outage
        # One thread for the work of large collections (see Worker): one, so each collection's operations
        # keep their order and never run at the same time.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memdb")

    def __getitem__(self, name: str) -> MemoryDatabase:
        if name not in self._databases:
            self._databases[name] = MemoryDatabase(self._client[name], self.switch, self._executor)
        return self._databases[name]

    async def drop_database(self, name: str) -> None:
        self._client.drop_database(name)
        self._databases.pop(name, None)

    async def close(self) -> None:
        self._databases.clear()
        self._executor.shutdown(wait=True)
