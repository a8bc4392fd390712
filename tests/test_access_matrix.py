"""The access matrix: every endpoint of the OpenAPI document, tried by every role of one town against the other.

Two towns of the same shape (测试镇 and 第二镇, in one county), each with every town role and its own residents,
each with a case, an attachment, a household with a member, a visit, a plate job, a spare user and a spare
unit. Each operation of the document is classified from its path and method, never listed by hand:

- an operation with path parameters is tried by every person of each town on the other town's objects (the
  parameters filled from the parameter's name): it must be refused, 404 (not found: nothing leaks) or 403
  (the role may never do this); and on their own town's objects, at least one person must get through
  (the refusal is about the town, not a broken request);
- a list (GET without path parameters) must not show anything of the other town, also when its id query
  parameters name the other town's objects;
- a write without path parameters is sent with its references (village, micro-grid, household, parent unit,
  grant unit) pointing into the other town: it must be refused; pointing into its own town, someone gets
  through;
- public operations and the caller's own (`/api/me`, `/api/notifications`, `/api/auth`) are classified as
  such; an id of someone else's session or message is refused like any other.

An operation the rules cannot classify (a new path parameter, a new write with no body recipe) fails the
suite, so that a new endpoint is covered the day it is added.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from PIL import Image

from notify.outbox import Relay
from server.core.context import Context
from server.prevention.warnings import WarningService
from tests.town import TOWN_PEOPLE, Town, build_twin_town, register_household, resident_case

REFUSED = {403, 404}
# A resident belongs to no town: they report a dispute wherever it is, and a plate on a door answers anyone
# who scans it with the report form (no household data). Their cross-town check is on other people's objects.
RESIDENT_ANYWHERE = {"POST /api/cases", "GET /api/scan/{token}"}
RESIDENTS = ("resident_a", "resident_b")
PASSED = set(range(200, 300)) | {409}  # 409: the case's state refused, after access was granted
PERSONAL = ("/api/me", "/api/notifications", "/api/auth/")
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Side:
    """One town as the matrix sees it: its people, the objects it owns, and what marks its data in a list."""

    town: Town
    name: str
    prefix: str
    ids: dict[str, str] = field(default_factory=dict)
    markers: set[str] = field(default_factory=set)
    county: str = ""  # the county admin's token: one county above both towns

    def unit(self, name: str) -> str:
        return self.town.id(name if name == self.name else self.prefix + name)

    def token(self, who: str) -> str:
        return str(self.town.people[who].token)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, "PNG")
    return buffer.getvalue()


async def fresh_case(api: Any, side: Side) -> str:
    """A case of this town registered by its resident and assigned to 甲村's room."""
    body = resident_case(side.town, village_id=side.unit("甲村"))
    case = await api.post("/api/cases", body, token=side.token("resident_a"))
    assert case.status == 201, case.json
    assigned = await api.post(f"/api/cases/{case.json['id']}/actions/assign", {}, token=side.token("office"))
    assert assigned.status == 200, assigned.json
    side.markers |= {case.json["id"], case.json["number"]}
    return str(case.json["id"])


