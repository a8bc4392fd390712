"""SMS through the real Aliyun SDK, aimed at a loopback fake that checks every request's signature."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest

from notify.aliyun import AliyunSmsSender
from notify.base import SmsMessage
from server.app import Server, make_app, open_context
from server.core.config import SmsConfig, build_config
from tests.conftest import Api, env_for_tests
from tests.fakes import FakeAliyunSms, sms_config


@pytest.fixture
def sender(fake_sms: FakeAliyunSms) -> Iterator[AliyunSmsSender]:
    sender = AliyunSmsSender(SmsConfig(**sms_config(fake_sms.endpoint)))
    yield sender
    sender.close()


def message(phone: str = "13812345678") -> SmsMessage:
    return SmsMessage(phone=phone, template="login_code", params={"code": "246810"}, text="验证码 246810")


async def test_a_signed_send_is_delivered(sender: AliyunSmsSender, fake_sms: FakeAliyunSms) -> None:
    result = await sender.send(message())
    assert result.ok
    assert result.provider_id == "biz^1"
    (sent,) = fake_sms.sent
    assert sent["PhoneNumbers"] == "13812345678"
    assert sent["SignName"] == "示范镇"
    assert sent["TemplateCode"] == "SMS_100001"
    assert json.loads(sent["TemplateParam"]) == {"code": "246810"}


async def test_a_wrong_secret_fails_the_signature_check_permanently(fake_sms: FakeAliyunSms) -> None:
    sender = AliyunSmsSender(SmsConfig(**sms_config(fake_sms.endpoint, secret="not-the-secret")))
    try:
        result = await sender.send(message())
    finally:
        sender.close()
    assert not result.ok
    assert result.error_code == "SignatureDoesNotMatch"
    assert result.permanent
    assert fake_sms.sent == []


async def test_a_business_failure_inside_http_200_is_a_failure(sender, fake_sms: FakeAliyunSms) -> None:
    fake_sms.script = ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BUSINESS_LIMIT_CONTROL"]
    illegal = await sender.send(message("13800000000"))
    throttled = await sender.send(message())
    assert (illegal.ok, illegal.error_code, illegal.permanent) == (False, "isv.MOBILE_NUMBER_ILLEGAL", True)
    assert (throttled.ok, throttled.error_code, throttled.permanent) == (False, "isv.BUSINESS_LIMIT_CONTROL", False)
    assert fake_sms.sent == []


async def test_a_timeout_is_uncertain_and_not_resent_by_the_sdk(sender, fake_sms: FakeAliyunSms) -> None:
    fake_sms.delay = 0.8  # past the 0.5 s timeout
    result = await sender.send(message())
    assert not result.ok
    assert result.uncertain
    await asyncio.sleep(0.9)  # let the fake finish answering
    assert fake_sms.requests == 1  # the SDK's own retry is off: SendSms is not idempotent


async def test_an_unconfigured_template_is_refused_without_a_call(sender, fake_sms: FakeAliyunSms) -> None:
    result = await sender.send(SmsMessage(phone="13812345678", template="no_such_event", params={}, text=""))
    assert (result.ok, result.error_code, result.permanent) == (False, "template_not_configured", True)
    assert fake_sms.requests == 0


async def test_sending_does_not_block_the_event_loop(sender, fake_sms: FakeAliyunSms) -> None:
    fake_sms.delay = 0.3
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        end = time.monotonic() + 0.25
        while time.monotonic() < end:
            ticks += 1
            await asyncio.sleep(0.01)

    results = await asyncio.gather(*(sender.send(message(f"1381234567{i}")) for i in range(4)), tick())
    assert all(r.ok for r in results[:4])
    assert ticks >= 5  # a blocked loop would tick once or twice


async def test_sms_login_end_to_end_through_aliyun(fake_sms: FakeAliyunSms) -> None:
    raw = {"sms": sms_config(fake_sms.endpoint), "http": {"xheaders": True}}
    config = build_config(raw, source="tests", environ=env_for_tests()).config
    ctx = await open_context(config)
    server = Server(ctx, make_app(ctx))
    port = server.listen(0, "127.0.0.1")
    api = Api(f"http://127.0.0.1:{port}")
    try:
        assert (await api.post("/api/auth/sms/send", {"phone": "13812345678"})).status == 202
        code = json.loads(fake_sms.sent[-1]["TemplateParam"])["code"]
        response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": code})
        assert response.status == 200
    finally:
        api.client.close()
        if not config.mongodb.uri.startswith("memory://"):
            await ctx.client.drop_database(config.mongodb.database)
        await server.shutdown()
