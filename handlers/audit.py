"""The audit log for the 安全审计员 (server/core/audit.py): search, and an XLSX export that is itself audited."""

from __future__ import annotations

from typing import Any

from bson import ObjectId

from handlers.base import BaseHandler, api, requires
from schemas.audit import AuditQuery, AuditRecordOut, record_to_json
from schemas.base import Page
from server.core.audit import audit_query, audit_sheet
from server.core.errors import ValidationFailed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_LIMIT = 50_000


def query_of(query: AuditQuery) -> dict[str, Any]:
    target_id: ObjectId | str | None = query.target_id
    if query.target_id and ObjectId.is_valid(query.target_id):
        target_id = ObjectId(query.target_id)
    if query.target_id and not query.target_type:
        raise ValidationFailed(details=[{"field": "target_type", "message": "按对象查询时请同时给出对象类型"}])
    return audit_query(
        actor_id=ObjectId(query.actor_id) if query.actor_id else None,
        action=query.action,
        target_type=query.target_type,
        target_id=target_id,
        start=query.start,
        end=query.end,
    )


class AuditHandler(BaseHandler):
    @requires("audit.view")
    @api(
        "审计日志（按操作人、操作、对象、时间）",
        query=AuditQuery,
        response=Page[AuditRecordOut],
        tags=["audit"],
        description="只有安全审计员可查；系统管理员既不能查看也不能修改。每条记录带序号和哈希链。",
    )
    async def get(self) -> None:
        query = self.read_query(AuditQuery)
        records, total = await self.ctx.audit.search(query_of(query), skip=query.skip, limit=query.page_size)
        self.write_page([record_to_json(r) for r in records], total, query)


class AuditExportHandler(BaseHandler):
    @requires("audit.view")
    @api(
        "导出审计日志（XLSX，最多 5 万条；导出本身记入审计日志）",
        query=AuditQuery,
        media=[XLSX],
        tags=["audit"],
    )
    async def get(self) -> None:
        query = self.read_query(AuditQuery)
        filters = query_of(query)
        records, total = await self.ctx.audit.search(filters, skip=0, limit=EXPORT_LIMIT)
        if total > EXPORT_LIMIT:
            raise ValidationFailed(
                details=[{"field": "start", "message": f"共 {total} 条，超过 {EXPORT_LIMIT} 条，请缩小时间范围"}]
            )
        asked = query.model_dump(mode="json", exclude={"page", "page_size"}, exclude_none=True)
        await self.ctx.audit.record_for(
            self.caller,
            "audit.export",
            "audit_log",
            "export",
            self.ctx.clock.now(),
            {"filters": asked, "rows": len(records)},
        )
        data = await self.ctx.in_thread(audit_sheet, records, self.ctx.tz)
        self.write_bytes(data, XLSX, "审计日志.xlsx", inline=False)


default_handlers = [
    (r"/api/audit", AuditHandler),
    (r"/api/audit/export", AuditExportHandler),
]
