"""Equality lookups for the in-process emulation: what an index's first key gives a real MongoDB.

mongomock answers every query by testing every document of the collection. `Lookup` gives one mongomock
collection a map per indexed field (the first key of each index the collection has, which are exactly the
indexes the application declares: the emulation never needs one a real server would not), from each value
to the documents holding it. A query that binds such a field by equality or `$in` (at its top level, in an
`$and`, or in every branch of an `$or`) tests only the documents the smallest map names; every other query
scans as before. The maps only narrow: each candidate is still tested against the whole filter by mongomock,
so a stale entry (a deleted document, an old value) costs a test and never a wrong answer.

Keeping them current, with mongomock writing documents in place:
- an insert (including an upsert) is made here, as mongomock makes it (`insert`), and adds the document to
  every map before it is stored, so the unique checks (`ensure_uniques`, made here too) see it;
- an update of a few documents (its filter names them through the maps, as an update by `_id` does) adds
  their new values to the maps of the fields it touches; any other update or replace drops those maps, and
  they are rebuilt by the next query that needs one, as is a map that has become mostly stale entries.
  While an update runs, the fields it touches are not looked up (mongomock checks unique indexes by querying
  in the middle of an update, when the maps are not yet current);
- a delete leaves entries that no longer resolve to a document.

Small collections (under `SCAN_BELOW` documents) are scanned as mongomock does, but for `_id` lookups. Results come
in the collection's natural (insertion) order either way.

Every write must go through the collection object the lookup was installed on: the adapter keeps one per
collection name, and nothing else writes to its store.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import datetime
from typing import Any

import bson
from bson import ObjectId
from bson.errors import InvalidDocument
from mongomock import DuplicateKeyError, filtering, helpers

SCAN_BELOW = 16
Fields = tuple[str, ...]  # what a map is on: one field, or a unique index's whole key
_KEPT = 128  # sorted matches and counts kept per collection
_FEW = 64  # an update that may change more documents than this drops the maps of the fields it touches

_NOTHING = filtering.NOTHING
# Update operators whose argument names fields; `$rename` also names the new field (its values).
_FIELD_OPERATORS = (
    "$set",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$push",
    "$addToSet",
    "$pull",
    "$pullAll",
    "$pop",
    "$setOnInsert",
    "$currentDate",
    "$bit",
)


IMMUTABLE = frozenset({str, int, float, bool, type(None), ObjectId, bytes})  # stored and returned as they are


def naive_times(value: Any) -> Any:
    """mongomock's `patch_datetime_awareness_in_document` (times as it stores them: naive, in UTC, to the
    millisecond), with the types of a query tested first: its walk tests each value against abstract types,
    and every query and every inserted document is walked (a queue page's count and find spent a fifth of
    their time there)."""
    kind = type(value)
    if kind in IMMUTABLE:
        return value
    if kind is dict:
        return {key: naive_times(item) for key, item in value.items()}
    if kind is list:
        return [naive_times(item) for item in value]
    if kind is datetime:  # as mongomock's walk makes it, without first testing the value against four types
        millisecond = value.microsecond // 1000 * 1000
        if value.tzinfo:
            return (value - value.utcoffset()).replace(tzinfo=None, microsecond=millisecond)
        return value.replace(microsecond=millisecond)
    return helpers.patch_datetime_awareness_in_document(value)  # a tuple, another mapping, a subclass


def live_size(store: Any) -> int:
    """How many documents a mongomock store holds. Its `len()` takes a lock and first removes expired
    documents; only a store with a TTL index can have any, and the lock guards against nothing here (the
    adapter works on a store from one thread at a time)."""
    return len(store) if store._ttl_indexes else len(store._documents)


def _store_key(document_id: Any) -> Any:
    return helpers.hashdict(document_id) if isinstance(document_id, dict) else document_id


def _hashable(value: Any) -> bool:
    return not isinstance(value, dict | list) and not hasattr(value, "pattern")


def equality_values(condition: Any) -> list[Any] | None:
    """The values a field must take (any of) under `condition`, or None when it is not bound that way."""
    if isinstance(condition, Mapping):
        if "$eq" in condition:
            values = [condition["$eq"]]
        elif "$in" in condition and isinstance(condition["$in"], list | tuple):
            values = list(condition["$in"])
        else:
            return None
    elif isinstance(condition, list):
        return None  # whole-array equality
    else:
        values = [condition]
    return values if all(_hashable(v) for v in values) else None


def touched_fields(update: Any) -> set[str] | None:
    """The top-level fields an update document may change; None for a replacement or a pipeline (all)."""
    if not isinstance(update, Mapping) or not update or not all(key.startswith("$") for key in update):
        return None
    fields: set[str] = set()
    for op, argument in update.items():
        if op == "$rename":
            fields |= {k.split(".", 1)[0] for k in argument} | {str(v).split(".", 1)[0] for k, v in argument.items()}
        elif op in _FIELD_OPERATORS:
            fields |= {k.split(".", 1)[0] for k in argument}
        else:
            return None
    return fields


class Lookup:
    """The maps of one mongomock collection, installed over its `_iter_documents`, `_insert` and `_update`."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._scan: Callable[[Any], Iterator[dict[str, Any]]] = collection._iter_documents
        self._insert: Callable[..., Any] = collection._insert
        self._update: Callable[..., Any] = collection._update
        self._maps: dict[Fields, dict[Any, list[Any]]] = {}
        self._stale: dict[Fields, int] = {}  # entries added for updated documents since each map was built
        self._dirty: dict[Fields, set[Any]] = {}  # the values whose lists updates appended to, per map
        self._known: set[Any] = set()  # every key a map has named
        self._suspended: set[str] = set()  # fields an update in progress touches ("": all)
        self._indexed_for: tuple[tuple[str, ...], set[Fields]] = ((), set())
        self._usable_by: dict[frozenset[str], tuple[Fields, ...]] = {}  # bound fields -> maps (`_usable`)
        self._uniques_for: tuple[tuple[str, ...], list[tuple[Fields, bool, Any]]] = ((), [])
        self._kept: dict[tuple[str, ...], tuple[int, Any]] = {}  # results kept until a write: (size, result)
        self._order: dict[Any, int] | None = None  # store key -> position, for unions in natural order
        self._next = 0
        collection._iter_documents = self.iter_documents
        collection._insert = self.insert
        collection._update = self.update
        collection._ensure_uniques = self.ensure_uniques

    # -- reads ------------------------------------------------------------------------------------------

    def iter_documents(self, query: Any) -> Iterator[dict[str, Any]]:
        """mongomock's `_iter_documents`: the stored documents matching `query`, in natural order."""
        narrowed = self.narrow(query)
        if narrowed is None:
            return self._scan(query)
        found, exact = narrowed
        if exact:
            return iter(found)
        applies = compile_filter(query) or (lambda doc: filtering.filter_applies(query, doc))
        return (doc for doc in found if applies(doc))

    def narrow(self, query: Any) -> tuple[list[dict[str, Any]], bool] | None:
        """The stored documents that may match `query`, in natural order, and whether all of them do (the
        query is nothing but the equalities a map answered); None when no map narrows it (or the collection
        is small): then every document may."""
        store = self._collection._store
        if not isinstance(query, Mapping) or (live_size(store) < SCAN_BELOW and "_id" not in query):
            return None  # a small collection is scanned, in its order; an `_id` is looked up whatever the size
        keys = self.candidates(query)
        if keys is None:
            return None
        documents = store._documents  # expired documents were removed by len() above
        return [doc for doc in map(documents.get, keys) if doc is not None], self._answered(query)

    def _answered(self, query: Mapping[str, Any]) -> bool:
        """Whether the maps answer `query` exactly: it binds one map's fields (or `_id`) and nothing else, to
        strings or ObjectIds (whose equality is Python's; a number's is not: 1 == True)."""
        fields = tuple(query)
        if fields != ("_id",) and fields not in self._indexed():
            return False
        for condition in query.values():
            if isinstance(condition, Mapping) and (len(condition) != 1 or not {"$eq", "$in"} & set(condition)):
                return False
            values = equality_values(condition)
            if values is None or not all(type(value) in (str, ObjectId) for value in values):
                return False
        return not self._suspended

    def candidates(self, query: Mapping[str, Any]) -> list[Any] | None:
        """Store keys of the documents that may match, in natural order; None when no map narrows."""
        if "_id" in query and (values := equality_values(query["_id"])) is not None:
            return self._union([[_store_key(v)] for v in values])  # nothing narrows further
        bound = _bound(query)
        fewest: list[list[Any]] | None = None  # the buckets of the map that narrows most: only those are merged
        for fields in self._usable(bound):
            combinations = itertools.product(*(bound[name] for name in fields))
            buckets = [self._bucket(fields, value) for value in combinations]
            if fewest is None or sum(map(len, buckets)) < sum(map(len, fewest)):
                fewest = buckets
        best = None if fewest is None else self._union(fewest)
        for name, condition in query.items():
            narrowed: list[Any] | None = None
            if name == "$and" and isinstance(condition, list):
                for part in condition:
                    keys = self.candidates(part) if isinstance(part, Mapping) else None
                    if keys is not None and (narrowed is None or len(keys) < len(narrowed)):
                        narrowed = keys
            elif name == "$or" and isinstance(condition, list) and condition and all(map(self._narrows, condition)):
                # (a branch no map narrows needs a scan: then the others' candidates are not even found)
                narrowed = self._union([self.candidates(branch) or [] for branch in condition])
            if narrowed is not None and (best is None or len(narrowed) < len(best)):
                best = narrowed
        return best

    def narrows_to(self, query: Any, most: int) -> bool:
        """Whether finding `query`'s candidates is small work: a map narrows it to at most `most` documents,
        counted from the maps' lists (which may hold stale keys, so never fewer than the candidates), and
        finding them builds no map and cleans no long list (`candidates` reads every usable map's lists)."""
        if not isinstance(query, Mapping) or "$and" in query:
            return False
        branches = query.get("$or")
        if isinstance(branches, list) and branches and all(map(self._narrows, branches)):
            return False  # each branch's lists would be read too
        bound = _bound(query)
        fewest = None
        for fields in self._usable(bound):
            by_value, dirty = self._maps.get(fields), self._dirty.get(fields, set())
            if by_value is None:
                return False
            sizes = []
            for value in itertools.product(*(bound[name] for name in fields)):
                sizes.append(len(by_value.get(value, ())))
                if value in dirty and sizes[-1] > most:
                    return False
            fewest = sum(sizes) if fewest is None else min(fewest, sum(sizes))
        return fewest is not None and fewest <= most

    def _narrows(self, query: Any) -> bool:
        """Whether `candidates(query)` would narrow (without finding the candidates)."""
        if not isinstance(query, Mapping):
            return False
        if "_id" in query and equality_values(query["_id"]) is not None:
            return True
        if any(self._usable(_bound(query))):
            return True
        if isinstance(parts := query.get("$and"), list) and any(self._narrows(part) for part in parts):
            return True
        branches = query.get("$or")
        return isinstance(branches, list) and bool(branches) and all(self._narrows(branch) for branch in branches)

    def _usable(self, bound: Mapping[str, Any]) -> tuple[Fields, ...]:
        """The maps whose fields `bound` all binds (and no update in progress touches). Every read asks, so
        the answer is kept for each set of bound fields (a query's shape) while no update is in progress."""
        indexed = self._indexed()
        if self._suspended:
            suspended = self._suspended
            return tuple(f for f in indexed if all(n in bound for n in f) and not suspended & ({""} | _tops(f)))
        names = frozenset(bound)
        usable = self._usable_by.get(names)
        if usable is None:
            usable = self._usable_by[names] = tuple(f for f in indexed if all(n in names for n in f))
        return usable

    def _bucket(self, fields: Fields, value: tuple[Any, ...]) -> list[Any]:
        """The keys under `value` in the map of `fields`; a list that updates appended to is first cleaned:
        once each, only documents that still hold the value, in natural order."""
        by_value = self._map(fields)
        keys = by_value.get(value, [])
        dirty = self._dirty.get(fields, set())
        if value in dirty:
            documents, order = self._collection._store._documents, self._positions()
            holding = (k for k in dict.fromkeys(keys) if k in documents and value in _values(documents[k], fields))
            keys = by_value[value] = sorted(holding, key=lambda key: order.get(key, -1))
            dirty.discard(value)
        return keys

    def _union(self, lists: list[list[Any]]) -> list[Any]:
        """The keys of all `lists` (each in natural order, once each), once each, in natural order."""
        if len(lists) == 1:
            return list(lists[0])  # a copy: the map's own list grows while a caller walks this one
        merged = dict.fromkeys(key for keys in lists for key in keys)
        order = self._positions()
        return sorted(merged, key=lambda key: order.get(key, -1))

    def in_natural_order(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stored `documents` in the collection's natural (insertion) order, as a query without a sort gives."""
        order = self._positions()
        return sorted(documents, key=lambda document: order.get(_store_key(document["_id"]), -1))

    def _positions(self) -> dict[Any, int]:
        if self._order is None:
            self._order = {key: n for n, key in enumerate(self._collection._store._documents)}
            self._next = len(self._order)
        return self._order

    def _indexed(self) -> set[Fields]:
        """What the maps may be on: each index's first key, and a unique index's whole key (mongomock checks
        uniqueness with a query binding all of it, on every insert)."""
        names = tuple(self._collection._store.indexes)
        if self._indexed_for[0] != names:
            indexed: set[Fields] = set()
            for index in self._collection._store.indexes.values():
                keys = tuple(dict(index["key"]))
                indexed |= {keys[:1], keys} if index.get("unique") else {keys[:1]}
            self._indexed_for = (names, indexed - {("_id",)})
            self._usable_by = {}
        return self._indexed_for[1]

    def _unique_keys(self) -> list[tuple[Fields, bool, Any]]:
        """Each unique index's key, whether it is sparse, and its partial filter (None if it has none)."""
        names = tuple(self._collection._store.indexes)
        if self._uniques_for[0] != names:
            found = [
                (
                    tuple(name for name, _ in index["key"]),
                    bool(index.get("sparse")),
                    index.get("partialFilterExpression"),
                )
                for index in self._collection._store.indexes.values()
                if index.get("unique")
            ]
            self._uniques_for = (names, found)
        return self._uniques_for[1]

    def in_order(
        self, query: Mapping[str, Any], sort: Any, order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """`narrow(query)` with its candidates ordered by `order`, kept until the collection is written to:
        a list page read again and again (a town's visits, newest first) is then sliced, not sorted."""

        def ordered() -> tuple[list[dict[str, Any]], bool] | None:
            narrowed = self.narrow(query)
            return None if narrowed is None else (order(narrowed[0]), narrowed[1])

        found: tuple[list[dict[str, Any]], bool] | None = self._keep(("order", repr(query), repr(sort)), ordered)
        return found

    def every_match(self, text: str, find: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """`find()`: every match of the query whose `repr` is `text`, in natural order, kept until the
        collection is written to. A count finds them all anyway; the page read with it then only sorts them
        (`kept_every_match`, asked with the same text)."""
        found: list[dict[str, Any]] = self._keep(("every", text), find)
        return found

    def kept_every_match(self, text: str) -> list[dict[str, Any]] | None:
        """What `every_match` keeps for the query whose `repr` is `text` (None: nothing since the last write).
        A read asks this, `matches` and `hold_matches` of one query: it writes the query out once for all."""
        found: list[dict[str, Any]] | None = self._held(("every", text))
        return found

    def matches(self, text: str, sort: Any) -> list[dict[str, Any]] | bool:
        """The matches of the query whose `repr` is `text`, in `sort` order, as `hold_matches` kept them; if
        not kept, whether the same read was made since the last write (the first read only notes that it was)."""
        key = ("matches", text, repr(sort))
        found = self._held(key)
        if found is None:
            self._hold(key, True)
            return False
        return found

    def hold_matches(self, text: str, sort: Any, matches: list[dict[str, Any]]) -> None:
        """Keep every match of the query whose `repr` is `text`, in `sort` order, until the collection is
        written to: a list's pages read again and again are then sliced, neither narrowed, tested nor sorted."""
        self._hold(("matches", text, repr(sort)), matches)

    def _keep(self, key: tuple[str, ...], compute: Callable[[], Any]) -> Any:
        """`compute()`'s result (unless None), kept until the collection is written to (`written`) or changes
        size without a write through the adapter (expired or dropped documents)."""
        result = self._held(key)
        if result is None:
            result = compute()
            if result is not None:
                self._hold(key, result)
        return result

    def _held(self, key: tuple[str, ...]) -> Any:
        held = self._kept.get(key)
        return held[1] if held is not None and held[0] == live_size(self._collection._store) else None

    def _hold(self, key: tuple[str, ...], result: Any) -> None:
        if len(self._kept) > _KEPT:
            self._kept.clear()
        self._kept[key] = (live_size(self._collection._store), result)

    def written(self) -> None:
        """The collection was written to (any write: kept results may no longer hold)."""
        self._kept.clear()

    def _map(self, fields: Fields) -> dict[Any, list[Any]]:
        by_value = self._maps.get(fields)
        if by_value is None:
            by_value = self._maps[fields] = {}
            for key, document in self._collection._store._documents.items():
                self._known.add(key)
                for value in _values(document, fields):
                    by_value.setdefault(value, []).append(key)
        return by_value

    # -- writes -----------------------------------------------------------------------------------------

    def insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        """mongomock's `_insert`. One document is inserted here, as mongomock does it (the same checks, in
        order, the same copy, the same refusals) with fewer walks of the document: one copy with its times
        made naive (mongomock also walks it for its keys, which the encoding to BSON checks anyway), its
        unique keys looked up in their maps. Several (`insert_many`) are mongomock's loop over this."""
        if not isinstance(data, MutableMapping) or session:
            return self._insert(data, session, ordered=ordered)
        if not all(isinstance(key, str) for key in data):
            raise ValueError("Document keys must be strings")
        for key in data:
            if key.startswith("$"):
                raise InvalidDocument(f'Top-level field names cannot start with the "$" sign (found: {key})')
        bson.encode(data)  # what a server would refuse: a key with a NUL byte, a value BSON has no type for
        if "_id" not in data:
            data["_id"] = ObjectId()  # the caller's document gets it, as with PyMongo
        key = _store_key(data["_id"])
        documents = self._collection._store._documents  # not through the store's lock, as `live_size` reads
        if key in documents:  # it: the adapter works on a store from one thread at a time
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        stored = naive_times(data)
        added = self._add(key, stored)
        documents[key] = stored
        try:
            self.ensure_uniques(stored)
        except DuplicateKeyError:
            del documents[key]
            for name, value in added:  # refused: cleaned before the next use
                self._dirty.setdefault(name, set()).add(value)
            raise
        return data["_id"]

    def _add(self, key: Any, document: Mapping[str, Any]) -> list[tuple[Fields, Any]]:
        """Name a new document in every map (before it is stored: the unique checks look it up)."""
        if self._order is not None:
            self._order[key] = self._next
            self._next += 1
        again = key in self._known  # deleted, now inserted again: its old entries may remain
        self._known.add(key)
        added = []
        for name, by_value in self._maps.items():
            for value in _values(document, name):
                by_value.setdefault(value, []).append(key)
                added.append((name, value))
                if again:
                    self._dirty.setdefault(name, set()).add(value)
        return added

    def ensure_uniques(self, document: Mapping[str, Any]) -> None:
        """mongomock's `_ensure_uniques` (after an insert or an update; `document` is stored): a duplicate key
        error when another document holds the same values of a unique index. Those holding them are found
        in the index's map and judged there; mongomock's query through `iter_documents` is the way for a
        partial index, an array or document value, or a map an update in progress has made stale."""
        documents = self._collection._store._documents
        for fields, sparse, partial in self._unique_keys():
            bound = {name: document.get(name) if "." not in name else value_by_dot(document, name) for name in fields}
            if sparse and set(bound.values()) == {None}:
                continue
            mapped = all(_hashable(value) for value in bound.values()) and not self._suspended & ({""} | _tops(fields))
            if partial is None and mapped:
                holders = self._bucket(fields, tuple(bound.values()))
                applies = compile_filter(bound) or functools.partial(filtering.filter_applies, bound)
                found = sum(1 for key in holders if key in documents and applies(documents[key]))
            else:
                query = bound if partial is None else {"$and": [partial, bound]}
                found = sum(1 for _ in self.iter_documents(query))
            if found > 1:
                raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)

    def update(self, spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        touched = touched_fields(document)
        # The documents the update can change, when few: their new values are added afterwards instead of
        # dropping the maps (the old entries stay, stale, until the map is rebuilt).
        keys = self.candidates(spec) if touched and self._maps and isinstance(spec, Mapping) else None
        few = keys is not None and len(keys) <= _FEW and touched is not None
        affected = [fields for fields in self._maps if touched is not None and _tops(fields) & touched]
        documents = self._collection._store._documents
        before = (
            {  # the values the documents held: their lists are cleaned before the next use
                fields: {value for key in keys for value in _values(documents.get(key) or {}, fields)}
                for fields in affected
            }
            if few and keys is not None
            else {}
        )
        # mongomock queries in the middle of an update (its unique checks): the touched fields scan meanwhile.
        self._suspended = touched if touched is not None else {""}
        try:
            return self._update(spec, document, *args, **kwargs)
        finally:
            self._suspended = set()
            if few and keys is not None:
                self._refresh(keys, before)
            else:
                self._forget(touched)

    def _refresh(self, keys: list[Any], before: dict[Fields, set[Any]]) -> None:
        """Add the updated documents' new values to the maps in `before`, whose old values' lists (and the
        new ones) are marked to be cleaned."""
        documents = self._collection._store._documents
        for name, old in before.items():
            self._stale[name] = self._stale.get(name, 0) + len(keys)
            if self._stale[name] > max(len(documents), SCAN_BELOW):
                self._drop(name)  # mostly stale: rebuilt on the next query that needs it
                continue
            by_value, dirty = self._maps[name], self._dirty.setdefault(name, set())
            dirty |= old
            for key in keys:
                document = documents.get(key)
                for value in _values(document, name) if document is not None else ():
                    by_value.setdefault(value, []).append(key)
                    dirty.add(value)

    def _forget(self, touched: set[str] | None) -> None:
        """Drop the maps on any of the `touched` top-level fields (None: all)."""
        for fields in list(self._maps):
            if touched is None or _tops(fields) & touched:
                self._drop(fields)

    def _drop(self, fields: Fields) -> None:
        del self._maps[fields]
        self._stale.pop(fields, None)
        self._dirty.pop(fields, None)


def _bound(query: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The fields `query` binds to values at its top level (an `$elemMatch` binds its array's fields)."""
    bound = {}
    for name, condition in query.items():
        if name.startswith("$"):
            continue
        matched = condition.get("$elemMatch") if isinstance(condition, Mapping) and len(condition) == 1 else None
        if isinstance(matched, Mapping):
            for inner, value in matched.items():
                if not inner.startswith("$") and (values := equality_values(value)) is not None:
                    bound[f"{name}.{inner}"] = values
        elif (values := equality_values(condition)) is not None:
            bound[name] = values
    return bound


def value_by_dot(document: Mapping[str, Any], dotted: str) -> Any:
    """The value at a dotted path in a document, as mongomock reads an index's key (None where it ends)."""
    try:
        return helpers.get_value_by_dot(document, dotted)
    except KeyError:
        return None


def _tops(fields: Fields) -> set[str]:
    return {name.split(".", 1)[0] for name in fields}


def _values(document: Mapping[str, Any], fields: Fields) -> set[tuple[Any, ...]]:
    """The combinations of values `fields` take in `document` that an equality can match."""
    if len(fields) == 1:  # most maps: every insert names the document in each
        return {(value,) for value in _field_values(document, fields[0])}
    return set(itertools.product(*(_field_values(document, name) for name in fields)))


def _field_values(document: Mapping[str, Any], name: str) -> set[Any]:
    """The hashable values `name` takes in `document` that an equality can match (array elements included;
    a missing field is None, which `{name: None}` matches)."""
    values: set[Any] = set()
    candidates = (document.get(name, _NOTHING),) if "." not in name else filtering.iter_key_candidates(name, document)
    for candidate in candidates:
        if candidate is _NOTHING or candidate is None:
            values.add(None)
        elif isinstance(candidate, list):
            values |= {item for item in candidate if _hashable(item)}
            if not candidate:
                values.add(None)
        elif _hashable(candidate):
            values.add(candidate)
    return values


_EXACT_TYPES = (str, ObjectId)
_RANGES = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def compile_filter(query: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool] | None:
    """A predicate equal to `filtering.filter_applies(query, ·)` for the queries requests make most (top-level
    fields bound to strings or ObjectIds by equality, `$in` or `$ne`, or compared with a date or number; a
    field of the documents in an array, such as `parties.name`, bound by equality or `$in`; an `$elemMatch`
    of a top-level query's conditions), about twenty times cheaper; a document it cannot judge that simply
    (another type, an array under a range) is handed to mongomock; `$and` and `$or` of such queries combine
    theirs. None when the query has anything else."""
    tests: list[Callable[[Any], bool | None]] = []
    for name, condition in query.items():
        if name in ("$and", "$or") and isinstance(condition, list) and condition:
            parts = [compile_filter(part) if isinstance(part, Mapping) else None for part in condition]
            if any(part is None for part in parts):
                return None
            tests.append(_all_of(parts) if name == "$and" else _any_of(parts))  # type: ignore[arg-type]
            continue
        if name.startswith("$"):
            return None
        if isinstance(condition, Mapping) and set(condition) == {"$elemMatch"}:  # one document of an array
            matched = _elem_match(name, condition["$elemMatch"])
            if matched is None:
                return None
            tests.append(matched)
            continue
        if "." in name:  # a field of the documents in an array (`parties.name`): by equality or `$in` only
            outer, _, inner = name.partition(".")
            membership = _membership(condition)
            if membership is None or "." in inner or inner.isdigit() or outer.isdigit():
                return None
            tests.append(_on_path(outer, inner, membership))
            continue
        test = _field_test(condition)
        if test is None:
            return None
        tests.append(_on_field(name, test))

    def applies(document: Mapping[str, Any]) -> bool:
        for test in tests:
            verdict = test(document)
            if verdict is None:
                return bool(filtering.filter_applies(query, document))
            if not verdict:
                return False
        return True

    return applies


def _all_of(parts: list[Callable[[Mapping[str, Any]], bool]]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda document: all(part(document) for part in parts)


def _any_of(parts: list[Callable[[Mapping[str, Any]], bool]]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda document: any(part(document) for part in parts)


def _on_field(name: str, test: Callable[[Any], bool | None]) -> Callable[[Mapping[str, Any]], bool | None]:
    missing = filtering.NOTHING
    return lambda document: test(document.get(name, missing))


def _on_path(outer: str, inner: str, test: Callable[[Any], bool | None]) -> Callable[[Mapping[str, Any]], bool | None]:
    """`test` of `outer.inner`: of the embedded document's field, or of any document's in an array of them
    (MongoDB's rule for a path through an array). Anything else there is left to mongomock."""
    missing = filtering.NOTHING

    def on_item(item: Mapping[str, Any]) -> bool | None:
        return test(item.get(inner, missing))

    def judge(document: Mapping[str, Any]) -> bool | None:
        value = document.get(outer, missing)
        kind = type(value)
        if kind is dict:
            return on_item(value)
        if kind is list:
            return _any_document(value, on_item)
        if value is missing or value is None:
            return test(missing)
        return None

    return judge


def _elem_match(outer: str, query: Any) -> Callable[[Mapping[str, Any]], bool | None] | None:
    """`{outer: {"$elemMatch": query}}` where `query` binds fields of the array's documents as a top-level
    query may (`{"role": "respondent", "name": {"$in": names}}`); None for anything else. A document whose
    `outer` is not an array of documents is left to mongomock."""
    if not isinstance(query, Mapping) or not query or "." in outer:
        return None
    fields = []
    for inner, condition in query.items():
        test = None if inner.startswith("$") or "." in inner else _field_test(condition)
        if test is None:
            return None
        fields.append(_on_field(inner, test))
    matches = functools.partial(_every, fields)
    missing = filtering.NOTHING

    def judge(document: Mapping[str, Any]) -> bool | None:
        value = document.get(outer, missing)
        if value is missing:
            return False
        return _any_document(value, matches) if type(value) is list else None

    return judge


def _every(tests: list[Callable[[Any], bool | None]], value: Any) -> bool | None:
    """All of `tests` of `value`: False as soon as one fails, None (ask mongomock) if one cannot tell."""
    verdict: bool | None = True
    for test in tests:
        result = test(value)
        if result is False:
            return False
        if result is None:
            verdict = None
    return verdict


def _any_document(items: list[Any], test: Callable[[Any], bool | None]) -> bool | None:
    """`test` of the documents in an array: True as soon as one passes; None (ask mongomock) if one cannot
    be told, or an item is not a document."""
    verdict: bool | None = False
    for item in items:
        if type(item) is not dict:
            return None
        found = test(item)
        if found:
            return True
        if found is None:
            verdict = None
    return verdict


def _membership(condition: Any) -> Callable[[Any], bool | None] | None:
    """An equality or `$in` of strings or ObjectIds as a test of a value (None for any other condition)."""
    if type(condition) in _EXACT_TYPES:
        return _member_of(frozenset([condition]))
    if isinstance(condition, Mapping) and len(condition) == 1:
        return _field_test(condition) if {"$eq", "$in"} & set(condition) else None
    return None


def _field_test(condition: Any) -> Callable[[Any], bool | None] | None:
    """One field's condition as a test of its value: True, False, or None (ask mongomock)."""
    if type(condition) in _EXACT_TYPES:
        return _member_of(frozenset([condition]))
    if not isinstance(condition, Mapping) or not condition:
        return None
    parts: list[Callable[[Any], bool | None]] = []
    for op, argument in condition.items():
        if op in ("$eq", "$in"):
            values = [argument] if op == "$eq" else argument
            if not isinstance(values, list | tuple) or not all(type(v) in _EXACT_TYPES for v in values):
                return None
            parts.append(_member_of(frozenset(values)))
        elif op == "$ne" and type(argument) in _EXACT_TYPES:
            parts.append(_not_equal(argument))
        elif op in _RANGES and type(argument) in (datetime, int, float):
            parts.append(_compare(_RANGES[op], argument))
        else:
            return None
    return functools.partial(_every, parts)


def _member_of(values: frozenset[Any]) -> Callable[[Any], bool | None]:
    def test(value: Any) -> bool | None:
        if type(value) in _EXACT_TYPES or value is filtering.NOTHING or value is None:
            return value in values
        if type(value) is list and all(type(item) in _EXACT_TYPES for item in value):
            return any(item in values for item in value)  # a scalar never equals the whole array
        return None

    return test


def _not_equal(argument: Any) -> Callable[[Any], bool | None]:
    def test(value: Any) -> bool | None:
        if type(value) in _EXACT_TYPES or value is filtering.NOTHING or value is None:
            return value != argument
        return None

    return test


def _compare(compare: Callable[[Any, Any], bool], argument: Any) -> Callable[[Any], bool | None]:
    numeric = type(argument) in (int, float)

    def test(value: Any) -> bool | None:
        kind = type(value)
        if kind is type(argument) or (numeric and kind in (int, float)):
            return compare(value, argument)
        if value is filtering.NOTHING:
            return False
        return None

    return test