async def furnish(api: Any, ctx: Context, side: Side) -> None:
    """The objects each operation may name, made through the API as the town's people would."""
    ids, grid = side.ids, side.token("grid_a")
    ids["case_id"] = await fresh_case(api, side)
    attached = await api.post(
        f"/api/cases/{ids['case_id']}/attachments", body=png(), token=side.token("resident_a"), headers={}
    )
    assert attached.status == 201, attached.json
    ids["attachment_id"] = attached.json["attachments"][0]["id"]
    household = await register_household(api, side.unit("甲村微网格"), f"{side.prefix}甲村1组1号", "孙七", grid)
    ids["household_id"] = household["id"]
    member = await api.post(
        f"/api/households/{ids['household_id']}/members", {"name": "赵五", "relation": "户主"}, token=grid
    )
    assert member.status in (200, 201), member.json
    ids["member_id"] = member.json["members"][-1]["id"]
    stored = await ctx.db["households"].find_one({"address": f"{side.prefix}甲村1组1号"})
    ids["token"] = stored["qr_token"]
    visit = await api.post(
        "/api/visits",
        {
            "client_id": uuid.uuid4().hex,
            "household_id": ids["household_id"],
            "purposes": ["policy"],
            "visited_at": datetime.now(UTC).isoformat(),
        },
        token=grid,
    )
    assert visit.status in (200, 201), visit.json
    ids["visit_id"] = visit.json["id"]
    job = await api.post("/api/plates", {"org_id": side.unit("甲村微网格")}, token=grid)
    assert job.status in (200, 201, 202), job.json
    ids["job_id"] = job.json["id"]
    spare_unit = await api.post(
        "/api/orgs",
        {"name": f"{side.prefix}丁村", "kind": "village", "parent_id": side.unit(side.name)},
        token=side.token("office"),
    )
    assert spare_unit.status == 201, spare_unit.json
    ids["org_id"] = spare_unit.json["id"]
    spare_user = await api.post(
        "/api/users",
        {
            "name": f"{side.prefix}备用",
            "phone": f"1360000{len(side.prefix):04d}",
            "grants": [{"role": "mediator", "org_id": side.unit("乙村调解室")}],
        },
        token=side.token("office"),
    )
    assert spare_user.status == 201, spare_user.json
    ids["user_id"] = spare_user.json["id"]
    await Relay(ctx).run_once()  # the notices of the assignment become deliveries and inbox messages
    office_id = side.town.people["office"].user["_id"]
    ids["notification_id"] = str((await ctx.db["inbox"].find_one({"user_id": office_id}))["_id"])
    delivery = await ctx.db["outbox"].find_one({"user_id": {"$in": [p.user["_id"] for p in side.town.people.values()]}})
    assert delivery is not None
    ids["message_id"] = str(delivery["_id"])
    sessions = await ctx.db["sessions"].find_one({"user_id": side.town.people["supervisor"].user["_id"]})
    ids["session_id"] = str(sessions["_id"])
    ids["town_id"] = side.unit(side.name)
    await furnish_incentives(api, side)
    await furnish_assessment(api, ctx, side)
    await furnish_publicity(api, side)
    side.markers |= {ids[k] for k in ("mediator_id", "expert_id", "rating_id", "statement_id", "consultation_id")}
    side.markers |= {ids[k] for k in ("row_id", "run_id", "check_id", "notice_id")}
    side.markers |= {ids["household_id"], ids["visit_id"], ids["org_id"], ids["user_id"], ids["job_id"]}
    side.markers |= {str(p.user["_id"]) for p in side.town.people.values()}
    town_id = side.town.units[side.name]["_id"]
    side.markers |= {str(u["_id"]) for u in await ctx.db["org_units"].find({"path": town_id}).to_list(None)}


async def furnish_incentives(api: Any, side: Side) -> None:
    """A social force in the roster, the town's expert, a rating run, a statement and a consultation."""
    ids, office = side.ids, side.token("office")
    force = {"name": f"{side.prefix}乡贤甲", "force": "乡贤", "org_ids": [side.unit("甲村")]}
    made = await api.post("/api/mediators", force, token=office)
    assert made.status == 201, made.json
    ids["mediator_id"] = made.json["id"]
    experts = await api.get("/api/experts", token=office)
    ids["expert_id"] = next(e["id"] for e in experts.json["items"] if e["town_id"] == ids["town_id"])
    rating = await api.post("/api/ratings", {"period": "2025"}, token=office)
    assert rating.status == 201, rating.json
    ids["rating_id"] = rating.json["id"]
    statement = await api.post("/api/subsidies/statements", {"month": "2026-10"}, token=office)
    assert statement.status == 201, statement.json
    ids["statement_id"] = statement.json["id"]
    asked = await api.post(f"/api/cases/{ids['case_id']}/consultations", consultation(side), token=office)
    assert asked.status == 201, asked.json
    ids["consultation_id"] = asked.json["id"]
    filed = await api.post(
        f"/api/consultations/{ids['consultation_id']}/files",
        body=png(),
        token=side.token("expert"),
        headers={"Content-Type": "image/png"},
    )
    assert filed.status == 201, filed.json
    ids["file_id"] = filed.json["files"][-1]["id"]


