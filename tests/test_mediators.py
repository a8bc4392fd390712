"""待遇 + 荣誉 over HTTP, as the office, the county, a mediator and an expert of two towns: the roster and its live
figures, a star rating taken through approval, a monthly 以案定补 statement approved, locked, exported and
corrected, and a consultation asked, answered and warned about. Every figure is checked by hand against the
cases the test makes."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from notify.outbox import Relay
from server.app import WARNING_SCANS
from server.cases.warnings import WarningsJob
from server.core.context import Context
from tests.test_access_matrix import png
from tests.town import Town, build_twin_town, resident_case

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)  # 12:00 in the town: November 2026, the year 2026
AGREEMENT = {
    "outcome": "agreement",
    "agreement": {"parties": ["张三", "李四"], "terms": ["李四三日内清理通道"], "performance_deadline": "2026-12-31"},
}


async def act(api, town: Town, who: str, case_id: str, action: str, **body: Any) -> dict[str, Any]:
    answer = await api.post(f"/api/cases/{case_id}/actions/{action}", body, token=town.people[who].token)
    assert answer.status == 200, (action, answer.json)
    return dict(answer.json)


async def case_for(api, town: Town, prefix: str = "", who: str = "mediator_a") -> str:
    """A case of 甲村 assigned to its room with `who` named and accepted by them."""
    body = resident_case(town, village_id=town.id(f"{prefix}甲村"))
    made = await api.post("/api/cases", body, token=town.people["resident_a"].token)
    assert made.status == 201, made.json
    mediator = str(town.people[who].user["_id"])
    await act(api, town, "office", made.json["id"], "assign", mediator_ids=[mediator])
    await act(api, town, who, made.json["id"], "accept")
    return str(made.json["id"])


async def closed(api, town: Town, case_id: str, conclusion: dict[str, Any], confirm: str | None = None) -> None:
    """Concluded by mediator_a (as given), reviewed (the office confirming a difficulty), followed up satisfied."""
    action = "refer_out" if conclusion["outcome"] != "agreement" else "conclude"
    await act(api, town, "mediator_a", case_id, action, **conclusion)
    await act(api, town, "office", case_id, "review_pass", **({"difficulty": confirm} if confirm else {}))
    await act(api, town, "office", case_id, "follow_up_satisfied")


async def figures_of(api, token: str, name: str) -> dict[str, Any] | None:
    listed = await api.get("/api/mediators?page_size=100", token=token)
    assert listed.status == 200, listed.json
    return next((m for m in listed.json["items"] if m["name"] == name), None)


SCHEME = {
    "indicators": [{"key": "concluded", "weight": 50, "full_at": 2}, {"key": "agreement_rate", "weight": 50}],
    "difficulty_weights": {"simple": 1, "ordinary": 2, "complex": 3, "major": 5},
    "thresholds": [10, 30, 50, 70, 90],
    "min_cases": 1,
}


async def test_roster_rating_and_statement_over_http(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    office, county, mediator = (town.people[w].token for w in ("office", "county", "mediator_a"))

    # Two closed cases for mediator_a: an agreement (proposed 疑难, confirmed 重大) judicially confirmed, and a
    # failed mediation referred to court (简易); one still open. The other town closes one of its own.
    first = await case_for(api, town)
    await act(api, town, "mediator_a", first, "conclude", difficulty="complex", **AGREEMENT)
    judicial = await api.post(f"/api/cases/{first}/judicial-confirmation", {"requested": True}, token=mediator)
    assert judicial.status == 200, judicial.json
    reviewed = await act(api, town, "office", first, "review_pass", difficulty="major")
    assert reviewed["difficulty"] == {"proposed": "complex", "confirmed": "major"}
    assert reviewed["on_time"] is True
    await act(api, town, "office", first, "follow_up_satisfied")
    second = await case_for(api, town)
    await closed(api, town, second, {"outcome": "failed_litigation", "reason": "一方拒绝调解", "difficulty": "simple"})
    open_case = await case_for(api, town)
    theirs = await case_for(api, twin, "二")
    await act(api, twin, "mediator_a", theirs, "conclude", difficulty="simple", **AGREEMENT)
    await act(api, twin, "office", theirs, "review_pass")
    await act(api, twin, "office", theirs, "follow_up_satisfied")

    # The roster: a profile for every mediator account, live figures, nothing of the other town.
    mine = await figures_of(api, office, "mediator_a")
    assert mine is not None
    assert mine["kind"] == "people"
    assert mine["status"] == "active"
    assert mine["figures"] == {
        "open": 1,
        "concluded_this_year": 2,
        "agreement_rate": 0.5,
        "on_time_rate": 1.0,
        "satisfaction": 1.0,
        "average_rating": None,
        "sessions_this_year": None,
    }
    assert await figures_of(api, office, "二mediator_a") is None
    assert await figures_of(api, twin.people["office"].token, "mediator_a") is None
    assert (await figures_of(api, county, "二mediator_a")) is not None  # the county sees both towns

    # A social force joins the roster and sits in a session; the other town's cannot be named here.
    force = {"name": "王乡贤", "force": "乡贤", "org_ids": [town.id("甲村")], "specialties": ["neighbour"]}
    added = await api.post("/api/mediators", force, token=office)
    assert added.status == 201, added.json
    theirs_force = {"name": "赵五老", "force": "五老", "org_ids": [twin.id("二甲村")]}
    assert (await api.post("/api/mediators", theirs_force, token=office)).status == 422
    other = await api.post("/api/mediators", theirs_force, token=twin.people["office"].token)
    session = {"at": NOW.isoformat(), "place": "甲村调解室", "mediators": ["mediator_a"]}
    named = await api.post(
        f"/api/cases/{open_case}/sessions", session | {"roster_ids": [added.json["id"]]}, token=mediator
    )
    assert named.status == 201, named.json
    assert named.json["sessions"][-1]["roster_ids"] == [added.json["id"]]
    refused = await api.post(
        f"/api/cases/{open_case}/sessions", session | {"roster_ids": [other.json["id"]]}, token=mediator
    )
    assert refused.status == 422
    assert refused.json["error"]["details"][0]["field"] == "roster_ids"
    force_figures = await figures_of(api, office, "王乡贤")
    assert force_figures is not None
    assert force_figures["figures"]["sessions_this_year"] == 1
    assert (await api.get("/api/mediators?account=false", token=office)).json["total"] == 1

    # The office fills in a profile, filters the roster by it, and is offered mediators for the open case
    # (category 婚姻家庭: +3 for the specialty, −½ for the one case mediator_a has open).
    profile = f"/api/mediators/{mine['id']}"
    filled = await api.request(
        "PATCH", profile, json_body={"specialties": ["family"], "training_hours": 40}, token=office
    )
    assert (filled.status, filled.json["specialties"], filled.json["training_hours"]) == (200, ["family"], 40)
    assert (
        await api.request("PATCH", profile, json_body={"training_hours": 1}, token=twin.people["office"].token)
    ).status == 404
    by_specialty = await api.get("/api/mediators?specialty=family", token=office)
    assert [m["name"] for m in by_specialty.json["items"]] == ["mediator_a"]
    offered = await api.get(f"/api/cases/{open_case}/mediator-suggestions", token=office)
    assert offered.status == 200, offered.json
    (first_choice,) = offered.json["items"]  # 甲村调解室 has one mediator
    assert (first_choice["mediator"]["name"], first_choice["score"]) == ("mediator_a", 2.5)
    assert first_choice["reasons"] == ["擅长婚姻家庭纠纷", "在办 1 件"]
    assert (
        await api.get(f"/api/cases/{open_case}/mediator-suggestions", token=twin.people["office"].token)
    ).status == 404

    # The scheme is the town's setting, checked field by field, each save a new version.
    bad = await api.put("/api/settings/rating-scheme", SCHEME | {"thresholds": [10, 30, 20, 70, 90]}, token=office)
    assert bad.status == 422
    assert [d["field"] for d in bad.json["error"]["details"]] == ["thresholds"]
    uneven = SCHEME | {"indicators": [{"key": "agreement_rate", "weight": 90}]}
    bad = await api.put("/api/settings/rating-scheme", uneven, token=office)
    assert bad.status == 422
    assert [d["field"] for d in bad.json["error"]["details"]] == ["indicators"]
    saved = await api.put("/api/settings/rating-scheme", SCHEME, token=office)
    assert saved.status == 200
    assert saved.json["source"] == "town"
    assert saved.json["version"].endswith(":1")

    # The rating: concluded 2 of full_at 2 → 100 points, agreement 1 of 2 → 50; (100×50 + 50×50)/100 = 75 →
    # four stars (75 ≥ 70). mediator_b concluded nothing: below the minimum, no star.
    run = await api.post("/api/ratings", {"period": "2026"}, token=office)
    assert run.status == 201, run.json
    results = {r["name"]: r for r in run.json["results"]}
    assert set(results) == {"mediator_a", "mediator_b", "center"}
    a = results["mediator_a"]
    assert (a["indicators"]["concluded"], a["indicators"]["agreement_rate"], a["score"], a["computed"]) == (
        2,
        0.5,
        75.0,
        4,
    )
    assert results["mediator_b"]["computed"] is None
    assert run.json["cases_counted"] == 2
    assert run.json["scheme_version"] == saved.json["version"]
    again = await api.post("/api/ratings", {"period": "2026"}, token=office)
    assert (again.status, again.json["id"]) == (200, run.json["id"])
    assert (await api.post("/api/ratings", {"period": "2026-H3"}, token=office)).status == 422

    rating = f"/api/ratings/{run.json['id']}"
    raise_a = {"profile_id": a["profile_id"], "level": 5}
    unexplained = await api.post(f"{rating}/propose", {"overrides": [raise_a]}, token=office)
    assert unexplained.status == 422
    assert unexplained.json["error"]["details"][0]["field"] == "overrides.0.reason"
    assert (await api.post(f"{rating}/confirm", {}, token=county)).status == 409  # not proposed yet
    proposed = await api.post(f"{rating}/propose", {"overrides": [raise_a | {"reason": "调处重大纠纷"}]}, token=office)
    assert proposed.status == 200
    assert proposed.json["state"] == "proposed"
    assert (await api.post(f"{rating}/propose", {}, token=office)).status == 409
    assert (await api.post(f"{rating}/confirm", {}, token=office)).status == 403
    assert (await api.post(f"{rating}/confirm", {}, token=twin.people["office"].token)).status == 403
    # The county returns it once (a reason required), and the office proposes it again.
    assert (await api.post(f"{rating}/return", {"reason": ""}, token=county)).status == 422
    returned = await api.post(f"{rating}/return", {"reason": "请核实重大纠纷的认定"}, token=county)
    assert (returned.json["state"], returned.json["returned_reason"]) == ("draft", "请核实重大纠纷的认定")
    assert (await api.post(f"{rating}/return", {"reason": "再退"}, token=county)).status == 409
    again_proposed = await api.post(f"{rating}/propose", {"overrides": [raise_a | {"reason": "已核实"}]}, token=office)
    assert again_proposed.json["state"] == "proposed"
    confirmed = await api.post(f"{rating}/confirm", {}, token=county)
    assert confirmed.status == 200
    assert confirmed.json["state"] == "confirmed"
    assert {r["name"]: r["level"] for r in confirmed.json["results"]}["mediator_a"] == 5
    assert (await api.post(f"{rating}/confirm", {}, token=county)).status == 409
    rerun = await api.post("/api/ratings", {"period": "2026"}, token=office)
    assert (rerun.status, rerun.json["state"], rerun.json["results"]) == (200, "confirmed", confirmed.json["results"])
    me = await api.get("/api/mediators/me", token=mediator)
    assert (me.json["star"]["level"], me.json["star"]["period"]) == (5, "2026")
    assert [m["name"] for m in (await api.get("/api/mediators?star=5", token=office)).json["items"]] == ["mediator_a"]
    told = await api.get("/api/notifications", token=mediator)
    assert any(item["event"] == "rating_published" and "五星" in item["text"] for item in told.json["items"])
    actions = {r["action"] async for r in ctx.db["audit_log"].find({"target_type": "rating_runs"})}
    assert {"rating.run", "rating.propose", "rating.confirm"} <= actions

    # 金牌调解员: the county's honour, for a confirmed five-star mediator only, once a period.
    gold = f"/api/mediators/{a['profile_id']}/gold"
    assert (await api.post(gold, {"period": "2026", "reason": "年度表彰"}, token=office)).status == 403
    granted = await api.post(gold, {"period": "2026", "reason": "年度表彰"}, token=county)
    assert granted.status == 200
    assert granted.json["gold"][0]["period"] == "2026"
    assert (await api.post(gold, {"period": "2026", "reason": "再次"}, token=county)).status == 409
    b_id = results["mediator_b"]["profile_id"]
    assert (
        await api.post(f"/api/mediators/{b_id}/gold", {"period": "2026", "reason": "x"}, token=county)
    ).status == 409

    # 以案定补 for November: the agreement 重大 40,000 fen + judicial bonus 5,000 = 45,000 × 150 % (five stars)
    # = 67,500; the referral 简易 2,000 × 150 % = 3,000; 70,500 in all. The other town's case is not here.
    built = await api.post("/api/subsidies/statements", {"month": "2026-11"}, token=office)
    assert built.status == 201, built.json
    lines = {line["case_id"]: line for line in built.json["lines"]}
    assert set(lines) == {first, second}
    assert (lines[first]["base"], lines[first]["bonus"], lines[first]["factor"], lines[first]["amount"]) == (
        40000,
        5000,
        150,
        67500,
    )
    assert (lines[second]["base"], lines[second]["amount"], lines[second]["difficulty"]) == (2000, 3000, "simple")
    assert built.json["totals"]["total"] == 70500
    assert built.json["state"] == "open"
    statement = f"/api/subsidies/statements/{built.json['id']}"
    assert (await api.post(f"{statement}/confirm", token=county)).status == 409  # the office approves first
    assert (await api.post(f"{statement}/approve", token=office)).json["state"] == "approved"
    assert (await api.post(f"{statement}/approve", token=office)).status == 409
    assert (await api.post(f"{statement}/approve", token=twin.people["office"].token)).status == 404
    assert (await api.post(f"{statement}/confirm", token=county)).json["state"] == "locked"
    rebuilt = await api.post("/api/subsidies/statements", {"month": "2026-11"}, token=office)
    assert (rebuilt.status, rebuilt.json["totals"]["total"], rebuilt.json["state"]) == (200, 70500, "locked")

    sheet = await api.get(f"{statement}/xlsx", token=office)
    assert sheet.status == 200
    book = load_workbook(io.BytesIO(sheet.body))
    summary = book["汇总"]
    last: list[Any] = [c.value for c in summary[summary.max_row]]
    assert last[0] == "合计"
    assert round(last[2] * 100) == 70500
    unit_sheet = book[book.sheetnames[1]]
    assert [c.value for c in unit_sheet[2]][:2] == ["案件编号", "调解员"]
    unit_total: list[Any] = [c.value for c in unit_sheet[unit_sheet.max_row]]
    assert round(unit_total[9] * 100) == 70500

    correction = {"profile_id": a["profile_id"], "case_id": second, "amount": -500, "reason": "难度认定更正"}
    corrected = await api.post(f"{statement}/corrections", correction, token=office)
    assert corrected.status == 201, corrected.json
    assert (corrected.json["month"], corrected.json["state"], corrected.json["totals"]["total"]) == (
        "2026-12",
        "open",
        -500,
    )
    adjustment = corrected.json["lines"][0]
    assert (adjustment["kind"], adjustment["amount"], adjustment["corrects_month"]) == ("adjustment", -500, "2026-11")
    assert (await api.get(statement, token=office)).json["totals"]["total"] == 70500  # locked: never edited
    open_month = await api.post(
        f"/api/subsidies/statements/{corrected.json['id']}/corrections", correction, token=office
    )
    assert open_month.status == 409  # an open statement is rebuilt, not corrected
    negative = correction | {"amount": "很多"}
    assert (await api.post(f"{statement}/corrections", negative, token=office)).status == 422

    slips = await api.get("/api/subsidies/slips", token=mediator)
    assert [(s["month"], s["total"]) for s in slips.json["items"]] == [("2026-12", -500), ("2026-11", 70500)]
    theirs_slips = await api.get("/api/subsidies/slips", token=twin.people["mediator_a"].token)
    assert theirs_slips.json["items"] == []


async def test_a_consultation_is_asked_answered_and_warned_about(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    office, mediator, expert = (town.people[w].token for w in ("office", "mediator_a", "expert"))
    case_id = await case_for(api, town)
    session = {"at": NOW.isoformat(), "place": "甲村调解室", "mediators": ["mediator_a"]}
    recorded = await api.post(f"/api/cases/{case_id}/sessions", session, token=mediator)
    session_id = recorded.json["sessions"][-1]["id"]

    experts = await api.get("/api/experts", token=mediator)
    assert [e["name"] for e in experts.json["items"]] == ["expert"]  # not the other town's
    expert_id = experts.json["items"][0]["id"]
    updated = await api.request(
        "PATCH", f"/api/experts/{expert_id}", json_body={"field": "law", "title": "律师"}, token=office
    )
    assert updated.status == 200
    assert updated.json["field"] == "law"

    deadline = (NOW + timedelta(days=2)).isoformat()
    ask = {"expert_id": expert_id, "question": "宅基地边界如何认定？", "deadline": deadline, "session_id": session_id}
    assert (
        await api.post(
            f"/api/cases/{case_id}/consultations", ask | {"deadline": "2020-01-01T00:00:00Z"}, token=mediator
        )
    ).status == 422
    assert (
        await api.post(f"/api/cases/{case_id}/consultations", ask, token=town.people["mediator_b"].token)
    ).status in (403, 404)
    asked = await api.post(f"/api/cases/{case_id}/consultations", ask, token=mediator)
    assert asked.status == 201, asked.json
    consultation = f"/api/consultations/{asked.json['id']}"

    # The expert hears by SMS and in the app, sees the matter with names masked, and nothing else of the case.
    await Relay(ctx).run_once()
    expert_user = town.people["expert"].user["_id"]
    sms = await ctx.db["outbox"].find_one({"user_id": expert_user, "event": "consultation_requested"})
    assert sms is not None
    assert sms["channel"] == "sms"
    seen = await api.get(consultation, token=expert)
    assert seen.status == 200
    assert [p["name"] for p in seen.json["case"]["parties"]] == ["张*", "李*"]
    assert "13812345678" not in seen.body.decode()
    assert (await api.get(f"/api/cases/{case_id}", token=expert)).status in (403, 404)
    assert (await api.get(consultation, token=twin.people["expert"].token)).status == 404
    assert (await api.get("/api/consultations", token=twin.people["expert"].token)).json["total"] == 0
    assert (
        await api.post(f"{consultation}/answer", {"text": "冒名答复"}, token=twin.people["expert"].token)
    ).status == 404

    # A file for the opinion: the expert's alone to add, readable by the asker, not by the other town's expert.
    filed = await api.post(f"{consultation}/files", body=png(), token=expert, headers={"Content-Type": "image/png"})
    assert filed.status == 201, filed.json
    (opinion_file,) = filed.json["files"]
    assert opinion_file["content_type"] == "image/jpeg"  # re-encoded like a case photo
    assert (
        await api.post(f"{consultation}/files", body=png(), token=mediator, headers={"Content-Type": "image/png"})
    ).status == 403
    download = await api.get(opinion_file["url"], token=mediator)
    assert (download.status, download.headers["Content-Type"]) == (200, "image/jpeg")
    assert (await api.get(opinion_file["url"], token=twin.people["expert"].token)).status == 404

    answered = await api.post(f"{consultation}/answer", {"text": "以土地确权登记为准。"}, token=expert)
    assert answered.status == 200
    assert answered.json["state"] == "answered"
    assert (await api.post(f"{consultation}/answer", {"text": "再答"}, token=expert)).status == 409
    late_file = await api.post(f"{consultation}/files", body=png(), token=expert, headers={"Content-Type": "image/png"})
    assert late_file.status == 409  # the opinion is given: nothing more is added to it
    case = (await api.get(f"/api/cases/{case_id}", token=mediator)).json
    assert case["timeline"][-1]["action"] == "expert_opinion"
    assert case["sessions"][-1]["opinions"][0]["text"] == "以土地确权登记为准。"
    await Relay(ctx).run_once()
    heard = await api.get("/api/notifications", token=mediator)
    assert any(item["event"] == "consultation_answered" for item in heard.json["items"])
    listed = await api.get("/api/experts", token=office)
    assert listed.json["items"][0]["answered"] == 1

    # Unanswered past its deadline: warned once, red, to the expert and the one who asked.
    late = await api.post(f"/api/cases/{case_id}/consultations", ask | {"session_id": None}, token=mediator)
    ctx.clock.advance(timedelta(days=3))
    job = WarningsJob(ctx, 60, WARNING_SCANS)  # the rounds the server runs (the morning's 研判 among them)
    assert (await job.run_once() or 0) >= 1
    assert await job.run_once() == 0  # nothing is raised twice
    assert (await api.get(f"/api/consultations/{late.json['id']}", token=expert)).json["warning"] == "red"
    await Relay(ctx).run_once()
    red = await ctx.db["outbox"].find({"user_id": expert_user, "event": "consultation_red"}).to_list(None)
    assert len(red) == 1
