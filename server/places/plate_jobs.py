"""Printing plates for a whole micro-grid, grid or village: gather, then render in a worker process.

Rendering thousands of plates takes seconds of CPU, so it runs in the context's worker process (never on
the event loop) as a background job whose progress the worker reports page by page.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.core.auth import Principal
from server.core.errors import Conflict
from server.core.jobs import JobService
from server.orgs.tree import OrgService
from server.people.users import UserService
from server.places.households import HouseholdService
from server.places.plates import Plate, plate_url, render_with_progress_file

if TYPE_CHECKING:
    from server.core.context import Context

PRINTABLE_KINDS = ("village", "grid", "micro_grid")
PLATE_FILES = "plates"  # the storage folder for generated sheets


class PlatePrinting:
    """Plates for a whole unit: gathered here, rendered in the worker process as a background job."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def gather(self, org_id: ObjectId) -> list[Plate]:
        """One plate per household under `org_id`, with the village name and the grid worker(s) of its grid."""
        households = await HouseholdService(self._ctx).under([org_id], ("address", "org_path", "qr_token"))
        unit_ids = list({oid for h in households for oid in h["org_path"]})
        units = await OrgService(self._ctx).by_ids(unit_ids)
        workers: dict[ObjectId, list[str]] = {}
        for user in await UserService(self._ctx).active_with_role_at(("grid_worker",), unit_ids):
            for grant in user["grants"]:
                if grant["role"] == "grid_worker" and grant["org_id"] in units:
                    workers.setdefault(grant["org_id"], []).append(user["name"])
        town = self._ctx.config.town
        plates = []
        for household in households:
            path_units = [units[o] for o in household["org_path"] if o in units]
            village = next((u["name"] for u in path_units if u["kind"] == "village"), "")
            names = [n for o in household["org_path"] for n in workers.get(o, [])]
            plates.append(
                Plate(
                    url=plate_url(self._ctx.config.plates.url_prefix, household["qr_token"]),
                    address=household["address"],
                    village=village,
                    grid_worker="、".join(dict.fromkeys(names)),
                    hotline=town.hotline,
                    town=town.name,
                )
            )
        return plates

    async def start(self, principal: Principal, org_id: ObjectId) -> dict[str, Any]:
        unit = await OrgService(self._ctx).get_in_scope(principal, org_id, "plate.print")
        if unit["kind"] not in PRINTABLE_KINDS:
            raise Conflict("只能为村、网格或微网格打印门牌", code="plate_unit_kind")
        plates = await self.gather(org_id)
        jobs = JobService(self._ctx)
        job = await jobs.create(
            kind="plates", owner=principal, org_path=unit["path"], total=len(plates), params={"org_id": str(org_id)}
        )
        target = Path(self._ctx.config.plates.storage_dir) / PLATE_FILES / f"{job['_id']}.pdf"
        jobs.start(job["_id"], _render(self._ctx, jobs, job["_id"], plates, target, unit["name"]))
        return job


async def _render(
    ctx: Context, jobs: JobService, job_id: ObjectId, plates: list[Plate], target: Path, name: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as scratch:
        progress_file = str(Path(scratch) / "progress")
        future = loop.run_in_executor(ctx.process_pool(), render_with_progress_file, plates, str(target), progress_file)
        try:
            while not future.done():
                await asyncio.wait([future], timeout=0.5)
                done = await loop.run_in_executor(None, _read_progress, progress_file)
                if done is not None:
                    await jobs.progress(job_id, done)
        except asyncio.CancelledError:  # shutting down: the worker is stopped with the pool
            future.cancel()
            raise
        size = await future
    key = f"{PLATE_FILES}/{target.name}"  # where ctx.storage finds it
    return {"key": key, "size": size, "plates": len(plates), "filename": f"{name}门牌二维码.pdf"}


def _read_progress(path: str) -> int | None:
    try:
        return int(Path(path).read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return None  # not written yet
