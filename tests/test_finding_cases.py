"""Finding a case a caller quotes: by number, by words; a resident's list by state, in summaries; two towns."""

from __future__ import annotations

from tests.town import resident_case


async def test_the_office_finds_a_case_by_number_or_words_in_its_town_only(api, town, other_town) -> None:
    resident = town.people["resident_a"]
    mine = await api.post("/api/cases", resident_case(town), token=resident.token)
    other = await api.post(
        "/api/cases",
        resident_case(
            town, description="养殖场臭味扰民，夏天尤其严重。", parties=[{"role": "applicant", "name": "钱多多"}]
        ),
        token=resident.token,
    )
    away = await api.post(
        "/api/cases",
        resident_case(
            town, village_id=str(other_town["village"]["_id"]), parties=[{"role": "applicant", "name": "钱多多"}]
        ),
        token=town.people["resident_b"].token,
    )
    assert away.status == 201
    office = town.people["office"].token
    by_number = await api.get(f"/api/cases?number={mine.json['number']}", token=office)
    assert [c["id"] for c in by_number.json["items"]] == [mine.json["id"]]
    by_name = await api.get("/api/cases?q=钱多多", token=office)
    assert [c["id"] for c in by_name.json["items"]] == [other.json["id"]]  # not the other town's 钱多多
    by_words = await api.get("/api/cases?q=臭味", token=office)
    assert [c["id"] for c in by_words.json["items"]] == [other.json["id"]]
    theirs = await api.get(f"/api/cases?number={away.json['number']}", token=office)
    assert theirs.json["total"] == 0
    assert (await api.get("/api/cases?q=钱多多", token=other_town["admin"].token)).json["total"] == 1
    tricky = await api.get("/api/cases?q=.*", token=office)  # words, not a pattern
    assert tricky.json["total"] == 0


async def test_a_resident_lists_their_cases_by_state_in_summaries(api, town) -> None:
    resident = town.people["resident_a"]
    draft = await api.post("/api/cases", resident_case(town, draft=True), token=resident.token)
    sent = await api.post("/api/cases", resident_case(town), token=resident.token)
    drafts = await api.get("/api/cases/mine?state=draft", token=resident.token)
    assert [c["id"] for c in drafts.json["items"]] == [draft.json["id"]]
    everything = await api.get("/api/cases/mine", token=resident.token)
    assert [c["id"] for c in everything.json["items"]] == [sent.json["id"], draft.json["id"]]
    row = everything.json["items"][0]
    assert "timeline" not in row
    assert row["summary"].startswith("邻居家装修堵住了我家出入的通道")
    assert row["status"] == "已登记，正在安排调解组织"
    assert (await api.get("/api/cases/mine?state=nonsense", token=resident.token)).status == 422


async def test_names_come_beside_the_ids_as_the_viewer_may_see_them(api, town) -> None:
    resident, office, room = town.people["resident_a"], town.people["office"], town.people["mediator_a"]
    case_id = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await api.post(f"/api/cases/{case_id}/actions/assign", {}, token=office.token)
    await api.post(f"/api/cases/{case_id}/actions/accept", {}, token=room.token)
    staff_view = (await api.get(f"/api/cases/{case_id}", token=room.token)).json
    assert staff_view["assigned_org_name"] == "甲村调解室"
    assert staff_view["mediators"] == [{"id": room.id, "name": "mediator_a"}]
    assert [(e["action"], e["actor_name"], e["actor_role"]) for e in staff_view["timeline"]] == [
        ("submit", "resident_a", "群众"),
        ("assign", "office", "镇三源共治办公室"),
        ("accept", "mediator_a", "调解员"),
    ]
    resident_view = (await api.get(f"/api/cases/{case_id}", token=resident.token)).json
    assert [(e["actor_id"], e["actor_name"], e["actor_role"]) for e in resident_view["timeline"]] == [
        (None, None, "您"),
        (None, None, "镇三源共治办公室"),
        (None, None, "调解员"),
    ]
    row = (await api.get("/api/cases/inbox", token=room.token)).json["items"][0]
    assert (row["assigned_org_id"], row["assigned_org_name"]) == (town.id("甲村调解室"), "甲村调解室")


async def test_the_work_queue_holds_the_cases_in_hand_awaiting_assignment_first(api, town) -> None:
    """Drafts are the resident's; a withdrawn case is done: neither leads the office's queue by deadline."""
    resident, office = town.people["resident_a"].token, town.people["office"].token
    draft = (await api.post("/api/cases", resident_case(town, draft=True), token=resident)).json
    withdrawn = (await api.post("/api/cases", resident_case(town), token=resident)).json
    assert (await api.post(f"/api/cases/{withdrawn['id']}/actions/withdraw", {}, token=resident)).status == 200
    assigned = (await api.post("/api/cases", resident_case(town), token=resident)).json
    assert (await api.post(f"/api/cases/{assigned['id']}/actions/assign", {}, token=office)).status == 200
    waiting = (await api.post("/api/cases", resident_case(town), token=resident)).json

    queue = (await api.get("/api/cases", token=office)).json
    assert [c["id"] for c in queue["items"]] == [waiting["id"], assigned["id"]]
    everything = (await api.get("/api/cases?sort=newest", token=office)).json
    assert {c["id"] for c in everything["items"]} == {waiting["id"], assigned["id"], withdrawn["id"]}
    drafts = (await api.get("/api/cases?state=draft", token=office)).json
    assert drafts["items"] == []
    assert draft["state"] == "draft"


async def test_a_list_row_reads_nothing_its_projection_leaves_out(api, ctx, town) -> None:
    """Lists read only the fields their rows show (`STAFF_ROW_PROJECTION`, `RESIDENT_ROW_PROJECTION`): a row
    made from the projected case equals the row made from the whole case, whatever the case holds."""
    from datetime import UTC, datetime

    from schemas.cases import case_row, resident_case_row
    from server.cases.names import NameBook
    from server.cases.repository import RESIDENT_ROW_PROJECTION, STAFF_ROW_PROJECTION

    resident, office, room = town.people["resident_a"], town.people["office"], town.people["mediator_a"]
    case_id = (await api.post("/api/cases", resident_case(town), token=resident.token)).json["id"]
    await api.post(f"/api/cases/{case_id}/actions/assign", {}, token=office.token)
    await api.post(f"/api/cases/{case_id}/actions/accept", {}, token=room.token)
    case = await ctx.db["cases"].find_one({})
    when = datetime(2026, 11, 30, tzinfo=UTC)
    variants = [
        case,
        {**case, "state": "closed", "outcome": {"type": "agreement"}},
        {**case, "suspended": {"reason": "住院", "since": when}, "supervised": {"at": when}},
        {**case, "warnings": {"accept": "overdue"}, "description": "电话13812345678，" + "很长的描述" * 20},
    ]
    names = NameBook(units={case["assigned_org_id"]: "甲村调委会"})
    for whole in variants:
        for projection, row in (
            (STAFF_ROW_PROJECTION, lambda c: case_row(c, names)),
            (RESIDENT_ROW_PROJECTION, resident_case_row),
        ):
            projected = {"_id": whole["_id"], **{name: whole[name] for name in projection if name in whole}}
            assert row(projected) == row(whole)
