"""The API document's phone pattern and the server's phone check give the same answer for every input; numbers in
free text are masked whatever surrounds them."""

from __future__ import annotations

import random
import re

from server.core.pii import PHONE_PATTERN, InvalidPhone, _masked_in_text, mask_numbers_in_text, normalize_phone

PIECES = ["1", "3", "8", "9", "0", "2", "5", " ", "-", "+", "86", "0086", "+86", "\u3000", "\t", "１", "x", "12"]


def accepted(raw: str) -> bool:
    try:
        normalize_phone(raw)
    except InvalidPhone:
        return False
    return True


def variants(rng: random.Random) -> list[str]:
    """Valid numbers dressed as people type them, then broken in small ways, then random pieces."""
    out = []
    for _ in range(3000):
        digits = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
        prefix = rng.choice(["", "+86", "0086", "+86 ", "00 86", "+ 8 6-"])
        spaced = "".join(c + rng.choice(["", "", "", " ", "-", "\u3000"]) for c in digits)
        out.append(prefix + spaced)
        broken = list(prefix + spaced)
        position = rng.randrange(len(broken))
        broken[position] = rng.choice(["", "0", "x", "１", "+", "12"])
        out.append("".join(broken))
        out.append("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 14))))
    return out


def test_the_documented_pattern_accepts_exactly_what_the_server_accepts() -> None:
    rng = random.Random(20261129)  # noqa: S311 - a repeatable corpus, not a secret
    samples = [
        *variants(rng),
        "13812345678",
        "+8613812345678",
        "138 1234 5678",
        "１３８１２３４５６７８",
        "12812345678",
    ]
    pattern = re.compile(PHONE_PATTERN)
    disagreements = [s for s in samples if bool(pattern.fullmatch(s)) != accepted(s)]
    assert not disagreements, disagreements[:10]
    assert sum(map(accepted, samples)) > 2500  # the corpus exercises both answers
    assert not accepted("１３８１２３４５６７８")  # full-width digits are not taken for ASCII ones


def test_numbers_in_free_text_are_masked_whatever_surrounds_them() -> None:
    """The quick test for a run of eleven digits never lets a phone or an ID number through: the masking
    equals both patterns applied to every text (`_masked_in_text`), over texts made of digits, X, separators
    and words."""
    rng = random.Random(20261130)  # noqa: S311 - a repeatable corpus, not a secret
    pieces = ["1", "3", "8", "0", "9", "X", "x", " ", "-", "电话", "身份证", "１", "13812345678", "110101199003071234"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(5000)]
    texts += ["邻居电话13812345678", "身份证110101199003071234", "号码1381234567", "１３８１２３４５６７８"]
    assert [mask_numbers_in_text(t) for t in texts] == [_masked_in_text(t) for t in texts]
    assert sum(mask_numbers_in_text(t) != t for t in texts) > 1000  # the corpus masks, and leaves alone
    assert mask_numbers_in_text("邻居电话13812345678") != "邻居电话13812345678"
