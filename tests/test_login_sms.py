"""SMS code login: limits per phone and per client, brute-force stops, nothing revealed, nothing in clear."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from notify.base import SendResult, SmsMessage
from server.core.context import Context
from server.people.users import UserService
from tests.conftest import sms_sent


def last_code(ctx: Context) -> str:
    message = sms_sent(ctx)[-1]
    assert message.template == "login_code"
    return message.params["code"]


async def send(api, phone: str, ip: str = "10.0.0.1"):
    return await api.post("/api/auth/sms/send", {"phone": phone}, headers={"X-Real-Ip": ip})


async def test_send_and_verify_creates_a_resident(api, ctx: Context) -> None:
    response = await send(api, "138 1234 5678")
    assert response.status == 202
    assert response.json == {"sent": True, "expires_in": 300, "resend_after": 60}
    code = last_code(ctx)
    assert re.fullmatch(r"\d{6}", code)
    assert sms_sent(ctx)[-1].phone == "13812345678"
    assert code in sms_sent(ctx)[-1].text

    response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": code})
    assert response.status == 200
    assert response.json["is_new"] is True
    assert response.json["phone_bound"] is True
    me = (await api.get("/api/me", token=response.json["access_token"])).json
    assert me["phone"] == "138****5678"
    assert [r["role"] for r in me["roles"]] == ["resident"]


async def test_staff_log_in_to_their_own_account(api, ctx: Context, org_tree) -> None:
    from server.people.users import grant_doc

    staff = await UserService(ctx).create(
        name="刘海燕", phone="13900000005", now=ctx.clock.now(), grants=[grant_doc("town_admin", org_tree.town["_id"])]
    )
    await send(api, "13900000005")
    response = await api.post("/api/auth/sms/verify", {"phone": "13900000005", "code": last_code(ctx)})
    assert response.status == 200
    assert response.json["user_id"] == str(staff["_id"])
    assert response.json["is_new"] is False


async def test_the_answer_does_not_reveal_staff_accounts(api, ctx: Context, org_tree) -> None:
    from server.people.users import grant_doc

    await UserService(ctx).create(
        name="员工", phone="13900000099", now=ctx.clock.now(), grants=[grant_doc("mediator", org_tree.village["_id"])]
    )
    staff = await send(api, "13900000099")
    stranger = await send(api, "13900000098")
    assert (staff.status, staff.json) == (stranger.status, stranger.json)


async def test_second_send_within_a_minute_is_refused(api, ctx: Context) -> None:
    assert (await send(api, "13812345678")).status == 202
    response = await send(api, "13812345678")
    assert response.status == 429
    assert response.error_code == "too_many_requests"
    assert 1 <= response.json["error"]["details"]["retry_after"] <= 60
    assert len(sms_sent(ctx)) == 1
    ctx.clock.advance(timedelta(seconds=61))
    assert (await send(api, "13812345678")).status == 202


async def test_sixth_send_in_an_hour_and_eleventh_in_a_day_are_refused(api, ctx: Context) -> None:
    for _ in range(5):
        assert (await send(api, "13812345678")).status == 202
        ctx.clock.advance(timedelta(seconds=61))
    response = await send(api, "13812345678")
    assert response.status == 429
    assert response.json["error"]["details"]["retry_after"] > 60  # the hour limit, not the minute
    ctx.clock.advance(timedelta(hours=1))
    for _ in range(5):
        assert (await send(api, "13812345678")).status == 202
        ctx.clock.advance(timedelta(seconds=61))
    ctx.clock.advance(timedelta(hours=1))
    response = await send(api, "13812345678")
    assert response.status == 429  # ten today already
    assert len(sms_sent(ctx)) == 10
    ctx.clock.advance(timedelta(days=1))
    assert (await send(api, "13812345678")).status == 202


async def test_one_client_cannot_text_many_phones(api, ctx: Context) -> None:
    limit = ctx.config.login.ip_per_hour
    for i in range(limit):
        assert (await send(api, f"1371234{i:04d}", ip="10.9.9.9")).status == 202
    response = await send(api, "13799999999", ip="10.9.9.9")
    assert response.status == 429
    assert (await send(api, "13799999999", ip="10.8.8.8")).status == 202


async def test_brute_force_stops_after_five_attempts(api, ctx: Context) -> None:
    await send(api, "13812345678")
    code = last_code(ctx)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    lefts = []
    for _ in range(5):
        response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": wrong})
        assert response.status == 401
        assert response.error_code == "sms_code_wrong"
        lefts.append(response.json["error"]["details"]["attempts_left"])
    assert lefts == [4, 3, 2, 1, 0]
    response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": code})
    assert response.status == 401
    assert response.error_code == "sms_code_locked"


async def test_codes_expire_and_are_single_use(api, ctx: Context) -> None:
    await send(api, "13812345678")
    code = last_code(ctx)
    assert (await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": code})).status == 200
    response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": code})
    assert response.status == 401
    assert response.error_code == "sms_code_invalid"

    ctx.clock.advance(timedelta(minutes=2))
    await send(api, "13812345678")
    ctx.clock.advance(timedelta(minutes=5, seconds=1))
    response = await api.post("/api/auth/sms/verify", {"phone": "13812345678", "code": last_code(ctx)})
    assert response.status == 401
    assert response.error_code == "sms_code_expired"


async def test_codes_and_phones_are_not_stored_in_clear(api, ctx: Context) -> None:
    await send(api, "13812345678")
    code = last_code(ctx)
    stored = str(await ctx.db["sms_codes"].find({}).to_list(None)) + str(
        await ctx.db["rate_limits"].find({}).to_list(None)
    )
    assert code not in stored
    assert "13812345678" not in stored
    assert "10.0.0.1" not in stored


@pytest.mark.parametrize(
    ("body", "field"), [({"phone": "12345678901"}, "phone"), ({"phone": "13812345678", "code": "12ab56"}, "code")]
)
async def test_bad_input_names_the_field(api, body: dict[str, str], field: str) -> None:
    path = "/api/auth/sms/verify" if "code" in body else "/api/auth/sms/send"
    response = await api.post(path, body)
    assert response.status == 422
    assert response.json["error"]["details"][0]["field"] == field


async def test_a_failed_send_is_reported_and_leaves_no_usable_code(api, ctx: Context) -> None:
    class Failing:
        async def send(self, message: SmsMessage) -> SendResult:
            return SendResult(ok=False, error_code="isv.BUSINESS_LIMIT_CONTROL")

        async def was_sent(self, phone: str, day: str, out_id: str) -> bool | None:
            return False

    ctx.senders.sms = Failing()
    response = await send(api, "13812345678")
    assert response.status == 503
    assert response.error_code == "sms_send_failed"
    assert await ctx.db["sms_codes"].count_documents({}) == 0