async def furnish_assessment(api: Any, ctx: Context, side: Side) -> None:
    """A month of police statistics, a run over the town's villages, a spot check of a closed case, and a
    supervision notice to 甲村."""
    ids, office = side.ids, side.token("office")
    row = {"unit_id": ids["town_id"], "month": "2026-09", "source": "police", "counts": {"dispute_calls": 3}}
    entered = await api.post("/api/source-statistics", row, token=side.token("police"))
    assert entered.status == 201, entered.json
    ids["row_id"] = entered.json["id"]
    run = await api.post("/api/assessment/runs", {"period": "2026-10"}, token=office)
    assert run.status == 201, run.json
    ids["run_id"] = run.json["id"]
    closed = await fresh_case(api, side)
    for who, action, body in (
        ("mediator_a", "accept", {}),
        ("mediator_a", "conclude", {"outcome": "failed_litigation"}),
        ("office", "review_pass", {}),
        ("office", "follow_up_satisfied", {}),
    ):
        done = await api.post(f"/api/cases/{closed}/actions/{action}", body, token=side.token(who))
        assert done.status == 200, (action, done.json)
    ids["closed_case_id"] = closed
    month = datetime.now(UTC).strftime("%Y-%m")
    check = await api.post("/api/spot-checks", {"period": month, "size": 1, "seed": 1}, token=office)
    assert check.status == 201, check.json
    ids["check_id"] = check.json["id"]
    notice = {"unit_id": side.unit("甲村"), "finding": "矩阵测试发现的问题", "deadline": consultation(side)["deadline"]}
    issued = await api.post("/api/supervision-notices", notice, token=side.token("supervisor"))
    assert issued.status == 201, issued.json
    ids["notice_id"] = issued.json["id"]
    ids["key"], ids["year"] = "agreement_rate", "2026"
    await furnish_prevention(api, ctx, side)


async def furnish_prevention(api: Any, ctx: Context, side: Side) -> None:
    """A dispute of two cases, a concern noted on the household, and a warning on a high-risk case."""
    ids, office = side.ids, side.token("office")
    other = await fresh_case(api, side)
    linked = await api.post(
        "/api/disputes", {"case_id": ids["case_id"], "other_case_id": other, "reason": "矩阵测试"}, token=office
    )
    assert linked.status == 200, linked.json
    ids["dispute_id"] = linked.json["id"]
    note = await api.post(f"/api/households/{ids['household_id']}/notes", {"text": "矩阵测试关注"}, token=office)
    assert note.status == 201, note.json
    ids["note_id"] = note.json["id"]
    risky = resident_case(side.town, village_id=side.unit("甲村"), description="对方扬言要同归于尽，情况紧急。")
    made = await api.post("/api/cases", risky, token=side.token("resident_a"))
    assert made.status == 201, made.json
    side.markers |= {made.json["id"], made.json["number"], ids["dispute_id"], ids["note_id"]}
    await WarningService(ctx).risk_round()
    warning = await ctx.db["warnings"].find_one({"case_ids": ObjectId(made.json["id"])})
    ids["warning_id"] = str(warning["_id"])
    side.markers.add(ids["warning_id"])


async def furnish_publicity(api: Any, side: Side) -> None:
    """A draft article of the town's, and a partner system of the Open311 door for it."""
    ids, office = side.ids, side.token("office")
    drafted = await api.post("/api/articles", article(side), token=office)
    assert drafted.status == 201, drafted.json
    ids["article_id"], ids["step"] = drafted.json["id"], "submit"
    registered = await api.post("/api/partners", partner(side), token=office)
    assert registered.status == 201, registered.json
    ids["partner_id"] = registered.json["partner"]["id"]
    side.markers |= {ids["article_id"], ids["partner_id"]}


def article(side: Side) -> dict[str, Any]:
    return {
        "kind": "law",
        "title": f"{side.prefix}普法",
        "body": "<p>矩阵测试</p>",
        "scope_org_id": side.ids["town_id"],
    }


def partner(side: Side) -> dict[str, Any]:
    return {"name": f"{side.prefix}热线", "kind": "hotline", "town_ids": [side.ids["town_id"]], "abilities": ["submit"]}


def consultation(side: Side) -> dict[str, Any]:
    deadline = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    return {"expert_id": side.ids["expert_id"], "question": "请就赔偿标准提供意见", "deadline": deadline}


