"""What handlers and services share for the life of the process, built once at start-up."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from notify.base import Senders
from server.core.audit import AuditLog, Tip
from server.core.auth import TokenService
from server.core.cache import Caches
from server.core.clock import Clock
from server.core.config import Config
from server.core.crypto import FieldCipher
from server.core.db import Database
from server.core.outage import OutageWatch
from server.core.storage import LocalStorage, Storage
from server.core.wechat import WechatClient
from server.core.workers import heavy_pool

T = TypeVar("T")


@dataclass
class Context:
    config: Config
    client: Any
    db: Database
    senders: Senders
    clock: Clock = field(default_factory=Clock)
    inflight: int = 0
    outage: OutageWatch = field(default_factory=OutageWatch)
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Memory-hungry work in threads (checking an upload: decoding an image, parsing a PDF), at most this many
    # at once, so that ten large uploads arriving together cannot exhaust the server's memory.
    heavy_work: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))
    _process_pool: ProcessPoolExecutor | None = None
    _audit_tip: Tip = field(default_factory=Tip)

    def __post_init__(self) -> None:
        keyring = self.config.crypto.keyring
        self.cipher = FieldCipher(keyring, next(iter(keyring)), self.config.crypto.hash_key_bytes)
        self.tokens = TokenService(self.config.auth)
        self.caches = Caches(self.db, self.config.mongodb.cache_check_seconds, lambda: self.clock.now().timestamp())
        # One client per process, so its access-token renewal is single-flight.
        self.wechat = WechatClient(self.config.wechat, self.db, self.cipher, self.clock.now)
        self.idle.set()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.town.timezone)

    # Core facilities are cheap to build, so they are made per use and hold no state of their own (the audit
    # log's head is the process's, kept here). Domain
    # services are built the same way, by their owners: `CaseService(ctx)`.
    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.db, self._audit_tip)

    @property
    def storage(self) -> Storage:
        return LocalStorage(self.config.plates.storage_dir)

    async def heavy(self, work: Callable[..., T], *args: Any) -> T:
        """CPU-heavy work (checking an upload, rendering a document) in a worker process, at most
        `heavy_work` at once (the rest wait on the loop, not in the pool's queue)."""
        async with self.heavy_work:
            return await asyncio.get_running_loop().run_in_executor(heavy_pool(), work, *args)

    async def in_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Blocking I/O (the file store) in a thread, off the loop."""
        return await asyncio.get_running_loop().run_in_executor(None, work, *args)

    def process_pool(self) -> ProcessPoolExecutor:
        """One worker process for CPU-heavy rendering (plates), started on first use; spawned, not forked,
        because a database client must not cross a fork."""
        if self._process_pool is None:
            self._process_pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        return self._process_pool

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self._process_pool is not None:
            self._process_pool.shutdown(wait=True, cancel_futures=True)
        for sender in (self.senders.sms, self.senders.wechat):
            close = getattr(sender, "close", None)
            if close is not None:
                close()
        await self.client.close()

    def request_started(self) -> None:
        self.inflight += 1
        self.idle.clear()

    def request_finished(self) -> None:
        self.inflight = max(0, self.inflight - 1)
        if self.inflight == 0:
            self.idle.set()
