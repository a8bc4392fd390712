"""Partner systems: the county 12345 hotline, the 综治网格化信息系统, a police or court system, a third-party app,
each handing disputes over and following them through the Open311 door (`/open311/v2/`, handlers/open311.py).

An admin registers a partner for one or more towns with what it may do, and receives its `api_key` once.
Only a keyed hash of the key is stored (`FieldCipher.lookup_hash`), so the database cannot give a key back;
a key is revoked or replaced at once. A partner may name a webhook URL to be told of its requests' status
changes (notify/webhook.py): the messages are signed with a secret derived from the key (HMAC-SHA256 of
`webhook` under the key), which the partner computes itself and we keep sealed like a phone number.
Every registration, key and revocation is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument

from server.core import indexes
from server.core.auth import Principal
from server.core.errors import Forbidden, NotFound, ValidationFailed
from server.core.ratelimit import RateLimiter
from server.core.scope import granted_orgs
from server.orgs.tree import OrgService

if TYPE_CHECKING:
    from server.core.context import Context

COLLECTION = "partners"

indexes.declare(
    COLLECTION,
    IndexModel([("key_hash", ASCENDING)], name="key_hash", unique=True),
    IndexModel([("org_path", ASCENDING), ("created_at", DESCENDING)], name="scope_created"),
)

ABILITIES = ("submit", "read_own", "read_public")
KEY_PREFIX = "sy311_"
WEBHOOK_SECRET_FIELD = "webhook_secret"  # noqa: S105 - the name of a sealed field, not a secret


def webhook_secret(api_key: str) -> str:
    """The secret a partner's webhook messages are signed with: derived from its key, so it can compute it."""
    return hmac.new(api_key.encode(), b"webhook", hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature of one webhook message: HMAC-SHA256 of `timestamp.body` under the secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class PartnerService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._partners = ctx.db[COLLECTION]

    # ---- what admins do ---------------------------------------------------------------------------
    async def register(self, principal: Principal, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """A new partner and its api_key (the only time the key is seen)."""
        towns = await self._towns(principal, data["town_ids"])
        now = self._ctx.clock.now()
        key = self._new_key()
        partner = {
            "_id": ObjectId(),
            "name": data["name"].strip(),
            "kind": data["kind"],
            "town_ids": [t["_id"] for t in towns],
            "org_path": sorted({o for t in towns for o in t["path"]}),
            "abilities": sorted(set(data["abilities"]), key=ABILITIES.index),
            "contact": (data.get("contact") or "").strip(),
            "webhook_url": self._checked_url(data.get("webhook_url")),
            **self._key_fields(key),
            "created_by": ObjectId(principal.user_id),
            "created_at": now,
            "revoked_at": None,
            "revoked_by": None,
        }
        await self._partners.insert_one(partner)
        await self._ctx.audit.record_for(
            principal,
            "partner.register",
            "partner",
            partner["_id"],
            now,
            {"name": partner["name"], "kind": partner["kind"], "abilities": partner["abilities"]},
        )
        return partner, key

    async def search(self, principal: Principal, *, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        query = {"org_path": {"$in": granted_orgs(principal, "partner.manage")}}
        found = await self._partners.find(query).sort("created_at", DESCENDING).skip(skip).limit(limit).to_list(None)
        return found, await self._partners.count_documents(query)

    async def get(self, principal: Principal, partner_id: ObjectId) -> dict[str, Any]:
        partner = await self._partners.find_one({"_id": partner_id})
        if partner is None or set(granted_orgs(principal, "partner.manage")).isdisjoint(partner["org_path"]):
            raise NotFound("找不到该对接系统")
        return partner

    async def update(self, principal: Principal, partner_id: ObjectId, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a partner's name, contact, abilities, webhook or towns (a revoked one stays revoked)."""
        partner = await self._manageable(principal, partner_id)
        update: dict[str, Any] = {}
        for name in ("name", "contact"):
            if changes.get(name) is not None:
                update[name] = changes[name].strip()
        if changes.get("abilities") is not None:
            update["abilities"] = sorted(set(changes["abilities"]), key=ABILITIES.index)
        if "webhook_url" in changes:
            update["webhook_url"] = self._checked_url(changes["webhook_url"])
        if changes.get("town_ids") is not None:
            towns = await self._towns(principal, changes["town_ids"])
            update["town_ids"] = [t["_id"] for t in towns]
            update["org_path"] = sorted({o for t in towns for o in t["path"]})
        if not update:
            return partner
        now = self._ctx.clock.now()
        updated = await self._partners.find_one_and_update(
            {"_id": partner_id}, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        audited = {
            k: [str(v) for v in value] if k in ("town_ids", "org_path") else value for k, value in update.items()
        }
        await self._ctx.audit.record_for(principal, "partner.update", "partner", partner_id, now, audited)
        return updated or partner

    async def new_key(self, principal: Principal, partner_id: ObjectId) -> tuple[dict[str, Any], str]:
        """Replace the partner's key: the old one stops working at once (and so does its webhook secret)."""
        partner = await self._manageable(principal, partner_id)
        if partner["revoked_at"] is not None:
            raise ValidationFailed(details=[{"field": "partner_id", "message": "该对接系统已停用，不能再发放密钥"}])
        key = self._new_key()
        updated = await self._partners.find_one_and_update(
            {"_id": partner_id}, {"$set": self._key_fields(key)}, return_document=ReturnDocument.AFTER
        )
        await self._ctx.audit.record_for(principal, "partner.new_key", "partner", partner_id, self._ctx.clock.now())
        return updated or partner, key

    async def revoke(self, principal: Principal, partner_id: ObjectId, reason: str) -> dict[str, Any]:
        """Stop the partner: its key is refused from now on; its cases stay, as every case does."""
        partner = await self._manageable(principal, partner_id)
        if partner["revoked_at"] is not None:
            return partner
        now = self._ctx.clock.now()
        updated = await self._partners.find_one_and_update(
            {"_id": partner_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "revoked_by": ObjectId(principal.user_id), "revoke_reason": reason}},
            return_document=ReturnDocument.AFTER,
        )
        await self._ctx.audit.record_for(principal, "partner.revoke", "partner", partner_id, now, {"reason": reason})
        return updated or await self.get(principal, partner_id)

    # ---- what the Open311 door asks ---------------------------------------------------------------
    async def by_key(self, api_key: str) -> dict[str, Any] | None:
        """The active partner holding `api_key`, or None (unknown, replaced or revoked)."""
        if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 100:
            return None
        partner = await self._partners.find_one({"key_hash": self._ctx.cipher.lookup_hash(api_key, "api_key")})
        if partner is None or partner["revoked_at"] is not None:
            return None
        return partner

    async def find(self, partner_id: ObjectId) -> dict[str, Any] | None:
        return await self._partners.find_one({"_id": partner_id})

    async def count_call(self, caller: str) -> None:
        """One more call to the Open311 door by `caller` (a partner's id, or `ip:<address>` for a caller without
        a key); over `open311.requests_per_minute` it is a TooManyRequests."""
        limit = self._ctx.config.open311.requests_per_minute
        await RateLimiter(self._ctx.db).hit(
            f"open311:{caller}",
            [(limit, timedelta(minutes=1))],
            self._ctx.clock.now(),
            "请求过于频繁，请 {seconds} 秒后再试",
        )

    def signing_secret(self, partner: dict[str, Any]) -> str:
        return self._ctx.cipher.decrypt(partner["webhook_secret_enc"], WEBHOOK_SECRET_FIELD)

    # ---- helpers ----------------------------------------------------------------------------------
    async def _manageable(self, principal: Principal, partner_id: ObjectId) -> dict[str, Any]:
        """A partner the caller may change: every one of its towns is in the caller's scope."""
        partner = await self.get(principal, partner_id)
        units = await OrgService(self._ctx).by_ids(partner["town_ids"])
        roots = set(granted_orgs(principal, "partner.manage"))
        if any(roots.isdisjoint(unit["path"]) for unit in units.values()):
            raise Forbidden("该对接系统还服务其他乡镇，请由县级管理员操作", code="partner_shared")
        return partner

    async def _towns(self, principal: Principal, town_ids: list[str]) -> list[dict[str, Any]]:
        orgs = OrgService(self._ctx)
        roots = set(granted_orgs(principal, "partner.manage"))
        towns = []
        for index, raw in enumerate(dict.fromkeys(town_ids)):
            unit = await orgs.find(ObjectId(raw)) if ObjectId.is_valid(raw) else None
            if unit is None or unit["kind"] != "town" or roots.isdisjoint(unit["path"]):
                raise ValidationFailed(
                    details=[{"field": f"town_ids.{index}", "message": "找不到该乡镇或不在您的管理范围"}]
                )
            towns.append(unit)
        return towns

    def _checked_url(self, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        schemes = ("https", "http") if self._ctx.config.open311.webhook_allow_http else ("https",)
        if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
            message = "请填写 https 地址（不含用户名和密码）"
            raise ValidationFailed(details=[{"field": "webhook_url", "message": message}])
        return url

    def _key_fields(self, key: str) -> dict[str, Any]:
        cipher = self._ctx.cipher
        return {
            "key_hash": cipher.lookup_hash(key, "api_key"),
            "key_hint": key[-4:],
            "key_issued_at": self._ctx.clock.now(),
            "webhook_secret_enc": cipher.encrypt(webhook_secret(key), WEBHOOK_SECRET_FIELD),
        }

    @staticmethod
    def _new_key() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)
