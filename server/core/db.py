"""Database handles: PyMongo's `AsyncMongoClient` for `mongodb://` URIs, the in-process emulation for `memory://`.

Application code is written once against PyMongo async; both kinds of handle answer it. Clients are
created inside the running event loop (a PyMongo async client belongs to one loop).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pymongo import AsyncMongoClient

from server.core.memdb import MemoryClient

Database = Any  # an AsyncDatabase or a MemoryDatabase: the same surface as far as the application goes


def is_memory(uri: str) -> bool:
    return uri.startswith("memory://")


def redact_uri(uri: str) -> str:
    """The URI with any password replaced, for logs and start-up messages."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = re.sub(r":[^:@]*@", ":***@", parts.netloc, count=1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect(uri: str, database: str) -> tuple[Any, Database]:
    """Create a client and return it with the named database; call from inside the running loop."""
    if is_memory(uri):
        client: Any = MemoryClient()
    else:
        options: dict[str, Any] = {"tz_aware": True, "appname": "sanyuan"}
        if "serverselectiontimeoutms" not in uri.lower():
            options["serverSelectionTimeoutMS"] = 5000  # fail a request within seconds, not PyMongo's 30
        client = AsyncMongoClient(uri, **options)
    return client, client[database]


async def ping(db: Database) -> bool:
    try:
        result = await db.command("ping")
    except Exception:  # noqa: BLE001 - any failure means "not reachable" for the health check
        return False
    return bool(result.get("ok"))
