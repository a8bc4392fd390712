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


def granted_orgs(principal: Principal, roles: Iterable[str]) -> list[ObjectId]:
    return [ObjectId(org_id) for org_id in principal.orgs_for(*roles)]


def org_scope_filter(principal: Principal, roles: Iterable[str], field: str = "org_path") -> dict[str, Any]:
    """A query filter matching documents under any unit where the caller holds one of `roles`."""
    orgs = granted_orgs(principal, roles)
    if not orgs:
        raise Forbidden()
    return {field: {"$in": orgs}}


def in_org_scope(principal: Principal, org_path: Iterable[ObjectId], roles: Iterable[str]) -> bool:
    return not set(granted_orgs(principal, roles)).isdisjoint(org_path)


def require_org_scope(
    principal: Principal, org_path: Iterable[ObjectId], roles: Iterable[str], what: str = "内容"
) -> None:
    """Out of scope reads as not found, so ids outside the caller's area leak nothing."""
    if not in_org_scope(principal, org_path, roles):
        raise NotFound(f"找不到该{what}")


def own_filter(principal: Principal, field: str = "resident_id") -> dict[str, Any]:
    """A query filter matching only the caller's own records."""
    return {field: ObjectId(principal.user_id)}


def require_own(principal: Principal, owner_id: ObjectId, what: str = "内容") -> None:
    if ObjectId(principal.user_id) != owner_id:
        raise NotFound(f"找不到该{what}")
