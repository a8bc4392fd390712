"""The demo town: a complete org tree, a few hundred households, one user of every role; seeded once."""

from __future__ import annotations

import re
from collections import Counter

from bson import ObjectId

from scripts.seed_assessment import CASES as ASSESSMENT_CASES
from scripts.seed_demo import (
    DEMO_CASES,
    DEMO_USERS,
    HISTORY_STEPS,
    MORE_VILLAGES,
    SIZES,
    VILLAGES,
    Size,
    seed_demo_town,
)
from scripts.seed_incentives import CASES as INCENTIVE_CASES
from scripts.seed_prevention import CASES as PREVENTION_CASES
from scripts.seed_publicity import CASES as PUBLICITY_CASES
from server.__main__ import parse_args
from server.core.context import Context
from server.core.permissions import ROLES
from server.core.pii import normalize_id_number
from server.orgs.tree import CENTER_TYPES
from server.people.sessions import SessionService
from server.people.users import UserService


async def test_seed_builds_the_town(ctx: Context) -> None:
    lines = await seed_demo_town(ctx)
    units = await ctx.db["org_units"].find({}).to_list(None)
    kinds = Counter(u["kind"] for u in units)
    assert kinds == {
        "county": 1,
        "committee": 6,
        "town": 1,
        "center": 7,  # the town's six and the county's general mediation center
        "village": 4,
        "mediation_room": 4,
        "grid": 8,
        "micro_grid": 24,
    }
    town = next(u for u in units if u["kind"] == "town")
    assert town["name"] == "示范镇"
    centers = {u["center_type"] for u in units if u["kind"] == "center"}
    assert centers == set(CENTER_TYPES)
    by_id = {u["_id"]: u for u in units}
    for unit in units:  # every path is its parent's path plus itself
        parent = by_id.get(unit["parent_id"])
        assert unit["path"] == [*(parent["path"] if parent else []), unit["_id"]]
    year = ctx.clock.now().astimezone(ctx.tz).year - 1
    assert lines[0].startswith(
        f"已生成示范镇：24 个微网格，288 户，13 件矛盾纠纷。调解名册 5 名社会力量；{year} 年度星级已确认；"
        "以案定补结算单 2 份；专家咨询 2 件（据另外 42 件案件）。"
    )
    assert "抽查回访 4 件（1 件与记录不符）；督查通报 1 件待整改。" in lines[0]
    assert "一件事 1 起（110 与信访）；群体性纠纷预警（6 名工人）；今日预警 2 条。" in lines[0]
    assert lines[0].endswith(
        "宣传文章 5 篇已发布（普法、通知、政策解读、典型案例 1 篇、先进典型 1 篇）；"
        "对接系统 1 个（县12345热线，经 Open311 转来 1 件）。"
    )
    assert lines[1].startswith("Open311 对接（/open311/v2/）：县12345热线的 api_key 为 sy311_")


async def test_the_demo_has_its_incentives(ctx: Context) -> None:
    """A roster with social forces, last year's stars with one 金牌调解员, a locked and an open statement, an
    answered and a pending consultation, all made from cases the services took through their lifecycle."""
    await seed_demo_town(ctx)
    roster = await ctx.db["roster"].find({}).to_list(None)
    assert sorted(p["force"] for p in roster if p.get("force")) == sorted(
        ["五老", "党员干部", "人大代表", "乡贤", "志愿者"]
    )
    gold = [p for p in roster if p.get("gold")]
    assert [(p["name"], p["star"]["level"]) for p in gold] == [("王桂兰", 5)]
    (run,) = await ctx.db["rating_runs"].find({}).to_list(None)
    assert run["state"] == "confirmed"
    assert {r["name"]: r["level"] for r in run["results"]}["王桂兰"] == 5
    statements = await ctx.db["subsidy_statements"].find({}).sort("month", 1).to_list(None)
    assert [s["state"] for s in statements] == ["locked", "open"]
    assert all(s["totals"]["total"] > 0 for s in statements)
    consultations = await ctx.db["consultations"].find({}).to_list(None)
    assert sorted(c["state"] for c in consultations) == ["answered", "pending"]


async def test_every_unit_a_case_can_be_sent_to_has_someone_to_accept_it(ctx: Context) -> None:
    await seed_demo_town(ctx)
    targets = await ctx.db["org_units"].find({"kind": {"$in": ["mediation_room", "center", "committee"]}}).to_list(None)
    assert len(targets) == 4 + 7 + 6
    users = await ctx.db["users"].find({"active": True}).to_list(None)
    on_duty = {g["org_id"] for u in users for g in u["grants"] if g["role"] in ("mediator", "center_staff")}
    assert [t["name"] for t in targets if t["_id"] not in on_duty] == []
    county = next(u for u in targets if u["kind"] == "center" and u["name"] == "示范县矛盾纠纷调解中心")
    assert (county["center_type"], len(county["path"])) == ("mediation", 2)  # right under the county


