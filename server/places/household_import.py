"""Bulk import of a village's household register from CSV or XLSX.

One row per person; consecutive rows with the same micro-grid and address form one household. Columns
(Chinese or English headers): 微网格/micro_grid, 地址/address, 姓名/name, 与户主关系/relation,
手机号/phone, 身份证号/id_number, 标签/tags (separated by 、 , ; or spaces).

A bad row is reported with its row number and field and left out; every good row is kept. A household
whose address is already registered in that micro-grid is skipped, so importing the same file twice adds
nothing. CSV may be UTF-8 (with or without BOM) or GB18030, as Excel on Chinese Windows saves it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import NotFound
from server.core.pii import InvalidIdNumber, InvalidPhone
from server.core.tables import read_rows
from server.orgs.tree import OrgService
from server.places.households import HouseholdService, member_doc, new_household

if TYPE_CHECKING:
    from server.core.context import Context

HEADERS = {
    "微网格": "micro_grid",
    "地址": "address",
    "门牌地址": "address",
    "姓名": "name",
    "与户主关系": "relation",
    "关系": "relation",
    "手机号": "phone",
    "手机": "phone",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "标签": "tags",
}
REQUIRED = ("micro_grid", "address", "name", "relation")
FIELD_LIMITS = {"micro_grid": 60, "address": 100, "name": 30, "relation": 10}


@dataclass
class ImportReport:
    households_created: int = 0
    members_created: int = 0
    households_skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def read_register(data: bytes, content_type: str) -> list[dict[str, str]]:
    return read_rows(data, content_type, HEADERS, REQUIRED)


class HouseholdImporter:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def village(self, principal: Principal, village_id: ObjectId) -> dict[str, Any]:
        """The village a register is imported into, in the caller's reach."""
        village = await OrgService(self._ctx).get_in_scope(principal, village_id, "household.edit")
        if village["kind"] != "village":
            raise NotFound("找不到该村或社区", details=[{"field": "village_id", "message": "请选择村或社区"}])
        return village

    async def run(self, principal: Principal, village: dict[str, Any], rows: list[dict[str, str]]) -> ImportReport:
        village_id = village["_id"]
        micro_grids = {
            unit["name"]: unit for unit in await OrgService(self._ctx).of_kind("micro_grid", under=village_id)
        }
        report = ImportReport()
        groups: list[tuple[dict[str, Any], str, list[dict[str, Any]]]] = []
        for number, row in enumerate(rows, start=2):
            member = self._member(row, number, micro_grids, report)
            if member is None:
                continue
            micro, address = micro_grids[row["micro_grid"]], row["address"]
            if groups and groups[-1][0]["_id"] == micro["_id"] and groups[-1][1] == address:
                groups[-1][2].append(member)
            else:
                groups.append((micro, address, [member]))
        now = self._ctx.clock.now()
        for micro, address, members in groups:
            if await HouseholdService(self._ctx).exists_at(micro["_id"], address):
                report.households_skipped += 1
                continue
            tags = sorted({t for m in members for t in m.pop("_tags")})
            household = new_household(
                micro_grid=micro,
                address=address,
                members=members,
                tags=tags,
                now=now,
                created_by=ObjectId(principal.user_id),
            )
            await HouseholdService(self._ctx).insert([household])
            report.households_created += 1
            report.members_created += len(members)
        await self._ctx.audit.record(
            action="household.import",
            actor_id=ObjectId(principal.user_id),
            target_type="org_unit",
            target_id=village_id,
            at=now,
            details={"created": report.households_created, "rejected_rows": len(report.errors)},
        )
        return report

    def _member(
        self, row: dict[str, str], number: int, micro_grids: dict[str, dict[str, Any]], report: ImportReport
    ) -> dict[str, Any] | None:
        errors = []
        for name in REQUIRED:
            if not row.get(name):
                errors.append({"row": number, "field": name, "message": "必填"})
            elif len(row[name]) > FIELD_LIMITS[name]:
                errors.append({"row": number, "field": name, "message": f"最多 {FIELD_LIMITS[name]} 个字"})
        if row.get("micro_grid") and row["micro_grid"] not in micro_grids:
            errors.append({"row": number, "field": "micro_grid", "message": "本村没有这个微网格"})
        member: dict[str, Any] | None = None
        if not errors:
            try:
                member = member_doc(
                    self._ctx.cipher,
                    name=row["name"],
                    relation=row["relation"],
                    phone=row.get("phone") or None,
                    id_number=row.get("id_number") or None,
                )
            except (InvalidPhone, InvalidIdNumber) as exc:
                errors.append({"row": number, "field": exc.field, "message": str(exc)})
        if errors:
            report.errors.extend(errors)
            return None
        assert member is not None
        member["_tags"] = [t for t in re.split(r"[、,，;；\s]+", row.get("tags", "")) if t]
        return member
