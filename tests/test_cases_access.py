"""Who sees which case: residents their own, villages their own, liaisons their own source."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from server.core.context import Context
from tests.town import register_household, resident_case


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(buffer, "PNG")
    return buffer.getvalue()


async def new_case(api, town, who="resident_a", village="甲村", **overrides):
    response = await api.post("/api/cases", resident_case(town, village, **overrides), token=town.people[who].token)
    assert response.status == 201, response.json
    return response.json


async def test_resident_a_cannot_touch_resident_bs_case(api, town) -> None:
    theirs = await new_case(api, town, "resident_b")
    mine = await new_case(api, town, "resident_a")
    a = town.people["resident_a"].token
    b = town.people["resident_b"].token
    upload = await api.post(
        f"/api/cases/{theirs['id']}/attachments", body=png(), headers={"Content-Type": "image/png"}, token=b
    )
    attachment_url = upload.json["attachments"][0]["url"]

    assert (await api.get(f"/api/cases/{theirs['id']}", token=a)).status == 404
    listing = await api.get("/api/cases/mine", token=a)
    assert [c["id"] for c in listing.json["items"]] == [mine["id"]]
    assert (await api.get("/api/cases", token=a)).status == 403  # the staff queue
    attach = await api.post(
        f"/api/cases/{theirs['id']}/attachments", body=png(), headers={"Content-Type": "image/png"}, token=a
    )
    assert attach.status == 404
    rate = await api.post(f"/api/cases/{theirs['id']}/rating", {"stars": 1}, token=a)
    assert rate.status == 404
    assert (await api.get(attachment_url, token=a)).status == 404
    assert (await api.post(f"/api/cases/{theirs['id']}/info", {"text": "x"}, token=a)).status == 404
    assert (await api.get(attachment_url, token=b)).status == 200


async def test_a_village_mediator_cannot_see_another_villages_cases(api, town) -> None:
    in_a = await new_case(api, town, village="甲村")
    in_b = await new_case(api, town, "resident_b", village="乙村")
    b = town.people["mediator_b"].token
    assert (await api.get(f"/api/cases/{in_a['id']}", token=b)).status == 404
    queue = await api.get("/api/cases", token=b)
    assert [c["id"] for c in queue.json["items"]] == [in_b["id"]]
    office = await api.get("/api/cases", token=town.people["office"].token)
    assert office.json["total"] == 2


def referral(town, channel: str, ref: str) -> dict:
    return resident_case(town, channel=channel, external_ref=ref, received_at="2026-11-27T09:00:00+08:00")


async def test_a_police_liaison_sees_police_referrals_not_the_courts(api, town) -> None:
    police = await api.post(
        "/api/cases", referral(town, "police_referral", "JQ-001"), token=town.people["police"].token
    )
    court = await api.post(
        "/api/cases", referral(town, "court_referral", "(2026)民诉前1号"), token=town.people["court"].token
    )
    assert (police.status, court.status) == (201, 201)
    assert police.json["source"] == "police"
    assert police.json["assigned_org_id"] is None
    assert police.json["suggested"]["org_id"] == town.id("police中心")
    assert court.json["suggested"]["org_id"] == town.id("court中心")
    token = town.people["police"].token
    queue = await api.get("/api/cases", token=token)
    assert [c["id"] for c in queue.json["items"]] == [police.json["id"]]
    assert (await api.get(f"/api/cases/{court.json['id']}", token=token)).status == 404
    assert (await api.get(f"/api/cases/{police.json['id']}", token=token)).status == 200


async def test_channels_belong_to_roles(api, town) -> None:
    wrong = await api.post("/api/cases", referral(town, "court_referral", "X-1"), token=town.people["police"].token)
    assert (wrong.status, wrong.error_code) == (403, "channel_not_allowed")
    resident_referral = await api.post(
        "/api/cases", referral(town, "police_referral", "X-2"), token=town.people["resident_a"].token
    )
    assert resident_referral.status == 403
    no_ref = resident_case(town, channel="police_referral")
    missing = await api.post("/api/cases", no_ref, token=town.people["police"].token)
    assert missing.status == 422
    assert {d["field"] for d in missing.json["error"]["details"]} == {"external_ref", "received_at"}
    walk_in = await api.post("/api/cases", resident_case(town, channel="walk_in"), token=town.people["walk_in"].token)
    assert walk_in.status == 201


async def test_a_referral_is_registered_once_per_reference(api, town) -> None:
    first = await api.post("/api/cases", referral(town, "police_referral", "JQ-777"), token=town.people["police"].token)
    again = await api.post("/api/cases", referral(town, "police_referral", "JQ-777"), token=town.people["police"].token)
    assert again.status == 409
    assert again.error_code == "duplicate_referral"
    assert again.json["error"]["details"] == {"case_id": first.json["id"]}


async def test_grid_worker_registers_a_case_found_on_a_visit(api, ctx: Context, town) -> None:
    worker = town.people["grid_a"]
    household = await register_household(api, town.id("甲村微网格"), "甲村5组3号", "赵五", worker.token)
    body = resident_case(town, channel="grid_visit", household_id=household["id"], village_id=None, risk="medium")
    response = await api.post("/api/cases", body, token=worker.token)
    assert response.status == 201
    assert (response.json["household_id"], response.json["risk"]) == (household["id"], "medium")
    scan_token = (await ctx.db["households"].find_one({"address": "甲村5组3号"}))["qr_token"]
    scan = await api.get(f"/api/scan/{scan_token}", token=worker.token)
    assert [c["id"] for c in scan.json["open_cases"]] == [response.json["id"]]


async def test_mediator_inbox_holds_what_waits_on_them(api, town) -> None:
    waiting = await new_case(api, town)
    untouched = await new_case(api, town)
    office = town.people["office"].token
    await api.post(f"/api/cases/{waiting['id']}/actions/assign", {}, token=office)
    inbox = await api.get("/api/cases/inbox", token=town.people["mediator_a"].token)
    assert [c["id"] for c in inbox.json["items"]] == [waiting["id"]]
    assert untouched["id"] not in [c["id"] for c in inbox.json["items"]]
    other = await api.get("/api/cases/inbox", token=town.people["mediator_b"].token)
    assert other.json["items"] == []


async def test_queue_filters_and_deadline_order(api, ctx: Context, town) -> None:
    office = town.people["office"].token
    first = await new_case(api, town)
    second = await new_case(api, town, category="medical")
    await api.post(f"/api/cases/{second['id']}/actions/assign", {}, token=office)
    await api.post(f"/api/cases/{first['id']}/actions/assign", {}, token=office)
    queue = (await api.get("/api/cases?state=assigned", token=office)).json["items"]
    assert [c["id"] for c in queue] == [second["id"], first["id"]]  # earliest deadline first
    medical = (await api.get("/api/cases?category=medical", token=office)).json["items"]
    assert [(c["id"], c["tier"]) for c in medical] == [(second["id"], "county")]
    assert (await api.get("/api/cases?supervised=true", token=office)).json["total"] == 0
    assert (await api.get("/api/cases?warning=red", token=office)).json["total"] == 0


async def test_idempotent_submission_makes_one_case(api, ctx: Context, town) -> None:
    token = town.people["resident_a"].token
    body = resident_case(town)
    headers = {"Idempotency-Key": "submit-7f3a9c"}
    responses = await asyncio.gather(*(api.post("/api/cases", body, token=token, headers=headers) for _ in range(5)))
    assert await ctx.db["cases"].count_documents({}) == 1
    created = [r for r in responses if r.status == 201]
    assert created
    assert {r.json["id"] for r in created} == {created[0].json["id"]}
    assert all(r.status == 201 or r.error_code == "idempotency_in_flight" for r in responses)
    replay = await api.post("/api/cases", body, token=token, headers=headers)
    assert (replay.status, replay.json["id"], replay.headers["Idempotent-Replayed"]) == (
        201,
        created[0].json["id"],
        "true",
    )
    different = await api.post(
        "/api/cases", body | {"description": "另一件事情，完全不同"}, token=token, headers=headers
    )
    assert (different.status, different.error_code) == (422, "idempotency_key_reused")
    other_user = await api.post("/api/cases", body, token=town.people["resident_b"].token, headers=headers)
    assert other_user.status == 201  # keys are per user
    assert await ctx.db["cases"].count_documents({}) == 2


async def test_residents_add_information_and_rate(api, town) -> None:
    case = await new_case(api, town)
    token = town.people["resident_a"].token
    added = await api.post(f"/api/cases/{case['id']}/info", {"text": "对方今天又堵了通道"}, token=token)
    assert added.json["timeline"][-1]["note"] == "对方今天又堵了通道"
    early = await api.post(f"/api/cases/{case['id']}/rating", {"stars": 4}, token=token)
    assert early.status == 409


async def test_risk_words_send_a_case_to_the_town(api, town) -> None:
    case = await new_case(api, town, description="对方扬言要拿刀砍人，我很害怕")
    office = (await api.get(f"/api/cases/{case['id']}", token=town.people["office"].token)).json
    assert office["risk"] == "high"
    assert office["suggested"] == {"org_id": town.id("mediation中心"), "org_name": "mediation中心", "tier": "town"}


async def test_malformed_ids_are_named_not_crashes(api, town) -> None:
    token = town.people["resident_a"].token
    response = await api.post("/api/cases", resident_case(town, visit_id="z" * 24), token=token)
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == "visit_id"
    case = await new_case(api, town)
    bad = await api.post(
        f"/api/cases/{case['id']}/actions/assign", {"mediator_ids": ["not-an-id"]}, token=town.people["office"].token
    )
    assert bad.status == 422
    assert bad.json["error"]["details"][0]["field"] == "mediator_ids.0"
    assert (await api.get("/api/cases?state=nonsense", token=town.people["office"].token)).status == 422


async def test_text_is_length_checked_and_the_number_comes_at_once(api, town) -> None:
    token = town.people["resident_a"].token
    too_long = await api.post("/api/cases", resident_case(town, description="吵" * 2001), token=token)
    assert too_long.status == 422
    assert too_long.json["error"]["details"] == [{"field": "description", "message": "内容太长（最多 2000 个字）"}]
    too_short = await api.post("/api/cases", resident_case(town, description="吵"), token=token)
    assert too_short.json["error"]["details"][0]["field"] == "description"
    created = await new_case(api, town)
    assert created["number"].startswith("SY-")


async def test_a_residents_list_never_shows_a_typed_number_even_where_the_summary_is_cut(api, town) -> None:
    resident = town.people["resident_a"].token
    for lead in range(34, 42):  # the 11 digits straddle the summary's 40th character, or fall just inside
        text = "邻" * lead + "13812345678" + "，请尽快联系我，邻居装修堵住了通道。"
        created = await api.post("/api/cases", resident_case(town, description=text), token=resident)
        assert created.status == 201, created.json
    listing = await api.get("/api/cases/mine?page_size=50", token=resident)
    summaries = [case["summary"] for case in listing.json["items"]]
    assert len(summaries) == 8
    for summary in summaries:
        digits = "".join(ch if ch.isdigit() else " " for ch in summary).split()
        assert all(len(run) <= 4 for run in digits), summary  # at most the last four, as masking leaves


async def test_a_list_row_with_a_field_its_model_lacks_fails_the_suite(api, town, monkeypatch) -> None:
    """Lists write their rows without validating them (handlers/base.py, `write_rows`); the suite checks every
    page against the row model, so a row builder that let a party's phone slip into a list would fail here."""
    import handlers.cases
    from schemas.cases import resident_case_row

    await new_case(api, town, "resident_a")
    a = town.people["resident_a"].token
    assert (await api.get("/api/cases/mine", token=a)).status == 200
    monkeypatch.setattr(handlers.cases, "resident_case_row", lambda case: {**resident_case_row(case), "phone": "1"})
    assert (await api.get("/api/cases/mine", token=a)).status == 500
    monkeypatch.setattr(handlers.cases, "resident_case_row", lambda case: {**resident_case_row(case), "state": "x"})
    assert (await api.get("/api/cases/mine", token=a)).status == 500