def path_ids(path: str, side: Side) -> dict[str, str]:
    """The other town's object for each path parameter, by the parameter's name and what the path is about."""
    names = re.findall(r"{(\w+)}", path)
    values = {}
    for name in names:
        key = name
        if name == "message_id":
            key = "notification_id" if path.startswith("/api/notifications") else "message_id"
        if key not in side.ids:
            pytest.fail(f"the access matrix cannot fill {{{name}}} of {path}: add it to `furnish`")
        values[name] = side.ids[key]
    return values


def body_for(method: str, path: str, side: Side) -> tuple[Any, str | None]:
    """A request body whose references point into `side`'s town: (JSON or bytes, content type)."""
    if method in ("get", "delete"):
        return None, None
    if path.endswith(("/attachments", "/files", "/cover")):
        return png(), "image/png"
    if path.startswith("/api/cases/") and "/actions/" in path:
        action = path.rsplit("/", 1)[1]
        return ACTION_SAMPLES.get(action, {}), None
    samples: dict[str, Any] = {
        "/api/cases/{case_id}/info": {"text": "补充一点情况"},
        "/api/cases/{case_id}/rating": {"stars": 5},
        "/api/cases/{case_id}/judicial-confirmation": {"requested": True},
        "/api/cases/{case_id}/sessions": {"at": "2026-11-28T02:00:00Z", "place": "调解室", "mediators": ["调解员"]},
        "/api/households/{household_id}": {"address": f"{side.prefix}甲村1组2号"},
        "/api/households/{household_id}/members": {"name": "钱六", "relation": "子女"},
        "/api/orgs/{org_id}": {"population": 100},
        "/api/users/{user_id}/grants": {"role": "mediator", "org_id": side.unit("甲村调解室")},
        "/api/users/{user_id}/grants/revoke": {"role": "mediator", "org_id": side.unit("乙村调解室")},
        "/api/cases": resident_case(side.town, village_id=side.unit("甲村")),
        "/api/articles": article(side),
        "/api/articles/{article_id}": {"summary": "矩阵测试"},
        "/api/articles/{article_id}/actions/{step}": {},
        "/api/articles/case-story": {"case_id": side.ids["closed_case_id"], "scope_org_id": side.ids["town_id"]},
        "/api/articles/exemplar": {"mediator_id": side.ids["mediator_id"], "scope_org_id": side.ids["town_id"]},
        "/api/partners": partner(side),
        "/api/partners/{partner_id}": {"contact": "矩阵测试"},
        "/api/partners/{partner_id}/revoke": {"reason": "矩阵测试"},
        "/api/mediators": {"name": "五老乙", "force": "五老", "org_ids": [side.unit("乙村")]},
        "/api/mediators/{mediator_id}": {"training_hours": 12},
        "/api/mediators/{mediator_id}/gold": {"period": "2025", "reason": "矩阵测试"},
        "/api/experts/{expert_id}": {"title": "主任医师"},
        "/api/ratings": {"period": "2025-H2", "town_id": side.ids["town_id"]},
        "/api/ratings/{rating_id}/propose": {"overrides": []},
        "/api/ratings/{rating_id}/confirm": {"overrides": []},
        "/api/ratings/{rating_id}/return": {"reason": "矩阵测试"},
        "/api/subsidies/statements": {"month": "2026-09", "town_id": side.ids["town_id"]},
        "/api/subsidies/statements/{statement_id}/corrections": {
            "profile_id": side.ids["mediator_id"],
            "amount": 100,
            "reason": "矩阵测试",
        },
        "/api/cases/{case_id}/consultations": consultation(side),
        "/api/source-statistics": {
            "unit_id": side.ids["town_id"],
            "month": f"20{uuid.uuid4().int % 10:02d}-0{uuid.uuid4().int % 9 + 1}",
            "source": "police",
            "counts": {"dispute_calls": 1},
        },
        "/api/source-statistics/{row_id}": {"counts": {"dispute_calls": 4}, "reason": "矩阵测试"},
        "/api/criminal-incidents": {
            "unit_id": side.unit("甲村"),
            "date": "2026-10-01",
            "place": "村口",
            "summary": "矩阵测试的民转刑记录",
        },
        "/api/assessment/bonuses": {
            "unit_id": side.unit("甲村"),
            "period": "2026-10",
            "points": 1,
            "reason": "矩阵测试",
            "evidence": "文件第1号",
        },
        "/api/assessment/runs": {"scope_id": side.ids["town_id"], "period": "2026-10"},
        "/api/assessment/schemes/{year}": {
            "indicators": [{"figure": "agreement_rate", "weight": 10, "target": 0.9, "rule": "pass_fail"}]
        },
        "/api/spot-checks": {"unit_id": side.ids["town_id"], "period": datetime.now(UTC).strftime("%Y-%m"), "size": 1},
        "/api/spot-checks/{check_id}/results": {"case_id": side.ids["closed_case_id"], "reached": False},
        "/api/supervision-notices": {
            "unit_id": side.unit("乙村"),
            "finding": "矩阵测试发现的问题",
            "deadline": consultation(side)["deadline"],
        },
        "/api/supervision-notices/{notice_id}/answer": {"text": "已按要求整改完毕"},
        "/api/supervision-notices/{notice_id}/accept": {},
        "/api/supervision-notices/{notice_id}/return": {"reason": "矩阵测试"},
        "/api/inspections": {
            "kind": "regular",
            "unit_id": side.unit("甲村"),
            "date": "2026-10-01",
            "findings": ["台账不全"],
        },
        "/api/disputes": {
            "case_id": side.ids["case_id"],
            "other_case_id": side.ids["closed_case_id"],
            "reason": "矩阵测试",
        },
        "/api/disputes/{dispute_id}/unlink": {"case_id": side.ids["case_id"], "reason": "矩阵测试"},
        "/api/disputes/{dispute_id}/lead": {"case_id": side.ids["case_id"], "reason": "矩阵测试"},
        "/api/households/{household_id}/notes": {"text": "矩阵测试关注"},
        "/api/households/{household_id}/notes/{note_id}/done": {"text": "已办"},
        "/api/warnings/{warning_id}/acknowledge": {"note": "矩阵测试"},
        "/api/warnings/{warning_id}/handle": {"note": "矩阵测试"},
        "/api/consultations/{consultation_id}/answer": {"text": "建议依法协商赔偿"},
        "/api/households": {
            "micro_grid_id": side.unit("甲村微网格"),
            "address": f"{uuid.uuid4().hex[:6]}号",
            "members": [{"name": "周八", "relation": "户主"}],
        },
        "/api/visits": {
            "client_id": uuid.uuid4().hex,
            "household_id": side.ids["household_id"],
            "purposes": ["policy"],
            "visited_at": datetime.now(UTC).isoformat(),
        },
        "/api/visits/batch": {
            "visits": [
                {
                    "client_id": uuid.uuid4().hex,
                    "household_id": side.ids["household_id"],
                    "purposes": ["policy"],
                    "visited_at": datetime.now(UTC).isoformat(),
                }
            ]
        },
        "/api/plates": {"org_id": side.unit("乙村微网格")},
        "/api/orgs": {"name": f"新村{uuid.uuid4().hex[:4]}", "kind": "village", "parent_id": side.ids["town_id"]},
        "/api/users": {
            "name": "新人",
            "phone": f"135{uuid.uuid4().int % 10**8:08d}",
            "grants": [{"role": "mediator", "org_id": side.unit("甲村调解室")}],
        },
    }
    if path in samples:
        return samples[path], None
    if path.endswith(
        ("/activate", "/deactivate", "/retry", "/qr/replace", "/read", "/approve", "/report", "/key", "/reset")
    ):
        return None, None
    if path.startswith("/api/subsidies/statements/{statement_id}/confirm"):
        return None, None
    pytest.fail(f"the access matrix has no body for {method.upper()} {path}: add one to `body_for`")


