"""The emulation's lookups and cursor change how fast it answers, never what it answers: the same random
operations on plain mongomock and through our adapter give the same documents in the same order, the same
counts and the same duplicate-key refusals."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import datetime
from typing import Any

import mongomock
import pytest
from bson import ObjectId
from mongomock.filtering import filter_applies
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.core import memdb
from server.core.memdb import MemoryClient
from server.core.memindex import SCAN_BELOW, Lookup, compile_filter, equality_values, touched_fields

STATES = ["draft", "registered", "assigned", "closed", None]
TAGS = ["a", "b", "c", "d"]
# The same fields with other values too: a copier made for one projection must not serve another.
PROJECTIONS = [None, {"due": 1, "state": 1}, {"due": 0, "state": 0}, {"note": 0}, {"_id": 0, "path": 1}, {"_id": 1}]
PROJECTIONS += [{"_id": 1, "path": 1}, {"_id": 0}, {"path": 1, "_id": 0}]
INDEXES = [
    IndexModel([("code", ASCENDING)], name="code", unique=True, sparse=True),
    IndexModel([("state", ASCENDING), ("due", ASCENDING)], name="state_due"),
    IndexModel([("path", ASCENDING), ("due", DESCENDING)], name="path_due"),
    IndexModel([("owner.id", ASCENDING)], name="owner"),
]


def document(rng: random.Random, n: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": n,
        "state": rng.choice(STATES),
        "due": rng.randrange(50),
        "path": rng.sample(TAGS, k=rng.randrange(0, 3)),
        "owner": {"id": rng.randrange(5)} if rng.random() < 0.8 else {},
        "note": "x" * rng.randrange(3),
    }
    if rng.random() < 0.7:
        doc["code"] = f"c{n}"
    if doc["state"] is None and rng.random() < 0.5:
        del doc["state"]  # missing and null both match {"state": None}
    return doc


def query(rng: random.Random) -> dict[str, Any]:
    choices: list[dict[str, Any]] = [
        {"state": rng.choice(STATES)},
        {"state": {"$in": rng.sample(STATES, k=2)}, "due": {"$lte": rng.randrange(50)}},
        {"path": rng.choice(TAGS)},
        {"path": {"$in": [rng.choice(TAGS), rng.choice(TAGS)]}, "state": {"$ne": "closed"}},
        {"owner.id": rng.randrange(6)},
        {"$or": [{"state": "draft"}, {"path": rng.choice(TAGS)}]},
        {"$or": [{"state": "draft"}, {"due": {"$gt": 40}}]},  # a branch no map narrows: a scan
        {"$and": [{"path": rng.choice(TAGS)}, {"owner.id": rng.randrange(5)}]},
        {"_id": {"$in": [rng.randrange(400) for _ in range(3)]}},
        {"code": f"c{rng.randrange(400)}"},
        {"due": {"$gte": rng.randrange(50)}},
    ]
    return rng.choice(choices)


def change(rng: random.Random) -> dict[str, Any]:
    return rng.choice(
        [
            {"$set": {"state": rng.choice(STATES)}},
            {"$set": {"due": rng.randrange(50)}, "$addToSet": {"path": rng.choice(TAGS)}},
            {"$set": {"owner.id": rng.randrange(5)}},
            {"$pull": {"path": rng.choice(TAGS)}},
            {"$unset": {"state": ""}},
            {"$set": {"code": f"c{rng.randrange(400)}"}},  # sometimes a duplicate
        ]
    )


def outcome(method: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        result = method(*args, **kwargs)
    except DuplicateKeyError:
        return "duplicate"
    return summary(result)


def summary(result: Any) -> Any:
    for field in ("modified_count", "deleted_count", "inserted_id"):
        if hasattr(result, field):
            return getattr(result, field)
    return result


@pytest.mark.parametrize(("seed", "keep_sorted"), [(0, False), (1, False), (2, True), (3, True)])
async def test_the_adapter_answers_as_plain_mongomock_does(seed: int, keep_sorted: bool, monkeypatch) -> None:
    if keep_sorted:  # every sorted match is kept for the next read, as long ones are
        monkeypatch.setattr(memdb, "_MATCHES_KEPT_FROM", 0)
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    ours = MemoryClient()["db"]["things"]
    plain.create_indexes(INDEXES)
    await ours.create_indexes(INDEXES)
    initial = [document(rng, n) for n in range(SCAN_BELOW * 3)]
    plain.insert_many([dict(d) for d in initial])
    await ours.insert_many([dict(d) for d in initial])
    next_id = len(initial)
    for _ in range(250):
        step = rng.random()
        if step < 0.15:
            doc = document(rng, next_id if rng.random() < 0.9 else rng.randrange(next_id))
            next_id += 1
            assert outcome(plain.insert_one, dict(doc)) == await async_outcome(ours.insert_one, dict(doc))
        elif step < 0.35:
            target, update = {"_id": rng.randrange(next_id)}, change(rng)
            expected = outcome(plain.update_one, target, update)
            assert await async_outcome(ours.update_one, target, update) == expected
        elif step < 0.42:
            selector, update = query(rng), change(rng)
            expected = outcome(plain.update_many, selector, update)
            assert await async_outcome(ours.update_many, selector, update) == expected
        elif step < 0.47:
            selector = query(rng)
            assert (await ours.delete_one(selector)).deleted_count == plain.delete_one(selector).deleted_count
        elif step < 0.55:
            selector, update = query(rng), change(rng)
            sort = [("due", ASCENDING), ("_id", DESCENDING)]
            after = rng.choice([ReturnDocument.BEFORE, ReturnDocument.AFTER])
            expected = outcome(plain.find_one_and_update, selector, update, sort=sort, return_document=after)
            assert (
                await async_outcome(ours.find_one_and_update, selector, update, sort=sort, return_document=after)
                == expected
            )
        elif step < 0.62:  # a list read twice without a count in between: the second read keeps its matches
            selector, sort = query(rng), [("state", ASCENDING), ("due", DESCENDING), ("_id", ASCENDING)]
            expected_page = list(plain.find(selector).sort(sort).limit(7))
            for _ in range(3):
                assert await ours.find(selector).sort(sort).limit(7).to_list(None) == expected_page
        else:
            selector = query(rng)
            assert await ours.count_documents(selector) == plain.count_documents(selector)
            assert await ours.find_one(selector) == plain.find_one(selector)
            assert await ours.find(selector).to_list(None) == list(plain.find(selector))
            sort = [("due", DESCENDING), ("state", ASCENDING)]
            skip, limit = rng.randrange(5), rng.randrange(1, 10)
            projection = rng.choice(PROJECTIONS)
            expected_page = list(plain.find(selector, projection).sort(sort).skip(skip).limit(limit))
            page = await ours.find(selector, projection).sort(sort).skip(skip).limit(limit).to_list(None)
            assert page == expected_page


async def async_outcome(method: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        result = await method(*args, **kwargs)
    except DuplicateKeyError:
        return "duplicate"
    return summary(result)


def test_a_query_is_narrowed_only_by_an_indexed_field_bound_to_values() -> None:
    collection: Any = mongomock.MongoClient()["db"]["things"]
    collection.create_indexes(INDEXES)
    collection.insert_many([{"_id": n, "state": STATES[n % 4], "path": [TAGS[n % 4]], "due": n} for n in range(200)])
    lookup = Lookup(collection)
    assert len(lookup.candidates({"state": "draft"}) or []) == 50
    assert lookup.candidates({"state": "draft", "path": "z"}) == []  # the smaller list wins
    assert lookup.candidates({"state": "draft", "_id": 8}) == [8]
    assert len(lookup.candidates({"$or": [{"state": "draft"}, {"path": "b"}]}) or []) == 100
    assert lookup.candidates({"$or": [{"state": "draft"}, {"due": 3}]}) is None  # `due` leads no index
    assert lookup.candidates({"due": 3}) is None
    collection.create_index("due")  # the maps a query's fields may use are learnt again
    assert lookup.candidates({"due": 3}) == [3]
    assert len(lookup.candidates({"$or": [{"state": "draft"}, {"due": 3}]}) or []) == 51
    assert lookup.candidates({"state": {"$ne": "draft"}}) is None
    assert lookup.candidates({"_id": {"$in": [3, 1]}}) == [1, 3]  # natural order
    assert equality_values({"$in": [1, {"a": 1}]}) is None
    assert equality_values([1, 2]) is None  # whole-array equality is not an element lookup


def test_the_fields_an_update_touches() -> None:
    assert touched_fields({"$set": {"a.b": 1, "c": 2}, "$inc": {"d": 1}}) == {"a", "c", "d"}
    assert touched_fields({"$rename": {"a": "b.c"}}) == {"a", "b"}
    assert touched_fields({"a": 1}) is None  # a replacement
    assert touched_fields([{"$set": {"a": 1}}]) is None  # a pipeline


async def test_a_duplicate_is_refused_when_the_unique_field_is_found_through_its_map() -> None:
    things = MemoryClient()["db"]["things"]
    await things.create_indexes(INDEXES)
    await things.insert_many([{"_id": n, "code": f"c{n}"} for n in range(SCAN_BELOW * 2)])
    assert await things.count_documents({"code": "c5"}) == 1  # builds the map
    with pytest.raises(DuplicateKeyError):
        await things.insert_one({"code": "c5"})
    with pytest.raises(DuplicateKeyError):
        await things.update_one({"_id": 7}, {"$set": {"code": "c5"}})
    await things.update_one({"_id": 7}, {"$set": {"code": "new"}})
    assert [d["_id"] for d in await things.find({"code": "new"}).to_list(None)] == [7]
    assert await things.count_documents({"code": "c7"}) == 0
    assert await things.find_one({"_id": ObjectId()}) is None


def test_the_compiled_filter_judges_as_mongomock_does() -> None:
    rng = random.Random(7)  # noqa: S311 - reproducible test data
    ids = [ObjectId() for _ in range(3)]
    when = [datetime(2026, 1, day) for day in (1, 2, 3)]
    values: list[Any] = [None, "a", "b", 1, 2.5, True, [], ["a", "b"], [ids[0]], [1, "a"], {"a": 1}, *ids, *when]
    queries: list[dict[str, Any]] = [
        {"f": "a"},
        {"f": ids[0]},
        {"f": {"$in": ["a", ids[1]]}},
        {"f": {"$ne": "a"}},
        {"f": {"$gte": when[1]}},
        {"f": {"$lt": 2}},
        {"f": {"$gt": 1, "$lte": 2.5}},
        {"f": "b", "g": {"$in": [ids[0], ids[2]]}},
        {"f": {"$in": ["a"], "$ne": "b"}},
        {"$and": [{"f": {"$in": ["a", "b"]}}, {"g": {"$ne": ids[0]}}]},
        {"$or": [{"f": "a"}, {"g": {"$gte": when[1]}}], "f": {"$ne": "b"}},
    ]
    for query in queries:
        applies = compile_filter(query)
        assert applies is not None, query
        for _ in range(60):
            document = {name: rng.choice(values) for name in ("f", "g") if rng.random() < 0.85}
            assert applies(document) == filter_applies(query, document), (query, document)
    assert compile_filter({"f.x": 1}) is None  # a number: Python's equality is not BSON's (1 == True)
    assert compile_filter({"f.x": {"$ne": "a"}}) is None
    assert compile_filter({"f.0": "a"}) is None
    assert compile_filter({"f.x.y": "a"}) is None
    assert compile_filter({"f": {"$regex": "a"}}) is None


def test_the_compiled_filter_judges_fields_inside_arrays_as_mongomock_does() -> None:
    """`parties.name`, or an `$elemMatch` of a party's fields, in a list of parties, a single party,
    nothing, or anything else there."""
    rng = random.Random(11)  # noqa: S311 - reproducible test data
    ids = [ObjectId() for _ in range(2)]
    names: list[Any] = ["a", "b", ids[0], None, 1, ["a", "c"], [ids[1]], [], {"x": "a"}]

    def party() -> Any:
        if rng.random() < 0.1:
            return rng.choice(["a", 1, None, ["a"]])  # not a document
        found = {"name": rng.choice(names)} if rng.random() < 0.85 else {}
        if rng.random() < 0.7:
            found["role"] = rng.choice(["respondent", "applicant", "respondent", 1, None, ["respondent"]])
        return found

    def parties() -> Any:
        shape = rng.random()
        if shape < 0.6:
            return [party() for _ in range(rng.randrange(0, 4))]
        return party() if shape < 0.8 else rng.choice([None, "a", 3, [["a"]], {}])

    queries: list[dict[str, Any]] = [
        {"parties.name": "a"},
        {"parties.name": ids[0]},
        {"parties.name": {"$in": ["a", ids[1]]}},
        {"parties.name": {"$eq": "c"}},
        {"parties.name": {"$in": ["b"]}, "village": "v1", "$or": [{"state": "open"}, {"due": {"$gte": 3}}]},
        {"parties": {"$elemMatch": {"role": "respondent", "name": {"$in": ["a", ids[1]]}}}},
        {"parties": {"$elemMatch": {"name": "a"}}, "village": "v1"},
        {"parties": {"$elemMatch": {"role": {"$ne": "applicant"}, "name": {"$in": ["b", "c"]}}}, "state": "open"},
        {
            "parties": {"$elemMatch": {"role": "respondent", "name": {"$in": ["a"]}}},
            "$or": [{"state": "open"}, {"due": {"$gte": 3}}],
        },
    ]
    judged = 0
    for query in queries:
        applies = compile_filter(query)
        assert applies is not None, query
        for _ in range(300):
            document = {"village": rng.choice(["v1", "v2"]), "state": rng.choice(["open", "closed"]), "due": 4}
            if rng.random() < 0.9:
                document["parties"] = parties()
            assert applies(document) == filter_applies(query, document), (query, document)
            judged += applies(document)
    assert judged > 100  # the documents both match and do not
    assert compile_filter({"$or": [{"f": {"$regex": "a"}}]}) is None
    for unusual in ({"name.x": "a"}, {"$or": [{"name": "a"}]}, {"name": {"$regex": "a"}}, {}, "a"):
        assert compile_filter({"parties": {"$elemMatch": unusual}}) is None, unusual


async def test_distinct_reads_what_plain_mongomock_reads() -> None:
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    ours = MemoryClient()["db"]["things"]
    rng = random.Random(3)  # noqa: S311 - reproducible test data
    docs = [document(rng, n) for n in range(SCAN_BELOW * 2)]
    plain.insert_many([dict(d) for d in docs])
    await ours.insert_many([dict(d) for d in docs])
    for key, selector in (("state", {}), ("path", {"due": {"$gte": 20}}), ("owner.id", {"state": "draft"})):
        expected = plain.distinct(key, selector)
        assert sorted(map(str, await ours.distinct(key, selector))) == sorted(map(str, expected))


async def test_a_large_collections_work_runs_in_the_emulation_thread_in_order(monkeypatch) -> None:
    monkeypatch.setattr(memdb, "OFF_LOOP_FROM", 50)
    client = MemoryClient()
    things = client["db"]["things"]
    await things.insert_many([{"_id": n, "state": "draft"} for n in range(49)])
    threads: list[str] = []
    narrow = Lookup.narrow

    def watched(self: Lookup, query: Any) -> Any:
        threads.append(threading.current_thread().name)
        return narrow(self, query)

    monkeypatch.setattr(Lookup, "narrow", watched)
    assert await things.count_documents({}) == 49
    assert threads[-1] == threading.current_thread().name  # small: on the loop's own thread
    await things.insert_one({"_id": 49, "state": "draft"})
    updates = [things.update_one({"_id": n}, {"$set": {"state": "closed"}}) for n in range(0, 50, 2)]
    counted = await asyncio.gather(*updates, things.count_documents({"state": "closed"}))
    assert counted[-1] == 25  # issued after the updates, run after them
    assert threads[-1].startswith("memdb")
    assert [d["_id"] async for d in things.find({"state": "draft"}).sort("_id", -1).limit(2)] == [49, 47]
    await client.close()


async def test_small_work_on_a_large_collection_runs_on_the_loop_unless_work_waits_in_the_thread(
    monkeypatch,
) -> None:
    """A document found by its `_id` or inserted is not worth a trip to the thread, unless the collection's
    work already waits there: then it waits behind it, so every operation runs in the order it was made."""
    monkeypatch.setattr(memdb, "OFF_LOOP_FROM", 50)
    client = MemoryClient()
    things = client["db"]["things"]
    await things.insert_many([{"_id": n, "state": "draft"} for n in range(60)])
    ran: list[tuple[str, str]] = []
    update, matching = things._collection._update, memdb._matching

    def watched_update(*args: Any, **kwargs: Any) -> Any:
        ran.append(("update", threading.current_thread().name))
        return update(*args, **kwargs)

    release = threading.Event()

    def watched_matching(collection: Any, lookup: Lookup, query: Any, *args: Any, **kwargs: Any) -> Any:
        where = threading.current_thread().name
        ran.append(("read", where))
        if where.startswith("memdb"):
            release.wait(timeout=60)  # the thread is held until every operation below has been made
        return matching(collection, lookup, query, *args, **kwargs)

    monkeypatch.setattr(things._collection, "_update", watched_update)  # what mongomock's update_one calls
    monkeypatch.setattr(memdb, "_matching", watched_matching)
    loop_thread = threading.current_thread().name
    assert (await things.find_one({"_id": 3}))["state"] == "draft"
    await things.update_one({"_id": 4}, {"$set": {"state": "closed"}})
    assert ran == [("read", loop_thread), ("update", loop_thread)]  # nothing waited: on the loop
    ran.clear()
    waiting = asyncio.gather(
        things.count_documents({"state": "draft"}),  # a scan: in the thread
        things.update_one({"_id": 5}, {"$set": {"state": "closed"}}),  # waits behind it
        things.find_one({"_id": 5}),
    )
    for _ in range(5):
        await asyncio.sleep(0)  # all three are made while the count holds the thread
    release.set()
    counted, _, found = await waiting
    assert counted == 59  # made before the update, run before it
    assert found["state"] == "closed"  # made after it, run after it
    assert [where.startswith("memdb") for _, where in ran] == [True, True, True]
    await client.close()


async def test_a_range_within_exact_equalities_is_answered_as_mongomock_does() -> None:
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["visits"]
    ours = MemoryClient()["db"]["visits"]
    index = [IndexModel([("org", ASCENDING), ("at", DESCENDING)], name="org_at")]
    plain.create_indexes(index)
    await ours.create_indexes(index)
    rng = random.Random(5)  # noqa: S311 - reproducible test data
    orgs = [ObjectId() for _ in range(3)]
    docs = []
    for n in range(300):
        at: Any = datetime(2026, rng.randrange(1, 13), rng.randrange(1, 28), rng.randrange(24))
        at = rng.choice([at, at, at, None, 5]) if n % 7 == 0 else at
        doc = {"_id": n, "org": [orgs[0], rng.choice(orgs)], "at": at, "h": rng.randrange(40)}
        if n % 11 == 0:
            del doc["at"]
        docs.append(doc)
    plain.insert_many([dict(d) for d in docs])
    await ours.insert_many([dict(d) for d in docs])
    for month in range(1, 12):
        start, end = datetime(2026, month, 1), datetime(2026, month + 1, 1)
        for selector in (
            {"org": {"$in": [orgs[1]]}, "at": {"$gte": start, "$lt": end}},
            {"org": orgs[2], "at": {"$gt": start}},
            {"org": orgs[0], "at": {"$lte": end}},
            {"org": orgs[1], "at": {"$gt": 2}},
        ):
            assert sorted(await ours.distinct("h", selector)) == sorted(plain.distinct("h", selector)), selector
            assert await ours.find(selector).to_list(None) == list(plain.find(selector)), selector


async def test_reads_by_id_answer_as_mongomock_does() -> None:
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    ours = MemoryClient()["db"]["things"]
    ids: list[Any] = [ObjectId() for _ in range(5)] + [f"key:{n}" for n in range(5)]
    docs = [{"_id": key, "n": n, "at": datetime(2026, 1, n + 1, 8, 30, 0, 123456)} for n, key in enumerate(ids)]
    plain.insert_many([dict(d) for d in docs])
    await ours.insert_many([dict(d) for d in docs])
    await ours.delete_one({"_id": ids[2]})
    plain.delete_one({"_id": ids[2]})
    for key in [*ids, ObjectId(), "key:none"]:
        assert await ours.find_one({"_id": key}) == plain.find_one({"_id": key})
        assert await ours.find_one({"_id": key}, {"n": 1}) == plain.find_one({"_id": key}, {"n": 1})
        assert await ours.find({"_id": key}).to_list(None) == list(plain.find({"_id": key}))
        assert await ours.count_documents({"_id": key}) == plain.count_documents({"_id": key})


async def test_what_a_read_returns_is_a_copy_with_aware_times_as_mongomock_gives() -> None:
    """Times (at the top, in sub-documents and lists) come back aware, in UTC, as equal values; changing what
    was returned, however deep, changes nothing stored."""
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    ours = MemoryClient()["db"]["things"]
    at = datetime(2026, 3, 1, 8, 30, 0, 123000)
    docs = [
        {"_id": n, "at": at, "n": n, "deep": {"when": at, "list": [at, {"x": n}]}, "tags": ["a", n]} for n in range(3)
    ]
    plain.insert_many([dict(d) for d in docs])
    await ours.insert_many([dict(d) for d in docs])
    for projection in (None, {"at": 1, "deep": 1, "tags": 1}, {"n": 0}):
        expected = list(plain.find({}, projection).sort("n", ASCENDING))
        found = await ours.find({}, projection).sort("n", ASCENDING).to_list(None)
        assert found == expected
        assert all(d["at"].tzinfo is not None and d["at"].utcoffset().total_seconds() == 0 for d in found)
        assert all(d["deep"]["list"][0].tzinfo is not None for d in found)
        found[0]["deep"]["list"][1]["x"] = 99
        found[0]["deep"]["when"] = None
        found[0]["tags"].append("changed")
    again = await ours.find({"_id": 0}).to_list(None)
    assert again == list(plain.find({"_id": 0}))
    assert again[0]["deep"]["list"][1] == {"x": 0}
    assert again[0]["tags"] == ["a", 0]


async def test_an_aggregation_answers_as_plain_mongomock_does() -> None:
    """The first $match found through the maps (and a following $project copied alone) gives what mongomock
    gives for the whole pipeline."""
    plain: Any = mongomock.MongoClient(tz_aware=True)["db"]["things"]
    client = MemoryClient()
    ours = client["db"]["things"]
    for model in INDEXES:
        plain.create_indexes([model])
    await ours.create_indexes(INDEXES)
    rng = random.Random(9)  # noqa: S311 - reproducible test data
    docs = [document(rng, n) for n in range(SCAN_BELOW * 2)]
    plain.insert_many([dict(d) for d in docs])
    await ours.insert_many([dict(d) for d in docs])
    pipelines: list[list[dict[str, Any]]] = [
        [{"$match": {"state": "registered"}}, {"$group": {"_id": "$owner.id", "n": {"$sum": 1}}}],
        [
            {"$match": {"path": "a", "due": {"$gte": 10}}},
            {"$project": {"state": 1, "due": 1}},
            {"$facet": {"all": [{"$count": "n"}], "hit": [{"$match": {"state": "closed"}}, {"$count": "n"}]}},
        ],
        [{"$match": {"due": {"$lt": 25}}}, {"$unwind": "$path"}, {"$group": {"_id": "$path", "due": {"$avg": "$due"}}}],
        [{"$match": {"state": {"$in": ["draft", None]}}}, {"$project": {"_id": 1}}, {"$count": "n"}],
    ]
    for pipeline in pipelines:
        expected = list(plain.aggregate(pipeline))
        found = await (await ours.aggregate(pipeline)).to_list(None)
        key = lambda row: str(row.get("_id"))  # noqa: E731 - the groups' order is not part of the answer
        assert sorted(found, key=key) == sorted(expected, key=key), pipeline
    await client.close()


def test_queries_are_given_times_as_mongomock_stores_them() -> None:
    """`naive_times` walks a query as mongomock's own `patch_datetime_awareness_in_document` does."""
    from collections import OrderedDict
    from datetime import UTC, timedelta, timezone

    from bson import tz_util
    from mongomock import helpers

    from server.core.memdb import naive_times

    beijing = timezone(timedelta(hours=8))
    times = [datetime(2026, 11, 30, 8, 1, 2, 345678, tzinfo=beijing), datetime(2026, 1, 1, 1, 1, 1, 999999)]
    read_back = datetime(2026, 11, 30, 0, 1, 2, 999, tzinfo=tz_util.utc)  # as a read returns it
    queries = [
        {"due": {"$lt": times[0]}, "state": {"$in": ["a", None, 1, 2.5, True]}, "seen": read_back},
        {"$or": [{"at": times[1]}, {"at": {"$gte": times[0].astimezone(UTC)}}], "_id": ObjectId()},
        {"pair": (times[0], "x"), "nested": OrderedDict(at=times[1]), "list": [[times[0]], {"at": times[1]}]},
        {},
    ]
    for query in queries:
        ours, theirs = naive_times(query), helpers.patch_datetime_awareness_in_document(query)
        assert ours == theirs
        assert repr(ours) == repr(theirs)  # the same types too: naive times, to the millisecond
    assert naive_times(queries[0])["due"]["$lt"] == datetime(2026, 11, 30, 0, 1, 2, 345000)


