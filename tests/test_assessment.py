"""考核 over HTTP, in two towns: figures checked by hand against the cases the test makes (per village, town and
county), each figure's list of cases adding up to its number; the sources' statistics entered, corrected and
imported; a scheme scoring the towns and a closed period that never moves; the XLSX report read back with
openpyxl and the PDF briefing rendered and read."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdfium2
from openpyxl import Workbook, load_workbook

from server.core.context import Context
from tests.test_mediators import AGREEMENT, act
from tests.town import Town, build_twin_town, register_household, resident_case

NOW = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)  # 12:00 in the town, 15 November 2026
OCTOBER = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)
FAILED = {"outcome": "failed_litigation", "reason": "双方分歧较大，引导诉讼", "referred_to": "县人民法院"}


async def made(api, town: Town, village: str, **overrides: Any) -> str:
    answer = await api.post(
        "/api/cases", resident_case(town, village, **overrides), token=town.people["resident_a"].token
    )
    assert answer.status == 201, answer.json
    return str(answer.json["id"])


async def handled(
    api, ctx: Context, town: Town, village: str, who: str, end: dict[str, Any] | None, follow: bool
) -> str:
    """A case of `village` assigned to `who`, accepted; concluded as `end` says (None: left in mediation) and,
    if `follow`, reviewed and followed up satisfied."""
    case_id = await made(api, town, village)
    await act(api, town, "office", case_id, "assign", mediator_ids=[str(town.people[who].user["_id"])])
    await act(api, town, who, case_id, "accept")
    if end is None:
        return case_id
    action = "conclude" if end["outcome"] == "agreement" else "refer_out"
    await act(api, town, who, case_id, action, **end)
    if follow:
        await act(api, town, "office", case_id, "review_pass", difficulty="ordinary")
        await act(api, town, "office", case_id, "follow_up_satisfied")
    return case_id


async def figures(api, token: str, period: str, unit_id: str | None = None) -> dict[str, Any]:
    query = f"period={period}" + (f"&unit_id={unit_id}" if unit_id else "")
    answer = await api.get(f"/api/assessment/figures?{query}", token=token)
    assert answer.status == 200, answer.json
    return answer.json


def by_key(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["key"]: f for f in found["figures"]}


def numbers(found: dict[str, Any], *keys: str) -> dict[str, tuple[Any, Any, Any]]:
    table = by_key(found)
    return {k: (table[k]["value"], table[k]["numerator"], table[k]["denominator"]) for k in keys}


async def listed(
    api, token: str, key: str, unit_id: str, period: str, part: str = "numerator", value: str = ""
) -> list[str]:
    query = f"unit_id={unit_id}&period={period}&part={part}&page_size=100" + (f"&value={value}" if value else "")
    answer = await api.get(f"/api/assessment/figures/{key}/cases?{query}", token=token)
    assert answer.status == 200, answer.json
    assert answer.json["total"] == len(answer.json["items"])
    return sorted(c["number"] for c in answer.json["items"])


async def two_towns_of_cases(api, ctx: Context, login, town: Town) -> tuple[Town, dict[str, str]]:
    """In November: 甲村 one agreement followed up, one referred to court, one still in mediation; 乙村 one
    registered only; 二甲村 (第二镇) one agreement. In October: one 甲村 agreement (outside November)."""
    twin = await build_twin_town(ctx, login, town)
    ctx.clock.set(OCTOBER)
    october = await handled(api, ctx, town, "甲村", "mediator_a", AGREEMENT, follow=True)
    ctx.clock.set(NOW)
    cases = {
        "october": october,
        "agreed": await handled(api, ctx, town, "甲村", "mediator_a", AGREEMENT, follow=True),
        "referred": await handled(api, ctx, town, "甲村", "mediator_a", FAILED, follow=False),
        "working": await handled(api, ctx, town, "甲村", "mediator_a", None, follow=False),
        "registered": await made(api, town, "乙村"),
        "second": await handled(api, ctx, twin, "二甲村", "mediator_a", AGREEMENT, follow=True),
    }
    return twin, cases


async def number_of(api, town: Town, case_id: str) -> str:
    return str((await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json["number"])


async def test_figures_per_village_town_and_county_match_their_cases(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin, cases = await two_towns_of_cases(api, ctx, login, town)
    numbers_of = {name: await number_of(api, twin if name == "second" else town, cid) for name, cid in cases.items()}
    office = town.people["office"].token
    county = (await login(("county_admin", town.units["测试县"]["_id"]), name="县综治中心")).token
    keys: tuple[str, ...] = ("received", "agreement_rate", "concluded_on_time", "village_resolution")
    keys += ("county_resolution", "open_now", "satisfaction_rate", "accepted_on_time", "average_days")

    village = await figures(api, town.people["mediator_a"].token, "2026-11", town.id("甲村"))
    assert village["unit_name"] == "甲村"
    assert (await figures(api, town.people["mediator_a"].token, "2026-11"))["unit_name"] == "甲村"  # the room's own
    assert (await figures(api, town.people["center"].token, "2026-11"))["unit_name"] == "测试镇"  # the center's town
    assert numbers(village, *keys) == {
        "received": (3.0, 3, None),
        "agreement_rate": (0.5, 1, 2),
        "concluded_on_time": (1.0, 2, 2),
        "village_resolution": (1.0, 2, 2),
        "county_resolution": (0.5, 1, 2),  # the referral to court left the county's mediation
        "open_now": (2.0, 2, None),  # in mediation, and referred out but not yet reviewed
        "satisfaction_rate": (1.0, 1, 1),
        "accepted_on_time": (1.0, 3, 3),
        "average_days": (0.0, None, 2),  # concluded the moment they were registered (the clock stands still)
    }
    town_figures = await figures(api, office, "2026-11")  # the office's own town by default
    assert town_figures["unit_name"] == "测试镇"
    assert numbers(town_figures, "received", "agreement_rate")["received"] == (4.0, 4, None)
    assert numbers(town_figures, "agreement_rate")["agreement_rate"] == (0.5, 1, 2)
    whole = await figures(api, county, "2026-11", town.id("测试县"))
    assert numbers(whole, "received", "agreement_rate") == {
        "received": (5.0, 5, None),
        "agreement_rate": (round(2 / 3, 4), 2, 3),
    }
    autumn = await figures(api, office, "2026-10-01..2026-11-30")
    assert numbers(autumn, "agreement_rate")["agreement_rate"] == (round(2 / 3, 4), 2, 3)

    # Each number opens into its cases, and the list adds up to it.
    unit = town.id("测试镇")
    assert await listed(api, office, "agreement_rate", unit, "2026-11") == [numbers_of["agreed"]]
    assert await listed(api, office, "agreement_rate", unit, "2026-11", "denominator") == sorted(
        [numbers_of["agreed"], numbers_of["referred"]]
    )
    assert await listed(api, office, "agreement_rate", unit, "2026-11", "miss") == [numbers_of["referred"]]
    assert await listed(api, office, "received", unit, "2026-11") == sorted(
        numbers_of[n] for n in ("agreed", "referred", "working", "registered")
    )
    assert await listed(api, office, "open_now", unit, "2026-11") == sorted(
        numbers_of[n] for n in ("referred", "working", "registered")
    )
    assert by_key(town_figures)["open_now"]["numerator"] == 3
    # Every figure drawn from cases, at every level: its lists add up to its numerator and denominator.
    for token, unit_id, found in (
        (office, unit, town_figures),
        (county, town.id("测试县"), whole),
        (office, town.id("甲村"), village),
    ):
        for figure in found["figures"]:
            if not figure["has_cases"] or figure["key"] == "spot_check_confirmed":
                continue
            key = figure["key"]
            if figure["numerator"] is not None:
                assert len(await listed(api, token, key, unit_id, "2026-11")) == figure["numerator"], key
            if figure["denominator"] is not None:
                assert len(await listed(api, token, key, unit_id, "2026-11", "denominator")) == figure["denominator"], (
                    key
                )
    # Breakdowns: received by source and by mediator, each value opening into its cases.
    sources = {row["value"]: row["count"] for row in town_figures["breakdowns"]["source"]}
    assert sources == {"grassroots": 4}
    mediators = town_figures["breakdowns"]["mediator"]
    assert [(m["label"], m["count"]) for m in mediators] == [("mediator_a", 2)]
    assert len(await listed(api, office, "mediator", unit, "2026-11", value=mediators[0]["value"])) == 2

    # Scope: a village room sees its own village only; another town's office and a resident see nothing here.
    other_room = await api.get(
        f"/api/assessment/figures?period=2026-11&unit_id={town.id('甲村')}", token=town.people["mediator_b"].token
    )
    assert other_room.status == 404
    assert (
        await api.get(f"/api/assessment/figures?period=2026-11&unit_id={unit}", token=twin.people["office"].token)
    ).status == 404
    assert (
        await api.get("/api/assessment/figures?period=2026-11", token=town.people["resident_a"].token)
    ).status == 403
    cases_elsewhere = await api.get(
        f"/api/assessment/figures/received/cases?period=2026-11&unit_id={unit}", token=twin.people["office"].token
    )
    assert cases_elsewhere.status == 404
    second = await figures(api, twin.people["office"].token, "2026-11")
    assert numbers(second, "received", "agreement_rate") == {"received": (1.0, 1, None), "agreement_rate": (1.0, 1, 1)}
    bad = await api.get("/api/assessment/figures?period=2026-13", token=office)
    assert bad.status == 422
    assert bad.json["error"]["details"][0]["field"] == "period"


def csv_of(*rows: str) -> bytes:
    return ("\n".join(["月份,单位,来源,纠纷类警情数,民事诉讼立案数,信访件数,越级访件数", *rows]) + "\n").encode()


async def test_the_sources_statistics_entered_corrected_imported_and_compared(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    police, court, office = (town.people[p].token for p in ("police", "court", "office"))
    unit = town.id("测试镇")

    def row(month: str, source: str, **counts: Any) -> dict[str, Any]:
        return {"unit_id": unit, "month": month, "source": source, "counts": counts}

    entered = await api.post("/api/source-statistics", row("2026-10", "police", dispute_calls=12), token=police)
    assert entered.status == 201, entered.json
    again = await api.post("/api/source-statistics", row("2026-10", "police", dispute_calls=13), token=police)
    assert (again.status, again.error_code) == (409, "statistics_exist")
    assert (
        await api.post("/api/source-statistics", row("2026-10", "court", civil_filings=3), token=police)
    ).status == 404
    twin_police = twin.people["police"].token
    assert (
        await api.post("/api/source-statistics", row("2026-10", "police", dispute_calls=1), token=twin_police)
    ).status == 404
    for bad, field in ((-1, "counts.civil_filings"), (1.5, "counts.civil_filings"), (None, "counts.civil_filings")):
        refused = await api.post("/api/source-statistics", row("2026-10", "court", civil_filings=bad), token=court)
        assert (refused.status, refused.json["error"]["details"][0]["field"]) == (422, field), refused.json
    assert (
        await api.post("/api/source-statistics", row("2026-10", "court", civil_filings=30), token=court)
    ).status == 201

    corrected = await api.put(
        f"/api/source-statistics/{entered.json['id']}",
        {"counts": {"dispute_calls": 15}, "reason": "漏报三起"},
        token=police,
    )
    assert (corrected.status, corrected.json["counts"], corrected.json["version"]) == (200, {"dispute_calls": 15}, 2)
    stale = await api.put(
        f"/api/source-statistics/{entered.json['id']}",
        {"counts": {"dispute_calls": 16}, "reason": "再次更正", "version": 1},
        token=police,
    )
    assert stale.status == 409
    audit = await ctx.db["audit_log"].find_one({"action": "statistics.correct"})
    assert audit is not None
    assert audit["details"]["before"] == {"dispute_calls": 12}
    by_court = await api.put(
        f"/api/source-statistics/{entered.json['id']}",
        {"counts": {"dispute_calls": 1}, "reason": "不是我的"},
        token=court,
    )
    assert by_court.status == 404  # a court liaison does not see the police's rows

    # An import is all or nothing: a bad row names its row and column; a row already entered is a 409.
    sheet = csv_of(
        "2026-09,测试镇,警源,10,,,",
        "2026-09,测试镇,诉源,,25,,",
        "2025-10,测试镇,警源,-3,,,",
        "2026-09,测试镇,访源,,,5,1",
    )
    refused = await api.request(
        "POST", "/api/source-statistics/import", body=sheet, token=office, headers={"Content-Type": "text/csv"}
    )
    assert refused.status == 422
    assert [d["field"] for d in refused.json["error"]["details"]] == ["row 4.纠纷类警情数"]
    assert await ctx.db["source_statistics"].count_documents({"month": "2026-09"}) == 0
    sheet = sheet.replace(
        b"2025-10,\xe6\xb5\x8b\xe8\xaf\x95\xe9\x95\x87,\xe8\xad\xa6\xe6\xba\x90,-3", "2025-10,测试镇,警源,20".encode()
    )
    imported = await api.request(
        "POST", "/api/source-statistics/import", body=sheet, token=office, headers={"Content-Type": "text/csv"}
    )
    assert (imported.status, imported.json) == (201, {"imported": 4})
    twice = await api.request(
        "POST", "/api/source-statistics/import", body=sheet, token=office, headers={"Content-Type": "text/csv"}
    )
    assert twice.status == 409
    assert [d["field"] for d in twice.json["error"]["details"]] == [
        "row 2",
        "row 3",
        "row 4",
        "row 5",
    ]
    book = Workbook()
    petitions = book.worksheets[0]
    petitions.append(["月份", "单位", "来源", "信访件数", "越级访件数"])
    petitions.append(["2026-10", "测试镇", "访源", 4, 0])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    from_excel = await api.request(
        "POST", "/api/source-statistics/import", body=buffer.getvalue(), token=office, headers={"Content-Type": xlsx}
    )
    assert (from_excel.status, from_excel.json) == (201, {"imported": 1})

    # A liaison lists only their own source in their own town.
    mine = await api.get("/api/source-statistics?page_size=50", token=police)
    assert {(r["month"], r["source"]) for r in mine.json["items"]} == {
        ("2026-10", "police"),
        ("2026-09", "police"),
        ("2025-10", "police"),
    }
    assert (await api.get("/api/source-statistics", token=twin_police)).json["total"] == 0

    # The figures: October against September (环比) and October 2025 (同比); 万人诉讼率 from the population.
    from server.orgs.tree import OrgService

    await OrgService(ctx).set_population(town.units["测试镇"]["_id"], 30_000)
    found = by_key(await figures(api, office, "2026-10"))
    calls = found["dispute_calls"]
    assert (calls["value"], calls["previous"], calls["year_before"]) == (15, 10, 20)
    assert (calls["change_previous"], calls["change_year"]) == (0.5, -0.25)
    assert (found["civil_filings"]["value"], found["civil_filings"]["change_previous"]) == (30, 0.2)
    assert (found["petitions"]["value"], found["petitions"]["previous"], found["irregular_petitions"]["previous"]) == (
        4,
        5,
        1,
    )
    assert (found["litigation_rate"]["value"], found["litigation_rate"]["denominator"]) == (10.0, 30_000)
    second = by_key(await figures(api, twin.people["office"].token, "2026-10"))
    assert second["dispute_calls"]["value"] is None  # nothing reported is no data, not zero
    assert second["litigation_rate"]["value"] is None
    assert "无数据" in second["litigation_rate"]["how"]

    # 民转刑: any incident turns the figure red, in the village and the town; not in the other town.
    incident = {
        "unit_id": town.id("甲村"),
        "date": "2026-10-20",
        "place": "甲村东头",
        "summary": "邻里纠纷激化致人轻伤",
    }
    assert (await api.post("/api/criminal-incidents", incident, token=court)).status == 404  # police, not court
    assert (await api.post("/api/criminal-incidents", incident, token=police)).status == 201
    for unit_id in (town.id("甲村"), unit):
        red = by_key(await figures(api, office, "2026-10", unit_id))["criminal_incidents"]
        assert (red["value"], red["red"]) == (1.0, True)
    assert by_key(await figures(api, twin.people["office"].token, "2026-10"))["criminal_incidents"]["red"] is False
    listed_incidents = await api.get(f"/api/criminal-incidents?period=2026-10&unit_id={unit}", token=office)
    assert [i["place"] for i in listed_incidents.json["items"]] == ["甲村东头"]
    own = await api.get("/api/criminal-incidents?period=2026-10", token=police)  # the liaison's own town
    assert [i["place"] for i in own.json["items"]] == ["甲村东头"]
    assert (await api.get(f"/api/criminal-incidents?period=2026-10&unit_id={unit}", token=twin_police)).status == 404


SCHEME: dict[str, Any] = {
    "indicators": [
        {"figure": "agreement_rate", "weight": 60, "target": 1.0, "floor": 0.0, "rule": "linear"},
        {"figure": "dispute_calls_change_year", "weight": 40, "target": -0.5, "floor": 0.5, "rule": "linear"},
    ],
    "deductions": [{"kind": "criminal_incidents", "points": 10}],
    "bonus_cap": 3,
}


async def finished_jobs(ctx: Context) -> None:
    """Let the background work the requests started (a report) run to its end."""
    while ctx.background:
        await asyncio.wait(list(ctx.background))


async def test_a_scheme_scores_and_ranks_the_towns_and_a_closed_period_never_moves(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin, cases = await two_towns_of_cases(api, ctx, login, town)
    county = (await login(("county_admin", town.units["测试县"]["_id"]), name="县综治中心")).token
    office = town.people["office"].token

    refused = await api.put("/api/assessment/schemes/2026", SCHEME, token=office)
    assert refused.status == 403
    wrong = {
        **SCHEME,
        "indicators": [
            {**SCHEME["indicators"][0], "floor": 1.0},
            {"figure": "nonsense", "weight": 1, "target": 1, "rule": "pass_fail"},
        ],
    }
    invalid = await api.put("/api/assessment/schemes/2026", wrong, token=county)
    assert invalid.status == 422
    assert [d["field"] for d in invalid.json["error"]["details"]] == ["indicators.0.floor", "indicators.1.figure"]
    default = await api.get("/api/assessment/schemes/2026", token=office)
    assert (default.status, default.json["version"]) == (200, 0)
    saved = await api.put("/api/assessment/schemes/2026", SCHEME, token=county)
    assert (saved.status, saved.json["version"]) == (201, 1)
    assert (await api.put("/api/assessment/schemes/2026", SCHEME, token=county)).json["version"] == 2

    # Inputs: 测试镇's police calls down a quarter on last year (October), and one 民转刑; 第二镇 reported nothing.
    police = town.people["police"].token
    for month, calls in (("2026-11", 15), ("2025-11", 20)):
        row = {"unit_id": town.id("测试镇"), "month": month, "source": "police", "counts": {"dispute_calls": calls}}
        assert (await api.post("/api/source-statistics", row, token=police)).status == 201
    incident = {"unit_id": town.id("乙村"), "date": "2026-11-02", "place": "乙村", "summary": "纠纷激化致人受伤"}
    assert (await api.post("/api/criminal-incidents", incident, token=police)).status == 201
    for points in (2, 2):
        bonus = {
            "unit_id": town.id("测试镇"),
            "period": "2026-11",
            "points": points,
            "reason": "市级表彰",
            "evidence": "县委发〔2026〕8号",
        }
        assert (await api.post("/api/assessment/bonuses", bonus, token=county)).status == 201
    own_bonus = {"unit_id": town.id("测试镇"), "period": "2026-11", "points": 5, "reason": "自评", "evidence": "材料"}
    assert (await api.post("/api/assessment/bonuses", own_bonus, token=office)).status == 404  # not its own assessor

    running = await api.post("/api/assessment/runs", {"period": "2026-11"}, token=county)
    assert (running.status, running.json["final"], running.json["scheme_version"]) == (201, False, 2)
    scores = {u["name"]: u for u in running.json["units"]}
    # 测试镇: agreement 1 of 2 → 30; calls −25 % on a scale from +50 % to −50 % → 75 % of 40 = 30; −10 for the
    # incident; bonus 4 capped at 3. 第二镇: agreement 1 of 1 → 60; no statistics → 0 (无数据).
    assert (scores["测试镇"]["total"], scores["测试镇"]["bonus_points"]) == (53.0, 3.0)
    assert [i["score"] for i in scores["测试镇"]["indicators"]] == [30.0, 30.0]
    assert scores["测试镇"]["deductions"] == [{"kind": "criminal_incidents", "count": 1, "points": 10.0}]
    assert (scores["第二镇"]["total"], scores["第二镇"]["indicators"][1]["note"]) == (60.0, "无数据")
    assert [(u["name"], u["rank"]) for u in running.json["units"]] == [("第二镇", 1), ("测试镇", 2)]

    # After the month: the first run is final, and running it again gives it back unchanged, whatever happens.
    ctx.clock.set(datetime(2026, 12, 2, 4, 0, tzinfo=UTC))
    final = await api.post("/api/assessment/runs", {"period": "2026-11"}, token=county)
    assert (final.status, final.json["final"], final.json["id"]) == (201, True, running.json["id"])
    row = await ctx.db["source_statistics"].find_one({"month": "2026-11"})
    corrected = await api.put(
        f"/api/source-statistics/{row['_id']}", {"counts": {"dispute_calls": 40}, "reason": "更正"}, token=police
    )
    assert corrected.status == 200
    again = await api.post("/api/assessment/runs", {"period": "2026-11"}, token=county)
    assert again.status == 200
    assert again.json == final.json
    detail = await api.get(f"/api/assessment/runs/{final.json['id']}", token=county)
    assert detail.status == 200
    assert detail.json["units"][0]["figures"]
    assert (await api.get(f"/api/assessment/runs/{final.json['id']}", token=office)).status == 404  # others' scores
    assert (
        await api.get(f"/api/assessment/runs/{final.json['id']}", token=town.people["resident_a"].token)
    ).status == 403

    # A town scores its own villages; a town cannot run the county's assessment.
    villages = await api.post("/api/assessment/runs", {"period": "2026-11"}, token=office)
    assert [u["name"] for u in villages.json["units"]] == ["甲村", "乙村"]
    assert {u["name"]: u["deductions"][0]["count"] for u in villages.json["units"]} == {"甲村": 0, "乙村": 1}
    refused_scope = await api.post(
        "/api/assessment/runs", {"period": "2026-11", "scope_id": town.id("测试县")}, token=office
    )
    assert refused_scope.status == 404
    other = await api.get("/api/assessment/runs", token=twin.people["office"].token)
    assert [r["scope_name"] for r in other.json["items"]] == []  # the county's and 测试镇's runs are not theirs

    # The report: a background job, then a workbook read back with openpyxl.
    started = await api.post(f"/api/assessment/runs/{final.json['id']}/report", None, token=county)
    assert started.status == 202, started.json
    await finished_jobs(ctx)
    job = (await api.get(f"/api/jobs/{started.json['id']}", token=county)).json
    assert (job["status"], job["done"], job["total"]) == ("done", 3, 3)
    download = await api.get(job["download_url"], token=county)
    assert download.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(download.body))
    assert book.sheetnames == ["总分排名", "指标明细", "三源趋势", "红色指标案件"]
    summary = book["总分排名"]
    assert [[c.value for c in row][:3] for row in summary.iter_rows(min_row=3)] == [
        [1, "第二镇", 60],
        [2, "测试镇", 53],
    ]
    assert summary.page_setup.orientation == "landscape"
    assert summary.column_dimensions["B"].width == 16
    trend: Any = book["三源趋势"]
    months = [row[0].value for row in trend.iter_rows(min_row=3)]
    assert months[0] == "2025-12"
    assert months[-1] == "2026-11"
    assert len(months) == 12
    assert trend.cell(row=14, column=2).value == 40  # as reported when the workbook is made: the correction is in
    assert len(trend._charts) == 2
    details = [[c.value for c in row] for row in book["指标明细"].iter_rows(min_row=3)]
    assert ["测试镇", "民转刑案件数", 1, "件", 1, None, "期内登记的民转刑案件（须为零）", "是"] in details
    red_cases = [[c.value for c in row] for row in book["红色指标案件"].iter_rows(min_row=3)]
    working = await number_of(api, town, cases["working"])
    assert [row[:3] for row in red_cases] == [["测试镇", "当前超期案件数", working]]


async def test_the_briefing_is_one_page_with_the_towns_figures_and_urgent_cases(
    api, ctx: Context, login, town: Town
) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    _, cases = await two_towns_of_cases(api, ctx, login, town)
    risky = await made(api, town, "乙村", description="对方扬言要报复，还说要同归于尽，情况紧急。")
    ctx.clock.set(NOW + timedelta(days=10))  # the case in mediation is past its 7 days
    answer = await api.get("/api/assessment/briefing?period=2026-11", token=town.people["office"].token)
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    pdf = pypdfium2.PdfDocument(answer.body)
    assert len(pdf) == 1
    text = pdf[0].get_textpage().get_text_range()
    assert "测试镇 2026-11 三源共治简报" in text
    assert "收案数" in text
    assert "收案数 5件 ↑" in text  # five cases registered in November against one in October
    assert "调解成功率 50.0% ↓" in text  # one agreement of two, against one of one
    assert "调解成功率" in text
    assert "50.0%" in text
    assert await number_of(api, town, cases["working"]) in text
    assert await number_of(api, town, risky) in text
    refused = await api.get(
        f"/api/assessment/briefing?period=2026-11&unit_id={town.id('测试镇')}", token=town.people["mediator_b"].token
    )
    assert refused.status == 404


async def test_visit_coverage_per_micro_grid_and_grid_worker_by_purpose(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    twin = await build_twin_town(ctx, login, town)
    grid = town.people["grid_a"].token
    homes = [await register_household(api, town.id("甲村微网格"), f"甲村1组{n}号", f"户主{n}", grid) for n in range(3)]
    await register_household(api, twin.id("二甲村微网格"), "二甲村1组1号", "户主", twin.people["grid_a"].token)

    async def visit(household: dict[str, Any], purposes: list[str], days_ago: int) -> None:
        body = {
            "client_id": uuid.uuid4().hex,
            "household_id": household["id"],
            "purposes": purposes,
            "visited_at": (NOW - timedelta(days=days_ago)).isoformat(),
        }
        assert (await api.post("/api/visits", body, token=grid)).status in (200, 201)

    await visit(homes[0], ["policy", "dispute_check"], 1)
    await visit(homes[0], ["policy"], 2)  # the same household again counts once
    await visit(homes[1], ["safety"], 3)
    await visit(homes[2], ["policy"], 20)  # in October: not this month
    office = town.people["office"].token
    coverage = await api.get("/api/assessment/coverage?period=2026-11", token=office)
    assert coverage.status == 200, coverage.json
    assert (coverage.json["households"], coverage.json["visited"]) == (3, 2)
    (micro,) = coverage.json["micro_grids"]
    assert (micro["name"], micro["households"], micro["visited"]) == ("甲村微网格", 3, 2)
    assert {k: v for k, v in micro["by_purpose"].items() if v} == {"policy": 1, "dispute_check": 1, "safety": 1}
    (worker,) = coverage.json["grid_workers"]
    assert (worker["name"], worker["visited"]) == ("grid_a", 2)
    found = by_key(await figures(api, office, "2026-11"))["visit_coverage"]
    assert (found["value"], found["numerator"], found["denominator"]) == (round(2 / 3, 4), 2, 3)
    october = by_key(await figures(api, office, "2026-10"))["visit_coverage"]
    assert (october["numerator"], october["denominator"]) == (1, 3)
    theirs = await api.get(
        f"/api/assessment/coverage?period=2026-11&unit_id={town.id('甲村')}", token=twin.people["office"].token
    )
    assert theirs.status == 404
    second = await api.get("/api/assessment/coverage?period=2026-11", token=twin.people["office"].token)
    assert (second.json["households"], second.json["visited"]) == (1, 0)


async def test_two_runs_of_a_closed_period_at_once_give_one_result(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    await handled(api, ctx, town, "甲村", "mediator_a", AGREEMENT, follow=True)
    office = town.people["office"].token
    both = await asyncio.gather(
        *(api.post("/api/assessment/runs", {"period": "2026-10"}, token=office) for _ in range(2))
    )
    assert sorted(r.status for r in both) == [200, 201]  # one computed it; the other got it back
    assert both[0].json["id"] == both[1].json["id"]
    assert await ctx.db["assessment_runs"].count_documents({}) == 1


async def test_an_incident_names_a_case_of_its_own_unit(api, ctx: Context, login, town: Town) -> None:
    ctx.clock.set(NOW)
    ctx.clock.freeze()
    case_id = await made(api, town, "乙村")
    police = town.people["police"].token
    incident = {
        "unit_id": town.id("甲村"),
        "date": "2026-11-01",
        "place": "甲村",
        "summary": "纠纷激化致人受伤",
        "case_id": case_id,
    }
    refused = await api.post("/api/criminal-incidents", incident, token=police)
    assert refused.status == 404
    assert refused.json["error"]["details"][0]["field"] == "case_id"
    recorded = await api.post("/api/criminal-incidents", incident | {"unit_id": town.id("乙村")}, token=police)
    assert (recorded.status, recorded.json["case_id"]) == (201, case_id)
