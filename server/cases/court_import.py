"""Court liaisons hand over pre-litigation cases (诉前调解) as a list: one case a row, reported row by row."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.errors import Conflict, DomainError, Forbidden
from server.core.tables import read_rows
from server.core.vocabulary import CATEGORIES
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

HEADERS = {
    "案号": "external_ref",
    "收案日期": "received_at",
    "纠纷类别": "category",
    "申请人": "applicant",
    "申请人电话": "applicant_phone",
    "被申请人": "respondent",
    "被申请人电话": "respondent_phone",
    "村（社区）": "village",
    "村": "village",
    "案情": "description",
}
REQUIRED = ("external_ref", "received_at", "category", "applicant", "respondent", "village", "description")
CATEGORY_BY_LABEL = {label: code for code, label in CATEGORIES.items()}


class CourtImport:
    """A court liaison's list of pre-litigation cases (诉前调解), registered row by row."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def run(self, principal: Principal, data: bytes, content_type: str) -> dict[str, Any]:
        if not any(g.role == "liaison" and g.liaison_for == "court" for g in principal.grants):
            raise Forbidden("只有法院对接联络员可以导入", code="channel_not_allowed")
        rows = read_rows(data, content_type, HEADERS, REQUIRED)
        orgs = OrgService(self._ctx)
        # Villages of the liaison's own town only: a name shared with another town's village is not a match.
        villages = {
            u["name"]: u["_id"] for town in principal.liaison_towns() for u in await orgs.of_kind("village", under=town)
        }
        service = CaseService(self._ctx)
        report: dict[str, Any] = {"created": 0, "duplicates": [], "errors": []}
        for number, row in enumerate(rows, start=2):
            errors = [{"row": number, "field": f, "message": "必填"} for f in REQUIRED if not row.get(f)]
            category = CATEGORY_BY_LABEL.get(row.get("category", ""), row.get("category", ""))
            if row.get("category") and category not in CATEGORIES:
                errors.append({"row": number, "field": "category", "message": "未知的纠纷类别"})
            if row.get("village") and row["village"] not in villages:
                errors.append({"row": number, "field": "village", "message": "找不到该村（社区）"})
            received = _date(row.get("received_at", ""), self._ctx)
            if row.get("received_at") and received is None:
                errors.append({"row": number, "field": "received_at", "message": "日期格式应为 2026-11-28"})
            if errors:
                report["errors"].extend(errors)
                continue
            parties = [
                {"role": "applicant", "name": row["applicant"], "phone": row.get("applicant_phone") or None},
                {"role": "respondent", "name": row["respondent"], "phone": row.get("respondent_phone") or None},
            ]
            try:
                await service.create(
                    principal,
                    {
                        "channel": "court_referral",
                        "category": category,
                        "description": row["description"],
                        "parties": parties,
                        "village_id": str(villages[row["village"]]),
                        "external_ref": row["external_ref"],
                        "received_at": received,
                    },
                )
            except Conflict as exc:
                if exc.code != "duplicate_referral":
                    raise
                report["duplicates"].append({"row": number, "external_ref": row["external_ref"]})
            except DomainError as exc:
                for detail in exc.details or [{"field": "row", "message": exc.message}]:
                    field = (
                        str(detail.get("field", "row"))
                        .replace("parties.0.", "applicant_")
                        .replace("parties.1.", "respondent_")
                    )
                    report["errors"].append(
                        {"row": number, "field": field, "message": detail.get("message", exc.message)}
                    )
            else:
                report["created"] += 1
        return report


def _date(text: str, ctx: Context) -> datetime | None:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%dT%H:%M:%S", "%Y年%m月%d日"):
        try:
            return datetime.strptime(text[:19], fmt).replace(tzinfo=ctx.tz)
        except ValueError:
            continue
    return None
