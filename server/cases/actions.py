"""The action table (pure): every lifecycle action, the states it starts from, where it leads, and who may
take it. `server.cases.policy` says who each "who" is; `server.cases.transitions` says what each action
changes; `server.cases.lifecycle` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

from server.core.vocabulary import State

# Who may take an action, relative to the case (see `server.cases.policy.holds`).
Who = Literal["owner", "unit", "admin", "assigner", "supervisor", "office"]
WHO: tuple[Who, ...] = get_args(Who)


@dataclass(frozen=True)
class Action:
    label: str
    from_states: frozenset[State]
    to: State | None  # None: an overlay, the state stays
    who: tuple[Who, ...]
    reason: bool = False  # a reason is required
    public: bool = False  # the timeline entry is shown to the resident


def _a(label: str, states: str, to: State | None, who: str, *, reason: bool = False, public: bool = False) -> Action:
    kinds = tuple(who.split())
    unknown = set(kinds) - set(WHO) or set(states.split()) - set(get_args(State))
    if unknown:
        raise ValueError(f"unknown in action {label}: {unknown}")
    return Action(label, frozenset(cast(list[State], states.split())), to, cast(tuple[Who, ...], kinds), reason, public)


ACTIONS: dict[str, Action] = {
    "submit": _a("提交", "draft", "registered", "owner", public=True),
    "reject": _a("不予受理", "registered", "rejected", "admin", reason=True, public=True),
    "assign": _a("分派", "registered", "assigned", "assigner", public=True),
    "accept": _a("签收", "assigned", "in_mediation", "unit", public=True),
    "return": _a("退回", "assigned", "registered", "unit", reason=True),
    "recall": _a("撤回重派", "assigned in_mediation", "registered", "admin", reason=True),
    "escalate": _a("上报上一级", "assigned in_mediation", "assigned", "unit admin", reason=True, public=True),
    "conclude": _a("结束调解", "in_mediation", "concluded", "unit", public=True),
    "refer_out": _a("移交", "in_mediation", "concluded", "unit", reason=True, public=True),
    "review_pass": _a("核查通过", "concluded", "follow_up", "admin"),
    "review_fail": _a("核查不通过，重新办理", "concluded", "in_mediation", "admin", reason=True),
    "follow_up_satisfied": _a("回访满意，办结", "follow_up", "closed", "office", public=True),
    "follow_up_unsatisfied": _a(
        "回访不满意，重新办理", "follow_up", "in_mediation", "office", reason=True, public=True
    ),
    "withdraw": _a("申请人撤回", "draft registered assigned in_mediation", "closed", "owner", public=True),
    "suspend_request": _a("申请挂起", "assigned in_mediation", None, "unit", reason=True),
    "suspend_approve": _a("批准挂起", "assigned in_mediation", None, "admin"),
    "resume": _a("恢复办理", "assigned in_mediation", None, "unit admin"),
    "extension_request": _a("申请延期", "assigned in_mediation", None, "unit", reason=True),
    "extension_approve": _a("批准延期", "assigned in_mediation", None, "admin"),
    "extension_reject": _a("驳回延期", "assigned in_mediation", None, "admin", reason=True),
    "supervise": _a("督办", "registered assigned in_mediation concluded follow_up", None, "supervisor", reason=True),
}
