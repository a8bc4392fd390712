"""Worker processes for short CPU-heavy work: checking and re-encoding an upload, rendering a document.

Threads would hold the GIL against the event loop while Pillow, pypdf or ReportLab compute; these run in
other processes. One pool serves the whole process (every context in it), started on first use with two
workers (one a core), spawned rather than forked because a database client must not cross a fork.
Callers bound how many jobs they send at once (`ctx.heavy_work`), so the pool's queue stays short and
memory bounded. Plate jobs, which run for minutes, have their own pool (`Context.process_pool`).
"""

from __future__ import annotations

import atexit
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

WORKERS = 2
_pool: ProcessPoolExecutor | None = None


def heavy_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool
