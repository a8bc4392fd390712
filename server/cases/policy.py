"""Who may do what to a case, in which state (pure: a principal and a case in, a yes or no out).

The lifecycle, the record operations and the views all ask here, so a rule is written once: the API's
`allowed_actions`, the resident's `can_withdraw` / `can_rate` and the 403s and 409s all come from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from server.cases.actions import ACTIONS, Who
from server.cases.model import Case
from server.core.auth import Principal
from server.core.scope import in_org_scope
from server.core.vocabulary import LIAISON_SOURCE, OPEN_STATES, REFERRAL_FOR

# Who registers a case through each channel (liaisons: the liaison for that referral's source).
CHANNEL_CAPABILITY = {
    "miniprogram": "case.report",
    "grid_visit": "case.register_on_visit",
    "walk_in": "case.register_at_desk",
    "hotline": "case.register_at_desk",
}


def _me(principal: Principal) -> ObjectId:
    return ObjectId(principal.user_id)


def holds(principal: Principal, case: Case, who: Who) -> bool:
    """Whether the caller is `who` for this case."""
    if who == "owner":
        return case.get("resident_id") == _me(principal)
    if who == "unit":
        return in_org_scope(principal, case.get("assigned_path") or [], "case.handle") or _me(principal) in case.get(
            "mediator_ids", []
        )
    if who == "admin":
        return in_org_scope(principal, case["org_path"], "case.administer")
    if who == "office":
        return in_org_scope(principal, case["org_path"], "case.follow_up")
    if who == "supervisor":
        return in_org_scope(principal, case["org_path"], "case.supervise")
    # assigner: the office, or the handling unit of the place where it happened (a room takes its own case)
    return in_org_scope(principal, case["org_path"], "case.administer") or in_org_scope(
        principal, case["location_path"], "case.handle"
    )


def holds_any(principal: Principal, case: Case, who: Iterable[Who]) -> bool:
    return any(holds(principal, case, w) for w in who)


def allowed_actions(principal: Principal, case: Case) -> list[str]:
    """The actions the caller may take on the case now, in the table's order."""
    return [
        name
        for name, action in ACTIONS.items()
        if case["state"] in action.from_states and holds_any(principal, case, action.who)
    ]


def may_view_in_scope(principal: Principal, case: Case) -> bool:
    """The resident who reported it, staff whose grant covers it, its mediators. Liaisons: see `liaison_sees`."""
    return (
        case.get("resident_id") == _me(principal)
        or in_org_scope(principal, case["org_path"], "case.view")
        or _me(principal) in case.get("mediator_ids", [])
    )


def liaison_sees(scopes: Iterable[dict[str, Any]], case: Case) -> bool:
    """A liaison sees their own source's cases in the town where they sit (`scopes` from the queries)."""
    return any(scope["source"] == case["source"] and scope["town_id"] == case.get("town_id") for scope in scopes)


def liaison_source(liaison_for: str | None) -> str:
    return LIAISON_SOURCE[liaison_for or ""]


def may_attach(principal: Principal, case: Case) -> bool:
    """The resident while the case is open; the people handling it until it is closed."""
    return case["state"] in OPEN_STATES and holds_any(principal, case, ("owner", "unit", "admin", "office"))


def may_add_info(principal: Principal, case: Case) -> bool:
    return holds(principal, case, "owner")


def info_open(case: Case) -> bool:
    return case["state"] in OPEN_STATES


def may_rate(case: Case) -> bool:
    """A resident rates once, at follow-up or after closing."""
    return case["state"] in ("follow_up", "closed") and not case.get("rating")


def may_record_session(principal: Principal, case: Case) -> bool:
    return holds(principal, case, "unit")


def may_handle_record(principal: Principal, case: Case) -> bool:
    """Judicial confirmation and full party details: the handling unit and the office."""
    return holds_any(principal, case, ("unit", "admin"))


def may_assign_to(principal: Principal, case: Case, unit_path: Iterable[ObjectId]) -> bool:
    """An assigner sends a case only to a unit inside their own scope (the office: anywhere in its area)."""
    path = list(unit_path)
    return (
        in_org_scope(principal, path, "case.administer")
        or in_org_scope(principal, path, "case.handle")
        or in_org_scope(principal, case["org_path"], "case.administer")
    )


def may_register(principal: Principal, channel: str) -> bool:
    """Whether the caller may register a case through `channel`."""
    if channel in CHANNEL_CAPABILITY:
        return principal.can(CHANNEL_CAPABILITY[channel])
    return any(g.role == "liaison" and g.liaison_for == REFERRAL_FOR.get(channel) for g in principal.grants)
