"""The case lifecycle's rules with nothing but plain dicts: no HTTP, no database, no event loop.

Every state × action (allowed or refused), who may take each action, and the notices and changes each
transition produces. The expected tables are written out from DOMAIN.md, not derived from the code's table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from server.cases import policy
from server.cases.actions import ACTIONS
from server.cases.model import Case, new_case
from server.cases.transitions import TRANSITIONS, Refused, Step
from server.core.auth import Grant, Principal
from server.core.errors import ValidationFailed
from server.core.routing_rules import DEFAULT_DEADLINES
from server.core.vocabulary import STATES

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
COUNTY, TOWN, VILLAGE, ROOM, OTHER_TOWN, TOWN_CENTER = (ObjectId() for _ in range(6))
VILLAGE_PATH = [COUNTY, TOWN, VILLAGE]
ROOM_PATH = [*VILLAGE_PATH, ROOM]

OVERLAY = ("assigned", "in_mediation")
# From DOMAIN.md's lifecycle: where each action may start, and where it leads (None: an overlay).
STARTS: dict[str, set[str]] = {
    "submit": {"draft"},
    "reject": {"registered"},
    "assign": {"registered"},
    "accept": {"assigned"},
    "return": {"assigned"},
    "recall": {"assigned", "in_mediation"},
    "escalate": {"assigned", "in_mediation"},
    "conclude": {"in_mediation"},
    "refer_out": {"in_mediation"},
    "review_pass": {"concluded"},
    "review_fail": {"concluded"},
    "follow_up_satisfied": {"follow_up"},
    "follow_up_unsatisfied": {"follow_up"},
    "withdraw": {"draft", "registered", "assigned", "in_mediation"},
    "suspend_request": set(OVERLAY),
    "suspend_approve": set(OVERLAY),
    "resume": set(OVERLAY),
    "extension_request": set(OVERLAY),
    "extension_approve": set(OVERLAY),
    "extension_reject": set(OVERLAY),
    "supervise": {"registered", "assigned", "in_mediation", "concluded", "follow_up"},
}
LEADS_TO: dict[str, str | None] = (
    {
        "submit": "registered",
        "reject": "rejected",
        "assign": "assigned",
        "accept": "in_mediation",
        "return": "registered",
        "recall": "registered",
        "escalate": "assigned",
        "conclude": "concluded",
        "refer_out": "concluded",
        "review_pass": "follow_up",
        "review_fail": "in_mediation",
        "follow_up_satisfied": "closed",
        "follow_up_unsatisfied": "in_mediation",
        "withdraw": "closed",
    }
    | dict.fromkeys(
        ("suspend_request", "suspend_approve", "resume", "extension_request", "extension_approve", "extension_reject"),
        None,
    )
    | {"supervise": None}
)
# Who may take each action (in a state where it is possible).
MAY: dict[str, set[str]] = {
    "submit": {"resident"},
    "withdraw": {"resident"},
    "reject": {"town_admin"},
    "assign": {"town_admin", "room_mediator"},  # the office, or the village's own room taking its case
    "accept": {"room_mediator"},
    "return": {"room_mediator"},
    "recall": {"town_admin"},
    "escalate": {"room_mediator", "town_admin"},
    "conclude": {"room_mediator"},
    "refer_out": {"room_mediator"},
    "review_pass": {"town_admin"},
    "review_fail": {"town_admin"},
    "follow_up_satisfied": {"town_admin", "town_center_staff"},  # the office and the town's centers
    "follow_up_unsatisfied": {"town_admin", "town_center_staff"},
    "suspend_request": {"room_mediator"},
    "suspend_approve": {"town_admin"},
    "resume": {"room_mediator", "town_admin"},
    "extension_request": {"room_mediator"},
    "extension_approve": {"town_admin"},
    "extension_reject": {"town_admin"},
    "supervise": {"town_admin", "supervisor"},
}
NOTICES: dict[str, list[tuple[str, str]]] = {
    "submit": [("case_registered", "office")],
    "reject": [("case_rejected", "resident")],
    "assign": [("case_assigned", "unit"), ("case_assigned_resident", "resident")],
    "accept": [("case_accepted", "resident"), ("case_accepted", "liaison")],
    "return": [("case_returned", "office")],
    "recall": [("case_recalled", "previous_unit")],  # the unit that lost it, as it was
    "escalate": [("case_escalated", "unit"), ("case_escalated", "office"), ("case_escalated", "resident")],
    "conclude": [("case_concluded", "resident"), ("case_concluded", "office"), ("case_concluded", "liaison")],
    "refer_out": [("case_concluded", "resident"), ("case_concluded", "liaison")],
    "review_pass": [("case_follow_up", "office")],
    "review_fail": [("case_redo", "unit")],
    "follow_up_satisfied": [("case_closed", "resident")],
    "follow_up_unsatisfied": [("case_redo", "unit")],
    "withdraw": [("case_withdrawn", "unit")],
    "suspend_request": [("suspend_requested", "office")],
    "suspend_approve": [("case_suspended", "unit")],
    "resume": [("case_resumed", "unit")],
    "extension_request": [("extension_requested", "office")],
    "extension_approve": [("extension_approved", "unit")],
    "extension_reject": [("extension_rejected", "unit")],
    "supervise": [("case_supervised", "unit")],
}
RESIDENT = ObjectId()
PEOPLE: dict[str, Principal] = {
    "resident": Principal(str(RESIDENT), "s", (Grant("resident"),), 0),
    "room_mediator": Principal(str(ObjectId()), "s", (Grant("mediator", str(ROOM)),), 0),
    "town_admin": Principal(str(ObjectId()), "s", (Grant("town_admin", str(TOWN)),), 0),
    "supervisor": Principal(str(ObjectId()), "s", (Grant("supervisor", str(TOWN)),), 0),
    # Staff of a town center: their grant is at the center; its town rides along for the town-wide duties.
    "town_center_staff": Principal(
        str(ObjectId()), "s", (Grant("center_staff", str(TOWN_CENTER), town_id=str(TOWN)),), 0
    ),
    "grid_worker": Principal(str(ObjectId()), "s", (Grant("grid_worker", str(VILLAGE)),), 0),
    "other_town_admin": Principal(str(ObjectId()), "s", (Grant("town_admin", str(OTHER_TOWN)),), 0),
    "other_town_mediator": Principal(str(ObjectId()), "s", (Grant("mediator", str(OTHER_TOWN)),), 0),
}


def case_in(state: str, **fields: Any) -> Case:
    """A village case reported by RESIDENT, assigned to the village's room once past registration."""
    assigned = state not in ("draft", "registered", "rejected")
    case = new_case(
        state=state,
        channel="miniprogram",
        source="grassroots",
        now=NOW - timedelta(days=2),
        category="neighbour",
        description="邻居装修噪音扰民",
        resident_id=RESIDENT,
        village_id=VILLAGE,
        town_id=TOWN,
        location_path=ROOM_PATH,
        town_path=[COUNTY, TOWN],
        org_path=ROOM_PATH,
        assigned_org_id=ROOM if assigned else None,
        assigned_path=ROOM_PATH if assigned else [],
        tier="village" if assigned else None,
    )
    if assigned:
        case["deadlines"] = {
            "accept": {"start": NOW - timedelta(days=2), "due": NOW - timedelta(days=1)},
            "conclude": {"start": NOW - timedelta(days=2), "due": NOW + timedelta(days=5)},
        }
        case["warnings"] = {"accept": "red", "conclude": "yellow"}
    return case | fields