ACTION_SAMPLES: dict[str, dict[str, Any]] = {
    "conclude": {"outcome": "failed_litigation"},
    "extension_request": {"reason": "需要更多时间", "days": 3},
    "supervise": {"reason": "督办", "deadline": "2026-12-31T00:00:00Z"},
    **{
        a: {"reason": "矩阵测试"}
        for a in (
            "escalate",
            "extension_reject",
            "follow_up_unsatisfied",
            "recall",
            "refer_out",
            "reject",
            "return",
            "review_fail",
            "suspend_request",
        )
    },
}

# Writes without path parameters whose subject is the caller, the settings (their own test covers towns), or
# a file import (tests/test_two_towns.py shows a court list and a register cannot reach into another town).
NOT_PLACED = {
    "/api/cases/import/court": "tests/test_two_towns.py",
    "/api/households/import": "tests/test_households.py",
    "/api/settings/deadlines": "tests/test_settings.py",
    "/api/settings/routing-rules": "tests/test_settings.py",
    "/api/settings/rating-scheme": "tests/test_mediators.py",
    "/api/settings/subsidy-rules": "tests/test_mediators.py",
    "/api/source-statistics/import": "tests/test_assessment.py",
    "/api/settings/risk-rules": "tests/test_prevention.py",
    "/api/mediators/me/publicity-consent": "the caller's own profile (tests/test_articles.py)",
}
# Read alike by both towns: the county's assessment scheme is the same for every town in it.
COUNTY_WIDE = {"GET /api/assessment/schemes/{year}": "the county's scheme for the year, one for all its towns"}
# Required query parameters of a list or a figure, pointing into a town where they name one.
QUERY_SAMPLES = {"period": lambda side: "2026-10", "unit_id": lambda side: side.ids["town_id"]}


