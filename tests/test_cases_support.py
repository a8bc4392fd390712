"""Around the lifecycle: deadline warnings, routing rules as data, attachments, the court's list import."""

from __future__ import annotations

import io
from datetime import timedelta

from bson import ObjectId
from PIL import Image

from server.cases.warnings import WarningsJob, scan
from server.core.context import Context
from tests.town import resident_case


async def assigned_case(api, town, **overrides) -> str:
    case = await api.post("/api/cases", resident_case(town, **overrides), token=town.people["resident_a"].token)
    await api.post(f"/api/cases/{case.json['id']}/actions/assign", {}, token=town.people["office"].token)
    return case.json["id"]


async def test_warnings_go_yellow_then_red_exactly_once(api, ctx: Context, town) -> None:
    case_id = await assigned_case(api, town)
    cases = ctx.db["cases"]
    assert await scan(ctx) == 0
    ctx.clock.advance(timedelta(hours=20))  # 83 % of the 24 h to accept
    assert await scan(ctx) == 1
    assert await scan(ctx) == 0
    case = await cases.find_one({"_id": ObjectId(case_id)})
    assert case["warnings"] == {"accept": "yellow"}
    ctx.clock.advance(timedelta(hours=5))
    assert await scan(ctx) == 1
    assert await scan(ctx) == 0
    case = await cases.find_one({"_id": ObjectId(case_id)})
    assert case["warnings"] == {"accept": "red"}
    events = [n["event"] for n in case["notifications"] if n["event"].startswith("warning")]
    assert events == ["warning_yellow", "warning_yellow", "warning_red", "warning_red"]  # unit and office each
    red = await api.get("/api/cases?warning=red", token=town.people["office"].token)
    assert [c["id"] for c in red.json["items"]] == [case_id]


async def test_a_red_village_case_is_offered_for_escalation(api, ctx: Context, town) -> None:
    case_id = await assigned_case(api, town)
    await api.post(f"/api/cases/{case_id}/actions/accept", {}, token=town.people["mediator_a"].token)
    ctx.clock.advance(timedelta(days=7, minutes=1))
    await scan(ctx)
    case = (await api.get(f"/api/cases/{case_id}", token=town.people["office"].token)).json
    assert case["warnings"] == {"conclude": "red"}
    assert case["escalation_suggested"] is True


async def test_suspended_cases_do_not_warn(api, ctx: Context, town) -> None:
    case_id = await assigned_case(api, town)
    await api.post(
        f"/api/cases/{case_id}/actions/suspend_request", {"reason": "等鉴定"}, token=town.people["mediator_a"].token
    )
    await api.post(f"/api/cases/{case_id}/actions/suspend_approve", {}, token=town.people["office"].token)
    ctx.clock.advance(timedelta(days=3))
    assert await scan(ctx) == 0


async def test_only_the_lease_holder_scans(ctx: Context) -> None:
    first, second = WarningsJob(ctx, 60), WarningsJob(ctx, 60)
    second._holder = "another-process:1"
    assert await first.run_once() == 0
    assert await second.run_once() is None
    ctx.clock.advance(timedelta(minutes=3))  # the lease ran out
    assert await second.run_once() == 0


async def test_routing_rules_are_data_the_office_edits(api, ctx: Context, town) -> None:
    office = town.people["office"].token
    rules = (await api.get("/api/settings/routing-rules", token=office)).json["rules"]
    family_first = [
        {"name": "婚姻家庭到县", "when": {"category": ["family"]}, "target": {"kind": "committee"}, "tier": "county"},
        *rules,
    ]
    saved = await api.request("PUT", "/api/settings/routing-rules", json_body={"rules": family_first}, token=office)
    assert saved.status == 200
    audit = await ctx.audit.for_target("settings", "routing_rules")
    assert [(a["action"], a["actor_id"]) for a in audit] == [
        ("settings.routing_rules", town.people["office"].user["_id"])
    ]
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    staff = (await api.get(f"/api/cases/{case.json['id']}", token=office)).json
    assert staff["suggested"]["org_id"] == town.id("县婚姻家庭调委会")

    broken = [{"name": "x", "when": {"weather": ["rain"]}, "target": {"kind": "moon"}, "tier": "galaxy"}]
    refused = await api.request("PUT", "/api/settings/routing-rules", json_body={"rules": broken}, token=office)
    assert refused.status == 422
    assert {d["field"] for d in refused.json["error"]["details"]} == {
        "rules.0.when.weather",
        "rules.0.target.kind",
        "rules.0.tier",
    }
    assert (
        await api.request(
            "PUT", "/api/settings/routing-rules", json_body={"rules": rules}, token=town.people["mediator_a"].token
        )
    ).status == 403


async def test_deadlines_are_data_too(api, town) -> None:
    office = town.people["office"].token
    body = {"accept_hours": 12, "conclude_days": {"village": 5, "town": 10, "county": 20}, "follow_up_days": 2}
    assert (await api.request("PUT", "/api/settings/deadlines", json_body=body, token=office)).status == 200
    case_id = await assigned_case(api, town)
    case = (await api.get(f"/api/cases/{case_id}", token=office)).json
    accept = case["deadlines"]["accept"]
    assert accept["due"] != accept["start"]
    from datetime import datetime

    start, due = datetime.fromisoformat(accept["start"]), datetime.fromisoformat(accept["due"])
    assert due - start == timedelta(hours=12)


def photo_with_gps() -> bytes:
    image = Image.new("RGB", (3000, 1500), "blue")
    exif = Image.Exif()
    exif[0x8825] = {2: (30.0, 16.0, 0.0), 4: (120.0, 9.0, 0.0)}  # GPSInfo
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


