"""How long the event loop's callbacks run, in CPU time: a diagnostic for `scripts/bench.py`.

`python -m server --loop-stats` times every callback the loop runs (each step of each request's coroutine
is one) with the thread's CPU clock, so time spent waiting for another thread is not counted, and logs at
shutdown how many took longer than `SLOW_SECONDS` and the longest, by coroutine. A callback that long stops
every other request for that time. Off by default: it wraps every callback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

log = logging.getLogger("sanyuan.loop")

SLOW_SECONDS = 0.050


class LoopStats:
    def __init__(self) -> None:
        self.callbacks = 0
        self.slow: Counter[str] = Counter()
        self.longest: tuple[float, str] = (0.0, "")

    def install(self) -> None:
        """Time every callback of every loop in this process from now on."""
        run = asyncio.events.Handle._run
        stats = self

        def timed(handle: asyncio.Handle) -> None:
            started = time.thread_time()
            run(handle)
            spent = time.thread_time() - started
            stats.callbacks += 1
            if spent > SLOW_SECONDS:
                name = _name(handle)
                stats.slow[name] += 1
                stats.longest = max(stats.longest, (spent, name))

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def report(self) -> str:
        spent, name = self.longest
        slow = ", ".join(f"{where} ×{n}" for where, n in self.slow.most_common(5))
        return f"loop callbacks: {self.callbacks}, over {SLOW_SECONDS * 1000:.0f} ms CPU: {sum(self.slow.values())}" + (
            f", longest {spent * 1000:.0f} ms in {name} ({slow})" if self.slow else ""
        )


def _name(handle: Any) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):
        return str(task.get_coro().__qualname__)  # type: ignore[union-attr]
    return str(getattr(callback, "__qualname__", callback))
