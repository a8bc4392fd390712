"""主动治理 over HTTP, in two towns: a petition about a quarrel that came in as a 110 call two weeks ago is
suggested with its reason, linked, and closed when its lead closes; merges come out the same in any order
and two people linking at once make one dispute; a resident's second submission of the same complaint;
the household file; the risk rules, a rise on the timeline that tells the office at once, warnings handled,
a group-dispute cluster, a critical warning escalated to the county and the morning's 研判; the link
candidates of a common respondent's name."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from notify.outbox import Relay
from server.cases.model import Case, new_case
from server.cases.repository import NAME_CANDIDATES, CaseRepository
from server.core.context import Context
from tests.test_assessment import by_key, figures
from tests.test_mediators import AGREEMENT, act
from tests.town import Town, build_twin_town, inbox_texts, register_household, resident_case, warning_rounds

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)  # 12:00 in the town
PHONE = "13812345678"


def referral(town: Town, channel: str, ref: str, **overrides: Any) -> dict[str, Any]:
    body = resident_case(town, channel=channel, external_ref=ref, received_at=NOW.isoformat(), category="neighbour")
    body.pop("confirm_new")
    return body | overrides


async def register(api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    made = await api.post("/api/cases", body, token=token)
    assert made.status == 201, made.json
    return dict(made.json)


async def test_a_petition_about_a_110_call_is_suggested_linked_and_closed_with_its_lead(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW - timedelta(days=14))
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    petition = await login(("liaison", town.units["petition中心"]["_id"], "petition"), name="信访联络员")
    police_case = await register(api, town.people["police"].token, referral(town, "police_referral", "110-0001"))
    ctx.clock.set(NOW)
    unrelated = await register(
        api,
        town.people["resident_b"].token,
        resident_case(
            town,
            category="labour",
            parties=[
                {"role": "applicant", "name": "赵六", "phone": "13900001111"},
                {"role": "respondent", "name": "钱七"},
            ],
        ),
    )
    petition_case = await register(api, petition.token, referral(town, "petition_referral", "XF-0001", category="land"))
    office = town.people["office"].token

    links = await api.get(f"/api/cases/{petition_case['id']}/links", token=office)
    assert links.status == 200, links.json
    assert links.json["dispute"] is None
    (suggestion,) = links.json["suggestions"]
    assert suggestion["case_id"] == police_case["id"]
    assert suggestion["reasons"] == ["同一当事人电话", "同村同一被申请人", "相关类别"]
    assert suggestion["source"] == "police"
    stored = await ctx.db["cases"].find_one({"number": petition_case["number"]})
    assert [s["number"] for s in stored["link_suggestions"]] == [police_case["number"]]  # found at registration
    # Nobody outside sees the other case: a resident, the registering liaison, the other town.
    assert (
        await api.get(f"/api/cases/{petition_case['id']}/links", token=town.people["resident_a"].token)
    ).status == 403
    assert (await api.get(f"/api/cases/{petition_case['id']}/links", token=petition.token)).status == 403
    assert (await api.get(f"/api/cases/{petition_case['id']}/links", token=twin.people["office"].token)).status == 404
    mine = await api.get(f"/api/cases/{unrelated['id']}/links", token=office)
    assert mine.json["suggestions"] == []  # another person, another category

    itself = await api.post(
        "/api/disputes",
        {"case_id": petition_case["id"], "other_case_id": petition_case["id"], "reason": "同一件"},
        token=office,
    )
    assert itself.status == 422
    elsewhere = await api.post(
        "/api/disputes",
        {"case_id": petition_case["id"], "other_case_id": police_case["id"], "reason": "同一件"},
        token=twin.people["office"].token,
    )
    assert elsewhere.status == 404
    linked = await api.post(
        "/api/disputes",
        {"case_id": petition_case["id"], "other_case_id": police_case["id"], "reason": "同一邻里纠纷先报警后信访"},
        token=office,
    )
    assert linked.status == 200, linked.json
    dispute = linked.json
    assert dispute["lead_case_id"] == police_case["id"]  # the earliest
    assert sorted(dispute["sources"]) == ["petition", "police"]
    assert [m["number"] for m in dispute["members"]] == [police_case["number"], petition_case["number"]]
    assert [e["case_number"] for e in dispute["timeline"]][:2] == [police_case["number"]] * 2  # the 110 call's first
    assert dispute["timeline"] == sorted(dispute["timeline"], key=lambda e: e["at"])
    assert dispute["history"][0]["reason"] == "同一邻里纠纷先报警后信访"
    audit = await ctx.db["audit_log"].find_one({"action": "dispute.link"})
    assert audit is not None
    assert (await api.get(f"/api/disputes/{dispute['id']}", token=twin.people["office"].token)).status == 404
    petition_now = await ctx.db["cases"].find_one({"number": petition_case["number"]})
    assert "同一纠纷来自 2 个来源（+15）" in petition_now["risk_reasons"]

    # The lead closes: the petition closes with it, keeping its own history; its liaison hears.
    case_id = police_case["id"]
    mediator = str(town.people["mediator_a"].user["_id"])
    await act(api, town, "office", case_id, "assign", org_id=town.id("甲村调解室"), mediator_ids=[mediator])
    await act(api, town, "mediator_a", case_id, "accept")
    await act(api, town, "mediator_a", case_id, "conclude", **AGREEMENT)
    await act(api, town, "office", case_id, "review_pass")
    await act(api, town, "office", case_id, "follow_up_satisfied")
    member = (await api.get(f"/api/cases/{petition_case['id']}", token=office)).json
    assert member["state"] == "closed"
    assert (await api.get(f"/api/disputes/{dispute['id']}", token=office)).json["state"] == "closed"
    assert member["timeline"][-1]["action"] == "dispute_closed"
    assert member["outcome"] is not None
    await Relay(ctx).run_once()
    assert any(petition_case["number"] in t for t in await inbox_texts(api, petition.token))

    # Assessment counts the sources per case and the dispute once.
    found = by_key(await figures(api, office, "2026-11"))
    assert (found["received"]["value"], found["disputes_received"]["value"]) == (3.0, 2.0)  # 110 + petition: one


async def test_linking_in_any_order_or_at_once_makes_one_dispute(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    office = town.people["office"].token

    async def three(count: int = 3) -> list[dict[str, Any]]:
        made = []
        for hours in range(count, 0, -1):
            ctx.clock.set(NOW - timedelta(hours=hours))
            made.append(await register(api, town.people["resident_a"].token, resident_case(town)))
        ctx.clock.set(NOW)
        return made

    async def link(one: dict[str, Any], two: dict[str, Any]) -> Any:
        return await api.post(
            "/api/disputes", {"case_id": one["id"], "other_case_id": two["id"], "reason": "同一件事"}, token=office
        )

    results = []
    for order in ((0, 1, 1, 2), (1, 2, 0, 1)):
        a = await three()
        first = await link(a[order[0]], a[order[1]])
        second = await link(a[order[2]], a[order[3]])
        assert (first.status, second.status) == (200, 200)
        results.append(
            (
                second.json["lead_case_id"] == a[0]["id"],
                sorted(m["number"] for m in second.json["members"]) == sorted(c["number"] for c in a),
            )
        )
    assert results == [(True, True), (True, True)]
    # A case joins a dispute; two disputes merge into the one holding the earliest case, and the other says
    # where it went.
    a = await three(4)
    first, second = await link(a[0], a[1]), await link(a[2], a[3])
    assert first.json["id"] != second.json["id"]
    merged = await link(a[3], a[1])
    assert (merged.json["id"], merged.json["lead_case_id"]) == (first.json["id"], a[0]["id"])
    assert [m["number"] for m in merged.json["members"]] == [c["number"] for c in a]
    gone = await api.get(f"/api/disputes/{second.json['id']}", token=office)
    assert (gone.json["state"], gone.json["merged_into"], gone.json["members"]) == ("merged", first.json["id"], [])
    # At once: two people link (a, b) and (b, c) together; one dispute holds all three.
    a = await three()
    both = await asyncio.gather(link(a[0], a[1]), link(a[1], a[2]))
    assert [r.status for r in both] == [200, 200]
    ids = set()
    for c in a:
        ids.add((await ctx.db["cases"].find_one({"number": c["number"]}))["dispute_id"])
    assert len(ids) == 1
    dispute_id = str(ids.pop())
    # Unlinking: the last case but one leaves, and the dispute ends.
    out = await api.post(
        f"/api/disputes/{dispute_id}/unlink", {"case_id": a[2]["id"], "reason": "不是同一件事"}, token=office
    )
    assert (out.status, len(out.json["members"])) == (200, 2)
    lead = await api.post(
        f"/api/disputes/{dispute_id}/lead", {"case_id": a[1]["id"], "reason": "由镇中心主办"}, token=office
    )
    assert lead.json["lead_case_id"] == a[1]["id"]
    ended = await api.post(
        f"/api/disputes/{dispute_id}/unlink", {"case_id": a[0]["id"], "reason": "不是同一件事"}, token=office
    )
    assert (ended.json["state"], ended.json["members"]) == ("dissolved", [])
    for c in a:
        assert (await ctx.db["cases"].find_one({"number": c["number"]}))["dispute_id"] is None


async def test_the_same_complaint_twice_in_a_day_is_named_and_may_still_be_sent(api, ctx: Context, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    token = town.people["resident_a"].token
    body = resident_case(town) | {"confirm_new": False}
    first = await register(api, token, body)
    again = await api.post("/api/cases", body | {"description": body["description"] + " "}, token=token)
    assert (again.status, again.error_code) == (409, "duplicate_submission")
    assert again.json["error"]["details"]["number"] == first["number"]
    assert first["number"] in again.json["error"]["message"]
    other = await api.post(
        "/api/cases", body | {"description": "村口的路灯坏了三个月没人修，晚上出行很不方便。"}, token=token
    )
    assert other.status == 201
    assert (await api.post("/api/cases", body | {"confirm_new": True}, token=token)).status == 201
    ctx.clock.set(NOW + timedelta(days=1, minutes=1))
    assert (await api.post("/api/cases", body, token=token)).status == 201  # a day later it is news


async def test_the_household_file_in_one_request(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    grid = town.people["grid_a"].token
    made = await api.post(
        "/api/households",
        {
            "micro_grid_id": town.id("甲村微网格"),
            "address": "甲村1组8号",
            "tags": ["重点关注"],
            "members": [{"name": "张三", "relation": "户主", "phone": PHONE}],
        },
        token=grid,
    )
    assert made.status == 201, made.json
    household = made.json
    visit = {
        "client_id": "visit-0001",
        "household_id": household["id"],
        "purposes": ["dispute_check"],
        "notes": "与邻居因通道有争执",
        "visited_at": NOW.isoformat(),
    }
    assert (await api.post("/api/visits", visit, token=grid)).status in (200, 201)
    at_home = await register(
        api, grid, resident_case(town, channel="grid_visit", household_id=household["id"]) | {"confirm_new": False}
    )
    as_party = await register(
        api, town.people["resident_a"].token, resident_case(town, "乙村")
    )  # 张三's phone, elsewhere
    note = await api.post(
        f"/api/households/{household['id']}/notes",
        {"text": "户主情绪不稳，每周回访", "follow_up_on": "2026-11-20"},
        token=grid,
    )
    assert note.status == 201
    file = await api.get(f"/api/households/{household['id']}/file", token=grid)
    assert file.status == 200, file.json
    body = file.json
    assert body["household"]["members"][0]["phone"] == "138****5678"
    assert [v["notes"] for v in body["visits"]] == ["与邻居因通道有争执"]
    assert {c["number"] for c in body["cases"]} == {at_home["number"]}  # 乙村's case is not the grid worker's to see
    assert body["risk"] == "medium"
    assert any("重点关注" in r for r in body["risk_reasons"])
    office_view = await api.get(f"/api/households/{household['id']}/file", token=town.people["office"].token)
    assert {c["number"] for c in office_view.json["cases"]} == {at_home["number"], as_party["number"]}
    assert PHONE not in office_view.body.decode()
    assert (await api.get(f"/api/households/{household['id']}/file", token=twin.people["grid_a"].token)).status == 404
    assert (
        await api.get(f"/api/households/{household['id']}/file", token=town.people["resident_a"].token)
    ).status == 403
    done = await api.post(
        f"/api/households/{household['id']}/notes/{note.json['id']}/done", {"text": "已稳定"}, token=grid
    )
    assert done.json["done_at"] is not None
    again = await api.post(
        f"/api/households/{household['id']}/notes/{note.json['id']}/done", {"text": "已稳定"}, token=grid
    )
    assert again.status == 409
    scan = await api.get(
        f"/api/scan/{(await ctx.db['households'].find_one({'address': '甲村1组8号'}))['qr_token']}", token=grid
    )
    assert scan.json["file_url"] == f"/api/households/{household['id']}/file"


async def test_risk_rules_are_data_and_a_rise_is_told_at_once(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    office = town.people["office"].token
    rules = (await api.get("/api/settings/risk-rules", token=office)).json
    assert rules["version"] is not None
    keep = {k: v for k, v in rules.items() if k not in ("org_id", "source", "town_may_override", "version")}
    bad = keep | {"lexicon": [{"label": "坏规则", "pattern": "([", "points": 10}]}
    refused = await api.put("/api/settings/risk-rules", bad, token=office)
    assert refused.status == 422
    assert refused.json["error"]["details"][0]["field"] == "lexicon.0.pattern"
    too_wide = keep | {"lexicon": [*keep["lexicon"], {"label": "纠纷", "pattern": "邻居", "points": 5}]}
    refused = await api.put("/api/settings/risk-rules", too_wide, token=office)
    assert refused.json["error"]["details"][0]["field"] == "lexicon_tests.no_match.0"
    refused = await api.put(
        "/api/settings/risk-rules", keep | {"levels": {"medium": 50, "high": 40, "critical": 70}}, token=office
    )
    assert refused.json["error"]["details"][0]["field"] == "levels"
    saved = await api.put("/api/settings/risk-rules", keep | {"returned_points": 10}, token=office)
    assert saved.status == 200, saved.json
    twin = await build_twin_town(ctx, login, town)  # the other town keeps the county's rules
    theirs = await api.get("/api/settings/risk-rules", token=twin.people["office"].token)
    assert (theirs.json["returned_points"], rules["returned_points"]) == (5, 5)
    refused = await api.put("/api/settings/risk-rules", keep, token=town.people["mediator_a"].token)
    assert refused.status == 403

    # Five parties (20) at a 重点关注 household (15): medium. Returned by the unit (+10): high, told at once.
    grid = town.people["grid_a"].token
    household = await register_household(api, town.id("甲村微网格"), "甲村2组1号", "孙八", grid)
    await api.request("PATCH", f"/api/households/{household['id']}", json_body={"tags": ["重点关注"]}, token=grid)
    parties = [{"role": "applicant", "name": f"申请人{n}"} for n in range(4)] + [{"role": "respondent", "name": "对方"}]
    case = await register(
        api, grid, resident_case(town, channel="grid_visit", household_id=household["id"], parties=parties)
    )
    stored = await ctx.db["cases"].find_one({"number": case["number"]})
    assert (stored["risk"], stored["risk_score"]) == ("medium", 35)
    await act(api, town, "office", case["id"], "assign")
    await act(api, town, "mediator_a", case["id"], "return", reason="不属于本调解室")
    stored = await ctx.db["cases"].find_one({"number": case["number"]})
    assert (stored["risk"], stored["risk_score"]) == ("high", 45)
    change = stored["timeline"][-1]
    assert change["action"] == "risk_changed"
    assert "住户标签：重点关注（+15）" in change["note"]
    assert "曾被承办单位退回（+10）" in change["note"]
    told = [n for n in stored["notifications"] if n["event"] == "risk_high"]
    assert sorted(n["audience"] for n in told) == ["office", "unit"]
    await Relay(ctx).run_once()
    assert any(case["number"] in t and "高风险" in t for t in await inbox_texts(api, office))


async def test_warnings_clusters_escalation_and_the_morning_briefing(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    county = await login(("county_admin", town.units["测试县"]["_id"]), name="县综治中心")
    office = town.people["office"].token
    # Six workers against one contractor; ten parties with words of violence (critical).
    for n in range(6):
        body = resident_case(
            town,
            category="labour",
            description=f"包工头拖欠第{n + 1}位工人工资三个月，多次讨要未果。",
            parties=[
                {"role": "applicant", "name": f"工人{n}", "phone": f"1391234{n:04d}"},
                {"role": "respondent", "name": "王老板"},
            ],
        )
        await register(api, town.people["resident_b"].token, body)
    crowd = [{"role": "applicant", "name": f"村民{n}"} for n in range(9)] + [{"role": "respondent", "name": "某公司"}]
    critical = await register(
        api,
        town.people["resident_a"].token,
        resident_case(town, description="征地补偿不公，有人扬言要同归于尽。", parties=crowd),
    )
    assert (await ctx.db["cases"].find_one({"number": critical["number"]}))["risk"] == "critical"
    await warning_rounds(ctx)
    listed = await api.get("/api/warnings?page_size=50", token=office)
    assert listed.status == 200, listed.json
    kinds = {(w["kind"], w["level"]) for w in listed.json["items"]}
    assert ("cluster", "high") in kinds
    assert ("risk", "critical") in kinds
    cluster = next(w for w in listed.json["items"] if w["kind"] == "cluster")
    assert "王老板" in cluster["title"]
    assert len(cluster["case_ids"]) == 6
    worker_case = await ctx.db["cases"].find_one({"_id": ObjectId(cluster["case_ids"][0])})
    assert "多名群众针对同一对象（群体性纠纷预警）（+30）" in worker_case["risk_reasons"]
    assert (await api.get("/api/warnings", token=twin.people["office"].token)).json["total"] == 0
    await warning_rounds(ctx)  # nothing new a second time
    assert (await api.get("/api/warnings?page_size=50", token=office)).json["total"] == listed.json["total"]

    acked = await api.post(f"/api/warnings/{cluster['id']}/acknowledge", {"note": "已安排劳动所介入"}, token=office)
    assert acked.json["state"] == "acknowledged"
    handled = await api.post(f"/api/warnings/{cluster['id']}/handle", {"note": "已调解，工资分期支付"}, token=office)
    assert handled.json["state"] == "handled"
    assert (await api.post(f"/api/warnings/{cluster['id']}/handle", {"note": "再次处置"}, token=office)).status == 409
    assert (
        await api.post(f"/api/warnings/{cluster['id']}/handle", {"note": "越权处置"}, token=twin.people["office"].token)
    ).status == 404

    # The critical one waits past its hours: the county hears. (At 17:00 the day's 研判 went out too.)
    ctx.clock.set(NOW + timedelta(hours=5))
    await warning_rounds(ctx)
    assert any("未处置" in t and critical["number"] in t for t in await inbox_texts(api, county.token))

    # The next morning at 08:30 the office gets the 研判: in full in the app, counts only by SMS.
    ctx.clock.set(datetime(2026, 11, 16, 0, 30, tzinfo=UTC))
    await warning_rounds(ctx)
    texts = await inbox_texts(api, office)
    briefing = next(t for t in texts if "2026-11-16 矛盾纠纷研判" in t)
    assert "王老板" in briefing
    assert critical["number"] in briefing
    sms = await ctx.db["outbox"].find_one({"event": "daily_briefing", "user_id": town.people["office"].user["_id"]})
    assert sms is not None
    assert "王老板" not in sms["text"]
    assert "工人" not in sms["text"]
    latest = await api.get("/api/briefings/latest", token=office)
    assert (latest.json["day"], latest.json["counts"]["clusters"]) == ("2026-11-16", 1)  # raised yesterday
    await warning_rounds(ctx)
    assert sum("2026-11-16 矛盾纠纷研判" in t for t in await inbox_texts(api, office)) == 1  # once a day


async def test_a_case_past_its_deadline_scores_it(api, ctx: Context, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    case = await register(api, town.people["resident_a"].token, resident_case(town))
    await act(api, town, "office", case["id"], "assign")
    ctx.clock.advance(timedelta(days=2))  # not accepted within 24 hours
    await warning_rounds(ctx)
    stored = await ctx.db["cases"].find_one({"number": case["number"]})
    assert stored["warnings"]["accept"] == "red"
    assert "超过办理期限（+10）" in stored["risk_reasons"]


async def test_link_candidates_by_name_are_a_respondents_newest_and_every_case_sharing_more(
    api, ctx: Context, login, town: Town
) -> None:
    """A common name in a village: of the cases with the same respondent (by name), the newest
    NAME_CANDIDATES; a case sharing a phone is a candidate however old. A name counts as a respondent's only
    (`links.Marks`): not the new case's applicant's, not an earlier case's applicant's; nor the same
    name in another village or town."""
    twin = await build_twin_town(ctx, login, town)
    cases = CaseRepository(ctx.db)
    village = town.units["甲村"]

    async def stored(
        n: int, respondent: str, *, place: dict[str, Any] = village, applicant: str = "", **party: Any
    ) -> Case:
        case = new_case(
            state="registered",
            channel="miniprogram",
            source="resident",
            now=NOW - timedelta(days=90) + timedelta(minutes=n),
            category="neighbour",
            parties=[
                {"role": "applicant", "name": applicant or f"申请人{n}", **party},
                {"role": "respondent", "name": respondent},
            ],
            village_id=place["_id"],
            town_id=place["path"][-2],
            org_path=place["path"],
        )
        case["number"] = f"N{n:04d}"
        await cases.insert(case)
        return case

    by_phone = await stored(0, "别人", phone_hash="h-phone")  # the oldest, sharing only the applicant's phone
    named = [await stored(n, "王建国") for n in range(1, NAME_CANDIDATES + 6)]
    await stored(100, "王建国", place=town.units["乙村"])
    await stored(101, "王建国", place=twin.units["二甲村"])
    await stored(102, "赵六")  # the new case's applicant's name, as a respondent: names only a respondent
    await stored(103, "别人", applicant="王建国")  # the new case's respondent's name, as an applicant

    new = {
        "_id": ObjectId(),
        "village_id": village["_id"],
        "parties": [
            {"role": "applicant", "name": "赵六", "phone_hash": "h-phone"},
            {"role": "respondent", "name": "王建国"},
        ],
    }
    found = await cases.link_candidates(new, NOW - timedelta(days=180))
    newest = {c["_id"] for c in named[-NAME_CANDIDATES:]}
    assert {c["_id"] for c in found} == newest | {by_phone["_id"]}
    assert len(found) == NAME_CANDIDATES + 1
