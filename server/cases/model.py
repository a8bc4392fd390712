"""The case document's vocabulary of helpers: plain functions over a case, no database, no HTTP.

A case is stored as one MongoDB document (`Case`, a dict); `new_case` is the one place its full shape is
written. Timeline events and notices are appended to it by the lifecycle in the same write as a change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId

from server.core.vocabulary import OUTCOME_LABELS, STATE_LABELS

Case = dict[str, Any]

# Text limits of a case's input, for every way in (the API's schema, the court list import, partners).
CATEGORY_MAX = 20
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 2000
EXTERNAL_REF_MAX = 60
PARTIES_MAX = 50
PARTY_LIMITS = {"name": 30, "phone": 20, "id_number": 18, "address": 100}


def input_errors(data: dict[str, Any]) -> list[dict[str, str]]:
    """What in a case's input breaks the limits above, as `{"field", "message"}` items."""
    errors = []

    def check(field: str, value: Any, most: int, least: int = 0) -> None:
        text = value if isinstance(value, str) else ""
        if len(text) > most:
            errors.append({"field": field, "message": f"内容太长（最多 {most} 个字）"})
        elif len(text.strip()) < least:
            errors.append({"field": field, "message": f"内容太短（至少 {least} 个字）"})

    check("category", data.get("category") or "", CATEGORY_MAX, 1)
    check("description", data.get("description") or "", DESCRIPTION_MAX, DESCRIPTION_MIN)
    if data.get("external_ref") is not None:
        check("external_ref", data["external_ref"], EXTERNAL_REF_MAX, 1)
    parties = data.get("parties") or []
    if len(parties) > PARTIES_MAX:
        errors.append({"field": "parties", "message": f"最多 {PARTIES_MAX} 项"})
    for index, party in enumerate(parties[:PARTIES_MAX]):
        for name, most in PARTY_LIMITS.items():
            if party.get(name) is not None:
                check(f"parties.{index}.{name}", party[name], most, 1 if name == "name" else 0)
    return errors


def status_label(case: Case) -> str:
    """The case's state in words a resident understands."""
    if case["state"] == "closed" and case.get("outcome"):
        return f"已办结：{OUTCOME_LABELS.get(case['outcome']['type'], '')}"
    if case.get("suspended"):
        return "暂停办理（挂起）"
    return STATE_LABELS[case["state"]]


def next_due(deadlines: dict[str, Any]) -> datetime | None:
    dues = [d["due"] for d in deadlines.values() if d and d.get("due")]
    return min(dues) if dues else None


def timeline_event(
    actor_id: ObjectId | None,
    action: str,
    from_state: str | None,
    to_state: str | None,
    note: str | None,
    now: datetime,
    *,
    public: bool,
) -> dict[str, Any]:
    """One entry of a case's append-only timeline; `public` entries are shown to the resident."""
    return {
        "id": ObjectId(),
        "at": now,
        "actor_id": actor_id,
        "action": action,
        "from": from_state,
        "to": to_state,
        "note": note,
        "public": public,
    }


def notice(event: str, audience: str, now: datetime, case: Case, **extra: Any) -> dict[str, Any]:
    """A notification recorded in the case document, for the outbox relay to deliver, addressed now: to the
    people and unit `case` names for `audience` (pass the case as it was for "previous_unit", as it becomes
    for everyone else). A later change to the case does not redirect it."""
    return {
        "id": ObjectId(),
        "event": event,
        "audience": audience,
        "created_at": now,
        "status": "pending",
        **addressees(case, audience),
        **extra,
    }


def addressees(case: Case, audience: str) -> dict[str, Any]:
    """Who `audience` is for this case: `user_ids` (people by name) and/or `org_id` (everyone on duty there)."""
    if audience in ("unit", "previous_unit"):
        return {"org_id": case.get("assigned_org_id"), "user_ids": list(case.get("mediator_ids") or [])}
    if audience == "resident":
        return {"user_ids": [case["resident_id"]] if case.get("resident_id") else []}
    if audience == "liaison":
        return {"user_ids": [case["registered_by"]] if case["channel"] in REFERRAL_CHANNELS else []}
    if audience == "office":
        return {"org_id": case.get("town_id"), "user_ids": []}
    if audience == "partner":  # the partner system that handed the case over, told through its webhook
        return {"user_ids": [], "partner_id": case.get("partner_id")}
    if audience in ("expert", "requester"):
        return {"user_ids": []}  # named by whoever records the notice (`notice(..., user_ids=[...])`)
    raise ValueError(f"unknown audience {audience!r}")


REFERRAL_CHANNELS = ("police_referral", "court_referral", "petition_referral")


def partner_notices(before: Case, after: Case, now: datetime) -> list[dict[str, Any]]:
    """A partner system hears of every change of state of a case it handed over (its webhook, if it has one)."""
    if not after.get("partner_id") or before["state"] == after["state"]:
        return []
    return [notice("request_updated", "partner", now, after)]


def new_case(*, state: str, channel: str, source: str, now: datetime, **fields: Any) -> Case:
    """A case as first stored: every field present, so readers never guess whether one exists."""
    case: Case = {
        "_id": ObjectId(),
        "number": None,
        "version": 0,
        "state": state,
        "channel": channel,
        "source": source,
        "category": None,
        "description": "",
        "parties": [],
        "risk": "low",
        "risk_given": None,  # staff's own assessment at registration: the model never scores below it
        "risk_score": 0,
        "risk_reasons": [],
        "law_related": False,
        "resident_id": None,
        "registered_by": None,
        "consent_contact": False,
        "household_id": None,
        "visit_id": None,
        "gps": None,
        "village_id": None,
        "town_id": None,
        "micro_grid_id": None,
        "location_path": [],
        "town_path": [],
        "org_path": [],
        "assigned_org_id": None,
        "assigned_path": [],
        "tier": None,
        "mediator_ids": [],
        "deadlines": {},
        "next_due": None,
        "warnings": {},
        "suspended": None,
        "suspend_request": None,
        "extension": None,
        "supervised": None,
        "escalation_suggested": False,
        "outcome": None,
        "sessions": [],
        "attachments": [],
        "rating": None,
        "judicial_confirmation": False,
        "difficulty": None,  # {"proposed", "confirmed"}: set at conclusion and at review
        "on_time": None,  # concluded within the conclusion deadline
        "accept_on_time": None,  # accepted (签收) within the accept deadline
        "supervised_on_time": None,  # a 督办 case concluded by the supervisor's deadline
        "followed_up_at": None,  # the last follow-up (回访), satisfied or not
        "spot_check": None,  # the last 抽查回访 that did not confirm the recorded outcome
        "link_suggestions": [],  # earlier cases that look like the same dispute, found at registration
        "dispute_id": None,  # 一件事: the dispute this case belongs to
        "dispute_role": None,  # "lead" (its unit handles the dispute) or "member"
        "cluster_id": None,  # 群体性: the group-dispute warning the case is part of
        "complaints": 0,  # follow-ups that found the resident unsatisfied (a complaint upheld)
        "timeline": [],
        "notifications": [],
        "created_at": now,
        "updated_at": now,
    }
    unknown = (
        set(fields)
        - set(case)
        - {
            "external_ref",
            "external_key",
            "received_at",
            "suggested",
            "idempotency_key",
            "partner_id",
            "open311_token",
            "reported_parties",
        }
    )
    if unknown:
        raise TypeError(f"unknown case fields: {sorted(unknown)}")
    case.update(fields)
    return case