def test_what_mongomock_copies_is_copied_as_deepcopy_copies_it() -> None:
    """`stored_copy` (mongomock's deep copy in the emulation) returns what `copy.deepcopy` returns, sharing
    nothing mutable with the original."""
    import copy

    from bson import Decimal128
    from mongomock import collection as mongomock_collection

    from server.core.memdb import stored_copy

    MemoryClient()
    assert mongomock_collection.copy.deepcopy is stored_copy  # installed by the client

    rng = random.Random(5)  # noqa: S311 - reproducible test data
    leaves: list[Any] = ["a", 1, 2.5, True, None, ObjectId(), datetime(2026, 1, 1), b"x", Decimal128("1.5")]

    def value(depth: int) -> Any:
        shape = rng.random() if depth < 4 else 0.0
        if shape < 0.5:
            return rng.choice(leaves)
        if shape < 0.7:
            return {f"k{n}": value(depth + 1) for n in range(rng.randrange(4))}
        if shape < 0.9:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return rng.choice([(value(depth + 1), "t"), {1, 2}])  # neither a dict nor a list: deep-copied

    def containers(item: Any) -> list[Any]:
        inside = item.values() if isinstance(item, dict) else item if isinstance(item, list | tuple) else ()
        own = [item] if isinstance(item, dict | list | set) else []
        return own + [c for part in inside for c in containers(part)]

    for _ in range(300):
        original = {"_id": ObjectId(), "doc": value(0), "list": [value(1), value(1)]}
        copied = stored_copy(original)
        assert copied == copy.deepcopy(original)
        assert not {id(c) for c in containers(copied)} & {id(c) for c in containers(original)}


