"""Deadline warnings (预警): yellow at 80 % of a deadline's time, red once it has passed.

A periodic job scans open cases. Only one process runs a scan at a time, whichever holds the lease (an
atomic find-and-modify on `leases`); the others skip that round. Raising a warning is a conditional update
on the level the case had, so a warning is raised exactly once even if two scans overlap. A new warning
records notifications for the unit and the office; a red conclusion deadline at village tier marks the
case as a candidate for escalation (上报).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from server.cases.model import notice, timeline_event
from server.cases.repository import CaseRepository
from server.cases.risk import RiskService
from server.cases.routing import Routing
from server.core import indexes
from server.core.outage import DATABASE_DOWN

if TYPE_CHECKING:
    from server.core.context import Context

log = logging.getLogger("sanyuan.warnings")

LEASES = "leases"
LEVELS = (None, "yellow", "red")
indexes.declare(LEASES)


async def acquire_lease(ctx: Context, name: str, holder: str, ttl: timedelta) -> bool:
    """Hold the lease `name` for `ttl` unless another holder has it."""
    now = ctx.clock.now()
    try:
        await ctx.db[LEASES].find_one_and_update(
            {"_id": name, "$or": [{"until": {"$lt": now}}, {"holder": holder}]},
            {"$set": {"holder": holder, "until": now + ttl}},
            upsert=True,
        )
    except DuplicateKeyError:
        return False  # someone else holds it
    return True


def level_of(deadline: dict[str, Any], now: datetime, ratio: float) -> str | None:
    start, due = deadline["start"], deadline["due"]
    if now > due:
        return "red"
    if now >= start + (due - start) * ratio:
        return "yellow"
    return None


async def scan(ctx: Context) -> int:
    """Raise every warning that is due; return how many were raised (one round of `WarningsJob`)."""
    now = ctx.clock.now()
    routing = Routing(ctx)  # reads each town's deadline settings once per round
    cases = CaseRepository(ctx.db)
    raised = 0
    async for case in cases.with_running_deadlines():
        ratio = float((await routing.deadlines(case.get("town_id"))).get("warning_ratio", 0.8))
        for name, deadline in case["deadlines"].items():
            level = level_of(deadline, now, ratio)
            current = case["warnings"].get(name)
            if LEVELS.index(level) <= LEVELS.index(current):
                continue
            changes: dict[str, Any] = {f"warnings.{name}": level}
            if level == "red" and name == "conclude" and case.get("tier") == "village":
                changes["escalation_suggested"] = True
            event = timeline_event(None, f"warning_{level}", None, None, name, now, public=False)
            notices = [
                notice(f"warning_{level}", audience, now, case, deadline=name) for audience in ("unit", "office")
            ]
            push = {"timeline": event, "notifications": {"$each": notices}}
            moved = await cases.raise_warning(case["_id"], name, current, changes, push)
            raised += moved
            fresh = await cases.get(case["_id"]) if moved and level == "red" else None
            if fresh is not None:  # overdue counts in the risk score
                await RiskService(ctx).reassess(fresh, None)
    return raised


Scan = Callable[["Context"], Awaitable[int]]


class WarningsJob:
    """Every deadline scan, one round at a time: the cases' own (`scan`) and any the assembly adds (an
    expert's consultation, `server.mediators.consultations.scan`)."""

    def __init__(self, ctx: Context, interval: float, scans: tuple[Scan, ...] = (scan,)) -> None:
        self._ctx = ctx
        self._interval = interval
        self._scans = scans
        self._holder = f"{socket.gethostname()}:{os.getpid()}"

    async def run_once(self) -> int | None:
        """One round: None if another process holds the lease."""
        if not await acquire_lease(self._ctx, "warnings", self._holder, timedelta(seconds=self._interval * 2)):
            return None
        return sum([await each(self._ctx) for each in self._scans])

    async def run_forever(self) -> None:
        while True:
            try:
                raised = await self.run_once()
                if raised:
                    log.info("raised %d deadline warning(s)", raised)
            except DATABASE_DOWN as exc:
                self._ctx.outage.failed(exc, "the warnings scan")  # logged once per outage
            except Exception:
                log.exception("warnings scan failed; will retry")
            else:
                self._ctx.outage.ok()
            await asyncio.sleep(self._interval)