def step(**fields: Any) -> Step:
    values: dict[str, Any] = {"now": NOW, "actor_id": ObjectId(), "deadlines": DEFAULT_DEADLINES}
    return Step(**(values | fields))


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", list(STARTS))
def test_every_state_and_action(state: str, action: str) -> None:
    """Allowed exactly where DOMAIN.md says, for someone who holds every role there is."""
    everyone = Principal(
        str(RESIDENT),
        "s",
        (
            Grant("resident"),
            Grant("mediator", str(ROOM)),
            Grant("town_admin", str(TOWN)),
            Grant("supervisor", str(TOWN)),
        ),
        0,
    )
    allowed = policy.allowed_actions(everyone, case_in(state))
    assert (action in allowed) == (state in STARTS[action])
    assert ACTIONS[action].to == LEADS_TO[action]


def test_the_table_has_exactly_the_domain_actions() -> None:
    assert set(ACTIONS) == set(STARTS) == set(TRANSITIONS) == set(MAY) == set(NOTICES)


@pytest.mark.parametrize("action", list(MAY))
def test_who_may_take_each_action(action: str) -> None:
    state = sorted(STARTS[action])[0]
    case = case_in(state)
    holders = {who for who, person in PEOPLE.items() if action in policy.allowed_actions(person, case)}
    assert holders == MAY[action]


