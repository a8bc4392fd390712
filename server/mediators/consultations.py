"""Consultations (`consultations`): a mediator or the office asks an expert of the pool about a case.

The request names the question, the case's attachments the expert may see, and a deadline; it is recorded
on the case's timeline together with the notice that reaches the expert (SMS and in-app, through the
outbox like every case notice). The expert sees only the cases they were consulted on, with personal data
masked, and answers once with an opinion (text and files); the opinion joins the case's timeline and, if the
request named a session, that session's record. An unanswered request warns like any deadline: yellow at
the town's warning ratio of its time, red once it has passed (`scan`, a round of the warnings job).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.cases import policy
from server.cases.files import store_upload
from server.cases.model import Case, notice, timeline_event
from server.cases.repository import CaseRepository
from server.cases.routing import Routing
from server.cases.service import CaseService
from server.cases.warnings import LEVELS, level_of
from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from server.core.scope import in_org_scope, org_scope_filter
from server.mediators.profiles import Experts

if TYPE_CHECKING:
    from server.core.context import Context

CONSULTATIONS = "consultations"
indexes.declare(
    CONSULTATIONS,
    IndexModel([("expert_user_id", ASCENDING), ("created_at", DESCENDING)], name="expert_created"),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING)], name="scope_created"),
    IndexModel([("state", ASCENDING), ("deadline", ASCENDING)], name="state_deadline"),
    IndexModel([("case_id", ASCENDING), ("created_at", ASCENDING)], name="case_created"),
    IndexModel([("expert_id", ASCENDING), ("state", ASCENDING)], name="expert_state"),
)
CONSULTABLE_STATES = ("assigned", "in_mediation")
MAX_OPINION_FILES = 10
OPINION_TYPES = ("image/jpeg", "application/pdf")  # photos are re-encoded as JPEG


class ConsultationService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._consultations = ctx.db[CONSULTATIONS]
        self._cases = CaseRepository(ctx.db)

    async def request(
        self,
        principal: Principal,
        case_id: ObjectId,
        *,
        expert_id: ObjectId,
        question: str,
        attachment_ids: list[ObjectId],
        deadline: datetime,
        session_id: ObjectId | None,
    ) -> dict[str, Any]:
        case = await CaseService(self._ctx).get(principal, case_id)
        if not policy.may_handle_record(principal, case):
            raise Forbidden("只有承办人员和管理员可以请专家咨询", code="action_forbidden")
        if case["state"] not in CONSULTABLE_STATES:
            raise Conflict("只有办理中的案件可以请专家咨询", code="case_state_conflict")
        expert = await Experts(self._ctx).get(principal, expert_id, "consultation.request")
        if not (expert["town_id"] in (None, case["town_id"]) and expert["county_id"] in case["town_path"]):
            raise ValidationFailed(details=[{"field": "expert_id", "message": "须是本镇或本县专家库中的专家"}])
        if expert["status"] != "active" or not expert["available"] or not expert.get("user_id"):
            raise Conflict("该专家暂不接受咨询", code="expert_unavailable")
        errors = self._request_errors(case, attachment_ids, deadline, session_id)
        if errors:
            raise ValidationFailed(details=errors)
        now = self._ctx.clock.now()
        chosen = [a for a in case["attachments"] if a["id"] in set(attachment_ids)]
        consultation = {
            "_id": ObjectId(),
            "case_id": case["_id"],
            "number": case["number"],
            "town_id": case["town_id"],
            "org_path": case["org_path"],
            "expert_id": expert["_id"],
            "expert_user_id": expert["user_id"],
            "expert_name": expert["name"],
            "requested_by": ObjectId(principal.user_id),
            "question": question,
            "attachments": chosen,
            "session_id": session_id,
            "deadline": deadline,
            "state": "pending",
            "warning": None,
            "opinion": None,
            "opinion_files": [],
            "created_at": now,
        }
        await self._consultations.insert_one(consultation)
        event = timeline_event(
            consultation["requested_by"],
            "consultation_requested",
            case["state"],
            case["state"],
            f"{expert['name']}：{question}",
            now,
            public=False,
        )
        told = notice("consultation_requested", "expert", now, case, user_ids=[expert["user_id"]])
        await self._cases.note(case["_id"], {"$push": {"timeline": event, "notifications": told}})
        return consultation

    def _request_errors(
        self, case: Case, attachment_ids: list[ObjectId], deadline: datetime, session_id: ObjectId | None
    ) -> list[dict[str, str]]:
        errors = []
        if not set(attachment_ids) <= {a["id"] for a in case["attachments"]}:
            errors.append({"field": "attachment_ids", "message": "只能选择本案件的附件"})
        if deadline <= self._ctx.clock.now():
            errors.append({"field": "deadline", "message": "答复期限须晚于现在"})
        if session_id is not None and session_id not in {s["id"] for s in case["sessions"]}:
            errors.append({"field": "session_id", "message": "找不到该调解记录"})
        return errors

    async def counts(self, expert_ids: list[ObjectId]) -> dict[ObjectId, dict[str, int]]:
        """Each expert's pending and answered consultations."""
        counts: dict[ObjectId, dict[str, int]] = {e: {"pending": 0, "answered": 0} for e in expert_ids}
        async for item in self._consultations.find({"expert_id": {"$in": expert_ids}}, {"expert_id": 1, "state": 1}):
            counts[item["expert_id"]][item["state"]] += 1
        return counts

    async def search(
        self, principal: Principal, *, state: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """An expert's own requests; staff's in their scope."""
        if principal.has_role("expert"):
            query: dict[str, Any] = {"expert_user_id": ObjectId(principal.user_id)}
        else:
            query = org_scope_filter(principal, "consultation.view")
        if state:
            query["state"] = state
        total = await self._consultations.count_documents(query)
        cursor = self._consultations.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def get(self, principal: Principal, consultation_id: ObjectId) -> tuple[dict[str, Any], Case]:
        """A consultation and its case."""
        consultation = await self._find(principal, consultation_id)
        case = await self._cases.get(consultation["case_id"])
        if case is None:
            raise NotFound("找不到该咨询")
        return consultation, case

    async def _find(self, principal: Principal, consultation_id: ObjectId) -> dict[str, Any]:
        """A consultation, for its expert or for staff who see the case's area."""
        consultation: dict[str, Any] | None = await self._consultations.find_one({"_id": consultation_id})
        mine = consultation is not None and consultation["expert_user_id"] == ObjectId(principal.user_id)
        if consultation is None or not (mine or in_org_scope(principal, consultation["org_path"], "consultation.view")):
            raise NotFound("找不到该咨询")
        return consultation

    async def _own_pending(self, principal: Principal, consultation_id: ObjectId) -> dict[str, Any]:
        consultation = await self._find(principal, consultation_id)
        if consultation["expert_user_id"] != ObjectId(principal.user_id):
            raise Forbidden("只有被咨询的专家可以答复", code="action_forbidden")
        if consultation["state"] != "pending":
            raise Conflict("该咨询已答复", code="consultation_answered")
        return consultation

    async def add_file(self, principal: Principal, consultation_id: ObjectId, data: bytes) -> dict[str, Any]:
        """A file for the expert's opinion (checked and re-encoded like a case attachment), before answering."""
        consultation = await self._own_pending(principal, consultation_id)
        if len(consultation["opinion_files"]) >= MAX_OPINION_FILES:
            raise Conflict(f"最多上传 {MAX_OPINION_FILES} 个文件", code="too_many_files")
        folder, by = f"consultations/{consultation['_id']}", ObjectId(principal.user_id)
        item = await store_upload(self._ctx, folder, data, by, OPINION_TYPES, "专家意见附件请上传图片或 PDF")
        updated: dict[str, Any] | None = await self._consultations.find_one_and_update(
            {"_id": consultation["_id"], "state": "pending"},
            {"$push": {"opinion_files": item}},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise Conflict("该咨询已答复", code="consultation_answered")
        return updated

    async def read_file(self, principal: Principal, consultation_id: ObjectId, file_id: ObjectId) -> tuple[bytes, str]:
        """A file of the consultation: one of the case's attachments chosen for it, or one of the opinion's."""
        consultation = await self._find(principal, consultation_id)
        found = next(
            (f for f in [*consultation["attachments"], *consultation["opinion_files"]] if f["id"] == file_id), None
        )
        if found is None:
            raise NotFound("找不到该文件")
        data = await self._ctx.in_thread(self._ctx.storage.get, found["key"])
        return data, found["content_type"]

    async def answer(
        self, principal: Principal, consultation_id: ObjectId, text: str
    ) -> tuple[dict[str, Any], Case | None]:
        """The expert's one answer; the consultation answered and its case with the opinion on record."""
        consultation = await self._own_pending(principal, consultation_id)
        now = self._ctx.clock.now()
        opinion = {"text": text, "at": now}
        answered: dict[str, Any] | None = await self._consultations.find_one_and_update(
            {"_id": consultation["_id"], "state": "pending"},
            {"$set": {"state": "answered", "opinion": opinion, "warning": None}},
            return_document=ReturnDocument.AFTER,
        )
        if answered is None:
            raise Conflict("该咨询已答复", code="consultation_answered")
        case = await self._cases.get(consultation["case_id"])
        if case is not None:
            event = timeline_event(
                consultation["expert_user_id"],
                "expert_opinion",
                case["state"],
                case["state"],
                f"{consultation['expert_name']}：{text}",
                now,
                public=False,
            )
            told = notice("consultation_answered", "requester", now, case, user_ids=[consultation["requested_by"]])
            case = await self._cases.note(case["_id"], {"$push": {"timeline": event, "notifications": told}})
        if case is not None and consultation["session_id"] is not None:
            on_record = {
                "consultation_id": consultation["_id"],
                "expert": consultation["expert_name"],
                "text": text,
                "at": now,
            }
            await self._cases.note_on_session(case, consultation["session_id"], "opinions", on_record)
        return answered, case


async def scan(ctx: Context) -> int:
    """Raise the deadline warnings of unanswered consultations (a round of the warnings job); each level once,
    by a conditional update on the level the scan saw."""
    now, raised = ctx.clock.now(), 0
    consultations, cases, routing = ctx.db[CONSULTATIONS], CaseRepository(ctx.db), Routing(ctx)
    async for consultation in consultations.find({"state": "pending", "deadline": {"$ne": None}}):
        ratio = float((await routing.deadlines(consultation["town_id"])).get("warning_ratio", 0.8))
        level = level_of({"start": consultation["created_at"], "due": consultation["deadline"]}, now, ratio)
        current = consultation.get("warning")
        if LEVELS.index(level) <= LEVELS.index(current):
            continue
        result = await consultations.update_one(
            {"_id": consultation["_id"], "state": "pending", "warning": current}, {"$set": {"warning": level}}
        )
        if not result.modified_count:
            continue
        case = await cases.get(consultation["case_id"])
        if case is None:
            continue
        told = [
            notice(f"consultation_{level}", "expert", now, case, user_ids=[consultation["expert_user_id"]]),
            notice(f"consultation_{level}", "requester", now, case, user_ids=[consultation["requested_by"]]),
        ]
        await cases.note(case["_id"], {"$push": {"notifications": {"$each": told}}})
        raised += 1
    return raised
