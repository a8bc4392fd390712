"""回访 is the town office's and the town centers' job for every case in the town: center staff see the town's
cases and follow them up; another town's staff see nothing; who can see a case but not act gets a 403."""

from __future__ import annotations

from typing import Any

from tests.town import resident_case


async def act(api, token: str, case_id: str, action: str, **body: Any):
    return await api.post(f"/api/cases/{case_id}/actions/{action}", body, token=token)


async def followed_up_case(api, town) -> str:
    """A village case concluded by its room and reviewed by the office: waiting for 回访."""
    people = town.people
    case_id = (await api.post("/api/cases", resident_case(town), token=people["resident_a"].token)).json["id"]
    for who, action, body in [
        ("office", "assign", {}),
        ("mediator_a", "accept", {}),
        ("mediator_a", "conclude", {"outcome": "failed_litigation"}),
        ("office", "review_pass", {}),
    ]:
        answer = await act(api, people[who].token, case_id, action, **body)
        assert answer.status == 200, (action, answer.json)
    return case_id


async def test_the_town_centers_staff_follow_up_a_village_case(api, town, other_town) -> None:
    case_id = await followed_up_case(api, town)
    staff = town.people["walk_in"]  # center_staff at the town's 三源共治办公室 (a center, not the town itself)
    seen = await api.get(f"/api/cases/{case_id}", token=staff.token)
    assert seen.status == 200
    assert "follow_up_satisfied" in seen.json["allowed_actions"]
    queue = await api.get("/api/cases?state=follow_up", token=staff.token)
    assert [c["id"] for c in queue.json["items"]] == [case_id]
    done = await act(api, staff.token, case_id, "follow_up_satisfied")
    assert (done.status, done.json["state"]) == (200, "closed")


async def test_another_towns_staff_neither_see_nor_follow_up(api, town, other_town) -> None:
    case_id = await followed_up_case(api, town)
    for account in (other_town["staff"], other_town["admin"]):
        assert (await api.get(f"/api/cases/{case_id}", token=account.token)).status == 404
        refused = await act(api, account.token, case_id, "follow_up_satisfied")
        assert (refused.status, refused.error_code) == (404, "not_found")
        assert (await api.get("/api/cases", token=account.token)).json["total"] == 0


async def test_who_sees_a_case_but_may_not_act_gets_403_with_the_reason(api, town) -> None:
    case_id = (await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)).json["id"]
    assert (await act(api, town.people["office"].token, case_id, "assign")).status == 200
    staff = town.people["walk_in"]  # sees the town's cases, but the village room handles this one
    refused = await act(api, staff.token, case_id, "accept")
    assert (refused.status, refused.error_code) == (403, "action_forbidden")
    assert "签收" in refused.json["error"]["message"]
