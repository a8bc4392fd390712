"""一件事: which earlier cases look like the same dispute as this one, and why.

A candidate shares something with the case: a party's phone or ID number (by the keyed hash: nothing is
decrypted), the household, the respondent's name in the same village, or an address; and its category is the
same or a related one. Each shared thing scores, each with its reason in words; a candidate needs
`MIN_SCORE`. Candidates are the cases still open, whatever their age, and those registered within the
window (default 180 days, `prevention.link_window_days`). Reads are by the hash indexes and the village's
recent cases; the suggestions hold ids, numbers and reasons only, and whoever asks for them sees only the
cases they may see.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from server.cases.model import Case

MIN_SCORE = 4
MOST = 10
RELATED_CATEGORIES: dict[str, set[str]] = {
    "neighbour": {"land", "property", "environment"},
    "land": {"neighbour", "property", "family"},
    "family": {"debt", "land", "property"},
    "labour": {"debt"},
    "property": {"neighbour", "land", "family"},
    "traffic": {"medical"},
    "medical": {"traffic"},
    "consumer": {"debt"},
    "debt": {"family", "labour", "consumer"},
    "environment": {"neighbour"},
}
SHARED = {  # what a candidate shares: (points, reason)
    "phone": (5, "同一当事人电话"),
    "id": (5, "同一当事人身份证号"),
    "household": (4, "同一户"),
    "respondent": (3, "同村同一被申请人"),
    "address": (2, "同一地址"),
}
SAME_CATEGORY, RELATED_CATEGORY = (2, "同类纠纷"), (1, "相关类别")


def related(one: str | None, other: str | None) -> tuple[int, str] | None:
    """How two categories relate: the same, related ("other" relates to all), or not at all (None)."""
    if one == other:
        return SAME_CATEGORY
    if "other" in (one, other) or (other or "") in RELATED_CATEGORIES.get(one or "", set()):
        return RELATED_CATEGORY
    return None


def _names(case: Case, role: str) -> set[str]:
    return {p["name"].strip() for p in case.get("parties", []) if p.get("role") == role and p.get("name")}


def _addresses(case: Case) -> set[str]:
    return {re.sub(r"\s+", "", p["address"]) for p in case.get("parties", []) if p.get("address")}


def hashes(case: Case, field: str) -> set[str]:
    return {p[field] for p in case.get("parties", []) if p.get(field)}


@dataclass(frozen=True)
class Marks:
    """What a case can share with another (the keys of SHARED), read once from its parties."""

    phones: set[str]
    ids: set[str]
    household: ObjectId | None
    village: ObjectId | None
    respondents: set[str]
    addresses: set[str]

    @classmethod
    def of(cls, case: Case) -> Marks:
        return cls(
            hashes(case, "phone_hash"),
            hashes(case, "id_hash"),
            case.get("household_id"),
            case.get("village_id"),
            _names(case, "respondent"),
            _addresses(case),
        )

    def shared(self, other: Marks) -> list[str]:
        """What `other` shares with this case, as keys of SHARED."""
        found = []
        if self.phones & other.phones:
            found.append("phone")
        if self.ids & other.ids:
            found.append("id")
        if self.household and self.household == other.household:
            found.append("household")
        if self.village and self.village == other.village and self.respondents & other.respondents:
            found.append("respondent")
        if self.addresses & other.addresses:
            found.append("address")
        return found


def sharing(case: Case, candidates: list[Case]) -> dict[ObjectId, list[str]]:
    """What each candidate shares with `case` (by the candidate's id), each compared once."""
    mine = Marks.of(case)
    return {other["_id"]: mine.shared(Marks.of(other)) for other in candidates}


@dataclass(frozen=True)
class Suggestion:
    case_id: ObjectId
    number: str
    score: int
    reasons: list[str]

    def to_doc(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "number": self.number, "score": self.score, "reasons": self.reasons}


def rank(case: Case, candidates: list[Case], shares: dict[ObjectId, list[str]] | None = None) -> list[Suggestion]:
    """The candidates worth a look, best first (then the newest), at most MOST. `shares`: what `sharing`
    found, when the caller has it already."""
    shares = sharing(case, candidates) if shares is None else shares
    found = []
    for other in candidates:
        if other["_id"] == case.get("_id") or (
            case.get("dispute_id") and other.get("dispute_id") == case["dispute_id"]
        ):
            continue
        relation = related(case.get("category"), other.get("category"))
        shared = shares[other["_id"]]
        if relation is None or not shared:
            continue
        points = sum(SHARED[s][0] for s in shared) + relation[0]
        if points >= MIN_SCORE:
            reasons = [SHARED[s][1] for s in shared] + [relation[1]]
            found.append((points, other["created_at"], Suggestion(other["_id"], other["number"], points, reasons)))
    found.sort(key=lambda item: (-item[0], -item[1].timestamp()))
    return [s for _, _, s in found[:MOST]]


def same_complaint(text: str, other: str) -> bool:
    """Two descriptions that say the same thing (a resident pressing submit twice, or retyping)."""
    one, two = (re.sub(r"[\s，。,.!！?？]", "", t) for t in (text, other))
    return one == two or difflib.SequenceMatcher(None, one, two).ratio() >= 0.8
