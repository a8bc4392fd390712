"""Which queries a real MongoDB serves from a declared index: the shapes the emulation records, judged by
MongoDB's rules, so that the suite proves every query it runs is index-served.

A shape is a query's collection, its fields bound by equality (`$in` counts: MongoDB merges the sorted runs
of a short list), its fields bound by a range or a negation, and its sort. An index serves the shape when
its keys are some of the equality fields first, then the sort (every direction as declared or every one
reversed; a sort field that is bound by equality needs no place), and the index is used at all (its first
key is bound, or it gives the sort). A sort on a field that holds arrays in the data is never served: an
array sorts in memory. Each `$or` branch must be served on its own. `_id` equality is served by MongoDB's
own index.

`tests/test_zz_index_use.py` records every query of the suite through `server/core/memdb.py` and fails on
one that no declared index serves, naming the index it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, int]

# Operators that bind a field to one value or a short list of values.
_EQUALITY_OPS = {"$eq", "$in", "$elemMatch", "$all"}


@dataclass(frozen=True)
class Shape:
    collection: str
    equality: frozenset[str]
    ranges: frozenset[str]
    sort: tuple[Key, ...] = ()
    array_sort: bool = False  # a sort field holds arrays in the data
    opaque: str = ""  # an operator the judge does not model ($where, $expr, $nor)

    def describe(self) -> str:
        parts = []
        if self.equality:
            parts.append(f"= {sorted(self.equality)}")
        if self.ranges:
            parts.append(f"range {sorted(self.ranges)}")
        if self.sort:
            parts.append("sort " + ", ".join(f"{f} {d}" for f, d in self.sort))
        return f"{self.collection}: " + ("; ".join(parts) or "all documents")

    def needs(self) -> list[Key]:
        """The index that would serve this shape: equality fields, then the sort, then the ranges."""
        keys = [(f, 1) for f in sorted(self.equality)]
        keys += [k for k in self.sort if k[0] not in self.equality]
        keys += [(f, 1) for f in sorted(self.ranges) if f not in dict(keys)]
        return keys


def shapes_of(collection: str, query: Mapping[str, Any] | None, sort: Iterable[Key] = ()) -> list[Shape]:
    """The shapes of one query: one, or one per `$or` branch (each with the fields outside the `$or`)."""
    equality: set[str] = set()
    ranges: set[str] = set()
    branches: list[Mapping[str, Any]] = []
    opaque = _classify(query or {}, equality, ranges, branches)
    sort = tuple(sort)
    if not branches:
        return [Shape(collection, frozenset(equality), frozenset(ranges), sort, opaque=opaque)]
    shapes = []
    for branch in branches:
        for shape in shapes_of(collection, branch, sort):
            shapes.append(
                Shape(
                    collection,
                    shape.equality | equality,
                    shape.ranges | ranges,
                    sort,
                    opaque=shape.opaque or opaque,
                )
            )
    return shapes


def _classify(query: Mapping[str, Any], equality: set[str], ranges: set[str], branches: list[Any]) -> str:
    opaque = ""
    for name, value in query.items():
        if name == "$and":
            for part in value:
                opaque = _classify(part, equality, ranges, branches) or opaque
        elif name == "$or":
            branches.extend(value)
        elif name.startswith("$"):
            opaque = name
        elif isinstance(value, Mapping) and set(value) == {"$elemMatch"} and isinstance(value["$elemMatch"], Mapping):
            inner: set[str] = set()
            inner_ranges: set[str] = set()
            _classify(value["$elemMatch"], inner, inner_ranges, branches)  # fields of the array's items
            equality.update(f"{name}.{f}" for f in inner)
            ranges.update(f"{name}.{f}" for f in inner_ranges)
        elif isinstance(value, Mapping) and value and all(str(k).startswith("$") for k in value):
            (equality if set(value) <= _EQUALITY_OPS else ranges).add(name)
        else:
            equality.add(name)
    return opaque


@dataclass
class Verdict:
    shape: Shape
    served_by: str | None
    reason: str = ""


def judge(shape: Shape, indexes: Mapping[str, list[Key]]) -> Verdict:
    """Whether one of `indexes` (name → keys) serves `shape`."""
    if shape.opaque:
        return Verdict(shape, None, f"{shape.opaque} cannot use an index")
    if shape.array_sort:
        return Verdict(shape, None, "sorts on a field that holds arrays (always an in-memory sort)")
    if "_id" in shape.equality and not shape.sort:
        return Verdict(shape, "_id_")
    for name, keys in {"_id_": [("_id", 1)], **indexes}.items():
        if _serves(keys, shape):
            return Verdict(shape, name)
    sort_note = " and its sort" if shape.sort else ""
    return Verdict(shape, None, f"no declared index serves it{sort_note}")


def _serves(keys: list[Key], shape: Shape) -> bool:
    position = 0
    while position < len(keys) and keys[position][0] in shape.equality:
        position += 1
    sort = [k for k in shape.sort if k[0] not in shape.equality]
    if sort:
        following = keys[position : position + len(sort)]
        same = following == sort
        reversed_ = following == [(f, -d) for f, d in sort]
        return same or reversed_
    bound = shape.equality | shape.ranges
    return position > 0 or (bool(keys) and keys[0][0] in bound)


@dataclass
class Recorder:
    """The distinct shapes a test run sent to the emulation."""

    shapes: dict[Shape, str] = field(default_factory=dict)  # shape → where the application first sent it

    def record(self, shape: Shape, origin: str) -> None:
        self.shapes.setdefault(shape, origin)
