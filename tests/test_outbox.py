"""The notification outbox against fake Aliyun SMS and WeChat servers reached over real HTTP (real SDK)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from notify.outbox import OUTBOX, Dispatcher, Relay, new_delivery
from server.core.config import Config, build_config
from server.core.context import Context
from tests.conftest import context_for, env_for_tests
from tests.fakes import FakeAliyunSms, FakeWechat, sms_config, wechat_config
from tests.town import build_town, resident_case

TEMPLATE = "tmpl-case-progress"


def outbox_config(
    fake_sms: FakeAliyunSms, fake_wechat: FakeWechat, files: Path, sms_timeout_seconds: float = 0.5
) -> Config:
    sms = sms_config(fake_sms.endpoint) | {"timeout_seconds": sms_timeout_seconds}
    sms["templates"] = {
        event: f"SMS_{n}"
        for n, event in enumerate(
            [
                "login_code",
                "case_assigned",
                "case_assigned_resident",
                "case_accepted",
                "case_concluded",
                "warning_yellow",
                "warning_red",
                "case_escalated",
            ]
        )
    }
    wechat = wechat_config(fake_wechat.base_url)
    wechat["templates"] = {
        event: {"template_id": TEMPLATE, "data": {"character_string1": "{number}", "thing2": "{text}"}}
        for event in ("case_assigned_resident", "case_accepted", "case_concluded")
    }
    raw = {
        "sms": sms,
        "wechat": wechat,
        "http": {"xheaders": True},
        "plates": {"storage_dir": str(files)},
        "notify": {
            "reconcile_after_seconds": 60,
            "lease_seconds": 30,
            "backoff_seconds": 30,
            "quiet_hours": "22:00-07:00",
        },
    }
    return build_config(raw, source="tests", environ=env_for_tests()).config


@pytest.fixture
def config(fake_sms: FakeAliyunSms, fake_wechat: FakeWechat, tmp_path: Path) -> Config:
    return outbox_config(fake_sms, fake_wechat, tmp_path / "files")


@pytest.fixture
async def ctx(config: Config) -> AsyncIterator[Context]:
    async with context_for(config) as context:  # the production senders: Aliyun SDK and our WeChat client
        context.clock.set(datetime(2026, 11, 28, 2, 0, tzinfo=UTC))  # 10:00 in the town, outside quiet hours
        yield context


@pytest.fixture
async def town(ctx: Context, login):
    town = await build_town(ctx, login)
    resident = town.people["resident_a"].user["_id"]
    await ctx.db["users"].update_one(
        {"_id": resident},
        {
            "$set": {
                "openid": "o-resident-a",
                "prefs": {"wechat": True, "sms_consent": True},
                "wechat_subscriptions": {TEMPLATE: 3},
            }
        },
    )
    return town


async def deliver(ctx: Context) -> None:
    await Relay(ctx).run_once()
    await Dispatcher(ctx).run_once()


async def assigned_case(api, town) -> str:
    case = await api.post("/api/cases", resident_case(town), token=town.people["resident_a"].token)
    await api.post(f"/api/cases/{case.json['id']}/actions/assign", {}, token=town.people["office"].token)
    return case.json["id"]


def sms_to(fake: FakeAliyunSms, phone: str) -> list[dict[str, str]]:
    return [m for m in fake.sent if m["PhoneNumbers"] == phone]


async def test_an_assignment_texts_the_mediator_and_messages_the_resident(
    api, ctx: Context, town, fake_sms, fake_wechat
) -> None:
    case_id = await assigned_case(api, town)
    await deliver(ctx)
    mediator = town.people["mediator_a"]
    (sms,) = sms_to(fake_sms, mediator.phone)
    assert sms["TemplateCode"] == ctx.config.sms.templates["case_assigned"]
    assert sms["SignName"] == "示范镇"
    (wechat,) = fake_wechat.subscribe_sent
    assert wechat["touser"] == "o-resident-a"
    assert wechat["template_id"] == TEMPLATE
    assert wechat["page"] == f"pages/case/detail?id={case_id}"
    assert (wechat["miniprogram_state"], wechat["lang"]) == ("formal", "zh_CN")
    assert len(wechat["data"]["thing2"]["value"]) <= 20  # cut to WeChat's limit for a `thing`
    assert (await ctx.db["users"].find_one({"_id": town.people["resident_a"].user["_id"]}))["wechat_subscriptions"][
        TEMPLATE
    ] == 2
    inbox = await api.get("/api/notifications", token=mediator.token)
    assert inbox.json["unread"] == 1
    assert inbox.json["items"][0]["event"] == "case_assigned"
    statuses = Counter(m["status"] for m in await ctx.db[OUTBOX].find({}).to_list(None))
    assert statuses == {"sent": 2}


async def test_throttling_then_success_delivers_exactly_once(api, ctx: Context, town, fake_sms) -> None:
    fake_sms.script = ["isv.BUSINESS_LIMIT_CONTROL"]
    await assigned_case(api, town)
    await deliver(ctx)
    message = await ctx.db[OUTBOX].find_one({"channel": "sms"})
    assert (message["status"], message["attempts"], message["error"]["code"]) == (
        "pending",
        1,
        "isv.BUSINESS_LIMIT_CONTROL",
    )
    await Dispatcher(ctx).run_once()
    assert fake_sms.sent == []  # not due yet: backing off
    ctx.clock.advance(timedelta(seconds=31))
    await Dispatcher(ctx).run_once()
    message = await ctx.db[OUTBOX].find_one({"_id": message["_id"]})
    assert (message["status"], message["attempts"]) == ("sent", 2)
    assert [m["OutId"] for m in fake_sms.sent] == [str(message["_id"])]


async def test_an_illegal_number_fails_permanently_after_one_try(api, ctx: Context, town, fake_sms) -> None:
    fake_sms.script = ["isv.MOBILE_NUMBER_ILLEGAL"]
    await assigned_case(api, town)
    await deliver(ctx)
    requests = fake_sms.requests
    ctx.clock.advance(timedelta(hours=2))
    await Dispatcher(ctx).run_once()
    message = await ctx.db[OUTBOX].find_one({"channel": "sms"})
    assert (message["status"], message["attempts"], message["error"]["code"]) == (
        "failed",
        1,
        "isv.MOBILE_NUMBER_ILLEGAL",
    )
    assert fake_sms.requests == requests


async def test_a_refused_wechat_message_is_not_retried_and_falls_back_to_sms(
    api, ctx: Context, town, fake_sms, fake_wechat
) -> None:
    fake_wechat.subscribe_script = [43101]
    await assigned_case(api, town)
    await deliver(ctx)
    wechat = await ctx.db[OUTBOX].find_one({"channel": "wechat"})
    assert (wechat["status"], wechat["attempts"], wechat["error"]["code"]) == ("failed", 1, "43101")
    await Dispatcher(ctx).run_once()
    ctx.clock.advance(timedelta(hours=2))
    await Dispatcher(ctx).run_once()
    assert fake_wechat.calls["subscribe_send"] == 1
    (fallback,) = sms_to(fake_sms, town.people["resident_a"].phone)
    assert fallback["TemplateCode"] == ctx.config.sms.templates["case_assigned_resident"]


async def test_no_fallback_without_sms_consent(api, ctx: Context, town, fake_sms, fake_wechat) -> None:
    await ctx.db["users"].update_one(
        {"_id": town.people["resident_a"].user["_id"]}, {"$set": {"prefs.sms_consent": False}}
    )
    fake_wechat.subscribe_script = [43101]
    await assigned_case(api, town)
    await deliver(ctx)
    await Dispatcher(ctx).run_once()
    assert sms_to(fake_sms, town.people["resident_a"].phone) == []


async def test_a_timeout_does_not_produce_a_duplicate_sms(api, ctx: Context, town, fake_sms) -> None:
    fake_sms.answer_delay = 0.8  # Aliyun accepted it but answered after our 0.5 s timeout
    await assigned_case(api, town)
    await deliver(ctx)
    message = await ctx.db[OUTBOX].find_one({"channel": "sms"})
    assert message["status"] == "uncertain"
    await asyncio.sleep(0.5)
    fake_sms.answer_delay = 0
    ctx.clock.advance(timedelta(seconds=61))
    await Dispatcher(ctx).run_once()
    message = await ctx.db[OUTBOX].find_one({"_id": message["_id"]})
    assert (message["status"], message.get("reconciled")) == ("sent", True)
    assert len(sms_to(fake_sms, town.people["mediator_a"].phone)) == 1
    assert fake_sms.queries == 1


async def test_a_crashed_worker_is_taken_over_without_loss_or_double(api, ctx: Context, town, fake_sms) -> None:
    resident = town.people["resident_a"].user["_id"]
    await ctx.db["users"].update_one({"_id": resident}, {"$set": {"prefs": {"wechat": False, "sms_consent": False}}})
    await assigned_case(api, town)
    await assigned_case(api, town)
    await Relay(ctx).run_once()
    dead = Dispatcher(ctx, holder="worker-that-dies")
    sent_then_died, died_before_sending = await dead.claim(size=2)  # one lease for both
    await dead._send(sent_then_died, ctx.clock.now())  # reached Aliyun, then the process was killed
    assert await dead.claim(size=2) == []  # both are held
    survivor = Dispatcher(ctx, holder="survivor")
    assert await survivor.run_once() == 0  # the dead worker's leases still hold
    ctx.clock.advance(timedelta(seconds=31))
    assert await survivor.run_once() == 2
    messages = {m["_id"]: m for m in await ctx.db[OUTBOX].find({"channel": "sms"}).to_list(None)}
    assert {m["status"] for m in messages.values()} == {"sent"}
    assert messages[sent_then_died["_id"]]["reconciled"] is True
    assert messages[died_before_sending["_id"]]["attempts"] == 1
    assert sorted(m["OutId"] for m in fake_sms.sent) == sorted(str(i) for i in messages)


async def test_two_workers_deliver_a_thousand_messages_exactly_once(
    fake_sms: FakeAliyunSms, fake_wechat: FakeWechat, tmp_path: Path
) -> None:
    """The property, not the speed (that is `scripts/bench.py --outbox`): each message reaches Aliyun once and
    is marked sent, however slow the machine. Time stands still, so no lease or reconcile wait runs out by
    itself; the timeout leaves headroom, and a send that outlives it anyway is reconciled in a later round."""
    config = outbox_config(fake_sms, fake_wechat, tmp_path / "files", sms_timeout_seconds=10)
    async with context_for(config) as ctx:
        ctx.clock.set(datetime(2026, 11, 28, 2, 0, tzinfo=UTC))
        ctx.clock.freeze()
        now = ctx.clock.now()
        messages = []
        for n in range(1000):
            base: dict[str, Any] = {
                "case_id": None,
                "event": "case_assigned",
                "org_path": [],
                "text": f"测试消息 {n}",
                "params": {"number": f"SY-{n:04d}"},
                "urgent": False,
                "created_at": now,
            }
            phone = ctx.cipher.encrypt(f"1380000{n:04d}", "phone")
            messages.append(new_delivery(base, f"load:{n}", "sms", None, to_enc=phone))
        await ctx.db[OUTBOX].insert_many(messages)
        first, second = Dispatcher(ctx, holder="a"), Dispatcher(ctx, holder="b")
        handled = await asyncio.gather(first.run_once(), second.run_once())
        assert min(handled) > 0  # both took part
        for _ in range(3):
            if await ctx.db[OUTBOX].count_documents({"status": {"$ne": "sent"}}) == 0:
                break
            ctx.clock.advance(timedelta(seconds=config.notify.reconcile_after_seconds + config.notify.lease_seconds))
            await asyncio.gather(first.run_once(), second.run_once())
        assert Counter(m["OutId"] for m in fake_sms.sent) == Counter(str(m["_id"]) for m in messages)
        assert await ctx.db[OUTBOX].count_documents({"status": "sent"}) == 1000


async def test_quiet_hours_hold_ordinary_sms_and_release_them(api, ctx: Context, town, fake_sms) -> None:
    ctx.clock.set(datetime(2026, 11, 28, 15, 30, tzinfo=UTC))  # 23:30 in the town
    case_id = await assigned_case(api, town)
    await deliver(ctx)
    held = await ctx.db[OUTBOX].find_one({"channel": "sms", "event": "case_assigned"})
    assert (held["status"], held["held"]) == ("pending", True)
    assert held["next_at"].astimezone(ctx.tz).strftime("%H:%M") == "07:00"
    assert fake_sms.sent == []
    # A red warning is urgent: it goes out at night.
    await ctx.db["cases"].update_one(
        {"_id": ObjectId(case_id)},
        {
            "$push": {
                "notifications": {
                    "id": ObjectId(),
                    "event": "warning_red",
                    "audience": "unit",
                    "created_at": ctx.clock.now(),
                    "status": "pending",
                    "deadline": "accept",
                }
            }
        },
    )
    await deliver(ctx)
    assert [m["TemplateCode"] for m in fake_sms.sent] == [ctx.config.sms.templates["warning_red"]]
    ctx.clock.set(datetime(2026, 11, 28, 23, 1, tzinfo=UTC))  # 07:01
    await Dispatcher(ctx).run_once()
    assert (await ctx.db[OUTBOX].find_one({"_id": held["_id"]}))["status"] == "sent"


async def test_relaying_twice_is_harmless(api, ctx: Context, town) -> None:
    case_id = await assigned_case(api, town)
    await Relay(ctx).run_once()
    count = await ctx.db[OUTBOX].count_documents({})
    inbox = await ctx.db["inbox"].count_documents({})
    # As if the relay had crashed after inserting but before marking the notices relayed.
    case = await ctx.db["cases"].find_one({"_id": ObjectId(case_id)})
    pending = [n | {"status": "pending"} for n in case["notifications"]]
    await ctx.db["cases"].update_one({"_id": case["_id"]}, {"$set": {"notifications": pending}})
    await Relay(ctx).run_once()
    assert await ctx.db[OUTBOX].count_documents({}) == count
    assert await ctx.db["inbox"].count_documents({}) == inbox


async def test_admins_see_failures_and_retry_them(api, ctx: Context, town, fake_sms) -> None:
    fake_sms.script = ["isv.MOBILE_NUMBER_ILLEGAL"]
    await assigned_case(api, town)
    await deliver(ctx)
    office = town.people["office"].token
    failed = await api.get("/api/admin/outbox?status=failed", token=office)
    (item,) = failed.json["items"]
    assert item["error"]["code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    assert (await api.get("/api/admin/outbox", token=town.people["mediator_a"].token)).status == 403
    retried = await api.post(f"/api/admin/outbox/{item['id']}/retry", token=office)
    assert retried.json["status"] == "pending"
    await Dispatcher(ctx).run_once()
    assert len(fake_sms.sent) == 1
    again = await api.post(f"/api/admin/outbox/{item['id']}/retry", token=office)
    assert (again.status, again.error_code) == (409, "outbox_not_failed")


async def test_metrics_count_messages_by_status_and_channel(api, ctx: Context, town) -> None:
    await assigned_case(api, town)
    await deliver(ctx)
    assert (await api.get("/api/metrics")).status == 401
    ctx.config.notify.metrics_token = "scrape-secret-123"
    response = await api.get("/api/metrics", headers={"Authorization": "Bearer scrape-secret-123"})
    text = response.body.decode()
    assert 'sanyuan_outbox_messages{channel="sms",status="sent"} 1' in text
    assert 'sanyuan_outbox_messages{channel="wechat",status="sent"} 1' in text


async def test_inbox_read_marks(api, ctx: Context, town) -> None:
    await assigned_case(api, town)
    await assigned_case(api, town)
    await Relay(ctx).run_once()
    token = town.people["mediator_a"].token
    page = (await api.get("/api/notifications", token=token)).json
    assert page["unread"] == 2
    first = page["items"][0]["id"]
    assert (await api.post(f"/api/notifications/{first}/read", token=town.people["resident_a"].token)).status == 404
    assert (await api.post(f"/api/notifications/{first}/read", token=token)).json == {"marked": 1}
    assert (await api.get("/api/notifications?unread=true", token=token)).json["total"] == 1
    assert (await api.post("/api/notifications/read-all", token=token)).json == {"marked": 1}


async def test_preferences_record_consent(api, ctx: Context, town) -> None:
    token = town.people["resident_b"].token
    prefs = await api.request(
        "PUT", "/api/me/preferences", json_body={"wechat": False, "sms_consent": True}, token=token
    )
    assert prefs.json["sms_consent"] is True
    assert prefs.json["sms_consent_at"] is not None
    audit = await ctx.audit.for_target("user", town.people["resident_b"].user["_id"])
    assert [a["action"] for a in audit] == ["user.sms_consent"]
    subs = await api.post("/api/me/wechat-subscriptions", {"template_ids": [TEMPLATE, "unknown"]}, token=token)
    assert subs.json["wechat_subscriptions"] == {TEMPLATE: 1}


async def test_transient_failures_stop_at_the_maximum_age(api, ctx: Context, town, fake_sms) -> None:
    fake_sms.script = ["isv.BUSINESS_LIMIT_CONTROL"] * 50
    await assigned_case(api, town)
    await deliver(ctx)
    for _ in range(30):
        ctx.clock.advance(timedelta(hours=1, minutes=1))
        await Dispatcher(ctx).run_once()
    message = await ctx.db[OUTBOX].find_one({"channel": "sms"})
    assert message["status"] == "failed"
    assert message["error"]["code"] in ("expired", "expired:isv.BUSINESS_LIMIT_CONTROL")
    assert 2 <= message["attempts"] < 30  # backed off, then gave up; did not hammer the provider
