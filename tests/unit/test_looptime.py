"""The loop statistics count a callback by the CPU time it took, and name the coroutine that took it."""

from __future__ import annotations

import asyncio
import gc
import time

from server.core.looptime import SLOW_SECONDS, LoopStats


async def burns_the_cpu() -> None:
    started = time.thread_time()
    while time.thread_time() - started < SLOW_SECONDS * 1.5:  # CPU time, however busy the machine is
        pass


async def waits_without_working() -> None:
    await asyncio.sleep(0)  # yields; costs next to no CPU whatever the wall clock says


async def test_a_callback_over_the_limit_is_counted_and_named(monkeypatch) -> None:
    monkeypatch.setattr(asyncio.events.Handle, "_run", asyncio.events.Handle._run)  # restored after the test
    gc.disable()  # a collection in the middle of a callback would count against it
    try:
        stats = LoopStats()
        stats.install()
        await check(stats)
    finally:
        gc.enable()


async def check(stats: LoopStats) -> None:
    await asyncio.gather(waits_without_working(), waits_without_working())
    assert stats.callbacks > 0
    assert sum(stats.slow.values()) == 0
    await asyncio.create_task(burns_the_cpu())
    assert stats.slow == {"burns_the_cpu": 1}
    spent, name = stats.longest
    assert name == "burns_the_cpu"
    assert spent > SLOW_SECONDS
    assert "over 50 ms CPU: 1, longest" in stats.report()
