"""Background jobs (`jobs`): long work such as printing plates, with progress a client can poll.

A job belongs to the person who started it and to an org unit; its owner and the admins over that unit
may read it. The work runs as a task of the process that accepted it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Conflict, NotFound
from server.core.scope import in_org_scope

if TYPE_CHECKING:
    from server.core.context import Context

log = logging.getLogger("sanyuan.jobs")

COLLECTION = "jobs"
STALL_AFTER = timedelta(minutes=5)  # a running job reports progress at least this often

indexes.declare(
    COLLECTION,
    IndexModel([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="owner_created"),
)


class JobService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._jobs = ctx.db[COLLECTION]

    async def create(
        self, *, kind: str, owner: Principal, org_path: list[ObjectId], total: int, params: dict[str, Any]
    ) -> dict[str, Any]:
        job = {
            "_id": ObjectId(),
            "kind": kind,
            "status": "queued",
            "owner_id": ObjectId(owner.user_id),
            "org_path": org_path,
            "params": params,
            "done": 0,
            "total": total,
            "result": None,
            "error": None,
            "created_at": self._ctx.clock.now(),
            "updated_at": self._ctx.clock.now(),
            "finished_at": None,
        }
        await self._jobs.insert_one(job)
        return job

    def start(self, job_id: ObjectId, work: Awaitable[dict[str, Any]]) -> None:
        """Run `work` in the background; its result (or its failure) is recorded on the job."""

        async def run() -> None:
            now = self._ctx.clock.now()
            await self._jobs.update_one({"_id": job_id}, {"$set": {"status": "running", "updated_at": now}})
            try:
                result = await work
            except Exception:
                log.exception("job %s failed", job_id)
                await self._finish(job_id, "failed", error="任务执行失败，请重试或联系管理员")
            else:
                await self._finish(job_id, "done", result=result)

        task = asyncio.get_running_loop().create_task(run())
        self._ctx.background.add(task)
        task.add_done_callback(self._ctx.background.discard)

    async def progress(self, job_id: ObjectId, done: int) -> None:
        now = self._ctx.clock.now()
        await self._jobs.update_one({"_id": job_id}, {"$set": {"done": done, "updated_at": now}})

    async def _finish(
        self, job_id: ObjectId, status: str, *, result: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        now = self._ctx.clock.now()
        changes: dict[str, Any] = {
            "status": status,
            "result": result,
            "error": error,
            "finished_at": now,
            "updated_at": now,
        }
        if status == "done":
            job = await self._jobs.find_one({"_id": job_id}, {"total": 1})
            changes["done"] = job["total"] if job else 0
        await self._jobs.update_one({"_id": job_id}, {"$set": changes})

    async def result_file(self, principal: Principal, job_id: ObjectId) -> tuple[bytes, str, str]:
        """The finished job's file, the name to give it and its type (a PDF unless the job says otherwise)."""
        job = await self.get(principal, job_id)
        if job["status"] != "done":
            raise Conflict("任务尚未完成", code="job_not_done")
        loop = asyncio.get_running_loop()
        data = await loop.run_in_executor(None, self._ctx.storage.get, job["result"]["key"])
        return data, job["result"]["filename"], job["result"].get("content_type", "application/pdf")

    async def get(self, principal: Principal, job_id: ObjectId) -> dict[str, Any]:
        job = await self._jobs.find_one({"_id": job_id})
        if job is None or (
            str(job["owner_id"]) != principal.user_id and not in_org_scope(principal, job["org_path"], "job.view")
        ):
            raise NotFound("找不到该任务")
        if job["status"] in ("queued", "running") and job["updated_at"] < self._ctx.clock.now() - STALL_AFTER:
            # The process running it stopped (a restart, a crash): it will not finish.
            job |= {"status": "failed", "error": "任务已中断（服务重启），请重新发起"}
        return job
