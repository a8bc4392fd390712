"""What each lifecycle action changes (pure): a case and a `Step` in, a `Change` out.

Every action in `server.cases.actions.ACTIONS` has exactly one function here, registered with
`@transition("name")`; an action without one, or a function for an unknown action, fails at import. What a
transition needs from the database (the target unit, the mediators, the deadline settings) is read by the
lifecycle beforehand and handed over in the `Step`, so these functions can be tested with plain dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from server.cases.actions import ACTIONS
from server.cases.model import Case
from server.core.errors import ValidationFailed
from server.core.routing_rules import window
from server.core.vocabulary import CONCLUDE_OUTCOMES, REFER_OUT_OUTCOMES


class Refused(Exception):
    """The action is not possible in the case's present condition (a 409 with what is allowed now)."""

    def __init__(self, message: str, code: str = "case_state_conflict") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Step:
    """One action's input: who, when, the request body, and what the lifecycle read for it."""

    now: datetime
    actor_id: ObjectId
    body: dict[str, Any] = field(default_factory=dict)
    deadlines: dict[str, Any] = field(default_factory=dict)  # the town's deadline settings
    unit: dict[str, Any] | None = None  # assign / escalate: the unit that takes the case
    tier: str | None = None  # assign / escalate: the tier it is handled at
    mediator_ids: list[ObjectId] = field(default_factory=list)  # assign: checked mediators of `unit`

    @property
    def reason(self) -> str:
        return (self.body.get("reason") or "").strip()

    def deadline(self, name: str, tier: str, channel: str) -> dict[str, Any]:
        return {"start": self.now, "due": self.now + window(self.deadlines, name, tier=tier, channel=channel)}


@dataclass(frozen=True)
class Change:
    """The fields an action sets, and the notices it causes as (event, audience) pairs."""

    changes: dict[str, Any]
    notices: list[tuple[str, str]]


Transition = Callable[[Case, Step], Change]
TRANSITIONS: dict[str, Transition] = {}


def transition(name: str) -> Callable[[Transition], Transition]:
    if name not in ACTIONS:
        raise ValueError(f"no action {name!r} in the action table")

    def register(function: Transition) -> Transition:
        TRANSITIONS[name] = function
        return function

    return register


# ---- helpers --------------------------------------------------------------------------------------------
def assignment(case: Case, step: Step) -> dict[str, Any]:
    """The fields of handing the case to `step.unit` at `step.tier`, with fresh accept and conclude clocks."""
    assert step.unit is not None, "the lifecycle resolves the unit first"
    assert step.tier is not None, "the lifecycle resolves the tier first"
    unit, tier = step.unit, step.tier
    return {
        "assigned_org_id": unit["_id"],
        "assigned_path": unit["path"],
        "org_path": list(dict.fromkeys([*case["location_path"], *unit["path"]])),
        "tier": tier,
        "mediator_ids": step.mediator_ids,
        "deadlines": {
            "accept": step.deadline("accept", tier, case["channel"]),
            "conclude": step.deadline("conclude", tier, case["channel"]),
        },
        "warnings": {},
        "escalation_suggested": False,
    }


def unassigned(case: Case) -> dict[str, Any]:
    return {
        "assigned_org_id": None,
        "assigned_path": [],
        "org_path": case["location_path"],
        "tier": None,
        "mediator_ids": [],
        "deadlines": {},
        "warnings": {},
        "suspended": None,
        "suspend_request": None,
        "extension": None,
        "escalation_suggested": False,
    }


def concluded(case: Case, step: Step, outcome: dict[str, Any]) -> dict[str, Any]:
    """The end of mediation: the outcome, whether it came within the conclusion deadline, and the difficulty
    the mediator proposes (the office confirms it at review)."""
    due = (case["deadlines"].get("conclude") or {}).get("due")
    supervised = case.get("supervised")
    return {
        "outcome": outcome,
        "concluded_at": step.now,
        "on_time": due is None or step.now <= due,
        # Whether a 督办 case ended by the supervisor's deadline (an assessment figure), fixed when it ends.
        "supervised_on_time": step.now <= supervised["deadline"] if supervised else None,
        "difficulty": {"proposed": step.body.get("difficulty"), "confirmed": None},
        "deadlines": {},
        "warnings": {},
        "suspended": None,
    }


def redo(case: Case, step: Step) -> dict[str, Any]:
    return {
        "deadlines": {"conclude": step.deadline("conclude", case["tier"] or "village", case["channel"])},
        "warnings": {},
        "outcome": None,
        "redo_count": case.get("redo_count", 0) + 1,
    }


