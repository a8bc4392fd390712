"""The one vocabulary of permissions: named capabilities, each granted to a set of roles, in one table.

Handlers say `@requires("case.inbox")`; services ask `in_org_scope(principal, path, "case.view")`. A name
that is not in `CAPABILITIES` fails when the module that uses it is imported (`roles_for`), so a typo cannot
silently forbid everyone. A role grant holds at an org unit and everything under it; which records a
capability reaches is the service's business (`server.core.scope`). The README lists this table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from server.core.vocabulary import LiaisonFor

StaffRole = Literal[
    "grid_worker",
    "mediator",
    "center_staff",
    "town_admin",
    "county_admin",
    "liaison",
    "expert",
    "supervisor",
    "auditor",
]
Role = Literal["resident", StaffRole]
ROLES: tuple[Role, ...] = get_args(Role)
# The 安全审计员 reads the audit log and nothing else (separation of duties, 等保): an account of its own,
# granted by the county at the county, outside `STAFF`, the roles that work the cases.
AUDITOR = "auditor"
STAFF: tuple[StaffRole, ...] = tuple(r for r in get_args(StaffRole) if r != AUDITOR)
ADMINS = ("town_admin", "county_admin")
LIAISON_SOURCES: tuple[LiaisonFor, ...] = get_args(LiaisonFor)

_HANDLING_UNIT = ("mediator", "center_staff")

CAPABILITIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Cases
        "case.own": ("resident",),  # my cases, adding information, rating
        "case.report": ("resident",),  # from the mini-program
        "case.register_on_visit": ("grid_worker",),  # found on a household visit
        "case.search": STAFF,  # the case queue (each role then sees its own scope)
        "case.view": ("grid_worker", *_HANDLING_UNIT, *ADMINS, "supervisor"),  # cases under the grant's unit
        "case.handle": _HANDLING_UNIT,  # the handling unit: accept, return, conclude, sessions
        "case.inbox": _HANDLING_UNIT,
        "case.administer": ADMINS,  # triage, assign, recall, review, approve
        "case.follow_up": (*ADMINS, "center_staff"),  # 回访
        "case.supervise": (*ADMINS, "supervisor"),  # 督办
        "case.register_at_desk": ("center_staff", *ADMINS),  # walk-in and hotline registration
        # Places
        "org.view": STAFF,
        "org.edit": ADMINS,
        "household.view": ("grid_worker", "center_staff", *ADMINS, "mediator", "supervisor"),
        "household.search": STAFF,
        "household.edit": ("grid_worker", "center_staff", *ADMINS),
        "household.reveal": ("grid_worker", *ADMINS),  # they phone and visit people
        "household.scan": ("grid_worker", "center_staff", *ADMINS, "mediator", "supervisor"),
        "plate.print": ("grid_worker", "center_staff", *ADMINS),
        "visit.record": ("grid_worker", "center_staff", *ADMINS),
        "visit.view": ("grid_worker", "center_staff", *ADMINS, "supervisor"),
        # People and settings
        "staff.view": (*ADMINS, "supervisor"),
        "staff.edit": ADMINS,
        "settings.view": STAFF,
        "settings.edit": ADMINS,
        "job.view": ADMINS,  # anyone's background jobs in scope (one's own are always visible)
        "outbox.admin": ADMINS,
        "partner.manage": ADMINS,  # partner systems of the Open311 door: register, keys, webhooks, revoke
        # Mediators, experts and their incentives (待遇 + 荣誉)
        "mediator.view": (*ADMINS, "center_staff", "supervisor"),  # the roster with live figures
        "mediator.manage": ADMINS,  # profiles and social forces
        "mediator.honour": ("county_admin",),  # 金牌调解员
        "mediator.self": ("mediator",),  # one's own profile, figures, stars and subsidy slips
        "expert.view": (*ADMINS, "center_staff", "mediator"),
        "expert.manage": ADMINS,
        "rating.view": (*ADMINS, "supervisor"),
        "rating.run": ADMINS,  # compute a period, propose the levels
        "rating.confirm": ("county_admin",),
        "subsidy.view": (*ADMINS, "supervisor"),
        "subsidy.manage": ADMINS,  # build, approve, correct a statement
        "subsidy.confirm": ("county_admin",),  # confirming locks it
        "consultation.request": ("mediator", "center_staff", *ADMINS),  # the case's handlers
        "consultation.view": ("mediator", "center_staff", *ADMINS, "supervisor"),  # consultations in scope
        "consultation.list": ("mediator", "center_staff", *ADMINS, "supervisor", "expert"),  # experts: their own
        "consultation.answer": ("expert",),
        # Assessment and supervision (考核督查)
        "assessment.view": (*ADMINS, "supervisor", *_HANDLING_UNIT),  # figures in scope; a room or center: its own
        "assessment.scheme": ("county_admin",),  # the county's scheme per year
        "assessment.run": ADMINS,  # the county scores its towns, a town its villages; bonus items; reports
        "statistics.enter": ("liaison", *ADMINS),  # sources' monthly statistics, 民转刑 (a liaison: own source, town)
        "spot_check.run": ("supervisor", *ADMINS),  # 抽查回访
        "supervision.issue": ("supervisor", "county_admin"),  # 督查通报 and inspection records
        "supervision.answer": (*ADMINS, *_HANDLING_UNIT),  # the unit's rectification
        "supervision.view": ("supervisor", *ADMINS, *_HANDLING_UNIT),  # notices issued, supervised or received
        # 主动治理
        "dispute.view": ("grid_worker", *_HANDLING_UNIT, *ADMINS, "supervisor"),  # link suggestions, disputes
        "dispute.link": (*ADMINS, "center_staff"),  # linking and unlinking cases (audited)
        "warning.view": (*ADMINS, *_HANDLING_UNIT, "supervisor"),  # current warnings in scope
        "warning.handle": (*ADMINS, *_HANDLING_UNIT),  # acknowledging and handling them
        "household.file": ("grid_worker", "center_staff", *ADMINS, "mediator", "supervisor"),  # 一户一档, notes
        # 普法宣传 and 先进典型 (residents read the published ones without an account)
        "article.view": STAFF,  # published articles in scope (to hand out on a visit), and their reach
        "article.draft": ("center_staff", *ADMINS),  # the office drafts, edits, submits; case stories, exemplars
        "article.publish": ADMINS,  # 审核发布: publish or return, unpublish, archive
        # 等保 安全审计: the audit log, for the auditor alone (no administrator reads or changes it)
        "audit.view": (AUDITOR,),
    }
)


# A center's staff serve the whole town for these: 回访 is the office's and the centers' job for every case in
# the town (DOMAIN.md), so they see the town's cases; 普法宣传 is written for the whole town. Their other
# capabilities stay at their center.
CENTER_STAFF_TOWN_WIDE = frozenset({"case.view", "case.follow_up", "article.view", "article.draft"})
# Roles whose token names the town of their unit: center staff (above) and liaisons (their own town's cases).
TOWN_BOUND_ROLES = ("center_staff", "liaison")


def roles_for(capability: str) -> tuple[str, ...]:
    """The roles that hold `capability`; an unknown name is a programming error, refused at once."""
    try:
        return CAPABILITIES[capability]
    except KeyError:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(sorted(CAPABILITIES))}") from None


def capabilities_of(role: str) -> list[str]:
    """What a role may do, by capability name (a client shows only the screens a grant can use)."""
    return list(_capabilities_of(role))


@functools.cache
def _capabilities_of(role: str) -> tuple[str, ...]:  # the table is fixed at import: worked out once per role
    return tuple(capability for capability, roles in CAPABILITIES.items() if role in roles)