async def test_households_are_realistic_and_protected(ctx: Context) -> None:
    await seed_demo_town(ctx)
    households = await ctx.db["households"].find({}).to_list(None)
    assert len(households) == 288
    micro_grids = {u["_id"]: u for u in await ctx.db["org_units"].find({"kind": "micro_grid"}).to_list(None)}
    members = [m for h in households for m in h["members"]]
    assert len(members) > len(households)
    for household in households:
        assert household["org_path"] == micro_grids[household["micro_grid_id"]]["path"]
        assert household["address"].startswith("示范镇")
        assert household["members"][0]["relation"] == "户主"
        assert re.fullmatch(r"[\w-]{22}", household["qr_token"])
    raw = str(households)
    phones = [ctx.cipher.decrypt(m["phone_enc"], "phone") for m in members if "phone_enc" in m]
    assert len(phones) > len(households) / 2
    assert not [p for p in phones if p in raw], "a phone number is stored in clear"
    for member in members:
        id_number = ctx.cipher.decrypt(member["id_enc"], "id_number")
        assert id_number not in raw, "an ID number is stored in clear"
        assert normalize_id_number(id_number) == id_number  # valid check digit
        assert id_number[6:10] == str(member["birth_year"])
        assert member["id_hash"] == ctx.cipher.lookup_hash(id_number, "id_number")
    assert len({h["qr_token"] for h in households}) == 288


async def test_population_rolls_up_the_tree(ctx: Context) -> None:
    await seed_demo_town(ctx)
    units = await ctx.db["org_units"].find({}).to_list(None)
    households = await ctx.db["households"].find({}).to_list(None)
    residents = sum(len(h["members"]) for h in households)
    town = next(u for u in units if u["kind"] == "town")
    villages = [u for u in units if u["kind"] == "village"]
    assert town["population"] == residents
    assert sum(v["population"] for v in villages) == residents


async def test_one_user_of_every_role_who_can_log_in(ctx: Context) -> None:
    await seed_demo_town(ctx)
    users = await ctx.db["users"].find({}).to_list(None)
    assert {g["role"] for u in users for g in u["grants"]} == set(ROLES)
    assert {g.get("liaison_for") for u in users for g in u["grants"] if g["role"] == "liaison"} == {
        "police",
        "court",
        "petition",
    }
    for spec in DEMO_USERS:
        user = await UserService(ctx).by_phone(spec["phone"])
        assert user is not None
        assert user["name"] == spec["name"]
        assert "phone" not in user
        pair = await SessionService(ctx).start(user, method="test", second_factor=True)
        principal = ctx.tokens.verify(pair.access_token)
        assert principal.has_role(spec["role"])
        for grant in user["grants"]:
            if grant["org_id"] is not None:
                assert await ctx.db["org_units"].find_one({"_id": ObjectId(grant["org_id"])}) is not None


async def test_seeding_twice_changes_nothing(ctx: Context) -> None:
    await seed_demo_town(ctx)
    counts = {name: await ctx.db[name].count_documents({}) for name in ("org_units", "households", "users", "cases")}
    lines = await seed_demo_town(ctx)
    assert lines[0] == "示范镇已存在，未重复生成。"
    assert {name: await ctx.db[name].count_documents({}) for name in counts} == counts
    assert any("13900000005" in line for line in lines)


async def test_the_demo_queue_has_cases_in_every_state(ctx: Context) -> None:
    from server.core.vocabulary import STATE_LABELS

    await seed_demo_town(ctx)
    cases = await ctx.db["cases"].find({}).to_list(None)
    assert {c["state"] for c in cases} == set(STATE_LABELS)
    assert {c["source"] for c in cases} >= {"grassroots", "police"}
    assert any(c.get("supervised") for c in cases)
    assert any(c.get("suspended") for c in cases)
    assert any(c["risk"] == "high" for c in cases)
    closed = next(c for c in cases if c["state"] == "closed")
    assert [e["action"] for e in closed["timeline"]] == [
        "submit",
        "assign",
        "accept",
        "conclude",
        "review_pass",
        "follow_up_satisfied",
    ]
    numbers = [c["number"] for c in cases]
    assert len(set(numbers)) == len(numbers)


