"""The judge of index use: MongoDB's rules (equality, then sort, then range), `$or` branches, arrays."""

from __future__ import annotations

from server.core.query_shapes import Shape, judge, shapes_of

QUEUE = {"scope_due": [("org_path", 1), ("next_due", 1), ("created_at", 1)]}


def verdict(query: dict, sort: tuple = (), indexes: dict | None = None, collection: str = "cases") -> str | None:
    (shape,) = shapes_of(collection, query, sort)
    return judge(shape, QUEUE if indexes is None else indexes).served_by


def test_equality_then_sort_is_served_and_residual_filters_ride_along() -> None:
    sort = (("next_due", 1), ("created_at", 1))
    assert verdict({"org_path": {"$in": [1, 2]}}, sort) == "scope_due"
    assert verdict({"org_path": {"$in": [1]}, "state": "registered", "number": {"$regex": "x"}}, sort) == "scope_due"
    assert verdict({"org_path": 1}, (("next_due", -1), ("created_at", -1))) == "scope_due"  # all reversed


def test_a_sort_the_index_cannot_give_is_not_served() -> None:
    assert verdict({"org_path": 1}, (("created_at", 1),)) is None  # next_due stands between
    assert verdict({"org_path": 1}, (("next_due", 1), ("created_at", -1))) is None  # mixed directions
    assert verdict({"state": "registered"}, (("next_due", 1),)) is None  # the index's first key is unbound


def test_unbound_queries_and_opaque_operators_are_not_served() -> None:
    assert verdict({}) is None
    assert verdict({"$where": "this.a"}) is None
    assert verdict({"_id": 5}) == "_id_"


def test_each_or_branch_is_judged_on_its_own() -> None:
    shapes = shapes_of("cases", {"state": "x", "$or": [{"org_path": 1}, {"mediator_ids": 2}]})
    assert {frozenset(s.equality) for s in shapes} == {
        frozenset({"state", "org_path"}),
        frozenset({"state", "mediator_ids"}),
    }
    assert [judge(s, QUEUE).served_by for s in sorted(shapes, key=Shape.describe)] == [None, "scope_due"]


def test_elem_match_binds_the_fields_of_the_array_items() -> None:
    (shape,) = shapes_of("users", {"grants": {"$elemMatch": {"org_id": {"$in": [1]}, "role": "mediator"}}})
    assert shape.equality == {"grants.org_id", "grants.role"}
    assert judge(shape, {"grant_org_role": [("grants.org_id", 1), ("grants.role", 1)]}).served_by == "grant_org_role"


def test_a_sort_on_an_array_field_is_never_served() -> None:
    (shape,) = shapes_of("households", {"org_path": 1}, (("org_path", 1), ("address", 1)))
    arrays = Shape(shape.collection, shape.equality, shape.ranges, shape.sort, array_sort=True)
    assert judge(arrays, {"i": [("org_path", 1), ("address", 1)]}).served_by is None
    assert arrays.needs() == [("org_path", 1), ("address", 1)]
