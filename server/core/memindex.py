"""Equality lookups for the in-process emulation: what an index's first key gives a real MongoDB.

mongomock answers every query by testing every document of the collection. `Lookup` gives one mongomock
collection a map per indexed field (the first key of each index the collection has, which are exactly the
indexes the application declares: the emulation never needs one a real server would not), from each value
to the documents holding it. A query that binds such a field by equality or `$in` (at its top level, in an
`$and`, or in every branch of an `$or`) tests only the documents the smallest map names; every other query
scans as before. The maps only narrow: each candidate is still tested against the whole filter by mongomock,
so a stale entry (a deleted document, an old value) costs a test and never a wrong answer.

Keeping them current, with mongomock writing documents in place:
- an insert (including an upsert) adds the document to every map before mongomock stores it, so the unique
  checks mongomock runs during the insert see it;
- an update of a few documents (its filter names them through the maps, as an update by `_id` does) adds
  their new values to the maps of the fields it touches; any other update or replace drops those maps, and
  they are rebuilt by the next query that needs one, as is a map that has become mostly stale entries.
  While an update runs, the fields it touches are not looked up (mongomock checks unique indexes by querying
  in the middle of an update, when the maps are not yet current);
- a delete leaves entries that no longer resolve to a document.

Small collections (under `SCAN_BELOW` documents) are scanned as mongomock does, in its order. Results come
in the collection's natural (insertion) order either way.

Every write must go through the collection object the lookup was installed on: the adapter keeps one per
collection name, and nothing else writes to its store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from bson import ObjectId
from mongomock import filtering, helpers

SCAN_BELOW = 64
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
    for operator, argument in update.items():
        if operator == "$rename":
            fields |= {k.split(".", 1)[0] for k in argument} | {str(v).split(".", 1)[0] for k, v in argument.items()}
        elif operator in _FIELD_OPERATORS:
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
        self._maps: dict[str, dict[Any, list[Any]]] = {}
        self._stale: dict[str, int] = {}  # entries added for updated documents since each map was built
        self._suspended: set[str] = set()  # fields an update in progress touches ("": all)
        self._order: dict[Any, int] | None = None  # store key -> position, for unions in natural order
        self._next = 0
        collection._iter_documents = self.iter_documents
        collection._insert = self.insert
        collection._update = self.update

    # -- reads ------------------------------------------------------------------------------------------

    def iter_documents(self, query: Any) -> Iterator[dict[str, Any]]:
        store = self._collection._store
        if len(store) < SCAN_BELOW or not isinstance(query, Mapping):
            return self._scan(query)
        keys = self.candidates(query)
        if keys is None:
            return self._scan(query)
        documents = store._documents  # expired documents were removed by len() above
        found = (documents.get(key) for key in keys)
        return (doc for doc in found if doc is not None and filtering.filter_applies(query, doc))

    def candidates(self, query: Mapping[str, Any]) -> list[Any] | None:
        """Store keys of the documents that may match, in natural order; None when no map narrows."""
        best: list[Any] | None = None
        for name, condition in query.items():
            found: list[Any] | None = None
            if name == "$and" and isinstance(condition, list):
                for part in condition:
                    narrowed = self.candidates(part) if isinstance(part, Mapping) else None
                    if narrowed is not None and (found is None or len(narrowed) < len(found)):
                        found = narrowed
            elif name == "$or" and isinstance(condition, list) and condition:
                branches = [self.candidates(b) if isinstance(b, Mapping) else None for b in condition]
                if all(branch is not None for branch in branches):
                    found = self._union(branches)  # type: ignore[arg-type]
            elif not name.startswith("$"):
                found = self._lookup(name, condition)
            if found is not None and (best is None or len(found) < len(best)):
                best = found
        return best

    def _lookup(self, name: str, condition: Any) -> list[Any] | None:
        values = equality_values(condition)
        if values is None:
            return None
        if name == "_id":
            return self._union([[_store_key(v)] for v in values])
        if name not in self._indexed() or self._suspended & {"", name.split(".", 1)[0]}:
            return None
        by_value = self._map(name)
        return self._union([by_value.get(v, []) for v in values], ordered=not self._stale.get(name))

    def _union(self, lists: list[list[Any]], ordered: bool = True) -> list[Any]:
        """The keys of all `lists`, once each, in natural order (`ordered`: each list already is, once each)."""
        if len(lists) == 1 and ordered:
            return list(lists[0])  # a copy: the map's own list grows while a caller walks this one
        merged = dict.fromkeys(key for keys in lists for key in keys)
        order = self._positions()
        return sorted(merged, key=lambda key: order.get(key, -1))

    def _positions(self) -> dict[Any, int]:
        if self._order is None:
            self._order = {key: n for n, key in enumerate(self._collection._store._documents)}
            self._next = len(self._order)
        return self._order

    def _indexed(self) -> set[str]:
        return {next(iter(dict(index["key"]))) for index in self._collection._store.indexes.values()} - {"_id"}

    def _map(self, name: str) -> dict[Any, list[Any]]:
        by_value = self._maps.get(name)
        if by_value is None:
            by_value = self._maps[name] = {}
            for key, document in self._collection._store._documents.items():
                for value in _values(document, name):
                    by_value.setdefault(value, []).append(key)
        return by_value

    # -- writes -----------------------------------------------------------------------------------------

    def insert(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(data, MutableMapping):
            if "_id" not in data:
                data["_id"] = ObjectId()  # what mongomock does next, done first so the maps can name it
            key = _store_key(data["_id"])
            if self._order is not None and key not in self._collection._store._documents:
                self._order[key] = self._next
                self._next += 1
            for name, by_value in self._maps.items():
                for value in _values(data, name):
                    by_value.setdefault(value, []).append(key)
        return self._insert(data, *args, **kwargs)

    def update(self, spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        touched = touched_fields(document)
        # The documents the update can change, when few: their new values are added afterwards instead of
        # dropping the maps (the old entries stay, stale, until the map is rebuilt).
        keys = self.candidates(spec) if touched and self._maps and isinstance(spec, Mapping) else None
        # mongomock queries in the middle of an update (its unique checks): the touched fields scan meanwhile.
        self._suspended = touched if touched is not None else {""}
        try:
            return self._update(spec, document, *args, **kwargs)
        finally:
            self._suspended = set()
            if keys is None or len(keys) > _FEW or touched is None:
                self._forget(touched)
            else:
                self._refresh(keys, touched)

    def _refresh(self, keys: list[Any], touched: set[str]) -> None:
        documents = self._collection._store._documents
        for name in [n for n in self._maps if n.split(".", 1)[0] in touched]:
            self._stale[name] = self._stale.get(name, 0) + len(keys)
            if self._stale[name] > max(len(documents), SCAN_BELOW):
                self._forget({name})  # mostly stale: rebuilt on the next query that needs it
                continue
            by_value = self._maps[name]
            for key in keys:
                document = documents.get(key)
                for value in _values(document, name) if document is not None else ():
                    by_value.setdefault(value, []).append(key)

    def _forget(self, fields: set[str] | None) -> None:
        for name in list(self._maps):
            if fields is None or name.split(".", 1)[0] in fields:
                del self._maps[name]
                self._stale.pop(name, None)


def _values(document: Mapping[str, Any], name: str) -> set[Any]:
    """The hashable values `name` takes in `document` that an equality can match (array elements included;
    a missing field is None, which `{name: None}` matches)."""
    values: set[Any] = set()
    for candidate in filtering.iter_key_candidates(name, document):
        if candidate is _NOTHING or candidate is None:
            values.add(None)
        elif isinstance(candidate, list):
            values |= {item for item in candidate if _hashable(item)}
            if not candidate:
                values.add(None)
        elif _hashable(candidate):
            values.add(candidate)
    return values
