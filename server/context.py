"""What handlers and services share for the life of the process, built once at start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notify.base import Senders
from server.audit import AuditLog
from server.auth import TokenService
from server.clock import Clock
from server.config import Config
from server.crypto import FieldCipher
from server.db import Database
from server.orgs import OrgService
from server.sessions import SessionService
from server.users import UserService
from server.wechat import WechatClient


@dataclass
class Context:
    config: Config
    client: Any
    db: Database
    senders: Senders
    clock: Clock = field(default_factory=Clock)
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        keyring = self.config.crypto.keyring
        self.cipher = FieldCipher(keyring, next(iter(keyring)), self.config.crypto.hash_key_bytes)
        self.tokens = TokenService(self.config.auth, self.clock.now)
        # One client per process, so its access-token renewal is single-flight.
        self.wechat = WechatClient(self.config.wechat, self.db, self.cipher, self.clock.now)
        self.started_at = self.clock.now()
        self.idle.set()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.town.timezone)

    # Core services are cheap to build, so they are made per use and hold no state of their own.
    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.db)

    @property
    def users(self) -> UserService:
        return UserService(self.db, self.cipher)

    @property
    def orgs(self) -> OrgService:
        return OrgService(self.db)

    @property
    def sessions(self) -> SessionService:
        ttl = timedelta(days=self.config.auth.refresh_ttl_days)
        return SessionService(self.db, self.tokens, self.audit, self.clock.now, ttl)

    def request_started(self) -> None:
        self.inflight += 1
        self.idle.clear()

    def request_finished(self) -> None:
        self.inflight = max(0, self.inflight - 1)
        if self.inflight == 0:
            self.idle.set()
