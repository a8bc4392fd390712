"""A resident closes their account (个人信息保护法 删除权): what is not needed for an open case or kept by law is
erased or anonymised at once, and the answer says what was kept and why (the README says the same).

- Erased: the account's name, phone, WeChat identity, preferences and second factor; drafts never submitted;
  their in-app messages; messages not yet sent to them; every signed-in session.
- Anonymised: their finished cases not closed by agreement (closed otherwise, or not accepted): the applicant's
  name becomes 已注销用户, their phone, ID number, address, birth date and sex go, numbers typed into the
  description are masked, files they uploaded are deleted, and the case no longer points at the account.
  The figures (how many cases, which outcome, which village) stay.
- Kept as they are: cases still being handled (the dispute is not over: the people handling it need them, and
  they end up closed like any other), and cases closed by a 人民调解协议 (a legal record that the parties and
  the committee keep, as the law on people's mediation asks). The household register, which is the town's
  record, is corrected through a correction request, not by closing an account. The consents they gave stay,
  as the record that they were given; the audit log keeps its records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from notify.inbox import InboxService
from notify.outbox import cancel_for
from server.cases.repository import CaseRepository
from server.core.auth import Principal
from server.core.errors import Forbidden
from server.core.pii import mask_numbers_in_text
from server.core.vocabulary import OPEN_STATES
from server.people.sessions import SessionService, is_staff_account
from server.people.users import CLOSED_NAME, UserService

if TYPE_CHECKING:
    from server.core.context import Context

IDENTIFYING = ("phone_enc", "phone_hash", "id_enc", "id_hash", "address", "birth_date", "sex")


class AccountClosure:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def close(self, principal: Principal) -> dict[str, Any]:
        ctx, user_id = self._ctx, ObjectId(principal.user_id)
        users = UserService(ctx)
        user = await users.get(user_id)
        if is_staff_account(user):
            raise Forbidden("工作人员账号由管理员停用，不能自行注销", code="staff_account")
        cases = CaseRepository(ctx.db)
        drafts, anonymised, open_cases, agreements = 0, [], [], []
        for case in await cases.of_resident(user_id):
            if case["state"] == "draft":
                drafts += await cases.delete_draft(case["_id"])
            elif case["state"] in OPEN_STATES:
                open_cases.append(case["number"])
            elif (case.get("outcome") or {}).get("type") == "agreement":
                agreements.append(case["number"])
            else:
                await cases.anonymise(case["_id"], await self._anonymised(case, user_id))
                anonymised.append(case["number"])
        messages = await InboxService(ctx).delete_for(user_id)
        unsent = await cancel_for(ctx, user_id)
        await SessionService(ctx).revoke_all(user_id, reason="account_closed")
        now = ctx.clock.now()
        await users.close(user_id, now)
        summary = {
            "drafts_deleted": drafts,
            "cases_anonymised": anonymised,
            "cases_kept_open": open_cases,
            "cases_kept_agreement": agreements,
            "messages_deleted": messages,
            "messages_cancelled": unsent,
        }
        await ctx.audit.record_for(principal, "user.closed", "user", user_id, now, summary)
        return summary

    async def _anonymised(self, case: dict[str, Any], user_id: ObjectId) -> dict[str, Any]:
        parties, description = [], mask_numbers_in_text(case["description"])
        for party in case["parties"]:
            if party["role"] == "applicant":
                if len(party.get("name") or "") >= 2:
                    description = description.replace(party["name"], "某某")
                party = {k: v for k, v in party.items() if k not in IDENTIFYING} | {"name": CLOSED_NAME}
            parties.append(party)
        kept: list[dict[str, Any]] = []
        gone: list[dict[str, Any]] = []
        for attachment in case.get("attachments") or []:
            (gone if attachment.get("by") == user_id else kept).append(attachment)
        for attachment in gone:
            await self._ctx.in_thread(self._ctx.storage.delete, attachment["key"])
        return {
            "parties": parties,
            "description": description,
            "attachments": kept,
            "resident_id": None,
            "anonymised_at": self._ctx.clock.now(),
        }
