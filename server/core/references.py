"""Which collections point at an org unit: declared by each collection's owner, checked before a unit goes.

The org tree must not lose a unit that households or people still hang on, yet it should not name their
collections. So each owner declares `refers_to_org("households", "org_path")` beside its indexes, and the
tree asks `org_in_use(db, org_id)`.
"""

from __future__ import annotations

from bson import ObjectId

from server.core import indexes
from server.core.db import Database

_ORG_REFERENCES: dict[str, str] = {}


def refers_to_org(collection: str, field: str) -> None:
    _ORG_REFERENCES[collection] = field


async def org_in_use(db: Database, org_id: ObjectId) -> bool:
    indexes.load_all()  # every owner has declared its references
    for collection, field in sorted(_ORG_REFERENCES.items()):
        if await db[collection].count_documents({field: org_id}, limit=1):
            return True
    return False
