"""Case attachments and the court's list import."""

from __future__ import annotations

from handlers.base import api
from handlers.cases import _CaseHandler
from schemas.cases import ImportCasesReport
from server.cases.court_import import CourtImport
from server.cases.files import CaseFiles
from server.core.ids import parse_id
from server.core.tables import UPLOAD_HINT, UPLOAD_TYPES


class AttachmentsHandler(_CaseHandler):
    body_limit = 20 * 1024 * 1024

    @api(
        "上传附件（图片、录音、PDF）",
        upload=[
            "image/jpeg",
            "image/png",
            "image/webp",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "application/pdf",
            "multipart/form-data",
        ],
        status=201,
        tags=["cases"],
        description="按文件内容判断类型；图片会重新编码（去除 EXIF 与定位信息）并缩小。当事人本人或承办人员可上传。"
        "可直接以文件为请求体，也可用 multipart/form-data（小程序 wx.uploadFile）上传一个文件。",
    )
    async def post(self, case_id: str) -> None:
        case = await CaseFiles(self.ctx).attach(self.caller, parse_id(case_id, "案件"), self.file_body())
        self.write_json(await self.view(case), status=201)


class AttachmentHandler(_CaseHandler):
    @api(
        "下载附件（与案件相同的访问规则）",
        media=["image/jpeg", "audio/amr", "audio/mpeg", "audio/mp4", "application/pdf"],
        tags=["cases"],
    )
    async def get(self, case_id: str, attachment_id: str) -> None:
        data, content_type = await CaseFiles(self.ctx).read(
            self.caller, parse_id(case_id, "案件"), parse_id(attachment_id, "附件")
        )
        # Photos were re-encoded by us and may open in place; recordings and PDFs are saved, never rendered.
        extension = {"image/jpeg": "jpg", "audio/amr": "amr", "audio/mpeg": "mp3", "audio/mp4": "m4a"}
        filename = f"附件-{attachment_id}.{extension.get(content_type, 'pdf')}"
        self.write_bytes(data, content_type, filename, inline=content_type == "image/jpeg")


class CourtImportHandler(_CaseHandler):
    body_limit = 10 * 1024 * 1024

    @api(
        "诉调对接：批量导入诉前调解案件（CSV 或 XLSX）",
        upload=list(UPLOAD_TYPES),
        response=ImportCasesReport,
        tags=["cases"],
        description="列：案号、收案日期、纠纷类别、申请人、申请人电话、被申请人、被申请人电话、村（社区）、案情。"
        "逐行报告：新建、重复（案号已登记）或出错（行号与字段）。",
    )
    async def post(self) -> None:
        data, content_type = self.read_upload(UPLOAD_TYPES, UPLOAD_HINT)
        report = await CourtImport(self.ctx).run(self.caller, data, content_type)
        self.write_json(ImportCasesReport(**report))


default_handlers = [
    (r"/api/cases/import/court", CourtImportHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/attachments", AttachmentsHandler),
    (r"/api/cases/(?P<case_id>[0-9a-f]{24})/attachments/(?P<attachment_id>[^/]+)", AttachmentHandler),
]
