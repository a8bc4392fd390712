"""Data scope: which records a caller may see. Services call these; clients never decide scope.

Staff hold role grants at org units and see what lies under them: scoped documents carry `org_path`
(the path of the unit they belong to), and a grant at any unit on that path covers them. Residents see
only records tied to their own user id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import Forbidden, NotFound


def granted_orgs(principal: Principal, capability: str) -> list[ObjectId]:
    """The units at whose root the caller holds `capability`."""
    return [ObjectId(org_id) for org_id in principal.orgs_with(capability)]


def org_scope_filter(principal: Principal, capability: str, field: str = "org_path") -> dict[str, Any]:
    """A query filter matching documents under any unit where the caller holds `capability`."""
    orgs = granted_orgs(principal, capability)
    if not orgs:
        raise Forbidden()
    return {field: {"$in": orgs}}


def in_org_scope(principal: Principal, org_path: Iterable[ObjectId], capability: str) -> bool:
    return not set(granted_orgs(principal, capability)).isdisjoint(org_path)


def require_org_scope(principal: Principal, org_path: Iterable[ObjectId], capability: str, what: str = "内容") -> None:
    """Out of scope reads as not found, so ids outside the caller's area leak nothing."""
    if not in_org_scope(principal, org_path, capability):
        raise NotFound(f"找不到该{what}")
