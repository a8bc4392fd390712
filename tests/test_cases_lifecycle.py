"""The case lifecycle: every path of the state machine, every illegal move refused, races decided once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import product
from typing import Any

from bson import ObjectId

from schemas.cases import ACTION_BODIES
from server.cases.actions import ACTIONS
from server.core.context import Context
from server.core.vocabulary import STATE_LABELS
from tests.town import resident_case


async def act(api, town, who: str, case_id: str, action: str, expect: int = 200, **body: Any) -> Any:
    response = await api.post(f"/api/cases/{case_id}/actions/{action}", body, token=town.people[who].token)
    assert response.status == expect, (action, response.json)
    return response.json


async def submit(api, town, who: str = "resident_a", **overrides) -> dict:
    response = await api.post("/api/cases", resident_case(town, **overrides), token=town.people[who].token)
    assert response.status == 201, response.json
    return response.json


AGREEMENT: dict[str, Any] = {
    "outcome": "agreement",
    "agreement": {
        "parties": ["张三", "李四"],
        "facts": "装修占用通道",
        "terms": ["李四于三日内清理通道", "双方今后友好相处"],
        "performance_deadline": "2026-12-31",
    },
}


async def test_one_case_walks_every_path(api, ctx: Context, town) -> None:
    mine = await submit(api, town)
    case_id = mine["id"]
    assert mine["state"] == "registered"
    assert mine["number"].startswith("SY-")
    assert mine["status"] == "已登记，正在安排调解组织"

    staff = (await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json
    assert staff["suggested"]["org_id"] == town.id("甲村调解室")
    assert staff["suggested"]["tier"] == "village"
    assert "assign" in staff["allowed_actions"]

    case = await act(api, town, "office", case_id, "assign")
    assert (case["state"], case["tier"], case["assigned_org_id"]) == ("assigned", "village", town.id("甲村调解室"))
    assert set(case["deadlines"]) == {"accept", "conclude"}
    case = await act(api, town, "mediator_a", case_id, "return", reason="不属于本调解室")
    assert case["state"] == "registered"
    assert case["deadlines"] == {}
    await act(api, town, "office", case_id, "assign")
    case = await act(api, town, "mediator_a", case_id, "accept")
    assert case["state"] == "in_mediation"
    case = await act(api, town, "office", case_id, "recall", reason="重新分派")
    assert case["state"] == "registered"
    await act(api, town, "office", case_id, "assign")
    await act(api, town, "mediator_a", case_id, "accept")

    # Escalate twice: village → town → county.
    case = await act(api, town, "mediator_a", case_id, "escalate", reason="村里调解不了")
    assert (case["state"], case["tier"], case["assigned_org_id"]) == ("assigned", "town", town.id("mediation中心"))
    await act(api, town, "center", case_id, "accept")
    case = await act(api, town, "center", case_id, "escalate", reason="需要专业调委会")
    assert (case["tier"], case["assigned_org_id"]) == ("county", town.id("县婚姻家庭调委会"))
    await act(api, town, "family", case_id, "escalate", expect=409, reason="再上报")  # county is the top
    await act(api, town, "family", case_id, "accept")

    # Suspension stops the clock; an extension moves the deadline.
    due = (await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json["deadlines"]["conclude"][
        "due"
    ]
    await act(api, town, "family", case_id, "suspend_request", reason="当事人住院")
    await act(api, town, "family", case_id, "suspend_approve", expect=403)
    case = await act(api, town, "county", case_id, "suspend_approve")
    assert case["suspended"] is not None
    assert case["status"] == "暂停办理（挂起）"
    ctx.clock.advance(timedelta(days=2))
    case = await act(api, town, "family", case_id, "resume")
    assert case["suspended"] is None
    moved = case["deadlines"]["conclude"]["due"]
    assert moved > due
    await act(api, town, "family", case_id, "extension_request", reason="需要鉴定", days=10)
    case = await act(api, town, "county", case_id, "extension_approve")
    assert case["extension"]["status"] == "approved"
    assert case["deadlines"]["conclude"]["due"] > moved
    case = await act(
        api, town, "supervisor", case_id, "supervise", reason="挂牌督办", deadline="2027-01-15T00:00:00+08:00"
    )
    assert case["supervised"]["note"] == "挂牌督办"

    # Mediation sessions, then conclude; review fails once, follow-up is unsatisfied once.
    session = {
        "at": "2026-11-28T10:00:00+08:00",
        "place": "县调委会调解室",
        "mediators": ["family"],
        "parties_present": ["张三", "李四"],
        "participants": [{"name": "王老", "social_role": "五老"}],
        "experts": ["律师甲"],
        "notes": "双方同意协商",
    }
    assert (await api.post(f"/api/cases/{case_id}/sessions", session, token=town.people["family"].token)).status == 201
    case = await act(api, town, "family", case_id, "conclude", **AGREEMENT)
    assert (case["state"], case["outcome"]["type"]) == ("concluded", "agreement")
    case = await act(api, town, "county", case_id, "review_fail", reason="协议条款不具体")
    assert case["state"] == "in_mediation"
    await act(api, town, "family", case_id, "conclude", **AGREEMENT)
    case = await act(api, town, "county", case_id, "review_pass")
    assert (case["state"], list(case["deadlines"])) == ("follow_up", ["follow_up"])
    case = await act(api, town, "office", case_id, "follow_up_unsatisfied", reason="对方未履行")
    assert case["state"] == "in_mediation"
    await act(api, town, "family", case_id, "conclude", **AGREEMENT)
    await act(api, town, "county", case_id, "review_pass")
    rating = await api.post(
        f"/api/cases/{case_id}/rating", {"stars": 5, "comment": "满意"}, token=town.people["resident_a"].token
    )
    assert rating.status == 200
    case = await act(api, town, "office", case_id, "follow_up_satisfied")
    assert case["state"] == "closed"

    actions = [e["action"] for e in case["timeline"]]
    assert actions[:4] == ["submit", "assign", "return", "assign"]
    assert actions.count("escalate") == 2
    assert {
        "suspend_request",
        "suspend_approve",
        "resume",
        "extension_request",
        "extension_approve",
        "supervise",
    } <= set(actions)
    assert actions[-1] == "follow_up_satisfied"

    resident_view = (await api.get(f"/api/cases/{case_id}", token=town.people["resident_a"].token)).json
    assert resident_view["status"] == "已办结：调解成功，已签订调解协议"
    seen = [e["action"] for e in resident_view["timeline"]]
    assert "return" not in seen
    assert "review_fail" not in seen
    assert "suspend_request" not in seen
    assert all(e["note"] is None for e in resident_view["timeline"] if e["action"] != "rate")
    assert "parties" not in resident_view
    assert "sessions" not in resident_view

    pdf = await api.get(f"/api/cases/{case_id}/agreement.pdf", token=town.people["resident_a"].token)
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.body.startswith(b"%PDF")
    judicial = await api.post(
        f"/api/cases/{case_id}/judicial-confirmation", {"requested": True}, token=town.people["family"].token
    )
    assert judicial.json["judicial_confirmation"] is True


async def test_reject_refer_out_and_withdraw(api, town) -> None:
    first = await submit(api, town)
    await act(api, town, "office", first["id"], "reject", expect=422)  # a reason is required
    case = await act(api, town, "office", first["id"], "reject", reason="不属于人民调解范围")
    assert (case["state"], case["outcome"]["type"]) == ("rejected", "not_accepted")
    mine = (await api.get(f"/api/cases/{first['id']}", token=town.people["resident_a"].token)).json
    assert mine["timeline"][-1]["note"] == "不属于人民调解范围"  # the resident is told why

    second = await submit(api, town)
    await act(api, town, "office", second["id"], "assign")
    await act(api, town, "mediator_a", second["id"], "accept")
    case = await act(
        api,
        town,
        "mediator_a",
        second["id"],
        "refer_out",
        reason="涉及刑事",
        outcome="transferred_admin",
        referred_to="派出所",
    )
    assert (case["state"], case["outcome"]["referred_to"]) == ("concluded", "派出所")

    third = await submit(api, town)
    case = await act(api, town, "resident_a", third["id"], "withdraw", reason="已自行和解")
    assert (case["state"], case["status"]) == ("closed", "已办结：申请人撤回")


async def test_concluding_with_agreement_needs_the_agreement(api, town) -> None:
    case = await submit(api, town)
    await act(api, town, "office", case["id"], "assign")
    await act(api, town, "mediator_a", case["id"], "accept")
    response = await api.post(
        f"/api/cases/{case['id']}/actions/conclude", {"outcome": "agreement"}, token=town.people["mediator_a"].token
    )
    assert response.status == 422
    fields = {d["field"] for d in response.json["error"]["details"]}
    assert fields == {"agreement.parties", "agreement.terms", "agreement.performance_deadline"}


STATES = list(STATE_LABELS)
ILLEGAL = [(s, a) for s, a in product(STATES, ACTIONS) if s not in ACTIONS[a].from_states]


async def test_every_illegal_state_action_pair_is_409_and_changes_nothing(api, ctx: Context, town, login) -> None:
    everyone = await login(
        ("town_admin", town.units["测试县"]["_id"]),
        ("county_admin", town.units["测试县"]["_id"]),
        ("mediator", town.units["测试县"]["_id"]),
        ("center_staff", town.units["测试县"]["_id"]),
        ("supervisor", town.units["测试县"]["_id"]),
        ("resident", None),
    )
    case_id = (await submit(api, town))["id"]
    cases = ctx.db["cases"]
    await cases.update_one({"_id": ObjectId(case_id)}, {"$set": {"resident_id": everyone.user["_id"]}})
    assert len(ILLEGAL) > 100
    for state, action in ILLEGAL:
        await cases.update_one({"_id": ObjectId(case_id)}, {"$set": {"state": state}})
        before = await cases.find_one({"_id": ObjectId(case_id)})
        every_field = {
            "reason": "测试",
            "days": 3,
            "outcome": "failed_litigation",
            "deadline": "2027-01-01T00:00:00+08:00",
        }
        body = {k: v for k, v in every_field.items() if k in ACTION_BODIES[action].model_fields}  # a valid request
        response = await api.post(f"/api/cases/{case_id}/actions/{action}", body, token=everyone.token)
        assert response.status == 409, (state, action, response.json)
        assert response.error_code == "case_state_conflict"
        assert response.json["error"]["details"]["state"] == state
        assert await cases.find_one({"_id": ObjectId(case_id)}) == before, (state, action)


async def test_a_stale_version_is_409(api, town) -> None:
    case = await submit(api, town)
    staff = (await api.get(f"/api/cases/{case['id']}", token=town.people["office"].token)).json
    await act(api, town, "office", case["id"], "assign", version=staff["version"])
    response = await api.post(
        f"/api/cases/{case['id']}/actions/supervise",
        {"version": staff["version"], "reason": "督办", "deadline": "2027-01-01T00:00:00+08:00"},
        token=town.people["office"].token,
    )
    assert response.status == 409
    assert response.error_code == "case_version_conflict"
    assert "supervise" in response.json["error"]["details"]["allowed_actions"]


async def test_two_concurrent_transitions_one_wins(api, town) -> None:
    for _ in range(3):
        case = await submit(api, town)
        await act(api, town, "office", case["id"], "assign")
        accept = api.post(f"/api/cases/{case['id']}/actions/accept", {}, token=town.people["mediator_a"].token)
        give_back = api.post(
            f"/api/cases/{case['id']}/actions/return", {"reason": "不是我们的"}, token=town.people["mediator_a"].token
        )
        results = await asyncio.gather(accept, give_back)
        assert sorted(r.status for r in results) == [200, 409]
        loser = next(r for r in results if r.status == 409)
        assert loser.error_code in ("case_state_conflict", "case_version_conflict")


async def test_wrong_roles_are_forbidden(api, town) -> None:
    case = await submit(api, town)
    await act(api, town, "mediator_a", case["id"], "reject", expect=403, reason="x")
    await act(api, town, "office", case["id"], "assign")
    await act(api, town, "mediator_b", case["id"], "accept", expect=404)  # another village: cannot even see it
    await act(api, town, "resident_a", case["id"], "accept", expect=403)


async def test_extension_can_be_refused_and_reveal_is_audited(api, ctx: Context, town) -> None:
    case = await submit(api, town)
    await act(api, town, "office", case["id"], "assign")
    await act(api, town, "mediator_a", case["id"], "accept")
    await act(api, town, "mediator_a", case["id"], "extension_request", reason="需要时间", days=5)
    await act(api, town, "mediator_a", case["id"], "extension_request", expect=409, reason="再申请", days=5)
    refused = await act(api, town, "office", case["id"], "extension_reject", reason="期限充足")
    assert refused["extension"]["status"] == "rejected"

    masked = (await api.get(f"/api/cases/{case['id']}", token=town.people["mediator_a"].token)).json
    assert masked["parties"][0]["phone"] == "138****5678"
    full = (
        await api.get(
            f"/api/cases/{case['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
            token=town.people["mediator_a"].token,
        )
    ).json
    assert full["parties"][0]["phone"] == "13812345678"
    audit = [a for a in await ctx.audit.for_target("case", ObjectId(case["id"])) if a["action"] != "case.state"]
    assert [(a["action"], a["actor_id"]) for a in audit] == [("case.reveal", town.people["mediator_a"].user["_id"])]
    denied = await api.get(
        f"/api/cases/{case['id']}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
        token=town.people["supervisor"].token,
    )
    assert (denied.status, denied.error_code) == (403, "reveal_forbidden")