# ---- the transitions ------------------------------------------------------------------------------------
@transition("submit")
def submit(case: Case, step: Step) -> Change:
    return Change({}, [("case_registered", "office")])


@transition("reject")
def reject(case: Case, step: Step) -> Change:
    outcome = {"type": "not_accepted", "note": step.reason, "at": step.now}
    return Change({"outcome": outcome, "deadlines": {}}, [("case_rejected", "resident")])


@transition("assign")
def assign(case: Case, step: Step) -> Change:
    return Change(assignment(case, step), [("case_assigned", "unit"), ("case_assigned_resident", "resident")])


@transition("accept")
def accept(case: Case, step: Step) -> Change:
    due = (case["deadlines"].get("accept") or {}).get("due")
    changes = {
        "accept_on_time": due is None or step.now <= due,
        "deadlines": {k: v for k, v in case["deadlines"].items() if k != "accept"},
        "warnings": {k: v for k, v in case["warnings"].items() if k != "accept"},
        "accepted_at": step.now,
        "mediator_ids": case["mediator_ids"] or [step.actor_id],
    }
    return Change(changes, [("case_accepted", "resident"), ("case_accepted", "liaison")])


@transition("return")
def return_(case: Case, step: Step) -> Change:
    return Change(unassigned(case), [("case_returned", "office")])


@transition("recall")
def recall(case: Case, step: Step) -> Change:
    return Change(unassigned(case), [("case_recalled", "previous_unit")])


@transition("escalate")
def escalate(case: Case, step: Step) -> Change:
    changes = assignment(case, step) | {"suspended": None, "suspend_request": None, "extension": None}
    # The unit that escalated keeps seeing the case it handled.
    changes["org_path"] = list(dict.fromkeys([*changes["org_path"], *case["assigned_path"]]))
    return Change(changes, [("case_escalated", "unit"), ("case_escalated", "office"), ("case_escalated", "resident")])


@transition("conclude")
def conclude(case: Case, step: Step) -> Change:
    outcome = step.body.get("outcome")
    if outcome not in CONCLUDE_OUTCOMES:
        raise ValidationFailed(details=[{"field": "outcome", "message": "请选择调解结果"}])
    record: dict[str, Any] = {"type": outcome, "note": step.body.get("note") or "", "at": step.now}
    if outcome == "agreement":
        agreement = step.body.get("agreement")
        if not agreement:
            raise ValidationFailed(
                details=[
                    {"field": "agreement.parties", "message": "调解成功须填写协议当事人"},
                    {"field": "agreement.terms", "message": "调解成功须填写协议条款"},
                    {"field": "agreement.performance_deadline", "message": "调解成功须填写履行期限"},
                ]
            )
        record["agreement"] = agreement | {"performance_deadline": agreement["performance_deadline"].isoformat()}
    notices = [("case_concluded", "resident"), ("case_concluded", "office"), ("case_concluded", "liaison")]
    return Change(concluded(case, step, record), notices)


@transition("refer_out")
def refer_out(case: Case, step: Step) -> Change:
    outcome = step.body.get("outcome") or "transferred_admin"
    if outcome not in REFER_OUT_OUTCOMES:
        raise ValidationFailed(details=[{"field": "outcome", "message": "移交须选择诉讼、仲裁或行政机关"}])
    record = {"type": outcome, "note": step.reason, "referred_to": step.body.get("referred_to") or "", "at": step.now}
    return Change(concluded(case, step, record), [("case_concluded", "resident"), ("case_concluded", "liaison")])


@transition("review_pass")
def review_pass(case: Case, step: Step) -> Change:
    follow_up = step.deadline("follow_up", case["tier"] or "village", case["channel"])
    proposed = (case.get("difficulty") or {}).get("proposed")
    difficulty = {"proposed": proposed, "confirmed": step.body.get("difficulty") or proposed}
    changes = {"deadlines": {"follow_up": follow_up}, "warnings": {}, "reviewed_at": step.now, "difficulty": difficulty}
    return Change(changes, [("case_follow_up", "office")])


@transition("review_fail")
def review_fail(case: Case, step: Step) -> Change:
    return Change(redo(case, step), [("case_redo", "unit")])


