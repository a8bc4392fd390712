"""Who hears of a change, and what they read: addressed in the same write as the change, in words of their
own, once for the resident, and back to the liaison who referred the case."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from notify.outbox import EVENT_TEXT, SMS_EVENTS, URGENT, Relay
from server.core.context import Context
from tests.town import resident_case
from tests.unit.test_case_rules import NOTICES

# Every (event, audience) the system sends besides the lifecycle's own (`NOTICES`).
OTHER_NOTICES = [
    ("case_registered", "office"),
    ("risk_high", "office"),
    ("risk_high", "unit"),
    ("case_info_added", "unit"),
    *((f"warning_{level}", audience) for level in ("yellow", "red") for audience in ("unit", "office")),
]
SENT = sorted({pair for pairs in NOTICES.values() for pair in pairs} | set(OTHER_NOTICES))


async def inbox(api, account) -> list[dict[str, Any]]:
    return (await api.get("/api/notifications?page_size=100", token=account.token)).json["items"]


async def act(api, town, who: str, case_id: str, action: str, **body: Any) -> dict[str, Any]:
    answer = await api.post(f"/api/cases/{case_id}/actions/{action}", body, token=town.people[who].token)
    assert answer.status == 200, (action, answer.json)
    return answer.json


@pytest.mark.parametrize(("event", "audience"), SENT)
def test_every_event_says_what_happened_to_each_audience(event: str, audience: str) -> None:
    template = EVENT_TEXT[event][audience]  # no generic fallback exists: a missing text fails here
    text = template.format(
        number="SY-20261128-0042",
        category="邻里纠纷",
        outcome="调解成功",
        deadline="办结",
        tier="县级",
        external_ref="X1",
    )
    assert "SY-20261128-0042" in text
    assert "有新进展" not in text
    assert audience in SMS_EVENTS  # every audience has an SMS policy (possibly in-app only)


def test_each_audience_gets_its_own_words() -> None:
    texts = [EVENT_TEXT[event][audience] for event, audience in SENT]
    assert len(set(texts)) == len(texts)


async def test_notices_go_to_whom_the_change_concerned_even_if_the_relay_comes_late(api, ctx: Context, town) -> None:
    resident, room = town.people["resident_a"], town.people["mediator_a"]
    # assign → return before the relay runs: the room was assigned, so the room hears of it.
    first = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await act(api, town, "office", first, "assign")
    await act(api, town, "mediator_a", first, "return", reason="不属于本村")
    # assign → recall: the room that lost the case is told.
    second = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await act(api, town, "office", second, "assign")
    await act(api, town, "office", second, "recall", reason="改派")
    # escalate twice: village → town center → county committee, each unit told of its own.
    third = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await act(api, town, "office", third, "assign")
    await act(api, town, "mediator_a", third, "escalate", reason="村里调不了")
    await act(api, town, "center", third, "escalate", reason="需专业调委会")
    await Relay(ctx).run_once()
    room_events = sorted((m["case_id"], m["event"]) for m in await inbox(api, room))
    assert room_events == sorted(
        [(first, "case_assigned"), (second, "case_assigned"), (second, "case_recalled"), (third, "case_assigned")]
    )
    center_events = [(m["case_id"], m["event"], m["text"]) for m in await inbox(api, town.people["center"])]
    assert [(c, e) for c, e, _ in center_events] == [(third, "case_escalated")]
    assert "镇级" in center_events[0][2]
    county_events = [(m["case_id"], m["event"], m["text"]) for m in await inbox(api, town.people["family"])]
    assert [(c, e) for c, e, _ in county_events] == [(third, "case_escalated")]
    assert "县级" in county_events[0][2]


async def test_the_resident_hears_of_each_change_once(api, ctx: Context, town) -> None:
    resident = town.people["resident_a"]
    case_id = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await act(api, town, "office", case_id, "assign")
    await act(api, town, "mediator_a", case_id, "return", reason="不属于本村")
    await act(api, town, "office", case_id, "assign")
    await act(api, town, "office", case_id, "recall", reason="改派")
    await act(api, town, "office", case_id, "assign")
    await act(api, town, "mediator_a", case_id, "escalate", reason="村里调不了")
    await act(api, town, "center", case_id, "escalate", reason="需专业调委会")
    await Relay(ctx).run_once()
    number = (await api.get(f"/api/cases/{case_id}", token=resident.token)).json["number"]
    texts = [m["text"] for m in reversed(await inbox(api, resident))]
    assert texts == [
        f"您反映的问题（{number}）已交调解组织办理。",
        f"您反映的问题（{number}）已转由镇级调解组织办理。",
        f"您反映的问题（{number}）已转由县级调解组织办理。",
    ]


async def test_a_draft_is_not_called_submitted(api, town) -> None:
    resident = town.people["resident_a"]
    draft = await api.post("/api/cases", resident_case(town, draft=True), token=resident.token)
    assert [e["label"] for e in draft.json["timeline"]] == ["您保存了草稿（尚未提交）"]
    submitted = await api.post(f"/api/cases/{draft.json['id']}/actions/submit", {}, token=resident.token)
    assert [e["label"] for e in submitted.json["timeline"]] == ["您保存了草稿（尚未提交）", "您提交了诉求"]


async def test_a_high_risk_registration_alerts_the_office_and_the_unit_at_once_even_at_night(
    api, ctx: Context, town, other_town
) -> None:
    ctx.clock.set(datetime(2026, 11, 28, 15, 30, tzinfo=UTC))  # 23:30 in the town: quiet hours
    body = resident_case(town, description="他说再不还钱就拿刀砍死我们全家，我们很害怕。")
    case = await api.post("/api/cases", body, token=town.people["resident_a"].token)
    assert case.status == 201
    await Relay(ctx).run_once()
    office = [m["event"] for m in await inbox(api, town.people["office"])]
    assert sorted(office) == ["case_registered", "risk_high"]
    assert await inbox(api, other_town["admin"]) == []  # the next town's office hears nothing
    assert await inbox(api, other_town["staff"]) == []
    center = [m for m in await inbox(api, town.people["center"])]  # the rules send a high risk to the town center
    assert [m["event"] for m in center] == ["risk_high"]
    assert "高风险" in center[0]["text"]
    assert "risk_high" in URGENT
    sms = await ctx.db["outbox"].find({"event": "risk_high", "channel": "sms"}).to_list(None)
    assert len(sms) == 2
    assert all(m["urgent"] for m in sms)


async def test_the_liaison_who_referred_a_case_hears_when_it_is_accepted_and_concluded(api, ctx: Context, town) -> None:
    police = town.people["police"]
    referral = resident_case(
        town,
        channel="police_referral",
        external_ref="JQ2026112800123",
        received_at="2026-11-28T01:00:00Z",
        description="邻居因停车位争执报警，民警现场劝离后转来调解。",
    )
    case_id = (await api.post("/api/cases", referral, token=police.token)).json["id"]
    await act(api, town, "office", case_id, "assign", org_id=town.id("mediation中心"))
    await act(api, town, "center", case_id, "accept")
    await act(api, town, "center", case_id, "conclude", outcome="failed_litigation", note="双方分歧较大")
    await Relay(ctx).run_once()
    texts = sorted(m["text"] for m in await inbox(api, police))
    assert len(texts) == 2
    assert any("JQ2026112800123" in t and "已由调解组织签收" in t for t in texts)
    assert any("调解未成，已引导通过诉讼解决" in t for t in texts)


async def test_a_county_escalation_lands_at_the_county_never_back_in_the_town(api, ctx: Context, town) -> None:
    """难事不出县: no committee for the category → the county's general mediation center; none → a clear 409."""
    resident = town.people["resident_a"]
    case_id = (await api.post("/api/cases", resident_case(town, category="neighbour"), token=resident.token)).json["id"]
    await act(api, town, "office", case_id, "assign")
    await act(api, town, "mediator_a", case_id, "escalate", reason="村里调不了")
    refused = await api.post(
        f"/api/cases/{case_id}/actions/escalate", {"reason": "需县里调处"}, token=town.people["center"].token
    )
    assert (refused.status, refused.error_code) == (409, "county_target_missing")
    stays = (await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json
    assert (stays["tier"], stays["assigned_org_id"]) == ("town", town.id("mediation中心"))
    unit = {
        "name": "测试县矛盾纠纷调解中心",
        "kind": "center",
        "parent_id": town.id("测试县"),
        "center_type": "mediation",
    }
    county_center = await api.post("/api/orgs", unit, token=town.people["county"].token)
    assert county_center.status == 201
    escalated = await act(api, town, "center", case_id, "escalate", reason="需县里调处")
    assert (escalated["tier"], escalated["assigned_org_id"]) == ("county", county_center.json["id"])