async def test_photos_lose_exif_and_shrink(api, ctx: Context, town) -> None:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    original = photo_with_gps()
    assert Image.open(io.BytesIO(original)).getexif().get(0x8825)
    response = await api.post(
        f"/api/cases/{case.json['id']}/attachments",
        body=original,
        headers={"Content-Type": "application/octet-stream"},
        token=town.people["resident_a"].token,
    )
    assert response.status == 201
    attachment = response.json["attachments"][0]
    assert attachment["content_type"] == "image/jpeg"
    stored = await api.get(attachment["url"], token=town.people["office"].token)
    image = Image.open(io.BytesIO(stored.body))
    assert max(image.size) == 2048
    assert not image.getexif()
    assert b"PhoneMaker" not in stored.body


async def test_uploads_are_judged_by_content(api, town) -> None:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    url = f"/api/cases/{case.json['id']}/attachments"
    token = town.people["resident_a"].token
    fake_jpeg = await api.post(
        url, body=b"<html>not a photo</html>", headers={"Content-Type": "image/jpeg"}, token=token
    )
    assert (fake_jpeg.status, fake_jpeg.error_code) == (415, "attachment_type")
    amr = await api.post(url, body=b"#!AMR\n" + b"\x00" * 64, headers={"Content-Type": "audio/amr"}, token=token)
    assert amr.status == 201
    assert amr.json["attachments"][0]["content_type"] == "audio/amr"


async def test_a_decompression_bomb_is_refused(api, town) -> None:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, "PNG")  # tiny file, 144 megapixels
    assert len(buffer.getvalue()) < 1024 * 1024
    response = await api.post(
        f"/api/cases/{case.json['id']}/attachments", body=buffer.getvalue(), token=town.people["resident_a"].token
    )
    assert (response.status, response.error_code) == (422, "image_too_large")


COURT_CSV = """案号,收案日期,纠纷类别,申请人,申请人电话,被申请人,村（社区）,案情
(2026)浙0782民诉前101号,2026-11-20,债务纠纷,周一,13800001111,吴二,甲村,借款五万元到期未还
(2026)浙0782民诉前102号,2026/11/21,邻里纠纷,郑三,,王四,乙村,宅基地边界争议
(2026)浙0782民诉前101号,2026-11-20,债务纠纷,周一,13800001111,吴二,甲村,借款五万元到期未还
(2026)浙0782民诉前103号,昨天,债务纠纷,钱五,,孙六,丙村,欠款
(2026)浙0782民诉前104号,2026-11-22,债务纠纷,李七,123,赵八,甲村,欠款三千元未还
"""


async def test_court_list_import_reports_row_by_row(api, ctx: Context, town) -> None:
    response = await api.post(
        "/api/cases/import/court",
        body=COURT_CSV.encode(),
        headers={"Content-Type": "text/csv"},
        token=town.people["court"].token,
    )
    assert response.status == 200
    report = response.json
    assert report["created"] == 2
    assert report["duplicates"] == [{"row": 4, "external_ref": "(2026)浙0782民诉前101号"}]
    assert report["errors"] == [
        {"row": 5, "field": "village", "message": "找不到该村（社区）"},
        {"row": 5, "field": "received_at", "message": "日期格式应为 2026-11-28"},
        {"row": 6, "field": "applicant_phone", "message": "手机号格式不正确"},
    ]
    cases = await ctx.db["cases"].find({}).to_list(None)
    assert {(c["channel"], c["source"], c["category"]) for c in cases} == {
        ("court_referral", "litigation", "debt"),
        ("court_referral", "litigation", "neighbour"),
    }
    refused = await api.post(
        "/api/cases/import/court",
        body=COURT_CSV.encode(),
        headers={"Content-Type": "text/csv"},
        token=town.people["police"].token,
    )
    assert refused.status == 403


async def test_the_court_import_keeps_the_api_text_limits(api, ctx: Context, town) -> None:
    """Rows go through the same checks as `POST /api/cases`: nothing oversized is stored."""
    long_ref, long_name, long_text = "号" * 5000, "名" * 5000, "案" * 20000
    csv_text = (
        "案号,收案日期,纠纷类别,申请人,被申请人,村（社区）,案情\n"
        f"{long_ref},2026-11-20,债务纠纷,周一,吴二,甲村,借款五万元到期未还\n"
        f"(2026)浙0782民诉前201号,2026-11-20,债务纠纷,{long_name},吴二,甲村,借款五万元到期未还\n"
        f"(2026)浙0782民诉前202号,2026-11-20,债务纠纷,周一,吴二,甲村,{long_text}\n"
    )
    response = await api.post(
        "/api/cases/import/court",
        body=csv_text.encode(),
        headers={"Content-Type": "text/csv"},
        token=town.people["court"].token,
    )
    assert response.status == 200
    assert response.json["created"] == 0
    assert response.json["errors"] == [
        {"row": 2, "field": "external_ref", "message": "内容太长（最多 60 个字）"},
        {"row": 3, "field": "applicant_name", "message": "内容太长（最多 30 个字）"},
        {"row": 4, "field": "description", "message": "内容太长（最多 2000 个字）"},
    ]
    assert await ctx.db["cases"].count_documents({}) == 0


async def test_rules_and_deadlines_are_seeded_from_config(ctx: Context) -> None:
    from server.cases.routing import Routing

    ctx.config.cases.routing_rules = [{"name": "全部到镇", "when": {}, "target": {"kind": "town"}, "tier": "town"}]
    ctx.config.cases.deadlines = {"accept_hours": 6}
    routing = Routing(ctx)
    assert [r["name"] for r in await routing.rules(None)] == ["全部到镇"]
    assert (await routing.deadlines(None))["accept_hours"] == 6
    assert (await routing.deadlines(None))["conclude_days"] == {"village": 7, "town": 15, "county": 30}
