"""Staff accounts and their role grants, kept by the town and county admins.

An admin acts only inside their own subtree and grants only what their role may grant: a town admin
every staff role but `county_admin`, a county admin every staff role. Every change is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.permissions import AUDITOR, STAFF
from server.core.pii import phone_input
from server.orgs.tree import OrgService
from server.people.sessions import SessionService
from server.people.users import UserService, grant_doc

if TYPE_CHECKING:
    from server.core.context import Context

GRANTABLE_BY = {
    "county_admin": frozenset(STAFF) | {AUDITOR},
    "town_admin": frozenset(STAFF) - {"county_admin"},
}


class StaffService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def _scope(self, principal: Principal, capability: str) -> list[ObjectId]:
        roots = [ObjectId(o) for o in principal.orgs_with(capability)]
        if not roots:
            raise Forbidden()
        return await OrgService(self._ctx).subtree_ids(roots)

    async def _checked_grant(
        self, principal: Principal, role: str, org_id: ObjectId, liaison_for: str | None
    ) -> dict[str, Any]:
        await self._require_grantable(principal, role, org_id)
        return grant_doc(role, org_id, liaison_for)

    async def _require_grantable(self, principal: Principal, role: str, org_id: ObjectId) -> None:
        """The caller administers `org_id` and their role may hand out `role` there."""
        unit = await OrgService(self._ctx).get(org_id)
        allowed: set[str] = set()
        for grant in principal.grants:
            if grant.role in GRANTABLE_BY and grant.org_id and ObjectId(grant.org_id) in unit["path"]:
                allowed |= GRANTABLE_BY[grant.role]
        if not allowed:
            raise NotFound("找不到该组织单元")
        if role not in allowed:
            raise Forbidden("无权授予该角色", code="role_not_grantable")
        if role == AUDITOR and unit["kind"] != "county":
            raise ValidationFailed(details=[{"field": "org_id", "message": "安全审计员只能设在县级"}])

    async def create(
        self, principal: Principal, *, name: str, phone: str, grants: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """A staff account for `phone`; a resident who already signed up with it gains the grants instead."""
        now = self._ctx.clock.now()
        phone = phone_input(phone)
        docs = [await self._checked_grant(principal, g["role"], g["org_id"], g.get("liaison_for")) for g in grants]
        users = UserService(self._ctx)
        existing = await users.by_phone(phone)
        if existing is not None:
            if any(g["role"] != "resident" for g in existing["grants"]):
                raise Conflict("该手机号已是工作人员账号", code="phone_taken")
            user = await users.add_grants(existing["_id"], docs, name, now)
            created = False
        else:
            user = await users.create(name=name, phone=phone, now=now, grants=docs)
            created = True
        await self._audit(principal, "user.create" if created else "user.promote", user["_id"], now, {"grants": docs})
        return user, created

    async def search(
        self,
        principal: Principal,
        *,
        name: str | None,
        phone: str | None,
        role: str | None,
        org_id: ObjectId | None,
        skip: int,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int]:
        scope = await self._scope(principal, "staff.view")
        if org_id is not None:
            if org_id not in scope:
                raise NotFound("找不到该组织单元")
            scope = [org_id]
        return await UserService(self._ctx).search_granted(
            scope, role=role, name=name, phone=phone_input(phone) if phone else None, skip=skip, limit=limit
        )

    async def get(self, principal: Principal, user_id: ObjectId) -> dict[str, Any]:
        scope = await self._scope(principal, "staff.view")
        user = await UserService(self._ctx).granted_in(user_id, scope)
        if user is None:
            raise NotFound("找不到该人员")
        return user

    async def grant(
        self,
        principal: Principal,
        user_id: ObjectId,
        *,
        role: str,
        org_id: ObjectId,
        liaison_for: str | None,
    ) -> dict[str, Any]:
        now = self._ctx.clock.now()
        if str(user_id) == principal.user_id:
            raise Forbidden("不能给自己授权", code="cannot_grant_self")
        await self._within_reach(principal, await self.get(principal, user_id))
        doc = await self._checked_grant(principal, role, org_id, liaison_for)
        user = await UserService(self._ctx).add_grant_once(user_id, doc, now)
        if user is None:
            raise Conflict("该人员已有此授权", code="grant_exists")
        await self._audit(principal, "user.grant", user_id, now, {"grant": doc})
        return user

    async def revoke(self, principal: Principal, user_id: ObjectId, *, role: str, org_id: ObjectId) -> dict[str, Any]:
        now = self._ctx.clock.now()
        await self._within_reach(principal, await self.get(principal, user_id))
        await self._require_grantable(principal, role, org_id)
        user = await UserService(self._ctx).remove_grant(user_id, role, org_id, now)
        if user is None:
            raise NotFound("该人员没有此授权", code="grant_not_found")
        await self._audit(principal, "user.revoke", user_id, now, {"grant": {"role": role, "org_id": org_id}})
        return user

    async def set_active(self, principal: Principal, user_id: ObjectId, *, active: bool) -> dict[str, Any]:
        now = self._ctx.clock.now()
        if str(user_id) == principal.user_id:
            raise Conflict("不能停用或启用自己的账号", code="cannot_change_self")
        await self._within_reach(principal, await self.get(principal, user_id))
        admin_scope = await self._scope(principal, "staff.edit")
        user = await UserService(self._ctx).set_active_in(user_id, admin_scope, active, now)
        if user is None:
            raise Forbidden()
        if not active:
            await SessionService(self._ctx).revoke_all(user_id, reason="user_deactivated")
        await self._audit(principal, "user.activate" if active else "user.deactivate", user_id, now, {})
        return user

    async def reset_second_factor(self, principal: Principal, user_id: ObjectId) -> dict[str, Any]:
        """An administrator lost their authenticator and recovery codes: a higher or equal admin of their unit
        clears the enrolment (and ends their sessions); they enrol again at their next sign-in. Audited."""
        now = self._ctx.clock.now()
        if str(user_id) == principal.user_id:
            raise Forbidden("不能重置自己的第二重验证", code="cannot_change_self")
        user = await self.get(principal, user_id)
        await self._within_reach(principal, user)
        await UserService(self._ctx).set_second_factor_fields(user_id, {"totp": None})
        await SessionService(self._ctx).revoke_all(user_id, reason="second_factor_reset")
        await self._audit(principal, "user.second_factor_reset", user_id, now, {})
        return await UserService(self._ctx).get(user_id)

    async def _within_reach(self, principal: Principal, user: dict[str, Any]) -> None:
        """Nobody acts on a person who also holds a grant above or beside their own reach (a town admin on a
        county admin who happens to hold a role in the town)."""
        reach = set(await self._scope(principal, "staff.edit"))
        beyond = [g for g in user.get("grants", []) if g.get("org_id") and g["org_id"] not in reach]
        if beyond:
            raise Forbidden("该人员在您的管辖范围以外另有职务，请由上级管理员处理", code="user_out_of_reach")

    async def _audit(
        self, principal: Principal, action: str, user_id: ObjectId, now: datetime, details: dict[str, Any]
    ) -> None:
        await self._ctx.audit.record_for(principal, action, "user", user_id, now, details)