def test_nobody_from_another_town_sees_or_acts() -> None:
    for state in STATES:
        case = case_in(state)
        for who in ("other_town_admin", "other_town_mediator"):
            assert policy.allowed_actions(PEOPLE[who], case) == []
            assert not policy.may_view_in_scope(PEOPLE[who], case)
    assert policy.may_view_in_scope(PEOPLE["grid_worker"], case_in("registered"))


UNIT = {"_id": TOWN_CENTER, "path": [COUNTY, TOWN, TOWN_CENTER], "kind": "center"}
INPUTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {  # action: (state, case fields, step fields)
    "assign": ("registered", {}, {"unit": UNIT, "tier": "town"}),
    "escalate": ("in_mediation", {}, {"unit": UNIT, "tier": "town"}),
    "conclude": ("in_mediation", {}, {"body": {"outcome": "failed_litigation"}}),
    "refer_out": ("in_mediation", {}, {"body": {"outcome": "transferred_admin", "reason": "属行政争议"}}),
    "suspend_approve": ("in_mediation", {"suspend_request": {"reason": "当事人住院", "at": NOW}}, {}),
    "resume": ("in_mediation", {"suspended": {"since": NOW - timedelta(days=3)}}, {}),
    "extension_request": ("in_mediation", {}, {"body": {"days": 10, "reason": "需要鉴定"}}),
    "extension_approve": ("in_mediation", {"extension": {"days": 10, "status": "pending"}}, {}),
    "extension_reject": ("in_mediation", {"extension": {"days": 10, "status": "pending"}}, {}),
    "supervise": ("in_mediation", {}, {"body": {"deadline": NOW + timedelta(days=3), "reason": "群众反映强烈"}}),
}


@pytest.mark.parametrize("action", list(NOTICES))
def test_each_transition_says_who_is_told(action: str) -> None:
    state, case_fields, step_fields = INPUTS.get(action, (sorted(STARTS[action])[0], {}, {}))
    change = TRANSITIONS[action](case_in(state, **case_fields), step(**step_fields))
    assert change.notices == NOTICES[action]


def test_assignment_starts_the_accept_and_conclude_clocks_of_the_tier() -> None:
    change = TRANSITIONS["assign"](case_in("registered"), step(unit=UNIT, tier="town"))
    assert change.changes["assigned_org_id"] == TOWN_CENTER
    assert change.changes["org_path"] == [*ROOM_PATH, TOWN_CENTER]  # the village still sees it
    assert change.changes["deadlines"] == {
        "accept": {"start": NOW, "due": NOW + timedelta(hours=24)},
        "conclude": {"start": NOW, "due": NOW + timedelta(days=15)},
    }


def test_court_referrals_get_their_own_conclude_window() -> None:
    change = TRANSITIONS["assign"](case_in("registered", channel="court_referral"), step(unit=UNIT, tier="town"))
    assert change.changes["deadlines"]["conclude"]["due"] == NOW + timedelta(days=30)


def test_escalation_keeps_the_escalating_unit_in_the_scope() -> None:
    change = TRANSITIONS["escalate"](case_in("in_mediation"), step(unit=UNIT, tier="town"))
    assert ROOM in change.changes["org_path"]
    assert (change.changes["assigned_org_id"], change.changes["tier"]) == (TOWN_CENTER, "town")
    assert change.changes["suspended"] is None


def test_accepting_makes_the_acceptor_the_mediator_and_clears_the_accept_clock() -> None:
    actor = ObjectId()
    change = TRANSITIONS["accept"](case_in("assigned"), step(actor_id=actor))
    assert change.changes["mediator_ids"] == [actor]
    assert set(change.changes["deadlines"]) == {"conclude"}
    assert change.changes["warnings"] == {"conclude": "yellow"}


def test_resuming_moves_every_deadline_by_the_time_it_stood_still() -> None:
    case = case_in("in_mediation", suspended={"since": NOW - timedelta(days=3)})
    change = TRANSITIONS["resume"](case, step())
    assert change.changes["deadlines"]["conclude"]["due"] == NOW + timedelta(days=8)
    assert change.changes["suspended"] is None


