"""Database outages: which driver errors mean "the database cannot be reached now", and one log line when an
outage starts and one when it ends, however many requests and job rounds fail in between."""

from __future__ import annotations

import logging
import time

from pymongo.errors import ConnectionFailure, ExecutionTimeout

log = logging.getLogger("sanyuan.database")

# Connection refused or reset, no server selectable, a network or operation timeout, a primary stepping down.
DATABASE_DOWN: tuple[type[BaseException], ...] = (ConnectionFailure, ExecutionTimeout)


class DatabaseUnreachable(Exception):
    """The database could not be reached at start-up; the message says which and what to check."""

    def __init__(self, where: str, cause: BaseException) -> None:
        super().__init__(
            f"无法连接数据库 {where}：请检查配置 mongodb.uri、网络，以及 MongoDB 是否已启动。"
            f" / Cannot reach the database at {where}: check mongodb.uri, the network and that MongoDB is running."
            f" ({type(cause).__name__})"
        )


class OutageWatch:
    """Per process: `failed()` on every failure caused by an outage, `ok()` after work that reached the
    database. Logs the transitions only."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException, where: str) -> None:
        self.failures += 1
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.warning(
                "database unreachable (first seen in %s: %s); answering 503 until it is back",
                where,
                type(error).__name__,
            )

    def ok(self) -> None:
        if self.down_since is not None:
            log.warning(
                "database reachable again after %.0fs (%d operation(s) failed meanwhile)",
                time.monotonic() - self.down_since,
                self.failures,
            )
            self.down_since, self.failures = None, 0