@transition("follow_up_satisfied")
def follow_up_satisfied(case: Case, step: Step) -> Change:
    changes = {"deadlines": {}, "warnings": {}, "closed_at": step.now, "satisfied": True, "followed_up_at": step.now}
    return Change(changes, [("case_closed", "resident")])


@transition("follow_up_unsatisfied")
def follow_up_unsatisfied(case: Case, step: Step) -> Change:
    changes = redo(case, step) | {
        "satisfied": False,
        "followed_up_at": step.now,
        "complaints": case.get("complaints", 0) + 1,
    }
    return Change(changes, [("case_redo", "unit")])


@transition("withdraw")
def withdraw(case: Case, step: Step) -> Change:
    outcome = {"type": "withdrawn", "note": step.reason, "at": step.now}
    changes = {"outcome": outcome, "deadlines": {}, "warnings": {}, "closed_at": step.now, "suspended": None}
    return Change(changes, [("case_withdrawn", "unit")])


@transition("suspend_request")
def suspend_request(case: Case, step: Step) -> Change:
    if case.get("suspended"):
        raise Refused("案件已挂起", "case_already_suspended")
    request = {"reason": step.reason, "by": step.actor_id, "at": step.now}
    return Change({"suspend_request": request}, [("suspend_requested", "office")])


@transition("suspend_approve")
def suspend_approve(case: Case, step: Step) -> Change:
    if not case.get("suspend_request"):
        raise Refused("没有待批准的挂起申请", "no_pending_request")
    suspended = case["suspend_request"] | {"since": step.now, "approved_by": step.actor_id}
    return Change({"suspended": suspended, "suspend_request": None}, [("case_suspended", "unit")])


@transition("resume")
def resume(case: Case, step: Step) -> Change:
    if not case.get("suspended"):
        raise Refused("案件未挂起", "case_not_suspended")
    paused = step.now - case["suspended"]["since"]
    # The clock stood still while suspended: every open deadline moves by the time it stood.
    deadlines = {k: v | {"due": v["due"] + paused, "start": v["start"] + paused} for k, v in case["deadlines"].items()}
    return Change({"suspended": None, "deadlines": deadlines}, [("case_resumed", "unit")])


@transition("extension_request")
def extension_request(case: Case, step: Step) -> Change:
    if not step.body.get("days"):
        raise ValidationFailed(details=[{"field": "days", "message": "请填写延期天数"}])
    if (case.get("extension") or {}).get("status") == "pending":
        raise Refused("已有待批准的延期申请", "extension_pending")
    extension = {
        "days": step.body["days"],
        "reason": step.reason,
        "by": step.actor_id,
        "at": step.now,
        "status": "pending",
    }
    return Change({"extension": extension}, [("extension_requested", "office")])


def _pending_extension(case: Case) -> dict[str, Any]:
    extension: dict[str, Any] = case.get("extension") or {}
    if extension.get("status") != "pending":
        raise Refused("没有待批准的延期申请", "no_pending_request")
    return extension


@transition("extension_approve")
def extension_approve(case: Case, step: Step) -> Change:
    extension = _pending_extension(case)
    deadlines = dict(case["deadlines"])
    if "conclude" in deadlines:
        deadlines["conclude"] = deadlines["conclude"] | {
            "due": deadlines["conclude"]["due"] + timedelta(days=extension["days"])
        }
    changes = {
        "extension": extension | {"status": "approved", "decided_at": step.now},
        "deadlines": deadlines,
        "warnings": {k: v for k, v in case["warnings"].items() if k != "conclude"},
    }
    return Change(changes, [("extension_approved", "unit")])


@transition("extension_reject")
def extension_reject(case: Case, step: Step) -> Change:
    extension = _pending_extension(case)
    return Change(
        {"extension": extension | {"status": "rejected", "decided_at": step.now}}, [("extension_rejected", "unit")]
    )


@transition("supervise")
def supervise(case: Case, step: Step) -> Change:
    deadline = step.body.get("deadline")
    if deadline is None:
        raise ValidationFailed(details=[{"field": "deadline", "message": "督办须设定办结期限"}])
    supervised = {"by": step.actor_id, "at": step.now, "deadline": deadline, "note": step.reason}
    deadlines = dict(case["deadlines"]) | {"supervision": {"start": step.now, "due": deadline}}
    return Change({"supervised": supervised, "deadlines": deadlines}, [("case_supervised", "unit")])


_missing = set(ACTIONS) - set(TRANSITIONS)
if _missing:
    raise RuntimeError(f"actions without a transition: {sorted(_missing)}")
