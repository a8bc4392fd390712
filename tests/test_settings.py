"""Settings belong to a town, with the county's defaults: one town's admin changes only their own town."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from server.core.context import Context
from tests.town import resident_case

DEADLINES = {"accept_hours": 6, "conclude_days": {"village": 5, "town": 10, "county": 20}, "follow_up_days": 2}


async def put(api: Any, path: str, body: dict[str, Any], token: str) -> Any:
    return await api.request("PUT", path, json_body=body, token=token)


def accept_window(case: dict[str, Any]) -> timedelta:
    deadline = case["deadlines"]["accept"]
    return datetime.fromisoformat(deadline["due"]) - datetime.fromisoformat(deadline["start"])


async def assigned_in(api: Any, town: Any, village_id: str, assigner: str) -> dict[str, Any]:
    body = resident_case(town, village_id=village_id)
    case = (await api.post("/api/cases", body, token=town.people["resident_a"].token)).json
    answer = await api.post(f"/api/cases/{case['id']}/actions/assign", {}, token=assigner)
    assert answer.status == 200, answer.json
    return answer.json


async def test_a_towns_deadlines_change_that_town_only(api, town, other_town) -> None:
    second_admin = other_town["admin"].token
    saved = await put(api, "/api/settings/deadlines", DEADLINES, second_admin)
    assert saved.status == 200, saved.json
    assert (saved.json["org_id"], saved.json["source"], saved.json["accept_hours"]) == (
        str(other_town["town"]["_id"]),
        "town",
        6,
    )

    mine = (await api.get("/api/settings/deadlines", token=town.people["office"].token)).json
    assert (mine["org_id"], mine["source"], mine["accept_hours"]) == (town.id("测试镇"), "default", 24)

    second_case = await assigned_in(api, town, str(other_town["village"]["_id"]), second_admin)
    first_case = await assigned_in(api, town, town.id("甲村"), town.people["office"].token)
    assert accept_window(second_case) == timedelta(hours=6)
    assert accept_window(first_case) == timedelta(hours=24)


async def test_nobody_reads_or_writes_another_towns_settings(api, town, other_town) -> None:
    second = f"?org_id={other_town['town']['_id']}"
    first = f"?org_id={town.id('测试镇')}"
    for who in ("office", "mediator_a", "grid_a", "walk_in", "police", "supervisor"):
        token = town.people[who].token
        assert (await api.get(f"/api/settings/deadlines{second}", token=token)).status == 404, who
        assert (await api.get(f"/api/settings/routing-rules{second}", token=token)).status == 404, who
    assert (await put(api, f"/api/settings/deadlines{second}", DEADLINES, town.people["office"].token)).status == 404
    for token in (other_town["admin"].token, other_town["staff"].token):
        assert (await api.get(f"/api/settings/deadlines{first}", token=token)).status == 404
    assert (await put(api, f"/api/settings/deadlines{first}", DEADLINES, other_town["admin"].token)).status == 404
    # Staff read the settings of the town they work in (a unit above their grant), but only admins write.
    for who in ("mediator_a", "grid_a", "walk_in", "police", "supervisor"):
        token = town.people[who].token
        read = await api.get("/api/settings/deadlines", token=token)
        assert (read.status, read.json["org_id"]) == (200, town.id("测试镇")), who
        assert (await put(api, "/api/settings/deadlines", DEADLINES, token)).status == 403, who
    assert (await api.get("/api/settings/deadlines", token=town.people["resident_a"].token)).status == 403
    # A village is not a place with settings.
    village = await api.get(f"/api/settings/deadlines?org_id={town.id('甲村')}", token=town.people["office"].token)
    assert (village.status, village.error_code) == (404, "no_such_place")


async def test_the_county_sets_defaults_and_may_lock_them(api, ctx: Context, town, other_town) -> None:
    county, office, second_admin = town.people["county"].token, town.people["office"].token, other_town["admin"].token
    county_id = town.id("测试县")
    assert (await put(api, "/api/settings/deadlines", DEADLINES, second_admin)).status == 200  # 第二镇's own

    locked = await put(
        api,
        f"/api/settings/deadlines?org_id={county_id}",
        {**DEADLINES, "accept_hours": 12, "town_may_override": False},
        county,
    )
    assert (locked.status, locked.json["source"], locked.json["town_may_override"]) == (200, "county", False)
    # Both towns now follow the county; 第二镇's own value is set aside while the county locks the setting.
    for token in (office, second_admin):
        read = (await api.get("/api/settings/deadlines", token=token)).json
        assert (read["source"], read["accept_hours"], read["town_may_override"]) == ("county", 12, False)
    refused = await put(api, "/api/settings/deadlines", DEADLINES, office)
    assert (refused.status, refused.error_code) == (403, "settings_locked")
    # A town cannot say whether towns may override; only the county can.
    misplaced = await put(
        api, f"/api/settings/deadlines?org_id={county_id}", {**DEADLINES, "town_may_override": True}, office
    )
    assert misplaced.status == 403  # the county's settings are visible to the town admin, not theirs to edit

    unlocked = await put(
        api,
        f"/api/settings/deadlines?org_id={county_id}",
        {**DEADLINES, "accept_hours": 12, "town_may_override": True},
        county,
    )
    assert unlocked.status == 200
    assert (await api.get("/api/settings/deadlines", token=second_admin)).json["accept_hours"] == 6  # its own again
    assert (await api.get("/api/settings/deadlines", token=office)).json["accept_hours"] == 12  # the county's
    with_flag = await put(api, "/api/settings/deadlines", {**DEADLINES, "town_may_override": False}, office)
    assert (with_flag.status, with_flag.json["error"]["details"][0]["field"]) == (422, "town_may_override")

    cleared = await api.delete("/api/settings/deadlines", token=second_admin)
    assert cleared.status == 204
    assert (await api.get("/api/settings/deadlines", token=second_admin)).json["source"] == "county"
    audit = await ctx.db["audit_log"].find({"action": "settings.deadlines"}).to_list(None)
    assert [(a["details"]["org_id"], a["details"]["change"]) for a in audit] == [
        (other_town["town"]["_id"], "saved"),
        (town.units["测试县"]["_id"], "saved"),
        (town.units["测试县"]["_id"], "saved"),
        (other_town["town"]["_id"], "cleared"),
    ]


async def test_routing_rules_per_town_reach_the_public_category_list(api, town, other_town) -> None:
    everything_to_town = [{"name": "全部到镇", "when": {}, "target": {"kind": "town"}, "tier": "town"}]
    saved = await put(api, "/api/settings/routing-rules", {"rules": everything_to_town}, other_town["admin"].token)
    assert saved.status == 200, saved.json

    def specialist(answer: Any) -> set[str]:
        return {c["code"] for c in answer.json["items"] if c["specialist"]}

    second = await api.get(f"/api/categories?town_id={other_town['town']['_id']}")
    first = await api.get(f"/api/categories?town_id={town.id('测试镇')}")
    assert specialist(second) == set()
    assert specialist(first) == {"medical", "traffic", "labour"}
    assert specialist(await api.get("/api/categories")) == {"medical", "traffic", "labour"}  # the county's
    not_a_town = await api.get(f"/api/categories?town_id={town.id('甲村')}")
    assert (not_a_town.status, not_a_town.error_code) == (404, "no_such_town")

    body = resident_case(town, village_id=str(other_town["village"]["_id"]))
    case = (await api.post("/api/cases", body, token=town.people["resident_a"].token)).json
    view = (await api.get(f"/api/cases/{case['id']}", token=other_town["admin"].token)).json
    assert view["suggested"]["org_id"] == str(other_town["town"]["_id"])  # 第二镇's rule, not the county's


async def test_a_value_saved_before_settings_had_places_reads_as_the_countys(api, ctx: Context, town) -> None:
    await ctx.db["settings"].insert_one({"_id": "deadlines", "value": {**DEADLINES, "accept_hours": 48}})
    read = (await api.get("/api/settings/deadlines", token=town.people["office"].token)).json
    assert (read["source"], read["accept_hours"]) == ("county", 48)