async def test_a_town_sized_demo_has_history_visits_and_messages(ctx: Context, monkeypatch) -> None:
    """`--demo-size town`, scaled down here (the real one takes half a minute): more villages, each with its
    mediator and grid workers, cases of every age through the case service, visits and messages of the past."""
    small = Size(tuple(VILLAGES + MORE_VILLAGES[:2]), 3, history_cases=60, visits=300, messages=80)
    monkeypatch.setitem(SIZES, "town", small)
    ctx.clock.freeze()  # ages below are measured from the moment the seed ran
    assert parse_args(["--demo", "--demo-size", "town"]).demo_size == "town"
    lines = await seed_demo_town(ctx, "town")
    assert lines[0].startswith("已生成示范镇：36 个微网格，108 户，73 件矛盾纠纷。另有 300 条走访记录、80 条消息。")
    cases = await ctx.db["cases"].find({}).to_list(None)
    assert len(cases) == len(DEMO_CASES) + 60 + INCENTIVE_CASES + ASSESSMENT_CASES + PREVENTION_CASES + PUBLICITY_CASES
    history = [c for c in cases if c["description"].startswith("历史纠纷")]
    assert {c["channel"] for c in history} == {"miniprogram", "grid_visit", "police_referral"}
    after = ["registered", "assigned", "in_mediation", "concluded", "follow_up", "closed"]  # by steps taken
    for case in history:  # each taken as far as its age allows
        age = (ctx.clock.now() - case["created_at"]).total_seconds() / 86400
        steps = next(steps for older, steps in HISTORY_STEPS if age > older)
        assert case["state"] == after[len(steps)], (age, case["state"])
    assert {"closed", "registered"} <= {c["state"] for c in history}
    assert len({c["village_id"] for c in history}) >= 5  # spread over the villages, new ones included
    assert all(n["status"] != "pending" for c in cases for n in c["notifications"])  # delivered long ago
    visits = await ctx.db["visits"].find({}).to_list(None)
    users = {u["_id"]: u for u in await ctx.db["users"].find({"grants.role": "grid_worker"}).to_list(None)}
    assert len(visits) == 300 + 1  # and the 政策宣传 visit that handed out an article (scripts/seed_publicity.py)
    for visit in visits:  # each by the grid worker of the household's grid
        grants = users[visit["visitor_id"]]["grants"]
        assert any(g["role"] == "grid_worker" and g["org_id"] in visit["org_path"] for g in grants)
    outbox = await ctx.db["outbox"].find({}).to_list(None)
    # The invented history's messages, beside the star ratings published to each rated mediator and the
    # supervision notice's to the village room.
    seeded = ["rating_published", "supervision_issued"]
    inbox = await ctx.db["inbox"].find({"event": {"$nin": seeded}}).to_list(None)
    assert len(outbox) == len(inbox) == 40
    assert {m["status"] for m in outbox} == {"sent"}
    assert await seed_demo_town(ctx, "town") != lines  # a second run leaves the town alone
    assert await ctx.db["cases"].count_documents({}) == len(cases)


async def test_the_demo_has_a_year_of_statistics_a_scored_quarter_a_spot_check_and_an_open_notice(ctx: Context) -> None:
    from scripts.seed_assessment import POLICE_CALLS

    await seed_demo_town(ctx)
    town_rows = {"source": "police", "unit_kind": "town"}
    police = await ctx.db["source_statistics"].find(town_rows).sort([("month", 1)]).to_list(None)
    calls = [row["counts"]["dispute_calls"] for row in police]
    assert len(police) == 24
    assert calls[12:] == POLICE_CALLS
    rises = [n for n in range(13, 24) if calls[n] > calls[n - 1]]
    assert len(rises) == 1  # declining, with one month up
    assert all(calls[n] > calls[n + 12] for n in range(12))  # below the same month last year
    assert await ctx.db["assessment_schemes"].count_documents({}) == 1
    runs = await ctx.db["assessment_runs"].find({}).to_list(None)
    assert sorted(r["scope_kind"] for r in runs) == ["county", "town"]
    assert all(r["final"] and r["period"].count("-Q") == 1 for r in runs)
    villages = next(r for r in runs if r["scope_kind"] == "town")["units"]
    assert [u["rank"] for u in villages] == sorted(u["rank"] for u in villages)
    assert len(villages) == 4
    results = [i["result"] for i in await ctx.db["spot_check_items"].find({}).to_list(None)]
    assert len(results) == 4
    assert sum(r["mismatch"] for r in results) == 1
    notices = await ctx.db["supervision_notices"].find({}).to_list(None)
    assert [(n["state"], n["unit_name"]) for n in notices] == [("issued", "东风村")]


async def test_the_demo_has_a_linked_dispute_a_suggestion_a_cluster_a_repeat_household_and_warnings(
    ctx: Context,
) -> None:
    from scripts.seed_prevention import CONTRACTOR

    await seed_demo_town(ctx)
    (dispute,) = await ctx.db["disputes"].find({}).to_list(None)
    assert (dispute["state"], sorted(dispute["sources"])) == ("open", ["petition", "police"])
    suggested = (
        await ctx.db["cases"].find({"link_suggestions.reasons": "同村同一被申请人", "dispute_id": None}).to_list(None)
    )
    assert suggested, "a pair suggested and left unlinked"
    warnings = await ctx.db["warnings"].find({}).to_list(None)
    cluster = next(w for w in warnings if w["kind"] == "cluster")
    assert CONTRACTOR in cluster["title"]
    assert len(cluster["case_ids"]) == 6
    assert any(w["kind"] == "risk" for w in warnings)
    repeat = (
        await ctx.db["cases"]
        .find({"channel": "grid_visit", "description": {"$regex": "^走访发现：与邻居"}})
        .to_list(None)
    )
    assert len({c["household_id"] for c in repeat}) == 1
    assert len(repeat) == 3
    assert await ctx.db["household_notes"].count_documents({"done_at": None}) == 1
