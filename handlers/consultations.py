"""Expert consultations: requested on a case by its handlers, answered by the expert (server/mediators/)."""

from __future__ import annotations

from handlers.base import BaseHandler, api, requires
from schemas.base import Page
from schemas.mediators import AnswerIn, ConsultationIn, ConsultationOut, ConsultationQuery, consultation_to_json
from server.core.ids import parse_id
from server.mediators.consultations import ConsultationService

OPINION_FILES = ["image/jpeg", "image/png", "image/webp", "application/pdf", "multipart/form-data"]


class RequestHandler(BaseHandler):
    body_limit = 64 * 1024

    @requires("consultation.request")
    @api(
        "请专家咨询（问题、给专家看的附件、答复期限）",
        request=ConsultationIn,
        response=ConsultationOut,
        status=201,
        tags=["consultations"],
        description="承办人员或管理员发起；专家收到短信和站内消息，只能看到被咨询的案件（个人信息脱敏）。",
    )
    async def post(self, case_id: str) -> None:
        body = self.read_json(ConsultationIn)
        consultation = await ConsultationService(self.ctx).request(
            self.caller,
            parse_id(case_id, "案件"),
            expert_id=parse_id(body.expert_id, "专家"),
            question=body.question,
            attachment_ids=[parse_id(a, "附件") for a in body.attachment_ids],
            deadline=body.deadline,
            session_id=parse_id(body.session_id, "调解记录") if body.session_id else None,
        )
        self.write_json(consultation_to_json(consultation), status=201)


class ConsultationsHandler(BaseHandler):
    @requires("consultation.list")
    @api(
        "咨询列表（专家：咨询我的；工作人员：管辖范围内的）",
        query=ConsultationQuery,
        response=Page[ConsultationOut],
        tags=["consultations"],
    )
    async def get(self) -> None:
        query = self.read_query(ConsultationQuery)
        found, total = await ConsultationService(self.ctx).search(
            self.caller, state=query.state, skip=query.skip, limit=query.page_size
        )
        self.write_page([consultation_to_json(c) for c in found], total, query)


class ConsultationHandler(BaseHandler):
    @requires("consultation.list")
    @api("咨询详情（含脱敏的案情）", response=ConsultationOut, tags=["consultations"])
    async def get(self, consultation_id: str) -> None:
        consultation, case = await ConsultationService(self.ctx).get(self.caller, parse_id(consultation_id, "咨询"))
        self.write_json(consultation_to_json(consultation, case))


class AnswerHandler(BaseHandler):
    @requires("consultation.answer")
    @api(
        "专家答复（意见记入案件时间线和所关联的调解记录）",
        request=AnswerIn,
        response=ConsultationOut,
        tags=["consultations"],
    )
    async def post(self, consultation_id: str) -> None:
        body = self.read_json(AnswerIn)
        consultation, case = await ConsultationService(self.ctx).answer(
            self.caller, parse_id(consultation_id, "咨询"), body.text
        )
        self.write_json(consultation_to_json(consultation, case))


class FilesHandler(BaseHandler):
    body_limit = 20 * 1024 * 1024

    @requires("consultation.answer")
    @api(
        "专家上传意见附件（图片、PDF；答复前）",
        upload=OPINION_FILES,
        response=ConsultationOut,
        status=201,
        tags=["consultations"],
    )
    async def post(self, consultation_id: str) -> None:
        consultation = await ConsultationService(self.ctx).add_file(
            self.caller, parse_id(consultation_id, "咨询"), self.file_body()
        )
        self.write_json(consultation_to_json(consultation), status=201)


class FileHandler(BaseHandler):
    @requires("consultation.list")
    @api(
        "下载咨询的附件（所选案件附件或专家意见附件）", media=["image/jpeg", "application/pdf"], tags=["consultations"]
    )
    async def get(self, consultation_id: str, file_id: str) -> None:
        data, content_type = await ConsultationService(self.ctx).read_file(
            self.caller, parse_id(consultation_id, "咨询"), parse_id(file_id, "附件")
        )
        extension = "jpg" if content_type == "image/jpeg" else "pdf"
        self.write_bytes(data, content_type, f"咨询附件-{file_id}.{extension}", inline=content_type == "image/jpeg")


default_handlers = [
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/consultations", RequestHandler),
    (r"/api/consultations", ConsultationsHandler),
    (r"/api/consultations/(?P<consultation_id>[0-9a-f]{24})", ConsultationHandler),
    (r"/api/consultations/(?P<consultation_id>[0-9a-f]{24})/answer", AnswerHandler),
    (r"/api/consultations/(?P<consultation_id>[0-9a-f]{24})/files", FilesHandler),
    (r"/api/consultations/(?P<consultation_id>[0-9a-f]{24})/files/(?P<file_id>[^/]+)", FileHandler),
]
