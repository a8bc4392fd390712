"""Printable plates as a background job, and job status and downloads."""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler, api, requires
from schemas.visits import JobOut, PlatesIn
from server.core.ids import parse_id
from server.core.jobs import JobService
from server.core.tables import XLSX_TYPE
from server.places.plate_jobs import PlatePrinting


def job_to_json(job: dict[str, Any]) -> JobOut:
    done = job["status"] == "done"
    return JobOut(
        id=str(job["_id"]),
        kind=job["kind"],
        status=job["status"],
        done=job["done"],
        total=job["total"],
        error=job.get("error"),
        download_url=f"/api/jobs/{job['_id']}/file" if done else None,
        created_at=job["created_at"],
        finished_at=job.get("finished_at"),
    )


class PlatesHandler(BaseHandler):
    @requires("plate.print")
    @api(
        "生成门牌打印文件（A4，每页 12 张）",
        request=PlatesIn,
        response=JobOut,
        status=202,
        tags=["households"],
        description="为一个村、网格或微网格生成 PDF；后台执行，用 GET /api/jobs/{id} 查看进度并下载。",
    )
    async def post(self) -> None:
        body = self.read_json(PlatesIn)
        job = await PlatePrinting(self.ctx).start(self.caller, parse_id(body.org_id, "组织单元"))
        self.write_json(job_to_json(job), status=202)


class JobHandler(BaseHandler):
    @api("后台任务进度", response=JobOut, tags=["jobs"])
    async def get(self, job_id: str) -> None:
        job = await JobService(self.ctx).get(self.caller, parse_id(job_id, "任务"))
        self.write_json(job_to_json(job))


class JobFileHandler(BaseHandler):
    @api("下载任务结果文件（门牌 PDF、考核报表 XLSX）", media=["application/pdf", XLSX_TYPE], tags=["jobs"])
    async def get(self, job_id: str) -> None:
        data, filename, content_type = await JobService(self.ctx).result_file(self.caller, parse_id(job_id, "任务"))
        await self.write_export(data, content_type, filename, what=("job", parse_id(job_id, "任务")))


default_handlers = [
    (r"/api/plates", PlatesHandler),
    (r"/api/jobs/(?P<job_id>[^/]+)", JobHandler),
    (r"/api/jobs/(?P<job_id>[^/]+)/file", JobFileHandler),
]
