"""Files that belong to a case: uploaded attachments and the printable agreement.

Checking and cleaning an upload and rendering a PDF cost far more than a request, and storage is file
I/O, so each runs in an executor. Reading a file follows the same access rules as reading its case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bson import ObjectId

from server.cases.agreement_pdf import render_agreement
from server.cases.attachments import clean
from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, UnsupportedMediaType
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

T = TypeVar("T")


class CaseFiles:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseService(ctx)

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, work, *args)

    async def attach(self, principal: Principal, case_id: ObjectId, data: bytes) -> dict[str, Any]:
        case = await self._cases.get(principal, case_id)
        if not self._cases.can_attach(principal, case):
            raise Forbidden("案件已办结或您不能为该案件上传材料", code="attach_forbidden")
        if not data:
            raise UnsupportedMediaType("请上传文件内容")
        kind, content_type, cleaned = await self._off_loop(clean, data)
        attachment_id = ObjectId()
        key = f"cases/{case['_id']}/{attachment_id}"
        await self._off_loop(self._ctx.storage.put, key, cleaned)
        attachment = {
            "id": attachment_id,
            "kind": kind,
            "content_type": content_type,
            "size": len(cleaned),
            "key": key,
            "by": ObjectId(principal.user_id),
            "at": self._ctx.clock.now(),
        }
        return await self._cases.add_attachment(principal, case, attachment)

    async def read(self, principal: Principal, case_id: ObjectId, attachment_id: ObjectId) -> tuple[bytes, str]:
        case = await self._cases.get(principal, case_id)
        attachment = next((a for a in case.get("attachments", []) if a["id"] == attachment_id), None)
        if attachment is None:
            raise NotFound("找不到该附件")
        return await self._off_loop(self._ctx.storage.get, attachment["key"]), attachment["content_type"]

    async def agreement_pdf(self, principal: Principal, case_id: ObjectId) -> tuple[bytes, str]:
        """The 人民调解协议书 and a file name for it."""
        case = await self._cases.get(principal, case_id)
        if (case.get("outcome") or {}).get("type") != "agreement":
            raise Conflict("该案件没有调解协议", code="no_agreement")
        unit = (await OrgService(self._ctx).find(case["assigned_org_id"]) if case["assigned_org_id"] else None) or {}
        committee = unit.get("name") or f"{self._ctx.config.town.name}人民调解委员会"
        pdf = await self._off_loop(render_agreement, case, committee, self._ctx.tz)
        return pdf, f"人民调解协议书-{case['number']}.pdf"
