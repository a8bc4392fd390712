"""Index declarations, made beside the code that owns each collection, and ensured at start-up.

A module declares `indexes.declare("users", IndexModel(...))` at import; `ensure_all(db)` creates every
declared index. Creating an index that already exists with the same options is a no-op in MongoDB, so this
is idempotent and safe to run on every start.
"""

from __future__ import annotations

import importlib
import pkgutil

from pymongo import IndexModel

from server.core.db import Database

_DECLARED: dict[str, list[IndexModel]] = {}


def declare(collection: str, *models: IndexModel) -> None:
    known = {m.document["name"] for m in _DECLARED.get(collection, [])}
    _DECLARED.setdefault(collection, []).extend(m for m in models if m.document["name"] not in known)


def declared() -> dict[str, list[IndexModel]]:
    return {name: list(models) for name, models in _DECLARED.items()}


def load_all() -> None:
    """Import every module of the domain packages and `notify`, so that all declarations are made."""
    import notify
    import server

    for package in (server, notify):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not info.name.rsplit(".", 1)[-1].startswith("_") and info.name not in NOT_LOADED:
                importlib.import_module(info.name)


# Entry points and the assembly: importing them declares nothing.
NOT_LOADED = frozenset({"server.app", "notify.worker"})


async def ensure_all(db: Database) -> dict[str, list[str]]:
    load_all()
    created: dict[str, list[str]] = {}
    for collection, models in sorted(_DECLARED.items()):
        created[collection] = await db[collection].create_indexes(models)
    return created
