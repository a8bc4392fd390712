"""Field encryption for personal data at rest.

Values are sealed with AES-256-GCM under a key picked by key id, so keys can rotate: new writes use the
active key, old ciphertexts name the key they need. The field name is bound in as associated data, so a
ciphertext moved into another field does not decrypt. A keyed hash (HMAC-SHA256) beside each value allows
exact-match lookup without storing the value in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value could not be decrypted: unknown key id or tampered data."""


class FieldCipher:
    def __init__(self, keys: dict[str, bytes], active_kid: str, hash_key: bytes) -> None:
        if active_kid not in keys:
            raise ValueError(f"active key id {active_kid!r} is not among the keys")
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active_kid = active_kid
        self._hash_key = hash_key

    def encrypt(self, value: str, field: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[self._active_kid].encrypt(nonce, value.encode(), field.encode())
        return f"{self._active_kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, field: str) -> str:
        kid, _, payload = stored.partition(":")
        aead = self._aeads.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown key id {kid!r}")
        raw = base64.urlsafe_b64decode(payload)
        try:
            return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], field.encode()).decode()
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not authenticate") from exc

    def lookup_hash(self, value: str, field: str) -> str:
        """Deterministic keyed hash of a normalised value, for unique indexes and exact lookup."""
        message = field.encode() + b"\0" + value.encode()
        return hmac.new(self._hash_key, message, hashlib.sha256).hexdigest()
