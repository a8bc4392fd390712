"""督查 over HTTP, in two towns: a spot check drawn again from its seed gives the same cases, a resident who
contradicts the record flags the case and tells the office, and the share confirmed is a figure; a
supervision notice answered, sent back, answered again and accepted, another overdue and warned about by the
warnings job, counted against the unit; inspection records raising a notice."""

from __future__ import annotations

from datetime import timedelta

from bson import ObjectId

from notify.outbox import Relay
from server.core.context import Context
from tests.test_assessment import NOW, by_key, figures, handled
from tests.test_mediators import AGREEMENT
from tests.town import Town, build_twin_town, inbox_texts, warning_rounds


async def test_a_spot_check_is_reproducible_and_a_contradiction_flags_the_case(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    closed = [
        await handled(api, ctx, town, village, "mediator_a" if village == "甲村" else "mediator_b", AGREEMENT, True)
        for village in ("甲村", "甲村", "甲村", "乙村", "乙村")
    ]
    await handled(api, ctx, twin, "二甲村", "mediator_a", AGREEMENT, True)
    supervisor = town.people["supervisor"].token

    first = await api.post("/api/spot-checks", {"period": "2026-11", "size": 3, "seed": 42}, token=supervisor)
    assert first.status == 201, first.json
    assert (first.json["size"], first.json["population"], first.json["seed"]) == (
        3,
        5,
        42,
    )  # 第二镇's case is not drawn
    again = await api.post("/api/spot-checks", {"period": "2026-11", "size": 3, "seed": 42}, token=supervisor)
    sample = [i["number"] for i in first.json["items"]]
    assert [i["number"] for i in again.json["items"]] == sample
    villages = [i["village_id"] for i in first.json["items"]]
    assert sorted(villages) == sorted([town.id("甲村")] * 2 + [town.id("乙村")])  # 3 of 5: 甲村 1.8 → 2, 乙村 1.2 → 1
    unseeded = await api.post("/api/spot-checks", {"period": "2026-11", "share": 0.4}, token=supervisor)
    assert unseeded.json["size"] == 2
    assert isinstance(unseeded.json["seed"], int)
    assert (await api.post("/api/spot-checks", {"period": "2026-11"}, token=supervisor)).status == 422
    empty = await api.post("/api/spot-checks", {"period": "2026-09", "size": 3}, token=supervisor)
    assert (empty.status, empty.error_code) == (409, "nothing_to_sample")

    check_id = first.json["id"]
    items = first.json["items"]
    confirm = {"case_id": items[0]["case_id"], "reached": True, "confirms_outcome": True, "satisfied": True}
    assert (await api.post(f"/api/spot-checks/{check_id}/results", confirm, token=supervisor)).status == 200
    twice = await api.post(f"/api/spot-checks/{check_id}/results", confirm, token=supervisor)
    assert (twice.status, twice.error_code) == (409, "spot_check_recorded")
    deny = {"case_id": items[1]["case_id"], "reached": True, "confirms_outcome": False, "note": "当事人说协议没有履行"}
    denied = await api.post(f"/api/spot-checks/{check_id}/results", deny, token=supervisor)
    assert denied.json["result"]["mismatch"] is True
    unreached = {"case_id": items[2]["case_id"], "reached": False}
    assert (await api.post(f"/api/spot-checks/{check_id}/results", unreached, token=supervisor)).json["result"][
        "mismatch"
    ] is False
    no_answer = {"case_id": items[0]["case_id"], "reached": True}  # reached, but did they confirm?
    refused = await api.post(f"/api/spot-checks/{unseeded.json['id']}/results", no_answer, token=supervisor)
    assert refused.status == 422
    assert refused.json["error"]["details"][0]["field"] == "confirms_outcome"
    not_sampled = next(c for c in closed if c not in {i["case_id"] for i in items})
    outside = {"case_id": not_sampled, "reached": False}
    assert (await api.post(f"/api/spot-checks/{check_id}/results", outside, token=supervisor)).status == 404

    flagged = await ctx.db["cases"].find_one({"_id": ObjectId(items[1]["case_id"])})
    assert flagged["spot_check"]["note"] == "当事人说协议没有履行"
    assert flagged["timeline"][-1]["action"] == "spot_check_mismatch"
    await Relay(ctx).run_once()
    assert any(
        items[1]["number"] in text and "不认可" in text for text in await inbox_texts(api, town.people["office"].token)
    )

    confirmed = by_key(await figures(api, town.people["office"].token, "2026-11"))["spot_check_confirmed"]
    assert (confirmed["value"], confirmed["numerator"], confirmed["denominator"]) == (0.5, 1, 2)
    behind = await api.get(
        f"/api/assessment/figures/spot_check_confirmed/cases?period=2026-11&unit_id={town.id('测试镇')}&part=miss",
        token=town.people["office"].token,
    )
    assert [c["number"] for c in behind.json["items"]] == [items[1]["number"]]

    # The other town's supervisor sees none of it.
    other = twin.people["supervisor"].token
    assert (await api.get(f"/api/spot-checks/{check_id}", token=other)).status == 404
    assert (await api.get("/api/spot-checks", token=other)).json["total"] == 0
    assert (await api.post(f"/api/spot-checks/{check_id}/results", unreached, token=other)).status == 404


async def test_a_supervision_notice_is_rectified_or_warned_about_and_counts(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    county = (await login(("county_admin", town.units["测试县"]["_id"]), name="县综治中心")).token
    supervisor, room, office = (town.people[p].token for p in ("supervisor", "mediator_a", "office"))

    inspection = {
        "kind": "unannounced",
        "unit_id": town.id("甲村"),
        "date": "2026-11-14",
        "findings": ["调解台账不全", "回访记录缺失"],
    }
    inspected = await api.post("/api/inspections", inspection, token=supervisor)
    assert inspected.status == 201, inspected.json
    assert (await api.post("/api/inspections", inspection, token=twin.people["supervisor"].token)).status == 404
    deadline = (NOW + timedelta(days=10)).isoformat()
    notice = {
        "unit_id": town.id("甲村"),
        "finding": "调解台账不全，十件案件无记录",
        "deadline": deadline,
        "inspection_id": inspected.json["id"],
    }
    issued = await api.post("/api/supervision-notices", notice, token=supervisor)
    assert issued.status == 201, issued.json
    notice_id = issued.json["id"]
    assert (await api.get("/api/inspections", token=supervisor)).json["items"][0]["notice_ids"] == [notice_id]
    assert any("收到督查通报" in t for t in await inbox_texts(api, room))  # the village's room hears of it

    early = await api.post(f"/api/supervision-notices/{notice_id}/accept", {}, token=supervisor)
    assert (early.status, early.error_code) == (409, "notice_state")
    assert (
        await api.post(
            f"/api/supervision-notices/{notice_id}/answer",
            {"text": "已补齐全部台账"},
            token=town.people["mediator_b"].token,
        )
    ).status == 404
    assert (await api.get(f"/api/supervision-notices/{notice_id}", token=twin.people["office"].token)).status == 404
    answered = await api.post(
        f"/api/supervision-notices/{notice_id}/answer",
        {"text": "已补齐全部台账", "evidence": "台账照片十张"},
        token=room,
    )
    assert (answered.status, answered.json["state"]) == (200, "answered")
    assert (
        await api.post(f"/api/supervision-notices/{notice_id}/answer", {"text": "再答复一次"}, token=room)
    ).status == 409
    no_reason = await api.post(f"/api/supervision-notices/{notice_id}/return", {}, token=supervisor)
    assert no_reason.status == 422
    returned = await api.post(
        f"/api/supervision-notices/{notice_id}/return", {"reason": "缺少回访记录"}, token=supervisor
    )
    assert returned.json["state"] == "returned"
    await api.post(f"/api/supervision-notices/{notice_id}/answer", {"text": "回访记录也已补齐"}, token=room)
    accepted = await api.post(f"/api/supervision-notices/{notice_id}/accept", {}, token=supervisor)
    assert (accepted.json["state"], accepted.json["on_time"], len(accepted.json["answers"])) == ("accepted", True, 2)

    # A notice nobody answers: yellow at 80 % of its time, red past the deadline, each once; then it counts.
    late = await api.post(
        "/api/supervision-notices",
        {"unit_id": town.id("乙村"), "finding": "矛盾排查走过场", "deadline": deadline},
        token=county,
    )
    assert late.status == 201
    ctx.clock.set(NOW + timedelta(days=9))
    await warning_rounds(ctx)
    await warning_rounds(ctx)
    ctx.clock.set(NOW + timedelta(days=11))
    await warning_rounds(ctx)
    texts = await inbox_texts(api, town.people["mediator_b"].token)
    assert sum("即将到整改期限" in t for t in texts) == 1
    assert sum("已超过整改期限" in t for t in texts) == 1
    assert (await api.get(f"/api/supervision-notices/{late.json['id']}", token=county)).json["warning"] == "red"
    overdue = by_key(await figures(api, office, "2026-11"))["notices_overdue"]
    assert (overdue["value"], overdue["red"]) == (1.0, True)
    in_village = by_key(await figures(api, office, "2026-11", town.id("甲村")))["notices_overdue"]
    assert in_village["value"] == 0.0  # 甲村 rectified in time
    listed = await api.get("/api/supervision-notices?state=issued", token=office)
    assert [n["unit_name"] for n in listed.json["items"]] == ["乙村"]
    assert (await api.get("/api/supervision-notices", token=twin.people["office"].token)).json["total"] == 0
