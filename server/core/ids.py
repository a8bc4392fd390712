"""Document ids: ObjectIds in the database, strings on the wire."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from server.core.errors import NotFound


def parse_id(value: str | ObjectId, what: str = "内容") -> ObjectId:
    """A malformed id names nothing, so it is a 404 like any id that does not exist."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise NotFound(f"找不到该{what}") from exc
