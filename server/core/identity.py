"""A person's phone and ID number at rest: sealed, with a keyed hash beside each for exact lookup.

Every collection that holds them (users, household members, case parties) stores the same four fields,
`phone_enc`/`phone_hash` and `id_enc`/`id_hash`, written and read only through these two functions.
"""

from __future__ import annotations

from typing import Any

from server.core.crypto import FieldCipher
from server.core.pii import normalize_id_number, normalize_phone


def seal(cipher: FieldCipher, *, phone: str | None = None, id_number: str | None = None) -> dict[str, str]:
    """The stored fields for a phone and/or ID number; raises InvalidPhone or InvalidIdNumber."""
    fields: dict[str, str] = {}
    if phone:
        phone = normalize_phone(phone)
        fields["phone_enc"] = cipher.encrypt(phone, "phone")
        fields["phone_hash"] = cipher.lookup_hash(phone, "phone")
    if id_number:
        id_number = normalize_id_number(id_number)
        fields["id_enc"] = cipher.encrypt(id_number, "id_number")
        fields["id_hash"] = cipher.lookup_hash(id_number, "id_number")
    return fields


def unseal(cipher: FieldCipher, doc: dict[str, Any]) -> tuple[str | None, str | None]:
    """The phone and ID number in clear, where the document has them."""
    phone = cipher.decrypt(doc["phone_enc"], "phone") if doc.get("phone_enc") else None
    id_number = cipher.decrypt(doc["id_enc"], "id_number") if doc.get("id_enc") else None
    return phone, id_number
