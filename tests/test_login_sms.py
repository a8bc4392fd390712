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


# ---- a stranger cannot lock the owner out (issue: SMS lock-out) ----------------------------------------------

OWNER = "13812345678"


async def burn_the_days_codes(api, ctx: Context, phone: str, ip: str = "10.6.6.6") -> None:
    """A stranger asks for a phone's codes from several addresses until the phone's daily cap is spent."""
    for round_ in range(ctx.config.login.phone_per_day + 1):
        answer = await send(api, phone, ip=f"{ip[:-1]}{round_ % 3}")
        if answer.status == 429:
            break
        ctx.clock.advance(timedelta(minutes=16))  # past the minute and the hourly limit of five
    assert answer.status == 429
    assert answer.json["error"]["details"]["retry_after"] > 3600  # the daily cap, not the hourly one


async def owner_device(api, ctx: Context) -> str:
    """The owner logged in once on their phone: the answer gives this device a token."""
    assert (await send(api, OWNER, ip="10.1.1.1")).status == 202
    login = await api.post("/api/auth/sms/verify", {"phone": OWNER, "code": last_code(ctx)})
    assert login.status == 200
    token = login.json["device_token"]
    assert len(token) >= 40
    ctx.clock.advance(timedelta(minutes=2))
    return token


async def test_a_stranger_who_burns_the_phones_codes_does_not_lock_out_its_owner(api, ctx: Context) -> None:
    device = await owner_device(api, ctx)
    await burn_the_days_codes(api, ctx, OWNER)

    asked = await api.post("/api/auth/sms/send", {"phone": OWNER, "device_token": device})
    assert asked.status == 202
    owners_code = last_code(ctx)
    # The stranger goes on asking (refused) and cannot replace the owner's pending code.
    assert (await send(api, OWNER, ip="10.6.6.7")).status == 429
    login = await api.post("/api/auth/sms/verify", {"phone": OWNER, "code": owners_code, "device_token": device})
    assert login.status == 200, login.json
    assert login.json["device_token"] == device  # the same device keeps its token
    # Without the token the owner's code does not work: it belongs to the device's own channel.
    ctx.clock.advance(timedelta(minutes=2))
    await api.post("/api/auth/sms/send", {"phone": OWNER, "device_token": device})
    refused = await api.post("/api/auth/sms/verify", {"phone": OWNER, "code": last_code(ctx)})
    assert (refused.status, refused.error_code) == (401, "sms_code_expired")  # the stranger's old code, not this


async def test_a_pending_code_is_not_replaced_by_a_strangers_request(api, ctx: Context) -> None:
    device = await owner_device(api, ctx)
    assert (await api.post("/api/auth/sms/send", {"phone": OWNER, "device_token": device})).status == 202
    owners_code = last_code(ctx)
    assert (await send(api, OWNER, ip="10.6.6.6")).status == 202  # a new code on the untrusted channel
    login = await api.post("/api/auth/sms/verify", {"phone": OWNER, "code": owners_code, "device_token": device})
    assert login.status == 200


async def test_a_device_has_the_same_limits_of_its_own_and_skips_the_network_limit(api, ctx: Context) -> None:
    device = await owner_device(api, ctx)
    for i in range(ctx.config.login.ip_per_hour):  # the office's shared address is spent by others
        await send(api, f"1371234{i:04d}", ip="10.3.3.3")
    body = {"phone": OWNER, "device_token": device}
    assert (await api.post("/api/auth/sms/send", body, headers={"X-Real-Ip": "10.3.3.3"})).status == 202
    again = await api.post("/api/auth/sms/send", body, headers={"X-Real-Ip": "10.3.3.3"})
    assert again.status == 429  # one a minute, for the device too


async def test_a_device_token_of_another_phone_counts_as_none(api, ctx: Context) -> None:
    device = await owner_device(api, ctx)
    other = "13912345678"
    await burn_the_days_codes(api, ctx, other)
    borrowed = await api.post("/api/auth/sms/send", {"phone": other, "device_token": device})
    assert borrowed.status == 429  # the stolen token gives no allowance for another phone
    made_up = await api.post("/api/auth/sms/send", {"phone": other, "device_token": "x" * 43})
    assert made_up.status == 429
    stored = await ctx.db["sms_devices"].find({}).to_list(None)
    assert len(stored) == 1
    assert device not in str(stored)  # only its hash is kept
