"""Files that belong to a case: uploaded attachments and the printable agreement.

Checking and cleaning an upload and rendering a PDF cost far more than a request: they run in worker
processes (`server/core/workers.py`), at most two at once; storage is file I/O, in a thread. Reading a
file follows the same access rules as reading its case.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.cases import policy
from server.cases.agreement_pdf import AgreementSheet, PartyLine, render_agreement
from server.cases.attachments import clean, file_record
from server.cases.model import Case
from server.cases.names import CaseNames
from server.cases.service import CaseService
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, UnsupportedMediaType
from server.core.identity import unseal
from server.core.pii import mask_address, mask_id_number, mask_phone
from server.core.vocabulary import SEX_LABELS
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context


async def store_upload(
    ctx: Context, folder: str, data: bytes, by: ObjectId, allowed: tuple[str, ...] = (), refused: str = ""
) -> dict[str, Any]:
    """Check and clean an uploaded file (in a worker process), keep it under `folder`, and return its record
    (`file_record`): a case attachment, an expert's opinion file. `allowed` narrows the cleaned types."""
    if not data:
        raise UnsupportedMediaType("请上传文件内容")
    kind, content_type, cleaned = await ctx.heavy(clean, data)
    if allowed and content_type not in allowed:
        raise UnsupportedMediaType(refused)
    record = file_record(folder, kind, content_type, cleaned, by, ctx.clock.now())
    await ctx.in_thread(ctx.storage.put, record["key"], cleaned)
    return record


class CaseFiles:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._cases = CaseService(ctx)

    async def attach(self, principal: Principal, case_id: ObjectId, data: bytes) -> dict[str, Any]:
        case = await self._cases.get(principal, case_id)
        if not self._cases.can_attach(principal, case):
            raise Forbidden("案件已办结或您不能为该案件上传材料", code="attach_forbidden")
        attachment = await store_upload(self._ctx, f"cases/{case['_id']}", data, ObjectId(principal.user_id))
        return await self._cases.add_attachment(principal, case, attachment)

    async def read(self, principal: Principal, case_id: ObjectId, attachment_id: ObjectId) -> tuple[bytes, str]:
        case = await self._cases.get(principal, case_id)
        attachment = next((a for a in case.get("attachments", []) if a["id"] == attachment_id), None)
        if attachment is None:
            raise NotFound("找不到该附件")
        return await self._ctx.in_thread(self._ctx.storage.get, attachment["key"]), attachment["content_type"]

    async def agreement_pdf(self, principal: Principal, case_id: ObjectId) -> tuple[bytes, str]:
        """The 人民调解协议书 and a file name for it: the original with full numbers for the people handling the
        case (audited as a reveal), a masked copy for anyone else who may read the case."""
        case = await self._cases.get(principal, case_id)
        if (case.get("outcome") or {}).get("type") != "agreement":
            raise Conflict("该案件没有调解协议", code="no_agreement")
        original = policy.may_handle_record(principal, case)
        if original:
            await self._cases.reveal_parties(principal, case, "出具调解协议书原件")
        names = await CaseNames(self._ctx).of([case])
        sheet = AgreementSheet(
            number=case["number"],
            committee=await self._committee(case),
            parties=[self._party_line(case, name, original) for name in case["outcome"]["agreement"]["parties"]],
            facts=case["outcome"]["agreement"].get("facts") or case["description"],
            terms=case["outcome"]["agreement"]["terms"],
            performance_deadline=case["outcome"]["agreement"]["performance_deadline"],
            performance_method=case["outcome"]["agreement"].get("performance_method") or "",
            mediators=[name for m in case.get("mediator_ids", []) if (name := names.person(m)[0])],
            signed_on=case["outcome"]["at"].astimezone(self._ctx.tz).date(),
            original=original,
        )
        pdf = await self._ctx.heavy(render_agreement, sheet)
        return pdf, f"人民调解协议书-{case['number']}{'' if original else '-副本'}.pdf"

    async def _committee(self, case: Case) -> str:
        """The 人民调解委员会 that issues the agreement: a county committee is one; a village room's is its
        village's committee; a mediation center's is its town's (or county's)."""
        orgs = OrgService(self._ctx)
        unit = await orgs.find(case["assigned_org_id"]) if case.get("assigned_org_id") else None
        if unit is None:
            return f"{self._ctx.config.town.name}人民调解委员会"
        if unit["kind"] == "committee":
            return str(unit["name"])
        if unit["kind"] in ("mediation_room", "center") and unit.get("parent_id"):
            unit = await orgs.find(unit["parent_id"]) or unit
        return f"{unit['name']}人民调解委员会"

    def _party_line(self, case: Case, name: str, original: bool) -> PartyLine:
        """A party named in the agreement, with what the case records of them; blanks for what it does not."""
        party = next((p for p in case["parties"] if p["name"] == name), None)
        if party is None:
            return PartyLine(name=name)
        phone, id_number = unseal(self._ctx.cipher, party)
        if not original:
            phone = mask_phone(phone) if phone else None
            id_number = mask_id_number(id_number) if id_number else None
        address = party.get("address")
        return PartyLine(
            name=name,
            sex=SEX_LABELS[party["sex"]] if party.get("sex") else None,
            born=date.fromisoformat(party["birth_date"]) if party.get("birth_date") else None,
            id_number=id_number,
            address=address if original or not address else mask_address(address),
            phone=phone,
        )
