"""Households (`households`): a micro-grid's homes, their members, tags and QR plate token.

Members' phones and ID numbers are sealed with the field cipher, with a keyed hash beside each for lookup.
The plate token is random and opaque: it names the household without carrying anything about it.
"""

from __future__ import annotations

import secrets
from typing import Any

from pymongo import ASCENDING, IndexModel

from server import indexes
from server.crypto import FieldCipher
from server.pii import normalize_id_number, normalize_phone

COLLECTION = "households"

indexes.declare(
    COLLECTION,
    IndexModel([("qr_token", ASCENDING)], name="qr_token", unique=True),
    IndexModel([("org_path", ASCENDING)], name="org_path"),
    IndexModel([("members.phone_hash", ASCENDING)], name="member_phone"),
    IndexModel([("members.id_hash", ASCENDING)], name="member_id_number"),
)


def new_qr_token() -> str:
    """16 random bytes, URL-safe: short enough for a small QR symbol, far too many to guess."""
    return secrets.token_urlsafe(16)


def member_doc(
    cipher: FieldCipher,
    *,
    name: str,
    relation: str,
    phone: str | None = None,
    id_number: str | None = None,
) -> dict[str, Any]:
    member: dict[str, Any] = {"name": name, "relation": relation}
    if phone:
        phone = normalize_phone(phone)
        member["phone_enc"] = cipher.encrypt(phone, "phone")
        member["phone_hash"] = cipher.lookup_hash(phone, "phone")
    if id_number:
        id_number = normalize_id_number(id_number)
        member["id_enc"] = cipher.encrypt(id_number, "id_number")
        member["id_hash"] = cipher.lookup_hash(id_number, "id_number")
    return member