def test_an_approved_extension_moves_the_conclude_deadline_and_its_warning() -> None:
    case = case_in("in_mediation", extension={"days": 10, "status": "pending"})
    change = TRANSITIONS["extension_approve"](case, step())
    assert change.changes["deadlines"]["conclude"]["due"] == NOW + timedelta(days=15)
    assert "conclude" not in change.changes["warnings"]
    assert change.changes["extension"]["status"] == "approved"


def test_a_review_failure_reopens_with_a_fresh_clock_and_counts_the_redo() -> None:
    change = TRANSITIONS["review_fail"](case_in("concluded", redo_count=1), step(body={"reason": "材料不全"}))
    assert change.changes["redo_count"] == 2
    assert change.changes["deadlines"]["conclude"]["due"] == NOW + timedelta(days=7)
    assert change.changes["outcome"] is None


def test_an_agreement_is_kept_with_its_performance_deadline() -> None:
    agreement = {"parties": ["甲", "乙"], "terms": ["赔偿 500 元"], "performance_deadline": date(2026, 12, 10)}
    change = TRANSITIONS["conclude"](
        case_in("in_mediation"), step(body={"outcome": "agreement", "agreement": agreement})
    )
    assert change.changes["outcome"]["agreement"]["performance_deadline"] == "2026-12-10"
    assert change.changes["deadlines"] == {}


@pytest.mark.parametrize(
    ("action", "state", "case_fields", "body", "field"),
    [
        ("conclude", "in_mediation", {}, {}, "outcome"),
        ("conclude", "in_mediation", {}, {"outcome": "agreement"}, "agreement.terms"),
        ("refer_out", "in_mediation", {}, {"outcome": "agreement", "reason": "x"}, "outcome"),
        ("extension_request", "in_mediation", {}, {"reason": "x"}, "days"),
        ("supervise", "assigned", {}, {"reason": "x"}, "deadline"),
    ],
)
def test_missing_input_names_the_field(
    action: str, state: str, case_fields: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        TRANSITIONS[action](case_in(state, **case_fields), step(body=body))
    assert field in {d["field"] for d in raised.value.details}


@pytest.mark.parametrize(
    ("action", "case_fields", "code"),
    [
        ("suspend_request", {"suspended": {"since": NOW}}, "case_already_suspended"),
        ("suspend_approve", {}, "no_pending_request"),
        ("resume", {}, "case_not_suspended"),
        ("extension_request", {"extension": {"status": "pending"}}, "extension_pending"),
        ("extension_approve", {"extension": {"status": "approved"}}, "no_pending_request"),
        ("extension_reject", {}, "no_pending_request"),
    ],
)
def test_an_overlay_out_of_turn_is_refused(action: str, case_fields: dict[str, Any], code: str) -> None:
    with pytest.raises(Refused) as raised:
        TRANSITIONS[action](case_in("in_mediation", **case_fields), step(body={"days": 5, "reason": "x"}))
    assert raised.value.code == code


def test_only_the_owner_rates_once_at_follow_up() -> None:
    assert policy.may_rate(case_in("follow_up"))
    assert not policy.may_rate(case_in("in_mediation"))
    assert not policy.may_rate(case_in("closed", rating={"stars": 5}))


def test_a_cluster_is_one_respondent_or_one_place_named_by_enough_complainants() -> None:
    from datetime import UTC, datetime

    from server.prevention.warnings import clusters

    def case(n: int, applicant: str, respondent: str, address: str = "") -> dict[str, object]:
        parties = [
            {"role": "applicant", "name": applicant},
            {"role": "respondent", "name": respondent, "address": address},
        ]
        return {"_id": n, "created_at": datetime(2026, 11, 1, n, tzinfo=UTC), "parties": parties}

    wages = [case(n, f"工人{n}", "王老板") for n in range(3)]
    site = [case(10 + n, f"住户{n}", f"开发商{n}", "滨河小区工地") for n in range(3)]
    alone = [case(20, "张三", "李四"), case(21, "张三", "李四")]  # one complainant twice: a repeat, not a crowd
    found = clusters(wages + site + alone, 3)
    assert sorted(found) == ["地点：滨河小区工地", "王老板"]
    assert [c["_id"] for c in found["王老板"]] == [0, 1, 2]
    assert clusters(wages, 4) == {}