async def test_expired_documents_are_gone_from_every_read_of_a_ttl_collection() -> None:
    """Sizes are read without mongomock's lock only where no TTL index can expire anything (`live_size`): a
    collection with one still drops its expired documents before a count, a list, a lookup or a page."""
    client = MemoryClient()
    codes = client["db"]["codes"]
    await codes.create_indexes(
        [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0), IndexModel([("phone", ASCENDING)])]
    )
    long_ago, far_ahead = datetime(2000, 1, 1), datetime(2200, 1, 1)
    await codes.insert_many(
        [{"_id": n, "phone": f"p{n % 3}", "expires_at": long_ago if n % 2 else far_ahead} for n in range(40)]
    )
    live = sorted(n for n in range(40) if n % 2 == 0)
    # Each read first, before any other removes the expired documents: through a map, then by scans.
    assert sorted([d["_id"] async for d in codes.find({"phone": {"$in": ["p0", "p1", "p2"]}})]) == live
    await codes.insert_many([{"_id": n, "phone": "p1", "expires_at": long_ago} for n in range(40, 45)])
    assert await codes.count_documents({"phone": "p1"}) == len([n for n in live if n % 3 == 1])
    await codes.insert_one({"_id": 45, "expires_at": long_ago})
    assert await codes.count_documents({}) == len(live)
    assert [d["_id"] for d in await codes.find({}).sort("_id", -1).limit(3).to_list(None)] == live[::-1][:3]
    assert await codes.find_one({"_id": 1}) is None
    await client.close()


