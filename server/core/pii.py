"""Personal data helpers: normalising, validating and masking phones and ID numbers.

Masked forms are what anyone who does not need the full value sees (DOMAIN.md, privacy).
"""

from __future__ import annotations

import re
from datetime import date

from server.core.errors import ValidationFailed

_PHONE = re.compile(r"^1[3-9][0-9]{9}$")  # ASCII digits only: `\d` would take full-width ones too
_ID_NUMBER = re.compile(r"^[0-9]{17}[0-9X]$")
# What `normalize_phone` accepts, as one regular expression for the API document (spaces and hyphens
# anywhere, an optional +86 or 0086); tests/unit/test_pii.py holds the two to the same answers.
PHONE_PATTERN = r"^[\s-]*(?:(?:\+|0[\s-]*0)[\s-]*8[\s-]*6[\s-]*)?1[\s-]*[3-9](?:[\s-]*[0-9]){9}[\s-]*$"
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class InvalidPhone(ValueError):
    field = "phone"


class InvalidIdNumber(ValueError):
    field = "id_number"


def normalize_phone(raw: str) -> str:
    """Return a mainland mobile number as 11 digits, or raise InvalidPhone."""
    phone = re.sub(r"[\s-]", "", raw)
    for prefix in ("+86", "0086"):
        if phone.startswith(prefix):
            phone = phone[len(prefix) :]
    if not _PHONE.match(phone):
        raise InvalidPhone("手机号格式不正确")
    return phone


def phone_input(raw: str, field: str = "phone") -> str:
    """A phone from a request, normalised; a bad one is a validation error naming `field`."""
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        raise ValidationFailed(details=[{"field": field, "message": str(exc)}]) from exc


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(raw: str) -> str:
    """Return an 18-character resident ID number with a valid check digit, or raise InvalidIdNumber."""
    value = raw.strip().upper()
    if not _ID_NUMBER.match(value) or id_check_digit(value[:17]) != value[17]:
        raise InvalidIdNumber("身份证号码不正确")
    return value


def birth_date_and_sex(id_number: str) -> tuple[date, str] | None:
    """What a valid 18-digit ID number says of its holder: birth date (digits 7-14) and sex (the 17th digit, odd
    for men); None when the date in it is not a real date."""
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None
    return born, "male" if int(id_number[16]) % 2 else "female"


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def mask_id_number(id_number: str) -> str:
    return f"{id_number[:3]}{'*' * (len(id_number) - 7)}{id_number[-4:]}" if len(id_number) > 7 else "****"


def mask_name(name: str) -> str:
    """A person's name for someone who needs the matter, not the person: the surname kept (张**)."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


_PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![\dXx])\d{17}[\dXx](?![\dXx])")


_ELEVEN_DIGITS = re.compile(r"\d{11}")  # in every phone and every ID number


def mask_numbers_in_text(text: str) -> str:
    """Phones and ID numbers typed into free text (a description, a note), masked as the fields are."""
    if not _ELEVEN_DIGITS.search(text):  # most texts: one scan, and the text as it is (a list masks 20 per page)
        return text
    return _masked_in_text(text)


def _masked_in_text(text: str) -> str:
    """Every ID number, then every phone, in `text` masked (`mask_numbers_in_text` without its quick test)."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group()), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text)


def mask_address(address: str, place: str = "") -> str:
    """Keep the place (up to the village or community name) and hide the house: each number becomes `*`."""
    cut = address.find(place) + len(place) if place and place in address else len(address) // 3
    return address[:cut] + re.sub(r"\d+", "*", address[cut:])
