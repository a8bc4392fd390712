"""Personal data at rest: authenticated encryption with key ids, keyed lookup hashes, masking, validation."""

from __future__ import annotations

import pytest

from server.core.crypto import DecryptionError, FieldCipher
from server.core.pii import mask_address, mask_id_number, mask_phone, normalize_id_number, normalize_phone

KEY_A, KEY_B, HASH_KEY = b"a" * 32, b"b" * 32, b"h" * 32


def test_round_trip_and_no_clear_text() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a", HASH_KEY)
    sealed = cipher.encrypt("13812345678", "phone")
    assert sealed.startswith("a:")
    assert "13812345678" not in sealed
    assert cipher.decrypt(sealed, "phone") == "13812345678"
    assert cipher.encrypt("13812345678", "phone") != sealed  # a fresh nonce each time


def test_ciphertext_is_bound_to_its_field_and_tamper_evident() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a", HASH_KEY)
    sealed = cipher.encrypt("13812345678", "phone")
    with pytest.raises(DecryptionError):
        cipher.decrypt(sealed, "id_number")
    kid, payload = sealed.split(":")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(DecryptionError):
        cipher.decrypt(f"{kid}:{flipped}", "phone")


def test_key_rotation_opens_old_values_and_seals_with_the_new_key() -> None:
    old = FieldCipher({"a": KEY_A}, "a", HASH_KEY)
    sealed_old = old.encrypt("110101199003071234", "id_number")
    rotated = FieldCipher({"b": KEY_B, "a": KEY_A}, "b", HASH_KEY)
    assert rotated.decrypt(sealed_old, "id_number") == "110101199003071234"
    assert rotated.encrypt("x", "id_number").startswith("b:")
    with pytest.raises(DecryptionError):
        FieldCipher({"b": KEY_B}, "b", HASH_KEY).decrypt(sealed_old, "id_number")


def test_lookup_hash_is_keyed_deterministic_and_per_field() -> None:
    cipher = FieldCipher({"a": KEY_A}, "a", HASH_KEY)
    assert cipher.lookup_hash("13812345678", "phone") == cipher.lookup_hash("13812345678", "phone")
    assert cipher.lookup_hash("13812345678", "phone") != cipher.lookup_hash("13812345678", "id_number")
    other = FieldCipher({"a": KEY_A}, "a", b"g" * 32)
    assert other.lookup_hash("13812345678", "phone") != cipher.lookup_hash("13812345678", "phone")


@pytest.mark.parametrize(("raw", "phone"), [("138 1234 5678", "13812345678"), ("+8613812345678", "13812345678")])
def test_phone_normalisation(raw: str, phone: str) -> None:
    assert normalize_phone(raw) == phone


@pytest.mark.parametrize("raw", ["12812345678", "1381234567", "abc", "23812345678"])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="手机号"):
        normalize_phone(raw)


def test_id_number_check_digit() -> None:
    assert normalize_id_number("11010519491231002x") == "11010519491231002X"
    with pytest.raises(ValueError, match="身份证"):
        normalize_id_number("110105194912310021")


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id_number("11010519491231002X") == "110***********002X"


def test_address_mask_keeps_the_place_and_hides_the_house() -> None:
    assert mask_address("示范镇东风村3组27号", "东风村") == "示范镇东风村*组*号"
    assert mask_address("示范镇清河社区幸福路12号2单元301室", "清河社区") == "示范镇清河社区幸福路*号*单元*室"
    assert mask_address("某地123号") == "某地*号"
