"""The case record beside the lifecycle: mediation sessions, a resident's added information and rating,
the judicial-confirmation flag, attachments, and audited reads of the parties' full details."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases import policy
from server.cases.lifecycle import conflict, state_conflict
from server.cases.model import Case, notice, timeline_event
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from server.core.context import Context


class CaseRecord:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseRepository(ctx.db)

    async def add_session(self, principal: Principal, case: Case, session: dict[str, Any]) -> Case:
        if not policy.may_record_session(principal, case):
            raise Forbidden(code="action_forbidden")
        if case["state"] != "in_mediation":
            raise state_conflict(principal, case, "执行此操作")
        return await self._append(principal, case, "sessions", session | {"id": ObjectId()}, "session_added")

    async def add_info(self, principal: Principal, case: Case, text: str) -> Case:
        """A resident adds information to their own open case."""
        if not policy.may_add_info(principal, case):
            raise NotFound("找不到该案件")
        if not policy.info_open(case):
            raise conflict(principal, case, "案件已办结，不能再补充材料")
        now = self._ctx.clock.now()
        event = timeline_event(self._me(principal), "add_info", case["state"], case["state"], text, now, public=True)
        return await self._append_only(
            case, {"$push": {"timeline": event, "notifications": notice("case_info_added", "unit", now, case)}}
        )

    async def rate(self, principal: Principal, case: Case, stars: int, comment: str) -> Case:
        if not policy.holds(principal, case, "owner"):
            raise NotFound("找不到该案件")
        if not policy.may_rate(case):
            raise conflict(principal, case, "只能在回访阶段评价一次")
        now = self._ctx.clock.now()
        rating = {"stars": stars, "comment": comment, "at": now}
        event = timeline_event(self._me(principal), "rate", case["state"], case["state"], None, now, public=True)
        return await self._update(case, {"$set": {"rating": rating}, "$push": {"timeline": event}})

    async def set_judicial_confirmation(self, principal: Principal, case: Case, requested: bool) -> Case:
        if not policy.may_handle_record(principal, case):
            raise Forbidden(code="action_forbidden")
        if (case.get("outcome") or {}).get("type") != "agreement":
            raise conflict(principal, case, "只有达成调解协议的案件可以申请司法确认")
        now = self._ctx.clock.now()
        event = timeline_event(
            self._me(principal), "judicial_confirmation", case["state"], case["state"], None, now, public=True
        )
        return await self._update(case, {"$set": {"judicial_confirmation": requested}, "$push": {"timeline": event}})

    async def add_attachment(self, principal: Principal, case: Case, attachment: dict[str, Any]) -> Case:
        now = self._ctx.clock.now()
        event = timeline_event(
            self._me(principal), "attachment_added", case["state"], case["state"], None, now, public=True
        )
        return await self._append_only(case, {"$push": {"attachments": attachment, "timeline": event}})

    async def reveal_parties(self, principal: Principal, case: Case, reason: str) -> None:
        """Full party numbers are for the people handling the case; each read is audited with its reason."""
        if not policy.may_handle_record(principal, case):
            raise Forbidden("只有承办人员和管理员可以查看完整号码", code="reveal_forbidden")
        now = self._ctx.clock.now()
        await self._ctx.audit.record_for(principal, "case.reveal", "case", case["_id"], now, {"reason": reason})

    async def _append(self, principal: Principal, case: Case, field: str, item: dict[str, Any], action: str) -> Case:
        now = self._ctx.clock.now()
        event = timeline_event(self._me(principal), action, case["state"], case["state"], None, now, public=False)
        return await self._append_only(case, {"$push": {field: item, "timeline": event}})

    async def _append_only(self, case: Case, update: dict[str, Any]) -> Case:
        """An addition to the record is not a change of the case: it waits for no one's version, only for the
        state it was allowed in."""
        update.setdefault("$set", {})["updated_at"] = self._ctx.clock.now()
        updated = await self._cases.append(case, update)
        if updated is None:
            raise Conflict("案件状态已变化，请刷新后再试", code="case_state_changed")
        return updated

    async def _update(self, case: Case, update: dict[str, Any]) -> Case:
        update.setdefault("$set", {})["updated_at"] = self._ctx.clock.now()
        updated = await self._cases.update_versioned(case, update)
        if updated is None:
            raise Conflict("案件已被他人更新，请刷新后再试", code="case_version_conflict")
        return updated

    @staticmethod
    def _me(principal: Principal) -> ObjectId:
        return ObjectId(principal.user_id)
