"""The Open311 GeoReport v2 door: read by a client library written by others (`georeport`), written to as the
spec says (form-encoded, `api_key`), in JSON and XML; partners' keys, scope and privacy; webhooks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import xmltodict
from bson import ObjectId
from georeport import GeoReport

from notify.outbox import OUTBOX, Dispatcher, Relay
from server.core.config import Config
from server.core.context import Context
from tests import open311_spec as spec
from tests.fakes import FakePartner
from tests.test_mediators import act
from tests.town import Town, build_twin_town, resident_case

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DESCRIPTION = "两户人家因宅基地界址发生争执，已经报警两次，请求调解。"


@pytest.fixture
def config(config: Config) -> Config:
    door = config.open311.model_copy(update={"webhook_allow_http": True})
    return config.model_copy(update={"open311": door})


@pytest.fixture
async def partner_server() -> Any:
    fake = FakePartner()
    fake.start()
    yield fake
    await fake.stop()


async def register(api, token: str, town_ids: list[str], **extra: Any) -> dict[str, Any]:
    body = {"name": "县12345热线", "kind": "hotline", "town_ids": town_ids, "abilities": ["submit", "read_own"]}
    made = await api.post("/api/partners", body | extra, token=token)
    assert made.status == 201, made.json
    return dict(made.json)


async def submit(api, key: str | None, fmt: str = "json", **fields: Any) -> Any:
    form = {"service_code": "land", "description": DESCRIPTION, "first_name": "三", "last_name": "张"} | fields
    if key is not None:
        form["api_key"] = key
    return await api.request("POST", f"/open311/v2/requests.{fmt}", body=urlencode(form), headers=FORM)


def client(server_url: str, town: Town | None = None, fmt: str = "json") -> GeoReport:
    return GeoReport(f"{server_url}/open311/v2", jurisdiction=town.id("测试镇") if town else None, output_format=fmt)


async def test_a_client_written_by_others_lists_services_and_reads_requests_back(api, ctx: Context, town: Town) -> None:
    partner = await register(api, town.people["office"].token, [town.id("测试镇")])
    posted = await submit(api, partner["api_key"], **{"attribute[village]": town.id("甲村"), "phone": "13812345678"})
    assert posted.status == 201, posted.body
    spec.check(spec.POSTED, posted.json)
    number = posted.json[0]["service_request_id"]

    for fmt in ("json", "xml"):
        door = client(api.base_url, fmt=fmt)
        services = await asyncio.to_thread(door.get_service_list)
        if fmt == "json":
            spec.check(spec.SERVICES, services)
        assert {s["service_code"] for s in services} >= {"land", "family", "neighbour"}
        assert next(s for s in services if s["service_code"] == "land")["service_name"] == "土地宅基地纠纷"
        definition = await asyncio.to_thread(door.get_service_definition, "land")
        assert definition["service_code"] == "land"
        if fmt == "xml":  # a list of one in XML reads as the item itself; the attribute codes are all there
            codes = [a["code"] for a in definition["attributes"]["attribute"]]
            assert codes == ["village", "party_count", "respondent", "consent_contact", "external_ref"]
        if fmt == "json":
            spec.check(spec.DEFINITION, definition)
            villages = next(a for a in definition["attributes"] if a["code"] == "village")["values"]
            assert {v["name"] for v in villages} == {"甲村", "乙村"}
        request = await asyncio.to_thread(door.get_service_request, number)
        assert request["service_request_id"] == number
        assert request["status"] == "open"
        assert request["service_code"] == "land"
        listed = await asyncio.to_thread(door.get_service_requests, None, "land", None, None, "open")
        listed = listed if isinstance(listed, list) else [listed]  # xmltodict gives one item as a mapping
        assert number in [r["service_request_id"] for r in listed]
    none_closed = await asyncio.to_thread(client(api.base_url).get_service_requests, None, None, None, None, "closed")
    assert none_closed == []  # (in XML an empty list is `<service_requests />`, which this client cannot read)

    as_json = (await api.get(f"/open311/v2/requests/{number}.json")).json
    assert as_json[0]["expected_datetime"] is None  # not known until a unit has it
    assert as_json[0]["agency_responsible"] == "测试镇三源共治办公室"
    case = await ctx.db["cases"].find_one({"number": number})
    await act(api, town, "office", str(case["_id"]), "assign")
    as_json = (await api.get(f"/open311/v2/requests/{number}.json")).json
    spec.check(spec.REQUESTS, as_json)
    assert as_json[0]["agency_responsible"] == "甲村调解室"
    assert as_json[0]["expected_datetime"] > as_json[0]["requested_datetime"]
    assert as_json[0]["requested_datetime"].endswith("+08:00")
    xml = await api.get(f"/open311/v2/requests/{number}.xml")
    assert xml.body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert xml.headers["Content-Type"].startswith("text/xml")
    from_xml = xmltodict.parse(xml.body)["service_requests"]["request"]
    assert {k: v for k, v in from_xml.items() if v is not None} == {
        k: str(v) for k, v in as_json[0].items() if v is not None
    }


async def test_a_request_without_a_key_or_with_a_wrong_one_is_refused_in_the_specs_format(api, town: Town) -> None:
    for key in (None, "sy311_not-a-key", "x"):
        refused = await submit(api, key, **{"attribute[village]": town.id("甲村")})
        assert refused.status == 403
        spec.check(spec.ERRORS, refused.json)
        assert refused.json[0]["code"] == 403
    as_xml = await submit(api, None, fmt="xml")
    assert as_xml.status == 403
    errors = xmltodict.parse(as_xml.body)["errors"]["error"]
    assert errors["code"] == "403"
    assert "api_key" in errors["description"]
    assert await number_of_cases(api, town) == 0


async def number_of_cases(api, town: Town) -> int:
    return int((await api.get("/api/cases?page_size=1", token=town.people["office"].token)).json["total"])


async def test_a_partners_request_is_a_case_routed_like_any_other_and_a_retry_is_the_same_request(
    api, ctx: Context, town: Town
) -> None:
    police = await register(api, town.people["office"].token, [town.id("测试镇")], name="派出所警情系统", kind="police")
    fields = {
        "address_string": "测试镇乙村东头",  # the village named in the address places it
        "attribute[external_ref]": "JQ-2026-0042",
        "attribute[respondent]": "李四",
        "attribute[party_count]": "12",
        "attribute[consent_contact]": "yes",
        "phone": "13812345678",
        "lat": "30.5",
        "long": "120.1",
    }
    first = await submit(api, police["api_key"], **fields)
    assert first.status == 201, first.json
    again = await submit(api, police["api_key"], **fields)  # a flaky network: sent twice
    assert again.status == 200
    assert again.json[0]["service_request_id"] == first.json[0]["service_request_id"]
    assert await number_of_cases(api, town) == 1

    case = await ctx.db["cases"].find_one({"number": first.json[0]["service_request_id"]})
    assert case["channel"] == "partner"
    assert case["source"] == "police"
    assert case["external_ref"] == "JQ-2026-0042"
    assert case["partner_id"] == ObjectId(police["partner"]["id"])
    assert case["village_id"] == town.units["乙村"]["_id"]
    assert case["consent_contact"] is True
    assert [p["name"] for p in case["parties"]] == ["张三", "李四"]
    assert "phone" not in case["parties"][0]
    assert case["parties"][0]["phone_enc"]
    assert any("群体性" in reason for reason in case["risk_reasons"])  # 12 people involved
    assert case["suggested"]["org_id"]  # routed

    seen = (await api.get(f"/api/cases/{case['_id']}", token=town.people["office"].token)).json
    assert seen["channel"] == "partner"
    token = first.json[0]["token"]
    found = (await api.get(f"/open311/v2/tokens/{token}.json")).json
    assert found == [{"service_request_id": case["number"], "token": token}]


async def test_bad_requests_name_the_parameter(api, town: Town) -> None:
    partner = await register(api, town.people["office"].token, [town.id("测试镇")])
    key = partner["api_key"]
    cases = {
        "service_code": {"service_code": "parking", "attribute[village]": town.id("甲村")},
        "attribute[village]": {"address_string": "某地"},
        "description": {"description": "", "attribute[village]": town.id("甲村")},
        "phone": {"phone": "12345", "attribute[village]": town.id("甲村")},
        "attribute[party_count]": {"attribute[party_count]": "many", "attribute[village]": town.id("甲村")},
        "attribute[colour]": {"attribute[colour]": "red", "attribute[village]": town.id("甲村")},
        "lat": {"lat": "north", "long": "1", "attribute[village]": town.id("甲村")},
    }
    for field, fields in cases.items():
        answer = await submit(api, key, **fields)
        assert answer.status == 400, (field, answer.json)
        spec.check(spec.ERRORS, answer.json)
        assert any(e["description"].startswith(field) for e in answer.json), (field, answer.json)
    as_json = await api.request("POST", "/open311/v2/requests.json", json_body={"api_key": key})
    assert as_json.status == 400
    unknown = await api.get("/open311/v2/nothing.xml")
    assert unknown.status == 404
    assert b"<errors>" in unknown.body
    assert (await api.get("/open311/v2/services/parking.json")).status == 404
    wide = await api.get("/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z")
    assert wide.status == 400
    assert "90" in wide.json[0]["description"]
    assert (await api.get("/open311/v2/requests.json?status=pending")).status == 400
    assert await number_of_cases(api, town) == 0


async def test_what_each_kind_of_caller_sees_of_a_request(api, ctx: Context, town: Town, login) -> None:
    twin = await build_twin_town(ctx, login, town)
    office = town.people["office"].token
    writer = await register(api, office, [town.id("测试镇")], abilities=["submit", "read_own"])
    reader = await register(api, office, [town.id("测试镇")], name="综治网格化信息系统", kind="grid_system",
                            abilities=["read_public"])  # fmt: skip
    elsewhere = await register(api, twin.people["office"].token, [twin.id("第二镇")], abilities=["read_public"])
    posted = await submit(api, writer["api_key"], jurisdiction_id=town.id("测试镇"),
                          **{"attribute[village]": town.id("甲村"), "lat": "30.5", "long": "120.1",
                             "address_string": "甲村3组15号"})  # fmt: skip
    ours = posted.json[0]["service_request_id"]
    resident = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    theirs = resident.json["number"]

    async def read(number: str, key: str | None = None) -> Any:
        query = f"?api_key={key}" if key else ""
        return await api.get(f"/open311/v2/requests/{number}.json{query}")

    own = (await read(ours, writer["api_key"])).json[0]
    assert own["description"] == DESCRIPTION
    assert own["lat"] == 30.5
    assert own["address"] == "甲村3组15号"
    for key in (None, reader["api_key"]):
        for number in (ours, theirs):
            public = (await read(number, key)).json[0]
            assert public["description"] is None
            assert public["lat"] is None
            assert public["long"] is None
            assert public["address"] == "甲村，测试镇"  # the village, never a household or a person
            assert "张三" not in json.dumps(public, ensure_ascii=False)
    assert (await read(theirs, writer["api_key"])).status == 404  # read_own: another's request is not there
    assert (await read(ours, elsewhere["api_key"])).status == 404  # another town's partner
    listed = await api.get(f"/open311/v2/requests.json?api_key={writer['api_key']}&jurisdiction_id={town.id('测试镇')}")
    assert [r["service_request_id"] for r in listed.json] == [ours]
    # Two towns: a call must say which one; a partner of one town cannot name the other.
    assert (await api.get("/open311/v2/requests.json")).status == 400
    assert (await api.get("/open311/v2/services.json")).status == 400
    both = await api.get(f"/open311/v2/requests.json?jurisdiction_id={town.id('测试镇')}")
    assert {r["service_request_id"] for r in both.json} == {ours, theirs}
    assert (await api.get(f"/open311/v2/requests.json?jurisdiction_id={twin.id('第二镇')}")).json == []
    cross = await submit(
        api, writer["api_key"], jurisdiction_id=twin.id("第二镇"), **{"attribute[village]": twin.id("二甲村")}
    )
    assert cross.status == 404
    draft = await api.post("/api/cases", resident_case(town, draft=True), token=town.people["resident_a"].token)
    assert (await read(draft.json["number"])).status == 404  # a draft is nobody's business yet


async def test_status_follows_the_case_and_the_partners_webhook_is_told_signed(
    api, ctx: Context, town: Town, partner_server: FakePartner
) -> None:
    partner = await register(api, town.people["office"].token, [town.id("测试镇")], webhook_url=partner_server.url)
    key = partner["api_key"]
    number = (await submit(api, key, **{"attribute[village]": town.id("甲村")})).json[0]["service_request_id"]
    case = await ctx.db["cases"].find_one({"number": number})
    partner_server.script = [500]  # the partner's server fails once: the message is retried, the case goes on
    await act(api, town, "office", str(case["_id"]), "reject", reason="不属于人民调解受理范围")
    await Relay(ctx).run_once()
    await Dispatcher(ctx).run_once()
    delivery = await ctx.db[OUTBOX].find_one({"channel": "webhook"})
    assert delivery["status"] == "pending"
    assert delivery["error"]["code"] == "http_500"
    ctx.clock.set(ctx.clock.now() + timedelta(hours=2))
    await Dispatcher(ctx).run_once()
    assert (await ctx.db[OUTBOX].find_one({"_id": delivery["_id"]}))["status"] == "sent"
    shown = await api.get("/api/admin/outbox?channel=webhook", token=town.people["office"].token)
    assert [(m["status"], m["attempts"]) for m in shown.json["items"]] == [("sent", 2)]

    assert len(partner_server.received) == 2
    message = partner_server.received[-1]
    secret = hmac.new(key.encode(), b"webhook", hashlib.sha256).hexdigest()  # as the README tells partners
    signed = message["headers"]["X-Sanyuan-Timestamp"].encode() + b"." + message["body"]
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    assert message["headers"]["X-Sanyuan-Signature"] == f"sha256={expected}"
    assert message["headers"]["X-Sanyuan-Delivery"] == str(delivery["_id"])
    body = json.loads(message["body"])
    assert body["event"] == "request_updated"
    spec.check(spec.REQUEST, body["service_request"])
    assert body["service_request"]["status"] == "closed"
    assert body["service_request"]["description"] == DESCRIPTION
    read = (await api.get(f"/open311/v2/requests/{number}.json")).json[0]
    assert read["status"] == "closed"
    assert read["expected_datetime"] is None
    assert read["status_notes"] == "不予受理"


async def test_a_revoked_or_replaced_key_is_refused_at_once(
    api, ctx: Context, town: Town, partner_server: FakePartner
) -> None:
    office = town.people["office"].token
    partner = await register(api, office, [town.id("测试镇")], webhook_url=partner_server.url)
    pid, old = partner["partner"]["id"], partner["api_key"]
    renewed = await api.post(f"/api/partners/{pid}/key", token=office)
    assert renewed.status == 201
    assert renewed.json["api_key"] != old
    assert (await submit(api, old, **{"attribute[village]": town.id("甲村")})).status == 403
    new = renewed.json["api_key"]
    posted = await submit(api, new, **{"attribute[village]": town.id("甲村")})
    assert posted.status == 201
    stored = await ctx.db["partners"].find_one({"_id": ObjectId(pid)})
    assert new not in json.dumps(stored, default=str)
    assert stored["key_hint"] == new[-4:]

    revoked = await api.post(f"/api/partners/{pid}/revoke", {"reason": "对方系统下线"}, token=office)
    assert revoked.status == 200
    assert revoked.json["revoked_at"]
    refused = await submit(api, new, **{"attribute[village]": town.id("甲村")})
    assert refused.status == 403
    assert "停用" in refused.json[0]["description"]
    assert (await api.get(f"/open311/v2/services.json?api_key={new}")).status == 403
    # Its case goes on; its webhook is not told any more.
    case = await ctx.db["cases"].find_one({"number": posted.json[0]["service_request_id"]})
    await act(api, town, "office", str(case["_id"]), "reject", reason="不属于人民调解受理范围")
    await Relay(ctx).run_once()
    await Dispatcher(ctx).run_once()
    assert partner_server.received == []
    trail = [r["action"] for r in await ctx.audit.for_target("partner", ObjectId(pid))]
    assert trail == ["partner.revoke", "partner.new_key", "partner.register"]


async def test_a_key_is_rate_limited(api, ctx: Context, town: Town) -> None:
    ctx.config.open311.requests_per_minute = 3
    ctx.clock.freeze()
    partner = await register(api, town.people["office"].token, [town.id("测试镇")])
    query = f"?api_key={partner['api_key']}"
    for _ in range(3):
        assert (await api.get(f"/open311/v2/services.json{query}")).status == 200
    limited = await api.get(f"/open311/v2/services.xml{query}")
    assert limited.status == 429
    assert b"<errors>" in limited.body
    ctx.clock.set(ctx.clock.now() + timedelta(minutes=1, seconds=1))
    assert (await api.get(f"/open311/v2/services.json{query}")).status == 200
    # Without a key, a caller is counted by its address (one proxy's X-Real-Ip is not another's).
    for _ in range(3):
        assert (await api.get("/open311/v2/services.json", headers={"X-Real-Ip": "10.0.0.7"})).status == 200
    assert (await api.get("/open311/v2/services.json", headers={"X-Real-Ip": "10.0.0.7"})).status == 429
    assert (await api.get("/open311/v2/services.json", headers={"X-Real-Ip": "10.0.0.8"})).status == 200


async def test_partners_are_kept_by_the_admins_of_their_towns(api, ctx: Context, town: Town, login) -> None:
    twin = await build_twin_town(ctx, login, town)
    county = town.people["county"].token
    shared = await register(api, county, [town.id("测试镇"), twin.id("第二镇")])
    ours = await register(api, town.people["office"].token, [town.id("测试镇")])
    sid, oid = shared["partner"]["id"], ours["partner"]["id"]
    listed = await api.get("/api/partners", token=twin.people["office"].token)
    assert [p["id"] for p in listed.json["items"]] == [sid]
    assert (await api.get(f"/api/partners/{oid}", token=twin.people["office"].token)).status == 404
    refused = await api.post(f"/api/partners/{sid}/revoke", {"reason": "试试"}, token=twin.people["office"].token)
    assert refused.status == 403
    assert refused.json["error"]["code"] == "partner_shared"
    outside = await api.post(
        "/api/partners",
        {"name": "x", "kind": "app", "town_ids": [twin.id("第二镇")], "abilities": ["submit"]},
        token=town.people["office"].token,
    )
    assert outside.status == 422
    assert outside.json["error"]["details"][0]["field"] == "town_ids.0"
    insecure = await api.post(
        "/api/partners",
        {
            "name": "x",
            "kind": "app",
            "town_ids": [town.id("测试镇")],
            "abilities": ["submit"],
            "webhook_url": "ftp://x",
        },
        token=town.people["office"].token,
    )
    assert insecure.status == 422
    assert insecure.json["error"]["details"][0]["field"] == "webhook_url"
    for who in ("mediator_a", "grid_a", "supervisor", "resident_a", "police"):
        assert (await api.get("/api/partners", token=town.people[who].token)).status == 403
    assert (await api.post(f"/api/partners/{sid}/revoke", {"reason": "县里停用"}, token=county)).status == 200


async def test_the_demo_answers_an_outside_client_with_the_key_it_prints(api, ctx: Context) -> None:
    from scripts.seed_demo import seed_demo_town

    lines = await seed_demo_town(ctx)
    key = lines[1].split("api_key 为 ")[1].split("（")[0]
    door = GeoReport(f"{api.base_url}/open311/v2", output_format="json")  # one town: no jurisdiction needed
    services = await asyncio.to_thread(door.get_service_list)
    spec.check(spec.SERVICES, services)
    definition = await asyncio.to_thread(door.get_service_definition, "neighbour")
    village = next(v for a in definition["attributes"] if a["code"] == "village" for v in a["values"])
    posted = await submit(api, key, service_code="neighbour", **{"attribute[village]": village["key"]})
    assert posted.status == 201, posted.json
    number = posted.json[0]["service_request_id"]
    for fmt in ("json", "xml"):
        reader = GeoReport(f"{api.base_url}/open311/v2", output_format=fmt)
        request = await asyncio.to_thread(reader.get_service_request, number)
        assert (request["service_request_id"], request["status"]) == (number, "open")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = (  # the end in whole seconds, rounded up: the request made this second is before it
        (today - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    opened = await asyncio.to_thread(door.get_service_requests, None, None, start, end, "open")
    spec.check(spec.REQUESTS, opened)
    assert number in {r["service_request_id"] for r in opened}
    assert {r["status"] for r in opened} == {"open"}
    closed = await asyncio.to_thread(door.get_service_requests, None, None, start, end, "closed")
    assert closed
    assert {r["status"] for r in closed} == {"closed"}
    assert all(r["description"] is None for r in closed)  # none of them is this caller's own
