"""The organisation tree (`org_units`): county → town (with its centers) → village → grid → micro-grid.

Each unit stores `path`, its ancestors' ids and its own, root first. Anything scoped to a unit copies that
path as `org_path`, so "is this inside the caller's scope" is one indexed `$in` query (see `server.core.scope`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from server.core import indexes
from server.core.auth import Principal
from server.core.context import Context
from server.core.errors import Conflict, NotFound, ValidationFailed
from server.core.references import org_in_use
from server.core.scope import org_scope_filter, require_org_scope

COLLECTION = "org_units"
UNIT_ATTRS = frozenset({"_id", "kind", "name", "code", "parent_id", "center_type", "committee_type"})

KINDS = {
    "county": "县",
    "town": "镇",
    "village": "村/社区",
    "grid": "网格",
    "micro_grid": "微网格",
    "center": "中心",
    "committee": "专业调解委员会",
    "mediation_room": "调解室",
}
CENTER_TYPES = {
    "office": "三源共治办公室",
    "police": "警源治理中心",
    "court": "诉调对接中心",
    "petition": "访调对接中心",
    "legal": "涉法涉诉对接中心",
    "mediation": "矛盾纠纷调解中心",
}
# Which kinds may hang under which parent kind.
_PARENT_KINDS = {
    "county": (None,),
    "town": ("county",),
    "committee": ("county",),
    "center": ("town", "county"),  # the county's own: its general mediation center (综治中心/县矛调中心)
    "village": ("town",),
    "mediation_room": ("village",),
    "grid": ("village",),
    "micro_grid": ("grid",),
}

indexes.declare(
    COLLECTION,
    IndexModel([("path", ASCENDING)], name="path"),
    IndexModel([("path", ASCENDING), ("depth", ASCENDING), ("name", ASCENDING)], name="path_depth_name"),
    IndexModel([("kind", ASCENDING), ("name", ASCENDING)], name="kind_name"),
    IndexModel([("parent_id", ASCENDING), ("name", ASCENDING)], name="parent_name", unique=True),
    IndexModel([("code", ASCENDING)], name="code", unique=True, sparse=True),
)


def _copy(unit: dict[str, Any]) -> dict[str, Any]:
    """A unit from the cached tree, safe to change: its values are immutable but for `path`, a list of ids."""
    return {key: list(value) if type(value) is list else value for key, value in unit.items()}


class OrgService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._db = ctx.db
        self._units = ctx.db[COLLECTION]

    async def visible(
        self, principal: Principal, *, parent_id: ObjectId | None, kind: str | None, skip: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """Units in the caller's scope, broadest first."""
        query: dict[str, Any] = org_scope_filter(principal, "org.view", field="path")
        if parent_id is not None:
            query["parent_id"] = parent_id
        if kind is not None:
            query["kind"] = kind
        total = await self._units.count_documents(query)
        cursor = self._units.find(query).sort([("depth", ASCENDING), ("name", ASCENDING)]).skip(skip).limit(limit)
        return await cursor.to_list(None), total

    async def get_in_scope(self, principal: Principal, org_id: ObjectId, capability: str) -> dict[str, Any]:
        unit = await self._units.find_one({"_id": org_id})
        if unit is None:
            raise NotFound("找不到该组织单元")
        require_org_scope(principal, unit["path"], capability, "组织单元")
        return unit

    async def subtree_ids(self, roots: list[ObjectId]) -> list[ObjectId]:
        units = await self._units.find({"path": {"$in": roots}}, {"_id": 1}).to_list(None)
        return [u["_id"] for u in units]

    async def add(self, principal: Principal, **fields: Any) -> dict[str, Any]:
        """An admin adds a unit under a parent inside their scope."""
        now = self._ctx.clock.now()
        parent_id = fields.pop("parent_id")
        if parent_id is None:
            raise ValidationFailed(details=[{"field": "parent_id", "message": "必填"}])
        await self.get_in_scope(principal, parent_id, "org.edit")
        return await self.create(parent_id=parent_id, now=now, **fields)

    async def update(self, principal: Principal, org_id: ObjectId, changes: dict[str, Any]) -> dict[str, Any]:
        now = self._ctx.clock.now()
        await self.get_in_scope(principal, org_id, "org.edit")
        try:
            unit = await self._units.find_one_and_update(
                {"_id": org_id}, {"$set": {**changes, "updated_at": now}}, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as exc:
            raise Conflict("同一上级下已有同名单元", code="org_name_taken") from exc
        await self._changed()
        return unit

    async def remove(self, principal: Principal, org_id: ObjectId) -> None:
        """Only an empty unit can go: no children, no households, nobody granted a role there."""
        unit = await self.get_in_scope(principal, org_id, "org.edit")
        if unit["parent_id"] is None:
            raise Conflict("不能删除最上级单元", code="org_is_root")
        in_use = await self._units.count_documents({"parent_id": org_id}, limit=1) or await org_in_use(self._db, org_id)
        if in_use:
            raise Conflict("该单元下还有下级、住户或人员，不能删除", code="org_not_empty")
        await self._units.delete_one({"_id": org_id})
        await self._changed()

    async def _tree(self) -> dict[ObjectId, dict[str, Any]]:
        """Every unit by id, from this process's cached copy (`server.core.cache`): read it, never change it."""

        async def load() -> dict[ObjectId, dict[str, Any]]:
            return {unit["_id"]: unit async for unit in self._units.find({})}

        tree: dict[ObjectId, dict[str, Any]] = await self._ctx.caches.get(COLLECTION, load)
        return tree

    async def _changed(self) -> None:
        await self._ctx.caches.changed(COLLECTION)

    async def find(self, org_id: ObjectId) -> dict[str, Any] | None:
        unit = (await self._tree()).get(org_id)
        return _copy(unit) if unit is not None else None

    async def find_unit(self, **attrs: Any) -> dict[str, Any] | None:
        """The first unit with all of `attrs` (kind, name, code, parent_id, center_type, committee_type…)."""
        unknown = set(attrs) - UNIT_ATTRS
        if unknown:
            raise TypeError(f"not a unit attribute: {sorted(unknown)}")
        tree = await self._tree()
        found = next((u for u in tree.values() if all(u.get(k) == v for k, v in attrs.items())), None)
        return _copy(found) if found is not None else None

    async def of_kind(self, kind: str, *, under: ObjectId | None = None) -> list[dict[str, Any]]:
        """Every unit of `kind`, or only those under `under`."""
        query: dict[str, Any] = {"kind": kind}
        if under is not None:
            query["path"] = under
        return await self._units.find(query).to_list(None)

    async def mediation_rooms(self, village_id: ObjectId) -> list[ObjectId]:
        tree = await self._tree()
        return [u["_id"] for u in tree.values() if u["parent_id"] == village_id and u["kind"] == "mediation_room"]

    async def names(self, kind: str, parent_id: ObjectId | None) -> list[dict[str, Any]]:
        """Units of `kind` (under `parent_id`, directly or not), id and name only: the public place list."""
        query: dict[str, Any] = {"kind": kind}
        if parent_id is not None:
            query["path"] = parent_id
        cursor = self._units.find(query, {"name": 1}).sort([("name", ASCENDING)])
        return await cursor.to_list(None)

    async def towns_of(self, org_ids: list[ObjectId]) -> dict[ObjectId, ObjectId]:
        """The town each unit belongs to (itself if it is one); county-level units have none. Two reads."""
        if not org_ids:
            return {}
        units = await self.by_ids(org_ids)
        on_paths = await self.by_ids(list({o for u in units.values() for o in u["path"]}))
        return {
            unit_id: town
            for unit_id, unit in units.items()
            if (town := next((o for o in unit["path"] if on_paths.get(o, {}).get("kind") == "town"), None))
        }

    async def set_population(self, org_id: ObjectId, population: int) -> None:
        await self._units.update_one({"_id": org_id}, {"$set": {"population": population}})
        await self._changed()

    async def get(self, org_id: ObjectId) -> dict[str, Any]:
        unit = await self.find(org_id)
        if unit is None:
            raise NotFound("找不到该组织单元")
        return unit

    async def home(self, principal: Principal, capability: str, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        """The caller's own unit of one of `kinds`: the nearest such unit at or above a unit where they hold
        `capability` (a village's room → the village, a town's center → the town, anyone → their county).
        None if there is none. What a request means when it names no unit."""
        tree = await self._tree()
        for org_id in principal.orgs_with(capability):
            unit = tree.get(ObjectId(org_id))
            for ancestor in reversed(unit["path"] if unit else []):
                if ancestor in tree and tree[ancestor]["kind"] in kinds:
                    return _copy(tree[ancestor])
        return None

    async def by_ids(self, org_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        tree = await self._tree()
        return {org_id: _copy(tree[org_id]) for org_id in dict.fromkeys(org_ids) if org_id in tree}

    async def names_by_id(self, org_ids: list[ObjectId]) -> dict[ObjectId, str]:
        """The units' names (a list's rows name their units: nothing else of them is copied)."""
        tree = await self._tree()
        return {org_id: tree[org_id]["name"] for org_id in org_ids if org_id in tree}

    async def create(
        self,
        *,
        name: str,
        kind: str,
        parent_id: ObjectId | None,
        now: datetime,
        _id: ObjectId | None = None,
        **attrs: Any,
    ) -> dict[str, Any]:
        if kind not in KINDS:
            raise ValidationFailed(details=[{"field": "kind", "message": "未知的组织类型"}])
        parent = await self.get(parent_id) if parent_id is not None else None
        if (parent["kind"] if parent else None) not in _PARENT_KINDS[kind]:
            raise Conflict(
                f"{KINDS[kind]}不能设在该上级之下",
                code="org_parent_kind",
                details=[{"field": "parent_id", "message": f"{KINDS[kind]}不能设在该上级之下"}],
            )
        if kind == "center" and attrs.get("center_type") not in CENTER_TYPES:
            raise ValidationFailed(details=[{"field": "center_type", "message": "未知的中心类型"}])
        if kind == "committee" and not attrs.get("committee_type"):
            raise ValidationFailed(details=[{"field": "committee_type", "message": "专业调解委员会须指定类别"}])
        org_id = _id or ObjectId()
        path = [*(parent["path"] if parent else []), org_id]
        unit = {
            "_id": org_id,
            "name": name,
            "kind": kind,
            "parent_id": parent_id,
            "path": path,
            "depth": len(path),
            "population": 0,
            "created_at": now,
            **{k: v for k, v in attrs.items() if v is not None},
        }
        try:
            await self._units.insert_one(unit)
        except DuplicateKeyError as exc:
            raise Conflict(f"“{name}”已存在于该上级之下", code="org_name_taken") from exc
        await self._changed()
        return unit

    async def import_tree(
        self, nodes: list[dict[str, Any]], parent_id: ObjectId | None, now: datetime
    ) -> dict[str, int]:
        """Create the units of a nested spec that do not exist yet (matched by parent and name); safe to rerun."""
        counts = {"created": 0, "existing": 0}
        for node in nodes:
            node = dict(node)
            children = node.pop("children", []) or []
            existing = await self._units.find_one({"parent_id": parent_id, "name": node["name"]})
            if existing is None:
                unit = await self.create(parent_id=parent_id, now=now, **node)
                counts["created"] += 1
            else:
                unit = existing
                counts["existing"] += 1
            below = await self.import_tree(children, unit["_id"], now)
            counts = {k: counts[k] + below[k] for k in counts}
        return counts
