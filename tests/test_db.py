"""The database layer: declared indexes ensured idempotently, uniqueness enforced by the database,
and the PyMongo-async calling conventions the application relies on (the same on both engines)."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, ReturnDocument

from server.core import indexes
from server.core.context import Context
from server.core.db import redact_uri
from server.core.errors import Conflict
from server.people.users import UserService


async def test_declared_indexes_exist_and_ensuring_is_idempotent(ctx: Context) -> None:
    again = await indexes.ensure_all(ctx.db)  # ctx already ensured them once at start-up
    assert again == await indexes.ensure_all(ctx.db)
    for collection, models in indexes.declared().items():
        names = {ix["name"] async for ix in await ctx.db[collection].list_indexes()}
        assert {m.document["name"] for m in models} <= names, collection
    assert "phone_hash" in again["users"]
    assert "qr_token" in again["households"]


async def test_duplicate_phone_is_a_conflict_not_a_second_user(ctx: Context) -> None:
    await UserService(ctx).create(name="甲", phone="13812345678", now=ctx.clock.now())
    with pytest.raises(Conflict) as caught:
        await UserService(ctx).create(name="乙", phone="+86 138 1234 5678", now=ctx.clock.now())
    assert caught.value.code == "phone_taken"
    assert caught.value.__cause__ is not None
    assert await ctx.db["users"].count_documents({}) == 1


async def test_users_without_phone_do_not_collide(ctx: Context) -> None:
    await UserService(ctx).create(name="甲", now=ctx.clock.now())
    await UserService(ctx).create(name="乙", now=ctx.clock.now())
    assert await ctx.db["users"].count_documents({}) == 2


async def test_pymongo_async_conventions(ctx: Context) -> None:
    things = ctx.db["things"]
    await things.insert_many([{"n": n, "even": n % 2 == 0} for n in range(10)])
    cursor = things.find({"even": True}).sort("n", ASCENDING).skip(1).limit(2)  # find() is not awaited
    assert [d["n"] for d in await cursor.to_list(None)] == [2, 4]
    assert [d["n"] async for d in things.find({"n": {"$lt": 3}}).sort("n", ASCENDING)] == [0, 1, 2]
    pipeline = [{"$match": {"even": False}}, {"$group": {"_id": None, "total": {"$sum": "$n"}}}]
    result = await (await things.aggregate(pipeline)).to_list(None)  # aggregate() is awaited, then a cursor
    assert result == [{"_id": None, "total": 25}]
    updated = await things.find_one_and_update(
        {"n": 3}, {"$inc": {"n": 100}}, return_document=ReturnDocument.AFTER, projection={"_id": 0, "n": 1}
    )
    assert updated == {"n": 103}
    assert await things.count_documents({"n": {"$gte": 100}}) == 1
    assert (await things.delete_many({"even": True})).deleted_count == 5


def test_database_urls_are_logged_without_password() -> None:
    assert redact_uri("mongodb://admin:s3cret@db:27017/x") == "mongodb://admin:***@db:27017/x"
    assert redact_uri("mongodb+srv://u:p%40ss@cluster.example/") == "mongodb+srv://u:***@cluster.example/"
    assert redact_uri("mongodb://db:27017") == "mongodb://db:27017"