async def test_a_read_a_map_narrows_to_a_few_documents_runs_on_the_loop_unless_work_waits_in_the_thread(
    monkeypatch,
) -> None:
    """On a large collection, a read the maps narrow to `FEW_CANDIDATES` documents (one respondent's cases
    in a village) is small whatever the collection's size: it runs on the loop, unless the collection's work
    already waits in the thread; a read of many documents goes to the thread."""
    monkeypatch.setattr(memdb, "OFF_LOOP_FROM", 50)
    monkeypatch.setattr(memdb, "FEW_CANDIDATES", 10)
    client = MemoryClient()
    things = client["db"]["things"]
    await things.create_indexes([IndexModel([("owner", ASCENDING)], name="owner")])
    owners = ["crowd"] * 150 + [f"few{n % 10}" for n in range(30)]
    await things.insert_many([{"_id": n, "owner": owner} for n, owner in enumerate(owners)])
    assert await things.count_documents({"owner": "few0"}) == 3  # builds the map (a map is never built on the loop)
    ran: list[str] = []
    matching, release = memdb._matching, threading.Event()

    def watched_matching(*args: Any, **kwargs: Any) -> Any:
        ran.append(threading.current_thread().name)
        if ran[-1].startswith("memdb"):
            release.wait(timeout=60)  # the thread is held until every read below has been made
        return matching(*args, **kwargs)

    monkeypatch.setattr(memdb, "_matching", watched_matching)
    loop_thread = threading.current_thread().name
    assert len(await things.find({"owner": "few1"}).to_list(None)) == 3
    assert await things.count_documents({"owner": {"$in": ["few2", "few3"]}}) == 6
    assert ran == [loop_thread, loop_thread]  # nothing waited: on the loop
    ran.clear()
    waiting = asyncio.gather(
        things.count_documents({"owner": "crowd"}),  # 150 candidates: in the thread
        things.find({"owner": "few4"}).to_list(None),  # few, but made while the count waits: behind it
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()
    release.set()
    crowd, few = await waiting
    assert (crowd, len(few)) == (150, 3)
    assert [where.startswith("memdb") for where in ran] == [True, True]
    await client.close()


async def test_a_read_is_judged_few_only_when_finding_its_candidates_is_small_work() -> None:
    """`narrows_to` (the loop's test of a read on a large collection): a map narrows the read to a few
    documents, and finding them builds no map and cleans no long list of a map (either is work in proportion
    to the collection)."""
    client = MemoryClient()
    things = client["db"]["things"]
    await things.create_indexes([IndexModel([("owner", ASCENDING)]), IndexModel([("kind", ASCENDING)])])
    owners = ["crowd"] * 150 + [f"few{n % 10}" for n in range(30)]
    await things.insert_many([{"_id": n, "owner": o, "kind": "big" if n < 150 else "k"} for n, o in enumerate(owners)])
    lookup = things._lookup
    assert not lookup.narrows_to({"owner": "few1"}, 10)  # its map is not built yet
    await things.count_documents({"owner": "few0"})  # builds the owner map only
    assert lookup.narrows_to({"owner": "few1"}, 10)
    assert lookup.narrows_to({"owner": {"$in": ["few1", "few2"]}, "at": {"$gte": 3}}, 10)  # 6 (a range reads no map)
    assert not lookup.narrows_to({"owner": {"$in": ["few1", "few2"]}}, 5)
    assert not lookup.narrows_to({"owner": "crowd"}, 10)
    assert not lookup.narrows_to({"owner": "few1", "kind": "big"}, 10)  # the kind map would be built
    await things.count_documents({"kind": "k"})
    assert lookup.narrows_to({"owner": "few1", "kind": "big"}, 10)  # the owner map narrows to 3
    await things.update_one({"_id": 0}, {"$set": {"kind": "rare"}})  # the "big" list (150) is cleaned at its next use
    assert not lookup.narrows_to({"owner": "few1", "kind": "big"}, 10)
    assert lookup.narrows_to({"owner": "few1", "kind": "rare"}, 10)  # to be cleaned too, but short: small work
    assert lookup.narrows_to({"owner": "few1"}, 10)
    assert not lookup.narrows_to({"$or": [{"owner": "few1"}, {"kind": "k"}]}, 10)  # each branch's lists are read
    assert lookup.narrows_to({"owner": "few1", "$or": [{"at": {"$gte": 1}}, {"kind": "k"}]}, 10)  # that $or is not
    assert not lookup.narrows_to({"$and": [{"owner": "few1"}]}, 10)
    await client.close()