def refused(answer: Any, *also: int) -> bool:
    """Refused outright, or (a batch) every item refused."""
    if answer.status in REFUSED or answer.status in also:
        return True
    results: list[dict[str, Any]] = []
    if answer.status == 200 and answer.body.startswith(b"{"):
        results = answer.json.get("results") or []
    return bool(results) and all(r["status"] == "error" for r in results)


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    passed: dict[str, set[str]] = field(default_factory=dict)


async def call(api: Any, method: str, path: str, token: str, body: Any, content_type: str | None) -> Any:
    if isinstance(body, bytes):
        return await api.request(method.upper(), path, body=body, token=token, headers={"Content-Type": content_type})
    if body is None:
        return await api.request(method.upper(), path, token=token)
    return await api.request(method.upper(), path, json_body=body, token=token)


@pytest.fixture
async def sides(api, ctx: Context, login, town) -> tuple[Side, Side]:
    twin = await build_twin_town(ctx, login, town)
    county = town.people["county"].token
    first, second = Side(town, "测试镇", "", county=county), Side(twin, "第二镇", "二", county=county)
    await furnish(api, ctx, first)
    await furnish(api, ctx, second)
    return first, second


async def test_no_role_of_one_town_reaches_the_other(api, ctx: Context, sides) -> None:
    document = (await api.get("/api/openapi.json")).json
    outcome = Outcome()
    for path, operations in sorted(document["paths"].items()):
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            if operation.get("security") == []:
                continue  # public: reference data and the ways in, answered alike to anyone
            if path == "/api/auth/logout":
                continue  # ends the caller's own session; carries no id
            if path.startswith("/api/audit"):
                continue  # the county's 安全审计员 reads the whole log; no town role does (tests/test_audit.py)
            for mine, theirs in (sides, sides[::-1]):
                await try_operation(api, ctx, method, path, operation, mine, theirs, outcome)
    unreached = [op for op, who in outcome.passed.items() if not who]
    assert not outcome.problems, "\n".join(outcome.problems)
    assert not unreached, "nobody got through on their own town's objects: " + ", ".join(unreached)


async def try_operation(
    api: Any, ctx: Context, method: str, path: str, operation: dict[str, Any], mine: Side, theirs: Side, out: Outcome
) -> None:
    if "{" not in path and (path.startswith(PERSONAL) or path in NOT_PLACED):
        return
    for side in (mine, theirs):  # a plate replaced by an earlier operation has a new token
        household = await ctx.db["households"].find_one({"_id": ObjectId(side.ids["household_id"])})
        side.ids["token"] = household["qr_token"]
    furnished_case = mine.ids["case_id"]
    if path.startswith("/api/cases/{case_id}") and method != "get":
        mine.ids["case_id"] = await fresh_case(api, mine)  # each write tried on a case of its own
    try:
        for who in TOWN_PEOPLE:
            await try_as(api, who, method, path, operation, mine, theirs, out)
        if operation.get("x-roles") == ["county_admin"]:
            # The county's own decisions (confirming, honours): no town role gets through (above), and the
            # county, whose grant spans both towns, does.
            await county_gets_through(api, method, path, mine, out)
    finally:
        mine.ids["case_id"] = furnished_case


