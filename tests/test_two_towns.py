"""Two towns in one county: a liaison, a court list or a referral of one town never reaches into the other."""

from __future__ import annotations

from typing import Any

from server.core.context import Context
from server.orgs.tree import OrgService
from tests.town import resident_case


async def police_of_second_town(ctx: Context, login, other_town: dict[str, Any]) -> Any:
    center = await OrgService(ctx).create(
        name="第二镇警源治理中心",
        kind="center",
        parent_id=other_town["town"]["_id"],
        now=ctx.clock.now(),
        center_type="police",
    )
    return await login(("liaison", center["_id"], "police"), name="第二镇民警")


def referral(town, village_id: str, ref: str) -> dict[str, Any]:
    return resident_case(
        town,
        channel="police_referral",
        village_id=village_id,
        external_ref=ref,
        received_at="2026-11-28T01:00:00Z",
        description="邻居因停车位争执报警，民警现场劝离后转来调解。",
    )


async def test_a_liaison_sees_only_the_referrals_of_their_own_town(api, ctx: Context, login, town, other_town) -> None:
    ours, theirs = town.people["police"], await police_of_second_town(ctx, login, other_town)
    mine = await api.post("/api/cases", referral(town, town.id("甲村"), "JQ-A-1"), token=ours.token)
    assert mine.status == 201
    second = await api.post(
        "/api/cases", referral(town, str(other_town["village"]["_id"]), "JQ-B-1"), token=theirs.token
    )
    assert second.status == 201
    for liaison, own, other in ((ours, mine, second), (theirs, second, mine)):
        assert (await api.get(f"/api/cases/{own.json['id']}", token=liaison.token)).status == 200
        assert (await api.get(f"/api/cases/{other.json['id']}", token=liaison.token)).status == 404
        listed = await api.get("/api/cases", token=liaison.token)
        assert [c["id"] for c in listed.json["items"]] == [own.json["id"]]


async def test_a_liaison_cannot_hand_over_a_dispute_located_in_another_town(api, town, other_town) -> None:
    elsewhere = referral(town, str(other_town["village"]["_id"]), "JQ-A-2")
    refused = await api.post("/api/cases", elsewhere, token=town.people["police"].token)
    assert (refused.status, refused.error_code) == (404, "not_found")


async def test_the_court_list_matches_only_its_own_towns_villages(api, ctx: Context, town, other_town) -> None:
    csv_text = (
        "案号,收案日期,纠纷类别,申请人,被申请人,村（社区）,案情\n"
        "(2026)浙0782民诉前301号,2026-11-20,债务纠纷,周一,吴二,丙村,借款五万元到期未还\n"  # 丙村 is 第二镇's
    )
    answer = await api.post(
        "/api/cases/import/court",
        body=csv_text.encode(),
        headers={"Content-Type": "text/csv"},
        token=town.people["court"].token,
    )
    assert answer.json["created"] == 0
    assert answer.json["errors"] == [{"row": 2, "field": "village", "message": "找不到该村（社区）"}]
    assert await ctx.db["cases"].count_documents({}) == 0


async def test_a_case_is_assigned_and_escalated_only_within_its_reach(api, town, other_town) -> None:
    office, room = town.people["office"], town.people["mediator_a"]
    case_id = (await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)).json["id"]
    their_village = str(other_town["village"]["_id"])
    refused = await api.post(f"/api/cases/{case_id}/actions/assign", {"org_id": their_village}, token=office.token)
    assert (refused.status, refused.json["error"]["details"][0]["field"]) == (422, "org_id")
    county_committee = town.id("县婚姻家庭调委会")
    sideways = await api.post(f"/api/cases/{case_id}/actions/assign", {"org_id": county_committee}, token=office.token)
    assert sideways.status == 200  # a county committee of the case's own county is within reach
    case_id = (await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)).json["id"]
    await api.post(f"/api/cases/{case_id}/actions/assign", {}, token=office.token)
    for target in (their_village, town.id("乙村调解室"), county_committee):  # not the next tier up
        wrong = await api.post(
            f"/api/cases/{case_id}/actions/escalate", {"reason": "上报", "org_id": target}, token=room.token
        )
        assert (wrong.status, wrong.json["error"]["details"][0]["field"]) == (422, "org_id"), target
    right = await api.post(
        f"/api/cases/{case_id}/actions/escalate",
        {"reason": "上报", "org_id": town.id("mediation中心")},
        token=room.token,
    )
    assert (right.status, right.json["tier"]) == (200, "town")


async def test_a_town_admin_cannot_act_on_someone_who_also_serves_above_the_town(api, login, town) -> None:
    county_admin = await login(
        ("county_admin", town.units["测试县"]["_id"]), ("mediator", town.units["甲村调解室"]["_id"]), name="兼职"
    )
    office, county = town.people["office"].token, town.people["county"].token
    for path, body in (
        (f"/api/users/{county_admin.id}/deactivate", None),
        (f"/api/users/{county_admin.id}/grants/revoke", {"role": "mediator", "org_id": town.id("甲村调解室")}),
    ):
        refused = await api.post(path, body, token=office)
        assert (refused.status, refused.error_code) == (403, "user_out_of_reach"), path
    assert (await api.post(f"/api/users/{county_admin.id}/deactivate", None, token=county)).status == 200


async def test_numbers_typed_into_free_text_are_masked_like_the_fields(api, ctx: Context, town) -> None:
    text = "对方电话13912345678，身份证号330782198001011234，多次上门吵闹。"
    resident, office = town.people["resident_a"], town.people["office"]
    case_id = (await api.post("/api/cases", resident_case(town, description=text), token=resident.token)).json["id"]
    await api.post(f"/api/cases/{case_id}/actions/assign", {"note": "联系人13700001111"}, token=office.token)
    staff = (await api.get(f"/api/cases/{case_id}", token=office.token)).json
    assert staff["description"] == "对方电话139****5678，身份证号330***********1234，多次上门吵闹。"
    assert staff["timeline"][-1]["note"] == "联系人137****1111"
    for view in (
        (await api.get(f"/api/cases/{case_id}", token=resident.token)).json["description"],
        (await api.get("/api/cases/mine", token=resident.token)).json["items"][0]["summary"],
    ):
        assert "13912345678" not in view
        assert "139****5678" in view
    revealed = (
        await api.get(
            f"/api/cases/{case_id}?reveal=true&reason=%E6%A0%B8%E5%AE%9E%E8%81%94%E7%B3%BB%E6%96%B9%E5%BC%8F",
            token=office.token,
        )
    ).json
    assert revealed["description"] == text  # the original, for those who may reveal; audited
    assert await ctx.db["audit_log"].count_documents({"action": "case.reveal"}) == 1
    stored = await ctx.db["cases"].find_one({})
    assert stored is not None
    assert stored["description"] == text