async def try_as(
    api: Any, who: str, method: str, path: str, operation: dict[str, Any], mine: Side, theirs: Side, out: Outcome
) -> None:
    name, token = f"{method.upper()} {path}", mine.token(who)
    anywhere = who in RESIDENTS and name in RESIDENT_ANYWHERE
    if method == "get" and "{" not in path:
        await check_list(api, name, path, operation, token, who, mine, theirs, out)
        return
    url, own_url = path.format(**path_ids(path, theirs)), path.format(**path_ids(path, mine))
    if query := required_query(operation, theirs):
        url, own_url = f"{url}?{query}", f"{own_url}?{required_query(operation, mine)}"
        if "unit_id" not in query:  # a unit named nowhere is the caller's own: name the other town's
            url += f"&unit_id={theirs.ids['town_id']}"
    body, content_type = body_for(method, path, theirs)
    answer = await call(api, method, url, token, body, content_type)
    # A write that names its place in the body may also be refused as invalid: the reference is not in reach.
    if name in COUNTY_WIDE:
        pass
    elif not anywhere and not refused(answer, *(() if "{" in path else (422,))):
        out.problems.append(f"{name}: {mine.prefix or '一'}镇 {who} reaching the other town → {answer.status}")
    if path.startswith(PERSONAL):
        return  # someone else's session or message; the caller's own are theirs by construction
    body, content_type = body_for(method, path, mine)
    own = await call(api, method, own_url, token, body, content_type)
    out.passed.setdefault(name, set())
    if own.status in PASSED:
        out.passed[name].add(who)


async def county_gets_through(api: Any, method: str, path: str, mine: Side, out: Outcome) -> None:
    body, content_type = body_for(method, path, mine)
    own = await call(api, method, path.format(**path_ids(path, mine)), mine.county, body, content_type)
    if own.status in PASSED:
        out.passed.setdefault(f"{method.upper()} {path}", set()).add("county")


ID_QUERY = {"org_id": "town_id", "household_id": "household_id", "parent_id": "town_id", "visitor_id": "user_id"}
ID_QUERY |= {"grid_worker_id": "user_id", "unit_id": "town_id", "scope_id": "town_id", "county_id": "town_id"}
ID_QUERY |= {"town_id": "town_id"}


def required_query(operation: dict[str, Any], side: Side) -> str:
    """The operation's required query parameters, filled for `side`'s town."""
    pairs = [
        f"{p['name']}={QUERY_SAMPLES[p['name']](side)}"
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    ]
    return "&".join(pairs)


async def check_list(
    api: Any,
    name: str,
    path: str,
    operation: dict[str, Any],
    token: str,
    who: str,
    mine: Side,
    theirs: Side,
    out: Outcome,
) -> None:
    required = required_query(operation, mine)
    queries = [f"?{required}" if required else ""]
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query" and parameter["name"] in ID_QUERY:
            other = f"{parameter['name']}={theirs.ids[ID_QUERY[parameter['name']]]}"
            queries.append(f"?{required}&{other}" if required else f"?{other}")
        elif parameter["in"] == "query" and parameter["name"].endswith("_id"):
            pytest.fail(f"the access matrix does not know the query parameter {parameter['name']} of {path}")
    for query in queries:
        answer = await api.get(path + query, token=token)
        if answer.status in REFUSED | {422}:
            continue
        if answer.status != 200:
            out.problems.append(f"{name}{query}: {who} → {answer.status}")
            continue
        if not answer.headers.get("Content-Type", "").startswith("application/json"):
            if query != queries[0]:  # a file about the other town's unit
                out.problems.append(f"{name}{query}: {mine.prefix or '一'}镇 {who} got the other town's file")
            continue
        text = answer.body.decode()
        leaked = sorted(m for m in theirs.markers if m in text)
        if leaked:
            out.problems.append(f"{name}{query}: {mine.prefix or '一'}镇 {who} sees the other town's {leaked[:3]}")
